"""The fake GoHighLevel OAuth 2.0 server: consent page, token endpoint, agency -> location tokens.

Follows docs/ghl-facts.md#authentication. Like the real one it rotates refresh tokens; unlike the docs' wording
("valid for a year unless they are used") it is strict on purpose: a used refresh token is rejected with
`invalid_grant`, so a client that refreshes twice with the same token fails loudly in tests.

Routes (urls.py): GET /sandbox/ghl-oauth/authorize, POST /sandbox/ghl/oauth/token,
POST /sandbox/ghl/oauth/locationToken, POST /sandbox/_control/oauth/expire.
Sandbox-only authorize parameters: `location_id` (which sub-account "the user chose") and `deny=1`.
Agency installs: a code exchanged with `user_type=Company` gives an agency token (`approvedLocations`: every GHL
account), which opens `GET /locations/search` and trades for each location's token at `/oauth/locationToken`.
"""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect, JsonResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from sandbox import services
from sandbox.models import SandboxAccount, SandboxFault, SandboxOAuthToken, SandboxSystem
from sandbox.spec_check import ghl_spec_check, ghl_spec_rejected

Kind = SandboxOAuthToken.Kind
COMPANY_ID = "sandbox-company"  # what GET /locations/{id} reports as companyId
USER_ID = "sandbox-user"
CODE_SECONDS = 600
DEFAULT_ACCESS_SECONDS = 86399  # the spec's example of expires_in (docs/ghl-facts.md#authentication)
REFRESH_SECONDS = 365 * 24 * 3600
USER_TYPES = ("Location", "Company")
_PREFIX = {Kind.CODE: "sbx-code-", Kind.ACCESS: "sbx-at-", Kind.REFRESH: "sbx-rt-"}


class OAuthFailure(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.body = {"error": error, "error_description": description}


# ------------------------------------------------------------------------------
# Services
# ------------------------------------------------------------------------------
def _access_seconds() -> int:
    return int(getattr(settings, "SANDBOX_OAUTH_ACCESS_TOKEN_SECONDS", DEFAULT_ACCESS_SECONDS))


def _issue(kind: str, *, seconds: int, **fields: Any) -> SandboxOAuthToken:
    return SandboxOAuthToken.objects.create(
        kind=kind,
        token=_PREFIX[Kind(kind)] + secrets.token_urlsafe(24),
        expires_at=timezone.now() + timedelta(seconds=seconds),
        **fields,
    )


def _consume(token: SandboxOAuthToken) -> bool:
    """Mark a code / refresh token used; False if it was used (or expired) already. Safe across processes."""
    now = timezone.now()
    return bool(
        SandboxOAuthToken.objects.filter(pk=token.pk, used_at__isnull=True, expires_at__gt=now).update(used_at=now)
    )


def sandbox_oauth_issue_code(
    *, account: SandboxAccount, client_id: str, redirect_uri: str, scope: str
) -> SandboxOAuthToken:
    """An authorization code for `account`, as if its user had just consented."""
    return _issue(
        Kind.CODE,
        seconds=CODE_SECONDS,
        account=account,
        company_id=COMPANY_ID,
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=scope,
    )


# Agency (Company) tokens open these GHL routes only (the agency's operations the app uses); location APIs want a
# location token, as on GHL.
AGENCY_PATHS = ("/locations/search",)


def sandbox_oauth_accounts_for_token(*, token: str, path: str = "") -> list[SandboxAccount]:
    """The location an unexpired OAuth (Location) access token opens, as a list like sandbox_accounts_for_secret.

    An unexpired agency (Company) token opens every location of its company (the sandbox has one company: all its
    GHL accounts) on the agency routes (AGENCY_PATHS, e.g. `GET /locations/search?companyId=…`), and nothing else.
    """
    if not token:
        return []
    now = timezone.now()
    accounts = list(
        SandboxAccount.objects.filter(
            system=SandboxSystem.GHL,
            oauth_tokens__token=token,
            oauth_tokens__kind=Kind.ACCESS,
            oauth_tokens__user_type="Location",
            oauth_tokens__expires_at__gt=now,
        )
    )
    if accounts or not path.rstrip("/").endswith(AGENCY_PATHS):
        return accounts
    agency = SandboxOAuthToken.objects.filter(
        kind=Kind.ACCESS, token=token, user_type="Company", expires_at__gt=now
    ).exists()
    return list(SandboxAccount.objects.filter(system=SandboxSystem.GHL).order_by("id")) if agency else []


def sandbox_oauth_expire_access_tokens(*, location_id: str | None = None) -> int:
    """Expire access tokens now (all, or one location's), so the next API call answers 401."""
    queryset = SandboxOAuthToken.objects.filter(kind=Kind.ACCESS, expires_at__gt=timezone.now())
    if location_id:
        queryset = queryset.filter(account__account_id=location_id)
    return queryset.update(expires_at=timezone.now() - timedelta(seconds=1))


def _grant_payload(access: SandboxOAuthToken, refresh: SandboxOAuthToken | None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "access_token": access.token,
        "token_type": "Bearer",
        "expires_in": _access_seconds(),
        "scope": access.scope,
        "userType": access.user_type,
        "companyId": access.company_id or COMPANY_ID,
        "userId": USER_ID,
        "planId": "sandbox-plan",
        "isBulkInstallation": False,
    }
    if refresh is not None:
        payload["refresh_token"] = refresh.token
    if access.user_type == "Location" and access.account is not None:
        payload["locationId"] = access.account.account_id
    else:
        payload["approvedLocations"] = list(
            SandboxAccount.objects.filter(system=SandboxSystem.GHL).order_by("id").values_list("account_id", flat=True)
        )
    return payload


def _issue_pair(*, account: SandboxAccount | None, user_type: str, client_id: str, scope: str) -> dict[str, Any]:
    fields = {"user_type": user_type, "company_id": COMPANY_ID, "client_id": client_id, "scope": scope}
    location_account = account if user_type == "Location" else None
    access = _issue(Kind.ACCESS, seconds=_access_seconds(), account=location_account, **fields)
    refresh = _issue(Kind.REFRESH, seconds=REFRESH_SECONDS, account=location_account, **fields)
    return _grant_payload(access, refresh)


def sandbox_oauth_token(*, form: dict[str, str]) -> dict[str, Any]:
    """POST /oauth/token: authorization_code or refresh_token grant; raises OAuthFailure."""
    client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
    if not client_id or not client_secret:
        raise OAuthFailure(401, "invalid_client", "client_id and client_secret are required")
    grant_type = form.get("grant_type", "")
    user_type = form.get("user_type") or "Location"
    if user_type not in USER_TYPES:
        raise OAuthFailure(400, "invalid_request", "user_type must be Company or Location")
    if grant_type == "authorization_code":
        code = SandboxOAuthToken.objects.filter(kind=Kind.CODE, token=form.get("code", "")).first()
        if code is not None and code.redirect_uri and form.get("redirect_uri", "") != code.redirect_uri:
            raise OAuthFailure(400, "invalid_grant", "redirect_uri does not match the authorization request")
        if code is None or code.client_id != client_id or not _consume(code):
            raise OAuthFailure(400, "invalid_grant", "authorization code is invalid, expired or already used")
        return _issue_pair(account=code.account, user_type=user_type, client_id=client_id, scope=code.scope)
    if grant_type == "refresh_token":
        old = (
            SandboxOAuthToken.objects.select_related("account")
            .filter(kind=Kind.REFRESH, token=form.get("refresh_token", ""))
            .first()
        )
        if old is None or old.client_id != client_id or not _consume(old):
            raise OAuthFailure(400, "invalid_grant", "refresh token is invalid, expired or already used")
        return _issue_pair(account=old.account, user_type=old.user_type, client_id=client_id, scope=old.scope)
    raise OAuthFailure(400, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")


def sandbox_oauth_location_token(*, agency_token: str, form: dict[str, str]) -> dict[str, Any]:
    """POST /oauth/locationToken: a Location access token (no refresh token) from a Company access token."""
    agency = SandboxOAuthToken.objects.filter(
        kind=Kind.ACCESS, token=agency_token, user_type="Company", expires_at__gt=timezone.now()
    ).first()
    if agency is None:
        raise OAuthFailure(401, "Unauthorized", "Invalid token: access token is invalid")
    if form.get("companyId") != agency.company_id:
        raise OAuthFailure(400, "invalid_request", "companyId does not match the token")
    account = SandboxAccount.objects.filter(system=SandboxSystem.GHL, account_id=form.get("locationId", "")).first()
    if account is None:
        raise OAuthFailure(400, "invalid_request", "locationId is not installed for this company")
    access = _issue(
        Kind.ACCESS,
        seconds=_access_seconds(),
        account=account,
        user_type="Location",
        company_id=agency.company_id,
        client_id=agency.client_id,
        scope=agency.scope,
    )
    payload = _grant_payload(access, None)
    payload.update({"appId": "sandbox-app", "versionId": "sandbox-version"})
    return payload


# ------------------------------------------------------------------------------
# Views
# ------------------------------------------------------------------------------
def _redirect_with(redirect_uri: str, params: dict[str, str]) -> HttpResponseRedirect:
    return HttpResponseRedirect(f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(params)}")


@require_GET
def authorize(request: HttpRequest) -> HttpResponse:
    """The consent page: consents at once (or denies with ?deny=1) and redirects back with a code and the state."""
    query = request.GET
    redirect_uri, client_id = query.get("redirect_uri", ""), query.get("client_id", "")
    if query.get("response_type", "code") != "code" or not redirect_uri or not client_id:
        return HttpResponseBadRequest("response_type=code, redirect_uri and client_id are required")
    state = {"state": query["state"]} if "state" in query else {}
    if query.get("deny"):
        return _redirect_with(
            redirect_uri, {"error": "access_denied", "error_description": "The user denied access", **state}
        )
    accounts = SandboxAccount.objects.filter(system=SandboxSystem.GHL).order_by("id")
    if query.get("location_id"):
        accounts = accounts.filter(account_id=query["location_id"])
    choices = list(accounts[:50])
    if not choices:
        return HttpResponseBadRequest("No such GoHighLevel sandbox location; seed the sandbox first")
    if len(choices) > 1:
        # Like GHL's "choose location" page.
        links = format_html_join(
            "",
            '<li><a href="?{}">{}</a></li>',
            ((urlencode({**query.dict(), "location_id": a.account_id}), a.name or a.account_id) for a in choices),
        )
        return HttpResponse(format_html("<h1>Sandbox: choose a sub-account</h1><ul>{}</ul>", links))
    code = sandbox_oauth_issue_code(
        account=choices[0], client_id=client_id, redirect_uri=redirect_uri, scope=query.get("scope", "")
    )
    return _redirect_with(redirect_uri, {"code": code.token, **state})


def _fault_response(request: HttpRequest) -> HttpResponse | None:
    fault = services.sandbox_fault_take(system=SandboxSystem.GHL, path=request.path, method=request.method or "POST")
    if fault is None:
        return None
    if fault.kind == SandboxFault.Kind.SLOW:
        time.sleep(fault.delay)
        return None
    status = fault.status if fault.kind == SandboxFault.Kind.STATUS else 500
    return JsonResponse({"statusCode": status, "message": "Sandbox injected fault"}, status=status)


def _spec_response(request: HttpRequest, form: dict[str, str], counters: list[str]) -> HttpResponse | None:
    """The answer to a token request that does not conform to GHL's spec (form fields, Version), else None."""
    check = ghl_spec_check(request, form, form=True)
    if check.ok:
        return None
    status = 400 if check.version_error and not check.route_error else 422
    ghl_spec_rejected(request, check, status, counters)
    if status == 400:
        return JsonResponse({"statusCode": 400, "message": "Version header is missing or invalid"}, status=400)
    return JsonResponse({"statusCode": 422, "message": check.messages, "error": "Unprocessable Entity"}, status=422)


def _token_view(request: HttpRequest, grant: str, handle: Any, form: dict[str, str]) -> HttpResponse:
    if request.method != "POST":
        return JsonResponse({"statusCode": 404, "message": f"Cannot {request.method} {request.path}"}, status=404)
    counters = ["oauth_requests"]
    response = _fault_response(request) or _spec_response(request, form, counters)
    if response is None:
        try:
            with transaction.atomic():
                payload = handle()
            counters.append(f"oauth_{grant}_ok")
            response = JsonResponse(payload, status=200)
        except OAuthFailure as failure:
            counters.append(f"oauth_{failure.body['error']}")
            response = JsonResponse(failure.body, status=failure.status)
    services.sandbox_counter_incr(system=SandboxSystem.GHL, names=counters)
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@transaction.non_atomic_requests
def token(request: HttpRequest) -> HttpResponse:
    """POST /oauth/token, form-encoded (docs/ghl-facts.md#authentication)."""
    form = {key: request.POST.get(key, "") for key in request.POST}
    grant = form.get("grant_type") or "unknown"
    return _token_view(request, grant, lambda: sandbox_oauth_token(form=form), form)


@csrf_exempt
@transaction.non_atomic_requests
def location_token(request: HttpRequest) -> HttpResponse:
    """POST /oauth/locationToken, form-encoded, Agency bearer token, Version 2021-07-28 (docs/ghl-facts.md)."""
    authorization = request.headers.get("Authorization", "")
    agency_token = authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""
    form = {key: request.POST.get(key, "") for key in request.POST}
    return _token_view(
        request, "location_token", lambda: sandbox_oauth_location_token(agency_token=agency_token, form=form), form
    )


@csrf_exempt
def control_oauth_expire(request: HttpRequest) -> HttpResponse:
    """POST ?location_id=… (optional): expire OAuth access tokens now."""
    if request.method != "POST":
        return JsonResponse({"error": "method not allowed"}, status=405)
    expired = sandbox_oauth_expire_access_tokens(location_id=request.GET.get("location_id") or None)
    return JsonResponse({"expired": expired})
