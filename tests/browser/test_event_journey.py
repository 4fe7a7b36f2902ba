"""Choosing an event in a real browser: the add page reloads for it, shows sample items read from the account and its
parameters as a form, and saves the automation; every page within 1,400 px."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from automations.models import Automation
from tests.automations.support import build_world, records
from tests.browser.conftest import ADMIN_PASSWORD, WIDTH, log_in, shot, submit

pytestmark = pytest.mark.django_db(transaction=True)


def test_pick_an_event_see_sample_items_from_the_account_and_save(
    page: Any, live_server: Any, admin_user: Any, page_errors: list[str], settings: Any
) -> None:
    settings.SANDBOX_RATE_LIMIT = 10_000
    world = build_world(live_server.url, size=10)
    log_in(page, "admin", ADMIN_PASSWORD)
    page.goto(reverse("admin:automations_automation_add"))
    page.fill("#id_name", "Won deals")
    page.select_option("#id_ghl_connection", label=str(world.ghl))
    # Choosing the event reloads the page for it, keeping what was typed above.
    with page.expect_navigation():
        page.select_option("#id_event", label="Contact updated")
    assert "event=ghl.contact.updated" in page.url
    assert page.input_value("#id_name") == "Won deals"

    sample = page.locator("#ss-event-sample-table tr.ss-sample-item")
    sample.first.wait_for()
    assert sample.count() == 3
    ids = {c["id"] for c in records("ghl", "contact")}
    shown = page.locator("#ss-event-sample-table").inner_text()
    assert any(contact_id in shown for contact_id in ids)
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    shot(page, "automation-event-sample")

    # Another event: its parameters appear as fields built from the spec.
    with page.expect_navigation():
        page.select_option("#id_event", label="Opportunity won")
    assert page.locator("select[name='tp-status']").count() == 1
    # The pipeline from a list read from the account (the catalog's picker), or typed.
    assert page.locator("select[data-picker-for='tp-pipeline_id']").count() == 1
    page.fill("input[name='tp-pipeline_id']", "pipe-1")
    # No opportunity in this account: the sample says so and still names the fields the condition can use.
    note = page.locator("#ss-event-sample-note")
    page.wait_for_function("!document.getElementById('ss-event-sample-note').textContent.startsWith('Reading')")
    assert "no item for this event yet" in note.inner_text()
    assert "pipelineStageId" in note.inner_text()
    # What the event means is shown before saving: updated items too, only when the condition starts to hold.
    assert page.is_checked("#id_on_updated")
    assert page.is_checked("#id_filter_entered")
    shot(page, "automation-event-params")
    submit(page, page.locator("input[name='_save']"))
    automation = Automation.objects.get()
    assert (automation.event, automation.trigger_key) == ("ghl.opportunity.won", "search-opportunities")
    assert automation.trigger_params["pipeline_id"] == "pipe-1"
    assert page_errors == []
