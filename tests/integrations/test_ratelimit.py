"""The rate-limit governor: shared windows across threads and processes, header adaptation, daily quota, 429 waits.

Assertions count requests per window (with a margin for thread scheduling); none measures how long anything took.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
import responses
from django.db import connection as db_connection
from urllib3.exceptions import MaxRetryError

from integrations import ratelimit
from integrations.clients import exceptions as exc
from integrations.clients.base import build_retry
from integrations.clients.ghl import GhlClient
from integrations.models import Connection, SyncRun
from integrations.services import sync
from integrations.services.runs import SyncRequestRefused, sync_run_request
from mappings.models import Direction
from sandbox import ratelimit as sandbox_ratelimit
from sandbox.models import SandboxRecord
from tests.conftest import ROOT, _database_url_for_worker
from tests.integrations.support import LOCATION, build_world, sandbox_contacts

BASE = "https://services.leadconnectorhq.com"
LIMIT, WINDOW = 5, 1.0
# Grants are timed after acquire() returns; a thread may be scheduled late, so windows are checked this much shorter.
MARGIN = 0.25
REDIS_URL = os.environ.get("RATE_LIMIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def max_in_window(times: list[float], window: float) -> int:
    """The most timestamps found in any half-open interval (t - window, t]."""
    ordered, best, start = sorted(times), 0, 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def redis_reachable() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping())
    except Exception:
        return False


needs_redis = pytest.mark.skipif(not redis_reachable(), reason=f"no Redis at {REDIS_URL}")


# Threads and processes need their own committed transactions, not a test-wide one that holds SQLite's write lock.
with_db = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["local", pytest.param("db", marks=with_db), pytest.param("redis", marks=needs_redis)])
def backend(request: pytest.FixtureRequest, settings: Any) -> str:
    settings.RATE_LIMIT_BACKEND = request.param
    settings.RATE_LIMIT_REDIS_URL = REDIS_URL
    return str(request.param)


def _grant_times_in_threads(key: str, *, threads: int, each: int) -> list[float]:
    times: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(each):
                ratelimit.acquire(key, limit=LIMIT, window_seconds=WINDOW)
                with lock:
                    times.append(time.time())
        except BaseException as e:  # reported by the main thread
            errors.append(e)
        finally:
            db_connection.close()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not errors, errors
    return times


def test_the_governor_never_exceeds_the_limit_across_threads(backend: str) -> None:
    times = _grant_times_in_threads(f"threads-{uuid.uuid4().hex}", threads=4, each=4)

    assert len(times) == 16
    assert max_in_window(times, WINDOW - MARGIN) <= LIMIT
    # It did hold requests back: 16 grants cannot fit in one window.
    assert max_in_window(times, 3 * WINDOW) > LIMIT


CHILD = f"""
import sys, time
import django
django.setup()
from integrations import ratelimit
key, count, start = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
while time.time() < start:
    time.sleep(0.01)
for _ in range(count):
    ratelimit.acquire(key, limit={LIMIT}, window_seconds={WINDOW!r})
    print(time.time(), flush=True)
"""


@pytest.mark.parametrize("shared", [pytest.param("db", marks=with_db), pytest.param("redis", marks=needs_redis)])
def test_the_governor_never_exceeds_the_limit_across_processes(shared: str, settings: Any) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url_for_worker() if shared == "db" else os.environ.get("DATABASE_URL", ""),
        "RATE_LIMIT_BACKEND": shared,
        "RATE_LIMIT_REDIS_URL": REDIS_URL,
        "RATE_LIMIT_KEY_PREFIX": settings.RATE_LIMIT_KEY_PREFIX,
        "CELERY_BROKER_DIR": str(settings.BROKER_DIR),
    }
    if not env["DATABASE_URL"]:
        del env["DATABASE_URL"]
    key = f"processes-{uuid.uuid4().hex}"
    start = time.time() + 4  # both children are set up by then (usually), so they compete for the same slots
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, key, "6", str(start)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    times: list[float] = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        times += [float(line) for line in out.split()]

    assert len(times) == 12
    assert max_in_window(times, WINDOW - MARGIN) <= LIMIT
    assert max_in_window(times, 3 * WINDOW) > LIMIT


def test_a_pause_holds_every_caller_back_and_a_spent_quota_raises(backend: str) -> None:
    key = f"pause-{uuid.uuid4().hex}"
    store = ratelimit.get_backend()
    assert store is not None
    full_key = ratelimit._full_key(key)

    ratelimit.pause(key, seconds=30)
    assert store.try_acquire(full_key, limit=LIMIT, window=WINDOW).wait > 20

    resume_at = datetime.now(tz=UTC).replace(microsecond=0) + timedelta(hours=3)
    ratelimit.exhaust(key, resume_at=resume_at)
    with pytest.raises(ratelimit.QuotaExhausted) as info:
        ratelimit.acquire(key, limit=LIMIT, window_seconds=WINDOW)
    assert abs((info.value.resume_at - resume_at).total_seconds()) < 1

    ratelimit.reset(key)
    ratelimit.acquire(key, limit=LIMIT, window_seconds=WINDOW)  # free again, at once


# -- the GHL client with the governor -----------------------------------------------------------------------------


@pytest.fixture
def client(settings: Any) -> GhlClient:
    settings.API_TRANSPORT_RETRIES = 2
    settings.API_BACKOFF_FACTOR = 0
    return GhlClient(base_url=BASE, token="pit-token", location_id=f"loc-{uuid.uuid4().hex[:8]}")


CONTACT = {"contact": {"id": "abc", "email": "a@example.com"}}


def test_it_adopts_the_limits_ghl_announces(backend: str, client: GhlClient, mocked: responses.RequestsMock) -> None:
    headers = {"X-RateLimit-Max": "40", "X-RateLimit-Interval-Milliseconds": "4000", "X-RateLimit-Remaining": "39"}
    mocked.get(f"{BASE}/contacts/abc", json=CONTACT, headers=headers)
    policy = client.rate_limit_policy()
    assert policy is not None
    assert ratelimit.effective_limits(policy) == (99, 10.3)  # configured 100 / 10 s, less 1 request and + 0.3 s

    client.get_contact("abc")

    ratelimit._learned.clear()  # another process: reads what this one stored
    assert ratelimit.learned_limits(policy.key) == (40, 4.0)
    assert ratelimit.effective_limits(policy) == (39, 4.3)


def test_no_request_left_in_the_window_pauses_the_location(
    backend: str, client: GhlClient, mocked: responses.RequestsMock
) -> None:
    headers = {"X-RateLimit-Max": "100", "X-RateLimit-Interval-Milliseconds": "10000", "X-RateLimit-Remaining": "0"}
    mocked.get(f"{BASE}/contacts/abc", json=CONTACT, headers=headers)

    client.get_contact("abc")

    store = ratelimit.get_backend()
    assert store is not None
    attempt = store.try_acquire(ratelimit._full_key(f"ghl:{client.location_id}"), limit=100, window=10.0)
    assert 5 < attempt.wait <= 10


class _FlakyOnce(BaseHTTPRequestHandler):
    """503 on the first GET, then a contact: a real server, since `responses` never runs urllib3's retry sleep."""

    calls = 0

    def do_GET(self) -> None:
        type(self).calls += 1
        status, body = (503, b"{}") if type(self).calls == 1 else (200, json.dumps(CONTACT).encode())
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_transport_retries_take_a_slot_too(settings: Any) -> None:
    settings.API_TRANSPORT_RETRIES, settings.API_BACKOFF_FACTOR = 2, 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyOnce)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = GhlClient(base_url=f"http://127.0.0.1:{server.server_port}", token="t", location_id="loc-retry")
        assert client.get_contact("abc")["id"] == "abc"
    finally:
        server.shutdown()
        server.server_close()

    assert _FlakyOnce.calls == 2
    store = ratelimit.get_backend()
    assert isinstance(store, ratelimit.LocalBackend)
    assert len(store._keys[ratelimit._full_key("ghl:loc-retry")].stamps) == 2


def test_a_spent_day_stops_the_next_call_before_it_is_sent(
    backend: str, client: GhlClient, mocked: responses.RequestsMock
) -> None:
    headers = {"X-RateLimit-Daily-Remaining": "0", "X-RateLimit-Daily-Reset": "7200"}
    mocked.get(f"{BASE}/contacts/abc", json=CONTACT, headers=headers)

    assert client.get_contact("abc")["id"] == "abc"  # the last allowed call still counts
    with pytest.raises(exc.ApiQuotaExhausted, match="daily request quota is used up") as info:
        client.get_contact("abc")

    assert len(mocked.calls) == 1
    assert isinstance(info.value, exc.TransientApiError)
    assert info.value.rate_limit_key == f"ghl:{client.location_id}"
    assert timedelta(hours=1.9) < info.value.resume_at - datetime.now(tz=UTC) < timedelta(hours=2.1)


def test_a_429_for_a_spent_day_is_not_retried(client: GhlClient, mocked: responses.RequestsMock) -> None:
    headers = {"Retry-After": "1", "X-RateLimit-Daily-Remaining": "0"}
    mocked.get(
        f"{BASE}/contacts/abc", json={"statusCode": 429, "message": "Too many requests"}, status=429, headers=headers
    )

    with pytest.raises(exc.ApiQuotaExhausted) as info:
        client.get_contact("abc")

    assert len(mocked.calls) == 1
    # No reset header: the quota is back at the next UTC midnight.
    assert info.value.resume_at == (datetime.now(tz=UTC) + timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1700003600", datetime(2023, 11, 14, 23, 13, 20, tzinfo=UTC)),
        ("1700003600000", datetime(2023, 11, 14, 23, 13, 20, tzinfo=UTC)),
        ("600", datetime(2023, 11, 14, 22, 23, 20, tzinfo=UTC)),
        ("2023-11-15T01:00:00Z", datetime(2023, 11, 15, 1, 0, tzinfo=UTC)),
        ("2023-11-10T01:00:00Z", datetime(2023, 11, 15, 0, 0, tzinfo=UTC)),  # in the past: not believed
        ("soon", datetime(2023, 11, 15, 0, 0, tzinfo=UTC)),
    ],
)
def test_the_daily_reset_header_is_read_in_any_common_format(raw: str, expected: datetime) -> None:
    now = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)

    assert ratelimit.daily_reset_at({"X-RateLimit-Daily-Reset": raw}, now=now) == expected


# -- 429 waits ----------------------------------------------------------------------------------------------------


def _response(status: int, headers: dict[str, str]) -> Any:
    return SimpleNamespace(status=status, headers=headers)


def test_a_429_wait_is_the_header_wait_plus_up_to_20_percent_jitter() -> None:
    retry = build_retry()

    waits = [retry.get_retry_after(_response(429, {"Retry-After": "10"})) for _ in range(200)]
    interval = [retry.get_retry_after(_response(429, {"X-RateLimit-Interval-Milliseconds": "2000"})) for _ in range(50)]

    assert all(w is not None and 10.0 <= w <= 12.0 for w in waits)
    assert len(set(waits)) > 1
    assert all(w is not None and 2.0 <= w <= 2.4 for w in interval)


def test_a_429_wait_is_bounded(settings: Any) -> None:
    settings.API_RATE_LIMIT_MAX_RETRY_WAIT = 60.0
    retry = build_retry()

    assert retry.get_retry_after(_response(429, {"Retry-After": "3600"})) == 60.0
    assert retry.new().retry_after_max == 60.0


def test_a_429_for_a_spent_day_gives_up_at_once() -> None:
    retry = build_retry()

    with pytest.raises(MaxRetryError):
        retry.increment("GET", "/x", response=_response(429, {"X-RateLimit-Daily-Remaining": "0"}))


# -- a run that runs out of daily quota -----------------------------------------------------------------------------


@pytest.fixture
def small_daily_quota(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(sandbox_ratelimit, "DAILY_LIMIT", 12)
    return 12


def test_a_run_that_spends_the_daily_quota_ends_pauses_the_connection_and_resumes_later(
    live_server: Any, small_daily_quota: int, settings: Any
) -> None:
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000
    world = build_world(live_server.url, direction=Direction.TO_GHL)
    ghl_before = len(sandbox_contacts("ghl"))
    pending = SyncRun.objects.create(mapping=world.mapping, trigger=SyncRun.Trigger.MANUAL)

    run = sync.sync_run_execute(run_id=pending.pk)

    assert run is not None
    assert run.status == SyncRun.Status.FAILED
    assert "daily request quota is used up" in run.error
    assert "paused until" in run.error
    ghl = Connection.objects.get(pk=world.ghl.pk)
    assert ghl.paused_until is not None
    assert ghl.paused_until > datetime.now(tz=UTC)
    # Exactly the quota was used: the request after the last allowed one was never sent.
    assert sandbox_ratelimit._daily[("ghl", LOCATION)][1] == small_daily_quota
    with pytest.raises(SyncRequestRefused, match=r"paused until .* \(daily quota"):
        sync_run_request(mapping=world.mapping, trigger=SyncRun.Trigger.MANUAL)

    # The next day: the quota is back, the pause is over, and the next run picks up where this one stopped.
    sandbox_ratelimit.rate_limit_reset()
    ratelimit.reset(f"ghl:{LOCATION}")
    Connection.objects.filter(pk=ghl.pk).update(paused_until=datetime.now(tz=UTC) - timedelta(seconds=1))
    with mock.patch.object(sandbox_ratelimit, "DAILY_LIMIT", 200_000):
        second = sync.sync_run_execute(run_id=SyncRun.objects.create(mapping=world.mapping, trigger="manual").pk)

    assert second is not None
    assert second.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL), second.error
    created = SandboxRecord.objects.filter(account__system="ghl", object_type="contact", deleted=False).count()
    assert created == ghl_before + world.seeded["streettext_only"]
