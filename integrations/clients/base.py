"""The one HTTP base for every API client: session, auth, timeouts, configured retries, typed errors."""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any, Protocol, Self
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

from integrations import concurrency, ratelimit
from integrations.clients import exceptions as exc
from integrations.clients.addresses import base_url_problem, request_path_problem
from integrations.logging import remember_secret

logger = logging.getLogger(__name__)

RATE_LIMIT_HEADERS = (
    "X-RateLimit-Remaining",
    "X-RateLimit-Max",
    "X-RateLimit-Interval-Milliseconds",
    "X-RateLimit-Daily-Remaining",
)


MSG_REDIRECT = (
    "{service} answered {status} with a redirect to {target}. Redirects are not followed (credentials are only sent "
    "to the configured host): set the connection's base URL to the address the API really lives at."
)
MSG_CREDENTIALS_UNUSABLE = (
    "The stored {service} token or API key contains characters that cannot be sent (only printable ASCII is "
    "allowed, e.g. no spaces, curly quotes or invisible characters): enter it again."
)


class ApiSession(requests.Session):
    """A requests Session that never follows redirects, for every client (API and OAuth token endpoints).

    requests drops Authorization when a redirect leaves the host, but not custom headers such as StreetText's
    X-Api-Key, nor a form body with a client secret on a 307/308: the only safe redirect is none.
    """

    max_redirects = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs["allow_redirects"] = False
        return super().send(request, **kwargs)


MSG_STOPPING = "{service}: the worker is shutting down; the run is handed back and resumes on the next worker"

# Set when this worker process is shutting down (integrations/tasks.py, Celery's worker_shutting_down signal): every
# client then refuses to start a request, and waits between retries end at once, so a run in hand is released within
# one request's time instead of holding the shutdown (and being SIGKILLed) until it finishes.
_stopping = threading.Event()


def stop_requests() -> None:
    """From now on, API calls in this process raise ApiWorkerStopping (a transient error: the run is released)."""
    _stopping.set()


def allow_requests() -> None:
    """Undo `stop_requests` (tests)."""
    _stopping.clear()


def requests_stopped() -> bool:
    return _stopping.is_set()


def _pause(seconds: float) -> None:
    """Sleep, unless the worker starts shutting down meanwhile (then ApiWorkerStopping at once)."""
    if (seconds > 0 and _stopping.wait(seconds)) or _stopping.is_set():
        raise exc.ApiWorkerStopping(MSG_STOPPING.format(service="API"))


def redirect_target(response: requests.Response) -> str:
    """scheme://host[:port] a redirect points at (never its path or query: they may carry tokens)."""
    location = response.headers.get("Location", "")
    try:
        parts = urlsplit(urljoin(response.url or "", location))
    except ValueError:
        return "an unreadable address"
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}" if parts.hostname else "?"


def sendable_header_value(value: str) -> bool:
    """Printable ASCII only: what every server reads the same way, and what http.client can encode without an
    exception that would carry the value into a traceback."""
    return all(0x20 < ord(char) < 0x7F for char in value.removeprefix("Bearer "))


def rate_limit_wait(headers: Any, default: float = 1.0) -> float:
    """Seconds to wait after a 429: Retry-After if given, else GHL's interval header."""
    retry_after = headers.get("Retry-After")
    if retry_after:
        try:
            return max(float(retry_after), 0.0)
        except ValueError:
            pass
    interval = headers.get("X-RateLimit-Interval-Milliseconds")
    if interval:
        try:
            return max(float(interval) / 1000.0, 0.0)
        except ValueError:
            pass
    return default


class RetryHooks(Protocol):
    def before_retry_sleep(self, response: Any) -> None: ...
    def after_retry_sleep(self) -> None: ...


class ApiRetry(Retry):
    """urllib3 Retry that also waits out 429s for any method (a 429 means the request was not processed)
    and understands GHL's X-RateLimit-Interval-Milliseconds when Retry-After is absent.

    `hooks` (the client) sees each retried answer before the sleep and takes a rate-limit slot after it, so
    transport retries count against the shared window like first tries.
    """

    def __init__(self, *args: Any, hooks: RetryHooks | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hooks = hooks

    def new(self, **kw: Any) -> Self:
        kw.setdefault("hooks", self.hooks)
        return super().new(**kw)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code == 429:
            return bool(self.total)
        return super().is_retry(method, status_code, has_retry_after)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> Self:
        if response is not None and response.status == 429 and ratelimit.daily_quota_spent(response.headers):
            # A spent day does not clear in seconds: give the 429 back now (raise_on_status=False returns it).
            raise MaxRetryError(_pool, url or "", ResponseError("daily quota used up"))
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def get_retry_after(self, response: Any) -> float | None:
        if response.status == 429:
            # The header's wait plus 0-20 % jitter, so workers told the same wait do not all return at once; bounded.
            wait = rate_limit_wait(response.headers) * (1 + random.uniform(0.0, 0.2))  # noqa: S311 - not crypto
            return min(wait, self.retry_after_max)
        return super().get_retry_after(response)

    def sleep(self, response: Any = None) -> None:
        if self.hooks is not None and response is not None:
            self.hooks.before_retry_sleep(response)
        super().sleep(response)
        if self.hooks is not None:
            self.hooks.after_retry_sleep()

    # urllib3 sleeps with time.sleep; these wait on the stop event instead, so a shutdown cuts a wait short.
    def _sleep_backoff(self) -> None:
        _pause(self.get_backoff_time())

    def sleep_for_retry(self, response: Any) -> bool:
        seconds = self.get_retry_after(response)
        if not seconds:
            return False
        _pause(seconds)
        return True


def build_retry(hooks: RetryHooks | None = None) -> ApiRetry:
    # Budget: 1 try + API_TRANSPORT_RETRIES retries per call, for GET/PUT/DELETE on 500/502/503/504 and
    # connection errors; any method on 429. POST is never retried on 5xx here: a create might have happened.
    return ApiRetry(
        total=settings.API_TRANSPORT_RETRIES,
        connect=settings.API_TRANSPORT_RETRIES,
        read=settings.API_TRANSPORT_RETRIES,
        status=settings.API_TRANSPORT_RETRIES,
        backoff_factor=settings.API_BACKOFF_FACTOR,
        backoff_jitter=0.3,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=Retry.DEFAULT_ALLOWED_METHODS,
        respect_retry_after_header=True,
        retry_after_max=settings.API_RATE_LIMIT_MAX_RETRY_WAIT,
        raise_on_status=False,
        hooks=hooks,
    )


class BaseClient:
    """Subclasses set `auth_headers()` and `error_message()`; every call goes through `request()`."""

    service_name = "API"
    user_agent = "StreetSync/1.0 (+self-hosted GoHighLevel-StreetText sync)"

    def __init__(self, *, base_url: str, timeout: tuple[float, float] | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout or settings.API_TIMEOUT
        self.session = ApiSession()
        adapter = HTTPAdapter(max_retries=build_retry(hooks=self))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = self.user_agent
        self.session.headers["Accept"] = "application/json"
        self.request_count = 0

    # -- hooks for subclasses -------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        return {}

    def error_message(self, payload: Any) -> tuple[str, list[str]]:
        """(message, details) from an error body; subclasses know their API's error shape."""
        return "", []

    def auth_error(self, status: int, message: str, kwargs: dict[str, Any]) -> exc.ApiAuthError:
        """The error a 401/403 raises; subclasses tell their API's particular refusals apart."""
        return exc.ApiAuthError(f"{self.service_name} rejected the credentials ({status}): {message}", **kwargs)

    def on_auth_error(self) -> bool:
        """Called on 401; return True if credentials were refreshed and the call should be repeated once."""
        return False

    def rate_limit_key(self) -> str | None:
        """The shared rate-limit window this client's calls count against (never a secret); None = not governed."""
        return None

    def rate_limit_policy(self) -> ratelimit.RatePolicy | None:
        """The configured limit for `rate_limit_key()`; limits the API announces in its headers take over."""
        return None

    # -- rate limits (integrations/ratelimit.py) --------------------------------
    def _policy(self) -> ratelimit.RatePolicy | None:
        return self.rate_limit_policy() if self.rate_limit_key() is not None else None

    def _acquire_slot(self) -> None:
        """Wait for a slot in the shared window (every attempt, transport retries included)."""
        policy = self._policy()
        if policy is None:
            return
        try:
            ratelimit.acquire_for(policy)
        except ratelimit.QuotaExhausted as e:
            raise exc.ApiQuotaExhausted(
                f"{self.service_name} daily request quota is used up until {e.resume_at:%Y-%m-%d %H:%M} UTC",
                resume_at=e.resume_at,
                rate_limit_key=policy.key,
                url=self.base_url,
            ) from e
        except ratelimit.GovernorTimeout as e:
            raise exc.ApiRateLimited(f"{self.service_name}: {e}", retry_after=policy.window_seconds) from e
        except ratelimit.GovernorUnavailable as e:
            raise exc.ApiConnectionError(f"{self.service_name}: {e}", url=self.base_url) from e

    def _observe(self, status: int, headers: Any) -> None:
        policy = self._policy()
        if policy is None:
            return
        try:
            ratelimit.observe(policy, status=status, headers=headers, retry_after=rate_limit_wait(headers))
        except ratelimit.GovernorUnavailable as e:
            logger.warning("%s: could not record rate-limit headers: %s", self.service_name, e)

    # Called by urllib3 from inside a request in flight (`concurrency.waiting()`): they use the governor's store
    # (the database with the "db" backend), so a page's writer takes the gate back for them.
    def before_retry_sleep(self, response: Any) -> None:
        with concurrency.holding():
            self._observe(response.status, response.headers)

    def after_retry_sleep(self) -> None:
        with concurrency.holding():
            self._acquire_slot()

    def _envelope(self, payload: Any, key: str, path: str, *, kind: type = dict) -> Any:
        """The value under `key` of an answer, checked to be of `kind`; else ApiBadResponse (shared by all clients)."""
        if not isinstance(payload, dict) or key not in payload:
            raise exc.ApiBadResponse(
                f"{self.service_name} answer to {path} has no '{key}' key", url=self.base_url + path
            )
        value = payload[key]
        if not isinstance(value, kind):
            raise exc.ApiBadResponse(
                f"{self.service_name} answer to {path}: '{key}' is not a {kind.__name__}", url=self.base_url + path
            )
        return value

    # -- the one way to call ---------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        expected: tuple[int, ...] = (200, 201),
        raw_response: bool = False,
        files: list[tuple[str, Any]] | None = None,
    ) -> Any:
        """One call: the parsed JSON answer (or {} when empty), or with `raw_response` the `requests.Response` of a
        successful call, unread (for answers that are files). Failures raise the typed errors either way. `files`
        sends a multipart/form-data body instead of JSON (requests' parts: (name, (filename or None, value)))."""
        url = f"{self.base_url}{path}"
        problem = base_url_problem(self.base_url)
        if problem:
            raise exc.ApiAddressRefused(f"{self.service_name}: {problem}", url=self.base_url)
        # Every client, not only the raw request: a path that climbs out of the base URL never carries the key.
        path_problem = request_path_problem(path)
        if path_problem:
            raise exc.ApiAddressRefused(f"{self.service_name}: {path_problem}", url=self.base_url)
        for attempt in (1, 2):
            auth = self.auth_headers()
            for value in auth.values():
                remember_secret(value.removeprefix("Bearer "))
                if not sendable_header_value(value):
                    raise exc.ApiCredentialsUnusable(MSG_CREDENTIALS_UNUSABLE.format(service=self.service_name))
            all_headers = {**auth, **(headers or {})}
            if _stopping.is_set():
                raise exc.ApiWorkerStopping(MSG_STOPPING.format(service=self.service_name), url=url)
            self._acquire_slot()
            started = time.monotonic()
            try:
                self.request_count += 1
                # In flight: a page's other writers go on meanwhile (integrations/concurrency.py).
                with concurrency.waiting():
                    response = self.session.request(
                        method, url, params=params, json=json, files=files, headers=all_headers, timeout=self.timeout
                    )
            except requests.exceptions.Timeout as e:
                raise exc.ApiTimeout(f"{self.service_name} did not answer in time", url=url) from e
            except requests.exceptions.RetryError as e:
                raise exc.ApiServerError(f"{self.service_name} kept failing after retries", url=url) from e
            except requests.exceptions.ConnectionError as e:
                raise exc.ApiConnectionError(f"{self.service_name} host unreachable: {self.base_url}", url=url) from e
            except requests.exceptions.RequestException as e:
                raise exc.ApiConnectionError(f"{self.service_name} request failed: {type(e).__name__}", url=url) from e
            logger.debug(
                "%s %s %s -> %s in %.0f ms %s",
                self.service_name,
                method,
                path,
                response.status_code,
                (time.monotonic() - started) * 1000,
                {h: response.headers[h] for h in RATE_LIMIT_HEADERS if h in response.headers},
            )
            self._observe(response.status_code, response.headers)
            if response.status_code == 401 and attempt == 1 and self.on_auth_error():
                continue
            return self._handle(response, url, expected, raw_response=raw_response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _handle(
        self, response: requests.Response, url: str, expected: tuple[int, ...], *, raw_response: bool = False
    ) -> Any:
        status = response.status_code
        if 300 <= status < 400 and response.headers.get("Location"):
            message = MSG_REDIRECT.format(service=self.service_name, status=status, target=redirect_target(response))
            raise exc.ApiRedirectRefused(message, status_code=status, url=url)
        if status in expected or 200 <= status < 300:
            if raw_response:
                return response
            if not response.content:
                return {}
            try:
                return response.json()
            except ValueError as e:
                raise exc.ApiBadResponse(
                    f"{self.service_name} answered {status} with a body that is not JSON", status_code=status, url=url
                ) from e
        try:
            payload = response.json()
        except ValueError:
            payload = None
        message, details = self.error_message(payload) if payload is not None else ("", [])
        message = message or response.reason or f"HTTP {status}"
        kwargs: dict[str, Any] = {"status_code": status, "url": url, "details": details}
        if status in (401, 403):
            raise self.auth_error(status, message, kwargs)
        if status == 404:
            raise exc.ApiNotFound(f"{self.service_name} found nothing at this address (404): {message}", **kwargs)
        if status in (400, 409, 422):
            raise exc.ApiValidationError(f"{self.service_name} refused the data ({status}): {message}", **kwargs)
        if status == 429 and ratelimit.daily_quota_spent(response.headers):
            resume_at = ratelimit.daily_reset_at(response.headers)
            raise exc.ApiQuotaExhausted(
                f"{self.service_name} daily request quota is used up until {resume_at:%Y-%m-%d %H:%M} UTC",
                resume_at=resume_at,
                rate_limit_key=self.rate_limit_key() or "",
                **kwargs,
            )
        if status == 429:
            raise exc.ApiRateLimited(
                f"{self.service_name} rate limit reached", retry_after=rate_limit_wait(response.headers), **kwargs
            )
        if status >= 500:
            raise exc.ApiServerError(f"{self.service_name} server error ({status}): {message}", **kwargs)
        raise exc.PermanentApiError(f"{self.service_name} answered {status}: {message}", **kwargs)
