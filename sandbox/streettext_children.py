"""The fake StreetText tasks, notes, appointments, organisations and contact activities (docs/streettext-api.md,
"Tasks, notes, appointments and organisations" and "Contact activities").

One generic implementation driven by a `Resource` description per path. Listing follows the contacts' rules:
order (updated_at, id), durable cursors (streettext.cursor_encode), `total` = records from this position on.
Child records name their contact by `contact_id`, which must be a live contact of the workspace (else 422).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from sandbox import services
from sandbox.models import SandboxAccount, SandboxRecord
from sandbox.streettext import (
    CONTACT,
    MSG_VALIDATION,
    ORGANIZATION,
    Result,
    StreetTextError,
    StreetTextRequest,
    filter_ids,
    filter_values,
    list_page,
)

APPOINTMENT_STATUSES = ("scheduled", "confirmed", "cancelled", "showed", "no_show")
DEAL_STATUSES = ("open", "won", "lost", "abandoned")
ACTIVITY_TYPES = ("message", "call", "email", "form", "meeting", "note", "other")
READ_ONLY_FIELDS = frozenset({"id", "created_at", "updated_at"})
_E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")

# Field kinds
TEXT = "text"  # string or null
REQUIRED_TEXT = "required_text"  # non-empty string
TIME = "time"  # ISO 8601 string or null, stored as ISO ms Z
BOOL = "bool"
STATUS = "status"
PHONE = "phone"
EMAIL = "email"
CONTACT_REF = "contact"
NUMBER = "number"
DEAL_STATUS = "deal_status"
ACTIVITY_TYPE = "activity_type"


@dataclass(frozen=True)
class Resource:
    """One of the four resources: its store type, JSON key, id prefix and fields (name -> kind)."""

    object_type: str
    singular: str
    id_prefix: str
    fields: Mapping[str, str]
    required: tuple[str, ...]
    defaults: Mapping[str, Any]

    @property
    def not_found(self) -> str:
        return f"{self.singular.capitalize()} not found"


TASK = Resource(
    object_type="task",
    singular="task",
    id_prefix="tsk_",
    fields={
        "contact_id": CONTACT_REF,
        "title": REQUIRED_TEXT,
        "body": TEXT,
        "due_at": TIME,
        "completed": BOOL,
        "assignee": TEXT,
    },
    required=("contact_id", "title"),
    defaults={"body": None, "due_at": None, "completed": False, "assignee": None},
)
NOTE = Resource(
    object_type="note",
    singular="note",
    id_prefix="note_",
    fields={"contact_id": CONTACT_REF, "body": REQUIRED_TEXT, "title": TEXT, "author": TEXT, "written_at": TIME},
    required=("contact_id", "body"),
    defaults={"title": None, "author": None, "written_at": None},
)
APPOINTMENT = Resource(
    object_type="appointment",
    singular="appointment",
    id_prefix="apt_",
    fields={
        "contact_id": CONTACT_REF,
        "title": TEXT,
        "starts_at": TIME,
        "ends_at": TIME,
        "status": STATUS,
        "location": TEXT,
        "notes": TEXT,
        "calendar": TEXT,
    },
    required=("contact_id", "starts_at"),
    defaults={
        "title": None,
        "ends_at": None,
        "status": "scheduled",
        "location": None,
        "notes": None,
        "calendar": None,
    },
)
ORGANIZATION_RESOURCE = Resource(
    object_type=ORGANIZATION,
    singular="organization",
    id_prefix="org_",
    fields={
        "name": REQUIRED_TEXT,
        "phone": PHONE,
        "email": EMAIL,
        "website": TEXT,
        "address": TEXT,
        "city": TEXT,
        "region": TEXT,
        "postal_code": TEXT,
        "country": TEXT,
        "description": TEXT,
    },
    required=("name",),
    defaults={
        key: None
        for key in ("phone", "email", "website", "address", "city", "region", "postal_code", "country", "description")
    },
)
DEAL = Resource(
    object_type="deal",
    singular="deal",
    id_prefix="deal_",
    fields={
        "contact_id": CONTACT_REF,
        "title": REQUIRED_TEXT,
        "value": NUMBER,
        "pipeline": TEXT,
        "stage": TEXT,
        "status": DEAL_STATUS,
        "assignee": TEXT,
        "source": TEXT,
    },
    required=("contact_id", "title"),
    defaults={"value": None, "pipeline": None, "stage": None, "status": "open", "assignee": None, "source": None},
)
ACTIVITY = Resource(
    object_type="activity",
    singular="activity",
    id_prefix="act_",
    fields={
        "contact_id": CONTACT_REF,
        "type": ACTIVITY_TYPE,
        "text": REQUIRED_TEXT,
        "occurred_at": TIME,
        "source": TEXT,
        "source_id": TEXT,
    },
    required=("contact_id", "type", "text"),
    defaults={"occurred_at": None, "source": None, "source_id": None},
)
RESOURCES = {
    resource.object_type: resource for resource in (TASK, NOTE, APPOINTMENT, ORGANIZATION_RESOURCE, DEAL, ACTIVITY)
}


# ------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------
def _check_value(account: SandboxAccount, kind: str, key: str, value: Any) -> tuple[str | None, Any]:
    """(problem or None, storable value) for one field."""
    if kind == REQUIRED_TEXT:
        if not isinstance(value, str) or not value.strip():
            return f"{key}: must be a non-empty string", None
        return None, value
    if value is None or (value == "" and kind != BOOL):
        return None, None
    if kind == TEXT:
        return (None, value) if isinstance(value, str) else (f"{key}: must be a string or null", None)
    if kind == TIME:
        # ISO text only: numbers (epoch) are not part of the contract.
        moment = services.parse_time(value) if isinstance(value, str) and not value.strip().isdigit() else None
        if moment is None:
            return f"{key}: must be an ISO 8601 time or null", None
        return None, services.to_iso(moment)
    if kind == BOOL:
        return (None, value) if isinstance(value, bool) else (f"{key}: must be a boolean", None)
    if kind == STATUS:
        if value not in APPOINTMENT_STATUSES:
            return f"{key}: must be one of {', '.join(APPOINTMENT_STATUSES)}", None
        return None, value
    if kind == NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{key}: must be a number or null", None
        return None, value
    if kind == DEAL_STATUS:
        if value not in DEAL_STATUSES:
            return f"{key}: must be one of {', '.join(DEAL_STATUSES)}", None
        return None, value
    if kind == ACTIVITY_TYPE:
        if value not in ACTIVITY_TYPES:
            return f"{key}: must be one of {', '.join(ACTIVITY_TYPES)}", None
        return None, value
    if kind == PHONE:
        if not isinstance(value, str) or not _E164_RE.match(value) or services.phone_to_e164(value) != value:
            return f"{key}: must be in E.164 format, e.g. +14155550100", None
        return None, value
    if kind == EMAIL:
        try:
            validate_email(value)
        except (ValidationError, TypeError):
            return f"{key}: not a valid address", None
        return None, value
    if kind == CONTACT_REF:
        if not isinstance(value, str) or not value:
            return f"{key}: must be a contact id", None
        if services.sandbox_record_get(account=account, object_type=CONTACT, record_id=value) is None:
            return f"{key}: no contact {value}", None
        return None, value
    raise AssertionError(f"unknown field kind {kind}")


def validate_body(
    resource: Resource, account: SandboxAccount, body: Mapping[str, Any], *, partial: bool
) -> dict[str, Any]:
    """Check a create (partial=False) or PATCH body; 422 with one `field: problem` line per error."""
    details: list[str] = []
    cleaned: dict[str, Any] = {}
    for key, value in body.items():
        if key in READ_ONLY_FIELDS:
            details.append(f"{key}: read-only field")
        elif key not in resource.fields:
            details.append(f"{key}: unknown field")
        else:
            problem, clean = _check_value(account, resource.fields[key], key, value)
            if problem:
                details.append(problem)
            else:
                cleaned[key] = clean
    if not partial:
        details.extend(f"{key}: required" for key in resource.required if key not in body)
    details.extend(f"{key}: must not be null" for key in resource.required if key in body and body[key] is None)
    if details:
        raise StreetTextError(422, MSG_VALIDATION, list(dict.fromkeys(details)))
    return cleaned


def _check_times(resource: Resource, data: Mapping[str, Any]) -> None:
    if resource is not APPOINTMENT or not data.get("ends_at"):
        return
    starts, ends = services.parse_time(data.get("starts_at")), services.parse_time(data["ends_at"])
    if starts is not None and ends is not None and ends < starts:
        raise StreetTextError(422, MSG_VALIDATION, ["ends_at: must not be before starts_at"])


# ------------------------------------------------------------------------------
# Read shape and lookups
# ------------------------------------------------------------------------------
def record_render(resource: Resource, record: SandboxRecord) -> dict[str, Any]:
    data = record.data if isinstance(record.data, dict) else {}
    rendered: dict[str, Any] = {"id": record.record_id}
    for key in resource.fields:
        rendered[key] = data.get(key, resource.defaults.get(key))
    if resource is NOTE and not rendered["written_at"]:
        rendered["written_at"] = services.to_iso(record.created_at)
    if resource is ACTIVITY and not rendered["occurred_at"]:
        rendered["occurred_at"] = services.to_iso(record.created_at)
    rendered["created_at"] = services.to_iso(record.created_at)
    rendered["updated_at"] = services.to_iso(record.updated_at)
    return rendered


def _get(resource: Resource, account: SandboxAccount, record_id: str) -> SandboxRecord:
    record = services.sandbox_record_get(account=account, object_type=resource.object_type, record_id=record_id)
    if record is None:
        raise StreetTextError(404, resource.not_found)
    return record


# ------------------------------------------------------------------------------
# Generic handlers
# ------------------------------------------------------------------------------
def record_list(resource: Resource, req: StreetTextRequest) -> Result:
    """GET {path}?limit&updated_since&cursor&contact_id, same answer and cursor rules as GET /v1/contacts."""
    query = req.query
    records = services.live_records(account=req.account, object_type=resource.object_type)
    records = filter_ids(query, records)
    if (contact_ids := filter_values(query, "contact_id")) and "contact_id" in resource.fields:
        records = records.filter(data__contact_id__in=contact_ids)
    return list_page(query, records, lambda row: record_render(resource, row))


def record_get(resource: Resource, req: StreetTextRequest, record_id: str) -> Result:
    return 200, {resource.singular: record_render(resource, _get(resource, req.account, record_id))}


def record_create(resource: Resource, req: StreetTextRequest) -> Result:
    cleaned = validate_body(resource, req.account, req.body, partial=False)
    data = {**resource.defaults, **{key: value for key, value in cleaned.items() if value is not None}}
    if resource is TASK and data.get("completed") is None:
        data["completed"] = False
    _check_times(resource, data)
    record_id = services.new_id(resource.id_prefix)
    now = services.next_updated_at(account=req.account, object_type=resource.object_type)
    if resource is NOTE and not data.get("written_at"):
        data["written_at"] = services.to_iso(now)
    record = services.sandbox_record_put(
        account=req.account,
        object_type=resource.object_type,
        record_id=record_id,
        data=data,
        created_at=now,
        updated_at=now,
    )
    return 201, {resource.singular: record_render(resource, record)}


def record_update(resource: Resource, req: StreetTextRequest, record_id: str) -> Result:
    record = _get(resource, req.account, record_id)
    cleaned = validate_body(resource, req.account, req.body, partial=True)
    if resource is TASK and "completed" in cleaned and cleaned["completed"] is None:
        cleaned["completed"] = False
    data = {**record.data, **cleaned}
    _check_times(resource, data)
    record = services.sandbox_record_put(
        account=req.account, object_type=resource.object_type, record_id=record.record_id, data=data
    )
    return 200, {resource.singular: record_render(resource, record)}


def record_delete(resource: Resource, req: StreetTextRequest, record_id: str) -> Result:
    record = services.sandbox_record_delete(record=_get(resource, req.account, record_id))
    if resource is ORGANIZATION_RESOURCE:
        # Members lose the link rather than pointing at a deleted organisation.
        members = services.live_records(account=req.account, object_type=CONTACT).filter(
            data__organization_id=record.record_id
        )
        for contact in members.order_by("record_id"):
            services.sandbox_record_put(
                account=req.account,
                object_type=CONTACT,
                record_id=contact.record_id,
                data={**contact.data, "organization_id": None},
            )
    return 204, None


# ------------------------------------------------------------------------------
# Handler tables for urls.py: {"GET": …, "POST": …} per resource path
# ------------------------------------------------------------------------------
Handler = Callable[..., Result]


def collection_handlers(resource: Resource) -> dict[str, Handler]:
    """GET (list) and POST (create) for `{path}`."""

    def list_(req: StreetTextRequest) -> Result:
        return record_list(resource, req)

    def create(req: StreetTextRequest) -> Result:
        return record_create(resource, req)

    return {"GET": list_, "POST": create}


def item_handlers(resource: Resource) -> dict[str, Handler]:
    """GET, PATCH and DELETE for `{path}/{record_id}`."""

    def get(req: StreetTextRequest, record_id: str) -> Result:
        return record_get(resource, req, record_id)

    def update(req: StreetTextRequest, record_id: str) -> Result:
        return record_update(resource, req, record_id)

    def delete(req: StreetTextRequest, record_id: str) -> Result:
        return record_delete(resource, req, record_id)

    return {"GET": get, "PATCH": update, "DELETE": delete}


# ------------------------------------------------------------------------------
# Contact activities (docs/streettext-api.md, "Contact activities"): created under their contact, never changed;
# (source, source_id) is unique per contact, so a retried create answers 200 with the activity it made before.
# ------------------------------------------------------------------------------
MSG_ACTIVITY_CONTACT = "contact_id: comes from the path; leave it out of the body"


def _contact_of(req: StreetTextRequest, contact_id: str) -> SandboxRecord:
    contact = services.sandbox_record_get(account=req.account, object_type=CONTACT, record_id=contact_id)
    if contact is None:
        raise StreetTextError(404, "Contact not found")
    return contact


def contact_activity_list(req: StreetTextRequest, contact_id: str) -> Result:
    """GET /v1/contacts/{id}/activities?limit&updated_since&cursor&source_id: the contact's activities."""
    contact = _contact_of(req, contact_id)
    records = services.live_records(account=req.account, object_type=ACTIVITY.object_type).filter(
        data__contact_id=contact.record_id
    )
    if source_ids := filter_values(req.query, "source_id"):
        records = records.filter(data__source_id__in=source_ids)
    return list_page(req.query, filter_ids(req.query, records), lambda row: record_render(ACTIVITY, row))


def contact_activity_create(req: StreetTextRequest, contact_id: str) -> Result:
    """POST /v1/contacts/{id}/activities: 201 with the new activity, or 200 with the one already recorded for the
    same source and source_id."""
    contact = _contact_of(req, contact_id)
    problems = [MSG_ACTIVITY_CONTACT] if "contact_id" in req.body else []
    body = {**req.body, "contact_id": contact.record_id}
    try:
        cleaned = validate_body(ACTIVITY, req.account, body, partial=False)
    except StreetTextError as e:
        problems += e.details
    if problems:
        raise StreetTextError(422, MSG_VALIDATION, problems)
    source, source_id = cleaned.get("source"), cleaned.get("source_id")
    if source_id:
        existing = (
            services.live_records(account=req.account, object_type=ACTIVITY.object_type)
            .filter(data__contact_id=contact.record_id, data__source=source, data__source_id=source_id)
            .order_by("created_at", "record_id")
            .first()
        )
        if existing is not None:
            return 200, {ACTIVITY.singular: record_render(ACTIVITY, existing)}
    return record_create(
        ACTIVITY, StreetTextRequest(method=req.method, query=req.query, body=body, account=req.account)
    )


def activity_item_handlers() -> dict[str, Handler]:
    """GET and DELETE for `/v1/activities/{id}` (activities are not changed once recorded)."""

    def get(req: StreetTextRequest, record_id: str) -> Result:
        return record_get(ACTIVITY, req, record_id)

    def delete(req: StreetTextRequest, record_id: str) -> Result:
        return record_delete(ACTIVITY, req, record_id)

    return {"GET": get, "DELETE": delete}
