"""Client methods for tasks, notes, appointments and businesses/organisations (GHL and StreetText)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from integrations.clients import exceptions as exc
from integrations.clients.ghl import GhlClient
from integrations.clients.streettext import StreetTextClient
from tests.integrations.support import body_of

GHL = "https://services.leadconnectorhq.com"
ST = "https://api.streettext.example"
TOKEN = "pit-secret-token-123"
KEY = "st-secret-key-456"

# The clients count their calls in the shared rate-limit store (the database unless Redis is configured).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_transport_retries")]


@pytest.fixture
def ghl(no_transport_retries: None) -> GhlClient:
    return GhlClient(base_url=GHL, token=TOKEN, location_id="loc1")


@pytest.fixture
def st(no_transport_retries: None) -> StreetTextClient:
    return StreetTextClient(base_url=ST, api_key=KEY)


def query_of(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def version_of(call: Any) -> str:
    return str(call.request.headers["Version"])


TASK = {
    "id": "t1",
    "title": "Call back",
    "body": "About the quote",
    "assignedTo": "u1",
    "dueDate": "2026-12-01T10:00:00.000Z",
    "completed": False,
    "contactId": "c1",
}
NOTE = {
    "id": "n1",
    "body": "Met at the fair",
    "userId": "u1",
    "dateAdded": "2026-11-20T09:00:00.000Z",
    "contactId": "c1",
}
EVENT = {
    "id": "ev1",
    "calendarId": "cal1",
    "title": "Viewing",
    "appointmentStatus": "confirmed",
    "startTime": "2026-12-02 11:00:00",
    "endTime": "2026-12-02 12:00:00",
    "contactId": "c1",
    "locationId": "loc1",
    "dateAdded": "2026-11-20T09:00:00.000Z",
    "dateUpdated": "2026-11-21T09:00:00.000Z",
}
BUSINESS = {"id": "b1", "name": "Acme", "locationId": "loc1", "email": "info@acme.example", "phone": "+14155550100"}


# -- GHL tasks -----------------------------------------------------------------------------------------------


def test_list_tasks_reads_the_tasks_envelope_with_the_contacts_version(
    ghl: GhlClient, mocked: responses.RequestsMock
) -> None:
    mocked.get(f"{GHL}/contacts/c1/tasks", json={"tasks": [TASK]})

    assert ghl.list_tasks("c1") == [TASK]
    assert version_of(mocked.calls[0]) == "2021-07-28"
    assert mocked.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_get_create_and_update_task(ghl: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{GHL}/contacts/c1/tasks/t1", json={"task": TASK})
    mocked.post(f"{GHL}/contacts/c1/tasks", json={"task": TASK}, status=201)
    mocked.put(f"{GHL}/contacts/c1/tasks/t1", json={"task": {**TASK, "title": "New"}})

    assert ghl.get_task("c1", "t1")["id"] == "t1"
    created = ghl.create_task("c1", {"title": "Call back", "dueDate": TASK["dueDate"], "completed": False})
    updated = ghl.update_task("c1", "t1", {"title": "New"})

    assert created == TASK
    assert body_of(mocked.calls[1]) == {"title": "Call back", "dueDate": TASK["dueDate"], "completed": False}
    assert body_of(mocked.calls[2]) == {"title": "New"}
    assert updated["title"] == "New"


def test_set_task_completed_uses_the_completed_endpoint(ghl: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.put(f"{GHL}/contacts/c1/tasks/t1/completed", json={"task": {**TASK, "completed": True}})

    task = ghl.set_task_completed("c1", "t1", True)

    assert body_of(mocked.calls[0]) == {"completed": True}
    assert task["completed"] is True


def test_delete_task_checks_the_misspelt_succeded_flag(ghl: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.delete(f"{GHL}/contacts/c1/tasks/t1", json={"succeded": True})
    mocked.delete(f"{GHL}/contacts/c1/tasks/t2", json={"succeded": False})

    ghl.delete_task("c1", "t1")
    with pytest.raises(exc.ApiServerError, match="did not succeed"):
        ghl.delete_task("c1", "t2")


def test_get_task_maps_404_to_not_found(ghl: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{GHL}/contacts/c1/tasks/nope", json={"statusCode": 404, "message": "Task not found"}, status=404)

    with pytest.raises(exc.ApiNotFound):
        ghl.get_task("c1", "nope")


def test_search_tasks_posts_paging_and_filters_to_the_location(ghl: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{GHL}/locations/loc1/tasks/search", json={"tasks": [TASK]})
    mocked.post(f"{GHL}/locations/loc1/tasks/search", json={"tasks": []})

    assert ghl.search_tasks(limit=50, skip=100, contact_ids=["c1", "c2"], completed=False) == [TASK]
    assert ghl.search_tasks(limit=1000, skip=-3) == []

    assert version_of(mocked.calls[0]) == "2021-07-28"
    assert body_of(mocked.calls[0]) == {"limit": 50, "skip": 100, "contactId": ["c1", "c2"], "completed": False}
    # Limit capped at the list maximum, negative skip clamped, no filters when not asked for.
    assert body_of(mocked.calls[1]) == {"limit": 100, "skip": 0}


def test_search_tasks_without_tasks_key_is_a_bad_response(ghl: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{GHL}/locations/loc1/tasks/search", json={"data": []})
    mocked.post(f"{GHL}/locations/loc1/tasks/search", json={"tasks": ["not-an-object"]})

    with pytest.raises(exc.ApiBadResponse, match="'tasks'"):
        ghl.search_tasks(limit=10, skip=0)
    with pytest.raises(exc.ApiBadResponse, match="not an object"):
        ghl.search_tasks(limit=10, skip=0)


# -- GHL notes -----------------------------------------------------------------------------------------------


def test_note_endpoints(ghl: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{GHL}/contacts/c1/notes", json={"notes": [NOTE]})
    mocked.get(f"{GHL}/contacts/c1/notes/n1", json={"note": NOTE})
    mocked.post(f"{GHL}/contacts/c1/notes", json={"note": NOTE}, status=201)
    mocked.put(f"{GHL}/contacts/c1/notes/n1", json={"note": {**NOTE, "body": "x"}})
    mocked.delete(f"{GHL}/contacts/c1/notes/n1", json={"succeded": True})

    assert ghl.list_notes("c1") == [NOTE]
    assert ghl.get_note("c1", "n1") == NOTE
    assert ghl.create_note("c1", {"body": "Met at the fair"}) == NOTE
    assert ghl.update_note("c1", "n1", {"body": "x"})["body"] == "x"
    ghl.delete_note("c1", "n1")

    assert body_of(mocked.calls[2]) == {"body": "Met at the fair"}
    assert body_of(mocked.calls[3]) == {"body": "x"}
    assert {version_of(c) for c in mocked.calls} == {"2021-07-28"}


# -- GHL appointments ------------------------------------------------------------------------------------------


def test_contact_appointments_use_the_contacts_version(ghl: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{GHL}/contacts/c1/appointments", json={"events": [EVENT]})

    assert ghl.list_contact_appointments("c1") == [EVENT]
    assert version_of(mocked.calls[0]) == "2021-07-28"


def test_get_appointment_uses_the_calendars_version(ghl: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{GHL}/calendars/events/appointments/ev1", json={"event": EVENT})

    assert ghl.get_appointment("ev1") == EVENT
    assert version_of(mocked.calls[0]) == "2021-04-15"


def test_create_appointment_adds_the_location_and_reads_the_bare_answer(
    ghl: GhlClient, mocked: responses.RequestsMock
) -> None:
    mocked.post(f"{GHL}/calendars/events/appointments", json={**EVENT, "isRecurring": False})

    created = ghl.create_appointment({"calendarId": "cal1", "contactId": "c1", "startTime": EVENT["startTime"]})

    assert created["id"] == "ev1"
    assert version_of(mocked.calls[0]) == "2021-04-15"
    assert body_of(mocked.calls[0]) == {
        "calendarId": "cal1",
        "contactId": "c1",
        "startTime": EVENT["startTime"],
        "locationId": "loc1",
    }


def test_create_appointment_without_an_id_is_a_bad_response(ghl: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{GHL}/calendars/events/appointments", json={"event": EVENT})

    with pytest.raises(exc.ApiBadResponse, match="'id'"):
        ghl.create_appointment({"calendarId": "cal1", "contactId": "c1", "startTime": "x"})


def test_update_appointment_puts_with_the_calendars_version(ghl: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.put(f"{GHL}/calendars/events/appointments/ev1", json={"title": "Moved", "calendarId": "cal1"})

    updated = ghl.update_appointment("ev1", {"title": "Moved"})

    assert updated == {"title": "Moved", "calendarId": "cal1", "id": "ev1"}
    assert body_of(mocked.calls[0]) == {"title": "Moved"}
    assert version_of(mocked.calls[0]) == "2021-04-15"


def test_delete_appointment_deletes_the_event_and_wants_succeeded(
    ghl: GhlClient, mocked: responses.RequestsMock
) -> None:
    mocked.delete(f"{GHL}/calendars/events/ev1", json={"succeeded": True}, status=201)
    # The contacts API's misspelling is not what the calendars API sends.
    mocked.delete(f"{GHL}/calendars/events/ev2", json={"succeded": True}, status=201)

    ghl.delete_appointment("ev1")
    assert version_of(mocked.calls[0]) == "2021-04-15"
    # The spec requires a JSON body (an empty object) on this DELETE.
    assert mocked.calls[0].request.body == b"{}"
    assert mocked.calls[0].request.headers["Content-Type"] == "application/json"
    with pytest.raises(exc.ApiBadResponse, match="'succeeded'"):
        ghl.delete_appointment("ev2")


# -- GHL businesses --------------------------------------------------------------------------------------------


def test_list_and_get_businesses(ghl: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{GHL}/businesses/", json={"businesses": [BUSINESS]})
    mocked.get(f"{GHL}/businesses/b1", json={"business": BUSINESS})

    assert ghl.list_businesses(limit=20, skip=40) == [BUSINESS]
    assert ghl.get_business("b1") == BUSINESS

    assert query_of(mocked.calls[0]) == {"locationId": ["loc1"], "limit": ["20"], "skip": ["40"]}
    assert {version_of(c) for c in mocked.calls} == {"2021-07-28"}


def test_create_and_update_business_read_the_misspelt_buiseness_key(
    ghl: GhlClient, mocked: responses.RequestsMock
) -> None:
    mocked.post(f"{GHL}/businesses/", json={"success": True, "buiseness": BUSINESS}, status=201)
    mocked.put(f"{GHL}/businesses/b1", json={"success": True, "buiseness": {**BUSINESS, "name": "Acme Ltd"}})

    assert ghl.create_business({"name": "Acme"}) == BUSINESS
    assert ghl.update_business("b1", {"name": "Acme Ltd"})["name"] == "Acme Ltd"

    assert body_of(mocked.calls[0]) == {"name": "Acme", "locationId": "loc1"}
    assert body_of(mocked.calls[1]) == {"name": "Acme Ltd"}


def test_business_write_tolerates_the_correct_spelling_and_checks_success(
    ghl: GhlClient, mocked: responses.RequestsMock
) -> None:
    mocked.put(f"{GHL}/businesses/b1", json={"success": True, "business": BUSINESS})
    mocked.put(f"{GHL}/businesses/b2", json={"success": False, "buiseness": BUSINESS})
    mocked.put(f"{GHL}/businesses/b3", json={"success": True})

    assert ghl.update_business("b1", {"name": "Acme"}) == BUSINESS
    with pytest.raises(exc.ApiServerError):
        ghl.update_business("b2", {"name": "Acme"})
    with pytest.raises(exc.ApiBadResponse, match="'buiseness'"):
        ghl.update_business("b3", {"name": "Acme"})


def test_delete_business_checks_success(ghl: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.delete(f"{GHL}/businesses/b1", json={"success": True})

    ghl.delete_business("b1")

    assert len(mocked.calls) == 1


def test_link_contacts_to_business_posts_the_bulk_body(ghl: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{GHL}/contacts/bulk/business", json={"success": True, "ids": ["c1", "c2"]})
    mocked.post(f"{GHL}/contacts/bulk/business", json={"success": True, "ids": ["c1"]})

    assert ghl.link_contacts_to_business(["c1", "c2"], "b1") == ["c1", "c2"]
    assert ghl.link_contacts_to_business(["c1"], None) == ["c1"]

    assert body_of(mocked.calls[0]) == {"locationId": "loc1", "ids": ["c1", "c2"], "businessId": "b1"}
    # null removes the link.
    assert body_of(mocked.calls[1]) == {"locationId": "loc1", "ids": ["c1"], "businessId": None}
    assert version_of(mocked.calls[0]) == "2021-07-28"


def test_link_contacts_to_business_raises_when_not_successful(ghl: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{GHL}/contacts/bulk/business", json={"success": False, "ids": []})

    with pytest.raises(exc.ApiServerError):
        ghl.link_contacts_to_business(["c1"], "b1")


def test_list_business_contacts(ghl: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{GHL}/contacts/business/b1", json={"contacts": [{"id": "c1", "businessId": "b1"}], "count": 1})

    page = ghl.list_business_contacts("b1", limit=10, skip=20)

    assert page == {"contacts": [{"id": "c1", "businessId": "b1"}], "count": 1}
    assert query_of(mocked.calls[0]) == {"locationId": ["loc1"], "limit": ["10"], "skip": ["20"]}


# -- StreetText resources ----------------------------------------------------------------------------------------

RESOURCES = [
    ("tasks", "task", "task"),
    ("notes", "note", "note"),
    ("appointments", "appointment", "appointment"),
    ("organizations", "organization", "organization"),
]


@pytest.mark.parametrize(("resource", "method", "key"), RESOURCES)
def test_streettext_crud_for_each_resource(
    st: StreetTextClient, mocked: responses.RequestsMock, resource: str, method: str, key: str
) -> None:
    item = {"id": "x1", "updated_at": "2026-11-26T10:00:00.000Z"}
    mocked.get(f"{ST}/v1/{resource}/x1", json={key: item})
    mocked.post(f"{ST}/v1/{resource}", json={key: item}, status=201)
    mocked.patch(f"{ST}/v1/{resource}/x1", json={key: {**item, "title": "T"}})
    mocked.delete(f"{ST}/v1/{resource}/x1", status=204)

    assert st.get_record(resource, "x1") == item
    assert st.create_record(resource, {"title": "T"}) == item
    assert st.update_record(resource, "x1", {"title": "T"})["title"] == "T"
    st.delete_record(resource, "x1")

    assert [c.request.method for c in mocked.calls] == ["GET", "POST", "PATCH", "DELETE"]
    assert body_of(mocked.calls[1]) == {"title": "T"}
    assert body_of(mocked.calls[2]) == {"title": "T"}
    assert all(c.request.headers["X-Api-Key"] == KEY for c in mocked.calls)


@pytest.mark.parametrize(
    ("resource", "method"), [("tasks", "tasks"), ("notes", "notes"), ("appointments", "appointments")]
)
def test_streettext_child_listing_sends_cursor_and_contact_filter(
    st: StreetTextClient, mocked: responses.RequestsMock, resource: str, method: str
) -> None:
    page = {"data": [{"id": "x1"}], "next_cursor": "cur2", "has_more": True, "total": 5}
    mocked.get(f"{ST}/v1/{resource}", json=page)
    mocked.get(f"{ST}/v1/{resource}", json={"data": [], "next_cursor": "cur3", "has_more": False, "total": 0})

    first = st.list_records(resource, limit=10, updated_since=datetime(2026, 11, 1, tzinfo=UTC), contact_id="ct1")
    second = st.list_records(resource, limit=999, cursor="cur2", updated_since=datetime(2026, 11, 1, tzinfo=UTC))

    assert first == {"data": [{"id": "x1"}], "next_cursor": "cur2", "has_more": True, "total": 5}
    assert second["has_more"] is False
    assert query_of(mocked.calls[0]) == {
        "limit": ["10"],
        "updated_since": ["2026-11-01T00:00:00.000Z"],
        "contact_id": ["ct1"],
    }
    # The cursor wins over updated_since; the limit is capped at 200.
    assert query_of(mocked.calls[1]) == {"limit": ["200"], "cursor": ["cur2"]}


def test_streettext_organisation_listing(st: StreetTextClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{ST}/v1/organizations", json={"data": [{"id": "org1"}], "next_cursor": None, "has_more": False})

    page = st.list_records("organizations", limit=50)

    assert page == {"data": [{"id": "org1"}], "next_cursor": None, "has_more": False, "total": None}
    assert query_of(mocked.calls[0]) == {"limit": ["50"]}


def test_streettext_wrong_envelope_is_a_bad_response(st: StreetTextClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{ST}/v1/notes/n1", json={"task": {"id": "n1"}})
    mocked.get(f"{ST}/v1/notes", json={"items": []})

    with pytest.raises(exc.ApiBadResponse, match="'note'"):
        st.get_record("notes", "n1")
    with pytest.raises(exc.ApiBadResponse, match="'data'"):
        st.list_records("notes", limit=10)


def test_streettext_422_on_missing_contact_is_a_validation_error(
    st: StreetTextClient, mocked: responses.RequestsMock
) -> None:
    error = {"error": {"code": "validation_failed", "message": "Some fields are invalid", "details": ["contact_id"]}}
    mocked.post(f"{ST}/v1/tasks", json=error, status=422)

    with pytest.raises(exc.ApiValidationError) as info:
        st.create_record("tasks", {"title": "x", "contact_id": "missing"})
    assert info.value.details == ["contact_id"]


def test_streettext_unknown_resource_is_refused(st: StreetTextClient) -> None:
    with pytest.raises(ValueError, match="invoices"):
        st.get_record("invoices", "x")
