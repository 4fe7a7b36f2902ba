"""A GHL location's daily budget (integrations/services/budget.py): the scans' pacing over a day keeps within their
share, every contact is scanned at least once per the cycle shown, deletion checks slow down at scale, and the
budget setting refuses bad input. No HTTP: the figures are computed from the database."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse

from integrations import ratelimit
from integrations.models import Connection, SyncCursor, System
from integrations.services import budget
from mappings.models import Direction, Mapping

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
def ghl() -> Connection:
    connection = Connection(
        name="GHL",
        system=System.GHL,
        base_url="https://services.leadconnectorhq.com",
        location_id="loc-budget",
        auth_type=Connection.AuthType.PRIVATE_TOKEN,
    )
    connection.api_secret = "pit-x"
    connection.save()
    return connection


@pytest.fixture
def streettext() -> Connection:
    connection = Connection(
        name="ST", system=System.STREETTEXT, base_url="https://api.example.com", auth_type=Connection.AuthType.API_KEY
    )
    connection.api_secret = "st-x"
    connection.save()
    return connection


def mapping(ghl: Connection, streettext: Connection, object_type: str, **options: Any) -> Mapping:
    return Mapping.objects.create(
        name=f"{object_type} {options.get('direction', 'to_streettext')}",
        ghl_connection=ghl,
        streettext_connection=streettext,
        object_type=object_type,
        direction=options.pop("direction", Direction.TO_STREETTEXT),
        schedule_minutes=15,
        **options,
    )


def simulate_day(m: Mapping, *, contacts: int, runs: int, start: datetime, position: dict[str, Any]) -> int:
    """Scheduled runs every 24 h / runs over one day, each scanning what its slice allows; returns contacts read."""
    read = 0
    for i in range(runs):
        now = start + timedelta(days=1) * i / runs
        allowed = budget.scan_slice(m, position, now=now)
        done = allowed.contacts
        left = contacts - int(position.get(budget.PASS_DONE_KEY) or 0)
        ended = done >= left
        done = min(done, left)
        position.update(
            budget.scan_position_after(
                position, credit=allowed.credit, scanned=done, contacts=contacts, now=now, pass_ended=ended
            )
        )
        read += done
    return read


@pytest.mark.parametrize("contacts", [45, 10_000, 100_000])
def test_a_days_scans_keep_within_their_share_and_cover_every_contact_in_the_cycle_shown(
    ghl: Connection, streettext: Connection, settings: Any, contacts: int
) -> None:
    settings.SYNC_PAGE_SIZE = 100
    notes = mapping(ghl, streettext, "note")
    mapping(ghl, streettext, "appointment")
    position: dict[str, Any] = {budget.CONTACTS_KEY: contacts}
    # A day to reach the steady state (the first run's credit), then the day that is measured.
    simulate_day(notes, contacts=contacts, runs=96, start=NOON - timedelta(days=1), position=position)
    read = simulate_day(notes, contacts=contacts, runs=96, start=NOON, position=position)

    share = budget.budget_requests(ghl, settings.GHL_DAILY_LIMIT) * settings.GHL_BUDGET_SCAN_SHARE / 2
    assert read * budget.request_per_contact() <= share + settings.SYNC_PAGE_SIZE, "within the scan's share"
    assert read <= contacts * 24 / settings.SYNC_CHILD_RESCAN_HOURS + 1, "no more than one pass a day"
    SyncCursor.objects.create(mapping=notes, system=System.GHL, position=position)
    (plan,) = [p for p in budget.location_budget(ghl, now=NOON).scans if p.mapping == notes]
    assert plan.cycle_days is not None
    assert read * plan.cycle_days >= contacts - 1, "every contact at least once per the cycle shown"
    if contacts == 100_000:
        assert plan.cycle_days == 7
        assert "full cycle every 7 days" in plan.summary


def test_a_location_over_its_budget_defers_scans(ghl: Connection, streettext: Connection) -> None:
    notes = mapping(ghl, streettext, "note")
    key = budget.rate_limit_key(ghl)
    ratelimit.record_daily_budget(key, limit=200_000, remaining=200_000 - 50_000)
    now = datetime.now(tz=UTC)
    assert budget.scan_slice(notes, {}, now=now).contacts == 0
    assert "whole daily budget of 50,000" in budget.scan_slice(notes, {}, now=now).deferred
    # The same use under a larger share leaves room.
    ghl.daily_budget_percent = 30
    ghl.save()
    notes.refresh_from_db()
    assert budget.scan_slice(notes, {}, now=now).contacts > 0


def test_usage_of_an_earlier_day_counts_as_nothing_today(ghl: Connection) -> None:
    ratelimit.record_daily_budget(budget.rate_limit_key(ghl), limit=200_000, remaining=100_000)
    later = datetime.now(tz=UTC) + timedelta(days=1)
    assert budget.usage_today(ghl, now=later).used == 0
    assert budget.usage_today(ghl).used == 100_000


def test_deletion_checks_of_a_large_location_slow_down_to_fit_the_budget(
    ghl: Connection, streettext: Connection, settings: Any
) -> None:
    contacts = mapping(ghl, streettext, "contact", direction=Direction.BOTH)
    small = budget.deletion_check_minutes(contacts, linked=10_000, per_request=500)
    large = budget.deletion_check_minutes(contacts, linked=100_000, per_request=500)
    assert small < 15, "a small location checks on every 15-minute run as before"
    # 100k contacts: 200 requests a check; 10 % of 50,000 a day pays for 25 checks.
    assert large == pytest.approx(1440 / 25)
    checks = 1440 / large
    assert checks * math.ceil(100_000 / 500) <= 50_000 * settings.GHL_BUDGET_DELETION_SHARE + 1


def test_start_page_shows_the_budget_and_the_scan_plan(
    ghl: Connection, streettext: Connection, admin_client: Any
) -> None:
    notes = mapping(ghl, streettext, "note")
    SyncCursor.objects.create(
        mapping=notes,
        system=System.GHL,
        position={
            budget.CONTACTS_KEY: 100_000,
            budget.DAY_KEY: datetime.now(tz=UTC).date().isoformat(),
            budget.DAY_DONE_KEY: 12_400,
        },
    )
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "Budget 50,000 requests a day (25 % of 200,000)" in page
    assert "12,400 of 100,000 contacts today" in page
    assert "full cycle every 4 days" in page


@pytest.mark.parametrize("value", ["0", "101", "-5", "lots"])
def test_the_budget_setting_refuses_bad_input(ghl: Connection, admin_client: Any, value: str) -> None:
    url = reverse("admin:integrations_connection_change", args=[ghl.pk])
    data = {
        "name": ghl.name,
        "system": ghl.system,
        "base_url": ghl.base_url,
        "location_id": ghl.location_id,
        "auth_type": ghl.auth_type,
        "daily_budget_percent": value,
    }
    response = admin_client.post(url, data)
    assert response.status_code == 200, "the form again, with its error"
    assert "daily_budget_percent" in response.context["adminform"].form.errors
    ghl.refresh_from_db()
    assert ghl.daily_budget_percent == 25


def test_the_budget_setting_is_saved(ghl: Connection, admin_client: Any) -> None:
    url = reverse("admin:integrations_connection_change", args=[ghl.pk])
    data = {
        "name": ghl.name,
        "system": ghl.system,
        "base_url": ghl.base_url,
        "location_id": ghl.location_id,
        "auth_type": ghl.auth_type,
        "daily_budget_percent": "40",
    }
    with pytest.MonkeyPatch.context() as patch:
        # The save tests the connection over HTTP once committed: not this test's subject.
        patch.setattr("integrations.admin.ConnectionAdmin._test_after_save", lambda *a: None)
        response = admin_client.post(url, data)
    assert response.status_code == 302
    ghl.refresh_from_db()
    assert ghl.daily_budget_percent == 40


def test_the_deletion_check_of_a_ghl_source_waits_as_long_as_the_budget_needs(
    ghl: Connection, streettext: Connection, settings: Any
) -> None:
    """A contacts mapping that asks for a check on every run (0 minutes) gets one only as often as the budget pays."""
    from integrations.models import RecordLink, SyncRun
    from integrations.services.sync import deletions
    from integrations.services.sync.context import LegContext, RunState

    settings.GHL_DAILY_LIMIT = 1_000  # budget 250; deletion share 25 a day; 600 links: 2 requests a check → 12.5
    contacts = mapping(ghl, streettext, "contact", direction=Direction.TO_STREETTEXT, deletion_check_minutes=0)
    RecordLink.objects.bulk_create(
        RecordLink(
            ghl_connection=ghl,
            streettext_connection=streettext,
            object_type="contact",
            ghl_id=f"g{n}",
            streettext_id=f"s{n}",
        )
        for n in range(600)
    )
    run = SyncRun.objects.create(mapping=contacts, trigger=SyncRun.Trigger.SCHEDULE)
    ctx = LegContext(state=RunState(run=run), mapping=contacts, direction=Direction.TO_STREETTEXT)
    cursor = SyncCursor.objects.create(mapping=contacts, system=System.GHL)
    assert deletions.check_due(ctx, cursor), "never checked: due"
    cursor.deletions_checked_at = datetime.now(tz=UTC) - timedelta(minutes=100)
    assert not deletions.check_due(ctx, cursor), "1,440 / 12.5 = 115 minutes between checks"
    cursor.deletions_checked_at = datetime.now(tz=UTC) - timedelta(minutes=116)
    assert deletions.check_due(ctx, cursor)


def test_a_notes_run_shows_its_percentage_while_it_runs(
    ghl: Connection, streettext: Connection, admin_client: Any
) -> None:
    """The run page's percentage of a per-contact scan: contacts scanned of those the run reads."""
    from integrations.models import SyncRun
    from integrations.selectors import sync_run_progress

    notes = mapping(ghl, streettext, "note")
    run = SyncRun.objects.create(
        mapping=notes, trigger=SyncRun.Trigger.SCHEDULE, status=SyncRun.Status.RUNNING, scan_done=300, scan_total=1200
    )
    progress = sync_run_progress(run=run)
    assert progress.percent == 25
    assert progress.scan_display == "300 of 1,200"
    answer = admin_client.get(reverse("admin:integrations_syncrun_progress", args=[run.pk])).json()
    assert (answer["percent"], answer["contacts"]) == (25, "300 of 1,200")


def test_automation_polls_of_the_location_are_reported(ghl: Connection) -> None:
    """Read-only: the pages today's polls of automations on this location read (one GHL request each)."""
    from automations.models import Automation, AutomationPoll

    automation = Automation.objects.create(name="Won deals", ghl_connection=ghl, trigger_key="search-opportunities")
    done = AutomationPoll.Status.SUCCEEDED
    AutomationPoll.objects.create(automation=automation, trigger=AutomationPoll.Trigger.SCHEDULE, status=done, pages=12)
    AutomationPoll.objects.create(
        automation=automation,
        trigger=AutomationPoll.Trigger.SCHEDULE,
        status=done,
        pages=500,
        created_at=datetime.now(tz=UTC) - timedelta(days=2),
    )
    assert budget.location_budget(ghl).poll_pages_today == 12
    assert "automation polls read 12 pages" in budget.location_budget(ghl).line
