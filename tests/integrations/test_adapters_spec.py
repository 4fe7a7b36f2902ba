"""The GHL adapters' writes conform to GHL's spec: creates leave empty optional fields out, updates clear a field
the way the spec allows or leave it out with a reason (prepare_write), and every request they send passes the
spec validator (ghl_spec) itself."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

import ghl_spec
from integrations.adapters import Record, adapter_for
from integrations.adapters.ghl import GhlContactAdapter
from integrations.adapters.ghl_related import GhlAppointmentAdapter, GhlBusinessAdapter, GhlNoteAdapter, GhlTaskAdapter
from integrations.adapters.registry import ADAPTERS
from integrations.clients import exceptions as exc
from integrations.models import Connection
from tests.integrations.conftest import GHL

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_transport_retries")]

CONTACT = {"id": "c1", "locationId": "loc1", "firstName": "Ann", "tags": [], "dateUpdated": "2026-11-26T10:00:00Z"}
TASK = {"id": "t1", "contactId": "c1", "title": "Call", "dueDate": "2026-12-01T10:00:00Z", "completed": False}
NOTE = {"id": "n1", "contactId": "c1", "body": "Hello"}
EVENT = {
    "id": "ev1",
    "calendarId": "cal1",
    "locationId": "loc1",
    "contactId": "c1",
    "startTime": "2026-03-02T15:00:00Z",
}
BUSINESS = {"id": "b1", "name": "Acme", "locationId": "loc1"}


def sent(call: Any) -> dict[str, Any]:
    """What one mocked request carried, in the validator's terms."""
    url = urlsplit(call.request.url)
    body = call.request.body
    return {
        "method": call.request.method,
        "path": url.path,
        "query": dict(parse_qsl(url.query)),
        "headers": dict(call.request.headers),
        "body": json.loads(body) if body else None,
        "content_type": call.request.headers.get("Content-Type"),
    }


def assert_conforms(mocked: responses.RequestsMock) -> list[dict[str, Any]]:
    """Every request sent passes GHL's spec; returns them for further checks."""
    requests_sent = [sent(call) for call in mocked.calls]
    for request in requests_sent:
        verdict = ghl_spec.validate(
            request["method"],
            request["path"],
            query=request["query"],
            headers=request["headers"],
            body=request["body"],
            content_type=request["content_type"],
        )
        assert verdict.ok, f"{request['method']} {request['path']} {request['body']}: {verdict.messages}"
    return requests_sent


def current(values: dict[str, Any], record_id: str = "c1") -> Record:
    return Record(id=record_id, values=values, raw=dict(values))


# -- contacts -----------------------------------------------------------------------------------------------------


def test_contact_create_leaves_empty_optional_fields_out(
    ghl_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.post(f"{GHL}/contacts/", json={"contact": CONTACT}, status=201)

    GhlContactAdapter(ghl_connection).create(
        {
            "firstName": "Ann",
            "lastName": "",
            "email": None,
            "country": None,
            "postalCode": "  ",
            "source": None,
            "assignedTo": None,
            "dateOfBirth": None,
            "tags": [],
            "businessId": None,
            "customFields.cf1": None,
            "customFields.cf2": "tea",
        }
    )

    (request,) = assert_conforms(mocked)
    assert request["body"] == {
        "firstName": "Ann",
        "customFields": [{"id": "cf2", "field_value": "tea"}],
        "locationId": "loc1",
    }


def test_contact_update_clears_each_field_as_the_spec_allows(
    ghl_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.post(f"{GHL}/contacts/bulk/business", json={"success": True, "ids": ["c1"]})
    mocked.delete(f"{GHL}/contacts/c1/tags", json={"tags": []})
    mocked.put(f"{GHL}/contacts/c1", json={"succeded": True, "contact": CONTACT})
    adapter = GhlContactAdapter(ghl_connection)
    values = {
        "email": None,
        "dateOfBirth": None,
        "country": None,
        "postalCode": "",
        "companyName": "Acme",
        "dnd": None,
        "tags": None,
        "businessId": None,
        "customFields.cf1": None,
    }

    prepared, reasons = adapter.prepare_write(values, create=False)
    adapter.update("c1", values, current({"tags": ["vip"], "businessId": "b1"}))

    assert reasons == {"dnd": "dnd not cleared: GoHighLevel cannot clear this field"}
    assert prepared["tags"] == []
    untag, unlink, put = assert_conforms(mocked)
    assert unlink["body"] == {"locationId": "loc1", "ids": ["c1"], "businessId": None}  # null unlinks
    assert untag["body"] == {"tags": ["vip"]}
    assert put["body"] == {
        "email": None,
        "dateOfBirth": None,
        "country": "",
        "postalCode": "",
        "companyName": "Acme",  # sent on updates: the live API takes it (docs/ghl-spec.md)
        "customFields": [{"id": "cf1", "field_value": ""}],
    }


def test_fields_ghl_does_not_accept_are_left_out_with_a_reason(ghl_connection: Connection) -> None:
    adapter = GhlContactAdapter(ghl_connection)

    prepared, reasons = adapter.prepare_write(
        {"firstName": "A", "dateAdded": "2026-01-01", "nickname": "x"}, create=True
    )

    assert prepared == {"firstName": "A"}
    assert reasons == {
        "dateAdded": "dateAdded not written: GoHighLevel does not accept this field",
        "nickname": "nickname not written: GoHighLevel does not accept this field",
    }


# -- tasks, notes -------------------------------------------------------------------------------------------------


def test_task_create_and_clear(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{GHL}/contacts/c1/tasks", json={"task": TASK}, status=201)
    mocked.put(f"{GHL}/contacts/c1/tasks/t1", json={"task": TASK})
    adapter = GhlTaskAdapter(ghl_connection)

    adapter.create({"contactId": "c1", "title": "Call", "dueDate": TASK["dueDate"], "body": "", "assignedTo": None})
    cleared = {"title": None, "body": None, "dueDate": None, "completed": None, "assignedTo": None}
    _, reasons = adapter.prepare_write(cleared, create=False)
    adapter.update("c1/t1", cleared)

    create, update = assert_conforms(mocked)
    assert create["body"] == {"completed": False, "title": "Call", "dueDate": TASK["dueDate"]}
    assert update["body"] == {"body": "", "assignedTo": ""}
    assert reasons == {
        "title": "title not cleared: GoHighLevel requires a value here",
        "dueDate": "dueDate not cleared: GoHighLevel requires a value here",
        "completed": "completed not cleared: GoHighLevel requires a value here",
    }


def test_a_create_missing_what_ghl_requires_fails_before_sending(
    ghl_connection: Connection, mocked: responses.RequestsMock
) -> None:
    with pytest.raises(exc.ApiValidationError, match="GoHighLevel needs title and dueDate to create a task"):
        GhlTaskAdapter(ghl_connection).create({"contactId": "c1", "title": " ", "dueDate": None})
    with pytest.raises(exc.ApiValidationError, match="needs body to create a note"):
        GhlNoteAdapter(ghl_connection).create({"contactId": "c1", "body": ""})
    with pytest.raises(exc.ApiValidationError, match="needs calendarId and startTime to create an appointment"):
        GhlAppointmentAdapter(ghl_connection).create({"contactId": "c1", "title": "Demo"})
    with pytest.raises(exc.ApiValidationError, match="needs name to create a business"):
        GhlBusinessAdapter(ghl_connection).create({"name": None, "city": "Paris"})
    assert not mocked.calls


def test_note_create_and_clear(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{GHL}/contacts/c1/notes", json={"note": NOTE}, status=201)
    mocked.put(f"{GHL}/contacts/c1/notes/n1", json={"note": NOTE})
    adapter = GhlNoteAdapter(ghl_connection)

    adapter.create({"contactId": "c1", "body": "Hello", "title": None, "userId": ""})
    _, reasons = adapter.prepare_write({"body": None, "title": None, "userId": None}, create=False)
    adapter.update("c1/n1", {"body": None, "title": None, "userId": None})

    create, update = assert_conforms(mocked)
    assert create["body"] == {"body": "Hello"}
    assert update["body"] == {"title": "", "userId": ""}
    assert reasons == {"body": "body not cleared: GoHighLevel requires a value here"}


# -- appointments, businesses ----------------------------------------------------------------------------------------


def test_appointment_create_clear_and_delete(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{GHL}/calendars/events/appointments", json=EVENT)
    mocked.put(f"{GHL}/calendars/events/appointments/ev1", json=EVENT)
    mocked.delete(f"{GHL}/calendars/events/ev1", json={"succeeded": True}, status=201)
    adapter = GhlAppointmentAdapter(ghl_connection)

    adapter.create({**{k: EVENT[k] for k in ("contactId", "calendarId", "startTime")}, "notes": None, "address": ""})
    cleared = {
        "title": None,
        "notes": None,
        "address": None,
        "assignedUserId": None,
        "endTime": None,
        "appointmentStatus": None,
    }
    _, reasons = adapter.prepare_write(cleared, create=False)
    adapter.update("ev1", cleared)
    adapter.delete("ev1")

    create, update, delete = assert_conforms(mocked)
    assert create["body"] == {**{k: EVENT[k] for k in ("calendarId", "startTime", "contactId")}, "locationId": "loc1"}
    assert update["body"] == {"title": "", "description": "", "address": "", "assignedUserId": ""}
    assert reasons == {
        # A date is not cleared with an empty text, and the status enum has no empty value.
        "endTime": "endTime not cleared: GoHighLevel cannot clear this field",
        "appointmentStatus": "appointmentStatus not cleared: GoHighLevel cannot clear this field",
    }
    assert delete["body"] == {}


def test_business_create_and_clear(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{GHL}/businesses/", json={"success": True, "buiseness": BUSINESS}, status=201)
    mocked.put(f"{GHL}/businesses/b1", json={"success": True, "buiseness": BUSINESS})
    adapter = GhlBusinessAdapter(ghl_connection)
    optional = ("phone", "email", "website", "address", "city", "state", "postalCode", "country", "description")

    adapter.create({"name": "Acme", **dict.fromkeys(optional)})
    _, reasons = adapter.prepare_write({"name": None, **dict.fromkeys(optional)}, create=False)
    adapter.update("b1", {"name": None, **dict.fromkeys(optional)})

    create, update = assert_conforms(mocked)
    assert create["body"] == {"name": "Acme", "locationId": "loc1"}
    assert update["body"] == dict.fromkeys(optional, "")
    assert reasons == {"name": "name not cleared: GoHighLevel requires a value here"}


# -- every adapter ----------------------------------------------------------------------------------------------------


def test_every_adapter_prepares_its_writes(ghl_connection: Connection, st_connection: Connection) -> None:
    for system, object_type in ADAPTERS:
        connection = ghl_connection if system == "ghl" else st_connection
        adapter = adapter_for(connection, object_type)
        values = {"title": None, "name": None, "body": None}
        prepared, reasons = adapter.prepare_write(values, create=False)
        if system == "streettext":
            # StreetText's contract takes null to clear any field.
            assert (prepared, reasons) == (values, {}), object_type
        else:
            assert None not in prepared.values() or object_type == "contact", (object_type, prepared)
            assert all(text.startswith(f"{name} not ") for name, text in reasons.items())
