"""The delete policy "unlink" keeps the other side and forgets the pairing; a record whose partner a person deleted
then stays unlinked: no later run (a re-sync, its next change, a two-way run's other leg) copies it again. Only "Sync
this record now" on it (a person asks) does. Against the sandbox over real HTTP (docs/reliability.md, "Unlink")."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from integrations.models import RecordHistory, RecordLink, SyncRun, UnlinkedRecord
from integrations.services import sync
from integrations.services.records import record_sync_request
from integrations.services.runs import sync_run_request, sync_run_request_resync
from mappings.models import Direction
from sandbox import services as sandbox
from sandbox.models import SandboxRecord
from tests.integrations.support import build_world, sandbox_contacts

pytestmark = pytest.mark.django_db(transaction=True)


def _execute(run: SyncRun) -> SyncRun:
    sync.sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL), run.error
    return run


def _request(**kwargs: Any) -> SyncRun:
    with mock.patch("integrations.enqueue.run_sync"):  # executed here, never by a session worker
        return sync_run_request(trigger=SyncRun.Trigger.MANUAL, **kwargs)


def _delete_st_copy() -> tuple[str, str, str]:
    """A person deletes one StreetText copy: (its GHL original, the deleted copy, the original's email)."""
    link = RecordLink.objects.filter(object_type="contact").exclude(email="").order_by("pk").first()
    assert link is not None
    copy = SandboxRecord.objects.get(account__system="streettext", object_type="contact", record_id=link.streettext_id)
    sandbox.sandbox_record_delete(record=copy)
    return link.ghl_id, link.streettext_id, link.email.lower()


def _person_renames(ghl_id: str) -> None:
    account = sandbox.SandboxAccount.objects.get(system="ghl")
    record = SandboxRecord.objects.get(account=account, object_type="contact", record_id=ghl_id)
    data = {**record.data, "lastName": "Changed"}
    sandbox.sandbox_record_put(account=account, object_type="contact", record_id=ghl_id, data=data, existing=record)


def _st_with(email: str) -> list[dict[str, Any]]:
    return [c for c in sandbox_contacts("streettext") if str(c.get("email") or "").lower() == email]


@pytest.mark.parametrize("direction", [Direction.TO_STREETTEXT, Direction.BOTH])
def test_a_copy_a_person_deleted_is_not_made_again(live_server: Any, direction: str) -> None:
    world = build_world(live_server.url, direction=direction, size=10)
    assert world.mapping.delete_policy == "unlink"
    _execute(_request(mapping=world.mapping))
    ghl_id, deleted, email = _delete_st_copy()

    # A re-sync, its next change and a run, a re-sync again: never copied again.
    with mock.patch("integrations.enqueue.run_sync"):
        first = _execute(sync_run_request_resync(mapping=world.mapping))
    assert _st_with(email) == []
    _person_renames(ghl_id)
    _execute(_request(mapping=world.mapping))
    with mock.patch("integrations.enqueue.run_sync"):
        _execute(sync_run_request_resync(mapping=world.mapping))
    assert _st_with(email) == []
    # Unlinked, and remembered as such; one row says why (later runs over the changes are quiet about it).
    assert not RecordLink.objects.filter(ghl_id=ghl_id).exists()
    assert UnlinkedRecord.objects.filter(system="ghl", record_id=ghl_id, partner_id=deleted).exists()
    # (Two-way: the StreetText → GHL leg's deletion check unlinked it; one way: the next run that read it.)
    rows = list(RecordHistory.objects.filter(ghl_id=ghl_id, run_id__gte=first.pk))
    assert {row.action for row in rows} == {"skipped"}, [(r.action, r.reason) for r in rows]
    said = [row for row in rows if "not copied again" in row.reason or "link removed" in row.reason]
    assert len(said) == 1, [(r.action, r.reason) for r in rows]

    # A person asks for it: "Sync this record now" copies it again, linked, and it is an ordinary record again.
    with mock.patch("integrations.enqueue.run_sync"):
        _execute(record_sync_request(mapping=world.mapping, ghl_id=ghl_id))
    assert len(_st_with(email)) == 1
    assert RecordLink.objects.filter(ghl_id=ghl_id).exists()
    assert not UnlinkedRecord.objects.filter(record_id=ghl_id).exists()


def test_under_ignore_a_deleted_copy_is_made_again(live_server: Any) -> None:
    """The other policies are unchanged: "ignore" keeps the pairing, and the original's next change finds the copy
    gone and makes it again."""
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT, size=10, delete_policy="ignore")
    _execute(_request(mapping=world.mapping))
    ghl_id, _, email = _delete_st_copy()
    _person_renames(ghl_id)
    _execute(_request(mapping=world.mapping))
    assert len(_st_with(email)) == 1
    assert not UnlinkedRecord.objects.exists()
