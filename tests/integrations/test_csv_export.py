"""CSV export of the record history (and its failures), automation items and the catalog's execution log: the rows
the list shows with its filters and search, streamed, spreadsheet-safe, for whoever may view the list."""

from __future__ import annotations

import csv
import io
import tracemalloc
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse

from automations.models import Automation, AutomationItem
from integrations.admin_export import csv_cell
from integrations.catalog.models import CatalogExecution
from integrations.models import Connection, RecordHistory, SyncRun
from integrations.services.roles import roles_ensure
from mappings.models import Mapping

pytestmark = pytest.mark.django_db

HISTORY_CSV = "admin:integrations_recordhistory_export_csv"


@pytest.fixture
def run() -> SyncRun:
    ghl = Connection(name="G", system="ghl", base_url="http://x", location_id="l", auth_type="pit")
    ghl.api_secret = "very-secret-pit"
    ghl.save()
    st = Connection.objects.create(name="S", system="streettext", base_url="http://x", auth_type="api_key")
    mapping = Mapping.objects.create(name="Contacts", ghl_connection=ghl, streettext_connection=st)
    return SyncRun.objects.create(mapping=mapping, trigger="manual", status="partial", failed=1, created=2)


def _rows(response: Any) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def _history(run: SyncRun, n: int, *, action: str = "created", error: str = "") -> None:
    RecordHistory.objects.bulk_create(
        RecordHistory(
            run=run,
            mapping=run.mapping,
            direction="to_ghl",
            action=action,
            ghl_id=f"g{i}",
            streettext_id=f"s{i}",
            email=f"p{i}@example.com",
            error=error,
            changes={"firstName": {"before": None, "after": f"P{i}"}},
        )
        for i in range(n)
    )


def test_it_exports_the_history_as_filtered_on_screen(admin_client: Client, run: SyncRun) -> None:
    _history(run, 3, action="created")
    _history(run, 2, action="failed", error="phone: not a valid number")
    response = admin_client.get(reverse(HISTORY_CSV), {"action__exact": "failed"})
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="record-history-' in response["Content-Disposition"]
    rows = _rows(response)
    assert [r["action"] for r in rows] == ["failed", "failed"]
    assert {r["error"] for r in rows} == {"phone: not a valid number"}
    assert rows[0]["mapping"] == "Contacts"
    assert rows[0]["run"] == str(run.pk)
    assert '"after": "P' in rows[0]["changes"]
    # The search box narrows the export too.
    rows = _rows(admin_client.get(reverse(HISTORY_CSV), {"q": "p1@example.com"}))
    assert {r["email"] for r in rows} == {"p1@example.com"}


def test_the_list_links_its_export_with_its_filters(admin_client: Client, run: SyncRun) -> None:
    _history(run, 1)
    page = admin_client.get(reverse("admin:integrations_recordhistory_changelist"), {"action__exact": "failed"})
    assert f'href="{reverse(HISTORY_CSV)}?action__exact=failed"' in page.content.decode()


def test_cells_a_spreadsheet_would_run_stay_text() -> None:
    assert csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert csv_cell("+44 20 7946 0000") == "'+44 20 7946 0000"
    assert csv_cell("@sum") == "'@sum"
    assert csv_cell("plain") == "plain"
    assert csv_cell(None) == ""
    assert csv_cell(True) == "yes"


def test_a_formula_in_a_record_reaches_the_file_as_text(admin_client: Client, run: SyncRun) -> None:
    RecordHistory.objects.create(
        run=run, mapping=run.mapping, direction="to_ghl", action="failed", email="x@example.com", error="=cmd|' /C'"
    )
    rows = _rows(admin_client.get(reverse(HISTORY_CSV)))
    assert rows[0]["error"] == "'=cmd|' /C'"


def test_the_export_is_streamed_in_chunks(admin_client: Client, run: SyncRun) -> None:
    """20,000 rows: memory while reading the response grows far less than the rows would take held at once."""
    _history(run, 20_000)
    tracemalloc.start()
    try:
        response: Any = admin_client.get(reverse(HISTORY_CSV))
        lines = 0
        for chunk in response.streaming_content:
            lines += chunk.count(b"\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == 20_001  # the header and every row
    # Held whole, the rows took 35 MB here; streamed a chunk at a time, about 8 MB (most of it the admin itself).
    assert peak < 16 * 1024 * 1024, peak


def test_a_viewer_may_export_and_a_stranger_may_not(run: SyncRun) -> None:
    _history(run, 1)
    viewer = get_user_model().objects.create_user(username="viewer", password="pw-viewer-123", is_staff=True)
    viewer.groups.add(roles_ensure())
    client = Client()
    client.force_login(viewer)
    assert client.get(reverse(HISTORY_CSV)).status_code == 200
    stranger = get_user_model().objects.create_user(username="nobody", password="pw-nobody-123", is_staff=True)
    client.force_login(stranger)
    assert client.get(reverse(HISTORY_CSV)).status_code == 403


def test_it_exports_automation_items_and_the_execution_log(admin_client: Client, run: SyncRun) -> None:
    automation = Automation.objects.create(name="Won → tag", ghl_connection=run.mapping.ghl_connection)
    AutomationItem.objects.create(automation=automation, item_id="o1", version="1", change="new", status="failed")
    AutomationItem.objects.create(automation=automation, item_id="o2", version="1", change="new", status="done")
    rows = _rows(admin_client.get(reverse("admin:automations_automationitem_export_csv"), {"status__exact": "failed"}))
    assert [(r["automation"], r["item_id"], r["status"]) for r in rows] == [("Won → tag", "o1", "failed")]

    CatalogExecution.objects.create(operation_key="get-contact", operation_name="Get Contact", outcome="ok")
    rows = _rows(admin_client.get(reverse("admin:integrations_catalogexecution_export_csv")))
    assert [r["operation_name"] for r in rows] == ["Get Contact"]
    page = admin_client.get(reverse("admin:automations_automationitem_changelist"))
    assert reverse("admin:automations_automationitem_export_csv") in page.content.decode()
