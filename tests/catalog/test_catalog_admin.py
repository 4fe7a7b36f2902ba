"""The catalog in the admin: browse and search, a form built from the spec, Run, the raw request, the picker
endpoint, the read-only log, and what a viewer may do."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import responses
from django.contrib.auth import get_user_model
from django.db import connection as db_connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from integrations.catalog.admin import MSG_CANNOT_RUN
from integrations.catalog.loader import get_catalog
from integrations.catalog.models import CatalogExecution
from integrations.models import Connection
from integrations.services.roles import role_viewer_grant
from tests.catalog.conftest import MOCK_GHL
from tests.catalog.test_catalog_data import SEED

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer_client() -> Client:
    user = get_user_model().objects.create_user(username="viewer", password="pw-viewer-123")
    role_viewer_grant(user=user)
    client = Client()
    client.force_login(user)
    return client


def _page(client: Client, name: str, *args: Any, query: str = "") -> str:
    response = client.get(reverse(name, args=args) + query)
    assert response.status_code == 200
    return response.content.decode()


def test_the_catalog_lists_every_operation_by_category_and_finds_by_words(admin_client: Client) -> None:
    everything = _page(admin_client, "admin:catalog_index")
    found = _page(admin_client, "admin:catalog_index", query="?q=free+slots")
    calendars = _page(admin_client, "admin:catalog_index", query="?category=calendars&kind=action")

    assert len(re.findall(r'<tr data-key="', everything)) == 194
    assert "List Snapshots" in everything  # named by the seed, listed as not available
    assert re.findall(r'<tr data-key="([^"]+)"', found) == ["get-free-slots"]
    keys = re.findall(r'<tr data-key="([^"]+)"', calendars)
    assert len(keys) == 27
    assert "create-calendar-group" in keys
    assert "list-calendars" not in keys


def test_an_operations_form_is_built_from_the_spec(admin_client: Client, mock_connection: Connection) -> None:
    html = _page(admin_client, "admin:catalog_operation", "get-free-slots")
    resource = _page(admin_client, "admin:catalog_operation", "create-calendar-resource")

    # Required fields are marked; the connection's location fills locationId; ids get pickers; enums are choices.
    assert re.search(r'<label for="id_query__startDate" class="required">startDate</label>', html)
    assert re.search(r'<label for="id_query__timezone">timezone</label>', html)
    assert re.search(r'name="path__calendarId"[^>]*data-picker="calendars"', html)
    assert "GET /calendars/{calendarId}/free-slots" in html
    assert "Version <code>2021-04-15</code>" in html
    assert re.search(r'<select name="path__resourceType"[^>]*>\s*<option value="" selected>—</option>', resource)
    assert '<option value="equipments">equipments</option>' in resource
    assert re.search(r'<label for="id_body__locationId">locationId</label>', resource)
    assert "Blank: this connection&#x27;s location." in resource
    assert 'id="ss-run-button"' in html


def test_run_shows_the_answer_readably_and_logs_who_ran_it(
    admin_client: Client, mock_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.get(
        f"{MOCK_GHL}/calendars/",
        json={"calendars": [{"id": "cal1", "name": "Consultations"}, {"id": "cal2", "name": "Demos"}]},
    )

    response = admin_client.post(
        reverse("admin:catalog_operation", args=["list-calendars"]), {"connection": mock_connection.pk}
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-result="outcome"><span class="ss-badge ss-ok">Succeeded</span>' in html
    assert "HTTP 200" in html
    assert ">2 items</h3>" in html
    assert "<td><code>cal1</code></td><td>Consultations</td>" in html
    assert "&quot;name&quot;: &quot;Demos&quot;" in html  # the whole answer, pretty-printed
    log = CatalogExecution.objects.get()
    assert (str(log.user), log.origin, log.outcome) == ("admin", "admin", "succeeded")
    assert reverse("admin:integrations_catalogexecution_change", args=[log.pk]) in html


def test_send_a_message_runs_from_its_form_with_the_specs_required_blanks_filled(
    admin_client: Client, mock_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.post(f"{MOCK_GHL}/conversations/messages", json={"conversationId": "cv1", "messageId": "m1"})
    url = reverse("admin:catalog_operation", args=["send-message"])
    form = _page(admin_client, "admin:catalog_operation", "send-message")

    response = admin_client.post(
        url,
        {"connection": mock_connection.pk, "body__type": "SMS", "body__contactId": "c1", "body__message": "Hi there"},
    )

    assert '<option value="WhatsApp">WhatsApp</option>' in form
    assert re.search(r'name="body__contactId"[^>]*data-picker="contacts"', form)
    assert 'data-result="outcome"><span class="ss-badge ss-ok">Succeeded</span>' in response.content.decode()
    sent = json.loads(mocked.calls[0].request.body or "")
    assert sent == {"type": "SMS", "contactId": "c1", "message": "Hi there", "subType": {}, "status": "pending"}
    assert CatalogExecution.objects.get().operation_key == "send-message"


def test_every_operations_page_beyond_the_seed_renders_its_form(
    admin_client: Client, mock_connection: Connection
) -> None:
    seed_names = {name for _, _, name, _ in SEED}
    beyond_seed = [op for op in get_catalog().operations if op.name not in seed_names]
    assert len(beyond_seed) == 71
    for operation in beyond_seed:
        response = admin_client.get(reverse("admin:catalog_operation", args=[operation.key]))
        assert response.status_code == 200, operation.key
        assert 'id="ss-run-button"' in response.content.decode(), operation.key


def test_bad_input_is_shown_next_to_its_field_and_nothing_is_sent(
    admin_client: Client, mock_connection: Connection, mocked: responses.RequestsMock
) -> None:
    url = reverse("admin:catalog_operation", args=["create-contact"])
    bad_json = admin_client.post(url, {"connection": mock_connection.pk, "body__customFields": "[{oops"})
    refused = admin_client.post(
        reverse("admin:catalog_operation", args=["create-contact-task"]),
        {"connection": mock_connection.pk, "path__contactId": "c1", "body__title": "Call", "body__completed": ""},
    )

    assert "Not valid JSON" in bad_json.content.decode()
    assert "execution" not in bad_json.context
    html = refused.content.decode()
    assert "This field is required." in html  # dueDate and completed are required by the spec
    assert len(mocked.calls) == 0
    assert not CatalogExecution.objects.exists()


def test_a_spec_refusal_is_shown_with_ghls_messages(
    admin_client: Client, mock_connection: Connection, mocked: responses.RequestsMock
) -> None:
    response = admin_client.post(
        reverse("admin:catalog_operation", args=["list-appointment-notes"]),
        {"connection": mock_connection.pk, "path__appointmentId": "a1", "query__limit": "50", "query__offset": "0"},
    )

    html = response.content.decode()
    assert "Not sent (refused before sending)" in html
    assert "<li>limit must not be greater than 20</li>" in html
    assert CatalogExecution.objects.get().outcome == "not_sent"
    assert len(mocked.calls) == 0


def test_the_picker_endpoint_returns_the_lists_choices(
    admin_client: Client, mock_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.get(f"{MOCK_GHL}/users/", json={"users": [{"id": "u1", "name": "Ann Lee", "email": "ann@example.com"}]})

    response = admin_client.get(reverse("admin:catalog_picker", args=["users"]), {"connection": mock_connection.pk})

    assert response.json() == {
        "picker": "users",
        "label": "Users",
        "searchable": False,
        "options": [{"value": "u1", "text": "Ann Lee <ann@example.com>"}],
        "error": "",
    }


def test_a_raw_request_runs_through_the_same_log(
    admin_client: Client, mock_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.get(f"{MOCK_GHL}/snapshots/", json={"snapshots": []})

    response = admin_client.post(
        reverse("admin:catalog_raw"),
        {
            "connection": mock_connection.pk,
            "method": "GET",
            "path": "/snapshots/?companyId=co1",
            "version": "2021-07-28",
        },
    )

    assert "Succeeded" in response.content.decode()
    assert mocked.calls[0].request.url == f"{MOCK_GHL}/snapshots/?companyId=co1"
    log = CatalogExecution.objects.get()
    assert (log.operation_key, log.path, log.query) == ("raw-request", "/snapshots/", {"companyId": "co1"})
    assert _page(admin_client, "admin:integrations_catalogexecution_change", log.pk).count("/snapshots/") >= 1


def test_the_start_page_has_a_catalog_group(admin_client: Client) -> None:
    html = _page(admin_client, "admin:index")
    catalog = html[html.index(">Catalog</a></caption>") :]
    catalog = catalog[: catalog.index("</table>")]

    assert re.findall(r'<th scope="row"><a href="([^"]+)">([^<]+)</a>', catalog) == [
        (reverse("admin:catalog_index"), "Operations"),
        (reverse("admin:catalog_raw"), "Raw API request"),
        (reverse("admin:integrations_catalogexecution_changelist"), "Execution log"),
    ]
    connections = html[html.index(">Connections and runs</a></caption>") :]
    assert "catalogexecution" not in connections[: connections.index("</table>")]


def test_the_log_is_read_only(admin_client: Client) -> None:
    row = CatalogExecution.objects.create(
        operation_key="list-workflows", operation_name="List Workflows", outcome="failed"
    )

    page = _page(admin_client, "admin:integrations_catalogexecution_change", row.pk)
    assert 'name="_save"' not in page
    assert admin_client.get(reverse("admin:integrations_catalogexecution_add")).status_code == 403
    assert "List Workflows" in _page(admin_client, "admin:integrations_catalogexecution_changelist")


def test_a_viewer_reads_the_catalog_and_the_log_but_runs_nothing(
    viewer_client: Client, mock_connection: Connection, mocked: responses.RequestsMock
) -> None:
    row = CatalogExecution.objects.create(
        operation_key="list-workflows", operation_name="List Workflows", outcome="failed"
    )

    start = _page(viewer_client, "admin:index")
    page = _page(viewer_client, "admin:catalog_operation", "list-workflows")
    _page(viewer_client, "admin:catalog_index")
    _page(viewer_client, "admin:integrations_catalogexecution_changelist")
    _page(viewer_client, "admin:integrations_catalogexecution_change", row.pk)

    assert "Execution log" in start
    assert reverse("admin:catalog_raw") not in start
    assert MSG_CANNOT_RUN in page
    assert 'id="ss-run-button"' not in page
    assert 'data-pickers="on"' not in page
    run = viewer_client.post(reverse("admin:catalog_operation", args=["list-workflows"]), {"connection": 1})
    picker = viewer_client.get(reverse("admin:catalog_picker", args=["users"]), {"connection": mock_connection.pk})
    raw = viewer_client.get(reverse("admin:catalog_raw"))
    assert (run.status_code, picker.status_code, raw.status_code) == (403, 403, 403)
    assert len(mocked.calls) == 0
    assert CatalogExecution.objects.count() == 1


# Measured with 30 log rows: catalog 2, operation 6, raw request 6, log 9, log row 3; a per-row query would add 30.
QUERY_LIMITS = {"catalog": 4, "operation": 8, "raw": 8, "log": 12, "log row": 5}


def test_the_catalog_pages_stay_within_a_query_budget(admin_client: Client, mock_connection: Connection) -> None:
    for _ in range(30):
        CatalogExecution.objects.create(
            operation_key="list-workflows",
            operation_name="List Workflows",
            outcome="succeeded",
            connection=mock_connection,
            connection_name="GHL",
        )
    row = CatalogExecution.objects.first()
    assert row is not None
    urls = {
        "catalog": reverse("admin:catalog_index"),
        "operation": reverse("admin:catalog_operation", args=["list-workflows"]),
        "raw": reverse("admin:catalog_raw"),
        "log": reverse("admin:integrations_catalogexecution_changelist"),
        "log row": reverse("admin:integrations_catalogexecution_change", args=[row.pk]),
    }
    used = {}
    for name, url in urls.items():
        admin_client.get(url)  # warm
        with CaptureQueriesContext(db_connection) as queries:
            assert admin_client.get(url).status_code == 200
        used[name] = len(queries.captured_queries)
    assert {name: n for name, n in used.items() if n > QUERY_LIMITS[name]} == {}
