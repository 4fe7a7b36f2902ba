"""GoHighLevel OAuth 2.0: the authorization-code flow and a single-flight token refresh.

GHL rotates refresh tokens: every refresh returns a new refresh token and the old one must not be used again
(docs/ghl-facts.md; the official SDK serialises refreshes per resource for this reason). Several Celery workers may
find the same connection's access token expired at the same moment, so a refresh is done by one of them only, under a
per-connection lock, and the others pick up the token it stored. See docs/oauth.md.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import secrets
import tempfile
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from django.conf import settings
from django.core import signing
from django.db import connections, router, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from integrations.clients import exceptions as exc
from integrations.clients.ghl import TokenProvider
from integrations.clients.ghl_oauth import GhlOAuthClient, OAuthTokenRejected, TokenGrant, ghl_oauth_client
from integrations.models import Connection, GhlAgency, System
from integrations.services.connection_status import connection_needs_reauth

logger = logging.getLogger(__name__)
RowT = TypeVar("RowT", Connection, GhlAgency)

USER_TYPE_LOCATION = "Location"
USER_TYPE_COMPANY = "Company"
USER_TYPES = (USER_TYPE_LOCATION, USER_TYPE_COMPANY)
# What an agency install needs besides the sync's scopes: location tokens (POST /oauth/locationToken, oauth.write)
# and the installed locations (oauth.readonly); the agency's locations come from GET /locations/search
# (locations.readonly, already in GHL_OAUTH_SCOPES).
AGENCY_SCOPES = ("oauth.readonly", "oauth.write", "locations.readonly")
STATE_SALT = "integrations.services.oauth.state"
STATE_MAX_AGE_SECONDS = 15 * 60
SESSION_KEY = "ghl_oauth_nonces"
SESSION_MAX_PENDING = 5
CALLBACK_URL_NAME = "ghl-oauth-callback"

OAUTH_NOT_CONFIGURED = (
    "GoHighLevel OAuth is not configured: set GHL_OAUTH_CLIENT_ID and GHL_OAUTH_CLIENT_SECRET (see docs/oauth.md)."
)
OAUTH_NOT_OAUTH = "Only GoHighLevel connections with auth type 'OAuth 2.0' can be connected with OAuth."
OAUTH_BAD_USER_TYPE = "User type must be Location or Company."
OAUTH_STATE_INVALID = (
    "The answer from GoHighLevel could not be verified (state mismatch, expired or already used). "
    "Nothing was changed; start 'Connect with GoHighLevel' again."
)
OAUTH_DENIED = "GoHighLevel did not grant access ({error}). Nothing was changed."
OAUTH_NO_CODE = "GoHighLevel sent no authorization code. Nothing was changed; try again."
OAUTH_EXCHANGE_FAILED = "GoHighLevel did not accept the authorization code: {error}"
OAUTH_WRONG_LOCATION = (
    "GoHighLevel authorised location {got}, but this connection is for location {want}. "
    "Nothing was changed; choose the right sub-account, or fix the connection's location id."
)
OAUTH_LOCATION_NOT_APPROVED = (
    "The agency token does not include location {want}. Nothing was changed; install the app on that sub-account."
)
OAUTH_LOCATION_GRANT_FAILED = "GoHighLevel did not give a location token for {want}: {error}"
OAUTH_CONNECTED = "Connected with OAuth ({user_type} token) for location {location}."
OAUTH_NOT_CONNECTED = "Not connected to GoHighLevel yet: use 'Connect with GoHighLevel' on the connection."
OAUTH_AGENCY_LOCATION = (
    "This connection's token comes from the agency “{agency}”: reconnect the agency instead (GoHighLevel agencies)."
)
OAUTH_NOT_AGENCY = (
    "GoHighLevel did not give an agency (Company) token: install the app at agency level. Nothing was changed."
)
OAUTH_WRONG_AGENCY = (
    "GoHighLevel authorised agency {got}, but this install is for agency {want}. Nothing was changed; log in to the "
    "right agency."
)
OAUTH_AGENCY_CONNECTED = "Connected with OAuth (agency token) for company {company}."
OAUTH_AGENCY_NOT_CONNECTED = "The agency is not connected to GoHighLevel yet: press “Connect with GoHighLevel”."
OAUTH_AGENCY_REFRESH_REJECTED = (
    "GoHighLevel refused the agency's token refresh: {error}. Reconnect the agency with “Connect with GoHighLevel”."
)
OAUTH_REFRESH_REJECTED = "GoHighLevel refused the token refresh: {error}. Reconnect with 'Connect with GoHighLevel'."


class OAuthError(Exception):
    """The flow cannot complete; `message` is safe to show to the admin user (no tokens, no codes)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OAuthStateError(OAuthError):
    """The `state` is forged, expired, for another session, or used twice."""


# ------------------------------------------------------------------------------
# Authorization-code flow
# ------------------------------------------------------------------------------
def oauth_redirect_uri(*, request: HttpRequest) -> str:
    """The callback URL registered in the Marketplace app: the setting, or this host's /oauth/ghl/callback."""
    return settings.GHL_OAUTH_REDIRECT_URI or request.build_absolute_uri(reverse(CALLBACK_URL_NAME))


def oauth_authorize_url(*, connection: Connection, request_or_redirect_uri: HttpRequest | str, user_type: str) -> str:
    """The GHL consent URL for this connection; the `state` is signed, time-limited and tied to the session.

    With an HttpRequest a one-time nonce is kept in its session and must come back in the state; with a plain
    redirect URI (scripts, tests) the state is only signed and time-limited.
    """
    _check_configured()
    if connection.system != System.GHL or connection.auth_type != Connection.AuthType.OAUTH:
        raise OAuthError(OAUTH_NOT_OAUTH)
    if connection.agency_id is not None:
        raise OAuthError(OAUTH_AGENCY_LOCATION.format(agency=connection.agency))
    if user_type not in USER_TYPES:
        raise OAuthError(OAUTH_BAD_USER_TYPE)
    return _authorize_url({"c": connection.pk, "u": user_type}, request_or_redirect_uri, settings.GHL_OAUTH_SCOPES)


def oauth_agency_authorize_url(*, agency: GhlAgency, request_or_redirect_uri: HttpRequest | str) -> str:
    """The GHL consent URL that installs the app on an agency (Company token), with the agency scopes added."""
    _check_configured()
    scopes = [*settings.GHL_OAUTH_SCOPES, *(s for s in AGENCY_SCOPES if s not in settings.GHL_OAUTH_SCOPES)]
    return _authorize_url({"a": agency.pk, "u": USER_TYPE_COMPANY}, request_or_redirect_uri, scopes)


def _check_configured() -> None:
    if not settings.GHL_OAUTH_CLIENT_ID or not settings.GHL_OAUTH_CLIENT_SECRET:
        raise OAuthError(OAUTH_NOT_CONFIGURED)


def _authorize_url(target: dict[str, Any], request_or_redirect_uri: HttpRequest | str, scopes: list[str]) -> str:
    nonce = ""
    if isinstance(request_or_redirect_uri, str):
        redirect_uri = request_or_redirect_uri
    else:
        redirect_uri = oauth_redirect_uri(request=request_or_redirect_uri)
        nonce = secrets.token_urlsafe(16)
        session = request_or_redirect_uri.session
        pending = [n for n in session.get(SESSION_KEY, []) if isinstance(n, str)]
        session[SESSION_KEY] = [*pending[-(SESSION_MAX_PENDING - 1) :], nonce]
    state = signing.dumps({**target, "r": redirect_uri, "n": nonce}, salt=STATE_SALT, compress=True)
    params = {
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "client_id": settings.GHL_OAUTH_CLIENT_ID,
        "scope": " ".join(scopes),
        "state": state,
    }
    base = settings.GHL_OAUTH_AUTHORIZE_URL
    return f"{base}{'&' if '?' in base else '?'}{urlencode(params, quote_via=quote)}"


def oauth_state_connection_id(*, state: str) -> int | None:
    """The connection a (valid, unexpired) state is for, without consuming it: where to send the user back."""
    target = oauth_state_target(state=state)
    return target[1] if target is not None and target[0] == "connection" else None


def oauth_state_target(*, state: str) -> tuple[str, int] | None:
    """("connection", pk) or ("agency", pk) of a valid, unexpired state, without consuming it."""
    try:
        data = signing.loads(state, salt=STATE_SALT, max_age=STATE_MAX_AGE_SECONDS)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    for key, kind in (("c", "connection"), ("a", "agency")):
        if isinstance(data.get(key), int):
            return kind, data[key]
    return None


def _state_consume(*, state: str, session: MutableMapping[str, Any] | None) -> dict[str, Any]:
    try:
        data = signing.loads(state, salt=STATE_SALT, max_age=STATE_MAX_AGE_SECONDS)
    except signing.BadSignature as e:  # SignatureExpired is a BadSignature
        raise OAuthStateError(OAUTH_STATE_INVALID) from e
    if not isinstance(data, dict) or data.get("u") not in USER_TYPES:
        raise OAuthStateError(OAUTH_STATE_INVALID)
    if not isinstance(data.get("c"), int) and not (isinstance(data.get("a"), int) and data["u"] == USER_TYPE_COMPANY):
        raise OAuthStateError(OAUTH_STATE_INVALID)
    nonce = data.get("n") or ""
    if nonce:
        pending = list(session.get(SESSION_KEY, [])) if session is not None else []
        if nonce not in pending:
            raise OAuthStateError(OAUTH_STATE_INVALID)
        pending.remove(nonce)
        assert session is not None
        session[SESSION_KEY] = pending
    return data


def _callback_target(
    model: type[RowT], key: str, *, state: str, code: str, session: MutableMapping[str, Any] | None
) -> tuple[dict[str, Any], RowT]:
    """The callback's checks shared by a connection's and an agency's install: the state is valid, unused and for this
    kind of row (`key` "c" or "a"), a code came, and the row still exists. Raises OAuthStateError or OAuthError."""
    data = _state_consume(state=state, session=session)
    if not isinstance(data.get(key), int):
        raise OAuthStateError(OAUTH_STATE_INVALID)
    if not code:
        raise OAuthError(OAUTH_NO_CODE)
    row = model._default_manager.filter(pk=data[key]).first()
    if row is None:
        raise OAuthStateError(OAUTH_STATE_INVALID)
    return data, row


def oauth_complete(*, state: str, code: str, session: MutableMapping[str, Any] | None = None) -> Connection:
    """Check the state, exchange the code, store the tokens (encrypted) and mark the connection OK."""
    data, connection = _callback_target(Connection, "c", state=state, code=code, session=session)
    user_type: str = data["u"]
    client = ghl_oauth_client(base_url=connection.base_url)
    try:
        grant = client.exchange_code(code=code, user_type=user_type, redirect_uri=str(data["r"]))
    except exc.ApiError as e:
        raise OAuthError(OAUTH_EXCHANGE_FAILED.format(error=e)) from e

    want = connection.location_id
    if user_type == USER_TYPE_LOCATION:
        if grant.location_id and want and grant.location_id != want:
            raise OAuthError(OAUTH_WRONG_LOCATION.format(got=grant.location_id, want=want))
        location_id = want or grant.location_id
        api_grant = grant
    else:
        location_id = want
        if grant.approved_locations and want not in grant.approved_locations:
            raise OAuthError(OAUTH_LOCATION_NOT_APPROVED.format(want=want))
        api_grant = _location_grant(client, connection=connection, agency=grant, location_id=want)

    with transaction.atomic():
        row = Connection.objects.select_for_update().get(pk=connection.pk)
        row.location_id = location_id
        row.oauth_user_type = grant.user_type or user_type
        row.oauth_company_id = grant.company_id
        row.oauth_scopes = grant.scope
        row.oauth_refresh_token = grant.refresh_token
        _set_access(row, api_grant)
        row.status = Connection.Status.OK
        row.status_detail = OAUTH_CONNECTED.format(user_type=row.oauth_user_type, location=location_id)
        row.status_checked_at = timezone.now()
        row.full_clean()
        row.save()
    logger.info("Connection %s connected with OAuth (%s token)", row.pk, row.oauth_user_type)
    return row


def oauth_agency_complete(*, state: str, code: str, session: MutableMapping[str, Any] | None = None) -> GhlAgency:
    """An agency install's callback: check the state, exchange the code for the agency (Company) token, store it."""
    data, agency = _callback_target(GhlAgency, "a", state=state, code=code, session=session)
    client = ghl_oauth_client(base_url=agency.base_url)
    try:
        grant = client.exchange_code(code=code, user_type=USER_TYPE_COMPANY, redirect_uri=str(data["r"]))
    except exc.ApiError as e:
        raise OAuthError(OAUTH_EXCHANGE_FAILED.format(error=e)) from e
    if (grant.user_type and grant.user_type != USER_TYPE_COMPANY) or not grant.company_id:
        raise OAuthError(OAUTH_NOT_AGENCY)
    if agency.company_id and grant.company_id != agency.company_id:
        raise OAuthError(OAUTH_WRONG_AGENCY.format(got=grant.company_id, want=agency.company_id))
    with transaction.atomic():
        row = GhlAgency.objects.select_for_update().get(pk=agency.pk)
        row.company_id = grant.company_id
        row.oauth_scopes = grant.scope
        row.oauth_refresh_token = grant.refresh_token
        _set_access(row, grant)
        row.status = GhlAgency.Status.OK
        row.status_detail = OAUTH_AGENCY_CONNECTED.format(company=grant.company_id)
        row.full_clean()
        row.save()
    logger.info("Agency %s connected with OAuth (company %s)", row.pk, row.company_id)
    return row


def _location_grant(
    client: GhlOAuthClient, *, connection: Connection, agency: TokenGrant, location_id: str
) -> TokenGrant:
    """Company (agency) tokens do not open location APIs; trade one for a location token."""
    try:
        return client.location_token(
            base_url=connection.base_url,
            agency_token=agency.access_token,
            company_id=agency.company_id,
            location_id=location_id,
        )
    except exc.ApiError as e:
        raise OAuthError(OAUTH_LOCATION_GRANT_FAILED.format(want=location_id, error=e)) from e


def _set_access(row: Connection | GhlAgency, grant: TokenGrant) -> None:
    row.oauth_access_token = grant.access_token
    row.oauth_expires_at = timezone.now() + timedelta(seconds=grant.expires_in) if grant.expires_in > 0 else None


# ------------------------------------------------------------------------------
# Access tokens: refresh ahead of expiry and after a 401, one refresh at a time per connection
# ------------------------------------------------------------------------------
def _expiring(expires_at: datetime | None) -> bool:
    # Unknown expiry: use the token until the API answers 401.
    if expires_at is None:
        return False
    return expires_at - timezone.now() <= timedelta(seconds=settings.GHL_OAUTH_REFRESH_MARGIN_SECONDS)


@dataclass
class _Outcome:
    row: Connection
    refreshed: bool = False
    error: exc.ApiError | None = None


def oauth_access_token(*, connection: Connection, force: bool = False) -> str:
    """A usable access token: the stored one, or a refreshed one when it expires within the margin or `force`.

    `force=True` means "the token I hold was rejected (401)". If another worker has stored a different token
    meanwhile, that one is returned without a new refresh. A refused refresh marks the connection NEEDS_REAUTH
    and raises ApiAuthError; a transient failure (timeout, 5xx, 429) raises a TransientApiError.
    The in-memory `connection` is updated with whatever was stored.
    """
    seen = connection.oauth_access_token
    if seen and not force and not _expiring(connection.oauth_expires_at):
        return seen
    if connection.pk is None:
        raise exc.ApiAuthError(OAUTH_NOT_CONNECTED)
    if connection.agency_id is not None:
        outcome = _location_refresh(connection=connection, seen_token=seen, force=force)
    else:
        outcome = _refresh_single_flight(pk=connection.pk, seen_token=seen, force=force)
    for name in ("oauth_access_token_encrypted", "oauth_refresh_token_encrypted", "oauth_expires_at", "oauth_scopes"):
        setattr(connection, name, getattr(outcome.row, name))
    if outcome.error is not None:
        if isinstance(outcome.error, exc.ApiAuthError):
            # Outside the lock's transaction, so the mark is not rolled back with it.
            detail = outcome.error.message
            if isinstance(outcome.error, OAuthTokenRejected):
                detail = OAUTH_REFRESH_REJECTED.format(error=outcome.error.message)
            connection_needs_reauth(connection=connection, detail=detail)
            raise exc.ApiAuthError(
                detail, status_code=outcome.error.status_code, url=outcome.error.url
            ) from outcome.error
        raise outcome.error
    if outcome.refreshed:
        logger.info(
            "Connection %s: OAuth access token refreshed (expires %s)", connection.pk, connection.oauth_expires_at
        )
    return connection.oauth_access_token


def oauth_token_provider(connection: Connection) -> TokenProvider:
    """The GhlClient token provider for an OAuth connection (called with force=True after a 401)."""

    def provider(*, force: bool = False) -> str:
        return oauth_access_token(connection=connection, force=force)

    return provider


def _refresh_single_flight(*, pk: int, seen_token: str, force: bool) -> _Outcome:
    with _connection_lock(pk) as row:
        current = row.oauth_access_token
        fresh = bool(current) and not _expiring(row.oauth_expires_at)
        # Another worker refreshed while we waited for the lock (or nobody needs to): use its token.
        if fresh and (current != seen_token or not force):
            return _Outcome(row)
        refresh_token = row.oauth_refresh_token
        if not refresh_token:
            return _Outcome(row, error=exc.ApiAuthError(OAUTH_NOT_CONNECTED))
        try:
            _refresh(row, refresh_token)
        except exc.ApiError as e:
            return _Outcome(row, error=e)
        return _Outcome(row, refreshed=True)


def _location_refresh(*, connection: Connection, seen_token: str, force: bool) -> _Outcome:
    """A location of an agency install: a new location token from the agency's token, for this location only.

    The agency's own token is made fresh first (its own single-flight refresh, committed before this one starts), then
    this connection's lock is taken as for any refresh: another worker that already renewed this location's token is
    followed, not repeated. The other locations of the agency keep their tokens. If GHL answers 401 to the agency
    token (revoked early, or expired before its stated time), the agency token is refreshed once and the call made
    again.
    """
    assert connection.pk is not None
    assert connection.agency_id is not None
    agency = GhlAgency.objects.get(pk=connection.agency_id)
    for attempt in (1, 2):
        try:
            agency_token = agency_access_token(agency=agency, force=attempt == 2)
        except exc.ApiError as e:
            return _Outcome(Connection.objects.get(pk=connection.pk), error=e)
        with _connection_lock(connection.pk) as row:
            current = row.oauth_access_token
            fresh = bool(current) and not _expiring(row.oauth_expires_at)
            if fresh and (current != seen_token or not force):
                return _Outcome(row)
            client = ghl_oauth_client(base_url=agency.base_url)
            try:
                grant = client.location_token(
                    base_url=agency.base_url,
                    agency_token=agency_token,
                    company_id=agency.company_id,
                    location_id=row.location_id,
                )
            except OAuthTokenRejected as e:
                if e.status_code == 401 and attempt == 1:
                    continue  # the agency token itself was refused: refresh it, then once more
                return _Outcome(row, error=e)
            except exc.ApiError as e:
                return _Outcome(row, error=e)
            row.oauth_scopes = grant.scope or row.oauth_scopes
            _set_access(row, grant)
            _save_tokens(row)
            return _Outcome(row, refreshed=True)
    return _Outcome(Connection.objects.get(pk=connection.pk), error=exc.ApiAuthError(OAUTH_AGENCY_NOT_CONNECTED))


def oauth_location_grant(*, agency: GhlAgency, location_id: str) -> TokenGrant:
    """A location token for one of the agency's locations (refreshing the agency's token first when due, and once
    more if GHL refuses it with 401). Raises ApiError subclasses."""
    client = ghl_oauth_client(base_url=agency.base_url)
    for attempt in (1, 2):
        token = agency_access_token(agency=agency, force=attempt == 2)
        try:
            return client.location_token(
                base_url=agency.base_url, agency_token=token, company_id=agency.company_id, location_id=location_id
            )
        except OAuthTokenRejected as e:
            if e.status_code != 401 or attempt == 2:
                raise
    raise AssertionError("unreachable")


def oauth_store_access(row: Connection | GhlAgency, grant: TokenGrant) -> None:
    """Put a grant's access token and expiry on the (unsaved) row."""
    _set_access(row, grant)
    row.oauth_scopes = grant.scope or row.oauth_scopes


def agency_access_token(*, agency: GhlAgency, force: bool = False) -> str:
    """A usable agency (Company) access token: the stored one, or one refreshed under the agency's own lock (its
    refresh token rotates like a location's). A refused refresh marks the agency NEEDS_REAUTH and raises ApiAuthError.
    """
    seen = agency.oauth_access_token
    if seen and not force and not _expiring(agency.oauth_expires_at):
        return seen
    error: exc.ApiError | None = None
    refreshed = False
    with _row_lock(GhlAgency, agency.pk) as row:
        current = row.oauth_access_token
        fresh = bool(current) and not _expiring(row.oauth_expires_at)
        if not (fresh and (current != seen or not force)):
            refresh_token = row.oauth_refresh_token
            if not refresh_token:
                error = exc.ApiAuthError(OAUTH_AGENCY_NOT_CONNECTED)
            else:
                try:
                    grant = ghl_oauth_client(base_url=row.base_url).refresh(
                        refresh_token=refresh_token, user_type=USER_TYPE_COMPANY
                    )
                except exc.ApiError as e:
                    error = e
                else:
                    # The old refresh token is spent: store the new one at once.
                    row.oauth_refresh_token = grant.refresh_token or refresh_token
                    row.oauth_scopes = grant.scope or row.oauth_scopes
                    _set_access(row, grant)
                    with transaction.atomic():
                        row.save(
                            update_fields=[
                                "oauth_access_token_encrypted",
                                "oauth_refresh_token_encrypted",
                                "oauth_expires_at",
                                "oauth_scopes",
                                "updated_at",
                            ]
                        )
                    refreshed = True
    for name in ("oauth_access_token_encrypted", "oauth_refresh_token_encrypted", "oauth_expires_at", "oauth_scopes"):
        setattr(agency, name, getattr(row, name))
    if error is not None:
        if isinstance(error, exc.ApiAuthError):
            detail = error.message
            if isinstance(error, OAuthTokenRejected):
                detail = OAUTH_AGENCY_REFRESH_REJECTED.format(error=error.message)
            GhlAgency.objects.filter(pk=agency.pk).update(
                status=GhlAgency.Status.NEEDS_REAUTH, status_detail=detail, updated_at=timezone.now()
            )
            raise exc.ApiAuthError(detail, status_code=error.status_code, url=error.url) from error
        raise error
    if refreshed:
        logger.info("Agency %s: OAuth access token refreshed (expires %s)", agency.pk, agency.oauth_expires_at)
    return agency.oauth_access_token


def _refresh(row: Connection, refresh_token: str) -> None:
    """POST grant_type=refresh_token and store both new tokens. Runs with the connection's lock held."""
    client = ghl_oauth_client(base_url=row.base_url)
    user_type = row.oauth_user_type or USER_TYPE_LOCATION
    grant = client.refresh(refresh_token=refresh_token, user_type=user_type)
    # The old refresh token is spent now: store the new one before anything else can fail.
    row.oauth_refresh_token = grant.refresh_token or refresh_token
    row.oauth_scopes = grant.scope or row.oauth_scopes
    if user_type == USER_TYPE_COMPANY:
        _save_tokens(row)
        grant = client.location_token(
            base_url=row.base_url,
            agency_token=grant.access_token,
            company_id=grant.company_id or row.oauth_company_id,
            location_id=row.location_id,
        )
    _set_access(row, grant)
    _save_tokens(row)


def _save_tokens(row: Connection) -> None:
    with transaction.atomic():
        row.save(
            update_fields=[
                "oauth_access_token_encrypted",
                "oauth_refresh_token_encrypted",
                "oauth_expires_at",
                "oauth_scopes",
                "updated_at",
            ]
        )


@contextmanager
def _connection_lock(pk: int) -> Iterator[Connection]:
    """Hold the per-connection refresh lock and yield the connection as stored now.

    The lock covers the HTTP call on purpose: a refresh token is single-use, so the whole read-token /
    spend-token / store-new-token sequence must run for one worker at a time, or a second worker would spend
    the already-rotated token and get invalid_grant. Nothing else happens while it is held, and the token
    endpoint has a short timeout (clients/ghl_oauth.py), so other workers wait at most that long.
    """
    with _row_lock(Connection, pk) as row:
        yield row


@contextmanager
def _row_lock(model: type[Any], pk: int) -> Iterator[Any]:
    """The refresh lock of one row (a connection, or an agency whose token its locations' tokens come from)."""
    alias = router.db_for_write(model)
    db = connections[alias]
    if db.features.has_select_for_update:
        # PostgreSQL: a row lock, released when this transaction ends.
        with transaction.atomic(using=alias):
            yield model.objects.using(alias).select_for_update().get(pk=pk)
        return
    # SQLite has no row locks (select_for_update is a no-op). Its IMMEDIATE transactions would serialise us too,
    # but they lock the whole database for the HTTP round-trip: every other writer would stall, and a token
    # endpoint writing to the same database (the built-in sandbox) would deadlock. SQLite is single-host, so an
    # OS file lock next to the database file gives the same single-flight guarantee; the writes stay short.
    prefix = "" if model is Connection else f"{model._meta.model_name}-"
    with _file_lock(_lock_path(db.settings_dict.get("NAME"), pk, prefix=prefix)):
        yield model.objects.using(alias).get(pk=pk)


def _lock_path(db_name: Any, pk: int, *, prefix: str = "") -> Path:
    name = str(db_name or "")
    if name and name != ":memory:" and "mode=memory" not in name:
        return Path(f"{name}.oauth-{prefix}{pk}.lock")
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"streetsync-oauth-{digest}-{prefix}{pk}.lock"


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
