"""Real syncs: the sandbox over real HTTP (live_server), a real Celery worker process, the real database."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.models import RecordHistory, RecordLink, SyncRun
from integrations.services.runs import SyncRequestRefused, sync_run_request
from integrations.tasks import scheduled_sync_task
from mappings.models import Direction
from sandbox import services as sandbox
from tests.integrations.support import build_world, run_via_worker, sandbox_contacts, wait_finished

pytestmark = [pytest.mark.worker, pytest.mark.usefixtures("sandbox_mode")]

Action = RecordHistory.Action


@pytest.fixture(autouse=True)
def _fast_streettext(request: pytest.FixtureRequest, settings: Any) -> None:
    """StreetText's sandbox limit (120 / 10 s) is kept for the realistic test only; the others are about logic."""
    if "realistic" not in request.keywords:
        settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000


def actions(run: SyncRun) -> dict[str, int]:
    counts: dict[str, int] = {}
    for action in RecordHistory.objects.filter(run=run).values_list("action", flat=True):
        counts[action] = counts.get(action, 0) + 1
    return counts


@pytest.mark.realistic
def test_first_run_one_way_creates_updates_skips_and_fails_then_second_run_writes_nothing(
    live_server: Any, worker: Any
) -> None:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT)
    seeded = world.seeded
    st_before = len(sandbox_contacts("streettext"))

    run = run_via_worker(world.mapping)

    assert run.status == SyncRun.Status.PARTIAL, run.error
    assert run.processed == seeded["ghl_total"] == run.total
    # GHL-only contacts (also those with lower-case names) are created on StreetText.
    assert run.created == seeded["ghl_only"] + seeded["lowercase_names"]
    # The unparseable phones fail with the transform's message; nothing is written for them.
    assert run.failed == seeded["bad_phone"]
    failed = RecordHistory.objects.filter(run=run, action=Action.FAILED)
    assert all("not a valid phone number" in row.error for row in failed)
    # Other last names are updated, identical contacts skipped without a write.
    assert run.updated >= seeded["last_name_differs"]
    assert run.skipped >= seeded["identical"]
    assert run.created + run.updated + run.skipped + run.failed == run.processed
    assert actions(run) == {
        a: n
        for a, n in {
            "created": run.created,
            "updated": run.updated,
            "skipped": run.skipped,
            "failed": run.failed,
        }.items()
        if n
    }
    # Field-level diffs: an update names the field with before and after.
    updated = RecordHistory.objects.filter(run=run, action=Action.UPDATED).first()
    assert updated is not None
    assert updated.changes
    assert all(set(c) == {"before", "after"} for c in updated.changes.values())
    assert any(c["before"] != c["after"] for c in updated.changes.values())
    assert RecordHistory.objects.filter(run=run, action=Action.SKIPPED, reason__contains="matched by phone").exists()
    # The target really changed: one StreetText contact per created row, and links for all but failures.
    assert len(sandbox_contacts("streettext")) == st_before + run.created
    assert RecordLink.objects.count() == run.processed - run.failed

    second = run_via_worker(world.mapping)
    assert second.status == SyncRun.Status.SUCCEEDED
    assert (second.created, second.updated, second.failed) == (0, 0, 0)
    assert len(sandbox_contacts("streettext")) == st_before + run.created


def test_two_way_run_syncs_both_sides_without_echoes(live_server: Any, worker: Any) -> None:
    world = build_world(live_server.url, direction=Direction.BOTH)
    ghl_before = len(sandbox_contacts("ghl"))

    run = run_via_worker(world.mapping)

    assert run.status == SyncRun.Status.PARTIAL, run.error
    to_ghl = RecordHistory.objects.filter(run=run, direction=Direction.TO_GHL)
    # StreetText-only contacts reach GHL; what the first leg wrote to StreetText comes back only as skipped echoes.
    assert to_ghl.filter(action=Action.CREATED).count() == world.seeded["streettext_only"]
    assert to_ghl.filter(action=Action.UPDATED).count() == 0
    assert len(sandbox_contacts("ghl")) == ghl_before + world.seeded["streettext_only"]

    second = run_via_worker(world.mapping)
    assert (second.created, second.updated, second.failed) == (0, 0, 0), actions(second)

    # A real edit on StreetText between runs is carried to GHL on the next run.
    link = RecordLink.objects.exclude(streettext_id="").first()
    assert link is not None
    record = sandbox.sandbox_record_get(
        account=sandbox.SandboxAccount.objects.get(system="streettext"),
        object_type="contact",
        record_id=link.streettext_id,
    )
    assert record is not None
    import requests

    response = requests.patch(
        f"{world.streettext.base_url}/v1/contacts/{link.streettext_id}",
        json={"last_name": "Edited-On-StreetText"},
        headers={"X-Api-Key": "st-key-e2e"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    third = run_via_worker(world.mapping)
    assert third.updated == 1, actions(third)
    ghl_contact = next(c for c in sandbox_contacts("ghl") if c["id"] == link.ghl_id)
    assert ghl_contact["lastName"] == "Edited-On-StreetText"
    fourth = run_via_worker(world.mapping)
    assert (fourth.created, fourth.updated) == (0, 0), actions(fourth)


def test_dry_run_writes_history_but_no_data_and_keeps_the_cursor(live_server: Any, worker: Any) -> None:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT)
    st_before = len(sandbox_contacts("streettext"))

    dry = run_via_worker(world.mapping, dry_run=True)

    assert dry.created == world.seeded["ghl_only"] + world.seeded["lowercase_names"]
    assert RecordHistory.objects.filter(run=dry, dry_run=True).count() == dry.processed
    assert len(sandbox_contacts("streettext")) == st_before
    assert RecordLink.objects.count() == 0
    real = run_via_worker(world.mapping)
    assert real.created == dry.created


def test_a_rejected_record_fails_alone_and_the_run_goes_on(live_server: Any, worker: Any) -> None:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT)
    sandbox.sandbox_fault_add(system="streettext", kind="status", status=422, count=1, method="POST", skip=2)

    run = run_via_worker(world.mapping)

    assert run.failed == world.seeded["bad_phone"] + 1
    rejected = RecordHistory.objects.filter(run=run, action=Action.FAILED, error__contains="422")
    assert rejected.count() == 1
    assert run.created == world.seeded["ghl_only"] + world.seeded["lowercase_names"] - 1


def test_429s_and_500s_are_waited_out_by_transport_retries(live_server: Any, worker: Any) -> None:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT)
    sandbox.sandbox_fault_add(system="ghl", kind="status", status=429, count=2, path_contains="contacts/search")
    sandbox.sandbox_fault_add(system="streettext", kind="status", status=503, count=2, method="GET")

    run = run_via_worker(world.mapping)

    assert run.status == SyncRun.Status.PARTIAL
    assert run.failed == world.seeded["bad_phone"]
    assert sandbox.sandbox_stats()["ghl"]["status_429"] == 2


def test_a_second_request_while_a_run_is_active_is_refused(live_server: Any, worker: Any) -> None:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT)
    # Slow StreetText down so the first run is still going when the second request comes.
    sandbox.sandbox_fault_add(system="streettext", kind="slow", delay=0.5, count=3)
    first = sync_run_request(mapping=world.mapping, trigger=SyncRun.Trigger.MANUAL)

    with pytest.raises(SyncRequestRefused, match="already"):
        sync_run_request(mapping=world.mapping, trigger=SyncRun.Trigger.MANUAL)

    done = wait_finished(first)
    assert done.status == SyncRun.Status.PARTIAL
    assert SyncRun.objects.filter(mapping=world.mapping).count() == 1
    # Once finished, the mapping can run again.
    run_via_worker(world.mapping)


def test_scheduled_task_runs_the_mapping_through_the_worker(live_server: Any, worker: Any) -> None:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT)

    scheduled_sync_task.delay(world.mapping.pk)

    from tests.conftest import wait_for

    run = wait_for(lambda: SyncRun.objects.filter(mapping=world.mapping).first(), message="no scheduled run")
    run = wait_finished(run)
    assert run.trigger == SyncRun.Trigger.SCHEDULE
    assert run.created > 0


def test_rerun_of_failed_records_retries_only_them(live_server: Any, worker: Any) -> None:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT)
    first = run_via_worker(world.mapping)
    assert first.failed == world.seeded["bad_phone"]

    from integrations.services.runs import sync_run_rerun_failed

    rerun = wait_finished(sync_run_rerun_failed(run=first))

    assert rerun.trigger == SyncRun.Trigger.RERUN
    assert rerun.processed == first.failed
    assert rerun.failed == first.failed  # still unparseable: same reason, nothing else touched
