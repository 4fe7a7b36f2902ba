"""Every GHL write conforms to GHL's official spec: a "sync every field" mapping of each object type, both ways, run
through the engine in-process against the sandbox over real HTTP. Records start with their optional fields empty,
are filled, then cleared, a run after each step; the sandbox validates every request against the spec and must
count 0 spec rejections, and each field cleared on StreetText is either cleared on GHL or skipped with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from integrations.adapters import adapter_for
from integrations.models import Connection, RecordHistory, RecordLink, SyncRun, System
from integrations.services import sync
from mappings.models import Direction, FieldMapping, Mapping
from mappings.presets import APPOINTMENT_STATUS
from mappings.services import mapping_save
from sandbox import ratelimit
from sandbox import services as sandbox
from sandbox.models import SandboxAccount
from tests.integrations.support import assert_no_spec_rejections

pytestmark = pytest.mark.django_db(transaction=True)

LOCATION = "loc-spec"
GHL_TOKEN = "ghl-token-spec"
ST_WORKSPACE = "ws-spec"
ST_KEY = "st-key-spec"
CUSTOM_FIELD = "cfFavouriteDrink"  # a GHL custom field id
STATUS_TO_GHL = {st: ghl for ghl, st in APPOINTMENT_STATUS.items() if ghl != "invalid"}

# (GHL field, StreetText field) for every writable GHL field; GHL fields StreetText has no column for travel through
# StreetText custom fields. Appointment assignedUserId has no StreetText counterpart at all (see test_adapters_spec).
PAIRS: dict[str, list[tuple[str, str]]] = {
    "business": [
        ("name", "name"),
        ("phone", "phone"),
        ("email", "email"),
        ("website", "website"),
        ("address", "address"),
        ("city", "city"),
        ("state", "region"),
        ("postalCode", "postal_code"),
        ("country", "country"),
        ("description", "description"),
    ],
    "contact": [
        ("firstName", "first_name"),
        ("lastName", "last_name"),
        ("email", "email"),
        ("phone", "phone"),
        ("companyName", "company"),
        ("address1", "address"),
        ("city", "city"),
        ("state", "region"),
        ("postalCode", "postal_code"),
        ("country", "country"),
        ("dateOfBirth", "birthday"),
        ("tags", "tags"),
        ("dnd", "opted_out"),
        ("businessId", "organization_id"),
        ("name", "custom.full_name"),
        ("website", "custom.website"),
        ("timezone", "custom.timezone"),
        ("source", "custom.source"),
        ("assignedTo", "custom.assigned_to"),
        (f"customFields.{CUSTOM_FIELD}", "custom.favourite_drink"),
    ],
    "task": [
        ("title", "title"),
        ("body", "body"),
        ("dueDate", "due_at"),
        ("completed", "completed"),
        ("assignedTo", "assignee"),
    ],
    "note": [("body", "body"), ("title", "title"), ("userId", "author")],
    "appointment": [
        ("calendarId", "calendar"),
        ("title", "title"),
        ("appointmentStatus", "status"),
        ("startTime", "starts_at"),
        ("endTime", "ends_at"),
        ("address", "location"),
        ("notes", "notes"),
    ],
}
# What each type needs synced first: contacts link to businesses; children hang off contacts.
NEEDS = {"business": [], "contact": ["business"], "task": ["contact"], "note": ["contact"], "appointment": ["contact"]}
# Fields cleared on StreetText that GHL keeps, with a reason: a task's due date (required when a task is created), an
# appointment's status (an enum without an empty value) and end time (a date, never cleared with "").
KEPT_ON_GHL = {"task": {"dueDate"}, "appointment": {"appointmentStatus", "endTime"}}
ST_TYPES = {"business": "organization"}


@pytest.fixture(autouse=True)
def _fast(settings: Any) -> None:
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000
    settings.SANDBOX_RATE_LIMIT = 10_000
    settings.SYNC_PAGE_SIZE = 25
    settings.API_BACKOFF_FACTOR = 0


@dataclass
class Accounts:
    ghl: SandboxAccount
    st: SandboxAccount
    ghl_connection: Connection
    st_connection: Connection


def accounts(live_url: str) -> Accounts:
    ratelimit.rate_limit_reset()
    ghl = sandbox.sandbox_account_create(system="ghl", account_id=LOCATION, secret=GHL_TOKEN)
    st = sandbox.sandbox_account_create(system="streettext", account_id=ST_WORKSPACE, secret=ST_KEY)
    ghl_connection = Connection(
        name="GHL spec", system=System.GHL, base_url=f"{live_url}/sandbox/ghl", location_id=LOCATION, auth_type="pit"
    )
    ghl_connection.api_secret = GHL_TOKEN
    ghl_connection.save()
    st_connection = Connection(
        name="StreetText spec", system=System.STREETTEXT, base_url=f"{live_url}/sandbox/streettext", auth_type="api_key"
    )
    st_connection.api_secret = ST_KEY
    st_connection.save()
    return Accounts(ghl=ghl, st=st, ghl_connection=ghl_connection, st_connection=st_connection)


def every_field_mapping(world: Accounts, object_type: str) -> Mapping:
    """A two-way mapping of every writable field of `object_type`, with no transforms except the status table."""
    mapping = Mapping(
        name=f"every {object_type} field",
        object_type=object_type,
        ghl_connection=world.ghl_connection,
        streettext_connection=world.st_connection,
        direction=Direction.BOTH,
        match_rules=["link"],
    )
    mapping_save(mapping=mapping)
    for position, (ghl_field, st_field) in enumerate(PAIRS[object_type]):
        to_st, to_ghl = [], []
        if ghl_field == "appointmentStatus":
            to_st = [{"name": "lookup", "params": {"table": APPOINTMENT_STATUS}}]
            to_ghl = [{"name": "lookup", "params": {"table": STATUS_TO_GHL}}]
        for direction, target, source, chain in (
            (Direction.TO_STREETTEXT, st_field, ghl_field, to_st),
            (Direction.TO_GHL, ghl_field, st_field, to_ghl),
        ):
            FieldMapping.objects.create(
                mapping=mapping,
                direction=direction,
                target_field=target,
                source=source,
                transforms=chain,
                position=position,
            )
    return mapping


def run(mapping: Mapping) -> SyncRun:
    sync_run = SyncRun.objects.create(mapping=mapping, trigger=SyncRun.Trigger.MANUAL)
    sync.sync_run_execute(run_id=sync_run.pk)
    sync_run.refresh_from_db()
    return sync_run


def put(account: SandboxAccount, object_type: str, data: dict[str, Any], record_id: str | None = None) -> str:
    """Create or change a record behind the API's back, as a user of that system would."""
    current = sandbox.sandbox_record_get(account=account, object_type=object_type, record_id=record_id or "")
    merged = {**(current.data if current else {}), **data}
    return sandbox.sandbox_record_put(
        account=account, object_type=object_type, data=merged, record_id=record_id
    ).record_id


def linked(object_type: str, *, ghl_id: str = "", st_id: str = "") -> RecordLink:
    links = RecordLink.objects.filter(object_type=object_type)
    return links.get(ghl_id=ghl_id) if ghl_id else links.get(streettext_id=st_id)


def empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


# -- the world of each object type: (ST-born record, GHL-born record) with optional fields empty, then filled ---------
def seed_empty(world: Accounts, object_type: str, parents: dict[str, tuple[str, str]]) -> tuple[str, str]:
    """One record born on each side with every optional field empty; returns (StreetText id, GHL id)."""
    st_contact, ghl_contact = parents.get("contact", ("", ""))
    if object_type == "business":
        return (
            put(world.st, "organization", {"name": "Org Born On StreetText"}, sandbox.new_id("org_")),
            put(world.ghl, "business", {"name": "Biz Born On GHL"}),
        )
    if object_type == "contact":
        return (
            put(world.st, "contact", {"first_name": "Stella", "tags": [], "opted_out": False}, sandbox.new_id("ct_")),
            put(world.ghl, "contact", {"firstName": "Gus", "tags": [], "dnd": False}),
        )
    if object_type == "task":
        # GHL requires a title, a due date and the completed flag on every task.
        return (
            put(
                world.st,
                "task",
                {
                    "contact_id": st_contact,
                    "title": "St task",
                    "due_at": "2026-03-01T10:00:00.000Z",
                    "completed": False,
                },
                sandbox.new_id("tsk_"),
            ),
            f"{ghl_contact}/"
            + put(
                world.ghl,
                "task",
                {
                    "contactId": ghl_contact,
                    "title": "Ghl task",
                    "dueDate": "2026-03-02T10:00:00.000Z",
                    "completed": False,
                },
            ),
        )
    if object_type == "note":
        return (
            put(world.st, "note", {"contact_id": st_contact, "body": "St note"}, sandbox.new_id("note_")),
            f"{ghl_contact}/" + put(world.ghl, "note", {"contactId": ghl_contact, "body": "Ghl note"}),
        )
    # Appointments: GHL requires a calendar and a start time.
    return (
        put(
            world.st,
            "appointment",
            {
                "contact_id": st_contact,
                "starts_at": "2026-03-03T09:00:00.000Z",
                "calendar": "cal-st",
                "status": "scheduled",
            },
            sandbox.new_id("apt_"),
        ),
        put(
            world.ghl,
            "appointment",
            {
                "contactId": ghl_contact,
                "calendarId": "cal-ghl",
                "startTime": "2026-03-04T09:00:00.000Z",
                "endTime": "2026-03-04T09:30:00.000Z",
                "appointmentStatus": "new",
            },
        ),
    )


def filled(object_type: str, system: str, n: int, parents: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """Values for every optional field, in the system's own shape; `n` keeps emails and phones unique."""
    st = system == "streettext"
    if object_type == "business":
        values = {
            "phone": f"+1415555{n:04d}",
            "email": f"biz{n}@example.com",
            "website": f"https://biz{n}.example.com",
            "address": f"{n} Market St",
            "city": "San Francisco",
            "country": "US",
            "description": f"Business {n}",
        }
        return (
            {**values, "region": "CA", "postal_code": "94105"}
            if st
            else {**values, "state": "CA", "postalCode": "94105"}
        )
    if object_type == "contact":
        org = parents.get("business", ("", ""))[0 if st else 1]
        if st:
            return {
                "first_name": f"First{n}",
                "last_name": f"Last{n}",
                "email": f"person{n}@example.com",
                "phone": f"+1212555{n:04d}",
                "company": f"Company {n}",
                "address": f"{n} Broadway",
                "city": "New York",
                "region": "NY",
                "postal_code": "10001",
                "country": "US",
                "birthday": "1990-05-17",
                "tags": ["vip"],
                "organization_id": org,
                "custom": {
                    "full_name": f"First{n} Last{n}",
                    "website": f"https://person{n}.example.com",
                    "timezone": "America/New_York",
                    "source": "spec test",
                    "assigned_to": "user-1",
                    "favourite_drink": "tea",
                },
            }
        return {
            "firstName": f"First{n}",
            "lastName": f"Last{n}",
            "email": f"person{n}@example.com",
            "phone": f"+1212555{n:04d}",
            "companyName": f"Company {n}",
            "address1": f"{n} Broadway",
            "city": "New York",
            "state": "NY",
            "postalCode": "10001",
            "country": "US",
            "dateOfBirth": "1990-05-17",
            "tags": ["vip"],
            "businessId": org,
            "website": f"https://person{n}.example.com",
            "timezone": "America/New_York",
            "source": "spec test",
            "assignedTo": "user-1",
            "customFields": [{"id": CUSTOM_FIELD, "value": "tea"}],
        }
    if object_type == "task":
        if st:
            return {"body": "Details", "assignee": "user-1", "due_at": "2026-03-05T10:00:00.000Z"}
        return {"body": "Details", "assignedTo": "user-1", "dueDate": "2026-03-06T10:00:00.000Z"}
    if object_type == "note":
        return {"title": "Summary", "author": "user-1"} if st else {"title": "Summary", "userId": "user-1"}
    if st:
        return {
            "title": "Demo",
            "ends_at": "2026-03-03T10:00:00.000Z",
            "status": "confirmed",
            "location": "HQ",
            "notes": "Bring slides",
        }
    return {"title": "Demo", "appointmentStatus": "confirmed", "address": "HQ", "description": "Bring slides"}


def cleared(values: dict[str, Any]) -> dict[str, Any]:
    """The same fields emptied the way each system stores an empty value."""
    result: dict[str, Any] = {}
    for key, value in values.items():
        if key == "custom":
            result[key] = dict.fromkeys(value)
        elif key == "customFields":
            result[key] = [{"id": item["id"], "value": None} for item in value]
        elif isinstance(value, list):
            result[key] = []
        else:
            result[key] = None
    return result


def build(world: Accounts, object_type: str) -> tuple[dict[str, Mapping], dict[str, tuple[str, str]], tuple[str, str]]:
    """Mappings for `object_type` and what it needs, their records seeded empty and synced once."""
    mappings: dict[str, Mapping] = {}
    parents: dict[str, tuple[str, str]] = {}
    order = [*{t for need in NEEDS[object_type] for t in [*NEEDS[need], need]}, object_type]
    order.sort(key=["business", "contact", "task", "note", "appointment"].index)
    for key in order:
        mappings[key] = every_field_mapping(world, key)
        parents[key] = seed_empty(world, key, parents)
        status = run(mappings[key]).status
        assert_no_spec_rejections()  # creates with every optional field empty
        assert status == SyncRun.Status.SUCCEEDED, failures(mappings[key])
    return mappings, parents, parents[object_type]


def failures(mapping: Mapping) -> str:
    rows = RecordHistory.objects.filter(mapping=mapping, action=RecordHistory.Action.FAILED)
    return "\n".join(f"{row.ghl_id or row.streettext_id}: {row.error}" for row in rows)


def ghl_values(world: Accounts, object_type: str, ghl_id: str) -> dict[str, Any]:
    return adapter_for(world.ghl_connection, object_type).get(ghl_id).values


@pytest.mark.parametrize("object_type", ["business", "contact", "task", "note", "appointment"])
def test_every_field_both_ways_with_clears_gets_no_spec_rejection(live_server: Any, object_type: str) -> None:
    world = accounts(live_server.url)
    sandbox.sandbox_stats_reset()
    mappings, parents, (st_id, ghl_id) = build(world, object_type)
    st_type = ST_TYPES.get(object_type, object_type)
    # The twin of each born record, as the first run created it on the other side.
    ghl_twin = linked(object_type, st_id=st_id).ghl_id
    st_twin = linked(object_type, ghl_id=ghl_id).streettext_id

    # Fill every optional field on the side each record was born on.
    st_filled, ghl_filled = filled(object_type, "streettext", 1, parents), filled(object_type, "ghl", 2, parents)
    put(world.st, st_type, st_filled, st_id)
    put(world.ghl, object_type, ghl_filled, ghl_id.rpartition("/")[2])
    filling = run(mappings[object_type])
    assert_no_spec_rejections()
    assert filling.status == SyncRun.Status.SUCCEEDED, failures(mappings[object_type])
    assert not empty(ghl_values(world, object_type, ghl_twin).get(PAIRS[object_type][1][0]))  # the fill arrived

    # Clear them again, on both sides.
    put(world.st, st_type, cleared(st_filled), st_id)
    put(world.ghl, object_type, cleared(ghl_filled), ghl_id.rpartition("/")[2])
    clearing = run(mappings[object_type])
    assert_no_spec_rejections()
    assert clearing.status == SyncRun.Status.SUCCEEDED, failures(mappings[object_type])

    # StreetText -> GHL: each field cleared on StreetText is empty on GHL, or was left alone for a stated reason.
    after = ghl_values(world, object_type, ghl_twin)
    history = " ".join(RecordHistory.objects.filter(run=clearing, ghl_id=ghl_twin).values_list("reason", flat=True))
    st_cleared = {st_field for st_field in flattened(cleared(st_filled))}
    kept: dict[str, str] = {}
    for ghl_field, st_field in PAIRS[object_type]:
        if st_field not in st_cleared or empty(after.get(ghl_field)):
            continue
        # The engine puts prepare_write's reasons into the record's history row.
        kept[ghl_field] = ghl_field if f"{ghl_field} not written" in history else ""
    assert all(kept.values()), f"not cleared on GHL and no reason given: {kept}"
    assert set(kept) == KEPT_ON_GHL.get(object_type, set()), kept
    # GHL -> StreetText: StreetText takes null, so everything cleared on GHL is cleared there.
    st_after = adapter_for(world.st_connection, object_type).get(st_twin).values
    for ghl_field, st_field in PAIRS[object_type]:
        if ghl_field in flattened(cleared(ghl_filled)) or (ghl_field == "notes" and "description" in ghl_filled):
            assert empty(st_after.get(st_field)), f"{st_field} not cleared on StreetText: {st_after.get(st_field)!r}"


def flattened(values: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for key, value in values.items():
        if key == "custom":
            names.update(f"custom.{k}" for k in value)
        elif key == "customFields":
            names.update(f"customFields.{item['id']}" for item in value)
        else:
            names.add(key)
    return names
