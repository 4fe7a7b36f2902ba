"""Calendars: slugs, blocked slots (calendar events too), free slots, appointment notes, schedule links."""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Q

from sandbox import ghl_children, services
from sandbox.catalog.common import action, hook, iso, parse_moment, slugify, time_of, written
from sandbox.catalog.engine import Call, Plan, update_record
from sandbox.catalog.rules import APPOINTMENT, BLOCK_SLOT
from sandbox.ghl import GhlRequest, Result, ghl_error, unprocessable
from sandbox.models import SandboxRecord

CLOSED_STATUSES = ("cancelled", "invalid")  # appointments that do not block a slot
MAX_SLOT_DAYS = 31
MSG_SLUG_TAKEN = "This slug is already in use"
MSG_CALENDAR_FILTER = ghl_children.MSG_CALENDAR_FILTER
MSG_RANGE = f"endDate must be after startDate and within {MAX_SLOT_DAYS} days of it"


# ------------------------------------------------------------------------------
# Calendars
# ------------------------------------------------------------------------------
@written("calendars")
def _calendar_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    if data.get("groupId"):
        call.referenced("groupId", data["groupId"])
    if not data.get("slug"):
        data["slug"] = slugify(data.get("name")).replace("_", "-")
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
    start = time_of(data, "startTime") or call.now
    end = time_of(data, "endTime") or start + timedelta(minutes=ghl_children.DEFAULT_APPOINTMENT_MINUTES)
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
    start, end = parse_moment(inputs["startTime"], "startTime"), parse_moment(inputs["endTime"], "endTime")
    calendars: set[str] | None = None
    if inputs.get("calendarId"):
        calendars = {inputs["calendarId"]}
    if inputs.get("groupId"):
        members = call.records("calendars").filter(data__groupId=inputs["groupId"])
        group = set(members.values_list("record_id", flat=True))
        calendars = group if calendars is None else calendars & group
    user = inputs.get("userId")

    def matches(record: SandboxRecord) -> bool:
        begins, ends = time_of(record.data, "startTime"), time_of(record.data, "endTime")
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
        begins, ends = time_of(record.data, "startTime"), time_of(record.data, "endTime")
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
    start, end = parse_moment(inputs["startDate"], "startDate"), parse_moment(inputs["endDate"], "endDate")
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
