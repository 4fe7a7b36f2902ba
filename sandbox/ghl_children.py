"""The fake GoHighLevel tasks, notes, appointments and businesses (docs/ghl-facts.md).

Contacts API (Version 2021-07-28): tasks, notes, a contact's appointments, `POST /locations/{id}/tasks/search`,
`POST /contacts/bulk/business`, `GET /contacts/business/{id}`. Businesses API (2021-07-28): `/businesses/`.
Calendars API (Version 2021-04-15): `/calendars/events…`. The view layer (views.ghl_view) does auth, Version,
rate limiting and fault injection exactly as for contacts; handlers here validate, store and shape.

Records live in the generic store: object_type "task" / "note" / "appointment" (data["contactId"] names the
contact, in the contact's location) and "business". `dateAdded` is the record's created_at, `dateUpdated` its
updated_at. Wire typos are kept on purpose: `succeded` (task/note deletes), `buiseness` (business create/update),
while the calendars delete answers `succeeded`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Q, QuerySet

from sandbox import services
from sandbox.ghl import (
    CONTACT,
    GhlError,
    GhlRequest,
    Result,
    _int_param,
    contact_render,
    ghl_error,
    unprocessable,
)
from sandbox.models import SandboxAccount, SandboxRecord, SandboxSystem

TASK = "task"
NOTE = "note"
APPOINTMENT = "appointment"
BUSINESS = "business"

MSG_TASK_NOT_FOUND = "Task not found"
MSG_NOTE_NOT_FOUND = "Note not found"
MSG_EVENT_NOT_FOUND = "Event not found"
MSG_BUSINESS_NOT_FOUND = "Business not found"
MSG_APPOINTMENT_CONTACT = "contactId must be a contact of this location"
MSG_END_BEFORE_START = "endTime must be after startTime"
MSG_CALENDAR_FILTER = "calendarId, userId or groupId is required"

APPOINTMENT_STATUSES = ("new", "confirmed", "cancelled", "showed", "noshow", "invalid")
DEFAULT_APPOINTMENT_STATUS = "new"
# GHL takes the length from the calendar's slot settings; the sandbox has no calendars, so a fixed default.
DEFAULT_APPOINTMENT_MINUTES = 30
SANDBOX_USER = "sandbox-integration"

TASK_SEARCH_DEFAULT_LIMIT = 20
TASK_SEARCH_MAX_LIMIT = 100
BUSINESS_LIST_DEFAULT_LIMIT = 100
BUSINESS_LIST_MAX_LIMIT = 1000
BY_BUSINESS_DEFAULT_LIMIT = 25
BY_BUSINESS_MAX_LIMIT = 100

# Field kinds understood by _clean().
STRING, BOOL, TIME, EMAIL, STATUS, STRING_LIST = "string", "bool", "time", "email", "status", "string_list"

TASK_FIELDS = {"title": STRING, "body": STRING, "dueDate": TIME, "completed": BOOL, "assignedTo": STRING}
TASK_REQUIRED = ("title", "dueDate", "completed")
NOTE_FIELDS = {"userId": STRING, "body": STRING, "title": STRING, "color": STRING, "pinned": BOOL}
NOTE_REQUIRED = ("body",)
_APPOINTMENT_COMMON = {
    "calendarId": STRING,
    "startTime": TIME,
    "endTime": TIME,
    "title": STRING,
    "meetingLocationType": STRING,
    "meetingLocationId": STRING,
    "overrideLocationConfig": BOOL,
    "appointmentStatus": STATUS,
    "assignedUserId": STRING,
    "description": STRING,
    "address": STRING,
    "ignoreDateRange": BOOL,
    "toNotify": BOOL,
    "ignoreFreeSlotValidation": BOOL,
    "rrule": STRING,
}
APPOINTMENT_CREATE_FIELDS = {**_APPOINTMENT_COMMON, "locationId": STRING, "contactId": STRING}
APPOINTMENT_UPDATE_FIELDS = _APPOINTMENT_COMMON
APPOINTMENT_REQUIRED = ("calendarId", "locationId", "contactId", "startTime")
# Booking options that steer GHL's slot checks; accepted, not stored.
APPOINTMENT_TRANSIENT = frozenset({"overrideLocationConfig", "ignoreDateRange", "toNotify", "ignoreFreeSlotValidation"})
_BUSINESS_COMMON = {
    "name": STRING,
    "phone": STRING,
    "email": EMAIL,
    "website": STRING,
    "address": STRING,
    "city": STRING,
    "postalCode": STRING,
    "state": STRING,
    "country": STRING,
    "description": STRING,
}
BUSINESS_CREATE_FIELDS = {**_BUSINESS_COMMON, "locationId": STRING}
BUSINESS_UPDATE_FIELDS = _BUSINESS_COMMON
BUSINESS_REQUIRED = ("name", "locationId")
TASK_SEARCH_FIELDS = {
    "contactId": STRING_LIST,
    "completed": BOOL,
    "assignedTo": STRING_LIST,
    "query": STRING,
    "limit": "int",
    "skip": "int",
    "businessId": STRING,
}
BULK_BUSINESS_FIELDS = {"locationId": STRING, "ids": STRING_LIST, "businessId": STRING}

_TYPE_MESSAGES = {
    STRING: "must be a string",
    BOOL: "must be a boolean value",
    TIME: "must be a valid ISO 8601 date string",
    EMAIL: "must be an email",
    STATUS: f"must be one of the following values: {', '.join(APPOINTMENT_STATUSES)}",
    STRING_LIST: "must be an array",
    "int": "must be a number",
}


# ------------------------------------------------------------------------------
# Validation (class-validator style messages, 422 with an array)
# ------------------------------------------------------------------------------
def _clean_value(kind: str, value: Any) -> tuple[bool, Any]:
    """(ok, storable value) for one non-null value of a field kind."""
    if kind in (STRING, EMAIL):
        if not isinstance(value, str):
            return False, None
        text = value.strip()
        if kind == EMAIL and text:
            try:
                validate_email(text)
            except ValidationError:
                return False, None
        return True, text
    if kind == BOOL:
        return isinstance(value, bool), value
    if kind == TIME:
        moment = services.parse_time(value)
        return (True, services.to_iso(moment)) if moment is not None else (False, None)
    if kind == STATUS:
        return value in APPOINTMENT_STATUSES, value
    if kind == STRING_LIST:
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return True, list(dict.fromkeys(value))
        return False, None
    if kind == "int":
        return (not isinstance(value, bool) and isinstance(value, int | str)), value
    raise AssertionError(f"unknown field kind {kind}")


def _clean(body: Mapping[str, Any], *, fields: Mapping[str, str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Check a write body against a DTO; returns the given fields cleaned (null kept as None)."""
    errors = [f"property {key} should not exist" for key in body if key not in fields]
    cleaned: dict[str, Any] = {}
    for key in required:
        value = body.get(key)
        if value is None or value == [] or (isinstance(value, str) and not value.strip()):
            errors.append(f"{key} should not be empty")
            if value is None:
                errors.append(f"{key} {_TYPE_MESSAGES[fields[key]]}")
    for key, value in body.items():
        if key not in fields:
            continue
        if value is None:
            cleaned[key] = None
            continue
        ok, clean = _clean_value(fields[key], value)
        if not ok:
            errors.append(f"{key} {_TYPE_MESSAGES[fields[key]]}")
        else:
            cleaned[key] = clean
    if errors:
        raise unprocessable(list(dict.fromkeys(errors)))
    return cleaned


# ------------------------------------------------------------------------------
# Lookups
# ------------------------------------------------------------------------------
def _owned(req: GhlRequest, object_type: str, record_id: str, not_found: str) -> SandboxRecord:
    """A live record in any GHL location: 404 if missing, 403 if the token does not cover its location."""
    record = (
        SandboxRecord.objects.filter(
            account__system=SandboxSystem.GHL, object_type=object_type, record_id=record_id, deleted=False
        )
        .select_related("account")
        .first()
    )
    if record is None:
        raise ghl_error(404, not_found)
    if record.account_id not in {account.pk for account in req.accounts}:
        raise ghl_error(403, "The token does not have access to this location")
    return record


def _children(contact: SandboxRecord, object_type: str) -> QuerySet[SandboxRecord]:
    return services.live_records(account=contact.account, object_type=object_type).filter(
        data__contactId=contact.record_id
    )


def _child(contact: SandboxRecord, object_type: str, record_id: str, not_found: str) -> SandboxRecord:
    """A live task/note of this contact; 404 when it does not exist or belongs to another contact."""
    record = _children(contact, object_type).filter(record_id=record_id).first()
    if record is None:
        raise ghl_error(404, not_found)
    record.account = contact.account
    return record


def _save(
    *, account: SandboxAccount, object_type: str, data: dict[str, Any], record_id: str | None = None
) -> SandboxRecord:
    record = services.sandbox_record_put(account=account, object_type=object_type, data=data, record_id=record_id)
    record.account = account  # renders read the locationId; spare a query
    return record


def _optional_int(cleaned: Mapping[str, Any], key: str, default: int, *, maximum: int | None = None) -> int:
    value = cleaned.get(key)
    return _int_param(default if value is None else value, key, minimum=1 if key == "limit" else 0, maximum=maximum)


# ------------------------------------------------------------------------------
# Tasks
# ------------------------------------------------------------------------------
def task_render(record: SandboxRecord) -> dict[str, Any]:
    """TaskSchema (docs/ghl-facts.md#objects) plus dateAdded, which GHL's task webhooks carry."""
    data = record.data
    return {
        "id": record.record_id,
        "title": data.get("title"),
        "body": data.get("body"),
        "assignedTo": data.get("assignedTo"),
        "dueDate": data.get("dueDate"),
        "completed": bool(data.get("completed", False)),
        "contactId": data.get("contactId"),
        "dateAdded": services.to_iso(record.created_at),
    }


def task_list(req: GhlRequest, contact_id: str) -> Result:
    contact = req.contact(contact_id)
    tasks = _children(contact, TASK).order_by("created_at", "record_id")
    return 200, {"tasks": [task_render(task) for task in tasks]}


def task_get(req: GhlRequest, contact_id: str, task_id: str) -> Result:
    task = _child(req.contact(contact_id), TASK, task_id, MSG_TASK_NOT_FOUND)
    return 200, {"task": task_render(task)}


def task_create(req: GhlRequest, contact_id: str) -> Result:
    contact = req.contact(contact_id)
    cleaned = _clean(req.body, fields=TASK_FIELDS, required=TASK_REQUIRED)
    data = {"title": None, "body": None, "assignedTo": None, **cleaned, "contactId": contact.record_id}
    task = _save(account=contact.account, object_type=TASK, data=data)
    return 201, {"task": task_render(task)}


def _task_write(
    req: GhlRequest, contact_id: str, task_id: str, fields: Mapping[str, str], required: tuple[str, ...]
) -> Result:
    contact = req.contact(contact_id)
    task = _child(contact, TASK, task_id, MSG_TASK_NOT_FOUND)
    cleaned = _clean(req.body, fields=fields, required=required)
    for key in ("title", "dueDate", "completed"):
        # Required on create, so they cannot be cleared afterwards.
        if key in cleaned and cleaned[key] is None:
            raise unprocessable([f"{key} should not be empty"])
    task = _save(account=contact.account, object_type=TASK, record_id=task.record_id, data={**task.data, **cleaned})
    return 200, {"task": task_render(task)}


def task_update(req: GhlRequest, contact_id: str, task_id: str) -> Result:
    return _task_write(req, contact_id, task_id, TASK_FIELDS, ())


def task_completed(req: GhlRequest, contact_id: str, task_id: str) -> Result:
    return _task_write(req, contact_id, task_id, {"completed": BOOL}, ("completed",))


def task_delete(req: GhlRequest, contact_id: str, task_id: str) -> Result:
    services.sandbox_record_delete(record=_child(req.contact(contact_id), TASK, task_id, MSG_TASK_NOT_FOUND))
    return 200, {"succeded": True}  # sic (docs/ghl-facts.md#spec-defects)


def task_search(req: GhlRequest, location_id: str) -> Result:
    """POST /locations/{locationId}/tasks/search: every task of the location, filtered, paged by skip/limit."""
    account = req.location(location_id)
    cleaned = _clean(req.body, fields=TASK_SEARCH_FIELDS)
    limit = _optional_int(cleaned, "limit", TASK_SEARCH_DEFAULT_LIMIT, maximum=TASK_SEARCH_MAX_LIMIT)
    skip = _optional_int(cleaned, "skip", 0)
    tasks = services.live_records(account=account, object_type=TASK)
    if cleaned.get("contactId"):
        tasks = tasks.filter(data__contactId__in=cleaned["contactId"])
    if cleaned.get("completed") is not None:
        tasks = tasks.filter(data__completed=cleaned["completed"])
    if cleaned.get("assignedTo"):
        tasks = tasks.filter(data__assignedTo__in=cleaned["assignedTo"])
    if cleaned.get("query"):
        text = cleaned["query"]
        tasks = tasks.filter(Q(data__title__icontains=text) | Q(data__body__icontains=text))
    if cleaned.get("businessId"):
        members = services.live_records(account=account, object_type=CONTACT).filter(
            data__businessId=cleaned["businessId"]
        )
        tasks = tasks.filter(data__contactId__in=list(members.values_list("record_id", flat=True)))
    rows = tasks.order_by("created_at", "record_id")[skip : skip + limit]
    return 200, {"tasks": [task_render(task) for task in rows]}


# ------------------------------------------------------------------------------
# Notes
# ------------------------------------------------------------------------------
def note_render(record: SandboxRecord) -> dict[str, Any]:
    """GetNoteSchema (docs/ghl-facts.md#objects); no dateUpdated."""
    data = record.data
    return {
        "id": record.record_id,
        "body": data.get("body"),
        "userId": data.get("userId"),
        "dateAdded": services.to_iso(record.created_at),
        "contactId": data.get("contactId"),
        "title": data.get("title"),
        "color": data.get("color"),
        "pinned": bool(data.get("pinned", False)),
    }


def note_list(req: GhlRequest, contact_id: str) -> Result:
    notes = _children(req.contact(contact_id), NOTE).order_by("created_at", "record_id")
    return 200, {"notes": [note_render(note) for note in notes]}


def note_get(req: GhlRequest, contact_id: str, note_id: str) -> Result:
    return 200, {"note": note_render(_child(req.contact(contact_id), NOTE, note_id, MSG_NOTE_NOT_FOUND))}


def note_create(req: GhlRequest, contact_id: str) -> Result:
    contact = req.contact(contact_id)
    cleaned = _clean(req.body, fields=NOTE_FIELDS, required=NOTE_REQUIRED)
    data = {"userId": None, "title": None, "color": None, "pinned": False, **cleaned, "contactId": contact.record_id}
    note = _save(account=contact.account, object_type=NOTE, data=data)
    return 201, {"note": note_render(note)}


def note_update(req: GhlRequest, contact_id: str, note_id: str) -> Result:
    contact = req.contact(contact_id)
    note = _child(contact, NOTE, note_id, MSG_NOTE_NOT_FOUND)
    cleaned = _clean(req.body, fields=NOTE_FIELDS)
    if "body" in cleaned and not cleaned["body"]:
        raise unprocessable(["body should not be empty"])
    note = _save(account=contact.account, object_type=NOTE, record_id=note.record_id, data={**note.data, **cleaned})
    return 200, {"note": note_render(note)}


def note_delete(req: GhlRequest, contact_id: str, note_id: str) -> Result:
    services.sandbox_record_delete(record=_child(req.contact(contact_id), NOTE, note_id, MSG_NOTE_NOT_FOUND))
    return 200, {"succeded": True}  # sic (docs/ghl-facts.md#spec-defects)


# ------------------------------------------------------------------------------
# Appointments
# ------------------------------------------------------------------------------
def _appointment_common(record: SandboxRecord) -> dict[str, Any]:
    data = record.data
    return {
        "id": record.record_id,
        "calendarId": data.get("calendarId"),
        "locationId": record.account.account_id,
        "contactId": data.get("contactId"),
        "title": data.get("title"),
        "startTime": data.get("startTime"),
        "endTime": data.get("endTime"),
        "appointmentStatus": data.get("appointmentStatus"),
        "assignedUserId": data.get("assignedUserId"),
        "address": data.get("address"),
    }


def appointment_event_render(record: SandboxRecord) -> dict[str, Any]:
    """GetEventSchema, as `GET /contacts/{id}/appointments` lists it. `status` mirrors appointmentStatus."""
    data = record.data
    return {
        **_appointment_common(record),
        "status": data.get("appointmentStatus"),
        "notes": data.get("description"),
        "groupId": data.get("groupId"),
        "users": list(data.get("users") or []),
        "assignedResources": [],
        "dateAdded": services.to_iso(record.created_at),
        "dateUpdated": services.to_iso(record.updated_at),
    }


def appointment_calendar_render(record: SandboxRecord) -> dict[str, Any]:
    """CalendarEventDTO, as `GET /calendars/events/appointments/{id}` wraps it in {"event"}."""
    data = record.data
    return {
        **appointment_event_render(record),
        "description": data.get("description"),
        "isRecurring": bool(data.get("rrule")),
        "rrule": data.get("rrule"),
        "createdBy": data.get("createdBy"),
        "masterEventId": None,
    }


def appointment_write_render(record: SandboxRecord) -> dict[str, Any]:
    """The un-enveloped answer of create/edit appointment (docs/ghl-facts.md#objects)."""
    data = record.data
    return {
        **_appointment_common(record),
        "meetingLocationType": data.get("meetingLocationType"),
        "isRecurring": bool(data.get("rrule")),
        "rrule": data.get("rrule"),
    }


def _appointment_times(data: dict[str, Any], *, previous: Mapping[str, Any], end_given: bool) -> None:
    """Without an endTime keep the previous length (30 min for a new one); refuse an end before the start."""
    start = services.parse_time(data.get("startTime"))
    if start is None:
        raise unprocessable(["startTime should not be empty"])
    if not end_given:
        old_start, old_end = (
            services.parse_time(previous.get("startTime")),
            services.parse_time(previous.get("endTime")),
        )
        length = (
            old_end - old_start
            if old_start is not None and old_end is not None
            else timedelta(minutes=DEFAULT_APPOINTMENT_MINUTES)
        )
        data["endTime"] = services.to_iso(start + length)
    end = services.parse_time(data["endTime"])
    if end is None or end <= start:
        raise unprocessable([MSG_END_BEFORE_START])


def _storable_appointment(cleaned: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in cleaned.items() if key not in APPOINTMENT_TRANSIENT}


def contact_appointments(req: GhlRequest, contact_id: str) -> Result:
    contact = req.contact(contact_id)
    events = _children(contact, APPOINTMENT).order_by("created_at", "record_id")
    for event in events:
        event.account = contact.account
    return 200, {"events": [appointment_event_render(event) for event in events]}


def appointment_get(req: GhlRequest, event_id: str) -> Result:
    return 200, {"event": appointment_calendar_render(_owned(req, APPOINTMENT, event_id, MSG_EVENT_NOT_FOUND))}


def appointment_create(req: GhlRequest) -> Result:
    cleaned = _clean(req.body, fields=APPOINTMENT_CREATE_FIELDS, required=APPOINTMENT_REQUIRED)
    account = req.location(cleaned["locationId"])
    if services.sandbox_record_get(account=account, object_type=CONTACT, record_id=cleaned["contactId"]) is None:
        raise unprocessable([MSG_APPOINTMENT_CONTACT])
    data: dict[str, Any] = {
        "title": None,
        "appointmentStatus": DEFAULT_APPOINTMENT_STATUS,
        "assignedUserId": None,
        "description": None,
        "address": None,
        "meetingLocationType": None,
        "rrule": None,
        "groupId": None,
        "users": [],
        "createdBy": {"source": "third_party", "userId": None},
        **_storable_appointment(cleaned),
    }
    data.pop("locationId", None)
    _appointment_times(data, previous={}, end_given=cleaned.get("endTime") is not None)
    record = _save(account=account, object_type=APPOINTMENT, data=data)
    return 200, appointment_write_render(record)


def appointment_update(req: GhlRequest, event_id: str) -> Result:
    record = _owned(req, APPOINTMENT, event_id, MSG_EVENT_NOT_FOUND)
    cleaned = _clean(req.body, fields=APPOINTMENT_UPDATE_FIELDS)
    for key in ("calendarId", "startTime", "appointmentStatus"):
        if key in cleaned and cleaned[key] is None:
            raise unprocessable([f"{key} should not be empty"])
    data = {**record.data, **_storable_appointment(cleaned)}
    _appointment_times(data, previous=record.data, end_given=cleaned.get("endTime") is not None)
    record = _save(account=record.account, object_type=APPOINTMENT, record_id=record.record_id, data=data)
    return 200, appointment_write_render(record)


def calendar_event_delete(req: GhlRequest, event_id: str) -> Result:
    services.sandbox_record_delete(record=_owned(req, APPOINTMENT, event_id, MSG_EVENT_NOT_FOUND))
    return 201, {"succeeded": True}  # spelled correctly in the calendars API


def calendar_events(req: GhlRequest) -> Result:
    """GET /calendars/events?locationId&startTime&endTime (epoch ms) and one of calendarId/userId/groupId."""
    account = req.location(req.query.get("locationId"))
    errors = [f"{key} must be epoch milliseconds" for key in ("startTime", "endTime") if not req.query.get(key)]
    if not any(req.query.get(key) for key in ("calendarId", "userId", "groupId")):
        errors.append(MSG_CALENDAR_FILTER)
    if errors:
        raise unprocessable(errors)
    start = services.from_epoch_ms(
        _int_param(req.query["startTime"], "startTime", minimum=0, maximum=services.MAX_EPOCH_MS)
    )
    end = services.from_epoch_ms(_int_param(req.query["endTime"], "endTime", minimum=0, maximum=services.MAX_EPOCH_MS))
    filters: dict[str, Callable[[dict[str, Any]], bool]] = {
        "calendarId": lambda data: data.get("calendarId") == req.query["calendarId"],
        "userId": lambda data: (
            data.get("assignedUserId") == req.query["userId"] or req.query["userId"] in (data.get("users") or [])
        ),
        "groupId": lambda data: data.get("groupId") == req.query["groupId"],
    }
    active = [check for key, check in filters.items() if req.query.get(key)]
    events = []
    for record in services.live_records(account=account, object_type=APPOINTMENT).order_by("created_at", "record_id"):
        event_start = services.parse_time(record.data.get("startTime"))
        event_end = services.parse_time(record.data.get("endTime"))
        if event_start is None or event_end is None or not (event_start < end and event_end > start):
            continue
        if all(check(record.data) for check in active):
            record.account = account
            events.append(appointment_calendar_render(record))
    events.sort(key=lambda event: (event["startTime"], event["id"]))
    return 200, {"events": events}


# ------------------------------------------------------------------------------
# Businesses and the contact link
# ------------------------------------------------------------------------------
def business_render(record: SandboxRecord) -> dict[str, Any]:
    """BusinessDto (docs/ghl-facts.md#objects)."""
    data = record.data
    return {
        "id": record.record_id,
        "name": data.get("name"),
        "locationId": record.account.account_id,
        "phone": data.get("phone"),
        "email": data.get("email"),
        "website": data.get("website"),
        "address": data.get("address"),
        "city": data.get("city"),
        "state": data.get("state"),
        "postalCode": data.get("postalCode"),
        "country": data.get("country"),
        "description": data.get("description"),
        "createdBy": data.get("createdBy"),
        "updatedBy": data.get("updatedBy"),
        "createdAt": services.to_iso(record.created_at),
        "updatedAt": services.to_iso(record.updated_at),
    }


def business_list(req: GhlRequest) -> Result:
    account = req.location(req.query.get("locationId"))
    limit = _int_param(
        req.query.get("limit", BUSINESS_LIST_DEFAULT_LIMIT), "limit", minimum=1, maximum=BUSINESS_LIST_MAX_LIMIT
    )
    skip = _int_param(req.query.get("skip", 0), "skip", minimum=0)
    rows = services.live_records(account=account, object_type=BUSINESS).order_by("created_at", "record_id")
    return 200, {"businesses": [business_render(row) for row in rows[skip : skip + limit]]}


def business_get(req: GhlRequest, business_id: str) -> Result:
    return 200, {"business": business_render(_owned(req, BUSINESS, business_id, MSG_BUSINESS_NOT_FOUND))}


def business_create(req: GhlRequest) -> Result:
    cleaned = _clean(req.body, fields=BUSINESS_CREATE_FIELDS, required=BUSINESS_REQUIRED)
    account = req.location(cleaned.pop("locationId"))
    data = {key: None for key in BUSINESS_UPDATE_FIELDS} | cleaned
    data |= {"createdBy": SANDBOX_USER, "updatedBy": SANDBOX_USER}
    record = _save(account=account, object_type=BUSINESS, data=data)
    return 201, {"success": True, "buiseness": business_render(record)}  # sic (docs/ghl-facts.md#spec-defects)


def business_update(req: GhlRequest, business_id: str) -> Result:
    record = _owned(req, BUSINESS, business_id, MSG_BUSINESS_NOT_FOUND)
    cleaned = _clean(req.body, fields=BUSINESS_UPDATE_FIELDS)
    if "name" in cleaned and not cleaned["name"]:
        raise unprocessable(["name should not be empty"])
    data = {**record.data, **cleaned, "updatedBy": SANDBOX_USER}
    record = _save(account=record.account, object_type=BUSINESS, record_id=record.record_id, data=data)
    return 200, {"success": True, "buiseness": business_render(record)}  # sic (docs/ghl-facts.md#spec-defects)


def business_delete(req: GhlRequest, business_id: str) -> Result:
    record = _owned(req, BUSINESS, business_id, MSG_BUSINESS_NOT_FOUND)
    services.sandbox_record_delete(record=record)
    # Contacts of a deleted business are left without one rather than pointing at nothing.
    members = services.live_records(account=record.account, object_type=CONTACT).filter(data__businessId=business_id)
    for contact in members.order_by("record_id"):
        data = {**contact.data, "businessId": None}
        _save(account=record.account, object_type=CONTACT, record_id=contact.record_id, data=data)
    return 200, {"success": True}


def contacts_bulk_business(req: GhlRequest) -> Result:
    """POST /contacts/bulk/business {locationId, ids, businessId (null = remove)}; unknown ids are skipped."""
    # businessId is required but may be null, so its presence is checked apart from the other fields.
    errors = [] if "businessId" in req.body else ["businessId should not be empty"]
    try:
        cleaned = _clean(req.body, fields=BULK_BUSINESS_FIELDS, required=("locationId", "ids"))
    except GhlError as error:
        raise unprocessable([*error.body["message"], *errors]) from None
    if errors:
        raise unprocessable(errors)
    account = req.location(cleaned["locationId"])
    business_id = cleaned["businessId"] or None
    if business_id is not None and (
        services.sandbox_record_get(account=account, object_type=BUSINESS, record_id=business_id) is None
    ):
        raise ghl_error(404, MSG_BUSINESS_NOT_FOUND)
    updated = []
    contacts = services.live_records(account=account, object_type=CONTACT).filter(record_id__in=cleaned["ids"])
    by_id = {contact.record_id: contact for contact in contacts}
    for contact_id in cleaned["ids"]:
        contact = by_id.get(contact_id)
        if contact is None:
            continue
        if contact.data.get("businessId") != business_id:
            data = {**contact.data, "businessId": business_id}
            _save(account=account, object_type=CONTACT, record_id=contact_id, data=data)
        updated.append(contact_id)
    return 200, {"success": True, "ids": updated}


def contacts_by_business(req: GhlRequest, business_id: str) -> Result:
    """GET /contacts/business/{businessId}?locationId&limit&skip&query → {contacts, count}."""
    account = req.location(req.query.get("locationId"))
    limit = _int_param(
        req.query.get("limit", BY_BUSINESS_DEFAULT_LIMIT), "limit", minimum=1, maximum=BY_BUSINESS_MAX_LIMIT
    )
    skip = _int_param(req.query.get("skip", 0), "skip", minimum=0)
    contacts = services.live_records(account=account, object_type=CONTACT).filter(data__businessId=business_id)
    query = req.query.get("query")
    if query and query.strip():
        contacts = contacts.filter(search_text__contains=query.strip().lower())
    total = contacts.count()
    rows = contacts.order_by("created_at", "record_id")[skip : skip + limit]
    return 200, {"contacts": [contact_render(row, account.account_id) for row in rows], "count": total}
