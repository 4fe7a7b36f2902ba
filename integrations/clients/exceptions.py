"""One exception hierarchy for every API client; mapped from HTTP in one place (BaseClient)."""

from __future__ import annotations

from datetime import datetime


class ApiError(Exception):
    """An API call failed. `message` is safe to show and store: it never contains a secret."""

    def __init__(
        self, message: str, *, status_code: int | None = None, url: str = "", details: list[str] | None = None
    ):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.url = url
        self.details = details or []

    def __str__(self) -> str:
        text = self.message
        if self.details:
            text += ": " + "; ".join(self.details)
        return text


class TransientApiError(ApiError):
    """Worth retrying later: rate limits, server errors, timeouts, connection resets."""


class PermanentApiError(ApiError):
    """Retrying will not help: fix credentials, data or configuration first."""


class ApiAuthError(PermanentApiError):
    """401/403: the token or key is rejected, expired or lacks a scope."""


class ApiLocationForbidden(ApiAuthError):
    """403: the token is valid but may not act in this location (GHL: "The token does not have access to this
    location"); a new token for that location, or the right location id, is the fix, not a retry."""


class ApiCredentialsUnusable(ApiAuthError):
    """The stored token or key holds characters no HTTP header can carry (a pasted zero-width space, curly quotes)."""


class ApiRedirectRefused(PermanentApiError):
    """The API answered with a redirect: never followed, so credentials only ever go to the configured host."""


class ApiAddressRefused(PermanentApiError):
    """The connection's base URL is not an address credentials may be sent to (integrations/clients/addresses.py)."""


class ApiNotFound(PermanentApiError):
    """404: the record (or location) does not exist."""


class ApiValidationError(PermanentApiError):
    """400/422: the request was refused; `details` holds the API's messages."""


class ApiRateLimited(TransientApiError):
    """429: too many requests; `retry_after` is the wait in seconds the API asked for."""

    def __init__(self, message: str, *, retry_after: float, **kwargs: object):
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ApiQuotaExhausted(TransientApiError):
    """The API's daily request quota is used up: nothing may be sent before `resume_at` (a task retry is too soon)."""

    def __init__(self, message: str, *, resume_at: datetime, rate_limit_key: str = "", **kwargs: object):
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.resume_at = resume_at
        self.rate_limit_key = rate_limit_key


class ApiServerError(TransientApiError):
    """5xx from the API."""


class ApiTimeout(TransientApiError):
    """No answer within the timeout."""


class ApiConnectionError(TransientApiError):
    """The host could not be reached (DNS, refused, reset)."""


class ApiWorkerStopping(TransientApiError):
    """The worker is shutting down: no new request is sent; the run is handed back and resumes on the next worker."""


class ApiBadResponse(TransientApiError):
    """The API answered 2xx with a body we cannot read (malformed JSON, missing envelope)."""
