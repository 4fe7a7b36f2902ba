"""Demo data for every area of the catalog, in GHL's shapes, for the demo location's contacts and appointments:
users, calendar groups and calendars with open hours, blocked slots, appointment notes, notifications, resources and
schedules; pipelines with stages, opportunities and lost reasons; workflows and campaigns; conversations with inbound
and outbound messages; location custom fields, custom values, tags, templates and recurring tasks; a company; custom
objects with fields and records; associations and relations; blog sites, posts, authors and categories.

Deterministic for a seed (ids, values and timestamps), like the rest of sandbox/demo.py. Run after
sandbox_seed_demo and sandbox_seed_demo_children; running it again replaces what it made.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction

from sandbox import services
from sandbox.catalog.contacts import MEMBERSHIPS
from sandbox.catalog.conversations import MESSAGE_TYPES
from sandbox.catalog.locations import COMPANY
from sandbox.catalog.rules import APPOINTMENT, BLOCK_SLOT, CONTACT, CONVERSATION, MESSAGE, OPPORTUNITY
from sandbox.custom_fields import DEMO_FIELDS, demo_field_data
from sandbox.models import SandboxAccount, SandboxRecord, SandboxSystem

BASE_TIME = datetime.fromisoformat("2026-01-05T09:00:00.123+00:00")  # = demo.BASE_TIME
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

# The users demo.py's tasks, notes and appointments are assigned to come first.
USERS = (
    ("usrDemoAlice000000001", "Alice", "Moreau", "admin"),
    ("usrDemoBob00000000002", "Bob", "Okafor", "user"),
    ("usrDemoCarol000000003", "Carol", "Jensen", "user"),
    ("usrDemoDave0000000004", "Dave", "Ito", "user"),
    ("usrDemoErin0000000005", "Erin", "Walsh", "admin"),
)
GROUPS = (("grpDemoSales000000001", "Sales", "sales"), ("grpDemoSupport000002", "Support", "support"))
# (id, name, group index, team member index, slot minutes): demo.py's appointments use the first two ids.
CALENDARS = (
    ("calDemoSales000000001", "Sales consultation", 0, 0, 30),
    ("calDemoSupport0000002", "Support call", 1, 1, 30),
    ("calDemoOnboard0000003", "Onboarding session", 1, 2, 60),
)
PIPELINES = (
    ("pplDemoSales000000001", "Sales pipeline", ("New lead", "Contacted", "Proposal sent", "Negotiation", "Closing")),
    ("pplDemoOnboard0000002", "Onboarding", ("Kickoff", "Setup", "Training", "Live")),
)
OPPORTUNITY_NAMES = ("Website redesign", "Annual plan", "Premium upgrade", "Consulting package", "Team licences")
STATUSES = ("open", "open", "open", "open", "won", "won", "lost", "abandoned")
LOST_REASONS = ("Too expensive", "Went with a competitor", "No budget this year")
WORKFLOWS = (("New lead nurture", "published"), ("Appointment reminder", "published"), ("Win-back", "draft"))
CAMPAIGNS = (("Spring promo", "published"), ("Newsletter", "published"), ("Re-engagement", "draft"))
INBOUND = ("Hi, is the spring offer still on?", "Can we move my appointment?", "Thanks, that works for me.")
OUTBOUND = (
    "Hello! Yes, it runs until the end of the month.",
    "Of course, which day suits you?",
    "Great, see you then.",
)
BLOG_SITES = (("blgDemoNews0000000001", "Company news"), ("blgDemoTips0000000002", "Tips and guides"))
BLOG_TITLES = (
    "Five ways to follow up faster",
    "Our spring release",
    "How to book more demos",
    "Customer story: Globex",
    "Scheduling without the back-and-forth",
    "What is new in pipelines",
)

Row = tuple[str, str, dict[str, Any], datetime, datetime]  # object type, id, data, created, updated


class _Seeder:
    """Collects rows for one bulk insert; ids come from the seeded generator."""

    def __init__(self, account: SandboxAccount, rng: random.Random) -> None:
        self.account = account
        self.rng = rng
        self.rows: list[Row] = []

    def rid(self, prefix: str = "") -> str:
        return prefix + "".join(self.rng.choice(ALPHABET) for _ in range(20 - len(prefix)))

    def add(
        self,
        object_type: str,
        data: dict[str, Any],
        *,
        created: datetime,
        updated: datetime | None = None,
        record_id: str | None = None,
    ) -> str:
        record_id = record_id or self.rid()
        self.rows.append((object_type, record_id, data, created, updated or created))
        return record_id

    def past(self, max_days: int) -> datetime:
        return BASE_TIME - timedelta(days=self.rng.randint(1, max_days), minutes=self.rng.randint(0, 600))

    def records(self) -> Iterable[SandboxRecord]:
        for object_type, record_id, data, created, updated in self.rows:
            yield SandboxRecord(
                account=self.account,
                object_type=object_type,
                record_id=record_id,
                data=data,
                created_at=created,
                updated_at=updated,
            )


CATALOG_TYPES = (
    "users",
    "calendars.groups",
    "calendars",
    BLOCK_SLOT,
    "calendars.notes",
    "calendars.notifications",
    "calendars.resources",
    "calendars.schedules",
    "opportunities.pipelines",
    OPPORTUNITY,
    "opportunities.lost-reason",
    "workflows",
    "campaigns",
    *MEMBERSHIPS.values(),
    CONVERSATION,
    MESSAGE,
    "conversations.custom-subtypes",
    "locations.customFields",
    "locations.customValues",
    "locations.tags",
    "locations.templates",
    "locations.recurring-tasks",
    "companies",
    "custom-fields",
    "custom-fields.folder",
    "objects",
    "objects.records",
    "associations",
    "associations.relations",
    "blogs.site",
    "blogs.posts",
    "blogs.authors",
    "blogs.categories",
)


def sandbox_seed_demo_catalog(*, ghl_location_id: str, seed: int = 42) -> dict[str, int]:
    """Add the catalog's demo data to the demo location (replacing what an earlier run made); returns the count
    per object type. Needs sandbox_seed_demo (contacts) and sandbox_seed_demo_children (appointments) first."""
    account = SandboxAccount.objects.filter(system=SandboxSystem.GHL, account_id=ghl_location_id).first()
    if account is None:
        raise services.SandboxInputError("unknown demo location: run sandbox_seed_demo first")
    contacts = list(services.live_records(account=account, object_type=CONTACT).order_by("record_id"))
    if not contacts:
        raise services.SandboxInputError("the demo location has no contacts: run sandbox_seed_demo first")
    appointments = list(services.live_records(account=account, object_type=APPOINTMENT).order_by("record_id"))
    seeder = _Seeder(account, random.Random(seed))
    with transaction.atomic():
        SandboxRecord.objects.filter(account=account, object_type__in=CATALOG_TYPES).delete()
        _users(seeder, ghl_location_id)
        _calendars(seeder, appointments)
        _opportunities(seeder, contacts)
        _automations(seeder, contacts)
        _conversations(seeder, contacts)
        _location_settings(seeder, contacts)
        _objects_and_associations(seeder, contacts)
        _blogs(seeder)
        services.sandbox_records_bulk_create(records=seeder.records())
    counts: dict[str, int] = {}
    for object_type, *_ in seeder.rows:
        counts[object_type] = counts.get(object_type, 0) + 1
    return dict(sorted(counts.items()))


# ------------------------------------------------------------------------------
# Users and calendars
# ------------------------------------------------------------------------------
def _users(seeder: _Seeder, location_id: str) -> None:
    for n, (user_id, first, last, role) in enumerate(USERS):
        created = BASE_TIME - timedelta(days=200 - n * 10)
        data = {
            "firstName": first,
            "lastName": last,
            "name": f"{first} {last}",
            "email": f"{first.lower()}@demo-agency.example",
            "phone": f"+1415555{9100 + n:04d}",
            "extension": str(100 + n),
            "roles": {"type": "account", "role": role, "locationIds": [location_id], "restrictSubAccount": False},
            "permissions": {"contactsEnabled": True, "opportunitiesEnabled": True, "appointmentsEnabled": True},
            "deleted": False,
            "platformLanguage": "en_US",
            "companyId": COMPANY,
        }
        seeder.add("users", data, created=created, record_id=user_id)


def _open_hours(start: int, end: int) -> list[dict[str, Any]]:
    hours = [{"openHour": start, "openMinute": 0, "closeHour": end, "closeMinute": 0}]
    return [{"daysOfTheWeek": [1, 2, 3, 4, 5], "hours": hours}]


def _calendars(seeder: _Seeder, appointments: list[SandboxRecord]) -> None:
    for n, (group_id, name, slug) in enumerate(GROUPS):
        data = {"name": name, "description": f"{name} team calendars", "slug": slug, "isActive": True}
        seeder.add("calendars.groups", data, created=BASE_TIME - timedelta(days=150 - n), record_id=group_id)
    for n, (calendar_id, name, group, member, minutes) in enumerate(CALENDARS):
        user_id = USERS[member][0]
        data = {
            "name": name,
            "description": f"Book a {name.lower()} with our team.",
            "slug": name.lower().replace(" ", "-"),
            "widgetSlug": name.lower().replace(" ", "-"),
            "groupId": GROUPS[group][0],
            "calendarType": "round_robin",
            "eventType": "RoundRobin_OptimizeForAvailability",
            "eventTitle": "{{contact.name}} - " + name,
            "eventColor": ("#039be5", "#33b679", "#f6bf26")[n],
            "isActive": True,
            "teamMembers": [{"userId": user_id, "priority": 0.5, "meetingLocationType": "custom", "isPrimary": True}],
            "openHours": _open_hours(9, 17),
            "slotDuration": minutes,
            "slotDurationUnit": "mins",
            "slotInterval": 30,
            "slotIntervalUnit": "mins",
            "slotBuffer": 0,
            "appoinmentPerSlot": 1,
            "allowReschedule": True,
            "allowCancellation": True,
            "autoConfirm": True,
        }
        seeder.add("calendars", data, created=BASE_TIME - timedelta(days=140 - n), record_id=calendar_id)
        for k, (receiver, channel, kind) in enumerate((("contact", "email", "booked"), ("contact", "sms", "reminder"))):
            notification = {
                "calendarId": calendar_id,
                "receiverType": receiver,
                "channel": channel,
                "notificationType": kind,
                "isActive": True,
                "deleted": False,
                "subject": f"Your {name.lower()}" if channel == "email" else None,
                "body": "See you soon, {{contact.first_name}}!",
                "beforeTime": [{"timeOffset": 1, "unit": "days"}] if kind == "reminder" else [],
                "afterTime": [],
                "selectedUsers": [],
                "additionalEmailIds": [],
                "additionalPhoneNumbers": [],
            }
            seeder.add("calendars.notifications", notification, created=BASE_TIME - timedelta(days=130 - n - k))
        # A lunch break every weekday of the demo fortnight and one day off.
        for day in range(-3, 11):
            moment = (BASE_TIME + timedelta(days=day)).replace(hour=12, minute=0, second=0, microsecond=0)
            if moment.weekday() >= 5 or (day % 3 and n):
                continue
            slot = {
                "calendarId": calendar_id,
                "title": "Lunch break",
                "assignedUserId": user_id,
                "startTime": services.to_iso(moment),
                "endTime": services.to_iso(moment + timedelta(hours=1)),
                "groupId": GROUPS[group][0],
                "users": [user_id],
                "contactId": "",
            }
            seeder.add(BLOCK_SLOT, slot, created=moment - timedelta(days=20))
    day_off = (BASE_TIME + timedelta(days=4)).replace(hour=9, minute=0, second=0, microsecond=0)
    seeder.add(
        BLOCK_SLOT,
        {
            "calendarId": CALENDARS[0][0],
            "title": "Team offsite",
            "assignedUserId": USERS[0][0],
            "startTime": services.to_iso(day_off),
            "endTime": services.to_iso(day_off + timedelta(hours=8)),
            "groupId": GROUPS[0][0],
            "users": [USERS[0][0]],
            "contactId": "",
        },
        created=BASE_TIME - timedelta(days=10),
    )
    for appointment in appointments[:12]:
        created = appointment.created_at + timedelta(hours=2)
        user = seeder.rng.choice(USERS[:2])
        note = {
            "appointmentId": appointment.record_id,
            "contactId": appointment.data.get("contactId"),
            "body": seeder.rng.choice(("Bring the pricing sheet.", "Prefers video calls.", "Follow-up booked.")),
            "userId": user[0],
            "createdBy": {"id": user[0], "name": f"{user[1]} {user[2]}"},
        }
        seeder.add("calendars.notes", note, created=created)
    for n, (kind, name, quantity, capacity) in enumerate(
        (("rooms", "Meeting room A", 1, 8), ("rooms", "Studio", 1, 3), ("equipments", "Projector", 2, 0))
    ):
        resource = {
            "resourceType": kind,
            "name": name,
            "description": f"{name} for appointments",
            "quantity": quantity,
            "outOfService": 0,
            "capacity": capacity,
            "calendarIds": [CALENDARS[n % len(CALENDARS)][0]],
            "isActive": True,
        }
        seeder.add("calendars.resources", resource, created=BASE_TIME - timedelta(days=100 - n))
    for n, (user_id, first, *_) in enumerate(USERS[:2]):
        rules = [
            {"type": "wday", "day": day, "intervals": [{"from": "09:00", "to": "17:00"}]}
            for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
        ]
        schedule = {
            "name": f"{first}'s working hours",
            "rules": rules,
            "timezone": "America/New_York",
            "userId": user_id,
            "calendarIds": [CALENDARS[n][0]],
            "deleted": False,
        }
        seeder.add("calendars.schedules", schedule, created=BASE_TIME - timedelta(days=90 - n))


# ------------------------------------------------------------------------------
# Pipelines and opportunities
# ------------------------------------------------------------------------------
def _opportunities(seeder: _Seeder, contacts: list[SandboxRecord]) -> None:
    stages_of: dict[str, list[str]] = {}
    for n, (pipeline_id, name, stage_names) in enumerate(PIPELINES):
        stage_ids = [f"{pipeline_id[:10]}-stage-{k + 1}" for k in range(len(stage_names))]
        stages = [{"id": stage_ids[k], "name": stage, "position": k} for k, stage in enumerate(stage_names)]
        stages_of[pipeline_id] = stage_ids
        data = {"name": name, "stages": stages, "showInFunnel": True, "showInPieChart": True}
        seeder.add("opportunities.pipelines", data, created=BASE_TIME - timedelta(days=300 - n), record_id=pipeline_id)
    lost_reasons = []
    for n, reason in enumerate(LOST_REASONS):
        created = BASE_TIME - timedelta(days=250 - n)
        lost_reasons.append(
            seeder.add("opportunities.lost-reason", {"name": reason, "deleted": False}, created=created)
        )
    rng = seeder.rng
    for n, contact in enumerate(rng.sample(contacts, min(30, len(contacts)))):
        pipeline_id = PIPELINES[0][0] if n % 3 else PIPELINES[1][0]
        stage = rng.choice(stages_of[pipeline_id])
        status = rng.choice(STATUSES)
        created = seeder.past(60)
        updated = min(BASE_TIME, created + timedelta(days=rng.randint(0, 20), minutes=rng.randint(0, 300)))
        changed = services.to_iso(updated if status != "open" else created)
        data = {
            "name": f"{contact.data.get('firstName') or 'Contact'} - {rng.choice(OPPORTUNITY_NAMES)}",
            "pipelineId": pipeline_id,
            "pipelineStageId": stage,
            "status": status,
            "monetaryValue": rng.choice((500, 1200, 2500, 4800, 9900)),
            "assignedTo": rng.choice(USERS)[0],
            "contactId": contact.record_id,
            "source": rng.choice(("website", "referral", "api")),
            "lastStatusChangeAt": changed,
            "lastStageChangeAt": services.to_iso(updated),
            "lastActionDate": services.to_iso(updated),
            "followers": [],
            "customFields": [],
            "_contactText": " ".join(
                str(contact.data.get(key)) for key in ("firstName", "lastName", "email") if contact.data.get(key)
            ),
        }
        if status == "lost":
            data["lostReasonId"] = rng.choice(lost_reasons)
        seeder.add(OPPORTUNITY, data, created=created, updated=updated)


# ------------------------------------------------------------------------------
# Workflows, campaigns, conversations
# ------------------------------------------------------------------------------
def _automations(seeder: _Seeder, contacts: list[SandboxRecord]) -> None:
    workflow_ids = []
    for n, (name, status) in enumerate(WORKFLOWS):
        created = BASE_TIME - timedelta(days=180 - n * 7)
        data = {"name": name, "status": status, "version": n + 1}
        workflow_ids.append(seeder.add("workflows", data, created=created, updated=created + timedelta(days=3)))
    for n, (name, status) in enumerate(CAMPAIGNS):
        seeder.add("campaigns", {"name": name, "status": status}, created=BASE_TIME - timedelta(days=170 - n))
    # A few contacts are already in the nurture workflow.
    for contact in contacts[:3]:
        data = {"contactId": contact.record_id, "workflowId": workflow_ids[0], "name": WORKFLOWS[0][0]}
        seeder.add(MEMBERSHIPS["workflowId"], data, created=seeder.past(20))


def _conversations(seeder: _Seeder, contacts: list[SandboxRecord]) -> None:
    rng = seeder.rng
    with_phone = [contact for contact in contacts if str(contact.data.get("phone") or "").startswith("+")]
    for n, contact in enumerate(with_phone[:12]):
        data = contact.data
        name = " ".join(part for part in (data.get("firstName"), data.get("lastName")) if part)
        created = seeder.past(30)
        conversation_id = seeder.rid()
        moment = created
        messages = []
        unread = 0
        for k in range(rng.randint(2, 6)):
            inbound = k % 2 == 0
            moment += timedelta(minutes=rng.randint(5, 600))
            channel = "Email" if n % 4 == 3 else "SMS"
            if n == 0 and k == 1:
                channel = "Call"
            number, message_type = MESSAGE_TYPES[channel]
            body = rng.choice(INBOUND if inbound else OUTBOUND) if channel != "Call" else ""
            message = {
                "conversationId": conversation_id,
                "contactId": contact.record_id,
                "type": number,
                "messageType": message_type,
                "direction": "inbound" if inbound else "outbound",
                "status": "delivered" if inbound else rng.choice(("delivered", "read", "sent")),
                "body": body,
                "contentType": "text/html" if channel == "Email" else "text/plain",
                "attachments": [],
                "source": "app",
            }
            if channel == "Call":
                message["meta"] = {"callDuration": "95", "callStatus": "completed"}
                message["transcript"] = "Hello, I am calling about my appointment next week."
            if not inbound:
                message["userId"] = rng.choice(USERS[:2])[0]
            unread = unread + 1 if inbound else 0
            messages.append((message, moment))
        for message, at in messages:
            seeder.add(MESSAGE, message, created=at)
        last, last_at = messages[-1]
        conversation = {
            "contactId": contact.record_id,
            "fullName": name,
            "contactName": name,
            "email": data.get("email") or "",
            "phone": data.get("phone") or "",
            "type": 1,
            "unreadCount": unread,
            "inbox": True,
            "starred": n == 2,
            "deleted": False,
            "assignedTo": USERS[n % 2][0],
            "followers": [],
            "lastMessageBody": last["body"],
            "lastMessageType": last["messageType"],
            "lastMessageDirection": last["direction"],
            "lastMessageDate": services.to_iso(last_at),
            "lastMessageAction": "manual",
        }
        seeder.add(CONVERSATION, conversation, created=created, updated=last_at, record_id=conversation_id)
        if n == 1:
            scheduled = {
                **last,
                "direction": "outbound",
                "status": "scheduled",
                "body": "Reminder: your consultation is tomorrow.",
                "scheduledTimestamp": services.to_epoch_ms(BASE_TIME + timedelta(days=2)),
            }
            seeder.add(MESSAGE, scheduled, created=last_at + timedelta(minutes=1))
    seeder.add(
        "conversations.custom-subtypes",
        {"name": "Product updates", "description": "News about the product", "channel": "email", "language": "en"},
        created=BASE_TIME - timedelta(days=60),
    )


# ------------------------------------------------------------------------------
# Location settings: custom fields and values, tags, templates, recurring tasks, company
# ------------------------------------------------------------------------------
def _location_settings(seeder: _Seeder, contacts: list[SandboxRecord]) -> None:
    # The demo contacts' own fields first, with the fixed ids their values use (sandbox/custom_fields.py).
    for position, field in enumerate(DEMO_FIELDS):
        seeder.add(
            "locations.customFields",
            demo_field_data(field, position),
            created=BASE_TIME - timedelta(days=130 - position),
            record_id=field["id"],
        )
    fields: tuple[tuple[str, str, str, list[str]], ...] = (
        ("Lead source detail", "TEXT", "contact", []),
        ("Contract length (months)", "NUMERICAL", "opportunity", []),
        ("Renewal date", "DATE", "opportunity", []),
    )
    for n, (name, data_type, model, options) in enumerate(fields):
        key = "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_").replace("__", "_")
        data = {
            "name": name,
            "fieldKey": f"{model}.{key}",
            "placeholder": name,
            "dataType": data_type,
            "position": len(DEMO_FIELDS) + n,
            "picklistOptions": options,
            "model": model,
        }
        seeder.add("locations.customFields", data, created=BASE_TIME - timedelta(days=120 - n))
    for n, (name, value) in enumerate(
        (("Company phone", "+1 415 555 0100"), ("Booking link", "https://demo.example/book"), ("Signature", "The team"))
    ):
        key = name.lower().replace(" ", "_")
        data = {"name": name, "value": value, "fieldKey": "{{ custom_values." + key + " }}"}
        seeder.add("locations.customValues", data, created=BASE_TIME - timedelta(days=110 - n))
    tags = sorted({tag for contact in contacts for tag in contact.data.get("tags") or []} | {"callback", "vip"})
    for n, tag in enumerate(tags):
        seeder.add("locations.tags", {"name": tag}, created=BASE_TIME - timedelta(days=100, minutes=n))
    templates = (
        ("sms", "Appointment reminder", {"body": "Hi {{contact.first_name}}, see you tomorrow!", "attachments": []}),
        ("sms", "Missed call", {"body": "Sorry we missed you. When can we call back?", "attachments": []}),
        ("email", "Welcome", {"subject": "Welcome aboard", "html": "<p>Welcome!</p>", "attachments": []}),
    )
    for n, (kind, name, template) in enumerate(templates):
        data = {"name": name, "type": kind, "template": template, "originId": COMPANY}
        if kind == "sms":
            data["urlAttachments"] = []
        seeder.add("locations.templates", data, created=BASE_TIME - timedelta(days=90 - n))
    task = {
        "title": "Monthly check-in call",
        "description": "Call the account and note how things are going.",
        "contactId": contacts[0].record_id,
        "assignedTo": USERS[0][0],
        "rruleOptions": {"intervalType": "monthly", "interval": 1, "startDate": services.to_iso(BASE_TIME)},
        "totalOccurrence": 0,
        "deleted": False,
    }
    seeder.add("locations.recurring-tasks", task, created=BASE_TIME - timedelta(days=30))
    company = {
        "name": "Demo Agency",
        "email": "hello@demo-agency.example",
        "phone": "+14155550100",
        "website": "https://demo-agency.example",
        "city": "San Francisco",
        "state": "CA",
        "country": "US",
        "timezone": "America/Los_Angeles",
        "status": "active",
        "locationCount": 1,
        "isSandboxAccount": True,
    }
    seeder.add("companies", company, created=BASE_TIME - timedelta(days=400), record_id=COMPANY)


# ------------------------------------------------------------------------------
# Custom objects, custom fields (v2), associations and relations
# ------------------------------------------------------------------------------
def _objects_and_associations(seeder: _Seeder, contacts: list[SandboxRecord]) -> None:
    pets = "custom_objects.pets"
    created = BASE_TIME - timedelta(days=80)
    seeder.add(
        "objects",
        {
            "key": pets,
            "labels": {"singular": "Pet", "plural": "Pets"},
            "description": "Pets of our customers",
            "primaryDisplayProperty": f"{pets}.name",
            "standard": False,
            "type": "USER_DEFINED",
        },
        created=created,
    )
    folder = seeder.add("custom-fields.folder", {"objectKey": pets, "name": "Pet details"}, created=created)
    for n, (name, data_type) in enumerate((("Name", "TEXT"), ("Species", "SINGLE_OPTIONS"))):
        field = {
            "name": name,
            "objectKey": pets,
            "fieldKey": f"{pets}.{name.lower()}",
            "dataType": data_type,
            "parentId": folder,
            "showInForms": True,
            "options": [{"key": "dog", "label": "Dog"}, {"key": "cat", "label": "Cat"}] if n else [],
        }
        seeder.add("custom-fields", field, created=created + timedelta(minutes=n + 1))
    pet_ids = []
    for n, (name, species) in enumerate((("Rex", "dog"), ("Misty", "cat"), ("Biscuit", "dog"))):
        record = {
            "schemaKey": pets,
            "objectKey": pets,
            "properties": {"name": name, "species": species},
            "_text": f"{name} {species}",
            "owner": [USERS[n % 2][0]],
            "followers": [],
        }
        pet_ids.append(seeder.add("objects.records", record, created=created + timedelta(days=n + 1)))
    associations = []
    for n, (key, first, first_label, second, second_label) in enumerate(
        (
            ("pet_owner", pets, "Pet", "contact", "Owner"),
            ("referred_by", "contact", "Referrer", "contact", "Referred"),
        )
    ):
        data = {
            "key": key,
            "firstObjectKey": first,
            "firstObjectLabel": first_label,
            "secondObjectKey": second,
            "secondObjectLabel": second_label,
            "associationType": "USER_DEFINED",
        }
        associations.append((seeder.add("associations", data, created=created + timedelta(hours=n)), data))
    pairs = [(0, pet_ids[n], contacts[n].record_id) for n in range(3)]
    pairs.append((1, contacts[3 % len(contacts)].record_id, contacts[4 % len(contacts)].record_id))
    for n, (which, first_id, second_id) in enumerate(pairs):
        association_id, association = associations[which]
        relation = {"associationId": association_id, "firstRecordId": first_id, "secondRecordId": second_id}
        relation.update({key: association[key] for key in association})
        seeder.add("associations.relations", relation, created=created + timedelta(days=5, hours=n))


# ------------------------------------------------------------------------------
# Blogs
# ------------------------------------------------------------------------------
def _blogs(seeder: _Seeder) -> None:
    created = BASE_TIME - timedelta(days=70)
    for n, (blog_id, name) in enumerate(BLOG_SITES):
        seeder.add("blogs.site", {"name": name}, created=created + timedelta(minutes=n), record_id=blog_id)
    authors = []
    for n, name in enumerate(("Alice Moreau", "Bob Okafor", "Guest writer")):
        data = {"name": name, "canonicalLink": f"https://demo.example/authors/{n + 1}"}
        authors.append(seeder.add("blogs.authors", data, created=created + timedelta(hours=n)))
    categories = []
    for n, label in enumerate(("Product", "How-to", "Customers", "Company")):
        slug = label.lower().replace("-", "")
        data = {
            "label": label,
            "name": label,
            "urlSlug": slug,
            "canonicalLink": f"https://demo.example/blog/category/{slug}",
        }
        categories.append(seeder.add("blogs.categories", data, created=created + timedelta(hours=n)))
    for n, title in enumerate(BLOG_TITLES):
        slug = title.lower().replace(":", "").replace(" ", "-")
        published = created + timedelta(days=5 * (n + 1))
        status = "PUBLISHED" if n < 4 else ("DRAFT" if n == 4 else "SCHEDULED")
        post = {
            "blogId": BLOG_SITES[n % 2][0],
            "title": title,
            "description": f"{title}: a short read.",
            "imageUrl": f"https://demo.example/images/{n + 1}.png",
            "imageAltText": title,
            "rawHTML": f"<h1>{title}</h1><p>Demo content.</p>",
            "status": status,
            "categories": [categories[n % len(categories)]],
            "tags": ["demo"],
            "author": authors[n % len(authors)],
            "urlSlug": slug,
            "canonicalLink": f"https://demo.example/blog/{slug}",
            "publishedAt": services.to_iso(published),
            "archived": False,
        }
        seeder.add("blogs.posts", post, created=published - timedelta(days=2), updated=published)
