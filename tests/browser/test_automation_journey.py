"""An automation in a real browser: create it from a preset, look at an action's fields with the pickers, Test
trigger on a real item, Run now through the worker, and read the items history; every page within 1,400 px."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from automations.models import Automation, AutomationItem
from integrations.catalog.services import catalog_execute
from tests.automations.support import build_world, records
from tests.browser.conftest import ADMIN_PASSWORD, WIDTH, log_in, messages, shot, submit
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
CALENDAR = "calJourney0000000001"


def _fits(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH, page.url


@pytest.mark.worker
def test_create_from_a_preset_test_the_trigger_run_it_and_read_the_items_history(
    page: Any, live_server: Any, admin_user: Any, worker: Any, page_errors: list[str], settings: Any
) -> None:
    settings.SANDBOX_RATE_LIMIT = 10_000
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000
    world = build_world(live_server.url, size=20)
    log_in(page, "admin", ADMIN_PASSWORD)

    # Automations → Add from a preset → New appointment → StreetText note.
    page.goto(reverse("admin:automations_automation_changelist"))
    page.get_by_role("link", name="Add from a preset").click()
    _fits(page)
    shot(page, "automation-presets")
    page.locator("a[data-preset='new_appointment_note']").click()
    page.select_option("#id_ghl_connection", label=str(world.ghl))
    page.select_option("#id_streettext_connection", label=str(world.streettext))
    page.fill("#id_input_calendar_id", CALENDAR)
    submit(page, page.get_by_role("button", name="Create"))
    automation = Automation.objects.get()
    assert any("Created “New appointment → StreetText note”" in m for m in messages(page))
    assert page.url.endswith(reverse("admin:automations_automation_change", args=[automation.pk]))
    _fits(page)
    shot(page, "automation-page")

    # Two appointments booked after the automation's start.
    contacts = [c for c in records("ghl", "contact") if c.get("email")][:2]
    for n, contact in enumerate(contacts):
        start = timezone.now() + timedelta(days=n + 1)
        booked = catalog_execute(
            connection=world.ghl,
            key="create-appointment",
            body={
                "calendarId": CALENDAR,
                "contactId": contact["id"],
                "startTime": start.isoformat(),
                "title": f"Visit {n}",
            },
            log=False,
        )
        assert booked.ok, booked.messages

    # The action's fields: its targets and the trigger item's fields offered as lists.
    page.locator("td.field-fields_link a").first.click()
    target = page.locator("#field_mappings-0 td.field-target_field select.ss-picker")
    assert target.input_value() == "ghl_contact_id"
    source_options = page.locator("#field_mappings-0 td.field-source select.ss-picker option").all_inner_texts()
    assert "contactId" in source_options
    assert "new or updated" in source_options  # trigger.change
    _fits(page)
    shot(page, "automation-action-fields")
    page.locator(".breadcrumbs").get_by_role("link", name=automation.name).click()

    # Test trigger: a real appointment and the note it would make; nothing written.
    page.locator("#ss-test-trigger").click()
    assert "Sample item" in page.locator("#ss-test-item").inner_text()
    rows = page.locator("table.ss-test-action tr").all_inner_texts()
    assert any(row.startswith("title") and "Appointment: Visit" in row for row in rows), rows
    assert "Would run" in page.locator("#ss-test-verdict").inner_text()
    assert not AutomationItem.objects.exists()
    _fits(page)
    shot(page, "automation-test-trigger")
    page.get_by_role("link", name="Back to the automation").click()

    # Run now: the poll's page follows it to the end (it reloads itself), then the items history.
    submit(page, page.locator("#ss-run-now"))
    wait_for(
        lambda: "Succeeded" in page.locator("div.field-status_badge").inner_text(),
        timeout=90,
        interval=1,
        message="the poll did not succeed",
    )
    _fits(page)
    shot(page, "automation-poll")
    submit(page, page.get_by_role("link", name="The items this poll recorded"))
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2
    for row in rows.all():
        assert row.locator("td.field-change_badge").inner_text() == "New"
        assert row.locator("td.field-status_badge").inner_text().startswith("Done")
        assert "Note the appointment note_" in row.locator("td.field-actions_column").inner_text()
    _fits(page)
    shot(page, "automation-items-history")
    page.locator("#result_list tbody tr th.field-when a").first.click()
    assert "Done" in page.locator("#ss-item-actions").inner_text()
    assert "note_" in page.locator("#ss-item-actions").inner_text()
    _fits(page)
    shot(page, "automation-item")
    notes = records("streettext", "note")
    assert sorted(n["title"] for n in notes) == ["Appointment: Visit 0", "Appointment: Visit 1"]
    # On StreetText contacts found by email (or created for them).
    assert {n["contact_id"] for n in notes} <= {c["id"] for c in records("streettext", "contact")}
    # The lists fit too.
    for url in (
        reverse("admin:automations_automation_changelist"),
        reverse("admin:automations_automationpoll_changelist"),
        reverse("admin:index"),
    ):
        page.goto(url)
        _fits(page)
    shot(page, "automation-start-page")
    assert "New appointment → StreetText note" in page.locator("#ss-automations").inner_text()
    assert page_errors == []
