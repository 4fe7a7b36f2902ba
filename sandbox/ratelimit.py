"""In-process sliding-window rate limiter for the sandbox (one window per namespace + key).

Kept in memory on purpose: it mirrors a server-side limiter and costs no DB write per request. Each web
process has its own windows, which is fine for runserver and the live_server thread used in tests.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections import deque
from dataclasses import dataclass

DAILY_LIMIT = 200_000
_DAY_SECONDS = 86_400.0

_lock = threading.Lock()
_windows: dict[tuple[str, str], deque[float]] = {}
_daily: dict[tuple[str, str], tuple[int, int]] = {}


@dataclass(frozen=True)
class RateLimitDecision:
    allowed: bool
    limit: int
    remaining: int
    window_seconds: float
    retry_after: int  # whole seconds until a slot frees; 0 when allowed
    daily_remaining: int
    daily_limit: int = DAILY_LIMIT


def rate_limit_hit(
    *,
    namespace: str,
    key: str,
    limit: int,
    window_seconds: float,
    arrived: float | None = None,
    daily_limit: int | None = None,
) -> RateLimitDecision:
    """Record one request for (namespace, key) unless the window is full; rejected requests are not counted.

    `arrived` (time.monotonic() when the request came in) places the request in the window where an API's edge would
    count it, whatever this process did before asking (fault look-up, spec check, authentication). `daily_limit`: the
    requests a key may make per UTC day (a live-mode location may set a smaller one to reach it in a test)."""
    now = time.monotonic() if arrived is None else arrived
    daily_limit = DAILY_LIMIT if daily_limit is None else daily_limit  # read now: tests patch DAILY_LIMIT
    day = int(time.time() // _DAY_SECONDS)
    with _lock:
        window = _windows.setdefault((namespace, key), deque())
        while window and window[0] <= now - window_seconds:
            window.popleft()
        day_seen, day_count = _daily.get((namespace, key), (day, 0))
        if day_seen != day:
            day_count = 0
        if len(window) >= limit or day_count >= daily_limit:
            wait = window[0] + window_seconds - now if window else window_seconds
            return RateLimitDecision(
                allowed=False,
                limit=limit,
                remaining=0,
                window_seconds=window_seconds,
                retry_after=max(1, math.ceil(wait)),
                daily_remaining=max(0, daily_limit - day_count),
                daily_limit=daily_limit,
            )
        if window and now < window[-1]:
            bisect.insort(window, now)  # a request that came in earlier than one counted before it (threads)
        else:
            window.append(now)
        _daily[(namespace, key)] = (day, day_count + 1)
        return RateLimitDecision(
            allowed=True,
            limit=limit,
            remaining=max(0, limit - len(window)),
            window_seconds=window_seconds,
            retry_after=0,
            daily_remaining=max(0, daily_limit - day_count - 1),
            daily_limit=daily_limit,
        )


def rate_limit_reset() -> None:
    """Forget every window (tests call this between cases)."""
    with _lock:
        _windows.clear()
        _daily.clear()
