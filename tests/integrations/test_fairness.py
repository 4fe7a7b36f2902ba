"""Fair turns between locations: a location with a big backlog holds a worker one page at a time, so another
location's small run finishes without waiting for it (one worker, FIFO queue, real HTTP against the sandbox).

The broker is the boundary: messages go to a list the test drains in order, as one worker with prefetch 1 would."""

from __future__ import annotations

import itertools
import re
from collections import deque
from datetime import timedelta
from typing import Any

import pytest
from celery import current_app
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations import ratelimit as ratelimit_core
from integrations.models import RecordLink, SyncRun
from integrations.services.runs import (
    RUNS,
    location_waiting_runs,
    sync_run_next_turn,
    sync_run_request,
    sync_run_yield,
)
from integrations.tasks import run_sync_task
from mappings.models import Direction, Mapping
from mappings.services import mapping_create_with_defaults
from sandbox import ratelimit
from sandbox.demo import sandbox_seed_demo
from sandbox.models import SandboxRecord
from tests.integrations.support import sandbox_ghl_connection, sandbox_streettext_connection

pytestmark = pytest.mark.django_db(transaction=True)

PAGE = 5
BIG, SMALL = 60, 10
NO_SERVER = "http://127.0.0.1:1"


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    settings.SYNC_PAGE_SIZE = PAGE
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000


def location(live_url: str, name: str, size: int) -> Mapping:
    """A GHL location and a StreetText workspace of their own, seeded, and a GHL → StreetText contacts mapping."""
    sandbox_seed_demo(
        ghl_location_id=f"loc-{name}",
        ghl_token=f"tok-{name}",
        streettext_api_key=f"key-{name}",
        streettext_workspace_id=f"ws-{name}",
        size=size,
    )
    ghl = sandbox_ghl_connection(live_url, name=f"GHL {name}", location=f"loc-{name}", token=f"tok-{name}")
    st = sandbox_streettext_connection(live_url, name=f"StreetText {name}", key=f"key-{name}")
    return mapping_create_with_defaults(
        name=f"{name} contacts", ghl_connection=ghl, streettext_connection=st, direction=Direction.TO_STREETTEXT
    )


class OneWorker:
    """The broker as one worker with prefetch 1 sees it: messages in the order they were sent, one at a time."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.queue: deque[tuple[tuple[Any, ...], int]] = deque()
        monkeypatch.setattr(current_app, "send_task", self.send)

    def send(self, name: str, *, args: tuple[Any, ...] = (), retries: int = 0, **kwargs: Any) -> None:
        assert name == run_sync_task.name
        assert not kwargs.get("countdown"), "a turn is queued at once"
        self.queue.append((args, retries))

    def drain(self, watch: list[SyncRun]) -> list[dict[int, tuple[str, int, int | None]]]:
        """Execute every message; after each, {run id: (status, processed, total)} of the watched runs."""
        seen: list[dict[int, tuple[str, int, int | None]]] = []
        for _ in range(200):
            if not self.queue:
                return seen
            args, retries = self.queue.popleft()
            run_sync_task.apply(args=args, retries=retries)
            runs = SyncRun.objects.filter(pk__in=[r.pk for r in watch])
            seen.append({run.pk: (run.status, run.processed, run.total) for run in runs})
        raise AssertionError("the queue never ran dry")


def test_a_small_location_finishes_while_a_big_one_still_has_pages_queued(
    live_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ratelimit.rate_limit_reset()
    big_mapping, small_mapping = location(live_server.url, "big", BIG), location(live_server.url, "small", SMALL)
    worker = OneWorker(monkeypatch)
    big = sync_run_request(mapping=big_mapping, trigger=SyncRun.Trigger.MANUAL)  # queued first
    small = sync_run_request(mapping=small_mapping, trigger=SyncRun.Trigger.MANUAL)

    seen = worker.drain([big, small])

    big.refresh_from_db()
    small.refresh_from_db()
    # Both end; the demo's contacts with a bad phone number fail in each (partial), the rest sync.
    assert (big.status, small.status) == (SyncRun.Status.PARTIAL, SyncRun.Status.PARTIAL)
    assert small.finished_at is not None
    assert big.finished_at is not None
    assert small.finished_at < big.finished_at
    # The small run did not wait for the big one's backlog: when it ended, most of the big run was still to do.
    at_small_end = next(state for state in seen if state[small.pk][0] not in SyncRun.ACTIVE_STATUSES)
    big_status, big_processed, _ = at_small_end[big.pk]
    assert big_status == SyncRun.Status.PENDING
    assert big_processed <= big.processed / 2
    # The big run took turns; once alone, it kept its worker to the end (no turn without another location waiting).
    assert 1 <= big.turns <= small.processed // PAGE + 1
    # Invariants of a run resumed turn after turn: progress never goes back, never passes the total, and each record
    # of each location was processed exactly once (as many outcomes as GHL contacts, a link for each that synced).
    for run in (big, small):
        rows = [(state[run.pk][1], state[run.pk][2]) for state in seen]
        assert all(a[0] <= b[0] for a, b in itertools.pairwise(rows))
        assert all(total is None or processed <= total for processed, total in rows)
        contacts = SandboxRecord.objects.filter(
            account__account_id=run.mapping.ghl_connection.location_id, object_type="contact"
        ).count()
        links = RecordLink.objects.filter(ghl_connection=run.mapping.ghl_connection).count()
        assert run.processed == run.total == contacts == links + run.failed
    assert big.started_at is not None
    assert small.started_at is not None
    assert big.started_at < small.started_at  # kept from the first turn


def test_a_pending_run_waiting_in_line_is_not_taken_for_lost_while_workers_are_busy(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.SYNC_PENDING_GRACE_SECONDS = 60
    sent: list[Any] = []
    monkeypatch.setattr(current_app, "send_task", lambda name, **kw: sent.append(kw["args"]))
    busy_mapping, waiting_mapping = location(NO_SERVER, "busy", 10), location(NO_SERVER, "waiting", 10)
    now = timezone.now()
    busy = SyncRun.objects.create(mapping=busy_mapping, trigger=SyncRun.Trigger.MANUAL)
    waiting = SyncRun.objects.create(mapping=waiting_mapping, trigger=SyncRun.Trigger.MANUAL)
    SyncRun.objects.filter(pk=waiting.pk).update(created_at=now - timedelta(minutes=10))
    # Another run stored a page a moment ago: the workers are working through the queue, the waiting run is in line.
    SyncRun.objects.filter(pk=busy.pk).update(status=SyncRun.Status.RUNNING, heartbeat_at=now)

    assert RUNS.recover_pending(now=now + timedelta(seconds=30)) == {"requeued": 0, "lost": 0}
    # No progress anywhere for longer than the grace: the waiting run's task was lost after all, and is sent again.
    assert RUNS.recover_pending(now=now + timedelta(seconds=61)) == {"requeued": 1, "lost": 0}
    assert sent == [(waiting.pk,)]


def test_the_start_page_shows_each_locations_backlog_and_budget(admin_client: Client, settings: Any) -> None:
    settings.RATE_LIMIT_BACKEND = "db"
    busy, waiting = location(NO_SERVER, "busy", 10), location(NO_SERVER, "waiting", 10)
    location(NO_SERVER, "idle", 10)
    SyncRun.objects.create(mapping=busy, trigger="manual", status="running", processed=30, total=230)
    SyncRun.objects.create(mapping=waiting, trigger="manual", status="pending")
    SyncRun.objects.create(mapping=waiting, trigger="manual", status="succeeded", processed=10, total=10)
    ratelimit_core.record_daily_budget("ghl:loc-busy", limit=200_000, remaining=199_000)

    html = admin_client.get(reverse("admin:index")).content.decode()
    rows = {
        name: row
        for row in re.findall(r"<tr>.*?</tr>", html, flags=re.S)
        for name in ("GHL busy", "GHL waiting", "GHL idle", "StreetText busy")
        if f">{name}</a>" in row
    }
    # 200 records left in pages of 5: the turns the location still needs; a finished run is no backlog.
    assert "Backlog: 1 running: 200 records (40 pages) left" in rows["GHL busy"]
    assert "Backlog: 1 running: 200 records (40 pages) left" in rows["StreetText busy"]
    assert "Backlog: 1 queued<" in rows["GHL waiting"]
    assert "Backlog: idle" in rows["GHL idle"]
    assert "1,000 of 200,000 requests used" in rows["GHL busy"]


def test_a_location_whose_requests_are_paused_comes_back_when_the_pause_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(current_app, "send_task", lambda name, **kw: sent.append(kw))
    paused, other = location(NO_SERVER, "paused", 10), location(NO_SERVER, "other", 10)
    run = SyncRun.objects.create(mapping=paused, trigger="manual", status="running", attempts=1)
    waiting = SyncRun.objects.create(mapping=other, trigger="manual")
    run.refresh_from_db()  # the engine's run: mapping and connections loaded

    sync_run_yield(run=run, resume_in=30.0)
    sync_run_next_turn(run_id=run.pk, retries=2)

    run.refresh_from_db()
    assert (run.status, run.turns, run.attempts) == (SyncRun.Status.PENDING, 1, 0)  # a turn is not an attempt
    assert run.next_attempt_at is not None
    assert 29 <= (run.next_attempt_at - timezone.now()).total_seconds() <= 30
    assert sent[0]["args"] == (run.pk,)
    assert sent[0]["retries"] == 2
    assert 29 <= sent[0]["countdown"] <= 30  # its worker serves other locations meanwhile
    # Until then it is nobody's reason to give a worker up: the other location's run does not turn over for it.
    assert not location_waiting_runs(run=waiting).exists()
    assert location_waiting_runs(run=run).get() == waiting

    # A pause of a moment is waited out in the next turn, which is queued at once.
    SyncRun.objects.filter(pk=run.pk).update(status="running")
    sync_run_yield(run=run, resume_in=0.3)
    sync_run_next_turn(run_id=run.pk)
    assert sent[1]["countdown"] is None
    assert location_waiting_runs(run=waiting).get() == run


@pytest.mark.parametrize("backend", ["local", "db"])
def test_the_governor_says_how_long_a_key_stays_paused(settings: Any, backend: str) -> None:
    settings.RATE_LIMIT_BACKEND = backend
    ratelimit_core.reset("ghl:loc-pause")
    assert ratelimit_core.pause_left("ghl:loc-pause") == 0.0
    ratelimit_core.pause("ghl:loc-pause", seconds=5.0)
    assert 4.0 < ratelimit_core.pause_left("ghl:loc-pause") <= 5.0
    ratelimit_core.reset("ghl:loc-pause")
    assert ratelimit_core.pause_left("ghl:loc-pause") == 0.0
