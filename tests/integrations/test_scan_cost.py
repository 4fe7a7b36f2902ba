"""GHL notes and appointments are listed per contact: the scheduled scan runs at most once per
SYNC_CHILD_RESCAN_HOURS (webhooks keep them fresh in between), a manual run always scans, and the scan's real cost in
GHL requests is kept and shown on the mapping page. Against the sandbox over real HTTP."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.adapters.ghl_related import GhlNoteAdapter
from integrations.models import SyncCursor, SyncRun
from integrations.services import sync
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
    assert "at most once every 24 h" in summary
    page = admin_client.get(reverse("admin:mappings_mapping_change", args=[mapping.pk]))
    assert page.status_code == 200
    assert f"The last scan took {cost.requests:,} requests" in page.content.decode()


def test_a_scheduled_run_scans_at_most_once_per_interval_but_a_manual_run_always_scans(
    notes: tuple[World, Mapping], settings: Any
) -> None:
    _world, mapping = notes
    execute(mapping, SyncRun.Trigger.SCHEDULE)

    before = ghl_requests()
    quiet = execute(mapping, SyncRun.Trigger.SCHEDULE)
    assert ghl_requests() == before, "a scheduled run inside the interval reads no GHL contact"
    assert quiet.processed == 0
    assert "next full scan is due" in quiet.note

    manual = execute(mapping, SyncRun.Trigger.MANUAL)
    assert ghl_requests() - before >= 45
    assert manual.processed > 0

    # Once the interval has passed, a scheduled run scans again.
    cursor = SyncCursor.objects.get(mapping=mapping, system="ghl")
    finished = timezone.now() - timedelta(hours=settings.SYNC_CHILD_RESCAN_HOURS, minutes=1)
    cursor.position = {**cursor.position, SCAN_FINISHED_KEY: finished.isoformat()}
    cursor.save(update_fields=["position"])
    before = ghl_requests()
    again = execute(mapping, SyncRun.Trigger.SCHEDULE)
    assert ghl_requests() - before >= 45
    assert again.processed > 0


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
