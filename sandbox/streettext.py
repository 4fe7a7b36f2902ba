"""The fake StreetText API, exactly as docs/streettext-api.md describes it."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import QuerySet

from sandbox import services
from sandbox.models import SandboxAccount, SandboxRecord

CONTACT = "contact"
CONTACT_ID_PREFIX = "ct_"
ORGANIZATION = "organization"
# Records that name their contact by data["contact_id"]; deleting the contact deletes them (streettext_children.py).
CONTACT_CHILD_TYPES = ("task", "note", "appointment", "activity")
STRING_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "address",
    "city",
    "region",
    "postal_code",
    "country",
    "external_id",
)
WRITABLE_FIELDS = frozenset(
    {*STRING_FIELDS, "email", "phone", "birthday", "tags", "opted_out", "custom", "organization_id"}
)
READ_ONLY_FIELDS = frozenset({"id", "created_at", "updated_at"})
LIST_DEFAULT_LIMIT = 50
LIST_MAX_LIMIT = 200
_E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
_BIRTHDAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

MSG_UNAUTHORIZED = "Missing or invalid API key"
MSG_NOT_FOUND = "Contact not found"
MSG_VALIDATION = "Some fields are invalid"
MSG_CONFLICT = "A unique field is already used by another contact"
MSG_RATE_LIMITED = "Too many requests"
MSG_BAD_JSON = "Request body must be a JSON object"


class StreetTextError(Exception):
    """An error answer in StreetText's shape: {"error": {"code", "message", "details"}}."""

    CODES = {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        409: "conflict",
        422: "validation_failed",
        429: "rate_limited",
    }

    def __init__(self, status: int, message: str, details: list[str] | None = None, code: str | None = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.code = code or self.CODES.get(status, "server_error")
        self.message = message
        self.details = details or []

    @property
    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


@dataclass
class StreetTextRequest:
    method: str
    query: Mapping[str, str]
    body: dict[str, Any]
    account: SandboxAccount


Result = tuple[int, Any]


# ------------------------------------------------------------------------------
# Cursor: urlsafe base64 of {"u": updated_at ISO, "i": last id, "s": listing start or null}
# ------------------------------------------------------------------------------
def cursor_encode(*, updated_at: datetime, record_id: str, since: datetime | None) -> str:
    payload = {"u": services.to_iso(updated_at), "i": record_id, "s": services.to_iso(since) if since else None}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(value: str) -> tuple[datetime, str, datetime | None]:
    try:
        text = value.strip()
        raw = base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_") + "=" * (-len(text) % 4))
        payload = json.loads(raw)
        moment = services.parse_time(payload["u"])
        record_id = payload["i"]
        since = services.parse_time(payload["s"]) if payload.get("s") else None
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise StreetTextError(400, "cursor is invalid", ["cursor: not a cursor returned by this API"]) from None
    if moment is None or not isinstance(record_id, str):
        raise StreetTextError(400, "cursor is invalid", ["cursor: not a cursor returned by this API"])
    return moment, record_id, since


# ------------------------------------------------------------------------------
# Validation and read shape
# ------------------------------------------------------------------------------
def validate_contact_body(body: dict[str, Any]) -> dict[str, Any]:
    """Check a create/patch body; 422 with one `field: problem` line per error."""
    details = []
    cleaned: dict[str, Any] = {}
    for key, value in body.items():
        if key in READ_ONLY_FIELDS:
            details.append(f"{key}: read-only field")
        elif key not in WRITABLE_FIELDS:
            details.append(f"{key}: unknown field")
        elif key in STRING_FIELDS:
            if value is not None and not isinstance(value, str):
                details.append(f"{key}: must be a string or null")
            else:
                cleaned[key] = value if value != "" else None
        elif key == "email":
            if value in (None, ""):
                cleaned[key] = None
            elif not isinstance(value, str):
                details.append("email: not a valid address")
            else:
                try:
                    validate_email(value)
                except ValidationError:
                    details.append("email: not a valid address")
                else:
                    cleaned[key] = value
        elif key == "phone":
            if value in (None, ""):
                cleaned[key] = None
            elif not isinstance(value, str) or not _E164_RE.match(value) or services.phone_to_e164(value) != value:
                details.append("phone: must be in E.164 format, e.g. +14155550100")
            else:
                cleaned[key] = value
        elif key == "birthday":
            if value in (None, ""):
                cleaned[key] = None
            elif not isinstance(value, str) or not _BIRTHDAY_RE.match(value) or not _is_date(value):
                details.append("birthday: must be a date YYYY-MM-DD")
            else:
                cleaned[key] = value
        elif key == "tags":
            if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
                details.append("tags: must be an array of strings")
            else:
                cleaned[key] = list(dict.fromkeys(value))
        elif key == "opted_out":
            if not isinstance(value, bool):
                details.append("opted_out: must be a boolean")
            else:
                cleaned[key] = value
        elif key == "custom":
            if not isinstance(value, dict):
                details.append("custom: must be an object")
            else:
                cleaned[key] = value
        elif key == "organization_id":
            if value is not None and (not isinstance(value, str) or not value):
                details.append("organization_id: must be an organization id or null")
            else:
                cleaned[key] = value
    if details:
        raise StreetTextError(422, MSG_VALIDATION, details)
    return cleaned


def _is_date(value: str) -> bool:
    try:
        datetime.strptime(value, "%Y-%m-%d")  # noqa: DTZ007 - a calendar date
    except ValueError:
        return False
    return True


def contact_render(record: SandboxRecord) -> dict[str, Any]:
    data = record.data if isinstance(record.data, dict) else {}
    contact: dict[str, Any] = {"id": record.record_id}
    for key in (
        "first_name",
        "last_name",
        "email",
        "phone",
        "company",
        "address",
        "city",
        "region",
        "postal_code",
        "country",
        "birthday",
    ):
        contact[key] = data.get(key)
    contact["tags"] = list(data.get("tags") or [])
    contact["opted_out"] = bool(data.get("opted_out", False))
    contact["external_id"] = data.get("external_id")
    contact["custom"] = dict(data.get("custom") or {})
    contact["organization_id"] = data.get("organization_id")
    contact["created_at"] = services.to_iso(record.created_at)
    contact["updated_at"] = services.to_iso(record.updated_at)
    return contact


def _check_unique(*, account: SandboxAccount, data: dict[str, Any], exclude_id: str | None = None) -> None:
    contacts = services.live_records(account=account, object_type=CONTACT)
    if exclude_id:
        contacts = contacts.exclude(record_id=exclude_id)
    details = []
    email = data.get("email")
    if isinstance(email, str) and email:
        match = contacts.filter(email_lower=email.strip().lower()).first()
        if match:
            details.append(f"email: already used by contact {match.record_id}")
    phone = data.get("phone")
    if isinstance(phone, str) and phone:
        match = contacts.filter(phone=services.phone_lookup_key(phone)).first()
        if match:
            details.append(f"phone: already used by contact {match.record_id}")
    external_id = data.get("external_id")
    if isinstance(external_id, str) and external_id:
        match = contacts.filter(external_id=external_id).first()
        if match:
            details.append(f"external_id: already used by contact {match.record_id}")
    if details:
        raise StreetTextError(409, MSG_CONFLICT, details)


def _check_organization(*, account: SandboxAccount, data: dict[str, Any]) -> None:
    organization_id = data.get("organization_id")
    if organization_id is None:
        return
    if services.sandbox_record_get(account=account, object_type=ORGANIZATION, record_id=organization_id) is None:
        raise StreetTextError(422, MSG_VALIDATION, [f"organization_id: no organization {organization_id}"])


def _get(account: SandboxAccount, contact_id: str) -> SandboxRecord:
    record = services.sandbox_record_get(account=account, object_type=CONTACT, record_id=contact_id)
    if record is None:
        raise StreetTextError(404, MSG_NOT_FOUND)
    return record


# ------------------------------------------------------------------------------
# Handlers
# ------------------------------------------------------------------------------
def workspace_get(req: StreetTextRequest) -> Result:
    return 200, {"workspace": {"id": req.account.account_id, "name": req.account.name or req.account.account_id}}


def contact_get(req: StreetTextRequest, contact_id: str) -> Result:
    return 200, {"contact": contact_render(_get(req.account, contact_id))}


def contact_create(req: StreetTextRequest) -> Result:
    cleaned = validate_contact_body(req.body)
    _check_organization(account=req.account, data=cleaned)
    _check_unique(account=req.account, data=cleaned)
    record = services.sandbox_record_put(
        account=req.account, object_type=CONTACT, record_id=services.new_id(CONTACT_ID_PREFIX), data=cleaned
    )
    return 201, {"contact": contact_render(record)}


def contact_update(req: StreetTextRequest, contact_id: str) -> Result:
    record = _get(req.account, contact_id)
    cleaned = validate_contact_body(req.body)
    _check_organization(account=req.account, data=cleaned)
    _check_unique(account=req.account, data=cleaned, exclude_id=record.record_id)
    record = services.sandbox_record_put(
        account=req.account, object_type=CONTACT, record_id=record.record_id, data={**record.data, **cleaned}
    )
    return 200, {"contact": contact_render(record)}


def contact_delete(req: StreetTextRequest, contact_id: str) -> Result:
    services.sandbox_record_delete(record=_get(req.account, contact_id))
    services.sandbox_records_delete_for_contact(
        account=req.account, object_types=CONTACT_CHILD_TYPES, contact_field="contact_id", contact_id=contact_id
    )
    return 204, None


def list_page(
    query: Mapping[str, str], records: QuerySet[SandboxRecord], render: Callable[[SandboxRecord], Any]
) -> Result:
    """One page of a listing (any resource): limit, updated_since, durable cursor, order (updated_at, id)."""
    try:
        limit = int(query.get("limit", LIST_DEFAULT_LIMIT))
    except ValueError:
        raise StreetTextError(400, "limit must be an integer", ["limit: must be an integer 1-200"]) from None
    if not 1 <= limit <= LIST_MAX_LIMIT:
        raise StreetTextError(400, "limit is out of range", ["limit: must be an integer 1-200"])

    since: datetime | None = None
    if query.get("cursor"):
        position, after_id, since = cursor_decode(query["cursor"])
        window = records.filter(services.after_cursor_q(field="updated_at", value=position, record_id=after_id))
    else:
        if query.get("updated_since"):
            since = services.parse_time(query["updated_since"])
            if since is None:
                raise StreetTextError(400, "updated_since is invalid", ["updated_since: must be an ISO 8601 time"])
        # (since, "") sorts just before every record updated at `since`, so >= holds.
        position, after_id = since or services.EPOCH, ""
        window = records.filter(updated_at__gte=since) if since else records

    total = window.count()
    rows = list(window.order_by("updated_at", "record_id")[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    if rows:
        position, after_id = rows[-1].updated_at, rows[-1].record_id
    return 200, {
        "data": [render(row) for row in rows],
        "next_cursor": cursor_encode(updated_at=position, record_id=after_id, since=since),
        "has_more": has_more,
        "total": total,
    }


def filter_values(query: Mapping[str, str], name: str) -> list[str]:
    """A filter's values: one value, or up to LIST_MAX_LIMIT separated by commas (docs/streettext-api.md)."""
    values = [v.strip() for v in (query.get(name) or "").split(",") if v.strip()]
    if len(values) > LIST_MAX_LIMIT:
        raise StreetTextError(400, f"{name} has too many values", [f"{name}: at most {LIST_MAX_LIMIT} values"])
    return values


def filter_ids(query: Mapping[str, str], records: QuerySet[SandboxRecord]) -> QuerySet[SandboxRecord]:
    ids = filter_values(query, "id")
    return records.filter(record_id__in=ids) if ids else records


def contact_list(req: StreetTextRequest) -> Result:
    query = req.query
    contacts = filter_ids(query, services.live_records(account=req.account, object_type=CONTACT))
    if emails := filter_values(query, "email"):
        contacts = contacts.filter(email_lower__in=[e.lower() for e in emails])
    if phones := filter_values(query, "phone"):
        contacts = contacts.filter(phone__in=[services.phone_lookup_key(p) for p in phones])
    if external_ids := filter_values(query, "external_id"):
        contacts = contacts.filter(external_id__in=external_ids)
    return list_page(query, contacts, contact_render)
