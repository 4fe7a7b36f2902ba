"""Data-integrity defects found by editing mappings after they synced and by running mappings side by side (issue 17):
a re-sync writes only the direction whose configuration changed, opposite one-way mappings keep the originals and
compare datetimes as instants, enrich writes and counts a record once per run, a record another mapping wrote is
counted (not written) when it is unchanged for this one, and follow-up titles render from the enriched record. The
engine runs in-process against the sandbox over real HTTP (live_server)."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.models import RecordHistory, RecordLink, SyncRun, System
from integrations.services.sync import digest, normalize, same_value
from integrations.services.sync.outcomes import REASON_UNCHANGED
from mappings.models import Direction, FieldMapping, Mapping
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
    assert mapping_resync_summary(mapping=world.mapping).outdated == 0
    rule = FieldMapping.objects.get(mapping=world.mapping, direction=Direction.TO_STREETTEXT, target_field="last_name")
    rule.transforms = [*rule.transforms, UPPER]
    rule.save()
    assert mapping_resync_summary(mapping=world.mapping).outdated == linked

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
    assert mapping_resync_summary(mapping=world.mapping).outdated == 0
    again = execute(world.mapping, scope=SyncRun.Scope.LINKED)
    assert (again.created, again.updated) == (0, 0)


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
