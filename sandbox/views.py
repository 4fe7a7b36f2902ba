"""HTTP layer of the sandbox: auth, Version header, rate limits, fault injection, JSON in and out.

Views opt out of ATOMIC_REQUESTS: a slow fault must not hold a database write lock while it sleeps, and
fault/counter updates must commit even when the answer is an error. Handlers run in their own atomic block.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox import demo, ghl, live, oauth, ratelimit, services, streettext
from sandbox.models import SandboxFault, SandboxSystem
from sandbox.spec_check import ghl_spec_check, ghl_spec_rejected

View = Callable[..., HttpResponse]
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Cut-off JSON for kind=malformed: what a proxy that drops the connection mid-body produces.
MALFORMED_BODY = '{"contacts": [{"id": "sandbox-malformed", "email": '


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(status=204) if status == 204 else JsonResponse(payload, status=status, safe=False)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def _json_body(request: HttpRequest) -> tuple[dict[str, Any], bool]:
    """(body, ok). Methods without a body, and empty bodies, give {}."""
    if request.method not in _BODY_METHODS or not request.body:
        return {}, True
    try:
        body = json.loads(request.body)
    except ValueError:
        return {}, False
    return (body, True) if isinstance(body, dict) else ({}, False)


def _ghl_json_body(request: HttpRequest) -> tuple[Any, bool]:
    """Like _json_body, but a JSON array is a body too (create-event-notification takes one), and so are multipart
    uploads (their fields, files by name); GHL's spec judges whether the operation wants them."""
    if request.content_type == "multipart/form-data" and request.method in _BODY_METHODS and request.body:
        # A field sent more than once (attachmentUrls, one part per URL) is a list, as GHL's multer reads it.
        fields: dict[str, Any] = {k: v if len(v) > 1 else v[0] for k, v in request.POST.lists()}
        fields.update({name: str(getattr(upload, "name", "")) for name, upload in request.FILES.items()})
        return fields, True
    body, ok = _json_body(request)
    if not ok and request.body:
        try:
            parsed = json.loads(request.body)
        except ValueError:
            return body, ok
        if isinstance(parsed, list):
            return parsed, True
    return body, ok


def _take_fault(request: HttpRequest, system: str, counters: list[str]) -> SandboxFault | None:
    fault = services.sandbox_fault_take(system=system, path=request.path, method=request.method or "GET")
    if fault is None:
        return None
    counters.append("faults")
    if fault.kind == SandboxFault.Kind.SLOW:
        time.sleep(fault.delay)
        return None
    return fault


def _counted(system: str, handle: Callable[[list[str]], HttpResponse]) -> HttpResponse:
    counters = ["requests"]
    response = handle(counters)
    counters.append(f"status_{response.status_code}")
    services.sandbox_counter_incr(system=system, names=counters)
    return response


# ------------------------------------------------------------------------------
# GoHighLevel
# ------------------------------------------------------------------------------
def _unprocessable(messages: list[str]) -> dict[str, Any]:
    return {"statusCode": 422, "message": messages, "error": "Unprocessable Entity"}


def _ghl_rate_headers(decision: ratelimit.RateLimitDecision) -> dict[str, str]:
    return {
        "X-RateLimit-Limit-Daily": str(decision.daily_limit),
        "X-RateLimit-Daily-Remaining": str(decision.daily_remaining),
        "X-RateLimit-Interval-Milliseconds": str(round(decision.window_seconds * 1000)),
        "X-RateLimit-Max": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
    }


def _ghl_handle(
    request: HttpRequest,
    handlers: dict[str, Callable[..., ghl.Result]],
    kwargs: dict[str, Any],
    counters: list[str],
    arrived: float | None = None,
) -> HttpResponse:
    """Fault injection, route, auth, rate limit, Version header, JSON, GHL's spec, then the handler: in that order,
    like GHL (NestJS: routing, guards, then the validation pipe)."""
    method = request.method or "GET"
    fault = _take_fault(request, SandboxSystem.GHL, counters)
    after = fault if fault is not None and fault.kind == SandboxFault.Kind.STATUS_AFTER else None
    if fault is not None and after is None:
        if fault.kind == SandboxFault.Kind.MALFORMED:
            return HttpResponse(MALFORMED_BODY, content_type="application/json", status=200)
        headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
        message = ghl.MSG_TOO_MANY if fault.status == 429 else "Sandbox injected fault"
        return _json(fault.status, {"statusCode": fault.status, "message": message}, headers)

    body, body_ok = _ghl_json_body(request)
    check = ghl_spec_check(request, body if body_ok else None)
    handler = handlers.get(method)
    if handler is None or check.route_error:
        # NestJS answers unknown routes before any guard runs. A route GHL's spec does not have is a contract
        # violation by the caller; a spec route the sandbox does not implement is only "not here".
        if check.route_error:
            ghl_spec_rejected(request, check, 404, counters)
        return _json(404, {"statusCode": 404, "message": f"Cannot {method} {request.path}", "error": "Not Found"})

    authorization = request.headers.get("Authorization", "")
    token = authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""
    accounts = services.sandbox_accounts_for_secret(system=SandboxSystem.GHL, secret=token)
    if not accounts:  # OAuth access tokens from sandbox/oauth.py; expired ones get the 401 below
        accounts = oauth.sandbox_oauth_accounts_for_token(token=token, path=request.path)
    if not accounts:
        return _json(401, {"statusCode": 401, "message": ghl.MSG_UNAUTHORIZED, "error": "Unauthorized"})

    location_key = request.GET.get("locationId") or (body.get("locationId") if isinstance(body, dict) else None)
    if not isinstance(location_key, str) or not location_key:
        location_key = accounts[0].account_id
    account = next((a for a in accounts if a.account_id == location_key), None)
    mode = ghl.live_mode(account) if account is not None else None
    if mode is not None:
        # Live GHL: every answer takes its time, and GHL's own limits hold whatever the sandbox's settings say.
        live.live_latency_wait(mode)
        counters.append(live.location_counter(location_key))
        decision = ratelimit.rate_limit_hit(
            namespace="ghl",
            key=location_key,
            limit=live.LIVE_RATE_LIMIT,
            window_seconds=live.LIVE_RATE_WINDOW_SECONDS,
            arrived=arrived,
            daily_limit=mode.daily_limit,
        )
    else:
        decision = ratelimit.rate_limit_hit(
            namespace="ghl",
            key=location_key,
            limit=getattr(settings, "SANDBOX_RATE_LIMIT", 100),
            window_seconds=getattr(settings, "SANDBOX_RATE_WINDOW_SECONDS", 10.0),
            arrived=arrived,
        )
    headers = _ghl_rate_headers(decision)
    if not decision.allowed:
        counters.append("rate_limited")
        if mode is not None:
            counters.append(live.location_counter(location_key, "429"))
        headers["Retry-After"] = str(decision.retry_after)
        return _json(429, {"statusCode": 429, "message": ghl.MSG_TOO_MANY}, headers)
    if mode is not None and mode.has(live.NO_LOCATION_ACCESS):
        return _json(403, {"statusCode": 403, "message": ghl.MSG_FORBIDDEN_LOCATION}, headers)
    if check.version_error:
        # Every v2 operation requires the one Version value its spec declares (docs/ghl-facts.md); the sandbox has
        # always answered a missing or wrong one with 400 {statusCode, message} (BadRequestDTO).
        ghl_spec_rejected(request, check, 400, counters)
        return _json(400, {"statusCode": 400, "message": ghl.MSG_VERSION}, headers)
    if not body_ok:
        return _json(400, {"statusCode": 400, "message": ghl.MSG_BAD_JSON, "error": "Bad Request"}, headers)
    if check.errors:
        ghl_spec_rejected(request, check, 422, counters)
        return _json(422, _unprocessable(check.errors), headers)

    ghl_request = ghl.GhlRequest(
        method=method,
        url=request.build_absolute_uri(request.path),
        query=request.GET.dict(),
        body=body,
        accounts=accounts,
    )
    try:
        with transaction.atomic():
            status, payload = handler(ghl_request, **kwargs)
    except ghl.GhlError as error:
        status, payload = error.status, error.body
    if after is not None:
        return _json(after.status, {"statusCode": after.status, "message": ["Sandbox injected fault"]}, headers)
    return _json(status, payload, headers)


def ghl_view(handlers: dict[str, Callable[..., ghl.Result]]) -> View:
    """A GHL endpoint: `handlers` maps HTTP method -> handler. Paths, methods, the Version header and bodies are
    checked against GHL's official spec before a handler runs."""

    @csrf_exempt
    def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        # GHL counts a request against its window when it arrives (at its edge), not after routing and auth.
        arrived = time.monotonic()
        return _counted(SandboxSystem.GHL, lambda counters: _ghl_handle(request, handlers, kwargs, counters, arrived))

    return transaction.non_atomic_requests(view)


# ------------------------------------------------------------------------------
# StreetText
# ------------------------------------------------------------------------------
def _st_error(error: streettext.StreetTextError, headers: dict[str, str] | None = None) -> HttpResponse:
    return _json(error.status, error.body, headers)


def _st_handle(
    request: HttpRequest,
    handlers: dict[str, Callable[..., streettext.Result]],
    kwargs: dict[str, Any],
    counters: list[str],
) -> HttpResponse:
    method = request.method or "GET"
    fault = _take_fault(request, SandboxSystem.STREETTEXT, counters)
    after = fault if fault is not None and fault.kind == SandboxFault.Kind.STATUS_AFTER else None
    if fault is not None and after is None:
        if fault.kind == SandboxFault.Kind.MALFORMED:
            return HttpResponse(MALFORMED_BODY, content_type="application/json", status=200)
        headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
        return _st_error(streettext.StreetTextError(fault.status, "Sandbox injected fault"), headers)

    handler = handlers.get(method)
    if handler is None:
        status = 405 if handlers else 404
        return _st_error(
            streettext.StreetTextError(
                status, f"No route for {method} {request.path}", code="method_not_allowed" if handlers else "not_found"
            )
        )

    api_key = request.headers.get("X-Api-Key", "").strip()
    accounts = services.sandbox_accounts_for_secret(system=SandboxSystem.STREETTEXT, secret=api_key)
    if not accounts:
        return _st_error(streettext.StreetTextError(401, streettext.MSG_UNAUTHORIZED))
    decision = ratelimit.rate_limit_hit(
        namespace="streettext",
        key=api_key,
        limit=getattr(settings, "SANDBOX_STREETTEXT_RATE_LIMIT", 120),
        window_seconds=getattr(settings, "SANDBOX_STREETTEXT_RATE_WINDOW_SECONDS", 10.0),
    )
    if not decision.allowed:
        counters.append("rate_limited")
        error = streettext.StreetTextError(429, streettext.MSG_RATE_LIMITED)
        return _st_error(error, {"Retry-After": str(decision.retry_after)})

    body, body_ok = _json_body(request)
    if not body_ok:
        return _st_error(streettext.StreetTextError(400, streettext.MSG_BAD_JSON))
    st_request = streettext.StreetTextRequest(method=method, query=request.GET.dict(), body=body, account=accounts[0])
    try:
        with transaction.atomic():
            status, payload = handler(st_request, **kwargs)
    except streettext.StreetTextError as error:
        return _st_error(error)
    if after is not None:
        return _st_error(streettext.StreetTextError(after.status, "Sandbox injected fault"))
    return _json(status, payload)


def streettext_view(handlers: dict[str, Callable[..., streettext.Result]]) -> View:
    """A StreetText endpoint: `handlers` maps HTTP method -> handler."""

    @csrf_exempt
    def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return _counted(SandboxSystem.STREETTEXT, lambda counters: _st_handle(request, handlers, kwargs, counters))

    return transaction.non_atomic_requests(view)


# ------------------------------------------------------------------------------
# Control endpoints (no auth; only mounted when SANDBOX_ENABLED)
# ------------------------------------------------------------------------------
def _control_error(message: str, status: int = 400) -> HttpResponse:
    return _json(status, {"error": message})


def _fault_payload(fault: SandboxFault) -> dict[str, Any]:
    return {
        "id": fault.pk,
        "system": fault.system,
        "kind": fault.kind,
        "status": fault.status,
        "delay": fault.delay,
        "retry_after": fault.retry_after,
        "remaining": fault.remaining,
        "skip": fault.skip,
        "path_contains": fault.path_contains,
        "method": fault.method,
    }


def _int_arg(body: dict[str, Any], key: str, default: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise services.SandboxInputError(f"{key} must be a number")
    try:
        return int(value)
    except ValueError:
        raise services.SandboxInputError(f"{key} must be a number") from None


@csrf_exempt
def control_faults(request: HttpRequest) -> HttpResponse:
    """POST queues faults, DELETE clears them (optionally ?system=), GET lists pending ones."""
    if request.method == "GET":
        pending = SandboxFault.objects.filter(remaining__gt=0).order_by("id")
        return _json(200, {"faults": [_fault_payload(fault) for fault in pending]})
    if request.method == "DELETE":
        return _json(200, {"deleted": services.sandbox_fault_clear(system=request.GET.get("system") or None)})
    if request.method != "POST":
        return _control_error("method not allowed", 405)
    body, ok = _json_body(request)
    if not ok:
        return _control_error("body must be a JSON object")
    try:
        fault = services.sandbox_fault_add(
            system=str(body.get("system", "")),
            kind=str(body.get("kind", "")),
            status=_int_arg(body, "status", 500),
            delay=float(body.get("delay", 0.0)),
            count=_int_arg(body, "count", 1),
            path_contains=str(body.get("path_contains") or ""),
            method=str(body.get("method") or ""),
            retry_after=_int_arg(body, "retry_after", 1),
            skip=_int_arg(body, "skip", 0),
        )
    except (services.SandboxInputError, TypeError, ValueError) as error:
        return _control_error(str(error))
    return _json(201, {"fault": _fault_payload(fault)})


@csrf_exempt
def control_reset(request: HttpRequest) -> HttpResponse:
    """POST {"accounts": false}: wipe records, faults, counters and rate-limit windows (and accounts)."""
    if request.method != "POST":
        return _control_error("method not allowed", 405)
    body, ok = _json_body(request)
    if not ok:
        return _control_error("body must be a JSON object")
    return _json(200, {"deleted": services.sandbox_reset(accounts=bool(body.get("accounts", False)))})


@csrf_exempt
def control_stats(request: HttpRequest) -> HttpResponse:
    """GET per-system counters; DELETE zeroes them."""
    if request.method == "DELETE":
        services.sandbox_stats_reset()
        return _json(200, services.sandbox_stats())
    if request.method != "GET":
        return _control_error("method not allowed", 405)
    return _json(200, services.sandbox_stats())


@csrf_exempt
def control_spec_rejections(request: HttpRequest) -> HttpResponse:
    """GET {"count": n, "rejections": [{method, path, status, messages, …}]} (the latest, oldest first);
    DELETE forgets them and zeroes the count."""
    if request.method == "DELETE":
        return _json(200, {"deleted": services.sandbox_spec_rejections_clear()})
    if request.method != "GET":
        return _control_error("method not allowed", 405)
    count = services.sandbox_stats()[SandboxSystem.GHL][services.SPEC_REJECTIONS]
    return _json(200, {"count": count, "rejections": services.sandbox_spec_rejections()})


@csrf_exempt
def control_rate_limit_reset(request: HttpRequest) -> HttpResponse:
    """POST: forget this server process's rate-limit windows."""
    if request.method != "POST":
        return _control_error("method not allowed", 405)
    ratelimit.rate_limit_reset()
    return _json(200, {"reset": True})


@csrf_exempt
def control_accounts(request: HttpRequest) -> HttpResponse:
    """POST {system, account_id, secret, name?, allow_duplicate_contacts?}: create or update an account."""
    if request.method != "POST":
        return _control_error("method not allowed", 405)
    body, ok = _json_body(request)
    if not ok:
        return _control_error("body must be a JSON object")
    try:
        account = services.sandbox_account_create(
            system=str(body.get("system", "")),
            account_id=str(body.get("account_id") or ""),
            secret=str(body.get("secret") or ""),
            name=str(body.get("name") or ""),
            allow_duplicate_contacts=bool(body.get("allow_duplicate_contacts", False)),
        )
    except services.SandboxInputError as error:
        return _control_error(str(error))
    return _json(201, {"account": {"system": account.system, "account_id": account.account_id, "name": account.name}})


@csrf_exempt
def control_seed(request: HttpRequest) -> HttpResponse:
    """POST {ghl_location_id, ghl_token, streettext_api_key, size?, seed?}: load the demo data set."""
    if request.method != "POST":
        return _control_error("method not allowed", 405)
    body, ok = _json_body(request)
    if not ok:
        return _control_error("body must be a JSON object")
    required = ("ghl_location_id", "ghl_token", "streettext_api_key")
    if not all(isinstance(body.get(key), str) and body[key] for key in required):
        return _control_error(f"{', '.join(required)} are required")
    try:
        counts = demo.sandbox_seed_demo(
            ghl_location_id=body["ghl_location_id"],
            ghl_token=body["ghl_token"],
            streettext_api_key=body["streettext_api_key"],
            streettext_workspace_id=str(body.get("streettext_workspace_id") or demo.DEFAULT_WORKSPACE_ID),
            size=_int_arg(body, "size", demo.DEFAULT_SIZE),
            seed=_int_arg(body, "seed", demo.DEFAULT_SEED),
        )
    except services.SandboxInputError as error:
        return _control_error(str(error))
    return _json(200, {"counts": counts})


@csrf_exempt
def control_live(request: HttpRequest) -> HttpResponse:
    """POST {location, enabled?, latency?: [low, high] seconds, deviations?: [names], daily_limit?}: switch a GHL
    location to live mode (services.sandbox_set_live), or back with enabled=false. GET lists the known deviations."""
    if request.method == "GET":
        known = [
            {"name": d.name, "source": d.source, "behaviour": d.behaviour, "default": d.name in live.DEFAULT_DEVIATIONS}
            for d in live.DEVIATIONS.values()
        ]
        return _json(200, {"deviations": known, "latency": list(live.DEFAULT_LATENCY)})
    if request.method != "POST":
        return _control_error("method not allowed", 405)
    body, ok = _json_body(request)
    if not ok:
        return _control_error("body must be a JSON object")
    deviations = body.get("deviations")
    if deviations is not None and not (
        isinstance(deviations, list) and all(isinstance(name, str) for name in deviations)
    ):
        return _control_error("deviations must be a list of names")
    latency = body.get("latency")
    if latency is not None and not (isinstance(latency, list) and len(latency) == 2):
        return _control_error("latency must be [low, high] seconds")
    daily_limit = body.get("daily_limit")
    try:
        mode = services.sandbox_set_live(
            location=str(body.get("location") or ""),
            latency=(latency[0], latency[1]) if latency is not None else None,
            deviations=deviations,
            daily_limit=daily_limit if daily_limit is None else _int_arg(body, "daily_limit", 0),
            enabled=bool(body.get("enabled", True)),
        )
    except (services.SandboxInputError, live.LiveModeError) as error:
        return _control_error(str(error))
    return _json(200, {"location": body.get("location"), "live": mode.as_json() if mode is not None else None})
