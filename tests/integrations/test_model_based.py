"""The engine under generated sequences of edits, mapping edits and runs (Hypothesis stateful testing), against the
sandbox over real HTTP, with the invariants of sandbox/model_check.py checked after every step.

Seeded (derandomize): every run of the suite replays the same sequences; a failure prints its shrunk sequence as
rule calls with notes saying what each step did. `manage.py model_check` runs thousands more (docs/reliability.md).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from sandbox.model_check import MACHINE_SETTINGS, SANDBOX_MODES, SyncModelMachine

pytestmark = pytest.mark.django_db(transaction=True)

SEQUENCES = 24
STEPS = 14
MIN_STEPS = 150  # steps the seeded run makes at least (after each world is built)


@pytest.fixture(autouse=True)
def _machine_settings(settings: Any) -> None:
    for name, value in {**MACHINE_SETTINGS, **SANDBOX_MODES["plain"].settings}.items():
        setattr(settings, name, value)


def test_invariants_hold_over_generated_sequences(live_server: Any, record_property: Any) -> None:
    machine = SyncModelMachine.configure(base_url=live_server.url, mode="plain")
    SyncModelMachine.sequences = SyncModelMachine.steps = 0
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=SEQUENCES,
            stateful_step_count=STEPS,
            derandomize=True,
            database=None,
            deadline=None,
            print_blob=False,
            suppress_health_check=list(HealthCheck),
        ),
    )
    # The run covered what the docs say (a change to the machine that starves it would show here).
    steps = SyncModelMachine.steps - SyncModelMachine.sequences
    record_property("model_sequences", SyncModelMachine.sequences)
    record_property("model_steps", steps)
    assert SyncModelMachine.sequences >= SEQUENCES
    assert steps >= MIN_STEPS


def test_a_resync_after_a_target_was_deleted_writes_one_row_per_record(live_server: Any) -> None:
    """Found by the machine: a re-sync re-created the copy a person had deleted, stored a new link, then read that
    link again further on (it iterated the links as they grew) and wrote a second row for the same record."""
    machine = SyncModelMachine.configure(base_url=live_server.url)()
    machine.build_world(focus="contacts", warm=True)
    machine.person_deletes_contact(side="streettext", pick=0)
    machine.edit_transform_then_resync(change="two_way: upper on to_streettext last_name", dry_run_first=False)
    machine.state_invariants()


def test_a_copy_a_person_deleted_under_unlink_is_not_made_again(live_server: Any) -> None:
    """Delete policy "unlink" (the default): a re-sync used to copy again the record a person deleted
    (`unlinked_stays_unlinked`; the invariants are checked after each step, as Hypothesis does)."""
    machine = SyncModelMachine.configure(base_url=live_server.url)()
    machine.build_world(focus="contacts", warm=True)
    machine.state_invariants()
    machine.person_deletes_contact(side="streettext", pick=0)
    machine.state_invariants()
    machine.edit_transform_then_resync(change="two_way: upper on to_streettext last_name", dry_run_first=False)
    machine.state_invariants()


def test_a_resync_does_not_write_back_what_its_other_direction_wrote(live_server: Any) -> None:
    """Found by the long mode (sequence 944): "overwrite tags" made both directions stale; a scheduled run re-applied
    StreetText's direction to the pairs it read, not GHL's; the re-sync after `upper` on StreetText's first name then
    wrote the upper-cased names to StreetText and, re-applying GHL's stale direction, back over the GHL names."""
    machine = SyncModelMachine.configure(base_url=live_server.url)()
    machine.build_world(focus="contacts", warm=True)
    machine.state_invariants()
    machine.edit_mapping(change="two_way: overwrite tags on")
    machine.state_invariants()
    machine.run_contact_mapping(key="two_way", kind="scheduled", pick=0)
    machine.state_invariants()
    machine.edit_transform_then_resync(change="two_way: upper on to_streettext first_name", dry_run_first=False)
    machine.state_invariants()


def test_an_enrich_run_retried_after_an_unanswered_search_records_each_record_once(live_server: Any) -> None:
    """Found by the machine's rule for unanswered writes: lead qualification's first run (an enrich mapping, pages
    of 2) had its second GHL search answered 504 after its first page was stored; the retry read on from the
    cursor, where StreetText's change feed listed again the contacts that page wrote, and recorded them a second
    time (2 rows for one record in one run). A resumed attempt now knows the writes its run stored."""
    machine = SyncModelMachine.configure(base_url=live_server.url, focus="contacts")()
    machine.build_world(focus="notes", warm=False)
    machine.state_invariants()
    machine.run_with_an_unanswered_write(pick=1, skip=8, system="ghl")
    machine.state_invariants()
    machine.edit_mapping(change="p1_enrich: upper on to_streettext last_name")
    machine.edit_mapping(change="two_way: every record")
    machine.edit_mapping(change="two_way: direction both")
    machine.state_invariants()
    machine.run_with_an_unanswered_write(pick=19, skip=0, system="ghl")
    machine.state_invariants()
    machine.run_with_an_unanswered_write(pick=13, skip=1, system="ghl")
    machine.state_invariants()
    machine.teardown()


def test_a_task_create_answered_504_is_found_on_streettext_and_not_made_again(live_server: Any) -> None:
    """Found by the long mode: task orchestration (GHL → StreetText) created a task from a GHL due date written
    "…:00.123Z"; StreetText carried the create out but a gateway answered 504. The retry looked for the lost create
    by title and due date, compared as text with StreetText's own form of the same instant, did not find it and made
    the task again: two StreetText tasks. The due date is now compared as an instant."""
    machine = SyncModelMachine.configure(base_url=live_server.url)()
    machine.build_world(focus="tasks", warm=True)
    machine.state_invariants()
    machine.person_edits_task(change="completed", pick=4, side="ghl")
    machine.edit_mapping(change="p1_enrich: only vip")
    machine.run_task_mapping(key="hist_tasks", kind="dry_run", pick=1)
    machine.person_adds_task(due_in_days=7, pick=2, side="ghl", style="Z")
    machine.state_invariants()
    machine.run_with_an_unanswered_write(pick=17, skip=1, system="streettext")
    machine.state_invariants()
    machine.teardown()


def test_a_task_scan_retried_after_its_deletion_check_failed_records_each_task_once(live_server: Any) -> None:
    """Found by the long mode: historical enrichment of tasks (GHL → StreetText, a full scan of GHL's tasks) created
    a task on StreetText, stored its pages, then a GHL search of its deletion check was answered 504. The retry
    scanned GHL's tasks again from the first page and recorded the task a second time (created, then skipped: no
    change). A resumed attempt now leaves out the records its run already has a row of in that direction."""
    machine = SyncModelMachine.configure(base_url=live_server.url)()
    machine.build_world(warm=False, focus="tasks")
    machine.run_with_an_unanswered_write(pick=8, skip=3, system="streettext")
    machine.person_adds_task(due_in_days=7, pick=8, side="streettext", style="Z")
    machine.person_deletes_contact(pick=0, side="ghl")
    machine.edit_transform_then_resync(change="two_way: upper on to_streettext last_name", dry_run_first=True)
    machine.run_task_mapping(key="tasks_to_ghl", kind="resync", pick=6)
    machine.state_invariants()
    machine.run_with_an_unanswered_write(pick=10, skip=3, system="ghl")
    machine.state_invariants()
    machine.teardown()


def test_a_notes_run_retried_after_an_unanswered_create_records_a_parent_once(live_server: Any) -> None:
    """Found by the long mode: notes StreetText → GHL, two notes of a contact whose GHL copy a person deleted (kept
    unlinked). The first attempt synced the contact first (skipped: kept unlinked) and recorded it; a note create
    answered 504 handed the run back, and the retry, remembering no parent, synced and recorded the contact again.
    A resumed attempt now takes what the earlier one found from its run's rows."""
    machine = SyncModelMachine.configure(base_url=live_server.url)()
    machine.build_world(warm=False, focus="notes")
    machine.edit_transform_then_resync(change="two_way: upper on to_ghl lastName", dry_run_first=True)
    machine.person_deletes_contact(pick=3, side="streettext")
    machine.edit_transform_then_resync(change="two_way: upper on to_streettext first_name", dry_run_first=True)
    machine.person_adds_note(days_ago=40, pick=5, side="streettext", text="Asked about pricing.")
    machine.person_deletes_contact(pick=4, side="ghl")
    machine.person_deletes_contact(pick=3, side="ghl")
    machine.run_with_an_unanswered_write(pick=11, skip=2, system="ghl")
    machine.person_deletes_contact(pick=3, side="ghl")
    machine.person_edits_note(pick=5, side="ghl", text="asked about it")
    machine.run_with_an_unanswered_write(pick=14, skip=0, system="ghl")
    machine.state_invariants()
    machine.run_with_an_unanswered_write(pick=5, skip=2, system="ghl")
    machine.state_invariants()
    machine.teardown()


def test_a_resync_may_apply_an_edit_the_runs_since_did_not_apply_that_way(live_server: Any) -> None:
    """The check's own mistake, found by the long mode: after `upper` on StreetText's last name, a manual run wrote a
    pair to GHL only (a tag a person removed on StreetText), and the check took that for a sync of the pair in both
    directions with the edited field mappings; the re-sync that then applied `upper` to StreetText ('Kim' → 'KIM', as
    the person asked) was judged an overwrite. The check now knows, per direction, when the pair was last synced with
    that direction's field mappings (the engine's stored digest of them)."""
    machine = SyncModelMachine.configure(base_url=live_server.url)()
    machine.build_world(focus="everything", warm=True)
    machine.run_task_mapping(key="p2_tasks_to_st", kind="resync", pick=8)
    machine.run_task_mapping(key="two_way", kind="manual", pick=8)
    machine.edit_mapping(change="two_way: upper on to_streettext last_name")
    machine.run_every_schedule(reverse=False)
    machine.person_tags_contact(add=False, pick=1, side="streettext", tag="only-here")
    machine.run_task_mapping(key="two_way", kind="manual", pick=8)
    machine.state_invariants()
    machine.run_contact_mapping(key="two_way", kind="resync", pick=8)
    machine.state_invariants()
    machine.teardown()
