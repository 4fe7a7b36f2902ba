"""Journeys in a real browser: build a mapping with the pickers (a GoHighLevel custom field chosen by its name),
preview it and sync it; find one contact by its email and sync just that contact again."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.cache import cache
from django.urls import reverse

from integrations.models import RecordHistory, RecordLink, SyncRun
from integrations.services import sync
from mappings.models import Direction, FieldMapping, Mapping
from mappings.services import mapping_delete
from sandbox.models import SandboxRecord
from tests.browser.conftest import ADMIN_PASSWORD, log_in, messages, shot, submit
from tests.conftest import wait_for
from tests.integrations.support import build_world, wait_finished

pytestmark = pytest.mark.django_db(transaction=True)


def _cell(page: Any, row: int, field: str) -> Any:
    return page.locator(f"#field_mappings-{row} td.field-{field}")


@pytest.mark.worker
def test_build_a_mapping_with_pickers_including_a_custom_field_by_name_preview_and_sync(
    page: Any, live_server: Any, admin_user: Any, worker: Any, page_errors: list[str], settings: Any
) -> None:
    settings.SANDBOX_RATE_LIMIT = 10_000
    cache.clear()
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT, size=60)
    mapping_delete(mapping=world.mapping)
    log_in(page, "admin", ADMIN_PASSWORD)

    page.goto(reverse("admin:mappings_mapping_add"))
    page.fill("#id_name", "Budgets to StreetText")
    page.select_option("#id_ghl_connection", label=str(world.ghl))
    page.select_option("#id_streettext_connection", label=str(world.streettext))
    page.select_option("#id_direction", "to_streettext")
    # The GHL connection's custom fields arrive by name once it is chosen.
    budget = _cell(page, 1, "source")
    page.locator(".ss-field-mappings .add-row a").click()
    wait_for(
        lambda: page.locator("#field_mappings-1 td.field-source select.ss-picker option", has_text="Budget").count()
    )

    # Row 1: email ← email, through "trim" then "lower" picked in the step editor.
    _cell(page, 0, "target_field").locator("select.ss-picker").select_option(label="Email")
    _cell(page, 0, "source").locator("select.ss-picker").select_option(label="Email")
    _cell(page, 0, "transforms").get_by_role("button", name="Edit").click()
    dialog = page.locator("#ss-chain-dialog")
    dialog.locator("select.ss-add-step").select_option("trim")
    dialog.locator("select.ss-add-step").select_option("lower")
    assert "Lower-case text." in dialog.inner_text()  # each transform says what it does
    dialog.get_by_role("button", name="Done").click()
    assert _cell(page, 0, "transforms").locator(".ss-chain-summary").inner_text() == "trim → lower"
    # Row 2: a new StreetText key typed once, filled from the GHL custom field picked by its name.
    _cell(page, 1, "target_field").locator("select.ss-picker").select_option(label="Other: type a name…")
    _cell(page, 1, "target_field").locator("input").fill("custom.budget")
    budget.locator("select.ss-picker").select_option(label="Budget")
    # Only contacts with an email.
    filter_editor = page.locator("[data-ss-editor=filter]")
    filter_editor.get_by_role("button", name="+ Add a condition").click()
    filter_editor.locator("select.ss-picker").first.select_option(label="Email")
    filter_editor.locator("select.ss-op").select_option("exists")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400
    shot(page, "20-mapping-built-with-pickers")
    submit(page, page.get_by_role("button", name="Save and continue editing"))

    if not any("was added successfully" in m for m in messages(page)):
        shot(page, "20-error")
        errors = page.locator(".errorlist, .errornote").all_inner_texts()
        raise AssertionError(errors)
    mapping = Mapping.objects.get(name="Budgets to StreetText")
    rows = {fm.target_field: fm for fm in FieldMapping.objects.filter(mapping=mapping)}
    assert rows["email"].transforms == [{"name": "trim", "params": {}}, {"name": "lower", "params": {}}]
    assert (rows["custom.budget"].source, rows["custom.budget"].source_label) == ("customFields.cf_budget", "Budget")
    assert mapping.record_filter == {"field": "email", "op": "exists"}
    # Back on the page, the stored id shows as its name.
    assert _cell(page, 1, "source").locator("select.ss-picker option:checked").inner_text() == "Budget"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400

    page.get_by_role("link", name="Preview").click()
    preview = page.locator("#preview")
    assert "custom.budget" in preview.inner_text()
    assert "Source field: Budget" in preview.inner_text()  # the GHL custom field by its name, not its id
    shot(page, "21-mapping-preview")

    page.goto(reverse("admin:mappings_mapping_change", args=[mapping.pk]))
    page.get_by_role("button", name="Sync now").click()
    page.wait_for_url(re.compile(r".*/syncrun/\d+/change/$"))
    run = wait_finished(SyncRun.objects.get(mapping=mapping))
    assert run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL), run.error
    # The run page reloads itself once the run has ended: the journey ends on that final page, not mid-reload.
    page.wait_for_selector("#ss-run:not([data-progress-url])", timeout=30_000)
    written = [
        r.data["custom"]["budget"]
        for r in SandboxRecord.objects.filter(account__system="streettext", object_type="contact", deleted=False)
        if (r.data.get("custom") or {}).get("budget") is not None
    ]
    assert written  # the demo contacts with a Budget in GHL carry it in StreetText now
    assert page_errors == []


@pytest.mark.worker
def test_find_one_contact_by_email_and_sync_it_again(
    page: Any, live_server: Any, admin_user: Any, worker: Any, page_errors: list[str], settings: Any
) -> None:
    settings.SANDBOX_RATE_LIMIT = 10_000
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT, size=40)
    first = SyncRun.objects.create(mapping=world.mapping, trigger=SyncRun.Trigger.MANUAL)
    sync.sync_run_execute(run_id=first.pk)
    link = RecordLink.objects.exclude(email="").exclude(label="").order_by("pk").first()
    assert link is not None
    log_in(page, "admin", ADMIN_PASSWORD)

    # From the record history, "Find a record", by the email in capitals: straight to that one record.
    page.goto(reverse("admin:integrations_recordhistory_changelist"))
    page.get_by_role("link", name="Find a record").click()
    page.get_by_label("Find a record").fill(link.email.upper())
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r".*/records/ghl/\?id=.*"))
    assert page.locator("h1").inner_text().startswith(link.label)
    pair = page.locator("#ss-pair").inner_text()
    assert link.ghl_id in pair
    assert link.streettext_id in pair
    assert link.email in pair
    assert page.locator("#ss-timeline tbody tr").count() >= 1
    shot(page, "22-record-page")

    # The contact is fixed in GoHighLevel; this one contact is synced again, nothing else.
    contact = SandboxRecord.objects.get(account__system="ghl", object_type="contact", record_id=link.ghl_id)
    contact.data = {**contact.data, "lastName": "Fixed-Lastname"}
    contact.save()
    submit(page, page.get_by_role("button", name="Sync this record now"))
    assert any("queued for this record" in m for m in messages(page)), messages(page)
    run = SyncRun.objects.exclude(pk=first.pk).get()
    assert run.only_ids == {"ghl": [link.ghl_id]}
    wait_finished(run)

    page.reload()
    newest = page.locator("#ss-timeline tbody tr").first
    assert f"#{run.pk}" in newest.inner_text()
    assert "Updated" in newest.inner_text()
    assert "Fixed-Lastname" in newest.inner_text()
    assert list(RecordHistory.objects.filter(run=run).values_list("ghl_id", flat=True)) == [link.ghl_id]
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400
    shot(page, "23-record-synced-again")
    assert page_errors == []
