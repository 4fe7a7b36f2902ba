"""Adapters for tasks, notes, appointments and businesses, and the contact adapter's tag and business-link writes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from integrations.adapters import Record, adapter_for
from integrations.adapters.ghl import GhlContactAdapter, tag_changes
from integrations.adapters.ghl_related import (
    GhlAppointmentAdapter,
    GhlBusinessAdapter,
    GhlNoteAdapter,
    GhlTaskAdapter,
    split_id,
)
from integrations.adapters.registry import ADAPTERS
from integrations.adapters.streettext_related import (
    StreetTextAppointmentAdapter,
    StreetTextNoteAdapter,
    StreetTextOrganizationAdapter,
    StreetTextTaskAdapter,
)
from integrations.clients import exceptions as exc
from integrations.models import Connection
from integrations.object_types import OBJECT_TYPES
from tests.integrations.support import body_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_transport_retries")]

GHL = "https://services.leadconnectorhq.com"
ST = "https://api.streettext.example"
SEARCH = f"{GHL}/contacts/search"
TASK_SEARCH = f"{GHL}/locations/loc1/tasks/search"


def query_of(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def contact(n: int) -> dict[str, Any]:
    return {"id": f"c{n}", "dateUpdated": "2026-11-26T10:00:00.000Z", "searchAfter": [1795687200000 + n, f"c{n}"]}


def task(n: int, contact_id: str = "c1", **extra: Any) -> dict[str, Any]:
    return {
        "id": f"t{n}",
        "contactId": contact_id,
        "title": f"Task {n}",
        "body": None,
        "dueDate": "2026-12-01T10:00:00.000Z",
        "completed": False,
        "assignedTo": None,
        **extra,
    }


def note(n: int, contact_id: str, added: str = "2026-11-20T09:00:00.000Z") -> dict[str, Any]:
    return {"id": f"n{n}", "contactId": contact_id, "body": f"Note {n}", "userId": "u1", "dateAdded": added}


# -- registry -------------------------------------------------------------------------------------------------


def test_registry_serves_every_object_type_on_both_systems(
    ghl_connection: Connection, st_connection: Connection
) -> None:
    assert {(system, key) for system in ("ghl", "streettext") for key in OBJECT_TYPES} <= set(ADAPTERS)
    expected = {
        "task": (GhlTaskAdapter, StreetTextTaskAdapter),
        "note": (GhlNoteAdapter, StreetTextNoteAdapter),
        "appointment": (GhlAppointmentAdapter, StreetTextAppointmentAdapter),
        "business": (GhlBusinessAdapter, StreetTextOrganizationAdapter),
    }
    for key, (ghl_class, st_class) in expected.items():
        ghl_adapter = adapter_for(ghl_connection, key)
        st_adapter = adapter_for(st_connection, key)
        assert isinstance(ghl_adapter, ghl_class)
        assert isinstance(st_adapter, st_class)
        assert (ghl_adapter.system, ghl_adapter.object_type) == ("ghl", key)
        assert (st_adapter.system, st_adapter.object_type) == ("streettext", key)


# -- GHL tasks ------------------------------------------------------------------------------------------------


def test_task_scan_pages_by_skip_and_yields_every_task_once(
    ghl_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.post(TASK_SEARCH, json={"tasks": [task(1), task(2, "c2")]})
    # A task added meanwhile shifts the window: t2 comes again and must not be handed over twice.
    mocked.post(TASK_SEARCH, json={"tasks": [task(2, "c2"), task(3)]})
    mocked.post(TASK_SEARCH, json={"tasks": []})

    pages = list(GhlTaskAdapter(ghl_connection).iter_changes(cursor={}, since=None, page_size=2))

    assert [[r.id for r in p.records] for p in pages] == [["c1/t1", "c2/t2"], ["c1/t3"], []]
    assert [p.next_cursor for p in pages] == [{"skip": 2}, {"skip": 4}, {}]
    assert [p.has_more for p in pages] == [True, True, False]
    assert [body_of(c) for c in mocked.calls] == [
        {"limit": 2, "skip": 0},
        {"limit": 2, "skip": 2},
        {"limit": 2, "skip": 4},
    ]
    first = pages[0].records[0]
    assert first.values["id"] == "t1"
    assert first.values["contactId"] == "c1"
    assert set(first.values) == {f.name for f in OBJECT_TYPES["task"].ghl_fields}
    assert first.updated_at is None


def test_task_scan_resumes_from_the_cursor(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.post(TASK_SEARCH, json={"tasks": []})

    pages = list(GhlTaskAdapter(ghl_connection).iter_changes(cursor={"skip": 40}, since=None, page_size=20))

    assert body_of(mocked.calls[0]) == {"limit": 20, "skip": 40}
    assert pages[-1].next_cursor == {}


def test_task_get_splits_the_composite_id(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{GHL}/contacts/c7/tasks/t9", json={"task": {**task(9), "contactId": None}})

    record = GhlTaskAdapter(ghl_connection).get("c7/t9")

    assert record.id == "c7/t9"
    assert record.values["contactId"] == "c7"


def test_malformed_composite_ids_name_no_record(ghl_connection: Connection) -> None:
    for bad in ("t9", "/t9", "c7/", "c7/t9/x"):
        with pytest.raises(exc.ApiNotFound):
            split_id(bad)
    with pytest.raises(exc.ApiNotFound):
        GhlTaskAdapter(ghl_connection).get("t9")


def test_task_create_posts_under_the_target_contact(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{GHL}/contacts/c9/tasks", json={"task": task(5, "c9")}, status=201)

    record = GhlTaskAdapter(ghl_connection).create(
        {"contactId": "c9", "title": "Task 5", "dueDate": "2026-12-01T10:00:00.000Z", "id": "ignored"}
    )

    # `completed` is required by the spec; the read-only id/contactId stay out of the body.
    assert body_of(mocked.calls[0]) == {"completed": False, "title": "Task 5", "dueDate": "2026-12-01T10:00:00.000Z"}
    assert record.id == "c9/t5"


def test_task_create_without_contact_is_refused(ghl_connection: Connection) -> None:
    with pytest.raises(exc.ApiValidationError):
        GhlTaskAdapter(ghl_connection).create({"title": "x"})


def test_task_update_sends_completed_to_its_endpoint_and_the_rest_by_put(
    ghl_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.put(f"{GHL}/contacts/c1/tasks/t1/completed", json={"task": task(1, completed=True)})
    mocked.put(f"{GHL}/contacts/c1/tasks/t1", json={"task": task(1, completed=True, title="Renamed")})

    record = GhlTaskAdapter(ghl_connection).update("c1/t1", {"completed": True, "title": "Renamed"})

    assert [c.request.url for c in mocked.calls] == [
        f"{GHL}/contacts/c1/tasks/t1/completed",
        f"{GHL}/contacts/c1/tasks/t1",
    ]
    assert body_of(mocked.calls[0]) == {"completed": True}
    assert body_of(mocked.calls[1]) == {"title": "Renamed"}
    assert record.values["completed"] is True
    assert record.values["title"] == "Renamed"


def test_task_update_of_completed_only_makes_no_put(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.put(f"{GHL}/contacts/c1/tasks/t1/completed", json={"task": task(1, completed=False)})

    record = GhlTaskAdapter(ghl_connection).update("c1/t1", {"completed": False})

    assert len(mocked.calls) == 1
    assert record.values["completed"] is False


def test_task_delete(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.delete(f"{GHL}/contacts/c1/tasks/t1", json={"succeded": True})

    GhlTaskAdapter(ghl_connection).delete("c1/t1")

    assert len(mocked.calls) == 1


def test_tasks_are_matched_by_link_only(ghl_connection: Connection) -> None:
    assert GhlTaskAdapter(ghl_connection).find_by("title", "x") is None


# -- GHL notes: a contact scan ---------------------------------------------------------------------------------


def test_notes_are_listed_per_contact_page(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.post(SEARCH, json={"contacts": [contact(1), contact(2)], "total": 3})
    mocked.get(f"{GHL}/contacts/c1/notes", json={"notes": [note(1, "c1"), note(2, "c1")]})
    mocked.get(f"{GHL}/contacts/c2/notes", json={"notes": []})
    mocked.post(SEARCH, json={"contacts": [contact(3)], "total": 1})
    mocked.get(f"{GHL}/contacts/c3/notes", json={"notes": [{**note(3, "c3"), "contactId": None}]})

    pages = list(GhlNoteAdapter(ghl_connection).iter_changes(cursor={}, since=None, page_size=2))

    assert [[r.id for r in p.records] for p in pages] == [["c1/n1", "c1/n2"], ["c3/n3"]]
    assert pages[0].next_cursor == {"search_after": [1795687200002, "c2"]}
    assert pages[0].has_more is True
    # A finished scan leaves an empty cursor: the next run scans again.
    assert pages[1].next_cursor == {}
    assert pages[1].has_more is False
    assert pages[1].records[0].values["contactId"] == "c3"
    assert body_of(mocked.calls[3])["searchAfter"] == [1795687200002, "c2"]
    record = pages[0].records[0]
    assert set(record.values) == {f.name for f in OBJECT_TYPES["note"].ghl_fields}
    assert record.updated_at == datetime(2026, 11, 20, 9, tzinfo=UTC)


def test_note_scan_resumes_and_filters_by_date_added(
    ghl_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.post(SEARCH, json={"contacts": [contact(4)], "total": 1})
    mocked.get(
        f"{GHL}/contacts/c4/notes",
        json={"notes": [note(1, "c4", "2026-01-01T00:00:00.000Z"), note(2, "c4", "2026-11-25T00:00:00.000Z")]},
    )

    pages = list(
        GhlNoteAdapter(ghl_connection).iter_changes(
            cursor={"search_after": [1, "c3"]}, since=datetime(2026, 6, 1, tzinfo=UTC), page_size=5
        )
    )

    assert [r.id for r in pages[0].records] == ["c4/n2"]
    search = body_of(mocked.calls[0])
    assert search["searchAfter"] == [1, "c3"]
    # The contact scan itself is never narrowed by `since`: an old contact can get a new note.
    assert "filters" not in search


def test_note_create_update_delete(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{GHL}/contacts/c5/notes", json={"note": note(1, "c5")}, status=201)
    mocked.put(f"{GHL}/contacts/c5/notes/n1", json={"note": {**note(1, "c5"), "body": "edited"}})
    mocked.delete(f"{GHL}/contacts/c5/notes/n1", json={"succeded": True})
    adapter = GhlNoteAdapter(ghl_connection)

    created = adapter.create({"contactId": "c5", "body": "Note 1", "dateAdded": "ignored"})
    updated = adapter.update("c5/n1", {"body": "edited"})
    adapter.delete("c5/n1")

    assert created.id == "c5/n1"
    assert body_of(mocked.calls[0]) == {"body": "Note 1"}
    assert body_of(mocked.calls[1]) == {"body": "edited"}
    assert updated.values["body"] == "edited"


def test_note_sample_skips_contacts_without_notes(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.post(SEARCH, json={"contacts": [contact(1), contact(2)], "total": 2})
    mocked.get(f"{GHL}/contacts/c1/notes", json={"notes": []})
    mocked.get(f"{GHL}/contacts/c2/notes", json={"notes": [note(7, "c2")]})

    sample = GhlNoteAdapter(ghl_connection).sample()

    assert sample is not None
    assert sample.id == "c2/n7"


# -- GHL appointments ------------------------------------------------------------------------------------------


def event(n: int, contact_id: str, updated: str = "2026-11-21T09:00:00.000Z") -> dict[str, Any]:
    return {
        "id": f"ev{n}",
        "calendarId": "cal1",
        "contactId": contact_id,
        "title": "Viewing",
        "appointmentStatus": "confirmed",
        "startTime": "2026-12-02 11:00:00",
        "endTime": "2026-12-02 12:00:00",
        "notes": "Bring keys",
        "dateAdded": "2026-11-20T09:00:00.000Z",
        "dateUpdated": updated,
    }


def test_appointments_via_contacts_filtered_by_date_updated(
    ghl_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.post(SEARCH, json={"contacts": [contact(1)], "total": 1})
    mocked.get(
        f"{GHL}/contacts/c1/appointments",
        json={"events": [event(1, "c1", "2026-01-01T00:00:00.000Z"), event(2, "c1")]},
    )

    pages = list(
        GhlAppointmentAdapter(ghl_connection).iter_changes(
            cursor={}, since=datetime(2026, 6, 1, tzinfo=UTC), page_size=10
        )
    )

    assert [r.id for r in pages[0].records] == ["ev2"]
    assert pages[0].next_cursor == {}
    assert mocked.calls[1].request.headers["Version"] == "2021-07-28"
    record = pages[0].records[0]
    assert record.values["contactId"] == "c1"
    assert record.values["notes"] == "Bring keys"
    assert record.updated_at == datetime(2026, 11, 21, 9, tzinfo=UTC)


def test_appointment_get_uses_the_calendars_api(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{GHL}/calendars/events/appointments/ev1", json={"event": event(1, "c1")})

    record = GhlAppointmentAdapter(ghl_connection).get("ev1")

    assert record.id == "ev1"
    assert mocked.calls[0].request.headers["Version"] == "2021-04-15"


def test_appointment_create_sends_contact_location_and_notes_as_description(
    ghl_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.post(
        f"{GHL}/calendars/events/appointments",
        json={"id": "ev3", "calendarId": "cal1", "locationId": "loc1", "contactId": "c9", "startTime": "s"},
    )

    record = GhlAppointmentAdapter(ghl_connection).create(
        {"contactId": "c9", "calendarId": "cal1", "startTime": "s", "notes": "Bring keys", "dateAdded": "x"}
    )

    assert body_of(mocked.calls[0]) == {
        "calendarId": "cal1",
        "startTime": "s",
        "description": "Bring keys",
        "contactId": "c9",
        "locationId": "loc1",
    }
    assert mocked.calls[0].request.headers["Version"] == "2021-04-15"
    assert record.id == "ev3"
    assert record.values["notes"] == "Bring keys"
    assert record.values["contactId"] == "c9"


def test_appointment_update_and_delete(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.put(f"{GHL}/calendars/events/appointments/ev1", json={"id": "ev1", "title": "Moved"})
    mocked.delete(f"{GHL}/calendars/events/ev1", json={"succeeded": True}, status=201)
    adapter = GhlAppointmentAdapter(ghl_connection)
    current = Record(id="ev1", values={}, raw=event(1, "c1"))

    record = adapter.update("ev1", {"title": "Moved"}, current)
    adapter.delete("ev1")

    assert body_of(mocked.calls[0]) == {"title": "Moved"}
    # Fields the bare answer leaves out keep their current value.
    assert record.values["title"] == "Moved"
    assert record.values["calendarId"] == "cal1"
    assert [c.request.headers["Version"] for c in mocked.calls] == ["2021-04-15", "2021-04-15"]


# -- GHL businesses --------------------------------------------------------------------------------------------


def business(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"b{n}",
        "name": f"Business {n}",
        "locationId": "loc1",
        "updatedAt": "2026-11-20T00:00:00.000Z",
        **extra,
    }


def test_business_scan_pages_by_skip(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{GHL}/businesses/", json={"businesses": [business(1), business(2)]})
    mocked.get(f"{GHL}/businesses/", json={"businesses": [business(3, updatedAt="2025-01-01T00:00:00.000Z")]})
    mocked.get(f"{GHL}/businesses/", json={"businesses": []})

    pages = list(
        GhlBusinessAdapter(ghl_connection).iter_changes(cursor={}, since=datetime(2026, 1, 1, tzinfo=UTC), page_size=2)
    )

    assert [[r.id for r in p.records] for p in pages] == [["b1", "b2"], [], []]
    assert [p.next_cursor for p in pages] == [{"skip": 2}, {"skip": 3}, {}]
    assert [query_of(c)["skip"] for c in mocked.calls] == [["0"], ["2"], ["3"]]
    assert set(pages[0].records[0].values) == {f.name for f in OBJECT_TYPES["business"].ghl_fields}


def test_business_find_by_scans_once_and_compares_loosely(
    ghl_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.get(
        f"{GHL}/businesses/",
        json={"businesses": [business(1, email="Info@Acme.example", phone="+1 (415) 555-0100"), business(2)]},
    )
    mocked.get(f"{GHL}/businesses/", json={"businesses": []})
    adapter = GhlBusinessAdapter(ghl_connection)

    by_email = adapter.find_by("email", "info@acme.example")
    by_phone = adapter.find_by("phone", "+14155550100")
    by_name = adapter.find_by("name", "  business   2 ")
    missing = adapter.find_by("email", "nobody@example.com")

    assert by_email is not None
    assert by_email.id == "b1"
    assert by_phone is not None
    assert by_phone.id == "b1"
    assert by_name is not None
    assert by_name.id == "b2"
    assert missing is None
    assert adapter.find_by("website", "x") is None
    # One scan (two pages) served every lookup.
    assert len(mocked.calls) == 2


def test_business_created_by_the_adapter_is_found_without_a_new_scan(
    ghl_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.get(f"{GHL}/businesses/", json={"businesses": []})
    mocked.post(f"{GHL}/businesses/", json={"success": True, "buiseness": business(8, email="new@example.com")})
    adapter = GhlBusinessAdapter(ghl_connection)

    assert adapter.find_by("email", "new@example.com") is None
    created = adapter.create({"name": "Business 8", "email": "new@example.com", "createdAt": "x"})
    found = adapter.find_by("email", "new@example.com")

    assert body_of(mocked.calls[1]) == {"name": "Business 8", "email": "new@example.com", "locationId": "loc1"}
    assert created.id == "b8"
    assert found is not None
    assert found.id == "b8"


def test_business_update_and_delete(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.put(f"{GHL}/businesses/b1", json={"success": True, "buiseness": business(1, name="Renamed")})
    mocked.delete(f"{GHL}/businesses/b1", json={"success": True})
    adapter = GhlBusinessAdapter(ghl_connection)

    record = adapter.update("b1", {"name": "Renamed", "updatedAt": "x"})
    adapter.delete("b1")

    assert body_of(mocked.calls[0]) == {"name": "Renamed"}
    assert record.values["name"] == "Renamed"
    assert record.updated_at == datetime(2026, 11, 20, tzinfo=UTC)


# -- GHL contacts: tags without overwriting, business link -----------------------------------------------------


def ghl_contact_body(**extra: Any) -> dict[str, Any]:
    return {"id": "abc", "email": "a@example.com", "tags": ["vip", "new"], "businessId": None, **extra}


def test_tag_changes_compare_case_insensitively() -> None:
    assert tag_changes(["VIP", "old", "Keep"], ["vip", "keep", "Fresh", "fresh"]) == (["Fresh"], ["old"])
    assert tag_changes(None, "a, b") == (["a", "b"], [])
    assert tag_changes(["a"], []) == ([], ["a"])


def test_contact_update_adds_and_removes_tags_instead_of_overwriting(
    ghl_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.delete(f"{GHL}/contacts/abc/tags", json={"tags": ["vip"]})
    mocked.post(f"{GHL}/contacts/abc/tags", json={"tags": ["vip", "Gold"]}, status=201)
    mocked.put(f"{GHL}/contacts/abc", json={"succeded": True, "contact": ghl_contact_body(tags=["vip", "Gold"])})
    current = Record(id="abc", values={"tags": ["VIP", "new"]}, raw=ghl_contact_body())

    record = GhlContactAdapter(ghl_connection).update("abc", {"tags": ["vip", "Gold"], "firstName": "Ann"}, current)

    assert [(c.request.method, c.request.url) for c in mocked.calls] == [
        ("DELETE", f"{GHL}/contacts/abc/tags"),
        ("POST", f"{GHL}/contacts/abc/tags"),
        ("PUT", f"{GHL}/contacts/abc"),
    ]
    assert body_of(mocked.calls[0]) == {"tags": ["new"]}
    assert body_of(mocked.calls[1]) == {"tags": ["Gold"]}
    # The PUT never carries tags, so tags added in GHL by others survive.
    assert body_of(mocked.calls[2]) == {"firstName": "Ann"}
    assert record.values["tags"] == ["vip", "Gold"]


def test_contact_update_of_tags_only_reads_the_contact_back(
    ghl_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.post(f"{GHL}/contacts/abc/tags", json={"tags": ["vip", "new", "x"]}, status=201)
    mocked.get(f"{GHL}/contacts/abc", json={"contact": ghl_contact_body(tags=["vip", "new", "x"])})
    current = Record(id="abc", values={"tags": ["vip", "new"]}, raw=ghl_contact_body())

    record = GhlContactAdapter(ghl_connection).update("abc", {"tags": ["vip", "new", "x"]}, current)

    assert [c.request.method for c in mocked.calls] == ["POST", "GET"]
    assert record.values["tags"] == ["vip", "new", "x"]


def test_contact_update_with_only_case_changes_in_tags_calls_nothing(
    ghl_connection: Connection, mocked: responses.RequestsMock
) -> None:
    current = Record(id="abc", values={"tags": ["vip", "new"]}, raw=ghl_contact_body())

    record = GhlContactAdapter(ghl_connection).update("abc", {"tags": ["VIP", "New"]}, current)

    assert len(mocked.calls) == 0
    assert record is current


def test_contact_update_in_overwrite_mode_puts_the_tags(
    ghl_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.put(f"{GHL}/contacts/abc", json={"succeded": True, "contact": ghl_contact_body(tags=["only"])})
    current = Record(id="abc", values={"tags": ["vip", "new"]}, raw=ghl_contact_body())

    record = GhlContactAdapter(ghl_connection, overwrite_tags=True).update("abc", {"tags": ["only"]}, current)

    assert len(mocked.calls) == 1
    assert body_of(mocked.calls[0]) == {"tags": ["only"]}
    assert record.values["tags"] == ["only"]


def test_contact_business_link_goes_through_the_bulk_endpoint(
    ghl_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.post(f"{GHL}/contacts/bulk/business", json={"success": True, "ids": ["abc"]})
    mocked.put(f"{GHL}/contacts/abc", json={"succeded": True, "contact": ghl_contact_body(businessId="b1")})
    current = Record(id="abc", values={"tags": ["vip", "new"]}, raw=ghl_contact_body())

    record = GhlContactAdapter(ghl_connection).update("abc", {"businessId": "b1", "lastName": "Lee"}, current)

    assert body_of(mocked.calls[0]) == {"locationId": "loc1", "ids": ["abc"], "businessId": "b1"}
    assert body_of(mocked.calls[1]) == {"lastName": "Lee"}
    assert record.values["businessId"] == "b1"


def test_contact_business_unlink_sends_null(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{GHL}/contacts/bulk/business", json={"success": True, "ids": ["abc"]})
    mocked.get(f"{GHL}/contacts/abc", json={"contact": ghl_contact_body()})
    current = Record(id="abc", values={"businessId": "b1"}, raw=ghl_contact_body(businessId="b1"))

    record = GhlContactAdapter(ghl_connection).update("abc", {"businessId": ""}, current)

    assert body_of(mocked.calls[0])["businessId"] is None
    assert record.values["businessId"] is None


def test_contact_create_then_links_the_business(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{GHL}/contacts/upsert", json={"new": True, "contact": ghl_contact_body(id="new1"), "traceId": "t"})
    mocked.post(f"{GHL}/contacts/bulk/business", json={"success": True, "ids": ["new1"]})

    record = GhlContactAdapter(ghl_connection).create({"email": "a@example.com", "businessId": "b1"})

    assert "businessId" not in body_of(mocked.calls[0])
    assert body_of(mocked.calls[1]) == {"locationId": "loc1", "ids": ["new1"], "businessId": "b1"}
    assert record.id == "new1"
    assert record.values["businessId"] == "b1"


def test_contact_create_keeps_the_contact_when_the_link_fails(
    ghl_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.post(f"{GHL}/contacts/upsert", json={"new": True, "contact": ghl_contact_body(id="new1"), "traceId": "t"})
    mocked.post(f"{GHL}/contacts/bulk/business", json={"statusCode": 422, "message": ["bad business"]}, status=422)

    record = GhlContactAdapter(ghl_connection).create({"email": "a@example.com", "businessId": "nope"})

    assert record.id == "new1"
    assert record.values["businessId"] is None


# -- StreetText resources --------------------------------------------------------------------------------------


def test_streettext_tasks_page_with_the_durable_cursor(
    st_connection: Connection, mocked: responses.RequestsMock
) -> None:
    item = {
        "id": "tk1",
        "contact_id": "ct1",
        "title": "Call",
        "completed": False,
        "due_at": None,
        "updated_at": "2026-11-26T10:00:00.000Z",
    }
    mocked.get(f"{ST}/v1/tasks", json={"data": [item], "next_cursor": "c2", "has_more": True, "total": 2})
    mocked.get(f"{ST}/v1/tasks", json={"data": [{**item, "id": "tk2"}], "next_cursor": "c3", "has_more": False})

    pages = list(
        StreetTextTaskAdapter(st_connection).iter_changes(
            cursor={}, since=datetime(2026, 11, 1, tzinfo=UTC), page_size=1
        )
    )

    assert [[r.id for r in p.records] for p in pages] == [["tk1"], ["tk2"]]
    assert [p.next_cursor for p in pages] == [{"cursor": "c2"}, {"cursor": "c3"}]
    assert query_of(mocked.calls[0]) == {"limit": ["1"], "updated_since": ["2026-11-01T00:00:00.000Z"]}
    assert query_of(mocked.calls[1]) == {"limit": ["1"], "cursor": ["c2"]}
    record = pages[0].records[0]
    assert set(record.values) == {f.name for f in OBJECT_TYPES["task"].streettext_fields}
    assert record.values["contact_id"] == "ct1"
    assert record.updated_at == datetime(2026, 11, 26, 10, tzinfo=UTC)


def test_streettext_note_create_sends_contact_id(st_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{ST}/v1/notes", json={"note": {"id": "nt1", "contact_id": "ct1", "body": "Hi"}}, status=201)

    record = StreetTextNoteAdapter(st_connection).create({"contact_id": "ct1", "body": "Hi", "created_at": "x"})

    assert body_of(mocked.calls[0]) == {"body": "Hi", "contact_id": "ct1"}
    assert record.id == "nt1"


def test_streettext_child_create_without_contact_is_refused(st_connection: Connection) -> None:
    with pytest.raises(exc.ApiValidationError):
        StreetTextAppointmentAdapter(st_connection).create({"starts_at": "2026-12-01T10:00:00Z"})


def test_streettext_update_patches_writable_fields_only(
    st_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.patch(
        f"{ST}/v1/appointments/ap1", json={"appointment": {"id": "ap1", "contact_id": "ct1", "status": "confirmed"}}
    )

    record = StreetTextAppointmentAdapter(st_connection).update(
        "ap1", {"status": "confirmed", "contact_id": "ct2", "updated_at": "x"}
    )

    assert body_of(mocked.calls[0]) == {"status": "confirmed"}
    assert record.values["status"] == "confirmed"


def test_streettext_organisations(st_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{ST}/v1/organizations", json={"organization": {"id": "org1", "name": "Acme"}}, status=201)
    mocked.get(f"{ST}/v1/organizations/org1", json={"organization": {"id": "org1", "name": "Acme"}})
    mocked.delete(f"{ST}/v1/organizations/org1", status=204)
    adapter = StreetTextOrganizationAdapter(st_connection)

    created = adapter.create({"name": "Acme"})
    fetched = adapter.get("org1")
    adapter.delete("org1")

    assert body_of(mocked.calls[0]) == {"name": "Acme"}
    assert created.id == fetched.id == "org1"
    # The contract has no organisation filters, and a scan per lookup is too costly.
    assert adapter.find_by("email", "info@acme.example") is None
    assert len(mocked.calls) == 3


def test_streettext_sample_is_the_first_record(st_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{ST}/v1/notes", json={"data": [{"id": "nt1"}], "next_cursor": "c", "has_more": True})

    sample = StreetTextNoteAdapter(st_connection).sample()

    assert sample is not None
    assert sample.id == "nt1"
    assert len(mocked.calls) == 1
