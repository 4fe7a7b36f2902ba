"""A worker killed mid-run (SIGKILL): the run is detected as stale, the next run resumes from the stored cursor,
and every record ends up synced exactly once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from integrations.models import RecordLink, SyncRun
from integrations.sandbox import services as sandbox
from integrations.services.runs import sync_run_mark_stale, sync_run_request
from mappings.models import Direction
from tests.conftest import wait_for
from tests.integrations.support import build_world, run_via_worker, sandbox_contacts

pytestmark = pytest.mark.worker


def test_worker_killed_mid_run_loses_nothing_and_duplicates_nothing(
    live_server: Any, worker: Any, settings: Any
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
    assert sync_run_mark_stale(older_than=timedelta(seconds=0)) == 1
    assert SyncRun.objects.get(pk=run.pk).status == SyncRun.Status.STALE

    worker.start()
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
