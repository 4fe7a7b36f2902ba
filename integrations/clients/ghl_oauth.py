"""GoHighLevel OAuth 2.0 token endpoints: code exchange, refresh, agency -> location token.

Facts: docs/ghl-facts.md#authentication (`docs/oauth/Authorization.md` and `apps/oauth.json` in
GoHighLevel/highlevel-api-docs).
Tokens never appear in a log line, an exception message or a repr.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings

from integrations.clients import exceptions as exc
from integrations.clients.base import ApiSession, rate_limit_wait
from integrations.logging import redact

logger = logging.getLogger(__name__)

SERVICE = "GoHighLevel OAuth"
OAUTH_API_VERSION = "2021-07-28"
USER_AGENT = "StreetSync/1.0 (+self-hosted GoHighLevel-StreetText sync)"
# (connect, read). Short on purpose: a refresh runs while other workers wait for the same connection's lock.
TOKEN_TIMEOUT = (5.0, 15.0)


class OAuthTokenRejected(exc.ApiAuthError):
    """400/401/403/422 from a token endpoint: the code, refresh token or client credentials are not accepted.

    `error_code` is the OAuth error (`invalid_grant`, `invalid_client`, …) when the server sent one.
    """

    def __init__(self, message: str, *, error_code: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.error_code = error_code


@dataclass(frozen=True)
class TokenGrant:
    """A token endpoint answer. Token fields are left out of repr()."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int
    scope: str
    user_type: str
    location_id: str
    company_id: str
    user_id: str
    approved_locations: list[str]

    @classmethod
    def from_payload(cls, payload: Any, *, url: str) -> TokenGrant:
        if not isinstance(payload, dict) or not isinstance(payload.get("access_token"), str):
            raise exc.ApiBadResponse(f"{SERVICE} answered without an access_token", url=url)
        try:
            expires_in = int(payload.get("expires_in") or 0)
        except (TypeError, ValueError):
            expires_in = 0
        approved = payload.get("approvedLocations")
        return cls(
            access_token=payload["access_token"],
            refresh_token=str(payload.get("refresh_token") or ""),
            expires_in=expires_in,
            scope=str(payload.get("scope") or ""),
            user_type=str(payload.get("userType") or ""),
            location_id=str(payload.get("locationId") or ""),
            company_id=str(payload.get("companyId") or ""),
            user_id=str(payload.get("userId") or ""),
            approved_locations=[str(x) for x in approved] if isinstance(approved, list) else [],
        )


class GhlOAuthClient:
    """POSTs form-encoded bodies to the token URL; no transport retries (a retried refresh could reuse a token)."""

    def __init__(self, *, token_url: str, client_id: str, client_secret: str) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.session = ApiSession()  # never follows a redirect (a 307 would re-send client_secret elsewhere)
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers["Accept"] = "application/json"

    def exchange_code(self, *, code: str, user_type: str, redirect_uri: str) -> TokenGrant:
        """grant_type=authorization_code: the code from the callback for access + refresh tokens."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/oauth.json, POST /oauth/token
        return self._token(
            {"grant_type": "authorization_code", "code": code, "user_type": user_type, "redirect_uri": redirect_uri}
        )

    def refresh(self, *, refresh_token: str, user_type: str) -> TokenGrant:
        """grant_type=refresh_token: a new access token AND a new refresh token (the old one is spent)."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs docs/oauth/Authorization.md (FAQ: refresh tokens)
        return self._token({"grant_type": "refresh_token", "refresh_token": refresh_token, "user_type": user_type})

    def location_token(self, *, base_url: str, agency_token: str, company_id: str, location_id: str) -> TokenGrant:
        """POST /oauth/locationToken: a Sub-Account token from an Agency (Company) token."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/oauth.json, POST /oauth/locationToken
        url = f"{base_url.rstrip('/')}/oauth/locationToken"
        headers = {"Authorization": f"Bearer {agency_token}", "Version": OAUTH_API_VERSION}
        return self._post(url, {"companyId": company_id, "locationId": location_id}, headers=headers)

    def _token(self, data: dict[str, str]) -> TokenGrant:
        body = {"client_id": self.client_id, "client_secret": self.client_secret, **data}
        return self._post(self.token_url, body)

    def _post(self, url: str, data: dict[str, str], *, headers: dict[str, str] | None = None) -> TokenGrant:
        try:
            response = self.session.post(url, data=data, headers=headers, timeout=TOKEN_TIMEOUT)
        except requests.exceptions.Timeout as e:
            raise exc.ApiTimeout(f"{SERVICE} did not answer in time", url=url) from e
        except requests.exceptions.ConnectionError as e:
            raise exc.ApiConnectionError(f"{SERVICE} host unreachable", url=url) from e
        except requests.exceptions.RequestException as e:
            raise exc.ApiConnectionError(f"{SERVICE} request failed: {type(e).__name__}", url=url) from e
        status = response.status_code
        logger.debug("%s POST %s -> %s", SERVICE, url, status)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if 200 <= status < 300:
            return TokenGrant.from_payload(payload, url=url)
        code, description = _error_of(payload)
        text = f"{code}: {description}" if code and description else code or description or response.reason
        kwargs: dict[str, Any] = {"status_code": status, "url": url}
        if status in (400, 401, 403, 422):
            raise OAuthTokenRejected(f"{SERVICE} refused ({status}): {text}", error_code=code, **kwargs)
        if status == 429:
            raise exc.ApiRateLimited(
                f"{SERVICE} rate limit reached", retry_after=rate_limit_wait(response.headers), **kwargs
            )
        if status >= 500:
            raise exc.ApiServerError(f"{SERVICE} server error ({status}): {text}", **kwargs)
        raise exc.PermanentApiError(f"{SERVICE} answered {status}: {text}", **kwargs)


def _error_of(payload: Any) -> tuple[str, str]:
    """(OAuth error code, description) from an error body; redacted and cut short, it ends up in admin messages."""
    if not isinstance(payload, dict):
        return "", ""
    code = payload.get("error")
    description = payload.get("error_description") or payload.get("message")
    if isinstance(description, list):
        description = "; ".join(str(d) for d in description)
    return redact(str(code or ""))[:60], redact(str(description or ""))[:200]


def ghl_oauth_client(*, base_url: str) -> GhlOAuthClient:
    """The client for this deployment's Marketplace app; the token URL defaults to `<base_url>/oauth/token`."""
    token_url = settings.GHL_OAUTH_TOKEN_URL or f"{base_url.rstrip('/')}/oauth/token"
    return GhlOAuthClient(
        token_url=token_url,
        client_id=settings.GHL_OAUTH_CLIENT_ID,
        client_secret=settings.GHL_OAUTH_CLIENT_SECRET,
    )
