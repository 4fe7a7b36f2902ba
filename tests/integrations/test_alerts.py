"""Alerts: one email per incident to the admins, and paused mappings while a connection needs re-auth."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.models import Connection, SyncRun
from integrations.services.connections import connection_needs_reauth, connection_set_secret
from integrations.services.runs import SyncRequestRefused, sync_run_finish, sync_run_request
from mappings.models import Mapping
from tests.alerts.support import alert_tasks  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mapping(settings: Any) -> Mapping:
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.ALERT_FAILED_RUNS = 3
    ghl = Connection.objects.create(name="G", system="ghl", base_url="http://x", location_id="l", auth_type="pit")
    st = Connection.objects.create(name="S", system="streettext", base_url="http://x", auth_type="api_key")
    return Mapping.objects.create(name="Contacts", ghl_connection=ghl, streettext_connection=st)


def test_needs_reauth_emails_once_and_pauses_the_mappings(mapping: Mapping, mailoutbox: list[Any]) -> None:
    connection = mapping.ghl_connection
    connection_needs_reauth(connection=connection, detail="GoHighLevel rejected the credentials (401) Bearer abc123")
    connection_needs_reauth(connection=connection, detail="again")
    assert len(mailoutbox) == 1
    assert "needs re-authentication" in mailoutbox[0].subject
    assert mailoutbox[0].to == ["ops@example.com"]
    assert "abc123" not in mailoutbox[0].body

    mapping.refresh_from_db()
    with pytest.raises(SyncRequestRefused, match="needs re-authentication"):
        sync_run_request(mapping=mapping, trigger=SyncRun.Trigger.SCHEDULE)

    # A new token un-pauses; a later failure is a new incident with its own email.
    connection.refresh_from_db()
    connection_set_secret(connection=connection, secret="new-token")
    connection.save()
    mapping.refresh_from_db()
    sync_run_request(mapping=mapping, trigger=SyncRun.Trigger.MANUAL)
    connection_needs_reauth(connection=connection, detail="rejected again")
    assert len(mailoutbox) == 2


@pytest.mark.usefixtures("alert_tasks")
def test_failing_runs_alert_once_per_streak(mapping: Mapping, mailoutbox: list[Any]) -> None:
    def failed_run() -> None:
        run = SyncRun.objects.create(mapping=mapping, trigger="schedule", status="running")
        sync_run_finish(run=run, error="StreetText server error (503)")

    failed_run()
    failed_run()
    assert mailoutbox == []
    failed_run()
    assert len(mailoutbox) == 1
    assert "3 runs in a row failed" in mailoutbox[0].subject
    failed_run()
    failed_run()
    assert len(mailoutbox) == 1
    ok = SyncRun.objects.create(mapping=mapping, trigger="schedule", status="running")
    sync_run_finish(run=ok)
    for _ in range(3):
        failed_run()
    assert len(mailoutbox) == 2
