"""GHL notes and appointments are listed per contact: scheduled runs scan a slice of the contacts sized to the
location's daily budget (integrations/services/budget.py; webhooks keep them fresh in between), a manual run finishes
the pass, and the scan's real cost in GHL requests is kept and shown on the mapping page. Against the sandbox over
real HTTP."""

from __future__ import annotations

import math
from typing import Any
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations import ratelimit
from integrations.adapters.clients import ghl_client_for
from integrations.adapters.ghl_related import GhlNoteAdapter
from integrations.clients.ghl import GhlClient
from integrations.models import SyncCursor, SyncRun
from integrations.services import budget, sync
from integrations.services.sync.reading import SCAN_FINISHED_KEY, SCAN_REQUESTS_KEY, scan_cost
from mappings.models import Direction, Mapping
from mappings.presets import preset_create
from mappings.selectors import mapping_scan_summary
from sandbox import services as sandbox
from sandbox.demo import sandbox_seed_demo_children
from tests.integrations.support import LOCATION, ST_KEY, World, build_world, sandbox_contacts

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fast(settings: Any) -> None:
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000
    settings.SANDBOX_RATE_LIMIT = 10_000
    settings.SYNC_PAGE_SIZE = 20
    settings.API_BACKOFF_FACTOR = 0


@pytest.fixture
def notes(live_server: Any) -> tuple[World, Mapping]:
    world = build_world(live_server.url, direction=Direction.BOTH, size=45)
    sandbox_seed_demo_children(ghl_location_id=LOCATION, streettext_api_key=ST_KEY)
    # The contacts are linked first, as in the product (notes follow their contact's link).
    execute(world.mapping, SyncRun.Trigger.MANUAL)
    (mapping,) = preset_create(key="notes_history", ghl=world.ghl, streettext=world.streettext)
    return world, mapping


def execute(mapping: Mapping, trigger: str) -> SyncRun:
    run = SyncRun.objects.create(mapping=mapping, trigger=trigger)
    sync.sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL), run.error
    return run


def ghl_requests() -> int:
    return sandbox.sandbox_stats()["ghl"]["requests"]


def test_a_scan_records_its_real_cost_and_the_mapping_page_shows_it(
    notes: tuple[World, Mapping], admin_client: Any
) -> None:
    _world, mapping = notes
    fresh = scan_cost(mapping)
    assert fresh is not None
    assert fresh.requests is None
    assert "No scan has finished yet" in mapping_scan_summary(mapping=mapping)

    before = ghl_requests()
    run = execute(mapping, SyncRun.Trigger.SCHEDULE)
    spent = ghl_requests() - before

    assert run.created > 0
    cost = scan_cost(mapping)
    assert cost is not None
    assert cost.requests is not None
    # One search per 20 contacts and one notes listing per contact.
    contacts = len(sandbox_contacts("ghl"))
    assert contacts >= 45
    assert cost.requests == math.ceil(contacts / 20) + contacts
    assert cost.requests <= spent
    summary = mapping_scan_summary(mapping=mapping)
    assert f"The last scan took {cost.requests:,} requests" in summary
    assert f"of {contacts:,} contacts today" in summary
    assert "full cycle every day" in summary
    page = admin_client.get(reverse("admin:mappings_mapping_change", args=[mapping.pk]))
    assert page.status_code == 200
    assert f"The last scan took {cost.requests:,} requests" in page.content.decode()


def set_credit(mapping: Mapping, contacts: float) -> None:
    """Give the mapping's scan `contacts` of credit, as if earned just now."""
    cursor, _ = SyncCursor.objects.get_or_create(mapping=mapping, system="ghl")
    now = timezone.now().isoformat()
    cursor.position = {**cursor.position, budget.CREDIT_KEY: contacts, budget.CREDIT_AT_KEY: now}
    cursor.save(update_fields=["position"])


def listed_contacts(run_mapping: Mapping, trigger: str) -> tuple[SyncRun, list[str]]:
    """Run the mapping and return the contacts whose notes GHL was asked for (a spy: the real client answers)."""
    real = GhlClient.list_notes
    with mock.patch.object(GhlClient, "list_notes", autospec=True, side_effect=real) as spy:
        run = execute(run_mapping, trigger)
    return run, [call.args[1] for call in spy.call_args_list]


def test_scheduled_runs_scan_slices_that_cover_every_contact_once_per_pass(notes: tuple[World, Mapping]) -> None:
    """Invariants: a scheduled run reads no more contacts than its credit; the slices of one pass read every contact
    exactly once; the run page counts contacts scanned of the slice; a run without credit reads nothing."""
    _world, mapping = notes
    contacts = {c["id"] for c in sandbox_contacts("ghl")}
    seen: list[str] = []
    for _ in range(len(contacts)):  # far more than enough slices of 7
        set_credit(mapping, 7)
        before = ghl_requests()
        run, listed = listed_contacts(mapping, SyncRun.Trigger.SCHEDULE)
        assert len(listed) <= 7
        assert ghl_requests() - before <= 1 + 7 + run.created + run.updated, "one search and one listing per contact"
        assert (run.scan_done, run.scan_total) == (len(listed), len(listed))
        seen.extend(listed)
        position = SyncCursor.objects.get(mapping=mapping, system="ghl").position
        if SCAN_FINISHED_KEY in position:
            break
    assert sorted(seen) == sorted(contacts), "each contact exactly once in the pass"
    assert position[budget.CONTACTS_KEY] == len(contacts)
    assert position[budget.PASS_DONE_KEY] == 0

    set_credit(mapping, 0.5)
    before = ghl_requests()
    quiet, listed = listed_contacts(mapping, SyncRun.Trigger.SCHEDULE)
    assert listed == []
    assert ghl_requests() == before, "a scheduled run without credit reads no GHL contact"
    assert "scan deferred" in quiet.note


def test_a_new_pass_starts_with_the_most_recently_updated_contacts(notes: tuple[World, Mapping]) -> None:
    world, mapping = notes
    execute(mapping, SyncRun.Trigger.MANUAL)  # a full pass: the next one starts from the top
    _run, before = listed_contacts(mapping, SyncRun.Trigger.MANUAL)
    touched = before[-1]  # the least recently updated contact of the last pass
    ghl_client_for(world.ghl).update_contact(touched, {"city": "Lyon"})
    set_credit(mapping, 3)
    _run, listed = listed_contacts(mapping, SyncRun.Trigger.SCHEDULE)
    assert listed[0] == touched, "the contact updated last is scanned first"


def test_a_location_that_used_its_whole_budget_defers_the_scan_but_not_manual_runs(
    notes: tuple[World, Mapping],
) -> None:
    world, mapping = notes
    set_credit(mapping, 10)
    # (remaining 0: written at once, whatever the per-process throttle of these records)
    ratelimit.record_daily_budget(f"ghl:{world.ghl.location_id}", limit=1000, remaining=0)
    before = ghl_requests()
    deferred, listed = listed_contacts(mapping, SyncRun.Trigger.SCHEDULE)
    assert listed == []
    assert ghl_requests() == before
    assert "whole daily budget of 250" in deferred.note

    manual, listed = listed_contacts(mapping, SyncRun.Trigger.MANUAL)
    assert len(listed) >= 45, "Sync now is never deferred"
    assert manual.scan_done == len(listed)


def test_a_scan_cut_short_keeps_counting_where_it_stopped(notes: tuple[World, Mapping]) -> None:
    _world, mapping = notes
    SyncCursor.objects.create(mapping=mapping, system="ghl", position={SCAN_REQUESTS_KEY: 0})
    cost = scan_cost(mapping)
    assert cost is not None
    assert cost.in_progress == 0
    assert "A scan is under way" in mapping_scan_summary(mapping=mapping)


def test_contact_mappings_have_no_scan_summary(notes: tuple[World, Mapping]) -> None:
    world, _mapping = notes
    assert mapping_scan_summary(mapping=world.mapping) == ""


def test_a_resumed_scan_costs_only_its_own_pages(notes: tuple[World, Mapping]) -> None:
    """A scan cut short (a cancelled or failed run) resumes where it stopped; it lists no ids of its own for the
    deletion check (that would be a request per contact again): deletions wait for the next complete scan."""
    world, mapping = notes
    execute(mapping, SyncRun.Trigger.MANUAL)  # notes linked: a deletion check would have ids to look for
    first = next(GhlNoteAdapter(world.ghl).iter_changes(cursor={}, since=None, page_size=20))
    assert first.has_more
    SyncCursor.objects.filter(mapping=mapping, system="ghl").update(
        position=first.next_cursor, deletions_checked_at=None
    )

    before = ghl_requests()
    execute(mapping, SyncRun.Trigger.MANUAL)
    spent = ghl_requests() - before

    cost = scan_cost(mapping)
    assert cost is not None
    assert cost.requests is not None
    assert spent == cost.requests
    assert cost.requests < math.ceil(len(sandbox_contacts("ghl")) / 20) + len(sandbox_contacts("ghl"))


def test_tasks_are_listed_in_full_at_most_once_per_interval_but_a_manual_run_always_lists(
    live_server: Any, settings: Any
) -> None:
    world = build_world(live_server.url, direction=Direction.BOTH, size=30)
    sandbox_seed_demo_children(ghl_location_id=LOCATION, streettext_api_key=ST_KEY)
    execute(world.mapping, SyncRun.Trigger.MANUAL)
    (tasks,) = preset_create(key="task_orchestration", ghl=world.ghl, streettext=world.streettext)[:1]
    first = execute(tasks, SyncRun.Trigger.SCHEDULE)
    assert first.processed > 0
    assert "next due at" in mapping_scan_summary(mapping=tasks)

    before = ghl_requests()
    quiet = execute(tasks, SyncRun.Trigger.SCHEDULE)
    assert ghl_requests() == before, "no GHL request inside the interval"
    assert "next full listing is due" in quiet.note

    before = ghl_requests()
    manual = execute(tasks, SyncRun.Trigger.MANUAL)
    assert ghl_requests() > before
    assert manual.processed > 0
