"""The fake GoHighLevel contacts API (v2, Version 2021-07-28): validation, storage and response shapes.

Shapes and messages follow GHL's spec (ghl_spec/) and docs/ghl-facts.md (errors, paging, objects, duplicates, tags).
The view layer (views.py) does auth, Version, rate limiting and fault injection, then calls one handler here.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Q, QuerySet

from sandbox import live, services
from sandbox.models import SandboxAccount, SandboxRecord, SandboxSystem

CONTACT = "contact"
# Records that belong to a contact (data["contactId"]); deleting the contact deletes them (ghl_children.py).
CONTACT_CHILD_TYPES = ("task", "note", "appointment")
CONTACTS_VERSION = "2021-07-28"
CALENDARS_VERSION = "2021-04-15"

MSG_UNAUTHORIZED = "Invalid token: access token is invalid"
MSG_FORBIDDEN_LOCATION = "The token does not have access to this location"
MSG_VERSION = "Version header is missing or invalid"
MSG_CONTACT_NOT_FOUND = "Contact not found"
MSG_LOCATION_NOT_FOUND = "Location not found"
MSG_DUPLICATE = "This location does not allow duplicated contacts."
MSG_TOO_MANY = "Too many requests"
MSG_BAD_JSON = "Request body must be a JSON object"
MSG_PHONE = "phone must be a valid phone number"
MSG_EMAIL = "email must be an email"
MSG_LOCATION_REQUIRED = "locationId should not be empty"

STRING_FIELDS = (
    "firstName",
    "lastName",
    "name",
    "gender",
    "address1",
    "city",
    "state",
    "postalCode",
    "website",
    "timezone",
    "source",
    "country",
    "companyName",
    "assignedTo",
)
# CreateContactDto / UpsertContactDto / UpdateContactDto (docs/ghl-facts.md#objects); GHL's spec itself is enforced
# in views.py first.
CREATE_FIELDS = frozenset(
    {
        "locationId",
        "email",
        "phone",
        "dnd",
        "dndSettings",
        "inboundDndSettings",
        "tags",
        "customFields",
        "dateOfBirth",
        *STRING_FIELDS,
    }
)
UPSERT_FIELDS = CREATE_FIELDS | {"createNewIfDuplicateAllowed"}
# companyName: not in the spec's UpdateContactDto, accepted by the live API (ghl_spec/deviations.py).
UPDATE_FIELDS = CREATE_FIELDS - {"locationId", "gender"}
SEARCH_FIELDS = frozenset({"locationId", "pageLimit", "page", "searchAfter", "sort", "filters", "query"})

LIST_DEFAULT_LIMIT = 20
LIST_MAX_LIMIT = 100
SEARCH_MAX_PAGE_LIMIT = 500
SEARCH_MAX_WINDOW = 10_000
SORT_COLUMNS = {"dateAdded": "created_at", "dateUpdated": "updated_at"}
FILTER_COLUMNS = {
    "dateAdded": "created_at",
    "dateUpdated": "updated_at",
    "email": "email_lower",
    "phone": "phone",
    "id": "record_id",
}
DATE_COLUMNS = {"created_at", "updated_at"}
FILTER_DATA_FIELDS = frozenset(
    {
        "firstName",
        "lastName",
        "companyName",
        "address1",
        "city",
        "state",
        "postalCode",
        "country",
        "source",
        "website",
        "timezone",
        "assignedTo",
    }
)
FILTER_OPERATORS = frozenset({"eq", "not_eq", "contains", "not_contains", "exists", "not_exists", "range"})
_DOB_FORMATS = ("%Y/%m/%d", "%m/%d/%Y", "%Y-%m-%d", "%m-%d-%Y", "%Y.%m.%d", "%m.%d.%Y", "%Y_%m_%d", "%m_%d_%Y")


class GhlError(Exception):
    """An error answer: status code plus GHL's JSON body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status}: {body.get('message')}")
        self.status = status
        self.body = body


def ghl_error(status: int, message: str | list[str], error: str | None = None, **extra: Any) -> GhlError:
    body: dict[str, Any] = {"statusCode": status, "message": message}
    if error:
        body["error"] = error
    body.update(extra)
    return GhlError(status, body)


def unprocessable(messages: list[str]) -> GhlError:
    # 422 bodies carry an array of messages (docs/ghl-facts.md#requests-and-errors).
    return ghl_error(422, messages, "Unprocessable Entity")


@dataclass
class GhlRequest:
    """What a handler needs from the HTTP request, already authenticated."""

    method: str
    url: str  # absolute URL of the path, without the query string
    query: Mapping[str, str]
    body: dict[str, Any]
    accounts: list[SandboxAccount]  # every location the bearer token opens
    headers: dict[str, str] = field(default_factory=dict)

    def location(self, location_id: Any) -> SandboxAccount:
        """The account for a requested locationId, or 403 when the token does not cover it."""
        if not isinstance(location_id, str) or not location_id:
            raise unprocessable([MSG_LOCATION_REQUIRED, "locationId must be a string"])
        for account in self.accounts:
            if account.account_id == location_id:
                return account
        raise ghl_error(403, MSG_FORBIDDEN_LOCATION)

    def contact(self, contact_id: str) -> SandboxRecord:
        """A live contact the token may see: 404 if missing or deleted, 403 if in another location."""
        record = (
            SandboxRecord.objects.filter(
                account__system=SandboxSystem.GHL, object_type=CONTACT, record_id=contact_id, deleted=False
            )
            .select_related("account")
            .first()
        )
        if record is None:
            raise ghl_error(404, MSG_CONTACT_NOT_FOUND)
        if record.account_id not in {account.pk for account in self.accounts}:
            raise ghl_error(403, MSG_FORBIDDEN_LOCATION)
        return record


# ------------------------------------------------------------------------------
# Validation of the write DTOs
# ------------------------------------------------------------------------------
def _parse_dob(value: str) -> str | None:
    text = value.strip()
    for fmt in _DOB_FORMATS:
        try:
            return datetime.strptime(text, fmt).date().isoformat()  # noqa: DTZ007 - a date, no time zone
        except ValueError:
            continue
    parsed = services.parse_time(text)
    return parsed.date().isoformat() if parsed else None


def _clean_custom_fields(value: Any, errors: list[str]) -> list[dict[str, Any]] | None:
    if not isinstance(value, list):
        errors.append("customFields must be an array")
        return None
    cleaned = []
    for item in value:
        if not isinstance(item, dict):
            errors.append("each value in customFields must be an object")
            return None
        field_id = item.get("id") or item.get("key")
        if not isinstance(field_id, str) or not field_id:
            errors.append("each value in customFields must have an id or key")
            return None
        # Write items carry `field_value`; accept `value` (the read shape) too.
        cleaned.append({"id": field_id, "value": item.get("field_value", item.get("value"))})
    return cleaned


def validate_contact_body(body: dict[str, Any], *, allowed: frozenset[str]) -> dict[str, Any]:
    """Check a create/update/upsert body; returns the storable values (phone in E.164, dob as YYYY-MM-DD)."""
    errors = [f"property {key} should not exist" for key in body if key not in allowed]
    cleaned: dict[str, Any] = {}
    for key, value in body.items():
        if key not in allowed:
            continue
        if key in STRING_FIELDS or key == "locationId":
            if value is not None and not isinstance(value, str):
                errors.append(f"{key} must be a string")
            else:
                cleaned[key] = value.strip() if isinstance(value, str) else None
        elif key == "email":
            if value is None or value == "":
                cleaned[key] = None
            elif not isinstance(value, str):
                errors.append(MSG_EMAIL)
            else:
                try:
                    validate_email(value.strip())
                except ValidationError:
                    errors.append(MSG_EMAIL)
                else:
                    cleaned[key] = value.strip()
        elif key == "phone":
            if value is None or value == "":
                cleaned[key] = None
            elif not isinstance(value, str) or (e164 := services.phone_to_e164(value)) is None:
                errors.append(MSG_PHONE)
            else:
                cleaned[key] = e164
        elif key in ("dnd", "createNewIfDuplicateAllowed"):
            if not isinstance(value, bool):
                errors.append(f"{key} must be a boolean value")
            else:
                cleaned[key] = value
        elif key in ("dndSettings", "inboundDndSettings"):
            if value is not None and not isinstance(value, dict):
                errors.append(f"{key} must be an object")
            else:
                cleaned[key] = value
        elif key == "tags":
            if not isinstance(value, list):
                errors.append("tags must be an array")
            elif not all(isinstance(tag, str) for tag in value):
                errors.append("each value in tags must be a string")
            else:
                cleaned[key] = _unique(tag.strip() for tag in value if tag.strip())
        elif key == "customFields":
            custom = _clean_custom_fields(value, errors)
            if custom is not None:
                cleaned[key] = custom
        elif key == "dateOfBirth":
            if value is None or value == "":
                cleaned[key] = None
            elif not isinstance(value, str) or (dob := _parse_dob(value)) is None:
                errors.append("dateOfBirth must be a valid date")
            else:
                cleaned[key] = dob
    if errors:
        raise unprocessable(errors)
    return cleaned


def _unique(values: Any) -> list[str]:
    return list(dict.fromkeys(values))


def _merge(data: dict[str, Any], cleaned: dict[str, Any]) -> dict[str, Any]:
    """Apply written values to stored data: customFields merge by id, everything else (tags too) replaces."""
    merged = dict(data)
    for key, value in cleaned.items():
        if key in ("locationId", "createNewIfDuplicateAllowed"):
            continue
        if key == "customFields":
            by_id = {item["id"]: item for item in merged.get("customFields") or [] if isinstance(item, dict)}
            for item in value:
                by_id[item["id"]] = item
            merged[key] = list(by_id.values())
        else:
            merged[key] = value
    return merged


# ------------------------------------------------------------------------------
# Read shape
# ------------------------------------------------------------------------------
def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) and value else None


def live_mode(account: SandboxAccount) -> live.LiveMode | None:
    """The location's live mode (sandbox/live.py); None for the spec-ideal GHL."""
    return live.live_mode_of(getattr(account, "live", None))


def contact_render(record: SandboxRecord, location_id: str, *, mode: live.LiveMode | None = None) -> dict[str, Any]:
    """The contact as GET /contacts/{id} returns it (GetContectByIdSchema, docs/ghl-facts.md); a location in live mode
    adds what live GHL adds (`mode`)."""
    data = record.data if isinstance(record.data, dict) else {}
    first, last = data.get("firstName"), data.get("lastName")
    full = " ".join(part for part in (first, last) if isinstance(part, str) and part) or data.get("name") or None
    email = data.get("email")
    rendered = {
        "id": record.record_id,
        "locationId": location_id,
        "name": full,
        "firstName": first,
        "lastName": last,
        "firstNameLowerCase": _lower(first),
        "lastNameLowerCase": _lower(last),
        "fullNameLowerCase": _lower(full),
        "email": email,
        "emailLowerCase": _lower(email),
        "phone": data.get("phone"),
        "companyName": data.get("companyName"),
        "address1": data.get("address1"),
        "city": data.get("city"),
        "state": data.get("state"),
        "postalCode": data.get("postalCode"),
        "country": data.get("country"),
        "website": data.get("website"),
        "timezone": data.get("timezone"),
        "source": data.get("source"),
        "dateOfBirth": data.get("dateOfBirth"),
        "tags": list(data.get("tags") or []),
        "dnd": bool(data.get("dnd", False)),
        "dndSettings": data.get("dndSettings") or {},
        "assignedTo": data.get("assignedTo"),
        "customFields": list(data.get("customFields") or []),
        # Set only through POST /contacts/bulk/business (UpdateContactDto has no businessId: docs/ghl-facts.md#objects).
        "businessId": data.get("businessId"),
        "type": "lead",
        "dateAdded": services.to_iso(record.created_at),
        "dateUpdated": services.to_iso(record.updated_at),
    }
    if mode is not None and mode.has(live.ADDITIONAL_EMAILS):
        rendered["additionalEmails"] = [
            item for item in data.get("additionalEmails") or [] if isinstance(item, dict) and item.get("email")
        ]
    return rendered


def contact_search_shape(contact: dict[str, Any]) -> dict[str, Any]:
    """A contact as live GHL's POST /contacts/search answers it (GoHighLevel/highlevel-api-docs#314): the street line
    as `address`, the date of birth as epoch milliseconds."""
    shaped = {key: value for key, value in contact.items() if key != "address1"}
    shaped["address"] = contact.get("address1")
    dob = contact.get("dateOfBirth")
    if isinstance(dob, str) and dob:
        parsed = services.parse_time(_parse_dob(dob) or dob)
        shaped["dateOfBirth"] = services.to_epoch_ms(parsed) if parsed is not None else dob
    return shaped


# ------------------------------------------------------------------------------
# Duplicates
# ------------------------------------------------------------------------------
def find_duplicate(
    *, account: SandboxAccount, email: Any, phone: Any, exclude_id: str | None = None
) -> tuple[SandboxRecord, str] | None:
    """The contact sharing the email (first priority) or the phone (second), with the matching field name.

    The same order whether the location allows duplicates or not (docs/ghl-facts.md); when several contacts share the
    value (a location that allows duplicates), the oldest one is the match.
    """
    email_key = email.strip().lower() if isinstance(email, str) and email.strip() else ""
    phone_key = services.phone_lookup_key(phone)
    if not email_key and not phone_key:
        return None
    contacts = services.live_records(account=account, object_type=CONTACT)
    if exclude_id:
        contacts = contacts.exclude(record_id=exclude_id)
    # One query for both keys (every create and update asks): the oldest email match wins over any phone match.
    wanted = (Q(email_lower=email_key) if email_key else Q()) | (Q(phone=phone_key) if phone_key else Q())
    by_phone: SandboxRecord | None = None
    for match in contacts.filter(wanted).order_by("created_at", "record_id"):
        if email_key and match.email_lower == email_key:
            return match, "email"
        if by_phone is None:
            by_phone = match
            if not email_key:
                break
    return (by_phone, "phone") if by_phone is not None else None


def _reject_duplicates(*, account: SandboxAccount, cleaned: dict[str, Any], exclude_id: str | None = None) -> None:
    if account.allow_duplicate_contacts:
        return
    duplicate = find_duplicate(
        account=account, email=cleaned.get("email"), phone=cleaned.get("phone"), exclude_id=exclude_id
    )
    if duplicate:
        record, matching_field = duplicate
        meta = {"contactName": contact_render(record, "")["name"], "contactId": record.record_id}
        raise ghl_error(400, MSG_DUPLICATE, meta={**meta, "matchingField": matching_field})


# ------------------------------------------------------------------------------
# Handlers: each returns (status, JSON body) or raises GhlError
# ------------------------------------------------------------------------------
Result = tuple[int, Any]


def location_get(req: GhlRequest, location_id: str) -> Result:
    account = req.location(location_id)
    return 200, {
        "location": {
            "id": account.account_id,
            "name": account.name or account.account_id,
            "companyId": "sandbox-company",
            "timezone": "UTC",
            "country": "US",
            "settings": {"allowDuplicateContact": account.allow_duplicate_contacts},
        }
    }


def contact_get(req: GhlRequest, contact_id: str) -> Result:
    record = req.contact(contact_id)
    return 200, {"contact": contact_render(record, record.account.account_id, mode=live_mode(record.account))}


def contact_create(req: GhlRequest) -> Result:
    cleaned = validate_contact_body(req.body, allowed=CREATE_FIELDS)
    account = req.location(req.body.get("locationId"))
    _reject_duplicates(account=account, cleaned=cleaned)
    record = services.sandbox_record_put(account=account, object_type=CONTACT, data=_merge({}, cleaned))
    mode = live_mode(account)
    if mode is not None and mode.has(live.CREATE_422_CREATED):
        # Answered, not raised: the view's transaction must keep the contact this answer denies.
        return 422, unprocessable([live.MSG_CREATED_YET_422]).body
    return 201, {"contact": contact_render(record, account.account_id, mode=mode)}


def contact_update(req: GhlRequest, contact_id: str) -> Result:
    record = req.contact(contact_id)
    cleaned = validate_contact_body(req.body, allowed=UPDATE_FIELDS)
    _reject_duplicates(account=record.account, cleaned=cleaned, exclude_id=record.record_id)
    record = services.sandbox_record_put(
        account=record.account,
        object_type=CONTACT,
        record_id=record.record_id,
        data=_merge(record.data, cleaned),
        existing=record,
    )
    contact = contact_render(record, record.account.account_id, mode=live_mode(record.account))
    return 200, {"succeded": True, "contact": contact}


def contact_delete(req: GhlRequest, contact_id: str) -> Result:
    record = services.sandbox_record_delete(record=req.contact(contact_id))
    services.sandbox_records_delete_for_contact(
        account=record.account, object_types=CONTACT_CHILD_TYPES, contact_field="contactId", contact_id=contact_id
    )
    return 200, {"succeded": True}


def contact_upsert(req: GhlRequest) -> Result:
    cleaned = validate_contact_body(req.body, allowed=UPSERT_FIELDS)
    account = req.location(req.body.get("locationId"))
    mode = live_mode(account)
    if mode is not None and mode.has(live.UPSERT_PHONE_ONLY_422) and cleaned.get("phone") and not cleaned.get("email"):
        raise unprocessable([live.MSG_UPSERT_PHONE_ONLY])
    duplicate = None
    if not (account.allow_duplicate_contacts and cleaned.get("createNewIfDuplicateAllowed")):
        duplicate = find_duplicate(account=account, email=cleaned.get("email"), phone=cleaned.get("phone"))
    if duplicate:
        existing, matched_by = duplicate
        if matched_by == "email" and _phone_held_by_another(account=account, cleaned=cleaned, owner=existing):
            # "If one contact matches the email and another the phone, it will update the contact that matches the
            # first field in the configured sequence, and ignore the second field" (docs/ghl-facts.md).
            cleaned = {key: value for key, value in cleaned.items() if key != "phone"}
        record = services.sandbox_record_put(
            account=account,
            object_type=CONTACT,
            record_id=existing.record_id,
            data=_merge(existing.data, cleaned),
            existing=existing,
        )
    else:
        record = services.sandbox_record_put(account=account, object_type=CONTACT, data=_merge({}, cleaned))
        if mode is not None and mode.has(live.CREATE_422_CREATED):
            return 422, unprocessable([live.MSG_CREATED_YET_422]).body  # kept: see contact_create
    return 200, {
        "new": duplicate is None,
        "contact": contact_render(record, account.account_id, mode=mode),
        "traceId": str(uuid.uuid4()),
    }


def _phone_held_by_another(*, account: SandboxAccount, cleaned: dict[str, Any], owner: SandboxRecord) -> bool:
    phone_key = services.phone_lookup_key(cleaned.get("phone"))
    if not phone_key:
        return False
    contacts = services.live_records(account=account, object_type=CONTACT).exclude(record_id=owner.record_id)
    return contacts.filter(phone=phone_key).exists()


def contact_duplicate(req: GhlRequest) -> Result:
    account = req.location(req.query.get("locationId"))
    email = req.query.get("email") or None
    number = req.query.get("number") or None
    if number and number.startswith(" ") and number.strip()[:1].isdigit():
        # An un-encoded "+" arrives as a space; GHL asks callers to encode it (docs/ghl-facts.md). Be lenient.
        number = "+" + number.strip()
    duplicate = find_duplicate(account=account, email=email, phone=number)
    mode = live_mode(account)
    return 200, {"contact": contact_render(duplicate[0], account.account_id, mode=mode) if duplicate else None}


def _tags_body(req: GhlRequest) -> list[str]:
    extra = [f"property {key} should not exist" for key in req.body if key != "tags"]
    tags = req.body.get("tags")
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise unprocessable([*extra, "tags must be an array", "each value in tags must be a string"])
    if extra:
        raise unprocessable(extra)
    return [tag.strip() for tag in tags if tag.strip()]


def contact_tags_add(req: GhlRequest, contact_id: str) -> Result:
    record = req.contact(contact_id)
    tags = _unique([*(record.data.get("tags") or []), *_tags_body(req)])
    record = services.sandbox_record_put(
        account=record.account, object_type=CONTACT, record_id=record.record_id, data={**record.data, "tags": tags}
    )
    return 201, {"tags": tags}


def contact_tags_remove(req: GhlRequest, contact_id: str) -> Result:
    record = req.contact(contact_id)
    remove = set(_tags_body(req))
    tags = [tag for tag in record.data.get("tags") or [] if tag not in remove]
    services.sandbox_record_put(
        account=record.account, object_type=CONTACT, record_id=record.record_id, data={**record.data, "tags": tags}
    )
    return 200, {"tags": tags}


# ------------------------------------------------------------------------------
# Deprecated list: GET /contacts/ with a (dateAdded, id) tuple cursor
# ------------------------------------------------------------------------------
def _int_param(value: Any, name: str, *, minimum: int, maximum: int | None = None) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise unprocessable([f"{name} must be a number"]) from None
    if number < minimum:
        raise unprocessable([f"{name} must not be less than {minimum}"])
    if maximum is not None and number > maximum:
        raise unprocessable([f"{name} must not be greater than {maximum}"])
    return number


def _query_filter(contacts: QuerySet[SandboxRecord], query: Any) -> QuerySet[SandboxRecord]:
    if isinstance(query, str) and query.strip():
        return contacts.filter(search_text__contains=query.strip().lower())
    return contacts


def contact_list(req: GhlRequest) -> Result:
    account = req.location(req.query.get("locationId"))
    limit = _int_param(req.query.get("limit", LIST_DEFAULT_LIMIT), "limit", minimum=1, maximum=LIST_MAX_LIMIT)
    contacts = _query_filter(services.live_records(account=account, object_type=CONTACT), req.query.get("query"))
    total = contacts.count()
    ordered = contacts.order_by("created_at", "record_id")
    start_after_raw = req.query.get("startAfter")
    start_after_id = req.query.get("startAfterId") or ""
    start_after = None
    if start_after_raw not in (None, ""):
        start_after = services.from_epoch_ms(
            _int_param(start_after_raw, "startAfter", minimum=0, maximum=services.MAX_EPOCH_MS)
        )
    elif start_after_id:
        anchor = ordered.filter(record_id=start_after_id).first()
        start_after = anchor.created_at if anchor else None
    if start_after is not None:
        cursor = services.after_cursor_q(field="created_at", value=start_after, record_id=start_after_id)
        position = ordered.exclude(cursor).count()
        ordered = ordered.filter(cursor)
    else:
        position = 0
    rows = list(ordered[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    current_page = position // limit + 1
    next_url = None
    if has_more and last is not None:
        params = {
            "locationId": account.account_id,
            "startAfter": services.to_epoch_ms(last.created_at),
            "startAfterId": last.record_id,
            "limit": limit,
        }
        if req.query.get("query"):
            params["query"] = req.query["query"]
        next_url = f"{req.url}?{urlencode(params)}"
    return 200, {
        "contacts": [contact_render(row, account.account_id, mode=live_mode(account)) for row in rows],
        "count": total,
        "meta": {
            "total": total,
            "nextPageUrl": next_url,
            "startAfterId": last.record_id if last else None,
            "startAfter": services.to_epoch_ms(last.created_at) if last else None,
            "currentPage": current_page,
            "nextPage": current_page + 1 if has_more else None,
            "prevPage": current_page - 1 if current_page > 1 else None,
        },
    }


# ------------------------------------------------------------------------------
# POST /contacts/search
# ------------------------------------------------------------------------------
def _filter_value(column: str, value: Any, errors: list[str], label: str) -> Any:
    if column in DATE_COLUMNS:
        parsed = services.parse_time(value)
        if parsed is None:
            errors.append(f"{label} must be an ISO 8601 date or epoch milliseconds")
        return parsed
    if column == "email_lower":
        return str(value).strip().lower()
    if column == "phone":
        return services.phone_lookup_key(str(value))
    return value


NOTHING = Q(pk__in=[])


def _or_of_equals(children: list[Any], *, phone_blind: bool = False) -> Q | None:
    """`column IN (…)` for an OR group of `eq` filters on plain columns (how a client matches a page of records by
    email, phone or id): what the OR of equalities selects, without compiling one SQL term per value. None when any
    child is anything else (the general path judges it, errors included)."""
    by_column: dict[str, list[Any]] = {}
    for child in children:
        if not isinstance(child, dict) or child.get("operator") != "eq" or "group" in child:
            return None
        field_name = child.get("field")
        column = FILTER_COLUMNS.get(field_name) if isinstance(field_name, str) else None
        if column is None or column in DATE_COLUMNS or child.get("value") is None:
            return None
        value = _filter_value(column, child["value"], [], "")
        by_column.setdefault(column, []).append(value)
    combined = NOTHING
    for column, values in by_column.items():
        if not (phone_blind and column == "phone"):  # live GHL's blind phone filter (#289) matches nothing
            combined |= Q(**{f"{column}__in": values})
    return combined


def _filter_q(item: Any, errors: list[str], label: str, *, phone_blind: bool = False) -> Q:
    """The Q of one search filter; `phone_blind`: a phone `eq` matches nothing (live mode, #289)."""
    if not isinstance(item, dict):
        errors.append(f"{label} must be an object")
        return Q()
    if "group" in item:
        group = item.get("group")
        children = item.get("filters")
        if group not in ("AND", "OR") or not isinstance(children, list):
            errors.append(f"{label}.group must be AND or OR with a filters array")
            return Q()
        if group == "OR" and children:
            same = _or_of_equals(children, phone_blind=phone_blind)
            if same is not None:
                return same
        combined = Q()
        for index, child in enumerate(children):
            child_q = _filter_q(child, errors, f"{label}.filters.{index}", phone_blind=phone_blind)
            combined = combined & child_q if group == "AND" else combined | child_q
        return combined
    field_name, operator, value = item.get("field"), item.get("operator"), item.get("value")
    if operator not in FILTER_OPERATORS:
        errors.append(f"{label}.operator must be one of {', '.join(sorted(FILTER_OPERATORS))}")
        return Q()
    if field_name in FILTER_COLUMNS:
        column = FILTER_COLUMNS[field_name]
    elif field_name in FILTER_DATA_FIELDS:
        column = f"data__{field_name}"
    else:
        errors.append(f"{label}.field {field_name!r} is not supported by the sandbox")
        return Q()
    is_date = column in DATE_COLUMNS
    if operator in ("exists", "not_exists"):
        if is_date:
            exists = Q(pk__isnull=False)
        elif column.startswith("data__"):
            exists = Q(data__has_key=field_name) & ~Q(**{column: None}) & ~Q(**{column: ""})
        else:
            exists = ~Q(**{column: ""})
        return exists if operator == "exists" else ~exists
    if operator == "range":
        if not isinstance(value, dict) or not set(value) & {"gte", "gt", "lte", "lt"}:
            errors.append(f"{label}.value must be an object with gte/gt/lte/lt")
            return Q()
        bounds = Q()
        for bound in ("gte", "gt", "lte", "lt"):
            if bound in value:
                limit = _filter_value(column, value[bound], errors, f"{label}.value.{bound}")
                if limit is not None:
                    bounds &= Q(**{f"{column}__{bound}": limit})
        return bounds
    if phone_blind and column == "phone" and operator == "eq":
        return NOTHING
    if operator in ("contains", "not_contains"):
        if is_date:
            errors.append(f"{label}: contains is not supported for dates")
            return Q()
        contains = Q(**{f"{column}__icontains": str(value).strip().lower() if column == "email_lower" else str(value)})
        return contains if operator == "contains" else ~contains
    lookup = column if is_date or not column.startswith("data__") else f"{column}__iexact"
    expected = _filter_value(column, value, errors, f"{label}.value")
    if expected is None:
        return Q()
    equal = Q(**{lookup: expected})
    return equal if operator == "eq" else ~equal


def _search_after(value: Any) -> tuple[datetime, str]:
    if not isinstance(value, list) or len(value) != 2 or not isinstance(value[1], str):
        raise unprocessable(["searchAfter must be an array of [sort value, contact id]"])
    moment = services.parse_time(value[0])
    if moment is None:
        raise unprocessable(["searchAfter[0] must be epoch milliseconds"])
    return moment, value[1]


def contact_search(req: GhlRequest) -> Result:
    body = req.body
    errors = [f"property {key} should not exist" for key in body if key not in SEARCH_FIELDS]
    if "pageLimit" not in body:
        errors.append("pageLimit should not be empty")
    if errors:
        raise unprocessable(errors)
    account = req.location(body.get("locationId"))
    if isinstance(body["pageLimit"], bool) or not isinstance(body["pageLimit"], int):
        raise unprocessable(["pageLimit must be an integer number"])
    page_limit = _int_param(body["pageLimit"], "pageLimit", minimum=1, maximum=SEARCH_MAX_PAGE_LIMIT)
    if "page" in body and body.get("searchAfter") is not None:
        raise unprocessable(["page and searchAfter cannot be used together"])
    page = _int_param(body.get("page", 1), "page", minimum=1)
    if page * page_limit > SEARCH_MAX_WINDOW:
        raise unprocessable([f"page * pageLimit must not exceed {SEARCH_MAX_WINDOW}; use searchAfter"])

    sort_field, direction = "dateAdded", "desc"
    sort = body.get("sort")
    if sort not in (None, []):
        first = sort[0] if isinstance(sort, list) and sort else None
        if not isinstance(first, dict) or first.get("field") not in SORT_COLUMNS:
            raise unprocessable([f"sort field must be one of {', '.join(SORT_COLUMNS)}"])
        if first.get("direction", "asc") not in ("asc", "desc"):
            raise unprocessable(["sort direction must be asc or desc"])
        sort_field, direction = first["field"], first.get("direction", "asc")
    column = SORT_COLUMNS[sort_field]
    descending = direction == "desc"
    mode = live_mode(account)
    phone_blind = mode is not None and mode.has(live.PHONE_FILTER_EMPTY)

    contacts = _query_filter(services.live_records(account=account, object_type=CONTACT), body.get("query"))
    filters = body.get("filters") or []
    if not isinstance(filters, list):
        raise unprocessable(["filters must be an array"])
    filter_errors: list[str] = []
    for index, item in enumerate(filters):
        contacts = contacts.filter(_filter_q(item, filter_errors, f"filters.{index}", phone_blind=phone_blind))
    if filter_errors:
        raise unprocessable(filter_errors)
    total = contacts.count()
    ordering = [f"-{column}", "-record_id"] if descending else [column, "record_id"]
    ordered = contacts.order_by(*ordering)
    if body.get("searchAfter") is not None:
        moment, after_id = _search_after(body["searchAfter"])
        ordered = ordered.filter(
            services.after_cursor_q(field=column, value=moment, record_id=after_id, descending=descending)
        )
        rows = list(ordered[:page_limit])
    else:
        offset = (page - 1) * page_limit
        rows = list(ordered[offset : offset + page_limit])
    results = []
    for row in rows:
        contact = contact_render(row, account.account_id, mode=mode)
        if mode is not None and mode.has(live.SEARCH_SHAPE):
            contact = contact_search_shape(contact)
        contact["searchAfter"] = [services.to_epoch_ms(getattr(row, column)), row.record_id]
        results.append(contact)
    return 200, {"contacts": results, "total": total}
