"""Rate-limit governor: at most `limit` request starts per sliding `window_seconds` per key, across every process.

One key per rate-limited API account (GHL: one per location). `acquire()` sleeps until a slot is free; the window
state lives in a store every worker on every machine shares, chosen by RATE_LIMIT_BACKEND:

- "redis": a sorted set of start times per key, checked and written by one Lua script (atomic; Redis's clock, so the
  workers' clocks do not matter);
- "db": one RateLimitWindow row per key holding the window's start times, read and written in one short transaction
  (SELECT … FOR UPDATE on PostgreSQL with the database's clock; BEGIN IMMEDIATE on SQLite, see DATABASES OPTIONS);
- "local": this process only (tests without a database, a single-process dev setup); "off": no governing;
- "auto" (default): "redis" when RATE_LIMIT_REDIS_URL is set, else "db".

Besides the window, a key can be paused (after a 429, or when the API says no request is left in its window) and
marked exhausted until a time (daily quota): `acquire()` then raises QuotaExhausted instead of waiting a day.
Limits the API announces in its headers (X-RateLimit-Max / -Interval-Milliseconds) replace the configured ones.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection, transaction

from integrations import concurrency

logger = logging.getLogger(__name__)

# Learned limits are re-read from the shared store at most this often per process.
LEARNED_CACHE_SECONDS = 30.0
# How long announced limits are kept without being seen again.
LEARNED_TTL_SECONDS = 24 * 3600.0
# Sanity bounds for announced limits; anything outside is ignored.
MIN_WINDOW_SECONDS, MAX_WINDOW_SECONDS = 0.1, 3600.0
# Logged when an answer says the API's window is full (every worker then waits a whole window).
MSG_WINDOW_FULL = "No request left in the window of %s; every worker pauses %.1f s"
# A daily reset further away than this is not believed; the next UTC midnight is used instead.
MAX_QUOTA_PAUSE = timedelta(hours=48)


class QuotaExhausted(Exception):
    """The key's daily quota is used up; nothing may be sent before `resume_at`."""

    def __init__(self, key: str, resume_at: datetime):
        super().__init__(f"request quota of {key} exhausted until {resume_at.isoformat()}")
        self.key = key
        self.resume_at = resume_at


class GovernorUnavailable(Exception):
    """The shared rate-limit store cannot be reached."""


class GovernorTimeout(Exception):
    """No slot within RATE_LIMIT_MAX_WAIT_SECONDS (the key is paused, or far too many workers share it)."""


@dataclass(frozen=True)
class RatePolicy:
    """A client's configured limit for one key, and the margin kept below the API's own count: `headroom` < 1 keeps a
    share of the limit, `margin_requests` fewer requests per window, `margin_seconds` a longer window (our window
    starts when a request is sent, the API's when it arrives: the time margin absorbs latency that varies)."""

    key: str
    limit: int
    window_seconds: float
    headroom: float = 1.0
    margin_requests: int = 0
    margin_seconds: float = 0.0


@dataclass(frozen=True)
class Attempt:
    wait: float = 0.0  # seconds until a slot may be free; 0 = the slot was taken
    quota_resume_at: float | None = None  # epoch seconds; set when the key's quota is exhausted


class Backend(Protocol):
    def try_acquire(self, key: str, *, limit: int, window: float) -> Attempt: ...
    def pause(self, key: str, *, seconds: float) -> None: ...
    def exhaust(self, key: str, *, resume_at: float) -> None: ...
    def get_limits(self, key: str) -> tuple[int, float] | None: ...
    def set_limits(self, key: str, *, limit: int, window: float) -> None: ...
    def reset(self, key: str) -> None: ...
    def pause_left(self, key: str) -> float: ...


def _wait_for(stamps: list[float], *, limit: int, window: float, now: float) -> float:
    """Seconds until fewer than `limit` of the sorted `stamps` lie in (now - window, now]."""
    return max(stamps[len(stamps) - limit] + window - now, 0.001)


# ------------------------------------------------------------------------------
# Backends
# ------------------------------------------------------------------------------
@dataclass
class _LocalState:
    stamps: deque[float] = field(default_factory=deque)
    paused_until: float = 0.0
    quota_resume_at: float = 0.0
    limits: tuple[int, float, float] | None = None  # (limit, window, expires)


class LocalBackend:
    """Process memory; correct for threads of one process only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, _LocalState] = {}

    def _state(self, key: str) -> _LocalState:
        return self._keys.setdefault(key, _LocalState())

    def try_acquire(self, key: str, *, limit: int, window: float) -> Attempt:
        with self._lock:
            state, now = self._state(key), time.time()
            if state.quota_resume_at > now:
                return Attempt(quota_resume_at=state.quota_resume_at)
            if state.paused_until > now:
                return Attempt(wait=state.paused_until - now)
            while state.stamps and state.stamps[0] <= now - window:
                state.stamps.popleft()
            if len(state.stamps) < limit:
                state.stamps.append(now)
                return Attempt()
            return Attempt(wait=_wait_for(list(state.stamps), limit=limit, window=window, now=now))

    def pause(self, key: str, *, seconds: float) -> None:
        with self._lock:
            state = self._state(key)
            state.paused_until = max(state.paused_until, time.time() + seconds)

    def exhaust(self, key: str, *, resume_at: float) -> None:
        with self._lock:
            self._state(key).quota_resume_at = resume_at

    def get_limits(self, key: str) -> tuple[int, float] | None:
        with self._lock:
            limits = self._state(key).limits
        return (limits[0], limits[1]) if limits and limits[2] > time.time() else None

    def set_limits(self, key: str, *, limit: int, window: float) -> None:
        with self._lock:
            self._state(key).limits = (limit, window, time.time() + LEARNED_TTL_SECONDS)

    def reset(self, key: str) -> None:
        with self._lock:
            self._keys.pop(key, None)

    def pause_left(self, key: str) -> float:
        with self._lock:
            state = self._keys.get(key)
            return max(state.paused_until - time.time(), 0.0) if state is not None else 0.0


class DatabaseBackend:
    """One RateLimitWindow row per key; every change happens in one short transaction holding the row's lock.

    Called inside an outer transaction (an ATOMIC_REQUESTS view testing a connection), the lock is held until that
    transaction ends; the sync engine calls APIs outside transactions, so its locks last a few milliseconds.
    """

    def _now(self) -> float:
        # PostgreSQL's clock is the one every machine shares; SQLite lives on one machine, whose clock it is.
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT EXTRACT(EPOCH FROM clock_timestamp())")
                return float(cursor.fetchone()[0])
        return time.time()

    def _locked(self, key: str) -> Any:
        from integrations.models import RateLimitWindow

        row = RateLimitWindow.objects.select_for_update().filter(key=key).first()
        if row is None:
            RateLimitWindow.objects.get_or_create(key=key)  # a savepoint: a concurrent insert is not an error
            row = RateLimitWindow.objects.select_for_update().get(key=key)
        return row

    def try_acquire(self, key: str, *, limit: int, window: float) -> Attempt:
        with transaction.atomic():
            row = self._locked(key)
            now = self._now()
            if row.quota_resume_at and row.quota_resume_at > now:
                return Attempt(quota_resume_at=row.quota_resume_at)
            if row.paused_until and row.paused_until > now:
                return Attempt(wait=row.paused_until - now)
            stamps = sorted(s for s in row.stamps if s > now - window)
            if len(stamps) >= limit:
                return Attempt(wait=_wait_for(stamps, limit=limit, window=window, now=now))
            stamps.append(now)
            row.stamps = stamps
            row.save(update_fields=["stamps"])
            return Attempt()

    def pause(self, key: str, *, seconds: float) -> None:
        with transaction.atomic():
            row = self._locked(key)
            until = self._now() + seconds
            if not row.paused_until or row.paused_until < until:
                row.paused_until = until
                row.save(update_fields=["paused_until"])

    def exhaust(self, key: str, *, resume_at: float) -> None:
        with transaction.atomic():
            row = self._locked(key)
            row.quota_resume_at = resume_at
            row.save(update_fields=["quota_resume_at"])

    def get_limits(self, key: str) -> tuple[int, float] | None:
        from integrations.models import RateLimitWindow

        row = RateLimitWindow.objects.filter(key=key).values_list("learned_limit", "learned_window", "learned_at")
        found = row.first()
        if not found or not found[0] or not found[1] or not found[2]:
            return None
        if found[2] < datetime.now(tz=UTC) - timedelta(seconds=LEARNED_TTL_SECONDS):
            return None
        return int(found[0]), float(found[1])

    def set_limits(self, key: str, *, limit: int, window: float) -> None:
        with transaction.atomic():
            row = self._locked(key)
            row.learned_limit, row.learned_window, row.learned_at = limit, window, datetime.now(tz=UTC)
            row.save(update_fields=["learned_limit", "learned_window", "learned_at"])

    def reset(self, key: str) -> None:
        from integrations.models import RateLimitWindow

        RateLimitWindow.objects.filter(key=key).delete()

    def pause_left(self, key: str) -> float:
        from integrations.models import RateLimitWindow

        paused_until = RateLimitWindow.objects.filter(key=key).values_list("paused_until", flat=True).first()
        return max(paused_until - self._now(), 0.0) if paused_until else 0.0


# KEYS: window (sorted set), pause, quota. ARGV: limit, window in ms, a unique member.
# Returns {0, 0} when the slot is taken, {1, ms to wait}, or {2, quota resume time in epoch ms}.
_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local quota = tonumber(redis.call('GET', KEYS[3]) or '0')
if quota > now then return {2, math.floor(quota)} end
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then return {1, math.ceil(paused - now)} end
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window) + 1000)
  return {0, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
return {1, math.max(1, math.ceil(tonumber(oldest[2]) + window - now))}
"""

# KEYS: pause. ARGV: ms. Extends the pause, never shortens it.
_PAUSE_LUA = """
local t = redis.call('TIME')
local untilms = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000 + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if untilms > current then
  redis.call('SET', KEYS[1], string.format('%.3f', untilms), 'PX', math.ceil(tonumber(ARGV[1])) + 1000)
end
return 1
"""


# KEYS: pause. Returns the ms left on the pause (0: none), on Redis's clock.
_PAUSE_LEFT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
return math.max(0, math.ceil(paused - now))
"""


class RedisBackend:
    """Sorted set of start times per key, checked and written atomically by a Lua script on Redis's clock."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._acquire = self._redis.register_script(_ACQUIRE_LUA)
        self._pause = self._redis.register_script(_PAUSE_LUA)
        self._pause_left = self._redis.register_script(_PAUSE_LEFT_LUA)
        self._errors: tuple[type[Exception], ...] = (redis.RedisError,)

    @staticmethod
    def _keys(key: str) -> dict[str, str]:
        # The {hash tag} keeps a key's entries in one cluster slot, as a multi-key script requires.
        return {name: f"{{{key}}}:{name}" for name in ("window", "pause", "quota", "limits")}

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._errors as e:
            raise GovernorUnavailable(f"rate-limit store (Redis) failed: {type(e).__name__}: {e}") from e

    def try_acquire(self, key: str, *, limit: int, window: float) -> Attempt:
        k = self._keys(key)
        member = uuid.uuid4().hex
        code, value = self._call(
            self._acquire, keys=[k["window"], k["pause"], k["quota"]], args=[limit, window * 1000, member]
        )
        if int(code) == 2:
            return Attempt(quota_resume_at=int(value) / 1000)
        if int(code) == 1:
            return Attempt(wait=int(value) / 1000)
        return Attempt()

    def pause(self, key: str, *, seconds: float) -> None:
        self._call(self._pause, keys=[self._keys(key)["pause"]], args=[seconds * 1000])

    def exhaust(self, key: str, *, resume_at: float) -> None:
        ttl_ms = max(1, math.ceil((resume_at - time.time()) * 1000)) + 60_000
        self._call(self._redis.set, self._keys(key)["quota"], f"{resume_at * 1000:.0f}", px=ttl_ms)

    def get_limits(self, key: str) -> tuple[int, float] | None:
        found = self._call(self._redis.hmget, self._keys(key)["limits"], ["limit", "window"])
        if not found or not found[0] or not found[1]:
            return None
        return int(found[0]), float(found[1])

    def set_limits(self, key: str, *, limit: int, window: float) -> None:
        name = self._keys(key)["limits"]
        pipe = self._redis.pipeline()
        pipe.hset(name, mapping={"limit": limit, "window": window})
        pipe.expire(name, int(LEARNED_TTL_SECONDS))
        self._call(pipe.execute)

    def reset(self, key: str) -> None:
        self._call(self._redis.delete, *self._keys(key).values())

    def pause_left(self, key: str) -> float:
        return int(self._call(self._pause_left, keys=[self._keys(key)["pause"]])) / 1000


# ------------------------------------------------------------------------------
# Backend selection (settings are read on every call so tests can switch them)
# ------------------------------------------------------------------------------
_backends: dict[tuple[str, str], Backend] = {}
_backends_lock = threading.Lock()
_learned: dict[str, tuple[float, tuple[int, float] | None]] = {}


def backend_name() -> str:
    """The backend in use: "redis", "db", "local" or "off"."""
    name = str(getattr(settings, "RATE_LIMIT_BACKEND", "auto") or "auto").lower()
    if name == "auto":
        return "redis" if getattr(settings, "RATE_LIMIT_REDIS_URL", "") else "db"
    if name not in ("redis", "db", "local", "off"):
        raise ImproperlyConfigured(f"RATE_LIMIT_BACKEND must be auto, redis, db, local or off, not {name!r}")
    return name


def get_backend() -> Backend | None:
    """The configured backend (one instance per process and configuration); None when governing is off."""
    name = backend_name()
    if name == "off":
        return None
    url = str(getattr(settings, "RATE_LIMIT_REDIS_URL", "")) if name == "redis" else ""
    if name == "redis" and not url:
        raise ImproperlyConfigured("RATE_LIMIT_BACKEND is redis but RATE_LIMIT_REDIS_URL is empty")
    with _backends_lock:
        backend = _backends.get((name, url))
        if backend is None:
            backend = RedisBackend(url) if name == "redis" else DatabaseBackend() if name == "db" else LocalBackend()
            _backends[(name, url)] = backend
    return backend


def _full_key(key: str) -> str:
    return f"{getattr(settings, 'RATE_LIMIT_KEY_PREFIX', '')}{key}"


# ------------------------------------------------------------------------------
# The governor
# ------------------------------------------------------------------------------
def acquire(key: str, *, limit: int, window_seconds: float) -> None:
    """Block until a request for `key` may start: at most `limit` starts in any `window_seconds`, across processes.

    Raises QuotaExhausted when the key's quota is used up, GovernorTimeout after RATE_LIMIT_MAX_WAIT_SECONDS and
    GovernorUnavailable when the shared store fails.
    """
    backend = get_backend()
    if backend is None:
        return
    full_key, limit, window = _full_key(key), max(1, int(limit)), float(window_seconds)
    max_wait = float(getattr(settings, "RATE_LIMIT_MAX_WAIT_SECONDS", 300.0))
    deadline = time.monotonic() + max_wait
    while True:
        attempt = backend.try_acquire(full_key, limit=limit, window=window)
        if attempt.quota_resume_at is not None:
            raise QuotaExhausted(key, datetime.fromtimestamp(attempt.quota_resume_at, tz=UTC))
        if attempt.wait <= 0:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise GovernorTimeout(f"no request slot for {key} within {max_wait:.0f} s")
        # A few ms of jitter so workers woken by the same expiry do not all ask the store at the same instant.
        # A writer of a page waits without the page's gate (integrations/concurrency.py): its other writers go on.
        with concurrency.waiting():
            time.sleep(min(attempt.wait + random.uniform(0.0, 0.01), left))  # noqa: S311 - not cryptographic


def pause(key: str, *, seconds: float) -> None:
    """No request for `key` starts in the next `seconds`, in any process."""
    backend = get_backend()
    if backend is not None and seconds > 0:
        backend.pause(_full_key(key), seconds=seconds)


def exhaust(key: str, *, resume_at: datetime) -> None:
    """The key's quota is used up: `acquire()` raises QuotaExhausted until `resume_at`."""
    backend = get_backend()
    if backend is not None:
        backend.exhaust(_full_key(key), resume_at=resume_at.timestamp())


def pause_left(key: str) -> float:
    """Seconds until `key` may send again after a pause (a 429, a full window at the API); 0 when it is not paused or
    the store cannot say (a figure for choosing other work: never raises)."""
    backend = get_backend()
    if backend is None:
        return 0.0
    try:
        return backend.pause_left(_full_key(key))
    except (GovernorUnavailable, DatabaseError):
        return 0.0


def reset(key: str) -> None:
    """Forget the key's window, pause, quota and learned limits (tests, benchmarks)."""
    _learned.pop(_full_key(key), None)
    backend = get_backend()
    if backend is not None:
        backend.reset(_full_key(key))


def learned_limits(key: str) -> tuple[int, float] | None:
    """(limit, window seconds) the API last announced for `key`, cached per process for LEARNED_CACHE_SECONDS."""
    backend = get_backend()
    if backend is None:
        return None
    full_key = _full_key(key)
    cached = _learned.get(full_key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    limits = backend.get_limits(full_key)
    _learned[full_key] = (time.monotonic() + LEARNED_CACHE_SECONDS, limits)
    return limits


def learn_limits(key: str, *, limit: int, window_seconds: float) -> None:
    """Remember announced limits for every process; a write only when they differ from what is known."""
    backend = get_backend()
    if backend is None or limit < 1 or not MIN_WINDOW_SECONDS <= window_seconds <= MAX_WINDOW_SECONDS:
        return
    if learned_limits(key) == (limit, window_seconds):
        return
    full_key = _full_key(key)
    backend.set_limits(full_key, limit=limit, window=window_seconds)
    _learned[full_key] = (time.monotonic() + LEARNED_CACHE_SECONDS, (limit, window_seconds))


def effective_limits(policy: RatePolicy) -> tuple[int, float]:
    """(limit, window) to govern with: announced limits over configured ones, less the headroom and the margins."""
    limit, window = learned_limits(policy.key) or (policy.limit, policy.window_seconds)
    governed = math.floor(limit * policy.headroom) - max(0, policy.margin_requests)
    return max(1, governed), window + max(0.0, policy.margin_seconds)


def acquire_for(policy: RatePolicy) -> None:
    """`acquire()` with the policy's effective limits."""
    limit, window = effective_limits(policy)
    acquire(policy.key, limit=limit, window_seconds=window)


# ------------------------------------------------------------------------------
# Reading X-RateLimit-* headers (GHL's names; docs/ghl-facts.md#rate-limits)
# ------------------------------------------------------------------------------
def _int_header(headers: Mapping[str, Any], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(str(value).strip()))
    except ValueError:
        return None


def daily_quota_spent(headers: Mapping[str, Any]) -> bool:
    """True when the answer says no request is left today."""
    return _int_header(headers, "X-RateLimit-Daily-Remaining") == 0


def daily_reset_at(headers: Mapping[str, Any], *, now: datetime | None = None) -> datetime:
    """When the daily quota comes back: `X-RateLimit-Daily-Reset` if readable, else the next UTC midnight.

    GHL does not document the header's format; epoch seconds, epoch milliseconds, seconds from now, an ISO 8601 time
    and an HTTP date are all understood. A time in the past or more than 48 h ahead is not believed.
    """
    now = now or datetime.now(tz=UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    raw = str(headers.get("X-RateLimit-Daily-Reset") or "").strip()
    parsed: datetime | None = None
    if raw:
        try:
            number = float(raw)
        except ValueError:
            number = None
        if number is not None:
            if number > 1e11:
                parsed = datetime.fromtimestamp(number / 1000, tz=UTC)
            elif number > 1e9:
                parsed = datetime.fromtimestamp(number, tz=UTC)
            else:
                parsed = now + timedelta(seconds=number)
        else:
            try:
                parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError:
                try:
                    parsed = parsedate_to_datetime(raw)
                except (TypeError, ValueError):
                    parsed = None
            if parsed is not None and parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
    if parsed is None or not now < parsed <= now + MAX_QUOTA_PAUSE:
        return midnight
    return parsed.astimezone(UTC)


def observe(policy: RatePolicy, *, status: int, headers: Mapping[str, Any], retry_after: float | None = None) -> None:
    """Learn from one answer: announced limits, an empty window (pause), a 429 (pause), a spent day (exhaust)."""
    limit = _int_header(headers, "X-RateLimit-Max")
    interval_ms = _int_header(headers, "X-RateLimit-Interval-Milliseconds")
    if limit and interval_ms:
        learn_limits(policy.key, limit=limit, window_seconds=interval_ms / 1000)
    daily_limit = _int_header(headers, "X-RateLimit-Limit-Daily")
    daily_remaining = _int_header(headers, "X-RateLimit-Daily-Remaining")
    if daily_limit and daily_remaining is not None:
        record_daily_budget(policy.key, limit=daily_limit, remaining=daily_remaining)
    if daily_quota_spent(headers):
        resume_at = daily_reset_at(headers)
        logger.warning("Daily request quota of %s is used up; requests resume at %s", policy.key, resume_at)
        exhaust(policy.key, resume_at=resume_at)
    elif status == 429:
        # Every worker waits as the API said; the one that got the 429 also sleeps in its retry.
        pause(policy.key, seconds=retry_after if retry_after is not None else policy.window_seconds)
    elif _int_header(headers, "X-RateLimit-Remaining") == 0:
        seconds = interval_ms / 1000 if interval_ms else policy.window_seconds
        # Our window lets fewer through than the API's: a full window there means latency bunched our requests up.
        logger.warning(MSG_WINDOW_FULL, policy.key, seconds)
        pause(policy.key, seconds=seconds)


# ------------------------------------------------------------------------------
# The day's budget as the API reports it (GHL: X-RateLimit-Limit-Daily / -Daily-Remaining), for the start page.
# Kept in the database (RateLimitWindow) whatever the backend: it is read by the admin, not by the governor.
# ------------------------------------------------------------------------------
# Every answer carries the headers; one write per key per process this often is plenty for a dashboard.
DAILY_BUDGET_WRITE_SECONDS = 10.0
_daily_written: dict[str, float] = {}


@dataclass(frozen=True)
class DailyBudget:
    limit: int
    remaining: int
    seen_at: datetime

    @property
    def used(self) -> int:
        return max(self.limit - self.remaining, 0)

    @property
    def percent_used(self) -> int:
        return min(100, round(100 * self.used / self.limit)) if self.limit else 0

    @property
    def summary(self) -> str:
        return f"{self.used:,} of {self.limit:,} requests used ({self.percent_used} %)"


def record_daily_budget(key: str, *, limit: int, remaining: int) -> None:
    """Remember the day's budget of `key` as last announced (at most every DAILY_BUDGET_WRITE_SECONDS per process,
    and always when it reaches 0). Never raises: a dashboard figure must not break a sync."""
    # "local" and "off" run where no shared database may be at hand (single process, tests without a database).
    if backend_name() not in ("db", "redis"):
        return
    full_key, now = _full_key(key), time.monotonic()
    last = _daily_written.get(full_key)
    if last is not None and now - last < DAILY_BUDGET_WRITE_SECONDS and remaining != 0:
        return
    from integrations.models import RateLimitWindow

    values = {"daily_limit": max(limit, 0), "daily_remaining": max(remaining, 0), "daily_seen_at": datetime.now(tz=UTC)}
    try:
        if not RateLimitWindow.objects.filter(key=full_key).update(**values):
            RateLimitWindow.objects.update_or_create(key=full_key, defaults=values)
    except DatabaseError as e:
        logger.warning("Could not record the daily request budget of %s: %s", key, e)
        return
    _daily_written[full_key] = now


def daily_budgets(keys: list[str]) -> dict[str, DailyBudget]:
    """The last reported daily budget of each key that has one (one query)."""
    from integrations.models import RateLimitWindow

    by_full = {_full_key(key): key for key in keys}
    rows = RateLimitWindow.objects.filter(key__in=by_full, daily_limit__isnull=False, daily_seen_at__isnull=False)
    return {
        by_full[key]: DailyBudget(limit=limit, remaining=remaining or 0, seen_at=seen_at)
        for key, limit, remaining, seen_at in rows.values_list("key", "daily_limit", "daily_remaining", "daily_seen_at")
        if limit is not None and seen_at is not None
    }
