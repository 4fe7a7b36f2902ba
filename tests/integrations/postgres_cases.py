"""Kills on a PostgreSQL cluster of the test's own, run by `test_postgres_kills.py` in a pytest process of their own
whose database is that cluster (the whole test session — sandbox, worker, the test itself — runs on it, so the
database server can be killed under it). Not collected by the suite itself (no `test_` prefix).

Both cases sync some hundreds of StreetText contacts to an empty GHL location through a real worker, kill something
mid-run, and let the scheduled tasks (sent through the broker as beat sends them) recover without a human: each
contact ends up on GHL exactly once, linked, with exactly one *created* history row, and the runs' created counts add
up to the contacts created."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from config.celery import app
from integrations.models import RecordHistory, RecordLink, SyncRun
from integrations.services.runs import sync_run_request
from mappings.models import Mapping
from sandbox import services as sandbox
from tests.conftest import WorkerProcess, wait_for
from tests.integrations.support import sandbox_contacts, st_contacts_to_ghl
from tests.pgcluster import PgCluster

pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(not os.environ.get("STREETSYNC_TEST_PG_ROOT"), reason="run by test_postgres_kills.py"),
]
CONTACTS = 150
STALE_CHECK = "Mark stale sync runs"


def cluster() -> PgCluster:
    return PgCluster(root=Path(os.environ["STREETSYNC_TEST_PG_ROOT"]), port=int(os.environ["STREETSYNC_TEST_PG_PORT"]))


def send_beat_entry(name: str) -> None:
    """What beat does when the entry is due: send the entry's task, args and kwargs to the broker."""
    entry = PeriodicTask.objects.get(name=name)
    app.send_task(entry.task, args=json.loads(entry.args), kwargs=json.loads(entry.kwargs))


def st_to_ghl_world(live_url: str, count: int) -> Mapping:
    """`count` StreetText contacts, an empty GHL location, a StreetText → GHL contacts mapping with a schedule."""
    mapping = st_contacts_to_ghl(live_url, count, word="kill")
    call_command("setup_periodic_tasks", stdout=open(os.devnull, "w"))  # noqa: SIM115 - as deployed
    return mapping


def recover(mapping: Mapping, *, timeout: float, stale_checks: bool = True) -> SyncRun:
    """What beat does, every 2 s here: the stale check (unless the worker's own is tested), and the mapping's scheduled
    run whenever none is active, until a run of the mapping finished with everything on GHL. Returns that run."""

    def done() -> SyncRun | None:
        if stale_checks:
            send_beat_entry(STALE_CHECK)
        if SyncRun.objects.filter(mapping=mapping, status__in=SyncRun.ACTIVE_STATUSES).exists():
            return None
        last = SyncRun.objects.filter(mapping=mapping).order_by("-pk").first()
        finished = (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL)
        if last is not None and last.status in finished and len(sandbox_contacts("ghl")) >= CONTACTS:
            return last
        app.send_task("integrations.tasks.scheduled_sync_task", args=[mapping.pk])  # the mapping's beat entry
        return None

    return wait_for(done, timeout=timeout, interval=2, message="the runs did not recover by themselves")


def assert_each_contact_once(mapping: Mapping) -> dict[str, Any]:
    ghl = sandbox_contacts("ghl")
    emails = Counter(str(c.get("email") or "").lower() for c in ghl)
    duplicates = {email: n for email, n in emails.items() if n > 1}
    assert duplicates == {}
    assert len(ghl) == CONTACTS
    assert RecordLink.objects.filter(object_type="contact").count() == CONTACTS
    created_rows = RecordHistory.objects.filter(mapping=mapping, action=RecordHistory.Action.CREATED, dry_run=False)
    per_record = Counter(created_rows.values_list("streettext_id", flat=True))
    runs = SyncRun.objects.filter(mapping=mapping)
    figures: dict[str, Any] = {
        "ghl_contacts": len(ghl),
        "created_rows": created_rows.count(),
        "created_counted": runs.aggregate(n=Sum("created"))["n"] or 0,
        "runs": runs.count(),
        "statuses": dict(Counter(runs.values_list("status", flat=True))),
    }
    sys.stdout.write(f"FIGURES {figures}\n")  # the outer test shows them
    # Every contact created on GHL has exactly one created row, and the runs' counts say as much.
    assert [sid for sid, n in per_record.items() if n > 1] == []
    assert figures["created_rows"] == CONTACTS, figures
    assert figures["created_counted"] == CONTACTS, figures
    return figures


def test_worker_killed_mid_page_loses_no_history(live_server: Any, worker: WorkerProcess, settings: Any) -> None:
    settings.SANDBOX_RATE_LIMIT = 1_000_000
    mapping = st_to_ghl_world(live_server.url, CONTACTS)
    # Slow GHL creates: the worker is surely in the middle of a page, most likely of a create, when it dies.
    sandbox.sandbox_fault_add(system="ghl", kind="slow", delay=0.05, count=100_000, method="POST")
    run = sync_run_request(mapping=mapping, trigger=SyncRun.Trigger.MANUAL)
    # Mid-page: 30 contacts created, 10 into the second page of 20.
    wait_for(lambda: len(sandbox_contacts("ghl")) >= 30, timeout=60, message="no progress")
    worker.kill()
    killed = SyncRun.objects.get(pk=run.pk)
    on_ghl = len(sandbox_contacts("ghl"))
    sys.stdout.write(f"KILLED processed={killed.processed} created={killed.created} on GHL={on_ghl}\n")
    assert killed.status == SyncRun.Status.RUNNING
    # As if SYNC_STALE_AFTER_SECONDS had passed since the kill; the restarted worker's own stale check notices it.
    SyncRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    worker.start()
    recover(mapping, timeout=90, stale_checks=False)
    assert SyncRun.objects.get(pk=run.pk).status == SyncRun.Status.STALE
    assert_each_contact_once(mapping)


def test_database_restart_mid_run_does_not_stall_the_worker(
    live_server: Any, worker: WorkerProcess, settings: Any
) -> None:
    settings.SANDBOX_RATE_LIMIT = 1_000_000
    mapping = st_to_ghl_world(live_server.url, CONTACTS)
    sandbox.sandbox_fault_add(system="ghl", kind="slow", delay=0.05, count=100_000, method="POST")
    pg = cluster()
    assert worker.proc is not None
    pid = worker.proc.pid
    run = sync_run_request(mapping=mapping, trigger=SyncRun.Trigger.MANUAL)
    wait_for(lambda: len(sandbox_contacts("ghl")) >= 30, timeout=60, message="no progress")
    since = len(worker.log())
    pg.kill_postmaster()
    time.sleep(2)
    pg.start()
    connection.close()  # the test's own connection died with the server
    # No stale-check message from "beat" in this case: only the worker itself may recover.
    recover(mapping, timeout=90, stale_checks=False)
    # The same worker, never restarted, takes new tasks: one more scheduled run finds nothing left to create.
    app.send_task("integrations.tasks.scheduled_sync_task", args=[mapping.pk])
    last = wait_for(
        lambda: (
            SyncRun.objects.filter(mapping=mapping, pk__gt=run.pk, status=SyncRun.Status.SUCCEEDED)
            .order_by("-pk")
            .first()
        ),
        timeout=30,
        message="the worker took no new task after the database restart",
    )
    assert (worker.proc.pid, worker.proc.poll()) == (pid, None)
    tasks_after = re.findall(r"Task (\S+)\[[^\]]+\] succeeded", worker.log()[since:])
    original = SyncRun.objects.get(pk=run.pk)
    sys.stdout.write(
        f"RESTART original run: {original.status} attempts={original.attempts} created={original.created}; "
        f"last run created={last.created}; tasks after the restart: {dict(Counter(tasks_after))}\n"
    )
    # The run in hand at the restart finished by itself: its task gave it back once the database answered and retried.
    assert (original.status, original.attempts) == (SyncRun.Status.SUCCEEDED, 2), original.error
    assert_each_contact_once(mapping)
