"""A worker killed (SIGKILL) mid-run or while a run waits for its retry: the scheduled stale check — sent through the
broker exactly as beat sends it — marks the dead run stale or sends the lost task again; the next run resumes from the
stored cursor, and every record ends up synced exactly once."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from config.celery import app
from integrations.models import RecordLink, SyncRun
from integrations.services.runs import sync_run_request
from mappings.models import Direction
from mappings.services import mapping_create_with_defaults
from sandbox import services as sandbox
from tests.conftest import WorkerProcess, wait_for
from tests.integrations.support import build_world, run_via_worker, sandbox_contacts, wait_finished

pytestmark = pytest.mark.worker
STALE_CHECK = "Mark stale sync runs"


def send_scheduled(name: str) -> None:
    """What beat does when the entry is due: send the entry's task, args and kwargs to the broker."""
    call_command("setup_periodic_tasks", stdout=open("/dev/null", "w"))  # noqa: SIM115 - as deployed
    entry = PeriodicTask.objects.select_related("interval").get(name=name)
    assert (entry.enabled, entry.interval.every, entry.interval.period) == (True, 1, "minutes")
    app.send_task(entry.task, args=json.loads(entry.args), kwargs=json.loads(entry.kwargs))


def stale_check_results(worker: WorkerProcess, since: int, task: str = "mark_stale_runs_task") -> list[dict[str, int]]:
    """The return values of the stale checks (`task`) the worker finished since log position `since`."""
    found = re.findall(rf"{task}\[[^\]]+\] succeeded in [\d.]+s: (\{{[^}}]*\}})", worker.log()[since:])
    return [json.loads(text.replace("'", '"')) for text in found]


def test_worker_killed_mid_run_loses_nothing_and_duplicates_nothing(
    live_server: Any, worker: WorkerProcess, settings: Any
) -> None:
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT, size=100)
    seeded = world.seeded
    st_before = len(sandbox_contacts("streettext"))
    # Slow StreetText writes down so the run is surely in the middle of a page when the worker dies.
    sandbox.sandbox_fault_add(system="streettext", kind="slow", delay=0.15, count=10_000, method="POST")

    run = sync_run_request(mapping=world.mapping, trigger=SyncRun.Trigger.MANUAL)
    wait_for(lambda: SyncRun.objects.get(pk=run.pk).processed >= 40, timeout=120, message="no progress")
    worker.kill()  # SIGKILL: no cleanup, no final status
    sandbox.sandbox_fault_clear()

    killed = SyncRun.objects.get(pk=run.pk)
    assert killed.status == SyncRun.Status.RUNNING
    assert 40 <= killed.processed < seeded["ghl_total"]

    with worker.reconfigured(SYNC_STALE_AFTER_SECONDS="3"):
        since = len(worker.log())
        time.sleep(3)
        send_scheduled(STALE_CHECK)
        stale = wait_for(
            lambda: SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.STALE).first(),
            timeout=60,
            message="the scheduled stale check did not mark the killed run stale",
        )
        assert stale.error.startswith("The worker stopped sending progress")
        assert wait_for(lambda: stale_check_results(worker, since))[0]["stale"] == 1

        resumed = run_via_worker(world.mapping)

    assert resumed.status == SyncRun.Status.PARTIAL, resumed.error
    # Resumed from the cursor: the stored pages are not read again.
    assert resumed.processed <= seeded["ghl_total"] - killed.processed
    # Lost 0: every GHL contact except the unparseable phones is linked to a StreetText contact that exists.
    st_ids = {c["id"] for c in sandbox_contacts("streettext")}
    links = list(RecordLink.objects.filter(object_type="contact"))
    assert len(links) == seeded["ghl_total"] - seeded["bad_phone"]
    assert all(link.streettext_id in st_ids for link in links)
    # Duplicated 0: StreetText grew by exactly the contacts that existed only on GHL.
    assert len(st_ids) == st_before + seeded["ghl_only"] + seeded["lowercase_names"]
    emails = [c["email"].lower() for c in sandbox_contacts("streettext") if c.get("email")]
    assert len(emails) == len(set(emails))


RETRY_COUNTDOWN = 12  # seconds; no jitter in this test, so the worker holds the retry exactly this long


def test_worker_killed_while_a_run_waits_for_its_retry_is_recovered_by_the_scheduled_stale_check(
    live_server: Any, worker: WorkerProcess, settings: Any
) -> None:
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT, size=30)
    st_before = len(sandbox_contacts("streettext"))
    # One failed create: the engine gives the run back (PENDING) and the task's autoretry waits RETRY_COUNTDOWN s.
    sandbox.sandbox_fault_add(system="streettext", kind="status", status=503, count=1, method="POST", skip=2)

    with worker.reconfigured(
        SYNC_RETRY_JITTER="false", SYNC_RETRY_BACKOFF_SECONDS=str(RETRY_COUNTDOWN), SYNC_PENDING_GRACE_SECONDS="2"
    ):
        requested_at = len(worker.log())
        run = sync_run_request(mapping=world.mapping, trigger=SyncRun.Trigger.MANUAL)
        waiting = wait_for(
            # Given back first as due at once, then the task records the countdown Celery chose: wait for both.
            lambda: SyncRun.objects.filter(
                pk=run.pk,
                status=SyncRun.Status.PENDING,
                attempts=1,
                next_attempt_at__gte=F("created_at") + timedelta(seconds=RETRY_COUNTDOWN - 1),
            ).first(),
            timeout=60,
            message="the run was not given back for a retry with its countdown",
        )
        assert waiting.error.startswith("Retrying after: StreetText server error (503)")
        assert (waiting.next_attempt_at - waiting.created_at).total_seconds() >= RETRY_COUNTDOWN - 1
        # The run is given back before the retry's message is sent: kill only once the worker holds that message
        # (its second "received"), else the message waits in the broker and is not lost at all.
        wait_for(
            lambda: len(re.findall(r"run_sync_task\[[^\]]+\] received", worker.log()[requested_at:])) >= 2,
            timeout=30,
            message="the worker never received the retry's message",
        )
        worker.kill()  # SIGKILL while the worker holds the retry's countdown: the message goes with it
        killed_at = time.monotonic()

        worker.start()
        since = len(worker.log())
        # Beat sends the check every minute; here every 2 s. Before the retry was due, it leaves the run alone.
        send_scheduled(STALE_CHECK)
        assert wait_for(lambda: stale_check_results(worker, since))[0] == {"stale": 0, "requeued": 0, "lost": 0}
        assert SyncRun.objects.get(pk=run.pk).status == SyncRun.Status.PENDING

        def recovered() -> SyncRun | None:
            current = SyncRun.objects.get(pk=run.pk)
            if current.status not in SyncRun.ACTIVE_STATUSES:
                return current
            send_scheduled(STALE_CHECK)
            return None

        finished = wait_for(recovered, timeout=90, interval=2, message="the orphaned pending run was never recovered")
        recovery_seconds = time.monotonic() - killed_at

        assert finished.status == SyncRun.Status.PARTIAL, finished.error  # the bad phones only
        assert (finished.requeued, finished.attempts) == (1, 2)
        assert recovery_seconds < RETRY_COUNTDOWN + 30
        # "Sync now" works again on the mapping.
        again = wait_finished(sync_run_request(mapping=world.mapping, trigger=SyncRun.Trigger.MANUAL))

    assert again.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL), again.error
    assert sandbox.SandboxFault.objects.filter(remaining__gt=0).count() == 0  # the 503 was really sent
    emails = [c["email"].lower() for c in sandbox_contacts("streettext") if c.get("email")]
    assert len(emails) == len(set(emails))
    assert len(sandbox_contacts("streettext")) == st_before + world.seeded["ghl_only"] + world.seeded["lowercase_names"]


def test_a_run_whose_task_never_arrives_is_sent_again_then_ends_stale(
    live_server: Any, worker: WorkerProcess, settings: Any
) -> None:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT, size=10)
    # A pending run whose message the broker lost (created without enqueueing), requested long ago.
    lost = SyncRun.objects.create(mapping=world.mapping, trigger=SyncRun.Trigger.MANUAL)
    SyncRun.objects.filter(pk=lost.pk).update(created_at=lost.created_at.replace(year=lost.created_at.year - 1))

    send_scheduled(STALE_CHECK)

    finished = wait_finished(lost, timeout=120)
    assert finished.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL), finished.error
    assert finished.requeued == 1


def test_the_stale_check_does_not_wait_behind_the_run_a_worker_holds(
    live_server: Any, worker: WorkerProcess, settings: Any
) -> None:
    """A worker busy with a long run (here its only slot: the solo pool) still marks another worker's dead run stale:
    it runs the check on a thread of its own, while beat's message waits in the queue behind the run."""
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT, size=100)
    other = mapping_create_with_defaults(
        name="dead worker's", ghl_connection=world.ghl, streettext_connection=world.streettext
    )
    # The run of a worker that died: running, its heartbeat long stopped.
    dead = SyncRun.objects.create(mapping=other, trigger=SyncRun.Trigger.MANUAL, status=SyncRun.Status.RUNNING)
    SyncRun.objects.filter(pk=dead.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    sandbox.sandbox_fault_add(system="streettext", kind="slow", delay=0.2, count=10_000, method="POST")

    with worker.reconfigured(SYNC_STALE_CHECK_SECONDS="1", SYNC_STALE_AFTER_SECONDS="60"):
        busy = sync_run_request(mapping=world.mapping, trigger=SyncRun.Trigger.MANUAL)
        wait_for(lambda: SyncRun.objects.get(pk=busy.pk).processed >= 1, timeout=60, message="no progress")
        send_scheduled(STALE_CHECK)  # waits behind the busy run: the solo pool has one slot

        stale = wait_for(
            lambda: SyncRun.objects.filter(pk=dead.pk, status=SyncRun.Status.STALE).first(),
            timeout=20,
            message="the dead run was not marked stale while the worker was busy",
        )
        assert SyncRun.objects.get(pk=busy.pk).status == SyncRun.Status.RUNNING  # marked while the worker was busy
        assert stale.error.startswith("The worker stopped sending progress")
        sandbox.sandbox_fault_clear()
        assert wait_finished(busy).status == SyncRun.Status.PARTIAL
