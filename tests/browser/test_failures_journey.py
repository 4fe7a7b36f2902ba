"""The start page's failures by cause and the record page, as a person sees them at 1,400 px."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from integrations.models import Connection, MappingRecordState, RecordHistory, RecordLink, SyncRun
from integrations.services.sync.outcomes import REASON_PARENT_FAILED
from mappings.models import Mapping
from mappings.transforms import MSG_INVALID_PHONE
from tests.browser.conftest import ADMIN_PASSWORD, log_in, shot


def _phone_error(value: str) -> str:
    return "phone: " + MSG_INVALID_PHONE.format(value=value, region="US")


def test_failures_by_cause_and_the_record_page_read_well(page: Any, admin_user: Any, page_errors: list[str]) -> None:
    ghl = Connection.objects.create(
        name="Acme GHL", system="ghl", base_url="https://ghl.invalid", location_id="loc", auth_type="pit"
    )
    st = Connection.objects.create(
        name="Acme StreetText", system="streettext", base_url="https://st.invalid", auth_type="api_key"
    )
    contacts = Mapping.objects.create(
        name="Contacts both ways", ghl_connection=ghl, streettext_connection=st, object_type="contact"
    )
    notes = Mapping.objects.create(
        name="Idea · Automated follow-ups from notes", ghl_connection=ghl, streettext_connection=st, object_type="note"
    )
    for number in range(3):
        run = SyncRun.objects.create(mapping=contacts, trigger="schedule", status="partial", processed=300, failed=1)
        RecordHistory.objects.create(
            run=run, mapping=contacts, direction="to_streettext", action="failed", ghl_id="g-1", streettext_id="s-1",
            email="ann@example.com", error=_phone_error(f"+1 555 01{number}"),
        )  # fmt: skip
    for number in range(6):
        run = SyncRun.objects.create(mapping=notes, trigger="schedule", status="partial", processed=4, failed=1)
        RecordHistory.objects.create(
            run=run, mapping=notes, direction="to_streettext", action="failed", ghl_id=f"g-1/n-{number}",
            error=REASON_PARENT_FAILED.format(parent="contact", parent_id="g-1", why=_phone_error("+1 555 010")),
        )  # fmt: skip
    healthy = SyncRun.objects.create(mapping=contacts, trigger="schedule", status="succeeded", processed=300)
    retry = SyncRun.objects.create(
        mapping=contacts, trigger="rerun", scope="ids", status="failed", failed=1, only_ids={"ghl": ["g-1"]}
    )
    link = RecordLink.objects.create(
        ghl_connection=ghl, streettext_connection=st, object_type="contact", ghl_id="g-1", streettext_id="s-1",
        label="Ann Lee", email="ann@example.com",
    )  # fmt: skip
    MappingRecordState.objects.create(mapping=contacts, link=link)

    log_in(page, "admin", ADMIN_PASSWORD)
    rows = page.locator("#ss-failures tbody tr")
    assert rows.count() == 2
    newest = rows.nth(0).inner_text()
    assert "6" in newest
    assert "its contact could not be synced first" in newest
    start_mapping = page.locator(f'a[href="{reverse("admin:integrations_syncrun_change", args=[healthy.pk])}"]')
    assert start_mapping.count() >= 1  # the contacts mapping shows its scheduled run, not the failed retry
    assert page.locator(f'a[href="{reverse("admin:integrations_syncrun_change", args=[retry.pk])}"]').count() <= 1
    wide = page.evaluate("document.documentElement.scrollWidth")
    page.locator("#ss-failures").scroll_into_view_if_needed()
    shot(page, "start-failures-by-cause")

    page.goto(reverse("admin:record", args=["ghl"]) + "?id=g-1")
    timeline = page.locator("#ss-timeline tbody tr")
    assert timeline.count() == 3  # the contact's own rows only
    shot(page, "record-page-own-rows")
    assert wide <= 1400
    assert page_errors == []
