"""Data-integrity defects found by editing mappings after they synced and by running mappings side by side (issue 17):
a re-sync writes only the direction whose configuration changed, opposite one-way mappings keep the originals and
compare datetimes as instants, enrich writes and counts a record once per run, a record another mapping wrote is
counted (not written) when it is unchanged for this one, and follow-up titles render from the enriched record. The
engine runs in-process against the sandbox over real HTTP (live_server)."""

from __future__ import annotations

from importlib import import_module
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from integrations.models import MappingRecordState, RecordHistory, RecordLink, SyncRun, System
from integrations.services.sync import digest, normalize, same_value
from integrations.services.sync.context import mapping_config_digest, mapping_config_digests
from integrations.services.sync.outcomes import REASON_UNCHANGED
from mappings.models import Direction, FieldMapping, Mapping
from mappings.pipeline import render_title
from mappings.presets import preset_create
from mappings.selectors import mapping_resync_summary
from tests.integrations.support import LOCATION, World, build_world
from tests.integrations.test_sync_together import contacts, execute, ghl, records, st, with_children

pytestmark = pytest.mark.django_db(transaction=True)
Action = RecordHistory.Action
UPPER = {"name": "upper", "params": {}}


@pytest.fixture(autouse=True)
def _fast(settings: Any) -> None:
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000
    settings.SANDBOX_RATE_LIMIT = 10_000
    settings.SYNC_PAGE_SIZE = 20
    settings.API_BACKOFF_FACTOR = 0


@pytest.fixture
def world(live_server: Any) -> World:
    return build_world(live_server.url, direction=Direction.BOTH, size=30)


@pytest.fixture
def demo(live_server: Any) -> World:
    """Enough demo contacts for StreetText to hold a few notes and tasks of its own."""
    return with_children(build_world(live_server.url, direction=Direction.BOTH, size=120))


def written(run: SyncRun, direction: str) -> int:
    return RecordHistory.objects.filter(
        run=run, direction=direction, action__in=[Action.CREATED, Action.UPDATED]
    ).count()


# -- 1. a re-sync writes only the edited direction ----------------------------------------------------------------


def test_a_resync_after_editing_one_direction_writes_only_that_direction(world: World) -> None:
    execute(world.mapping)
    linked = RecordLink.objects.filter(object_type="contact").count()
    ghl_before = {i: c.get("lastName") for i, c in contacts("ghl").items()}
    assert mapping_resync_summary(mapping=world.mapping).outdated.value == 0
    rule = FieldMapping.objects.get(mapping=world.mapping, direction=Direction.TO_STREETTEXT, target_field="last_name")
    rule.transforms = [*rule.transforms, UPPER]
    rule.save()
    assert mapping_resync_summary(mapping=world.mapping).outdated.value == linked

    resync = execute(world.mapping, scope=SyncRun.Scope.LINKED)

    st_names = [
        contacts("streettext")[i].get("last_name")
        for i in RecordLink.objects.filter(object_type="contact").values_list("streettext_id", flat=True)
    ]
    upper = [n for n in st_names if n and n == n.upper() and n != n.lower()]
    assert len(upper) >= linked // 2, st_names
    assert written(resync, Direction.TO_STREETTEXT) == len(upper)
    # GoHighLevel, whose field mappings did not change, is neither forced nor written.
    assert written(resync, Direction.TO_GHL) == 0
    assert {i: c.get("lastName") for i, c in contacts("ghl").items()} == ghl_before
    assert mapping_resync_summary(mapping=world.mapping).outdated.value == 0
    again = execute(world.mapping, scope=SyncRun.Scope.LINKED)
    assert (again.created, again.updated) == (0, 0)


def test_a_resync_never_writes_back_what_its_other_direction_wrote_in_the_same_run(world: World) -> None:
    """Found by the model machine's long mode: both directions stale (an edit both share, here "overwrite tags"),
    then `upper` on StreetText's first name and a re-sync. The StreetText leg wrote the upper-cased names; the GHL
    leg, re-applying its own stale configuration, read them back and wrote them over the GHL names they came from."""
    execute(world.mapping)
    ghl_before = {i: c.get("firstName") for i, c in contacts("ghl").items()}
    Mapping.objects.filter(pk=world.mapping.pk).update(overwrite_tags=True)
    rule = FieldMapping.objects.get(mapping=world.mapping, direction=Direction.TO_STREETTEXT, target_field="first_name")
    rule.transforms = [*rule.transforms, UPPER]
    rule.save()
    world.mapping.refresh_from_db()

    resync = execute(world.mapping, scope=SyncRun.Scope.LINKED)

    linked = RecordLink.objects.filter(object_type="contact").values_list("ghl_id", "streettext_id")
    upper = [st_id for _, st_id in linked if (contacts("streettext")[st_id].get("first_name") or "a").isupper()]
    assert len(upper) >= len(linked) // 2
    assert {i: c.get("firstName") for i, c in contacts("ghl").items()} == ghl_before
    back = RecordHistory.objects.filter(run=resync, direction=Direction.TO_GHL)
    assert not any("firstName" in row.changes for row in back)
    assert mapping_resync_summary(mapping=world.mapping).outdated.value == 0


# -- 2. opposite one-way mappings keep the originals ----------------------------------------------------------------


@pytest.mark.django_db(transaction=False)
def test_datetimes_compare_and_digest_as_instants() -> None:
    z, offset, shifted = "2026-01-05T09:00:00.123Z", "2026-01-05T09:00:00.123000+00:00", "2026-01-05T10:00:00.123+01:00"
    assert same_value(z, offset)
    assert same_value(z, shifted)
    assert same_value(z, f" {z} ")
    assert digest(z) == digest(offset) == digest(shifted)
    assert not same_value(z, "2026-01-05T09:00:00.124Z")
    assert digest(z) != digest("2026-01-05T09:00:00Z")
    # Not instants: a calendar date, a time without an offset, and text that only looks like one stay text.
    assert normalize("2026-01-05") == "2026-01-05"
    assert normalize("2026-01-05T09:00:00") == "2026-01-05T09:00:00"
    assert normalize("2026-13-05T09:00:00Z") == "2026-13-05T09:00:00Z"


def one_way(world: World, *, object_type: str, direction: str, fields: list[tuple[str, str]]) -> Mapping:
    """A child-record mapping of one direction, beside a preset of the other."""
    mapping = Mapping.objects.create(
        name=f"{object_type}s {direction}",
        object_type=object_type,
        ghl_connection=world.ghl,
        streettext_connection=world.streettext,
        direction=direction,
        match_rules=["link"],
    )
    for position, (target, source) in enumerate(fields):
        FieldMapping.objects.create(
            mapping=mapping, direction=direction, target_field=target, source=source, position=position
        )
    return mapping


def test_opposite_one_way_note_mappings_keep_the_original_written_at(demo: World) -> None:
    world = demo
    (pattern,) = preset_create(key="notes_history", ghl=world.ghl, streettext=world.streettext)
    to_ghl = one_way(
        world, object_type="note", direction=Direction.TO_GHL, fields=[("body", "body"), ("title", "title")]
    )
    originals = {i: n["written_at"] for i, n in records("streettext", "note").items()}
    assert len(originals) >= 3

    execute(world.mapping)
    copied = execute(to_ghl)  # each StreetText note gets its GHL copy (GHL sets its dateAdded to now)
    assert RecordHistory.objects.filter(run=copied, mapping=to_ghl, action=Action.CREATED).count() == len(originals)
    run = execute(pattern)  # the copies come back through Pattern 3: written_at <- dateAdded

    notes = records("streettext", "note")
    assert {i: notes[i]["written_at"] for i in originals} == originals
    assert not RecordHistory.objects.filter(run=run, action=Action.UPDATED, streettext_id__in=list(originals)).exists()
    # Pattern 3 still copies GHL's own notes with their original timestamps.
    assert run.created > 0
    ghl_notes = {f"{n['contactId']}/{i}": n for i, n in records("ghl", "note").items()}
    for link in RecordLink.objects.filter(object_type="note", origin=System.GHL):
        ghl_added = ghl_notes[link.ghl_id].get("dateAdded")
        if ghl_added:
            assert same_value(notes[link.streettext_id]["written_at"], ghl_added)
    assert (execute(to_ghl).updated, execute(pattern).updated) == (0, 0)


def test_tasks_both_ways_are_not_rewritten_in_another_format(demo: World) -> None:
    world = demo
    (pattern,) = preset_create(key="task_orchestration", ghl=world.ghl, streettext=world.streettext)
    to_ghl = one_way(
        world,
        object_type="task",
        direction=Direction.TO_GHL,
        fields=[("title", "title"), ("dueDate", "due_at"), ("completed", "completed")],
    )
    st_before = {i: t["due_at"] for i, t in records("streettext", "task").items()}
    ghl_before = {i: t["dueDate"] for i, t in records("ghl", "task").items()}
    assert st_before
    assert ghl_before

    execute(world.mapping)
    runs = [execute(to_ghl), execute(pattern), execute(to_ghl), execute(pattern)]

    st_after = records("streettext", "task")
    ghl_after = records("ghl", "task")
    assert {i: st_after[i]["due_at"] for i in st_before} == st_before
    assert {i: ghl_after[i]["dueDate"] for i in ghl_before} == ghl_before
    assert [run.updated for run in runs] == [0, 0, 0, 0]


# -- 4. enrich writes and counts a record once per run ------------------------------------------------------------


@pytest.mark.parametrize("keep_unchanged", [False, True], ids=["unchanged-counted", "unchanged-written"])
def test_enrich_writes_and_counts_each_record_once_per_run(demo: World, settings: Any, keep_unchanged: bool) -> None:
    settings.SYNC_HISTORY_KEEP_UNCHANGED = keep_unchanged
    world = demo
    (pattern,) = preset_create(key="contact_data_sync", ghl=world.ghl, streettext=world.streettext)
    st_total = len(contacts("streettext"))

    run = execute(pattern, trigger=SyncRun.Trigger.SCHEDULE)

    rows = list(RecordHistory.objects.filter(run=run).values_list("streettext_id", "direction", "action", "reason"))
    seen: dict[tuple[str, str], list[Any]] = {}
    for st_id, direction, action, reason in rows:
        seen.setdefault((st_id, direction), []).append((action, reason[:60]))
    twice = {key: value for key, value in seen.items() if len(value) > 1}
    assert not twice, twice
    assert run.total is not None
    assert run.processed <= run.total
    assert run.processed == st_total + RecordHistory.objects.filter(run=run, direction=Direction.TO_GHL).count()
    assert run.updated > 0


# -- 5. a record another mapping wrote, unchanged for this one, is counted and not written -----------------------


def assert_counts_match_history(run: SyncRun) -> None:
    """What the run page shows: every count but the unchanged records' is a history row."""
    rows = RecordHistory.objects.filter(run=run)
    for action in (Action.CREATED, Action.UPDATED, Action.FAILED, Action.DELETED):
        assert getattr(run, action) == rows.filter(action=action).count(), action
    assert run.skipped >= rows.filter(action=Action.SKIPPED).count()
    assert run.processed == run.created + run.updated + run.skipped + run.failed + run.deleted


def test_pairs_another_mapping_synced_are_counted_not_written_when_unchanged(world: World) -> None:
    first = execute(world.mapping)  # links every pair; its own first links keep their rows
    assert RecordHistory.objects.filter(run=first, reason__startswith=REASON_UNCHANGED).exists()
    linked = RecordLink.objects.filter(object_type="contact").count()
    (pattern,) = preset_create(key="contact_data_sync", ghl=world.ghl, streettext=world.streettext, followup=False)
    followups, _notes = preset_create(key="automated_followups", ghl=world.ghl, streettext=world.streettext)

    for mapping in (pattern, followups):
        run = execute(mapping, trigger=SyncRun.Trigger.SCHEDULE)

        assert run.skipped >= linked // 2
        assert not RecordHistory.objects.filter(run=run, reason__startswith=REASON_UNCHANGED).exists()
        assert_counts_match_history(run)
    # A pair this mapping links itself (a first link made by a match rule) keeps its row.
    ghl_id = ghl(world, "POST", "/contacts/", firstName="Pat", email="pat.new@example.com", locationId=LOCATION)
    st(world, "POST", "/v1/contacts", first_name="Pat", email="pat.new@example.com")
    run = execute(world.mapping)
    row = RecordHistory.objects.get(run=run, ghl_id=ghl_id["contact"]["id"], direction=Direction.TO_STREETTEXT)
    assert "matched by email" in row.reason


# -- 6. follow-up titles render from the enriched record ----------------------------------------------------------


def test_follow_up_titles_render_after_enrichment_never_with_an_empty_placeholder(world: World) -> None:
    (pattern,) = preset_create(key="contact_data_sync", ghl=world.ghl, streettext=world.streettext)
    execute(world.mapping)
    execute(pattern)
    # A lead typed into StreetText with an email only; GHL knows the person by name.
    person = {"firstName": "Nora", "lastName": "Quill", "email": "nora.q@example.com"}
    ghl(world, "POST", "/contacts/", **person, locationId=LOCATION)
    named = st(world, "POST", "/v1/contacts", email="nora.q@example.com")["contact"]["id"]
    # And one nobody knows by name, on either side.
    ghl(world, "POST", "/contacts/", email="who.is.this@example.com", locationId=LOCATION)
    nameless = st(world, "POST", "/v1/contacts", email="who.is.this@example.com")["contact"]["id"]

    run = execute(pattern)

    assert contacts("streettext")[named]["first_name"] == "Nora"
    rows = RecordHistory.objects.filter(run=run, reason__startswith="follow-up task")
    titles = {row.streettext_id: row.changes["title"]["after"] for row in rows}
    assert titles[named] == "Follow up with Nora Quill: new StreetText lead"
    assert titles[nameless] == "Follow up with who.is.this@example.com: new StreetText lead"
    tasks = {t["title"] for t in records("ghl", "task").values()}
    assert {titles[named], titles[nameless]} <= tasks


@pytest.mark.django_db(transaction=False)
def test_a_title_names_the_record_even_when_its_placeholders_are_blank() -> None:
    title = "Follow up with {first_name} {last_name}: new StreetText lead"
    assert render_title(title, {"first_name": "Ann", "last_name": "Lee"}, fallback="x") == (
        "Follow up with Ann Lee: new StreetText lead"
    )
    assert render_title(title, {"first_name": "Ann"}, fallback="x") == "Follow up with Ann: new StreetText lead"
    assert render_title(title, {"last_name": " "}, fallback="a@b.example") == (
        "Follow up with a@b.example: new StreetText lead"
    )
    assert render_title("Call back {firstName} {lastName}", {}, fallback="+14155550100") == "Call back +14155550100"
    assert render_title("{{literal}} {a}", {"a": 1}, fallback="x") == "{literal} 1"


def test_the_migration_to_per_direction_configs_keeps_up_to_date_records_up_to_date(world: World) -> None:
    """Migration 0014: a state synced with the mapping as it is stays up to date in each direction, others stale."""
    execute(world.mapping)
    states = MappingRecordState.objects.filter(mapping=world.mapping).order_by("pk")
    stale_pk = states.first().pk  # type: ignore[union-attr]
    count = states.count()
    migration = import_module("integrations.migrations.0014_engine_direction_configs")
    legacy = migration._whole_mapping_digest(world.mapping, list(world.mapping.field_mappings.all()))
    call_command("migrate", "integrations", "0013", verbosity=0)
    try:
        with connection.cursor() as cursor:  # what the engine stored before 0014: the whole mapping's digest
            cursor.execute("UPDATE integrations_mappingrecordstate SET config = %s", [legacy])
            cursor.execute("UPDATE integrations_mappingrecordstate SET config = 'older' WHERE id = %s", [stale_pk])
    finally:
        call_command("migrate", verbosity=0)

    current = mapping_config_digests(world.mapping)
    assert set(current) == {Direction.TO_STREETTEXT, Direction.TO_GHL}
    stale = MappingRecordState.objects.get(pk=stale_pk)
    assert (stale.configs, stale.config) == ({}, "older")
    assert MappingRecordState.objects.filter(mapping=world.mapping).exclude(pk=stale_pk).count() == count - 1
    combined = mapping_config_digest(world.mapping)
    assert all((s.configs, s.config) == (current, combined) for s in MappingRecordState.objects.exclude(pk=stale_pk))
    assert mapping_resync_summary(mapping=world.mapping).outdated.value == 1


def test_a_resync_reads_each_linked_record_once_even_when_it_links_new_ones(live_server: Any) -> None:
    """Found by the model-based test: a re-sync that re-creates a record whose linked copy is gone links the new copy
    during the run; the links it reads are those that existed when it started, so the new pair is not read again."""
    world = build_world(live_server.url, direction=Direction.BOTH, size=30, delete_policy=Mapping.DeletePolicy.IGNORE)
    execute(world.mapping)
    link = RecordLink.objects.filter(object_type="contact").order_by("pk").first()
    assert link is not None
    ghl(world, "DELETE", f"/contacts/{link.ghl_id}")
    rule = FieldMapping.objects.get(mapping=world.mapping, direction=Direction.TO_GHL, target_field="lastName")
    rule.transforms = [*rule.transforms, UPPER]
    rule.save()

    resync = execute(world.mapping, scope=SyncRun.Scope.LINKED)

    recreated = RecordHistory.objects.get(run=resync, action=Action.CREATED, streettext_id=link.streettext_id)
    assert recreated.direction == Direction.TO_GHL
    rows = RecordHistory.objects.filter(run=resync)
    per_record: dict[tuple[str, str, str], int] = {}
    for row in rows:
        for key in ((row.direction, "ghl", row.ghl_id), (row.direction, "streettext", row.streettext_id)):
            if key[2]:
                per_record[key] = per_record.get(key, 0) + 1
    assert {key: n for key, n in per_record.items() if n > 1} == {}
    assert resync.total is not None
    assert resync.processed <= resync.total


def test_a_resync_never_clears_a_value_the_source_did_not_change(world: World) -> None:
    """Found by the model-based test: a StreetText contact's company (mapped GHL -> StreetText only) set by a person,
    the contact copied to GHL without it; a re-sync after an edit of another GHL -> StreetText field keeps it."""
    execute(world.mapping)
    link = RecordLink.objects.filter(object_type="contact", origin=System.STREETTEXT).order_by("pk").first()
    assert link is not None
    st(world, "PATCH", f"/v1/contacts/{link.streettext_id}", company="O'Brien & Co")
    execute(world.mapping)
    rule = FieldMapping.objects.get(mapping=world.mapping, direction=Direction.TO_STREETTEXT, target_field="last_name")
    rule.transforms = [*rule.transforms, UPPER]
    rule.save()

    resync = execute(world.mapping, scope=SyncRun.Scope.LINKED)

    assert contacts("streettext")[link.streettext_id].get("company") == "O'Brien & Co"
    assert resync.updated > 0
    # A source that cleared the field since the last sync still clears it.
    ghl(world, "PUT", f"/contacts/{link.ghl_id}", companyName="Set In GHL")
    execute(world.mapping)
    assert contacts("streettext")[link.streettext_id].get("company") == "Set In GHL"
    ghl(world, "PUT", f"/contacts/{link.ghl_id}", companyName="")
    execute(world.mapping, scope=SyncRun.Scope.LINKED)
    assert not contacts("streettext")[link.streettext_id].get("company")
