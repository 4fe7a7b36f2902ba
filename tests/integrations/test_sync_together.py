"""Several mappings and patterns on the same connections, with edits on both sides between runs: per-mapping state,
field-level changes and conflicts, merged tags, follow-ups only for genuinely new leads, deletions seen by polling,
edited mappings reaching synced records, honest progress and quiet history. The engine runs in-process against the
sandbox over real HTTP (live_server); tests/integrations/test_patterns_worker.py runs them through the worker."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests
from django.utils import timezone

from integrations.models import FollowupMarker, MappingRecordState, RecordHistory, RecordLink, SyncRun
from integrations.services import sync
from integrations.services.history import history_prune
from integrations.services.runs import sync_run_rerun_failed
from mappings.models import Direction, FieldMapping, Mapping
from mappings.presets import preset_create
from mappings.selectors import mapping_resync_summary
from sandbox import live
from sandbox.demo import sandbox_seed_demo_children
from sandbox.models import SandboxRecord
from tests.integrations.support import GHL_TOKEN, LOCATION, ST_KEY, World, build_world, sandbox_contacts

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("sandbox_mode")]
Action = RecordHistory.Action


@pytest.fixture(autouse=True)
def _fast(settings: Any) -> None:
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000
    settings.SANDBOX_RATE_LIMIT = 10_000
    settings.SYNC_PAGE_SIZE = 20
    settings.API_BACKOFF_FACTOR = 0


def execute(mapping: Mapping, **kwargs: Any) -> SyncRun:
    kwargs.setdefault("trigger", SyncRun.Trigger.MANUAL)
    run = SyncRun.objects.create(mapping=mapping, **kwargs)
    sync.sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL), run.error
    return run


def ghl(world: World, method: str, path: str, **body: Any) -> Any:
    version = "2021-04-15" if path.startswith("/calendars") else "2021-07-28"
    r = requests.request(
        method,
        f"{world.ghl.base_url}{path}",
        json=body if method != "GET" else None,
        headers={"Authorization": f"Bearer {GHL_TOKEN}", "Version": version},
        timeout=10,
    )
    # In live mode a create may answer 422 and create the contact all the same (sandbox/live.py): done, for setup.
    assert r.status_code in (200, 201) or live.MSG_CREATED_YET_422 in r.text, r.text
    return r.json()


def st(world: World, method: str, path: str, **body: Any) -> Any:
    r = requests.request(
        method,
        f"{world.streettext.base_url}{path}",
        json=body if method in ("POST", "PATCH") else None,
        headers={"X-Api-Key": ST_KEY},
        timeout=10,
    )
    assert r.status_code in (200, 201, 204), r.text
    return r.json() if r.content else {}


def contacts(system: str) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in sandbox_contacts(system)}


def records(system: str, object_type: str) -> dict[str, dict[str, Any]]:
    rows = SandboxRecord.objects.filter(account__system=system, object_type=object_type, deleted=False)
    return {r.record_id: r.data for r in rows}


def linked_pair(*, with_email: bool = True) -> RecordLink:
    links = RecordLink.objects.filter(object_type="contact").exclude(email="") if with_email else RecordLink.objects
    link = links.filter(object_type="contact").order_by("pk").first()
    assert link is not None
    return link


@pytest.fixture
def world(live_server: Any) -> World:
    return build_world(live_server.url, direction=Direction.BOTH, size=40)


def with_children(world: World) -> World:
    """Tasks, notes, appointments and businesses for the world's demo contacts."""
    sandbox_seed_demo_children(ghl_location_id=LOCATION, streettext_api_key=ST_KEY)
    return world


# -- per-mapping state ------------------------------------------------------------------------------------------


def test_a_second_mapping_on_the_same_contacts_does_not_revert_an_edit(world: World) -> None:
    """The reported case: automated follow-ups beside a two-way mapping where StreetText wins conflicts."""
    Mapping.objects.filter(pk=world.mapping.pk).update(conflict_policy=Mapping.ConflictPolicy.STREETTEXT_WINS)
    world.mapping.refresh_from_db()
    followups, _notes = preset_create(key="automated_followups", ghl=world.ghl, streettext=world.streettext)
    execute(world.mapping)
    execute(followups)
    link = linked_pair()

    ghl(world, "PUT", f"/contacts/{link.ghl_id}", firstName="EditedInGHL")
    execute(followups)  # the other mapping sees the change first
    run = execute(world.mapping)

    assert contacts("ghl")[link.ghl_id]["firstName"] == "EditedInGHL"
    assert contacts("streettext")[link.streettext_id]["first_name"] == "EditedInGHL"
    back = RecordHistory.objects.filter(run=run, direction=Direction.TO_GHL, ghl_id=link.ghl_id)
    assert not any("firstName" in row.changes for row in back)
    # Each mapping keeps its own state of the pair.
    assert set(MappingRecordState.objects.filter(link=link).values_list("mapping_id", flat=True)) == {
        world.mapping.pk,
        followups.pk,
    }


def test_edits_to_different_fields_on_both_sides_both_survive(world: World) -> None:
    execute(world.mapping)
    link = linked_pair()
    ghl(world, "PUT", f"/contacts/{link.ghl_id}", firstName="GhlFirst")
    st(world, "PATCH", f"/v1/contacts/{link.streettext_id}", last_name="StreetLast")

    run = execute(world.mapping)

    g, s = contacts("ghl")[link.ghl_id], contacts("streettext")[link.streettext_id]
    assert (g["firstName"], g["lastName"]) == ("GhlFirst", "StreetLast")
    assert (s["first_name"], s["last_name"]) == ("GhlFirst", "StreetLast")
    assert not RecordHistory.objects.filter(run=run, reason__contains="conflict").exists()
    again = execute(world.mapping)
    assert (again.created, again.updated) == (0, 0)


def test_the_same_field_edited_on_both_sides_follows_the_conflict_policy(world: World) -> None:
    Mapping.objects.filter(pk=world.mapping.pk).update(conflict_policy=Mapping.ConflictPolicy.STREETTEXT_WINS)
    world.mapping.refresh_from_db()
    execute(world.mapping)
    link = linked_pair()
    ghl(world, "PUT", f"/contacts/{link.ghl_id}", lastName="FromGhl")
    st(world, "PATCH", f"/v1/contacts/{link.streettext_id}", last_name="FromStreetText")

    run = execute(world.mapping)

    assert contacts("ghl")[link.ghl_id]["lastName"] == "FromStreetText"
    assert contacts("streettext")[link.streettext_id]["last_name"] == "FromStreetText"
    conflict = RecordHistory.objects.get(run=run, direction=Direction.TO_STREETTEXT, ghl_id=link.ghl_id)
    assert "conflict on last_name" in conflict.reason
    assert "StreetText wins" in conflict.reason


def test_a_one_way_mapping_keeps_an_edit_made_on_its_target(live_server: Any) -> None:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT, size=30)
    execute(world.mapping)
    link = linked_pair()
    st(world, "PATCH", f"/v1/contacts/{link.streettext_id}", first_name="EditedOnTarget")
    ghl(world, "PUT", f"/contacts/{link.ghl_id}", lastName="NewOnSource")

    run = execute(world.mapping)

    s = contacts("streettext")[link.streettext_id]
    assert (s["first_name"], s["last_name"]) == ("EditedOnTarget", "NewOnSource")
    row = RecordHistory.objects.get(run=run, ghl_id=link.ghl_id)
    assert set(row.changes) == {"last_name"}


def test_a_cleared_field_is_cleared_on_the_other_side(world: World) -> None:
    execute(world.mapping)
    link = linked_pair()
    ghl(world, "PUT", f"/contacts/{link.ghl_id}", lastName="")

    execute(world.mapping)

    assert not contacts("streettext")[link.streettext_id].get("last_name")


# -- tags -------------------------------------------------------------------------------------------------------


def test_tags_only_one_side_has_survive_every_mapping_that_writes_tags(world: World) -> None:
    """Two-way contacts, contact data sync and lead qualification all write StreetText tags."""
    (pattern,) = preset_create(key="contact_data_sync", ghl=world.ghl, streettext=world.streettext)
    (qualify,) = preset_create(key="lead_qualification", ghl=world.ghl, streettext=world.streettext)
    execute(world.mapping)
    link = linked_pair()
    st(world, "PATCH", f"/v1/contacts/{link.streettext_id}", tags=["st-only"])
    ghl(world, "POST", f"/contacts/{link.ghl_id}/tags", tags=["from-ghl"])

    for mapping in (pattern, qualify, world.mapping, pattern, qualify, world.mapping):
        execute(mapping)

    st_tags = {t.lower() for t in contacts("streettext")[link.streettext_id]["tags"]}
    ghl_tags = {t.lower() for t in contacts("ghl")[link.ghl_id]["tags"]}
    assert {"st-only", "from-ghl"} <= st_tags
    # Two-way: what StreetText has reaches GHL too.
    assert {"st-only", "from-ghl"} <= ghl_tags

    # A tag removed on GHL is removed on StreetText; the StreetText-only tag stays.
    ghl(world, "DELETE", f"/contacts/{link.ghl_id}/tags", tags=["from-ghl"])
    execute(world.mapping)
    st_tags = {t.lower() for t in contacts("streettext")[link.streettext_id]["tags"]}
    assert "from-ghl" not in st_tags
    assert "st-only" in st_tags


# -- follow-ups -------------------------------------------------------------------------------------------------


def test_follow_ups_fire_for_new_streettext_leads_not_for_copies_of_ghl_contacts(world: World) -> None:
    (pattern,) = preset_create(key="contact_data_sync", ghl=world.ghl, streettext=world.streettext)
    first = execute(world.mapping)  # copies GHL-only contacts into StreetText
    assert first.created > 0

    run = execute(pattern)

    followups = RecordHistory.objects.filter(run=run, reason__startswith="follow-up task")
    assert not followups.exists(), [r.reason for r in followups]
    # A person adds a lead in StreetText, known in GHL by email: exactly one follow-up task, once.
    ghl(
        world, "POST", "/contacts/", firstName="New", lastName="Lead", email="new.lead@example.com", locationId=LOCATION
    )
    fresh = st(world, "POST", "/v1/contacts", first_name="New", last_name="Lead", email="new.lead@example.com")
    tasks_before = len(records("ghl", "task"))

    run = execute(pattern)
    again = execute(pattern)

    row = RecordHistory.objects.get(run=run, reason__startswith="follow-up task")
    assert row.direction == Direction.TO_GHL
    assert row.action == Action.CREATED
    assert row.ghl_id
    assert row.streettext_id == fresh["contact"]["id"]
    assert len(records("ghl", "task")) == tasks_before + 1
    assert not RecordHistory.objects.filter(run=again, reason__startswith="follow-up task").exists()
    assert FollowupMarker.objects.filter(mapping=pattern).count() == 1
    assert not RecordLink.objects.filter(object_type="followup").exists()


# -- deletions --------------------------------------------------------------------------------------------------


def test_a_contact_deleted_in_ghl_is_seen_by_the_next_scheduled_run(live_server: Any) -> None:
    world = build_world(
        live_server.url, direction=Direction.TO_STREETTEXT, size=30, delete_policy=Mapping.DeletePolicy.DELETE
    )
    execute(world.mapping)
    link = linked_pair()
    ghl(world, "DELETE", f"/contacts/{link.ghl_id}")

    run = execute(world.mapping, trigger=SyncRun.Trigger.SCHEDULE)

    assert run.deleted == 1
    assert link.streettext_id not in contacts("streettext")
    row = RecordHistory.objects.get(run=run, action=Action.DELETED)
    assert "deletion check" in row.reason
    assert not RecordLink.objects.filter(pk=link.pk).exists()
    # Nothing else was taken for deleted.
    assert execute(world.mapping, trigger=SyncRun.Trigger.SCHEDULE).deleted == 0


def test_streettext_deletions_of_tasks_reach_ghl(world: World) -> None:
    tasks = Mapping.objects.create(
        name="tasks to GHL",
        object_type="task",
        ghl_connection=world.ghl,
        streettext_connection=world.streettext,
        direction=Direction.TO_GHL,
        match_rules=["link"],
        delete_policy=Mapping.DeletePolicy.DELETE,
    )
    for target, source in (("title", "title"), ("dueDate", "due_at"), ("completed", "completed")):
        FieldMapping.objects.create(mapping=tasks, direction=Direction.TO_GHL, target_field=target, source=source)
    Mapping.objects.filter(pk=world.mapping.pk).update(direction=Direction.TO_GHL)
    world.mapping.refresh_from_db()
    contact = next(iter(contacts("streettext").values()))
    task = st(world, "POST", "/v1/tasks", contact_id=contact["id"], title="Call back", due_at="2026-12-01T10:00:00Z")
    first = execute(tasks)
    assert first.created >= 1
    link = RecordLink.objects.get(object_type="task", streettext_id=task["task"]["id"])

    st(world, "DELETE", f"/v1/tasks/{task['task']['id']}")
    run = execute(tasks)

    assert run.deleted == 1
    assert link.ghl_id not in {f"{d['contactId']}/{i}" for i, d in records("ghl", "task").items()}


# -- edited mappings --------------------------------------------------------------------------------------------


def test_an_edited_mapping_reaches_synced_records_through_a_resync(world: World) -> None:
    Mapping.objects.filter(pk=world.mapping.pk).update(direction=Direction.TO_STREETTEXT)
    world.mapping.refresh_from_db()
    execute(world.mapping)
    linked = RecordLink.objects.filter(object_type="contact").count()
    assert mapping_resync_summary(mapping=world.mapping).outdated.value == 0
    rule = FieldMapping.objects.get(mapping=world.mapping, target_field="first_name")
    rule.transforms = [{"name": "trim", "params": {}}, {"name": "upper", "params": {}}]
    rule.save()

    summary = mapping_resync_summary(mapping=world.mapping)
    assert (summary.linked.value, summary.outdated.value) == (linked, linked)
    changes = execute(world.mapping)
    assert (changes.processed, changes.updated) == (0, 0)  # nothing changed on GHL: the change feed is empty
    dry = execute(world.mapping, scope=SyncRun.Scope.LINKED, dry_run=True)
    assert dry.updated > 0
    assert not any(c.get("first_name", "").isupper() for c in contacts("streettext").values() if c.get("first_name"))

    resync = execute(world.mapping, scope=SyncRun.Scope.LINKED)

    assert resync.updated == dry.updated
    names = [c["first_name"] for c in contacts("streettext").values() if c.get("first_name")]
    linked_st = set(RecordLink.objects.filter(object_type="contact").values_list("streettext_id", flat=True))
    assert all(
        contacts("streettext")[i]["first_name"].isupper()
        for i in linked_st
        if contacts("streettext")[i].get("first_name")
    )
    assert names
    assert mapping_resync_summary(mapping=world.mapping).outdated.value == 0


# -- progress and history -------------------------------------------------------------------------------------


def test_progress_never_passes_the_total_and_a_failing_parent_is_written_once(world: World) -> None:
    with_children(world)
    Mapping.objects.filter(pk=world.mapping.pk).update(direction=Direction.TO_STREETTEXT)
    world.mapping.refresh_from_db()
    bad = {i for i, c in contacts("ghl").items() if c.get("phone") in ("12", "call me")}
    for contact_id in bad:  # two notes each, so a parent that fails is referenced twice
        for body in ("first", "second"):
            SandboxRecord.objects.create(
                account=SandboxRecord.objects.filter(account__system="ghl").first().account,  # type: ignore[union-attr]
                object_type="note",
                record_id=f"note-{contact_id}-{body}",
                data={"contactId": contact_id, "body": body},
                created_at=timezone.now(),
                updated_at=timezone.now(),
            )
    (notes,) = preset_create(key="notes_history", ghl=world.ghl, streettext=world.streettext)
    seen: list[tuple[int, int | None]] = []
    from integrations.services import runs as run_services

    original = run_services.sync_run_add_progress

    def watch(**kwargs: Any) -> None:
        original(**kwargs)
        run = SyncRun.objects.get(pk=kwargs["run"].pk)
        seen.append((run.processed, run.total))

    import unittest.mock

    with unittest.mock.patch.object(run_services, "sync_run_add_progress", watch):
        run = execute(notes)

    assert seen
    assert all(total is None or processed <= total for processed, total in seen), seen
    totals = [t for _, t in seen if t is not None]
    assert totals == sorted(totals), "the total only grows as parents are added"
    assert run.processed == run.total
    parent_rows = RecordHistory.objects.filter(run=run, mapping=world.mapping, ghl_id__in=bad)
    assert parent_rows.count() == len(bad), "each failing parent has exactly one row"
    child_rows = RecordHistory.objects.filter(run=run, mapping=notes, action=Action.FAILED)
    assert child_rows.count() >= 2 * len(bad)
    assert all("could not be synced first" in row.error for row in child_rows)


def test_a_rescan_counts_unchanged_records_without_writing_rows(world: World, settings: Any) -> None:
    with_children(world)
    (tasks,) = preset_create(key="task_orchestration", ghl=world.ghl, streettext=world.streettext)
    execute(tasks)

    second = execute(tasks)

    assert second.skipped > 0
    # Unchanged records are counted, not written; failures (a contact that cannot be synced) keep their rows.
    assert not RecordHistory.objects.filter(run=second, action=Action.SKIPPED).exists()
    assert RecordHistory.objects.filter(run=second).count() == second.failed
    settings.SYNC_HISTORY_KEEP_UNCHANGED = True
    SyncRun.objects.filter(mapping=tasks).delete()
    from integrations.models import SyncCursor

    SyncCursor.objects.filter(mapping=tasks).delete()
    MappingRecordState.objects.filter(mapping=tasks).delete()
    kept = execute(tasks)
    assert RecordHistory.objects.filter(run=kept, action=Action.SKIPPED).count() == kept.skipped


def test_history_older_than_the_retention_is_pruned(world: World) -> None:
    run = execute(world.mapping)
    rows = RecordHistory.objects.filter(run=run)
    total = rows.count()
    old = list(rows.values_list("pk", flat=True)[:5])
    RecordHistory.objects.filter(pk__in=old).update(created_at=timezone.now() - timedelta(days=91))

    assert history_prune(days=90) == 5
    assert RecordHistory.objects.filter(run=run).count() == total - 5
    assert history_prune(days=0) == 0


# -- filters and re-runs ----------------------------------------------------------------------------------------


def test_a_filter_leaves_other_records_alone(live_server: Any) -> None:
    world = build_world(
        live_server.url,
        direction=Direction.TO_STREETTEXT,
        size=30,
        record_filter={"field": "tags", "op": "contains", "value": "only-me"},
    )
    vip = next(i for i, c in contacts("ghl").items() if c.get("email"))
    ghl(world, "POST", f"/contacts/{vip}/tags", tags=["Only-Me"])

    run = execute(world.mapping)

    assert RecordLink.objects.filter(object_type="contact").values_list("ghl_id", flat=True).get() == vip
    assert run.processed == run.total


def test_rerun_of_enrich_failures_reads_the_streettext_records_again(world: World) -> None:
    (pattern,) = preset_create(key="contact_data_sync", ghl=world.ghl, streettext=world.streettext, followup=False)
    st_by_email = {(c.get("email") or "").lower(): c for c in contacts("streettext").values() if c.get("email")}
    ghl_contact = next(
        c
        for c in contacts("ghl").values()
        if (c.get("email") or "").lower() in st_by_email and c.get("phone") not in ("12", "call me")
    )
    row = SandboxRecord.objects.get(account__system="ghl", object_type="contact", record_id=ghl_contact["id"])
    row.data = {**row.data, "phone": "call me"}  # stored in GHL as typed: the phone transform will fail on it
    row.save(update_fields=["data"])
    st_contact = st_by_email[ghl_contact["email"].lower()]
    run = execute(pattern)
    failed = RecordHistory.objects.get(run=run, action=Action.FAILED, streettext_id=st_contact["id"])
    assert failed.streettext_id

    rerun = sync_run_rerun_failed(run=run)

    assert rerun.only_ids == {"streettext": [st_contact["id"]]}
