"""Sandbox tasks, notes, appointments and businesses/organisations (GHL: docs/ghl-facts.md; docs/streettext-api.md)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from django.test import Client

from sandbox import services
from sandbox.demo import sandbox_seed_demo, sandbox_seed_demo_children
from sandbox.ghl import CALENDARS_VERSION
from sandbox.models import SandboxAccount, SandboxRecord
from tests.sandbox.sandbox_support import GHL_LOCATION, OTHER_LOCATION, OTHER_TOKEN, GhlApi, StreetTextApi

pytestmark = pytest.mark.django_db

TASK_KEYS = {"id", "title", "body", "assignedTo", "dueDate", "completed", "contactId", "dateAdded"}
NOTE_KEYS = {"id", "body", "userId", "dateAdded", "contactId", "title", "color", "pinned"}
BUSINESS_KEYS = {
    "id",
    "name",
    "locationId",
    "phone",
    "email",
    "website",
    "address",
    "city",
    "state",
    "postalCode",
    "country",
    "description",
    "createdBy",
    "updatedBy",
    "createdAt",
    "updatedAt",
}
EVENT_KEYS = {
    "id",
    "calendarId",
    "status",
    "title",
    "assignedUserId",
    "notes",
    "startTime",
    "endTime",
    "address",
    "locationId",
    "contactId",
    "appointmentStatus",
    "dateAdded",
    "dateUpdated",
}


# ------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------
def ghl_contact(ghl: GhlApi, location: str = GHL_LOCATION, **fields: Any) -> str:
    response = ghl("POST", "/contacts/", {"locationId": location, **fields})
    assert response.status_code == 201, response.json()
    return str(response.json()["contact"]["id"])


def ghl_task(ghl: GhlApi, contact_id: str, **fields: Any) -> dict[str, Any]:
    body = {"title": "Call back", "dueDate": "2026-03-01T10:00:00.000Z", "completed": False, **fields}
    response = ghl("POST", f"/contacts/{contact_id}/tasks", body)
    assert response.status_code == 201, response.json()
    return dict(response.json()["task"])


@pytest.fixture
def cal(client: Client, ghl_account: SandboxAccount) -> GhlApi:
    return GhlApi(client, version=CALENDARS_VERSION)


def book(cal: GhlApi, contact_id: str, **fields: Any) -> Any:
    body = {
        "calendarId": "cal1",
        "locationId": GHL_LOCATION,
        "contactId": contact_id,
        "startTime": "2026-03-02T15:00:00Z",
        **fields,
    }
    return cal("POST", "/calendars/events/appointments", body)


def st_contact(st: StreetTextApi, **fields: Any) -> str:
    response = st("POST", "/v1/contacts", {"first_name": "Sam", **fields})
    assert response.status_code == 201, response.json()
    return str(response.json()["contact"]["id"])


# ------------------------------------------------------------------------------
# GHL tasks
# ------------------------------------------------------------------------------
def test_ghl_task_lifecycle_and_envelopes(ghl: GhlApi) -> None:
    contact_id = ghl_contact(ghl, email="t@example.com")

    created = ghl(
        "POST",
        f"/contacts/{contact_id}/tasks",
        {"title": "Call", "body": "re quote", "dueDate": "2026-03-01 10:00:00", "completed": False},
    )
    task_id = created.json()["task"]["id"]
    listed = ghl("GET", f"/contacts/{contact_id}/tasks")
    fetched = ghl("GET", f"/contacts/{contact_id}/tasks/{task_id}")
    updated = ghl("PUT", f"/contacts/{contact_id}/tasks/{task_id}", {"title": "Call again", "assignedTo": "usr1"})
    completed = ghl("PUT", f"/contacts/{contact_id}/tasks/{task_id}/completed", {"completed": True})
    deleted = ghl("DELETE", f"/contacts/{contact_id}/tasks/{task_id}")
    gone = ghl("GET", f"/contacts/{contact_id}/tasks/{task_id}")

    assert created.status_code == 201
    assert set(created.json()) == {"task"}
    assert set(created.json()["task"]) == TASK_KEYS
    assert created.json()["task"]["dueDate"] == "2026-03-01T10:00:00.000Z"
    assert created.json()["task"]["contactId"] == contact_id
    assert listed.json() == {"tasks": [created.json()["task"]]}
    assert fetched.json() == {"task": created.json()["task"]}
    assert updated.status_code == 200
    assert updated.json()["task"]["title"] == "Call again"
    assert updated.json()["task"]["body"] == "re quote"
    assert updated.json()["task"]["completed"] is False
    assert completed.status_code == 200
    assert completed.json()["task"]["completed"] is True
    assert completed.json()["task"]["assignedTo"] == "usr1"
    assert deleted.status_code == 200
    assert deleted.json() == {"succeded": True}  # sic
    assert gone.status_code == 404
    assert gone.json() == {"statusCode": 404, "message": "Task not found"}


def test_ghl_task_create_requires_title_due_date_completed(ghl: GhlApi) -> None:
    contact_id = ghl_contact(ghl)

    missing = ghl("POST", f"/contacts/{contact_id}/tasks", {"body": "x"})
    wrong = ghl("POST", f"/contacts/{contact_id}/tasks", {"title": "T", "dueDate": "soon", "completed": "no", "x": 1})
    bad_date = ghl("POST", f"/contacts/{contact_id}/tasks", {"title": "T", "dueDate": "soon", "completed": False})

    assert missing.status_code == 422
    assert missing.json()["error"] == "Unprocessable Entity"
    assert {"title should not be empty", "dueDate should not be empty", "completed must be a boolean value"} <= set(
        missing.json()["message"]
    )
    # The spec (CreateTaskParams) is checked first; its dueDate is a plain string, so "soon" passes it ...
    assert wrong.status_code == 422
    assert set(wrong.json()["message"]) == {"property x should not exist", "completed must be a boolean value"}
    # ... and the sandbox's own check of the date comes once the body conforms.
    assert bad_date.status_code == 422
    assert bad_date.json()["message"] == ["dueDate must be a valid ISO 8601 date string"]


def test_ghl_completed_endpoint_requires_a_boolean(ghl: GhlApi) -> None:
    contact_id = ghl_contact(ghl)
    task = ghl_task(ghl, contact_id)

    response = ghl("PUT", f"/contacts/{contact_id}/tasks/{task['id']}/completed", {"title": "nope"})

    assert response.status_code == 422
    assert "property title should not exist" in response.json()["message"]
    assert "completed should not be empty" in response.json()["message"]


def test_ghl_task_of_another_contact_is_not_found(ghl: GhlApi) -> None:
    owner, other = ghl_contact(ghl, email="a@example.com"), ghl_contact(ghl, email="b@example.com")
    task = ghl_task(ghl, owner)

    response = ghl("GET", f"/contacts/{other}/tasks/{task['id']}")
    put = ghl("PUT", f"/contacts/{other}/tasks/{task['id']}", {"title": "x"})

    assert response.status_code == 404
    assert put.status_code == 404


def test_ghl_tasks_of_another_location_are_forbidden(
    client: Client, ghl: GhlApi, other_ghl_account: SandboxAccount
) -> None:
    other = GhlApi(client, token=OTHER_TOKEN)
    contact_id = ghl_contact(other, location=OTHER_LOCATION)

    response = ghl("GET", f"/contacts/{contact_id}/tasks")
    search = ghl("POST", f"/locations/{OTHER_LOCATION}/tasks/search", {})

    assert response.status_code == 403
    assert search.status_code == 403


def test_ghl_tasks_search_pages_every_task_once(ghl: GhlApi) -> None:
    contacts = [ghl_contact(ghl, email=f"s{index}@example.com") for index in range(3)]
    created = {
        ghl_task(ghl, contacts[index % 3], title=f"Task {index}", completed=index % 2 == 0)["id"] for index in range(11)
    }

    seen: list[str] = []
    skip = 0
    while True:
        page = ghl("POST", f"/locations/{GHL_LOCATION}/tasks/search", {"limit": 4, "skip": skip})
        assert page.status_code == 200
        assert set(page.json()) == {"tasks"}
        tasks = page.json()["tasks"]
        seen += [task["id"] for task in tasks]
        if len(tasks) < 4:
            break
        skip += 4
    by_contact = ghl("POST", f"/locations/{GHL_LOCATION}/tasks/search", {"contactId": [contacts[0]], "limit": 100})
    open_tasks = ghl("POST", f"/locations/{GHL_LOCATION}/tasks/search", {"completed": False, "limit": 100})
    queried = ghl("POST", f"/locations/{GHL_LOCATION}/tasks/search", {"query": "task 1"})
    bad = ghl("POST", f"/locations/{GHL_LOCATION}/tasks/search", {"limit": 0, "page": 2})

    assert len(seen) == len(set(seen)) == 11
    assert set(seen) == created
    assert {task["contactId"] for task in by_contact.json()["tasks"]} == {contacts[0]}
    assert len(by_contact.json()["tasks"]) == 4
    assert len(open_tasks.json()["tasks"]) == 5
    assert sorted(task["title"] for task in queried.json()["tasks"]) == ["Task 1", "Task 10"]
    assert bad.status_code == 422
    assert bad.json()["message"] == ["property page should not exist"]


# ------------------------------------------------------------------------------
# GHL notes
# ------------------------------------------------------------------------------
def test_ghl_note_lifecycle_and_envelopes(ghl: GhlApi) -> None:
    contact_id = ghl_contact(ghl)

    created = ghl("POST", f"/contacts/{contact_id}/notes", {"body": "Likes texts", "color": "#FFAA00"})
    note_id = created.json()["note"]["id"]
    listed = ghl("GET", f"/contacts/{contact_id}/notes")
    fetched = ghl("GET", f"/contacts/{contact_id}/notes/{note_id}")
    updated = ghl("PUT", f"/contacts/{contact_id}/notes/{note_id}", {"pinned": True, "title": "Pref"})
    deleted = ghl("DELETE", f"/contacts/{contact_id}/notes/{note_id}")
    after = ghl("GET", f"/contacts/{contact_id}/notes")

    assert created.status_code == 201
    assert set(created.json()) == {"note"}
    assert set(created.json()["note"]) == NOTE_KEYS
    assert created.json()["note"]["pinned"] is False
    assert listed.json() == {"notes": [created.json()["note"]]}
    assert fetched.json() == {"note": created.json()["note"]}
    assert updated.json()["note"] == {**created.json()["note"], "pinned": True, "title": "Pref"}
    assert deleted.json() == {"succeded": True}  # sic
    assert after.json() == {"notes": []}


def test_ghl_note_body_is_required(ghl: GhlApi) -> None:
    contact_id = ghl_contact(ghl)

    response = ghl("POST", f"/contacts/{contact_id}/notes", {"title": "no body"})

    assert response.status_code == 422
    assert "body should not be empty" in response.json()["message"]


# ------------------------------------------------------------------------------
# GHL appointments (calendars API, Version 2021-04-15)
# ------------------------------------------------------------------------------
def test_ghl_appointment_lifecycle(ghl: GhlApi, cal: GhlApi) -> None:
    contact_id = ghl_contact(ghl)

    created = book(cal, contact_id, title="Demo", appointmentStatus="confirmed", toNotify=False)
    event_id = created.json()["id"]
    fetched = cal("GET", f"/calendars/events/appointments/{event_id}")
    by_contact = ghl("GET", f"/contacts/{contact_id}/appointments")
    moved = cal("PUT", f"/calendars/events/appointments/{event_id}", {"startTime": "2026-03-03 09:00:00"})
    listed = cal(
        "GET",
        "/calendars/events",
        params={"locationId": GHL_LOCATION, "calendarId": "cal1", "startTime": 1772496000000, "endTime": 1772582400000},
    )
    deleted = cal("DELETE", f"/calendars/events/{event_id}", {})
    gone = cal("GET", f"/calendars/events/appointments/{event_id}")

    assert created.status_code == 200
    assert "event" not in created.json()  # un-enveloped
    assert created.json()["startTime"] == "2026-03-02T15:00:00.000Z"
    assert created.json()["endTime"] == "2026-03-02T15:30:00.000Z"
    assert created.json()["appointmentStatus"] == "confirmed"
    assert created.json()["locationId"] == GHL_LOCATION
    assert set(fetched.json()) == {"event"}
    assert fetched.json()["event"]["title"] == "Demo"
    assert set(by_contact.json()) == {"events"}
    assert set(by_contact.json()["events"][0]) >= EVENT_KEYS
    assert by_contact.json()["events"][0]["id"] == event_id
    assert moved.status_code == 200
    assert moved.json()["startTime"] == "2026-03-03T09:00:00.000Z"
    assert moved.json()["endTime"] == "2026-03-03T09:30:00.000Z"  # length kept
    assert [event["id"] for event in listed.json()["events"]] == [event_id]
    assert deleted.status_code == 201
    assert deleted.json() == {"succeeded": True}  # spelled correctly here
    assert gone.status_code == 404


def test_ghl_calendars_refuse_the_contacts_version(ghl: GhlApi, cal: GhlApi) -> None:
    contact_id = ghl_contact(ghl)
    event_id = book(cal, contact_id).json()["id"]

    wrong_get = ghl("GET", f"/calendars/events/appointments/{event_id}")
    wrong_post = ghl(
        "POST",
        "/calendars/events/appointments",
        {"calendarId": "c", "locationId": GHL_LOCATION, "contactId": contact_id, "startTime": "2026-03-02T15:00:00Z"},
    )
    wrong_contacts = cal("GET", f"/contacts/{contact_id}/appointments")

    assert wrong_get.status_code == 400
    assert wrong_get.json() == {"statusCode": 400, "message": "Version header is missing or invalid"}
    assert wrong_post.status_code == 400
    assert wrong_contacts.status_code == 400


def test_ghl_appointment_validation(ghl: GhlApi, cal: GhlApi) -> None:
    contact_id = ghl_contact(ghl)

    missing = cal("POST", "/calendars/events/appointments", {"title": "x"})
    bad_status = book(cal, contact_id, appointmentStatus="booked")
    unknown_contact = book(cal, "nope")
    backwards = book(cal, contact_id, endTime="2026-03-02T14:00:00Z")

    assert missing.status_code == 422
    assert {
        "calendarId should not be empty",
        "locationId should not be empty",
        "contactId should not be empty",
        "startTime should not be empty",
    } <= set(missing.json()["message"])
    assert bad_status.status_code == 422
    assert bad_status.json()["message"] == [
        "appointmentStatus must be one of the following values: new, confirmed, cancelled, showed, noshow, invalid"
    ]
    assert unknown_contact.status_code == 422
    assert backwards.status_code == 422


# ------------------------------------------------------------------------------
# GHL businesses and the contact link
# ------------------------------------------------------------------------------
def test_ghl_business_lifecycle_and_typos(ghl: GhlApi) -> None:
    created = ghl("POST", "/businesses/", {"name": "Acme", "locationId": GHL_LOCATION, "city": "SF"})
    business_id = created.json()["buiseness"]["id"]
    listed = ghl("GET", "/businesses/", params={"locationId": GHL_LOCATION})
    fetched = ghl("GET", f"/businesses/{business_id}")
    updated = ghl("PUT", f"/businesses/{business_id}", {"website": "https://acme.example"})
    deleted = ghl("DELETE", f"/businesses/{business_id}")
    gone = ghl("GET", f"/businesses/{business_id}")

    assert created.status_code == 201
    assert set(created.json()) == {"success", "buiseness"}  # sic
    assert created.json()["success"] is True
    assert set(created.json()["buiseness"]) == BUSINESS_KEYS
    assert created.json()["buiseness"]["locationId"] == GHL_LOCATION
    assert listed.json() == {"businesses": [created.json()["buiseness"]]}
    assert fetched.json() == {"business": created.json()["buiseness"]}
    assert updated.status_code == 200
    assert set(updated.json()) == {"success", "buiseness"}
    assert updated.json()["buiseness"]["website"] == "https://acme.example"
    assert updated.json()["buiseness"]["city"] == "SF"
    assert deleted.json() == {"success": True}
    assert gone.status_code == 404


def test_ghl_business_requires_name_and_location(ghl: GhlApi) -> None:
    response = ghl("POST", "/businesses/", {"city": "SF"})
    no_location = ghl("GET", "/businesses/")

    assert response.status_code == 422
    assert {"name should not be empty", "locationId should not be empty"} <= set(response.json()["message"])
    assert no_location.status_code == 422


def test_ghl_bulk_business_links_and_unlinks_contacts(ghl: GhlApi) -> None:
    business_id = ghl("POST", "/businesses/", {"name": "Acme", "locationId": GHL_LOCATION}).json()["buiseness"]["id"]
    contacts = [ghl_contact(ghl, email=f"b{index}@example.com") for index in range(3)]

    linked = ghl(
        "POST",
        "/contacts/bulk/business",
        {"locationId": GHL_LOCATION, "ids": [*contacts, "missing"], "businessId": business_id},
    )
    members = ghl("GET", f"/contacts/business/{business_id}", params={"locationId": GHL_LOCATION})
    paged = ghl("GET", f"/contacts/business/{business_id}", params={"locationId": GHL_LOCATION, "limit": 2, "skip": 2})
    contact = ghl("GET", f"/contacts/{contacts[0]}")
    unlinked = ghl(
        "POST", "/contacts/bulk/business", {"locationId": GHL_LOCATION, "ids": contacts[:2], "businessId": None}
    )
    after = ghl("GET", f"/contacts/business/{business_id}", params={"locationId": GHL_LOCATION})
    no_put = ghl("PUT", f"/contacts/{contacts[2]}", {"businessId": None})

    assert linked.status_code == 200
    assert linked.json() == {"success": True, "ids": contacts}
    assert members.json()["count"] == 3
    assert sorted(row["id"] for row in members.json()["contacts"]) == sorted(contacts)
    assert paged.json()["count"] == 3
    assert len(paged.json()["contacts"]) == 1
    assert contact.json()["contact"]["businessId"] == business_id
    assert unlinked.json() == {"success": True, "ids": contacts[:2]}
    assert [row["id"] for row in after.json()["contacts"]] == [contacts[2]]
    assert no_put.status_code == 422  # UpdateContactDto has no businessId
    assert no_put.json()["message"] == ["property businessId should not exist"]


def test_ghl_bulk_business_validation(ghl: GhlApi) -> None:
    contact_id = ghl_contact(ghl)

    missing = ghl("POST", "/contacts/bulk/business", {"locationId": GHL_LOCATION, "ids": []})
    unknown = ghl(
        "POST", "/contacts/bulk/business", {"locationId": GHL_LOCATION, "ids": [contact_id], "businessId": "nope"}
    )

    empty_ids = ghl("POST", "/contacts/bulk/business", {"locationId": GHL_LOCATION, "ids": [], "businessId": None})

    # ContactsBusinessUpdate requires businessId (nullable); an empty ids array conforms to the spec ...
    assert missing.status_code == 422
    assert missing.json()["message"] == ["businessId should not be empty"]
    # ... and is refused by the sandbox's own check.
    assert empty_ids.status_code == 422
    assert empty_ids.json()["message"] == ["ids should not be empty"]
    assert unknown.status_code == 404


def test_ghl_deleting_a_business_unlinks_its_contacts(ghl: GhlApi) -> None:
    business_id = ghl("POST", "/businesses/", {"name": "Acme", "locationId": GHL_LOCATION}).json()["buiseness"]["id"]
    contact_id = ghl_contact(ghl)
    ghl("POST", "/contacts/bulk/business", {"locationId": GHL_LOCATION, "ids": [contact_id], "businessId": business_id})

    ghl("DELETE", f"/businesses/{business_id}")

    assert ghl("GET", f"/contacts/{contact_id}").json()["contact"]["businessId"] is None


def test_ghl_deleting_a_contact_deletes_its_children(ghl: GhlApi, cal: GhlApi) -> None:
    contact_id, keeper = ghl_contact(ghl, email="gone@example.com"), ghl_contact(ghl, email="kept@example.com")
    ghl_task(ghl, contact_id)
    ghl("POST", f"/contacts/{contact_id}/notes", {"body": "n"})
    book(cal, contact_id)
    kept_task = ghl_task(ghl, keeper)

    ghl("DELETE", f"/contacts/{contact_id}")
    search = ghl("POST", f"/locations/{GHL_LOCATION}/tasks/search", {})

    live = SandboxRecord.objects.filter(deleted=False, object_type__in=["task", "note", "appointment"])
    assert [task["id"] for task in search.json()["tasks"]] == [kept_task["id"]]
    assert list(live.values_list("record_id", flat=True)) == [kept_task["id"]]
    assert ghl("GET", f"/contacts/{contact_id}/tasks").status_code == 404


def test_ghl_children_go_through_faults(ghl: GhlApi) -> None:
    contact_id = ghl_contact(ghl)
    services.sandbox_fault_add(system="ghl", kind="status", status=503, path_contains="/tasks")

    failed = ghl("GET", f"/contacts/{contact_id}/tasks")
    ok = ghl("GET", f"/contacts/{contact_id}/tasks")

    assert failed.status_code == 503
    assert ok.status_code == 200
    assert ok.headers["X-RateLimit-Max"] == "100"


# ------------------------------------------------------------------------------
# StreetText
# ------------------------------------------------------------------------------
def test_streettext_task_lifecycle(st: StreetTextApi) -> None:
    contact_id = st_contact(st)

    created = st("POST", "/v1/tasks", {"contact_id": contact_id, "title": "Call", "due_at": "2026-03-01T10:00:00Z"})
    task_id = created.json()["task"]["id"]
    fetched = st("GET", f"/v1/tasks/{task_id}")
    patched = st("PATCH", f"/v1/tasks/{task_id}", {"completed": True})
    deleted = st("DELETE", f"/v1/tasks/{task_id}")
    gone = st("GET", f"/v1/tasks/{task_id}")

    assert created.status_code == 201
    task = created.json()["task"]
    assert set(task) == {
        "id",
        "contact_id",
        "title",
        "body",
        "due_at",
        "completed",
        "assignee",
        "created_at",
        "updated_at",
    }
    assert task["due_at"] == "2026-03-01T10:00:00.000Z"
    assert task["completed"] is False
    assert fetched.json() == {"task": task}
    assert patched.status_code == 200
    assert patched.json()["task"]["completed"] is True
    assert patched.json()["task"]["title"] == "Call"
    assert patched.json()["task"]["updated_at"] > task["updated_at"]
    assert deleted.status_code == 204
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"


def test_streettext_children_validate_fields_and_contact(st: StreetTextApi) -> None:
    contact_id = st_contact(st)

    missing = st("POST", "/v1/tasks", {"body": "x"})
    unknown = st("POST", "/v1/notes", {"contact_id": "ct_nope", "body": "x"})
    appointment = st(
        "POST", "/v1/appointments", {"contact_id": contact_id, "starts_at": "2026-03-01T10:00:00Z", "status": "booked"}
    )
    organization = st("POST", "/v1/organizations", {"name": "Acme", "phone": "415 555 0100"})

    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "validation_failed"
    assert set(missing.json()["error"]["details"]) == {"contact_id: required", "title: required"}
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"] == ["contact_id: no contact ct_nope"]
    assert appointment.status_code == 422
    assert organization.status_code == 422
    assert organization.json()["error"]["details"] == ["phone: must be in E.164 format, e.g. +14155550100"]


def test_streettext_note_and_appointment_defaults(st: StreetTextApi) -> None:
    contact_id = st_contact(st)

    note = st("POST", "/v1/notes", {"contact_id": contact_id, "body": "hi"}).json()["note"]
    dated = st("POST", "/v1/notes", {"contact_id": contact_id, "body": "old", "written_at": "2025-01-01T00:00:00Z"})
    appointment = st("POST", "/v1/appointments", {"contact_id": contact_id, "starts_at": "2026-03-01T10:00:00Z"})

    assert note["written_at"] == note["created_at"]
    assert dated.json()["note"]["written_at"] == "2025-01-01T00:00:00.000Z"
    assert appointment.status_code == 201
    assert appointment.json()["appointment"]["status"] == "scheduled"


def test_streettext_contact_organization_link(st: StreetTextApi) -> None:
    organization = st("POST", "/v1/organizations", {"name": "Acme", "phone": "+14155550100"})
    org_id = organization.json()["organization"]["id"]

    bad = st("POST", "/v1/contacts", {"first_name": "A", "organization_id": "org_nope"})
    contact_id = st_contact(st, organization_id=org_id)
    fetched = st("GET", f"/v1/contacts/{contact_id}")
    unlinked = st("PATCH", f"/v1/contacts/{contact_id}", {"organization_id": None})
    relinked = st("PATCH", f"/v1/contacts/{contact_id}", {"organization_id": org_id})
    st("DELETE", f"/v1/organizations/{org_id}")
    after_delete = st("GET", f"/v1/contacts/{contact_id}")

    assert organization.status_code == 201
    assert bad.status_code == 422
    assert bad.json()["error"]["details"] == ["organization_id: no organization org_nope"]
    assert fetched.json()["contact"]["organization_id"] == org_id
    assert unlinked.json()["contact"]["organization_id"] is None
    assert relinked.json()["contact"]["organization_id"] == org_id
    assert after_delete.json()["contact"]["organization_id"] is None


def test_streettext_task_listing_cursor_is_durable(st: StreetTextApi) -> None:
    first, second = st_contact(st, email="a@example.com"), st_contact(st, email="b@example.com")
    ids = [
        st("POST", "/v1/tasks", {"contact_id": first if index < 4 else second, "title": f"T{index}"}).json()["task"][
            "id"
        ]
        for index in range(5)
    ]

    pages = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = st("GET", "/v1/tasks", params=params).json()
        pages.append(page)
        if not page["has_more"]:
            break
        params = {"limit": 2, "cursor": page["next_cursor"]}
    stored = pages[-1]["next_cursor"]
    st("PATCH", f"/v1/tasks/{ids[1]}", {"title": "changed"})
    resumed = st("GET", "/v1/tasks", params={"cursor": stored}).json()
    filtered = st("GET", "/v1/tasks", params={"contact_id": second}).json()

    assert [task["id"] for page in pages for task in page["data"]] == ids
    assert [page["total"] for page in pages] == [5, 3, 1]
    assert [task["id"] for task in resumed["data"]] == [ids[1]]
    assert resumed["has_more"] is False
    assert resumed["total"] == 1
    assert [task["id"] for task in filtered["data"]] == [ids[4]]


def test_streettext_deleting_a_contact_deletes_its_children(st: StreetTextApi) -> None:
    contact_id = st_contact(st)
    task = st("POST", "/v1/tasks", {"contact_id": contact_id, "title": "T"}).json()["task"]
    st("POST", "/v1/notes", {"contact_id": contact_id, "body": "n"})
    st("POST", "/v1/appointments", {"contact_id": contact_id, "starts_at": "2026-03-01T10:00:00Z"})

    deleted = st("DELETE", f"/v1/contacts/{contact_id}")

    assert deleted.status_code == 204
    for path in ("/v1/tasks", "/v1/notes", "/v1/appointments"):
        assert st("GET", path).json()["total"] == 0
    assert st("GET", f"/v1/tasks/{task['id']}").status_code == 404


# ------------------------------------------------------------------------------
# Demo seeder
# ------------------------------------------------------------------------------
SEED_ARGS: dict[str, Any] = {"ghl_location_id": "locDemo", "ghl_token": "pit-demo", "streettext_api_key": "st-demo"}
CHILD_ARGS: dict[str, Any] = {"ghl_location_id": "locDemo", "streettext_api_key": "st-demo"}
EXPECTED_DEMO_CHILDREN = {
    "ghl_appointments": 45,
    "ghl_businesses": 3,
    "ghl_contacts_with_business": 63,
    "ghl_notes": 102,
    "ghl_tasks": 225,
    "ghl_tasks_completed": 61,
    "streettext_notes": 23,
    "streettext_tasks": 35,
}


def test_demo_children_counts_are_deterministic(client: Client) -> None:
    contact_counts = sandbox_seed_demo(**SEED_ARGS)
    counts = sandbox_seed_demo_children(**CHILD_ARGS)
    first = sorted(SandboxRecord.objects.exclude(object_type="contact").values_list("object_type", "record_id"))
    linked = SandboxRecord.objects.filter(object_type="contact", data__businessId__isnull=False).exclude(
        data__businessId=None
    )

    again = sandbox_seed_demo_children(**CHILD_ARGS)

    assert contact_counts["ghl_total"] == 300
    assert counts == again
    assert counts == EXPECTED_DEMO_CHILDREN
    assert sorted(SandboxRecord.objects.exclude(object_type="contact").values_list("object_type", "record_id")) == first
    assert linked.count() == counts["ghl_contacts_with_business"]
    task = SandboxRecord.objects.filter(object_type="task", account__system="ghl").order_by("record_id").first()
    assert task is not None
    ghl = GhlApi(client, token="pit-demo")
    listed = ghl("GET", f"/contacts/{task.data['contactId']}/tasks")
    assert task.record_id in [row["id"] for row in listed.json()["tasks"]]
    businesses = ghl("GET", "/businesses/", params={"locationId": "locDemo"}).json()["businesses"]
    members = ghl("GET", f"/contacts/business/{businesses[0]['id']}", params={"locationId": "locDemo"}).json()
    assert members["count"] > 0
    st_tasks = StreetTextApi(client, key="st-demo")("GET", "/v1/tasks", params={"limit": 200}).json()
    assert st_tasks["total"] == counts["streettext_tasks"]


def test_demo_children_need_the_demo_contacts() -> None:
    with pytest.raises(services.SandboxInputError):
        sandbox_seed_demo_children(**CHILD_ARGS)


# ------------------------------------------------------------------------------
# Over real HTTP
# ------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_children_over_http(live_server: Any) -> None:
    services.sandbox_account_create(system="ghl", account_id="locLiveKids", secret="pit-live-kids")
    services.sandbox_account_create(system="streettext", account_id="ws_live_kids", secret="st-live-kids")
    ghl_base = f"{live_server.url}/sandbox/ghl"
    st_base = f"{live_server.url}/sandbox/streettext"
    contacts_headers = {"Authorization": "Bearer pit-live-kids", "Version": "2021-07-28"}
    calendars_headers = {**contacts_headers, "Version": CALENDARS_VERSION}
    st_headers = {"X-Api-Key": "st-live-kids"}

    contact = requests.post(
        f"{ghl_base}/contacts/",
        json={"locationId": "locLiveKids", "firstName": "Kid"},
        headers=contacts_headers,
        timeout=10,
    ).json()["contact"]
    task = requests.post(
        f"{ghl_base}/contacts/{contact['id']}/tasks",
        json={"title": "Live", "dueDate": "2026-03-01T10:00:00Z", "completed": False},
        headers=contacts_headers,
        timeout=10,
    )
    search = requests.post(
        f"{ghl_base}/locations/locLiveKids/tasks/search", json={"limit": 10}, headers=contacts_headers, timeout=10
    )
    booked = requests.post(
        f"{ghl_base}/calendars/events/appointments",
        json={
            "calendarId": "c1",
            "locationId": "locLiveKids",
            "contactId": contact["id"],
            "startTime": "2026-03-02T15:00:00Z",
        },
        headers=calendars_headers,
        timeout=10,
    )
    wrong_version = requests.delete(
        f"{ghl_base}/calendars/events/{booked.json()['id']}", headers=contacts_headers, timeout=10
    )
    no_body = requests.delete(
        f"{ghl_base}/calendars/events/{booked.json()['id']}", headers=calendars_headers, timeout=10
    )
    deleted = requests.delete(
        f"{ghl_base}/calendars/events/{booked.json()['id']}", json={}, headers=calendars_headers, timeout=10
    )
    st_contact_id = requests.post(
        f"{st_base}/v1/contacts", json={"first_name": "Kid"}, headers=st_headers, timeout=10
    ).json()["contact"]["id"]
    st_note = requests.post(
        f"{st_base}/v1/notes", json={"contact_id": st_contact_id, "body": "hi"}, headers=st_headers, timeout=10
    )
    st_notes = requests.get(f"{st_base}/v1/notes", params={"contact_id": st_contact_id}, headers=st_headers, timeout=10)

    assert task.status_code == 201
    assert [row["id"] for row in search.json()["tasks"]] == [task.json()["task"]["id"]]
    assert booked.status_code == 200
    assert wrong_version.status_code == 400
    # DELETE /calendars/events/{eventId} declares a required (empty) JSON body.
    assert no_body.status_code == 422
    assert no_body.json()["message"] == ["request body should not be empty"]
    assert deleted.status_code == 201
    assert deleted.json() == {"succeeded": True}
    assert st_note.status_code == 201
    assert st_notes.json()["total"] == 1
    assert SandboxAccount.objects.filter(account_id="locLiveKids").exists()
