"""A page's writes several at once (integrations/services/sync/lanes.py, integrations/concurrency.py).

What must always hold: two writes of one record (or of records sharing a match key, an email or phone, a parent) are
never in flight at once and keep page order; the engine's code runs one thread at a time (only waits overlap); the
first error stops the page and is raised on the run's thread; a real run at latency keeps GHL busy with 0 × 429 and
the same counts, history rows and links as a sequential run.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from django.db import connection

from integrations import concurrency
from integrations.models import RecordHistory, RecordLink, SyncRun
from integrations.services.sync import sync_run_execute
from integrations.services.sync.lanes import lanes_of, write_lanes
from sandbox import ratelimit as sandbox_ratelimit
from sandbox import services as sandbox
from sandbox.benchmarks.servers import seed_streettext_to_ghl
from sandbox.models import SandboxRecord


def test_items_sharing_a_key_share_a_lane_in_page_order() -> None:
    keys = {
        "a": ["x"],
        "b": ["y"],
        "c": ["x", "z"],  # joins a's lane
        "d": ["w"],
        "e": ["z"],  # joins a's lane through c
        "f": [],
    }
    lanes = lanes_of(list(keys), lambda item: keys[item])
    assert lanes == [["a", "c", "e"], ["b"], ["d"], ["f"]]


class Recorder:
    """A write that waits like a request in flight and checks, while it runs, what must hold."""

    def __init__(self, delay: float = 0.02) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.in_flight: dict[str, int] = {}
        self.most_in_flight = 0
        self.engine = 0
        self.violations: list[str] = []
        self.order: list[tuple[str, int]] = []

    def write(self, item: tuple[str, int]) -> None:
        key = item[0]
        # Outside a wait, only one thread at a time (the gate).
        self.engine += 1
        if self.engine > 1:
            self.violations.append(f"engine code of two writes at once ({item})")
        with self.lock:
            if self.in_flight.get(key):
                self.violations.append(f"two writes of {key} at once")
            self.in_flight[key] = self.in_flight.get(key, 0) + 1
            self.most_in_flight = max(self.most_in_flight, sum(self.in_flight.values()))
        self.engine -= 1
        with concurrency.waiting():
            time.sleep(self.delay)
        self.engine += 1
        with self.lock:
            self.in_flight[key] -= 1
            self.order.append(item)
        self.engine -= 1


def test_lanes_run_at_once_yet_one_record_is_never_written_twice_at_once_and_keeps_its_order() -> None:
    items = [(f"record-{n % 5}", n) for n in range(30)]  # five records, six writes each
    recorder = Recorder()
    started = time.monotonic()
    write_lanes(lanes_of(items, lambda item: [item[0]]), recorder.write, size=8)
    elapsed = time.monotonic() - started

    assert recorder.violations == []
    assert sorted(recorder.order) == sorted(items)
    for key in {k for k, _ in items}:
        assert [n for k, n in recorder.order if k == key] == [n for k, n in items if k == key]
    assert recorder.most_in_flight == 5  # every lane at once, never more than one write per record
    assert elapsed < 30 * recorder.delay / 2  # sequential would take 30 waits


def test_a_single_lane_is_written_one_by_one() -> None:
    items = [("same", n) for n in range(5)]
    recorder = Recorder(delay=0.005)
    write_lanes(lanes_of(items, lambda item: [item[0]]), recorder.write, size=8)
    assert recorder.order == items
    assert recorder.most_in_flight == 1


def test_the_first_error_stops_the_lanes_and_is_raised_on_the_run_thread() -> None:
    items = [(f"r{n}", n) for n in range(40)]
    recorder = Recorder()

    def write(item: tuple[str, int]) -> None:
        if item[1] == 3:
            raise RuntimeError("GHL is down")
        recorder.write(item)

    with pytest.raises(RuntimeError, match="GHL is down"):
        write_lanes(lanes_of(items, lambda item: [item[0]]), write, size=4)
    # The writes in flight finished; no new one started after the error.
    assert len(recorder.order) < len(items) - 1
    assert not concurrency.in_writer()


def test_map_at_once_answers_in_the_order_asked_while_the_calls_overlap() -> None:
    recorder = Recorder()

    def call(n: int) -> int:
        recorder.write((f"contact-{n}", n))
        return n * n

    assert concurrency.map_at_once(call, list(range(12)), size=6) == [n * n for n in range(12)]
    assert recorder.violations == []
    assert recorder.most_in_flight > 1


@pytest.mark.django_db
def test_writers_use_the_run_threads_database_connection() -> None:
    seen: list[Any] = []

    def write(item: int) -> None:
        seen.append(connection.cursor().connection)
        with concurrency.waiting():
            time.sleep(0.01)

    ours = connection.cursor().connection
    write_lanes([[1], [2], [3]], write, size=3)
    assert seen == [ours, ours, ours]


# -- a real run against the sandbox, at latency, with a small rate limit --------------------------------------------
RECORDS = 40
LATENCY = 0.5


@pytest.fixture
def small_limit(settings: Any) -> None:
    """GHL's limit scaled down to 10 / 1 s (announced in the headers, so the governor adopts it) and each GHL
    answer LATENCY s late: eight writes in flight would go faster than the limit, so the governor holds them back,
    and a few seconds of run exercise what 100 / 10 s does in minutes."""
    settings.SANDBOX_RATE_LIMIT = 10
    settings.SANDBOX_RATE_WINDOW_SECONDS = 1.0
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000
    settings.SYNC_WRITE_CONCURRENCY = 8
    settings.SYNC_PAGE_SIZE = RECORDS // 2
    sandbox_ratelimit.rate_limit_reset()


def test_a_run_at_latency_keeps_ghl_busy_with_no_429_and_counts_equal_history(
    live_server: Any, small_limit: None
) -> None:
    tag = f"conc-{uuid.uuid4().hex[:6]}"
    seeded = seed_streettext_to_ghl(records=RECORDS, workers=1, base_url=live_server.url, tag=tag)
    # Duplicates found by the first one's create: two contacts of one page (10, 11), and the last of the first page
    # and the first of the second (19, 20: the second page's searches are made ahead, while the first is written).
    for a, b in ((10, 11), (19, 20)):
        twins = SandboxRecord.objects.filter(record_id__in=[f"ct_{tag}_{a:07d}", f"ct_{tag}_{b:07d}"]).order_by("pk")
        first, second = list(twins)
        second.data = {**second.data, "email": first.data["email"], "phone": first.data["phone"]}
        second.save(update_fields=["data"])
    # Writes take their time, reads do not: the second page's searches, made ahead while the first page's last
    # creates are in flight, see GHL before those creates land.
    sandbox.sandbox_fault_add(system="ghl", kind="slow", delay=LATENCY, count=10_000, path_contains="/contacts/upsert")
    sandbox.sandbox_stats_reset()
    run = SyncRun.objects.create(mapping_id=seeded.mapping_ids[0], trigger=SyncRun.Trigger.MANUAL)

    started = time.monotonic()
    sync_run_execute(run_id=run.pk)
    elapsed = time.monotonic() - started

    run.refresh_from_db()
    stats = sandbox.sandbox_stats()["ghl"]
    assert stats.get("status_429", 0) == 0
    assert stats.get("rate_limited", 0) == 0
    # One write at a time would take at least a latency per create; the run overlapped them.
    assert elapsed < (RECORDS - 2) * LATENCY * 0.75, f"{elapsed:.1f} s"
    assert (run.status, run.created, run.failed, run.processed) == (SyncRun.Status.PARTIAL, RECORDS - 2, 2, RECORDS)
    history = RecordHistory.objects.filter(run=run)
    assert history.filter(action=RecordHistory.Action.CREATED).count() == run.created
    failed = history.filter(action=RecordHistory.Action.FAILED)
    assert sorted(failed.values_list("streettext_id", flat=True)) == [f"ct_{tag}_{n:07d}" for n in (11, 20)]
    assert all("already linked" in row.error for row in failed)
    links = RecordLink.objects.filter(ghl_connection=run.mapping.ghl_connection)
    assert links.count() == run.created
    ghl_contacts = SandboxRecord.objects.filter(
        account__account_id=seeded.location, object_type="contact", deleted=False
    )
    assert sorted(ghl_contacts.values_list("record_id", flat=True)) == sorted(links.values_list("ghl_id", flat=True))
