"""What the generic kinds cannot say: actions on other records (followers, memberships, messages, links), answers
computed from stored records (free slots, slug checks, timezones), the hooks that add list filters the triggers need
(opportunities by date and order, conversations by status and direction, messages by type, events by time), and
what a write adds to a resource (an opportunity's lastStatusChangeAt, a user's name, a custom field's key).

Each function is registered by name in engine.ACTIONS / HOOKS / WRITE_HOOKS / RENDER_HOOKS; rules.OVERRIDES names
them per operation.
"""

from __future__ import annotations

import base64
import io
import re
import struct
import uuid
import wave
import zoneinfo
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

from django.db import transaction
from django.db.models import Q

from integrations.sandbox import ghl_children, services
from integrations.sandbox.catalog import shapes
from integrations.sandbox.catalog.engine import (
    ACTIONS,
    HOOKS,
    RAW,
    RENDER_HOOKS,
    WRITE_HOOKS,
    Call,
    Plan,
    create_record,
    not_found,
    update_record,
)
from integrations.sandbox.catalog.rules import (
    APPOINTMENT,
    BLOCK_SLOT,
    CONTACT,
    CONVERSATION,
    MESSAGE,
    OPPORTUNITY,
)
from integrations.sandbox.ghl import GhlRequest, Result, ghl_error, unprocessable
from integrations.sandbox.models import SandboxAccount, SandboxRecord, SandboxSystem

MEMBERSHIPS = {"workflowId": "contacts.workflows", "campaignId": "contacts.campaigns"}
LOCATION_PROFILE = "locations"  # PUT /locations/{id} details, one record per location (record id = location id)
COMPANY = "sandbox-company"  # the companyId ghl.location_get answers for every location
CLOSED_STATUSES = ("cancelled", "invalid")  # appointments that do not block a slot
MAX_SLOT_DAYS = 31
MSG_STAGE = "pipelineStageId must be a stage of the pipeline"
MSG_STATUS = "status must be one of the following values: open, won, lost, abandoned"
MSG_SLUG_TAKEN = "This slug is already in use"
MSG_NOT_SCHEDULED = "This message is not scheduled"
MSG_CONVERSATION_EXISTS = "Conversation already exists"
MSG_CALENDAR_FILTER = ghl_children.MSG_CALENDAR_FILTER
MSG_RANGE = f"endDate must be after startDate and within {MAX_SLOT_DAYS} days of it"
MSG_OBJECT_KEY = "key must start with custom_objects."
MSG_USER_EXISTS = "A user with this email already exists"

# Channel names of the send/inbound bodies -> (numeric type, messageType). GHL's numbers are not in its spec; these
# follow the order of its conversation type descriptions.
MESSAGE_TYPES: dict[str, tuple[int, str]] = {
    "Call": (1, "TYPE_CALL"),
    "SMS": (2, "TYPE_SMS"),
    "Email": (3, "TYPE_EMAIL"),
    "FB": (4, "TYPE_FACEBOOK"),
    "GMB": (6, "TYPE_GMB"),
    "IG": (18, "TYPE_INSTAGRAM"),
    "WhatsApp": (19, "TYPE_WHATSAPP"),
    "Custom": (20, "TYPE_CUSTOM_SMS"),
    "Live_Chat": (29, "TYPE_LIVE_CHAT"),
    "RCS": (2, "TYPE_RCS"),
    "TIKTOK": (37, "TYPE_TIKTOK"),
    "Review": (17, "TYPE_REVIEW"),
}
# The export's `channel` filter -> messageType.
CHANNELS = {
    "Call": "TYPE_CALL",
    "SMS": "TYPE_SMS",
    "Email": "TYPE_EMAIL",
    "WhatsApp": "TYPE_WHATSAPP",
    "Instagram": "TYPE_INSTAGRAM",
    "Facebook": "TYPE_FACEBOOK",
}
OPPORTUNITY_ORDERS = {
    "added_asc": "created",
    "added_desc": "-created",
    "updated_asc": "updated",
    "updated_desc": "-updated",
}


def action(name: str) -> Callable[[Callable[[Call], Result]], Callable[[Call], Result]]:
    def register(function: Callable[[Call], Result]) -> Callable[[Call], Result]:
        ACTIONS[name] = function
        return function

    return register


def hook(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        HOOKS[name] = function
        return function

    return register


def written(resource: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        WRITE_HOOKS[resource] = function
        return function

    return register


def iso(moment: datetime) -> str:
    return services.to_iso(moment)


def _slug(text: Any) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text or "").lower()).strip("_") or "field"


def _moment(value: Any, name: str) -> datetime:
    """A time parameter: epoch ms, ISO 8601, or GHL's "mm-dd-yyyy"; 422 when it is none of them."""
    if isinstance(value, str) and re.fullmatch(r"\d{2}-\d{2}-\d{4}", value.strip()):
        month, day, year = (int(part) for part in value.strip().split("-"))
        try:
            return datetime(year, month, day, tzinfo=UTC)
        except ValueError:
            pass
    moment = services.parse_time(value)
    if moment is None:
        raise unprocessable([f"{name} must be a date (epoch milliseconds, ISO 8601 or mm-dd-yyyy)"])
    return moment


def _time(data: Mapping[str, Any], key: str) -> datetime | None:
    return services.parse_time(data.get(key))


# ------------------------------------------------------------------------------
# Contacts: followers, workflow and campaign memberships, bulk tags
# ------------------------------------------------------------------------------
def _follow_target(call: Call) -> SandboxRecord:
    if call.rule.resource == CONTACT:
        return call.req.contact(call.params["contactId"])
    return call.get(OPPORTUNITY, call.params["id"])


@action("followers_add")
def followers_add(call: Call) -> Result:
    record = _follow_target(call)
    before = list(record.data.get("followers") or [])
    wanted = list(dict.fromkeys(call.body.get("followers") or []))
    added = [user for user in wanted if user not in before]
    if added:
        update_record(call, record, {"followers": [*before, *added]})
    return call.answer(values={"followers": [*before, *added], "followersAdded": added})


@action("followers_remove")
def followers_remove(call: Call) -> Result:
    record = _follow_target(call)
    before = list(record.data.get("followers") or [])
    remove_all = call.req.query.get("isRemoveAllFollowers") == "true"
    unwanted = set(before) if remove_all else set(call.body.get("followers") or [])
    kept = [user for user in before if user not in unwanted]
    removed = [user for user in before if user in unwanted]
    if removed:
        update_record(call, record, {"followers": kept})
    return call.answer(values={"followers": kept, "followersRemoved": removed})


def _memberships(call: Call, contact: SandboxRecord, of: str) -> Any:
    return services.live_records(account=contact.account, object_type=MEMBERSHIPS[of]).filter(
        data__contactId=contact.record_id
    )


@action("membership_add")
def membership_add(call: Call) -> Result:
    """Add a contact to a workflow or campaign: one membership record (created_at = when it was added), kept apart
    from the contact so the contact's dateUpdated does not move (GHL's does not)."""
    of = call.rule.options["of"]
    contact = call.req.contact(call.params["contactId"])
    target = call.referenced(of, call.params[of])
    assert target is not None
    existing = _memberships(call, contact, of).filter(**{f"data__{of}": target.record_id}).first()
    if existing is None:
        data = {"contactId": contact.record_id, of: target.record_id, "name": target.data.get("name")}
        if isinstance(call.body, dict) and call.body.get("eventStartTime"):
            data["eventStartTime"] = call.body["eventStartTime"]
        services.sandbox_record_put(account=contact.account, object_type=MEMBERSHIPS[of], data=data)
    return call.answer()


@action("membership_remove")
def membership_remove(call: Call) -> Result:
    of = call.rule.options["of"]
    contact = call.req.contact(call.params["contactId"])
    for membership in _memberships(call, contact, of).filter(**{f"data__{of}": call.params[of]}):
        services.sandbox_record_delete(record=membership)
    return call.answer()


@action("membership_clear")
def membership_clear(call: Call) -> Result:
    contact = call.req.contact(call.params["contactId"])
    for membership in _memberships(call, contact, call.rule.options["of"]).order_by("record_id"):
        services.sandbox_record_delete(record=membership)
    return call.answer()


def memberships_of(*, account: SandboxAccount, contact_id: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """A contact's (or every contact's) live workflow and campaign memberships, oldest first (for the control
    endpoint and tests: GHL's API has no read for them)."""
    result: dict[str, list[dict[str, Any]]] = {}
    for resource in MEMBERSHIPS.values():
        rows = services.live_records(account=account, object_type=resource)
        if contact_id:
            rows = rows.filter(data__contactId=contact_id)
        result[resource.split(".")[1]] = [
            {**row.data, "id": row.record_id, "addedAt": iso(row.created_at)}
            for row in rows.order_by("created_at", "record_id")
        ]
    return result


@action("contacts_bulk_tags")
def contacts_bulk_tags(call: Call) -> Result:
    """POST /contacts/bulk/tags/update/{type}: add or remove tags on many contacts (removeAllTags clears them)."""
    account = call.home()
    adding = call.params["type"] == "add"
    tags = [tag.strip() for tag in call.body.get("tags") or [] if isinstance(tag, str) and tag.strip()]
    wanted = list(dict.fromkeys(call.body.get("contacts") or []))
    found = {
        row.record_id: row
        for row in services.live_records(account=account, object_type=CONTACT).filter(record_id__in=wanted)
    }
    responses = []
    for contact_id in wanted:
        contact = found.get(contact_id)
        if contact is None:
            responses.append(f"{contact_id}: Contact not found")
            continue
        current = list(contact.data.get("tags") or [])
        if adding:
            new = list(dict.fromkeys([*current, *tags]))
        elif call.body.get("removeAllTags"):
            new = []
        else:
            new = [tag for tag in current if tag not in tags]
        if new != current:
            services.sandbox_record_put(
                account=account, object_type=CONTACT, record_id=contact_id, data={**contact.data, "tags": new}
            )
    return call.answer(values={"succeded": True, "errorCount": len(responses), "responses": responses})


# ------------------------------------------------------------------------------
# Opportunities
# ------------------------------------------------------------------------------
@written(OPPORTUNITY)
def _opportunity_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    """A stage must belong to the pipeline (default: its first stage); lastStatusChangeAt/lastStageChangeAt move
    when status/stage change. The contact's name and email are kept for the `q` search."""
    if data.get("status") == "all":
        raise unprocessable([MSG_STATUS])
    pipeline = call.referenced("pipelineId", data.get("pipelineId"))
    stages = [stage.get("id") for stage in (pipeline.data.get("stages") or [])] if pipeline is not None else []
    if not data.get("pipelineStageId") and stages:
        data["pipelineStageId"] = stages[0]
    elif stages and data.get("pipelineStageId") not in stages:
        raise unprocessable([MSG_STAGE])
    now = iso(call.now)
    if old is None or old.get("status") != data.get("status"):
        data["lastStatusChangeAt"] = now
    if old is None or old.get("pipelineStageId") != data.get("pipelineStageId"):
        data["lastStageChangeAt"] = now
    data["lastActionDate"] = now
    if old is None or old.get("contactId") != data.get("contactId"):
        contact = call.find(CONTACT, data["contactId"]) if isinstance(data.get("contactId"), str) else None
        parts = [contact.data.get(key) for key in ("firstName", "lastName", "email", "phone")] if contact else []
        data["_contactText"] = " ".join(str(part) for part in parts if part)
    return data


def _contact_summaries(records: list[SandboxRecord], ids: set[str]) -> dict[str, dict[str, Any]]:
    accounts = {record.account_id for record in records}
    contacts = SandboxRecord.objects.filter(
        account_id__in=accounts, object_type=CONTACT, record_id__in=ids, deleted=False
    )
    summaries = {}
    for contact in contacts:
        data = contact.data
        name = " ".join(part for part in (data.get("firstName"), data.get("lastName")) if part) or data.get("name")
        summaries[contact.record_id] = {
            "id": contact.record_id,
            "name": name or "",
            "companyName": data.get("companyName") or "",
            "email": data.get("email") or "",
            "phone": data.get("phone") or "",
            "tags": list(data.get("tags") or []),
        }
    return summaries


def _opportunity_views(call: Call, records: list[SandboxRecord], views: list[dict[str, Any]]) -> None:
    """The contact of each opportunity, read once per page."""
    ids = {view["contactId"] for view in views if isinstance(view.get("contactId"), str)}
    summaries = _contact_summaries(records, ids) if ids else {}
    for view in views:
        summary = summaries.get(view.get("contactId") or "")
        if summary is not None:
            view["contact"] = summary


RENDER_HOOKS[OPPORTUNITY] = _opportunity_views


@hook("opportunity_filters")
def opportunity_filters(call: Call, plan: Plan) -> None:
    """`order` (added_asc, added_desc; updated_asc, updated_desc for pollers), `date`/`endDate` on createdAt."""
    inputs = call.inputs()
    plan.consumed |= {"order", "date", "endDate", "country", "getTasks", "getNotes", "getCalendarEvents"}
    order = inputs.get("order")
    if isinstance(order, str) and order:
        if order not in OPPORTUNITY_ORDERS:
            raise unprocessable([f"order must be one of the following values: {', '.join(OPPORTUNITY_ORDERS)}"])
        plan.order = OPPORTUNITY_ORDERS[order]
    if inputs.get("date"):
        plan.qs = plan.qs.filter(created_at__gte=_moment(inputs["date"], "date"))
    if inputs.get("endDate"):
        end = _moment(inputs["endDate"], "endDate")
        if re.fullmatch(r"\d{2}-\d{2}-\d{4}", str(inputs["endDate"]).strip()):
            end += timedelta(days=1)  # a day given as mm-dd-yyyy includes that day
            plan.qs = plan.qs.filter(created_at__lt=end)
        else:
            plan.qs = plan.qs.filter(created_at__lte=end)


@hook("opportunity_upsert")
def opportunity_upsert(call: Call, record: SandboxRecord | None, body: dict[str, Any]) -> dict[str, Any]:
    """The upsert's follower instructions applied to the stored followers; monetaryValue kept only as a number
    (the spec types it `object`)."""
    followers = list(record.data.get("followers") or []) if record is not None else []
    given = body.pop("followers", None) or []
    action_type = body.pop("followersActionType", "add")
    if body.pop("isRemoveAllFollowers", False):
        followers = []
    elif action_type == "remove":
        followers = [user for user in followers if user not in given]
    else:
        followers = list(dict.fromkeys([*followers, *given]))
    body["followers"] = followers
    if not isinstance(body.get("monetaryValue"), int | float) or isinstance(body.get("monetaryValue"), bool):
        body.pop("monetaryValue", None)
    if record is None and not body.get("name"):
        body["name"] = "Opportunity"
    return body


# ------------------------------------------------------------------------------
# Users
# ------------------------------------------------------------------------------
@written("users")
def _user_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    """name from first and last name; type, role and locationIds of the body kept under `roles` as GHL answers."""
    name = " ".join(str(part) for part in (data.get("firstName"), data.get("lastName")) if part)
    data["name"] = name or data.get("name") or ""
    roles = dict(data.get("roles") or {})
    for key in ("type", "role", "locationIds"):
        if key in data:
            roles[key] = data.pop(key)
    data["roles"] = roles
    email = data.get("email")
    if isinstance(email, str) and (old is None or old.get("email") != email):
        clash = call.records("users").filter(email_lower=email.strip().lower())
        if clash.exists():
            raise ghl_error(400, MSG_USER_EXISTS, "Bad Request")
    return data


@hook("users_filters")
def users_filters(call: Call, plan: Plan) -> None:
    """`type` and `role` are inside `roles`; `sort` by dateAdded/dateUpdated (default: first, then last name)."""
    inputs = call.inputs()
    plan.consumed |= {"companyId", "type", "role", "sort", "sortDirection", "enabled2waySync"}
    for key in ("type", "role"):
        if inputs.get(key):
            plan.qs = plan.qs.filter(**{f"data__roles__{key}": inputs[key]})
    sort = inputs.get("sort")
    descending = str(inputs.get("sortDirection") or "asc").lower() == "desc"
    if sort in ("dateAdded", "dateUpdated"):
        plan.order = ("-" if descending else "") + ("created" if sort == "dateAdded" else "updated")


@hook("users_by_email")
def users_by_email(call: Call, plan: Plan) -> None:
    body = call.body
    plan.consumed |= {"companyId", "emails", "projection", "deleted"}
    if body.get("deleted") is True:
        plan.qs = call.records("users", deleted=True)
    emails = [part.strip().lower() for part in str(body.get("emails") or "").split(",") if part.strip()]
    plan.qs = plan.qs.filter(email_lower__in=emails)


# ------------------------------------------------------------------------------
# Calendars
# ------------------------------------------------------------------------------
@written("calendars")
def _calendar_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    if data.get("groupId"):
        call.referenced("groupId", data["groupId"])
    if not data.get("slug"):
        data["slug"] = _slug(data.get("name")).replace("_", "-")
    data.setdefault("widgetSlug", data["slug"])
    return data


@written("calendars.groups")
def _group_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    changed = old is None or old.get("slug") != data.get("slug")
    if changed and call.records("calendars.groups").filter(data__slug=data.get("slug")).exists():
        raise ghl_error(400, MSG_SLUG_TAKEN, "Bad Request")
    return data


@action("slug_available")
def slug_available(call: Call) -> Result:
    taken = call.records("calendars.groups").filter(data__slug=call.body.get("slug")).exists()
    return call.answer(values={"available": not taken})


@written(BLOCK_SLOT)
def _block_slot_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    """Times stored in UTC ISO form; an end defaults to start + 30 minutes and must follow the start."""
    start = _time(data, "startTime") or call.now
    end = _time(data, "endTime") or start + timedelta(minutes=ghl_children.DEFAULT_APPOINTMENT_MINUTES)
    if end <= start:
        raise unprocessable([ghl_children.MSG_END_BEFORE_START])
    data["startTime"], data["endTime"] = iso(start), iso(end)
    # As a calendar event: its calendar's group, its user; no contact.
    calendar = call.find("calendars", data["calendarId"]) if isinstance(data.get("calendarId"), str) else None
    data["groupId"] = (calendar.data.get("groupId") if calendar is not None else None) or ""
    data["users"] = [data["assignedUserId"]] if data.get("assignedUserId") else []
    data.setdefault("contactId", "")
    return data


@hook("events_in_range")
def events_in_range(call: Call, plan: Plan) -> None:
    """Blocked slots overlapping [startTime, endTime) (epoch ms) of a calendar, a user or a group's calendars,
    ordered by start."""
    inputs = call.inputs()
    plan.consumed |= {"startTime", "endTime", "calendarId", "userId", "groupId"}
    if not any(inputs.get(key) for key in ("calendarId", "userId", "groupId")):
        raise unprocessable([MSG_CALENDAR_FILTER])
    start, end = _moment(inputs["startTime"], "startTime"), _moment(inputs["endTime"], "endTime")
    calendars: set[str] | None = None
    if inputs.get("calendarId"):
        calendars = {inputs["calendarId"]}
    if inputs.get("groupId"):
        members = call.records("calendars").filter(data__groupId=inputs["groupId"])
        group = set(members.values_list("record_id", flat=True))
        calendars = group if calendars is None else calendars & group
    user = inputs.get("userId")

    def matches(record: SandboxRecord) -> bool:
        begins, ends = _time(record.data, "startTime"), _time(record.data, "endTime")
        if begins is None or ends is None or not (begins < end and ends > start):
            return False
        if calendars is not None and record.data.get("calendarId") not in calendars:
            return False
        return not user or record.data.get("assignedUserId") == user

    plan.also(matches)
    plan.sort = lambda record: (record.data.get("startTime") or "", record.record_id)


def event_delete(req: GhlRequest, event_id: str) -> Result:
    """DELETE /calendars/events/{eventId}: a blocked slot, else an appointment (ghl_children's handler)."""
    slot = SandboxRecord.objects.filter(
        account__in=req.accounts, object_type=BLOCK_SLOT, record_id=event_id, deleted=False
    ).first()
    if slot is None:
        return ghl_children.calendar_event_delete(req, event_id)
    services.sandbox_record_delete(record=slot)
    return 201, {"succeeded": True}


def _busy(call: Call, calendar: SandboxRecord, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Appointments (not cancelled) and blocked slots of the calendar (or of its team's users) in a range."""
    account = calendar.account
    users = {member.get("userId") for member in calendar.data.get("teamMembers") or [] if isinstance(member, dict)}
    appointments = services.live_records(account=account, object_type=APPOINTMENT).filter(
        data__calendarId=calendar.record_id
    )
    slots = services.live_records(account=account, object_type=BLOCK_SLOT).filter(
        Q(data__calendarId=calendar.record_id) | Q(data__assignedUserId__in=[u for u in users if u])
    )
    busy = []
    for record in [*appointments, *slots]:
        if record.object_type == APPOINTMENT and record.data.get("appointmentStatus") in CLOSED_STATUSES:
            continue
        begins, ends = _time(record.data, "startTime"), _time(record.data, "endTime")
        if begins is not None and ends is not None and begins < end and ends > start:
            busy.append((begins, ends))
    return busy


def _minutes(value: Any, unit: Any, default: int) -> int:
    number = int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else default
    return number * 60 if unit == "hours" else number


@action("free_slots")
def free_slots(call: Call) -> Result:
    """GET /calendars/{id}/free-slots: the calendar's open hours (daysOfTheWeek 0 = Sunday) cut into slots of
    slotDuration every slotInterval, minus appointments and blocked slots, between startDate and endDate (epoch
    ms), in `timezone` (default: UTC): {"YYYY-MM-DD": {"slots": [ISO times]}}."""
    calendar = call.get("calendars", call.params["calendarId"])
    inputs = call.inputs()
    start, end = _moment(inputs["startDate"], "startDate"), _moment(inputs["endDate"], "endDate")
    if end <= start or end - start > timedelta(days=MAX_SLOT_DAYS):
        raise unprocessable([MSG_RANGE])
    try:
        zone = zoneinfo.ZoneInfo(str(inputs.get("timezone") or "UTC"))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise unprocessable(["timezone must be a valid IANA time zone"]) from None
    data = calendar.data
    duration = timedelta(minutes=_minutes(data.get("slotDuration"), data.get("slotDurationUnit"), 30))
    step = timedelta(minutes=_minutes(data.get("slotInterval"), data.get("slotIntervalUnit"), 30))
    busy = _busy(call, calendar, start, end)
    days: dict[str, dict[str, list[str]]] = {}
    day = start.astimezone(zone).date()
    while day <= end.astimezone(zone).date():
        weekday = (day.weekday() + 1) % 7  # GHL counts from Sunday = 0
        for block in data.get("openHours") or []:
            if weekday not in (block.get("daysOfTheWeek") or []):
                continue
            for hours in block.get("hours") or []:
                _day_slots(days, day, zone, hours, (start, end), duration, step, busy)
        day += timedelta(days=1)
    return call.answer(values=dict(sorted(days.items())))


def _day_slots(
    days: dict[str, dict[str, list[str]]],
    day: date,
    zone: zoneinfo.ZoneInfo,
    hours: Mapping[str, Any],
    window: tuple[datetime, datetime],
    duration: timedelta,
    step: timedelta,
    busy: list[tuple[datetime, datetime]],
) -> None:
    moment = datetime(
        day.year, day.month, day.day, int(hours.get("openHour", 0)), int(hours.get("openMinute", 0)), tzinfo=zone
    )
    last = datetime(
        day.year, day.month, day.day, int(hours.get("closeHour", 0)), int(hours.get("closeMinute", 0)), tzinfo=zone
    )
    while moment + duration <= last:
        ends = moment + duration
        free = all(not (moment < b_end and ends > b_start) for b_start, b_end in busy)
        if free and window[0] <= moment and ends <= window[1]:
            days.setdefault(day.isoformat(), {"slots": []})["slots"].append(moment.isoformat())
        moment += step


@written("calendars.notes")
def _appointment_note_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    """A note on an appointment carries the appointment's contact and who wrote it."""
    appointment = call.find(APPOINTMENT, data.get("appointmentId", ""))
    if appointment is not None:
        data["contactId"] = appointment.data.get("contactId")
    user = call.find("users", data["userId"]) if isinstance(data.get("userId"), str) else None
    data["createdBy"] = {"id": data.get("userId") or "", "name": user.data.get("name", "") if user else ""}
    return data


@action("link_add")
def link_add(call: Call) -> Result:
    """PUT /calendars/schedules/{id}/associations/{calendarId}: the calendar joins the schedule's calendarIds."""
    schedule = call.get("calendars.schedules", call.params["id"])
    call.referenced("calendarId", call.params["calendarId"])
    calendars = list(schedule.data.get("calendarIds") or [])
    if call.params["calendarId"] not in calendars:
        update_record(call, schedule, {"calendarIds": [*calendars, call.params["calendarId"]]})
    return call.answer()


@action("link_remove")
def link_remove(call: Call) -> Result:
    schedule = call.get("calendars.schedules", call.params["id"])
    calendars = list(schedule.data.get("calendarIds") or [])
    if call.params["calendarId"] in calendars:
        update_record(call, schedule, {"calendarIds": [c for c in calendars if c != call.params["calendarId"]]})
    return call.answer()


# ------------------------------------------------------------------------------
# Conversations and messages
# ------------------------------------------------------------------------------
def _contact_fields(contact: SandboxRecord) -> dict[str, Any]:
    data = contact.data
    name = " ".join(part for part in (data.get("firstName"), data.get("lastName")) if part) or data.get("name") or ""
    return {
        "fullName": name,
        "contactName": name,
        "email": data.get("email") or "",
        "phone": data.get("phone") or "",
    }


@written(CONVERSATION)
def _conversation_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    """A new conversation copies its contact's name, email and phone (what search answers show); one per
    contact."""
    if old is None:
        contact = call.get(CONTACT, data["contactId"])
        if call.records(CONVERSATION).filter(data__contactId=contact.record_id).exists():
            existing = call.records(CONVERSATION).filter(data__contactId=contact.record_id).first()
            raise ghl_error(
                400, MSG_CONVERSATION_EXISTS, "Bad Request", conversationId=existing.record_id if existing else None
            )
        data.update(_contact_fields(contact))
        data.setdefault("lastMessageDate", iso(call.now))
    return data


def conversation_for(call: Call, contact: SandboxRecord) -> SandboxRecord:
    """The contact's conversation, created on its first message."""
    existing = (
        services.live_records(account=contact.account, object_type=CONVERSATION)
        .filter(data__contactId=contact.record_id)
        .order_by("created_at", "record_id")
        .first()
    )
    if existing is not None:
        existing.account = contact.account
        return existing
    call.parent_account = contact.account
    return create_record(call, {"contactId": contact.record_id}, resource=CONVERSATION)


def add_message(
    call: Call,
    *,
    conversation: SandboxRecord,
    channel: str,
    direction: str,
    body: str,
    status: str,
    extra: Mapping[str, Any] | None = None,
) -> SandboxRecord:
    """Store one message in a conversation and move the conversation's last-message fields (an inbound one also
    counts as unread)."""
    number, message_type = MESSAGE_TYPES.get(channel, MESSAGE_TYPES["SMS"])
    data = {
        "conversationId": conversation.record_id,
        "contactId": conversation.data.get("contactId"),
        "type": number,
        "messageType": message_type,
        "direction": direction,
        "status": status,
        "body": body,
        "contentType": "text/html" if message_type == "TYPE_EMAIL" else "text/plain",
        "attachments": [],
        "source": "api",
        **(extra or {}),
    }
    message = services.sandbox_record_put(account=conversation.account, object_type=MESSAGE, data=data)
    message.account = conversation.account
    if status != "scheduled":
        unread = int(conversation.data.get("unreadCount") or 0) + (1 if direction == "inbound" else 0)
        changes = {
            "lastMessageBody": body,
            "lastMessageType": message_type,
            "lastMessageDirection": direction,
            "lastMessageDate": iso(message.created_at),
            "lastMessageAction": "manual",
            "unreadCount": unread,
        }
        services.sandbox_record_put(
            account=conversation.account,
            object_type=CONVERSATION,
            record_id=conversation.record_id,
            data={**conversation.data, **changes},
        )
    return message


def _text(body: Mapping[str, Any]) -> str:
    for key in ("message", "html", "subject"):
        if isinstance(body.get(key), str) and body[key]:
            return str(body[key])
    return ""


def _sent(message: SandboxRecord, conversation: SandboxRecord, status: str) -> dict[str, Any]:
    values = {
        "conversationId": conversation.record_id,
        "messageId": message.record_id,
        "messageIds": [message.record_id],
        "msg": "Message queued successfully.",
        "status": status,
    }
    if message.data.get("messageType") == "TYPE_EMAIL":
        values["emailMessageId"] = message.record_id
    return values


@action("message_send")
def message_send(call: Call) -> Result:
    """POST /conversations/messages: an outbound message in the contact's conversation (created if needed); with
    scheduledTimestamp it waits as `scheduled` and does not move the conversation."""
    body = call.body
    contact = call.req.contact(body["contactId"])
    conversation = conversation_for(call, contact)
    scheduled = body.get("scheduledTimestamp") is not None
    status = "scheduled" if scheduled else body.get("status") or "delivered"
    extra = {key: body[key] for key in ("subject", "emailFrom", "emailTo", "threadId", "userId") if key in body}
    extra["attachments"] = list(body.get("attachments") or [])
    if scheduled:
        extra["scheduledTimestamp"] = body["scheduledTimestamp"]
    message = add_message(
        call,
        conversation=conversation,
        channel=body["type"],
        direction="outbound",
        body=_text(body),
        status=status,
        extra=extra,
    )
    answer_status = body.get("status") or "pending"
    return call.answer(values=_sent(message, conversation, answer_status))


def _conversation_of(call: Call, body: Mapping[str, Any]) -> SandboxRecord:
    conversation = call.get(CONVERSATION, body["conversationId"])
    if body.get("contactId") and conversation.data.get("contactId") != body["contactId"]:
        raise unprocessable(["contactId must be the contact of the conversation"])
    return conversation


def _added(message: SandboxRecord) -> dict[str, Any]:
    values = {
        "success": True,
        "conversationId": message.data["conversationId"],
        "messageId": message.record_id,
        "message": "Message added successfully",
        "contactId": message.data.get("contactId"),
        "dateAdded": iso(message.created_at),
    }
    if message.data.get("messageType") == "TYPE_EMAIL":
        values["emailMessageId"] = message.record_id
    return values


@action("message_inbound")
def message_inbound(call: Call) -> Result:
    """POST /conversations/messages/inbound: a customer's message arrives in a conversation (unread)."""
    body = call.body
    conversation = _conversation_of(call, body)
    extra = {key: body[key] for key in ("subject", "emailFrom", "emailTo", "altId") if key in body}
    extra["conversationProviderId"] = body.get("conversationProviderId")
    extra["attachments"] = list(body.get("attachments") or [])
    if isinstance(body.get("call"), dict):
        extra["meta"] = {"callStatus": body["call"].get("status") or "completed"}
    message = add_message(
        call,
        conversation=conversation,
        channel=body["type"],
        direction="inbound",
        body=_text(body),
        status="delivered",
        extra=extra,
    )
    return call.answer(values=_added(message))


@action("message_outbound")
def message_outbound(call: Call) -> Result:
    """POST /conversations/messages/outbound: an outbound call logged by a provider."""
    body = call.body
    conversation = _conversation_of(call, body)
    details = body.get("call") if isinstance(body.get("call"), dict) else {}
    extra = {
        "conversationProviderId": body.get("conversationProviderId"),
        "altId": body.get("altId"),
        "attachments": list(body.get("attachments") or []),
        "meta": {"callStatus": details.get("status") or "completed", "callDuration": "0"},
    }
    message = add_message(
        call, conversation=conversation, channel="Call", direction="outbound", body="", status="delivered", extra=extra
    )
    return call.answer(values=_added(message))


@action("message_review_reply")
def message_review_reply(call: Call) -> Result:
    conversation = _conversation_of(call, call.body)
    message = add_message(
        call,
        conversation=conversation,
        channel="Review",
        direction="outbound",
        body=str(call.body.get("message") or ""),
        status="delivered",
    )
    return call.answer(values=_sent(message, conversation, "delivered"))


@hook("message_echo")
def message_echo(call: Call, message: SandboxRecord) -> Result:
    """PUT /conversations/messages/{id}/status answers like a send."""
    return call.answer(values=_sent(message, call.get(CONVERSATION, message.data["conversationId"]), "delivered"))


@action("message_attachments")
def message_attachments(call: Call) -> Result:
    message = call.get(MESSAGE, call.params["messageId"])
    attachments = list(dict.fromkeys([*(message.data.get("attachments") or []), *call.body["attachments"]]))
    update_record(call, message, {"attachments": attachments})
    return call.answer(values={"success": True, "attachments": attachments})


@action("message_cancel")
def message_cancel(call: Call) -> Result:
    """Cancelling a scheduled message (or email) removes it; anything else is refused."""
    message_id = call.params.get("messageId") or call.params["emailMessageId"]
    message = call.get(MESSAGE, message_id)
    if message.data.get("status") != "scheduled":
        raise ghl_error(400, MSG_NOT_SCHEDULED, "Bad Request")
    services.sandbox_record_delete(record=message)
    return call.answer(values={"status": 200, "message": "Scheduled message cancelled"})


def _call_message(call: Call) -> SandboxRecord:
    message = call.get(MESSAGE, call.params["messageId"])
    if message.data.get("messageType") != "TYPE_CALL":
        raise ghl_error(404, "No recording found for this message", "Not Found")
    return message


@cache
def _silence_wav() -> bytes:
    """A quarter second of 8 kHz mono silence: a real WAV file for the recording endpoint."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(struct.pack("<h", 0) * 2000)
    return buffer.getvalue()


@action("message_recording")
def message_recording(call: Call) -> Result:
    _call_message(call)
    raw = {"base64": base64.b64encode(_silence_wav()).decode(), "contentType": "audio/x-wav", "filename": "audio.wav"}
    return 200, {RAW: raw}


def _transcript(message: SandboxRecord) -> str:
    return str(message.data.get("transcript") or message.data.get("body") or "This call was recorded.")


@action("message_transcription")
def message_transcription(call: Call) -> Result:
    message = _call_message(call)
    text = _transcript(message)
    values = {
        "mediaChannel": 1,
        "sentenceIndex": 1,
        "startTime": 0,
        "endTime": 1000 * max(1, len(text.split()) // 3),
        "transcript": text,
        "confidence": 0.9,
    }
    return call.answer(values=values)


@action("message_transcription_text")
def message_transcription_text(call: Call) -> Result:
    message = _call_message(call)
    return 200, {RAW: {"text": _transcript(message), "contentType": "text/plain", "filename": "transcription.txt"}}


@hook("conversation_filters")
def conversation_filters(call: Call, plan: Plan) -> None:
    """assignedTo (comma list, "unassigned"), followers, lastMessageDirection/Action, status (read, unread,
    starred), startDate/endDate on dateAdded, sort (default: newest last message first)."""
    inputs = call.inputs()
    plan.consumed |= {
        "assignedTo",
        "followers",
        "mentions",
        "lastMessageDirection",
        "lastMessageAction",
        "status",
        "sort",
        "sortBy",
        "sortScoreProfile",
        "scoreProfile",
        "scoreProfileMin",
        "scoreProfileMax",
        "startDate",
        "endDate",
    }
    if inputs.get("assignedTo"):
        wanted = [part.strip() for part in str(inputs["assignedTo"]).split(",") if part.strip()]
        condition = Q(data__assignedTo__in=[user for user in wanted if user != "unassigned"])
        if "unassigned" in wanted:
            condition |= Q(data__assignedTo=None) | ~Q(data__has_key="assignedTo")
        plan.qs = plan.qs.filter(condition)
    for key in ("lastMessageDirection", "lastMessageAction"):
        if inputs.get(key):
            plan.qs = plan.qs.filter(**{f"data__{key}": inputs[key]})
    status = inputs.get("status")
    if status == "unread":
        plan.qs = plan.qs.filter(data__unreadCount__gt=0)
    elif status == "read":
        plan.qs = plan.qs.filter(data__unreadCount=0)
    elif status == "starred":
        plan.qs = plan.qs.filter(data__starred=True)
    if inputs.get("startDate") is not None:
        plan.qs = plan.qs.filter(created_at__gte=_moment(inputs["startDate"], "startDate"))
    if inputs.get("endDate") is not None:
        plan.qs = plan.qs.filter(created_at__lte=_moment(inputs["endDate"], "endDate"))
    if inputs.get("followers"):
        wanted_followers = {part.strip() for part in str(inputs["followers"]).split(",") if part.strip()}
        plan.also(lambda record: bool(wanted_followers & set(record.data.get("followers") or [])))
    plan.order = "updated" if inputs.get("sort") == "asc" else "-updated"


@hook("message_filters")
def message_filters(call: Call, plan: Plan) -> None:
    """A conversation's messages newest first, by `type` (comma list of messageTypes); the location export by
    `channel` (default: every type but email), startDate/endDate, sortBy/sortOrder. `direction` (inbound,
    outbound) is a sandbox extension for pollers."""
    inputs = call.inputs()
    plan.consumed |= {"type", "channel", "startDate", "endDate", "sortBy", "sortOrder"}
    if inputs.get("type"):
        plan.qs = plan.qs.filter(data__messageType__in=[t.strip() for t in str(inputs["type"]).split(",")])
    if "channel" in {p.name for p in call.op.params("query")}:
        if inputs.get("channel"):
            plan.qs = plan.qs.filter(data__messageType=CHANNELS[inputs["channel"]])
        else:
            plan.qs = plan.qs.exclude(data__messageType="TYPE_EMAIL")
    if inputs.get("startDate"):
        plan.qs = plan.qs.filter(created_at__gte=_moment(inputs["startDate"], "startDate"))
    if inputs.get("endDate"):
        plan.qs = plan.qs.filter(created_at__lte=_moment(inputs["endDate"], "endDate"))
    direction = call.req.query.get("direction")
    if direction in ("inbound", "outbound"):
        plan.qs = plan.qs.filter(data__direction=direction)
    if inputs.get("sortBy") or inputs.get("sortOrder"):
        column = "updated" if inputs.get("sortBy") == "updatedAt" else "created"
        plan.order = column if inputs.get("sortOrder") == "asc" else f"-{column}"


@action("unsubscription_status")
def unsubscription_status(call: Call) -> Result:
    contact = call.req.contact(call.req.query["contactId"])
    rows = services.live_records(account=contact.account, object_type="conversations.unsubs").filter(
        data__contactId=contact.record_id
    )
    changes = [row.data for row in rows.order_by("created_at", "record_id")]
    return 200, {"contactId": contact.record_id, "email": contact.data.get("email"), "subscriptions": changes}


@action("unsubscription_change")
def unsubscription_change(call: Call) -> Result:
    contact = call.req.contact(call.body["contactId"])
    call.parent_account = contact.account
    create_record(call, call.body)
    return 200, {"success": True}


@action("uploaded")
def uploaded(call: Call) -> Result:
    """Upload endpoints: the files are not kept; the answer names them as GHL's storage would."""
    body = call.body if isinstance(call.body, dict) else {}
    urls = body.get("attachmentUrls") or ([body["filePath"]] if body.get("filePath") else [])
    files = {str(url).rsplit("/", 1)[-1] or f"file{n}": str(url) for n, url in enumerate(urls)}
    values = {"uploadedFiles": files, "metadata": {"filename": body.get("filename")}, "meta": []}
    return call.answer(values=values)


@action("upload_initiate")
def upload_initiate(call: Call) -> Result:
    upload_id = uuid.uuid4().hex
    path = f"conversations/{call.body['conversationId']}/{upload_id}/{call.body['filename']}"
    values = {
        "uploadUrl": f"{call.req.url.split('/ghl/')[0]}/ghl-uploads/{upload_id}",
        "uploadId": upload_id,
        "filePath": path,
        "expiresAt": services.to_epoch_ms(call.now + timedelta(minutes=15)),
        "maxFileSize": 25 * 1024 * 1024,
    }
    return call.answer(values=values)


@action("ok")
def ok(call: Call) -> Result:
    return call.answer()


# ------------------------------------------------------------------------------
# Locations (the sandbox accounts), timezones, custom fields, custom values
# ------------------------------------------------------------------------------
def location_view(account: SandboxAccount, profile: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": account.account_id,
        "companyId": COMPANY,
        "name": account.name or account.account_id,
        "timezone": "UTC",
        "country": "US",
        **(profile or {}),
        "settings": {
            "allowDuplicateContact": account.allow_duplicate_contacts,
            **((profile or {}).get("settings") or {}),
        },
    }


def _profile(account: SandboxAccount) -> dict[str, Any]:
    record = services.sandbox_record_get(account=account, object_type=LOCATION_PROFILE, record_id=account.account_id)
    return dict(record.data) if record is not None else {}


def _location_answer(call: Call, account: SandboxAccount) -> Result:
    view = location_view(account, _profile(account))
    shape = shapes.shape_of(call.op, many=False)
    return call.op.success_status or 200, shapes.render_object(view, shape.item)


@action("locations_search")
def locations_search(call: Call) -> Result:
    """GET /locations/search: the token's locations by name (skip, limit default 10, order asc|desc, email)."""
    inputs = call.inputs()
    accounts = sorted(call.req.accounts, key=lambda account: (account.name.lower(), account.account_id))
    if str(inputs.get("order") or "asc").lower() == "desc":
        accounts.reverse()
    views = [location_view(account, _profile(account)) for account in accounts]
    if inputs.get("email"):
        views = [view for view in views if str(view.get("email") or "").lower() == str(inputs["email"]).lower()]
    skip, limit = int(inputs.get("skip") or 0), int(inputs.get("limit") or 10)
    shape = shapes.shape_of(call.op, many=True)
    items = [shapes.render_object(view, shape.item) for view in views[skip : skip + limit]]
    return 200, shapes.envelope(shape, items, values={})


_PROFILE_SECRETS = ("twilio", "mailgun", "snapshot", "snapshotId", "prospectInfo")


@action("location_update")
def location_update(call: Call) -> Result:
    """PUT /locations/{id}: the location's details (name on the account itself; secrets are not kept)."""
    account = call.req.location(call.params["locationId"])
    profile = {**_profile(account), **{k: v for k, v in call.body.items() if k not in _PROFILE_SECRETS}}
    if isinstance(call.body.get("name"), str) and call.body["name"]:
        account.name = call.body["name"]
        account.save(update_fields=["name"])
    services.sandbox_record_put(
        account=account, object_type=LOCATION_PROFILE, record_id=account.account_id, data=profile
    )
    return _location_answer(call, account)


@action("location_create")
def location_create(call: Call) -> Result:
    """POST /locations/: a new sub-account the caller's token opens too."""
    home = call.req.accounts[0]
    account = services.sandbox_account_create(
        system=SandboxSystem.GHL, account_id=services.new_id(), secret=home.secret, name=call.body["name"]
    )
    profile = {k: v for k, v in call.body.items() if k not in _PROFILE_SECRETS}
    services.sandbox_record_put(
        account=account, object_type=LOCATION_PROFILE, record_id=account.account_id, data=profile
    )
    return _location_answer(call, account)


@action("location_delete")
def location_delete(call: Call) -> Result:
    """DELETE /locations/{id}: the sub-account and everything in it."""
    account = call.req.location(call.params["locationId"])
    with transaction.atomic():
        account.delete()
    return call.answer(values={"success": True, "message": "Location deleted"})


@cache
def _timezones() -> list[str]:
    return sorted(zone for zone in zoneinfo.available_timezones() if "/" in zone and not zone.startswith("Etc/"))


@action("timezones")
def timezones(call: Call) -> Result:
    call.req.location(call.params["locationId"])
    return 200, {"timeZones": _timezones()}


@written("locations.customFields")
def _location_field_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    """A new field's key is `<model>.<name in snake case>` (contact.favourite_colour), unique in the location."""
    if old is None:
        data.setdefault("model", "contact")
        data["fieldKey"] = _unique_key(call, "locations.customFields", f"{data['model']}.{_slug(data.get('name'))}")
        data.setdefault("position", call.records("locations.customFields").count())
    return data


@written("locations.customValues")
def _location_value_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    if old is None or old.get("name") != data.get("name"):
        data["fieldKey"] = "{{ custom_values." + _slug(data.get("name")) + " }}"
    return data


def _unique_key(call: Call, resource: str, key: str) -> str:
    candidate, n = key, 1
    while call.records(resource).filter(data__fieldKey=candidate).exists():
        n += 1
        candidate = f"{key}_{n}"
    return candidate


@action("custom_fields_by_object")
def custom_fields_by_object(call: Call) -> Result:
    """GET /custom-fields/object-key/{objectKey}: the object's fields and folders."""
    key = call.params["objectKey"]
    shape = shapes.shape_of(call.op, many=False)
    properties = shape.envelope.get("properties") or {}
    found: dict[str, Any] = {}
    for slot, resource in (("fields", "custom-fields"), ("folders", "custom-fields.folder")):
        rows = list(call.records(resource).filter(data__objectKey=key).order_by("created_at", "record_id"))
        item = shapes.unwrap((properties.get(slot) or {}).get("items") or {})
        found[slot] = call.render(rows, item if resource == "custom-fields" else {}, resource)
    return 200, found


@written("custom-fields")
def _custom_field_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    if old is None and call.records("custom-fields").filter(data__fieldKey=data.get("fieldKey")).exists():
        raise ghl_error(400, f"A field with the key {data.get('fieldKey')} already exists", "Bad Request")
    return data


@written("locations.recurring-tasks")
def _recurring_task_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    """GHL answers one contact and one assignee: the first of contactIds and owners."""
    if data.get("contactIds"):
        data["contactId"] = data["contactIds"][0]
    if data.get("owners"):
        data["assignedTo"] = data["owners"][0]
    return data


# ------------------------------------------------------------------------------
# Associations and relations, custom objects
# ------------------------------------------------------------------------------
ASSOCIATION_FIELDS = (
    "key",
    "firstObjectKey",
    "firstObjectLabel",
    "secondObjectKey",
    "secondObjectLabel",
    "associationType",
)


@written("associations.relations")
def _relation_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    """A relation links two records under an association and answers with the association's keys and labels."""
    if old is None:
        association = call.referenced("associationId", data["associationId"])
        if association is not None:
            data.update({key: association.data.get(key) for key in ASSOCIATION_FIELDS})
    return data


@hook("relations_of_record")
def relations_of_record(call: Call, plan: Plan) -> None:
    record_id = call.params["recordId"]
    plan.qs = plan.qs.filter(Q(data__firstRecordId=record_id) | Q(data__secondRecordId=record_id))
    wanted = [part for part in str(call.req.query.get("associationIds") or "").split(",") if part]
    plan.consumed.add("associationIds")
    if wanted:
        plan.qs = plan.qs.filter(data__associationId__in=wanted)


@action("association_by_object_key")
def association_by_object_key(call: Call) -> Result:
    key = call.params["objectKey"]
    rows = list(
        call.records("associations")
        .filter(Q(data__firstObjectKey=key) | Q(data__secondObjectKey=key))
        .select_related("account")
        .order_by("created_at", "record_id")
    )
    if not rows:
        raise not_found("associations")
    shape = shapes.shape_of(call.op, many=False)
    items = call.render(rows, shape.item, "associations")
    return 200, {**items[0], "associations": items}


@written("objects")
def _object_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    if old is None:
        if not str(data.get("key", "")).startswith("custom_objects."):
            raise unprocessable([MSG_OBJECT_KEY])
        if call.records("objects").filter(data__key=data["key"]).exists():
            raise ghl_error(400, f"An object with the key {data['key']} already exists", "Bad Request")
        details = data.pop("primaryDisplayPropertyDetails", None) or {}
        data["primaryDisplayProperty"] = details.get("key") or f"{data['key']}.name"
    data.pop("searchableProperties", None)
    return data


@hook("object_with_fields")
def object_with_fields(call: Call, record: SandboxRecord) -> dict[str, Any]:
    """GET /objects/{key}: the schema with its custom fields."""
    rows = list(call.records("custom-fields").filter(data__objectKey=record.data.get("key")))
    shape = shapes.shape_of(call.op, many=False)
    fields = (shape.envelope.get("properties") or {}).get("fields") or {}
    return {"cache": False, "fields": call.render(rows, shapes.unwrap(fields.get("items") or {}), "custom-fields")}


@written("objects.records")
def _object_record_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    """A record knows its object; its properties' values are what a search's `query` finds."""
    stored = data.get("properties")
    properties: dict[str, Any] = stored if isinstance(stored, dict) else {}
    data["_text"] = " ".join(str(value) for value in properties.values() if isinstance(value, str | int | float))
    if old is None:
        schema = call.find("objects", data.get("schemaKey", ""), lookup="key")
        if schema is not None:
            data["objectId"] = schema.record_id
            data["objectKey"] = schema.data.get("key")
    return data


# ------------------------------------------------------------------------------
# Blogs, OAuth installations
# ------------------------------------------------------------------------------
@action("blog_slug_exists")
def blog_slug_exists(call: Call) -> Result:
    rows = call.records("blogs.posts").filter(data__urlSlug=call.req.query["urlSlug"])
    if call.req.query.get("postId"):
        rows = rows.exclude(record_id=call.req.query["postId"])
    return call.answer(values={"exists": rows.exists()})


@action("installed_locations")
def installed_locations(call: Call) -> Result:
    """GET /oauth/installedLocations: the locations the token opens, all installed."""
    inputs = call.inputs()
    accounts = sorted(call.req.accounts, key=lambda account: account.account_id)
    if inputs.get("locationId"):
        accounts = [account for account in accounts if account.account_id == inputs["locationId"]]
    if inputs.get("query"):
        accounts = [account for account in accounts if str(inputs["query"]).lower() in account.name.lower()]
    if inputs.get("isInstalled") is False:
        accounts = []
    skip, limit = int(inputs.get("skip") or 0), int(inputs.get("limit") or 20)
    items = [
        {
            "_id": account.account_id,
            "name": account.name or account.account_id,
            "address": str(_profile(account).get("address") or ""),
            "isInstalled": True,
            "installedAt": iso(account.created_at),
        }
        for account in accounts[skip : skip + limit]
    ]
    return call.answer(values={"locations": items, "count": len(accounts), "installToFutureLocations": False})


__all__ = ["add_message", "conversation_for", "event_delete", "memberships_of"]
