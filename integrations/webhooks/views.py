"""Webhook endpoints: check size, signature, freshness and replay, record the delivery, answer at once.

The work (requesting sync runs) happens in a Celery task enqueued when the request's transaction commits.
Every refusal is a 4xx JSON answer `{"ok": false, "error": "..."}` with the reason; never a 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integrations import input_checks
from integrations.crypto import SecretDecryptionError
from integrations.models import Connection, System, WebhookDelivery
from integrations.webhooks import services, signatures

logger = logging.getLogger(__name__)

MSG_UNKNOWN_URL = "unknown webhook URL"
MSG_TOO_MANY = services.MSG_TOO_MANY
MSG_TOO_LARGE = "body larger than {limit} bytes"
MSG_BAD_JSON = "body is not valid JSON"
MSG_NOT_OBJECT = "body must be a JSON object"
MSG_TOO_DEEP = "body is nested more than {limit} levels deep"
MSG_MISSING_FIELDS = "missing or empty field(s): {fields}"
MSG_NOT_TEXT = "{field} must be a string or a number"
MSG_NO_SECRET = "webhooks are not set up for this connection: enter StreetText's webhook secret on the connection"  # noqa: S105
MSG_SECRET_UNREADABLE = "the connection's webhook secret cannot be decrypted; enter it again"  # noqa: S105
MSG_DELIVERY_MISMATCH = f"{signatures.STREETTEXT_DELIVERY_HEADER} does not match the body's id"


class _Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _answer(status: int, message: str) -> JsonResponse:
    response = JsonResponse({"ok": False, "error": message}, status=status)
    if status == 429:
        response["Retry-After"] = "60"
    return response


def _read_body(request: HttpRequest) -> bytes:
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise _Refused(413, MSG_TOO_LARGE.format(limit=limit))
    try:
        body = request.body
    except RequestDataTooBig:
        raise _Refused(413, MSG_TOO_LARGE.format(limit=limit)) from None
    if len(body) > limit:
        raise _Refused(413, MSG_TOO_LARGE.format(limit=limit))
    return body


def _json_object(body: bytes) -> dict[str, Any]:
    limit = settings.WEBHOOK_MAX_JSON_DEPTH
    try:
        payload = json.loads(body)
    except RecursionError:
        # Python's parser gives up at about 1,000 levels with RecursionError, not ValueError.
        raise _Refused(400, MSG_TOO_DEEP.format(limit=limit)) from None
    except (ValueError, UnicodeDecodeError):
        raise _Refused(400, MSG_BAD_JSON) from None
    if not isinstance(payload, dict):
        raise _Refused(400, MSG_NOT_OBJECT)
    # One check of the whole body before any field is read: anything deeper than a real event is refused before code
    # that recurses (repr, str, logging) meets it, and a NUL or a lone surrogate in any key or string (which
    # PostgreSQL cannot store: ids, types and locations end up in queries and rows) is refused before it reaches one.
    problem = input_checks.json_problem(payload, where="body", max_depth=limit)
    if problem:
        raise _Refused(400, problem)
    return payload


def _require(payload: dict[str, Any], *names: str) -> None:
    """The named fields are present, not empty, and plain values (they end up in ids, messages and the log)."""
    missing = [name for name in names if payload.get(name) in (None, "")]
    if missing:
        raise _Refused(400, MSG_MISSING_FIELDS.format(fields=", ".join(missing)))
    for name in names:
        value = payload[name]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _Refused(400, MSG_NOT_TEXT.format(field=name))


def _connection(system: str, token: str) -> Connection:
    connection = services.webhook_connection_get(system=system, token=token)
    if connection is None:
        raise _Refused(404, MSG_UNKNOWN_URL)
    # A cheap early refusal when the limit is plainly reached; the exact limit is kept where the delivery is stored
    # (services.webhook_delivery_record counts and inserts under a lock, so parallel senders cannot overshoot it).
    if services.webhook_deliveries_last_minute(connection=connection) >= settings.WEBHOOK_MAX_PER_MINUTE:
        raise _Refused(429, MSG_TOO_MANY.format(limit=settings.WEBHOOK_MAX_PER_MINUTE))
    return connection


def _check_fresh(signed_at: Any, max_age_seconds: int) -> None:
    try:
        signatures.check_fresh(timestamp=signed_at, now=timezone.now(), max_age_seconds=max_age_seconds)
    except signatures.TimestampStale as e:
        raise _Refused(401, str(e)) from None
    except signatures.TimestampInvalid as e:
        raise _Refused(400, str(e)) from None


def _record(
    *, connection: Connection, source: str, payload: dict[str, Any], webhook_id: str, **kwargs: Any
) -> WebhookDelivery:
    try:
        return services.webhook_delivery_record(
            connection=connection,
            source=source,
            webhook_id=webhook_id,
            event_type=str(payload.get("type")),
            payload=payload,
            max_per_minute=settings.WEBHOOK_MAX_PER_MINUTE,
            **kwargs,
        )
    except services.WebhookRateLimited as e:
        raise _Refused(429, str(e)) from None
    except services.WebhookReplayed as e:
        raise _Refused(409, str(e)) from None
    except services.WebhookPayloadError as e:
        raise _Refused(400, str(e)) from None


def _accepted(delivery: WebhookDelivery) -> JsonResponse:
    return JsonResponse({"ok": True, "status": delivery.status})


def _handle_ghl(request: HttpRequest, token: str) -> JsonResponse:
    connection = _connection(System.GHL, token)
    body = _read_body(request)
    try:
        scheme = signatures.verify_ghl(
            body=body,
            ed25519_signature=request.headers.get(signatures.GHL_ED25519_HEADER, ""),
            rsa_signature=request.headers.get(signatures.GHL_RSA_HEADER, ""),
            ed25519_key=settings.GHL_WEBHOOK_ED25519_PUBLIC_KEY,
            rsa_key=settings.GHL_WEBHOOK_RSA_PUBLIC_KEY or signatures.published_ghl_rsa_key(),
        )
    except signatures.WebhookVerificationError as e:
        raise _Refused(401, str(e)) from None
    payload = _json_object(body)
    _require(payload, "type", "timestamp", "webhookId")
    try:
        signed_at = signatures.parse_timestamp(payload["timestamp"])
    except signatures.TimestampInvalid as e:
        raise _Refused(400, str(e)) from None
    _check_fresh(signed_at, settings.GHL_WEBHOOK_MAX_AGE_SECONDS)
    delivery = _record(
        connection=connection,
        source=System.GHL,
        payload=payload,
        webhook_id=str(payload["webhookId"]),
        payload_size=len(body),
        signed_at=signed_at,
    )
    logger.info(
        "GHL webhook %s %s (%s) on %s: %s",
        payload["type"],
        payload["webhookId"],
        scheme,
        connection.pk,
        delivery.status,
    )
    return _accepted(delivery)


def _handle_streettext(request: HttpRequest, token: str) -> JsonResponse:
    connection = _connection(System.STREETTEXT, token)
    body = _read_body(request)
    try:
        secret = connection.webhook_secret
    except SecretDecryptionError:
        raise _Refused(403, MSG_SECRET_UNREADABLE) from None
    if not secret:
        raise _Refused(403, MSG_NO_SECRET)
    try:
        signed_at = signatures.verify_streettext(
            body=body, header=request.headers.get(signatures.STREETTEXT_SIGNATURE_HEADER, ""), secret=secret
        )
    except signatures.WebhookVerificationError as e:
        raise _Refused(401, str(e)) from None
    _check_fresh(signed_at, settings.STREETTEXT_WEBHOOK_MAX_AGE_SECONDS)
    payload = _json_object(body)
    _require(payload, "id", "type")
    # The replay guard uses the signed body id; the header must agree with it.
    header_id = request.headers.get(signatures.STREETTEXT_DELIVERY_HEADER, "")
    if header_id and header_id != str(payload["id"]):
        raise _Refused(400, MSG_DELIVERY_MISMATCH)
    delivery = _record(
        connection=connection,
        source=System.STREETTEXT,
        payload=payload,
        webhook_id=str(payload["id"]),
        payload_size=len(body),
        signed_at=signed_at,
    )
    logger.info("StreetText webhook %s %s on %s: %s", payload["type"], payload["id"], connection.pk, delivery.status)
    return _accepted(delivery)


def _guarded(
    source: str, handle: Callable[[HttpRequest, str], JsonResponse], request: HttpRequest, token: str
) -> HttpResponse:
    try:
        return handle(request, token)
    except _Refused as e:
        logger.warning("%s webhook refused (%s): %s", source, e.status, e)
        return _answer(e.status, str(e))


@csrf_exempt
@require_POST
def ghl_webhook(request: HttpRequest, token: str) -> HttpResponse:
    """GoHighLevel events for one GHL connection (Marketplace app webhook URL)."""
    return _guarded(System.GHL, _handle_ghl, request, token)


@csrf_exempt
@require_POST
def streettext_webhook(request: HttpRequest, token: str) -> HttpResponse:
    """StreetText contact events for one StreetText connection."""
    return _guarded(System.STREETTEXT, _handle_streettext, request, token)
