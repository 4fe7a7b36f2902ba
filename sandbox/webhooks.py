"""The sandbox as a webhook sender: signed GHL and StreetText deliveries, so tests and the demo use the real path.

GHL deliveries are signed with TEST key pairs (Ed25519 for x-ghl-signature, RSA for x-wh-signature) generated on first
use and kept in var/sandbox-webhook-keys/ (shared by every process on the machine). Point the app at their public
halves (GHL_WEBHOOK_ED25519_PUBLIC_KEY / GHL_WEBHOOK_RSA_PUBLIC_KEY, see `sandbox_webhook_public_keys`) to accept
them. StreetText deliveries are signed with the HMAC secret the caller passes (the connection's webhook secret).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from integrations.webhooks import signatures
from sandbox.services import SandboxInputError, to_iso

SIGN_WITH = ("ed25519", "rsa", "both", "none")
SYSTEMS = ("ghl", "streettext")
SEND_TIMEOUT = (5.0, 30.0)


@dataclass(frozen=True)
class SandboxWebhookKeys:
    ed25519: ed25519.Ed25519PrivateKey
    rsa: rsa.RSAPrivateKey

    @property
    def ed25519_public_pem(self) -> str:
        return _public_pem(self.ed25519.public_key())

    @property
    def rsa_public_pem(self) -> str:
        return _public_pem(self.rsa.public_key())


@dataclass(frozen=True)
class SentWebhook:
    status: int
    response: Any
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


def _public_pem(key: ed25519.Ed25519PublicKey | rsa.RSAPublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _key_dir() -> Path:
    return Path(getattr(settings, "SANDBOX_WEBHOOK_KEY_DIR", settings.VAR_DIR / "sandbox-webhook-keys"))


def _load_or_create(path: Path, generate: Any) -> Any:
    """The private key in `path`; created once. Racing processes: the first link wins, the others read it."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd, tmp = tempfile.mkstemp(dir=path.parent)
        try:
            os.write(fd, pem)
            os.close(fd)
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


@lru_cache(maxsize=4)
def _keys(directory: Path) -> SandboxWebhookKeys:
    ed = _load_or_create(directory / "ed25519.pem", ed25519.Ed25519PrivateKey.generate)
    rs = _load_or_create(directory / "rsa.pem", lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return SandboxWebhookKeys(ed25519=ed, rsa=rs)


def sandbox_webhook_keys() -> SandboxWebhookKeys:
    """The sandbox's test signing keys (generated on first use)."""
    return _keys(_key_dir())


def sandbox_webhook_public_keys() -> dict[str, str]:
    """PEMs to configure as GHL_WEBHOOK_ED25519_PUBLIC_KEY and GHL_WEBHOOK_RSA_PUBLIC_KEY."""
    keys = sandbox_webhook_keys()
    return {"ed25519": keys.ed25519_public_pem, "rsa": keys.rsa_public_pem}


def sandbox_webhook_sign_ghl(*, body: bytes, sign_with: str = "ed25519") -> dict[str, str]:
    """x-ghl-signature and/or x-wh-signature headers for `body`."""
    if sign_with not in SIGN_WITH:
        raise SandboxInputError(f"sign_with must be one of {', '.join(SIGN_WITH)}")
    keys = sandbox_webhook_keys()
    headers: dict[str, str] = {}
    if sign_with in ("ed25519", "both"):
        headers[signatures.GHL_ED25519_HEADER] = base64.b64encode(keys.ed25519.sign(body)).decode()
    if sign_with in ("rsa", "both"):
        signature = keys.rsa.sign(body, padding.PKCS1v15(), hashes.SHA256())
        headers[signatures.GHL_RSA_HEADER] = base64.b64encode(signature).decode()
    return headers


def sandbox_webhook_body(
    *,
    system: str,
    event_type: str,
    payload: dict[str, Any],
    webhook_id: str | None = None,
    timestamp: datetime | None = None,
) -> bytes:
    """The delivery body in the system's shape: GHL flat (type, timestamp, webhookId + payload); StreetText
    {"id", "type", "created_at", "data": payload}."""
    when = to_iso(timestamp or datetime.now(tz=UTC))
    if system == "ghl":
        body = {"type": event_type, "timestamp": when, "webhookId": webhook_id or str(uuid.uuid4()), **payload}
    elif system == "streettext":
        body = {"id": webhook_id or f"evt_{uuid.uuid4().hex}", "type": event_type, "created_at": when, "data": payload}
    else:
        raise SandboxInputError(f"unknown system {system!r}")
    return json.dumps(body).encode()


def sandbox_webhook_send(
    *,
    system: str,
    url: str,
    event_type: str,
    payload: dict[str, Any],
    sign_with: str = "ed25519",
    secret: str = "",
    webhook_id: str | None = None,
    timestamp: datetime | None = None,
    body: bytes | None = None,
) -> SentWebhook:
    """Build, sign and POST one delivery; `body` replaces the built one (to send broken or replayed bodies)."""
    if body is None:
        body = sandbox_webhook_body(
            system=system, event_type=event_type, payload=payload, webhook_id=webhook_id, timestamp=timestamp
        )
    headers = {"Content-Type": "application/json"}
    if system == "ghl":
        headers.update(sandbox_webhook_sign_ghl(body=body, sign_with=sign_with))
    elif system == "streettext":
        if secret:
            signed_at = int((timestamp or datetime.now(tz=UTC)).timestamp())
            headers[signatures.STREETTEXT_SIGNATURE_HEADER] = signatures.streettext_signature_header(
                secret=secret, body=body, timestamp=signed_at
            )
        with contextlib.suppress(ValueError, KeyError, TypeError):
            headers[signatures.STREETTEXT_DELIVERY_HEADER] = str(json.loads(body)["id"])
    else:
        raise SandboxInputError(f"unknown system {system!r}")
    response = requests.post(url, data=body, headers=headers, timeout=SEND_TIMEOUT)
    try:
        answer: Any = response.json()
    except ValueError:
        answer = response.text
    return SentWebhook(status=response.status_code, response=answer, headers=headers, body=body)


# ------------------------------------------------------------------------------
# Control endpoints (no auth; only mounted when SANDBOX_ENABLED)
# ------------------------------------------------------------------------------
def _control_answer(status: int, payload: dict[str, Any]) -> JsonResponse:
    return JsonResponse(payload, status=status)


@csrf_exempt
def control_webhook_keys(request: HttpRequest) -> HttpResponse:
    """GET the public halves of the sandbox's signing keys (PEM)."""
    if request.method != "GET":
        return _control_answer(405, {"error": "method not allowed"})
    return _control_answer(200, sandbox_webhook_public_keys())


@csrf_exempt
@transaction.non_atomic_requests
def control_webhook_send(request: HttpRequest) -> HttpResponse:
    """POST {system, url, event_type, payload, sign_with?, secret?, webhook_id?}: sign and send one delivery."""
    if request.method != "POST":
        return _control_answer(405, {"error": "method not allowed"})
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return _control_answer(400, {"error": "body must be a JSON object"})
    system, url, event_type = body.get("system"), body.get("url"), body.get("event_type")
    payload = body.get("payload", {})
    if not all(isinstance(v, str) and v for v in (system, url, event_type)) or not isinstance(payload, dict):
        return _control_answer(400, {"error": "system, url, event_type (strings) and payload (object) are required"})
    try:
        sent = sandbox_webhook_send(
            system=str(system),
            url=str(url),
            event_type=str(event_type),
            payload=payload,
            sign_with=str(body.get("sign_with") or "ed25519"),
            secret=str(body.get("secret") or ""),
            webhook_id=str(body["webhook_id"]) if body.get("webhook_id") else None,
        )
    except SandboxInputError as error:
        return _control_answer(400, {"error": str(error)})
    except requests.RequestException as error:
        return _control_answer(502, {"error": f"delivery failed: {error}"})
    return _control_answer(200, {"status": sent.status, "response": sent.response, "payload": sent.payload})
