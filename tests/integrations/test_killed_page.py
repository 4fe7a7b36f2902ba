"""A worker killed in the middle of a page (SIGKILL: no `except`, no `finally` of the engine runs) after some of the
page's writes landed and before the page was stored: the next run must still record each write once in the record
history — creates (PendingCreate) and updates alike — not only leave the data right.

In-process, against the sandbox over real HTTP: the StreetText adapter's update is wrapped so that the process "dies"
(a BaseException the engine does not catch, as nothing runs after a SIGKILL) just after the n-th update landed."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from integrations.adapters.streettext import StreetTextContactAdapter
from integrations.clients.exceptions import ApiServerError
from integrations.models import FollowupMarker, PendingCreate, RecordHistory, RecordLink, SyncRun
from integrations.services import sync
from integrations.services.runs import RUNS
from mappings.models import Direction
from sandbox import services as sandbox
from sandbox.models import SandboxRecord
from tests.integrations.support import build_world, sandbox_contacts

pytestmark = pytest.mark.django_db(transaction=True)


class Killed(BaseException):
    """The worker's SIGKILL: nothing of the engine's error handling runs."""


def _kill_after(updates: int) -> Any:
    real = StreetTextContactAdapter.update
    done = {"n": 0}

    def update(self: Any, record_id: str, values: dict[str, Any], current: Any = None) -> Any:
        written = real(self, record_id, values, current)
        done["n"] += 1
        if done["n"] == updates:
            raise Killed(f"killed after update {updates}")
        return written

    return mock.patch.object(StreetTextContactAdapter, "update", update)


def _run(mapping: Any) -> SyncRun:
    run = SyncRun.objects.create(mapping=mapping, trigger=SyncRun.Trigger.MANUAL)
    sync.sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def test_updates_that_landed_in_a_page_never_stored_keep_their_history(live_server: Any, settings: Any) -> None:
    settings.SYNC_PAGE_SIZE = 6
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT, size=10)
    first = _run(world.mapping)
    assert first.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL), first.error
    linked = list(RecordLink.objects.filter(object_type="contact").values_list("ghl_id", "streettext_id"))
    assert len(linked) >= 6
    # A person renames six GHL contacts: one page of changes.
    account = sandbox.SandboxAccount.objects.get(system="ghl")
    renamed = {}
    for n, (ghl_id, _) in enumerate(linked[:6]):
        record = SandboxRecord.objects.get(account=account, object_type="contact", record_id=ghl_id)
        sandbox.sandbox_record_put(
            account=account,
            object_type="contact",
            record_id=ghl_id,
            data={**record.data, "lastName": f"Renamed{n}"},
            existing=record,
        )
        renamed[ghl_id] = f"Renamed{n}"

    killed = SyncRun.objects.create(mapping=world.mapping, trigger=SyncRun.Trigger.MANUAL)
    with _kill_after(3), pytest.raises(Killed):
        sync.sync_run_execute(run_id=killed.pk)
    assert not RecordHistory.objects.filter(run=killed).exists()  # the page was never stored
    # The stale check ends the dead run; the next run goes on.
    SyncRun.objects.filter(pk=killed.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert RUNS.mark_stale(older_than=timedelta(minutes=1)) == 1
    after = _run(world.mapping)
    assert after.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL), after.error

    # The data: every rename on StreetText.
    st = {c["id"]: c for c in sandbox_contacts("streettext")}
    assert all(st[dict(linked)[g]]["last_name"] == name for g, name in renamed.items())
    # The history: each rename recorded exactly once as an update, with its new value, whether it landed before the
    # kill (three of them) or after it.
    rows = RecordHistory.objects.filter(mapping=world.mapping, action=RecordHistory.Action.UPDATED, dry_run=False)
    rows = rows.exclude(run=first)
    per_record = Counter(rows.values_list("ghl_id", flat=True))
    assert per_record == Counter(set(renamed)), per_record
    for row in rows:
        assert renamed[row.ghl_id] in str(row.changes.get("last_name")), row.changes
    killed.refresh_from_db()
    assert (killed.status, killed.updated, after.updated) == (SyncRun.Status.STALE, 0, 6)
    assert not PendingCreate.objects.exists()  # nothing left written ahead


def _call_me_world(live_server: Any, settings: Any) -> tuple[Any, Any]:
    """A one-way mapping whose follow-up rule holds for one GHL contact (tagged "call-me")."""
    settings.SYNC_PAGE_SIZE = 6
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT, size=10)
    account = sandbox.SandboxAccount.objects.get(system="ghl")
    record = SandboxRecord.objects.filter(account=account, object_type="contact", deleted=False).order_by("pk")[0]
    data = {**record.data, "tags": [*(record.data.get("tags") or []), "call-me"]}
    sandbox.sandbox_record_put(account=account, object_type="contact", record_id=record.record_id, data=data)
    rule = {"name": "call", "when": {"field": "tags", "op": "contains", "value": "call-me"}, "title": "Call back"}
    world.mapping.followup_rules = [rule]
    world.mapping.save(update_fields=["followup_rules"])
    return world, account


def _end_killed(killed: SyncRun) -> None:
    SyncRun.objects.filter(pk=killed.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert RUNS.mark_stale(older_than=timedelta(minutes=1)) == 1


def _made_once_and_recorded_once(world: Any, account: Any, run: SyncRun) -> None:
    tasks = SandboxRecord.objects.filter(account=account, object_type="task", deleted=False, data__title="Call back")
    assert tasks.count() == 1  # made once
    rows = RecordHistory.objects.filter(mapping=world.mapping, reason__contains="follow-up")
    assert [(row.run_id, row.action) for row in rows] == [(run.pk, "created")]
    assert rows[0].ghl_id.endswith(tasks[0].record_id)  # GHL task ids are "<contact>/<task>" in the history
    _run(world.mapping)
    assert rows.count() == 1  # recorded once
    assert not FollowupMarker.objects.filter(pending=True).exists()


@pytest.mark.parametrize("when", ["after its id was kept", "before its id was kept"])
def test_a_follow_up_made_just_before_a_kill_is_made_and_recorded_once(
    live_server: Any, settings: Any, when: str
) -> None:
    """A follow-up task's marker is written ahead of its create and keeps the task's id once GHL answers; its history
    row waits for the page. Killed after the answer was kept, the next run records the task; killed while the answer
    was on its way, the next run finds the task the dead one made instead of making it again."""
    from integrations.services.sync.followups import Followups

    world, account = _call_me_world(live_server, settings)
    real = Followups._made

    def made(self: Any, marker: Any, task_id: str) -> None:
        if when == "after its id was kept":
            real(self, marker, task_id)
        raise Killed(f"killed just after the follow-up task was made, {when}")

    killed = SyncRun.objects.create(mapping=world.mapping, trigger=SyncRun.Trigger.MANUAL)
    with mock.patch.object(Followups, "_made", made), pytest.raises(Killed):
        sync.sync_run_execute(run_id=killed.pk)
    _end_killed(killed)
    after = _run(world.mapping)
    assert after.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL), after.error
    _made_once_and_recorded_once(world, account, after)


def test_a_follow_up_create_answered_with_a_gateway_error_is_not_made_twice(live_server: Any, settings: Any) -> None:
    """GHL made the task but the answer was a 504 (a gateway gave up waiting): the run fails that page and the next
    attempt finds the task instead of making a second one."""
    world, account = _call_me_world(live_server, settings)
    sandbox.sandbox_fault_add(
        system="ghl", kind="status_after", status=504, count=100, method="POST", path_contains="/tasks"
    )
    first = SyncRun.objects.create(mapping=world.mapping, trigger=SyncRun.Trigger.MANUAL)
    with pytest.raises(ApiServerError):  # in the worker, the task's retry: here the next run
        sync.sync_run_execute(run_id=first.pk)
    sandbox.sandbox_fault_clear()
    assert FollowupMarker.objects.filter(pending=True).count() == 1
    first.refresh_from_db()
    assert first.status == SyncRun.Status.PENDING  # handed back for the task's retry
    sync.sync_run_execute(run_id=first.pk)
    after = SyncRun.objects.get(pk=first.pk)
    assert after.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL), after.error
    _made_once_and_recorded_once(world, account, after)
