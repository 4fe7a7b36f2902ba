"""The start page's alert inbox in a browser at 1,400 px: alerts grouped by cause, one acknowledged by a person
leaves the inbox and the list keeps who and when."""

from __future__ import annotations

from typing import Any

from alerts.models import Alert, AlertSettings
from automations.models import Automation, AutomationPoll
from automations.services.polls import automation_poll_finish
from integrations.models import Connection, RecordHistory, SyncRun
from integrations.services.runs import sync_run_finish
from mappings.models import Mapping
from tests.browser.conftest import ADMIN_PASSWORD, log_in, messages, shot, submit


def _failing_run(mapping: Mapping, causes: dict[str, int]) -> None:
    run = SyncRun.objects.create(mapping=mapping, trigger="schedule", status="running", updated=3)
    rows = [
        RecordHistory(
            run=run,
            mapping=mapping,
            direction="ghl_to_streettext",
            action="failed",
            email=f"person{n}@example.com",
            error=f"StreetText rejected the record (422): {cause} (“{n:05d}”)",
        )
        for cause, count in causes.items()
        for n in range(count)
    ]
    RecordHistory.objects.bulk_create(rows)
    SyncRun.objects.filter(pk=run.pk).update(failed=len(rows))
    sync_run_finish(run=run)


def test_acknowledge_an_alert_on_the_start_page(page: Any, admin_user: Any, page_errors: list[str]) -> None:
    AlertSettings.objects.update_or_create(pk=1, defaults={"email_enabled": False})
    ghl = Connection.objects.create(name="G", system="ghl", base_url="http://x", location_id="l", auth_type="pit")
    st = Connection.objects.create(name="S", system="streettext", base_url="http://x", auth_type="api_key")
    mapping = Mapping.objects.create(name="Contacts both ways", ghl_connection=ghl, streettext_connection=st)
    for _ in range(3):
        _failing_run(mapping, {"phone: invalid": 12, "email: already taken": 3})
    automation = Automation.objects.create(name="New appointment → note", ghl_connection=ghl, schedule_minutes=0)
    for _ in range(3):
        poll = AutomationPoll.objects.create(automation=automation, trigger="schedule", status="running")
        automation_poll_finish(poll=poll, error="Reading the trigger failed: GoHighLevel refused the token (401)")
    assert Alert.objects.filter(status="open").count() == 3

    log_in(page, "admin", ADMIN_PASSWORD)
    inbox = page.locator("#ss-alerts-inbox tbody tr")
    assert inbox.count() == 3
    assert "12 records keep failing with" in page.locator("#ss-alerts").inner_text()
    shot(page, "alerts-inbox")

    phone = Alert.objects.get(cause__contains="phone: invalid")
    row = page.locator(f'#ss-alerts-inbox tr[data-alert="{phone.pk}"]')
    submit(page, row.get_by_role("button", name="Acknowledge"))
    assert messages(page) == ["Acknowledged 1 alert(s)."]
    assert page.locator(f'#ss-alerts-inbox tr[data-alert="{phone.pk}"]').count() == 0
    assert page.locator("#ss-alerts-inbox tbody tr").count() == 2
    assert "1 acknowledged alert still open" in page.locator("#ss-alerts").inner_text()
    shot(page, "alerts-inbox-acknowledged")

    phone.refresh_from_db()
    assert phone.acknowledged_by == admin_user
    assert phone.acknowledged_at is not None
    page.get_by_role("link", name="All alerts").click()
    listing = page.locator("#result_list").inner_text()
    assert "admin," in listing  # who acknowledged, with when
    shot(page, "alerts-list")
    assert page_errors == []
