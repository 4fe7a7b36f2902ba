"""Deterministic demo data for the sandbox: one GHL location and one StreetText workspace with overlapping contacts.

Categories (per side) and what a GHL -> StreetText contact sync should do with them:
- identical: same person, same values on both sides -> skipped;
- last_name_differs: same email and phone, other last name -> updated;
- email_case: same email in another letter case (half on each side) -> matched, nothing else to change;
- phone_format: no email; GHL phone stored unnormalised ("(415) 555-0100") -> matched by phone;
- bad_phone: GHL-only, phone "12" / "call me" -> fails on StreetText (E.164 required) unless the phone is dropped;
- lowercase_names: GHL-only, first/last name in lower case -> created;
- ghl_only: GHL-only -> created;
- streettext_only: only on StreetText -> untouched by a one-way GHL -> StreetText sync.
Timestamps are shared by groups of records (SHARED_TIMESTAMP_GROUP) to exercise tuple cursors.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction

from sandbox import services
from sandbox.models import SandboxAccount, SandboxRecord, SandboxSystem

CONTACT = "contact"
DEFAULT_SIZE = 300
DEFAULT_SEED = 42
DEFAULT_WORKSPACE_ID = "ws_demo"
SHARED_TIMESTAMP_GROUP = 25
BASE_TIME = datetime(2026, 1, 5, 9, 0, 0, 123000, tzinfo=UTC)

FIRST_NAMES = (
    "Ava",
    "Liam",
    "Olivia",
    "Noah",
    "Emma",
    "Mateo",
    "Sophia",
    "Lucas",
    "Mia",
    "Ethan",
    "Isabella",
    "Amir",
    "Chloe",
    "Kenji",
    "Zara",
    "Diego",
    "Priya",
    "Jonas",
    "Fatima",
    "Owen",
)
LAST_NAMES = (
    "Smith",
    "Garcia",
    "Nguyen",
    "Johnson",
    "Okafor",
    "Kim",
    "Martinez",
    "Brown",
    "Rossi",
    "Patel",
    "Schmidt",
    "Silva",
    "Cohen",
    "Walker",
    "Tanaka",
    "Dubois",
    "Haddad",
    "Murphy",
    "Lopez",
    "Young",
)
CITIES = (
    ("San Francisco", "CA", 415),
    ("New York", "NY", 212),
    ("Chicago", "IL", 312),
    ("Boston", "MA", 617),
    ("Seattle", "WA", 206),
    ("Denver", "CO", 303),
    ("Austin", "TX", 512),
    ("Las Vegas", "NV", 702),
)
COMPANIES = ("Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", None, None)
TAGS = ("vip", "newsletter", "lead", "customer", "spring-promo", "referral")
BAD_PHONES = ("12", "call me", "n/a")
LEAD_SOURCES = ("Website", "Referral", "Trade show", "Advert")


def _person(rng: random.Random, n: int) -> dict[str, Any]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    city, state, area = rng.choice(CITIES)
    return {
        "first": first,
        "last": last,
        "email": f"{first.lower()}.{last.lower()}{n}@example.com",
        # 555-xxxx with a per-person suffix: unique and valid for libphonenumber.
        "phone": f"+1{area}555{n:04d}",
        "company": rng.choice(COMPANIES),
        "city": city,
        "state": state,
        "tags": sorted(rng.sample(TAGS, rng.randint(0, 3))),
    }


def _ghl_data(person: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    data = {
        "firstName": person["first"],
        "lastName": person["last"],
        "email": person["email"],
        "phone": person["phone"],
        "companyName": person["company"],
        "city": person["city"],
        "state": person["state"],
        "country": "US",
        "source": "sandbox demo",
        "tags": list(person["tags"]),
        "dnd": False,
        "customFields": [],
    }
    data.update(overrides)
    return data


def _streettext_data(person: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    data = {
        "first_name": person["first"],
        "last_name": person["last"],
        "email": person["email"],
        "phone": person["phone"],
        "company": person["company"],
        "city": person["city"],
        "region": person["state"],
        "country": "US",
        "tags": list(person["tags"]),
        "opted_out": False,
        "external_id": None,
        "custom": {},
    }
    data.update(overrides)
    return data


def _unformat(phone: str, style: int) -> str:
    """+14155550100 -> one of the ways people type it."""
    area, exchange, line = phone[2:5], phone[5:8], phone[8:]
    return (
        f"({area}) {exchange}-{line}",
        f"{area}.{exchange}.{line}",
        f"{area}-{exchange}-{line}",
        f"1 {area} {exchange} {line}",
    )[style % 4]


def _category_sizes(size: int) -> dict[str, int]:
    sizes = {
        "identical": size // 10,
        "last_name_differs": size // 10,
        "email_case": size // 10,
        "phone_format": max(1, size * 7 // 100),
        "bad_phone": 2 if size >= 20 else 1,
        "lowercase_names": max(1, size * 3 // 100),
    }
    sizes["ghl_only"] = max(0, size - sum(sizes.values()))
    sizes["streettext_only"] = max(1, size // 8)
    return sizes


def sandbox_seed_demo(
    *,
    ghl_location_id: str,
    ghl_token: str,
    streettext_api_key: str,
    size: int = DEFAULT_SIZE,
    seed: int = DEFAULT_SEED,
    streettext_workspace_id: str = DEFAULT_WORKSPACE_ID,
) -> dict[str, int]:
    """Create (or reuse) both demo accounts, replace their records, and return the count per category."""
    if size < 10:
        raise services.SandboxInputError("size must be at least 10")
    rng = random.Random(seed)
    sizes = _category_sizes(size)
    with transaction.atomic():
        ghl_account = services.sandbox_account_create(
            system=SandboxSystem.GHL, account_id=ghl_location_id, secret=ghl_token, name="Demo sub-account"
        )
        st_account = services.sandbox_account_create(
            system=SandboxSystem.STREETTEXT,
            account_id=streettext_workspace_id,
            secret=streettext_api_key,
            name="Demo workspace",
        )
        SandboxRecord.objects.filter(account__in=[ghl_account, st_account]).delete()
        ghl_rows: list[dict[str, Any]] = []
        st_rows: list[dict[str, Any]] = []
        n = 0
        for category, count in sizes.items():
            for index in range(count):
                n += 1
                person = _person(rng, n)
                ghl_data, st_data = _pair(category, index, person, rng)
                if ghl_data is not None:
                    ghl_rows.append(ghl_data)
                if st_data is not None:
                    st_rows.append(st_data)
        _store(account=ghl_account, rows=ghl_rows, rng=rng, prefix="")
        _store(account=st_account, rows=st_rows, rng=rng, prefix="ct_")
        # After the records: the definitions are records too, and replacing the contacts removed them.
        from sandbox.custom_fields import sandbox_seed_custom_fields

        sandbox_seed_custom_fields(account=ghl_account)
    counts = dict(sizes)
    counts["ghl_total"] = len(ghl_rows)
    counts["streettext_total"] = len(st_rows)
    return counts


def _pair(
    category: str, index: int, person: dict[str, Any], rng: random.Random
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(GHL data, StreetText data) for one person of a category; None = absent on that side."""
    if category == "identical":
        return _ghl_data(person), _streettext_data(person)
    if category == "last_name_differs":
        other_last = rng.choice([name for name in LAST_NAMES if name != person["last"]])
        return _ghl_data(person), _streettext_data(person, last_name=other_last)
    if category == "email_case":
        local = person["email"].split("@")[0]
        mixed_email = ".".join(part.capitalize() for part in local.split(".")) + "@Example.COM"
        if index % 2 == 0:
            return _ghl_data(person, email=mixed_email), _streettext_data(person)
        return _ghl_data(person), _streettext_data(person, email=mixed_email)
    if category == "phone_format":
        # Stored as typed (GHL normalises through the API; old imports may not have been).
        return (
            _ghl_data(person, email=None, phone=_unformat(person["phone"], index)),
            _streettext_data(person, email=None),
        )
    if category == "bad_phone":
        return _ghl_data(person, phone=BAD_PHONES[index % len(BAD_PHONES)]), None
    if category == "lowercase_names":
        return _ghl_data(person, firstName=person["first"].lower(), lastName=person["last"].lower()), None
    if category == "ghl_only":
        custom: list[dict[str, Any]] = (
            [{"id": "cf_favourite_colour", "value": rng.choice(["red", "green", "blue"])}] if index % 5 == 0 else []
        )
        # The demo location's other custom fields (custom_fields.DEMO_FIELDS), without drawing on rng: the rest of
        # the demo data stays as it was.
        if index % 3 == 1:
            custom.append({"id": "cf_lead_source", "value": LEAD_SOURCES[index % len(LEAD_SOURCES)]})
        if index % 4 == 2:
            custom.append({"id": "cf_budget", "value": 500 * (1 + index % 7)})
        return _ghl_data(person, customFields=custom), None
    return None, _streettext_data(person)  # streettext_only


def _store(*, account: SandboxAccount, rows: list[dict[str, Any]], rng: random.Random, prefix: str) -> None:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    order = list(range(len(rows)))
    rng.shuffle(order)  # so that id order and category order differ
    records = []
    for position, row_index in enumerate(order):
        group = position // SHARED_TIMESTAMP_GROUP
        moment = BASE_TIME + timedelta(minutes=group)
        records.append(
            SandboxRecord(
                account=account,
                object_type=CONTACT,
                record_id=prefix + "".join(rng.choice(alphabet) for _ in range(20)),
                data=rows[row_index],
                created_at=moment - timedelta(days=30),
                updated_at=moment,
            )
        )
    services.sandbox_records_bulk_create(records=records)


# ------------------------------------------------------------------------------
# Child records: tasks, notes, appointments, businesses (run after sandbox_seed_demo)
# ------------------------------------------------------------------------------
GHL_TASK = "task"
GHL_NOTE = "note"
GHL_APPOINTMENT = "appointment"
GHL_BUSINESS = "business"
STREETTEXT_CHILD_TYPES = ("task", "note", "appointment")
DEMO_BUSINESSES = (
    {"name": "Acme Corp", "city": "San Francisco", "state": "CA", "phone": "+14155559001", "website": "acme.example"},
    {"name": "Globex", "city": "Chicago", "state": "IL", "phone": "+13125559002", "website": "globex.example"},
    {"name": "Initech", "city": "Austin", "state": "TX", "phone": "+15125559003", "website": "initech.example"},
)
DEMO_USERS = ("usrDemoAlice000000001", "usrDemoBob00000000002", None)
TASK_TITLES = ("Call back", "Send quote", "Follow up on demo", "Renew contract", "Check payment", "Book onboarding")
NOTE_BODIES = (
    "Prefers texts over calls.",
    "Asked about the spring promo.",
    "Met at the trade show; interested in the premium plan.",
    "Do not call before 10am.",
    "Referred by a current customer.",
)
APPOINTMENT_TITLES = ("Consultation", "Follow-up call", "Product demo", "Onboarding")
APPOINTMENT_STATUSES = ("new", "confirmed", "confirmed", "showed", "noshow", "cancelled")


def sandbox_seed_demo_children(
    *, ghl_location_id: str, streettext_api_key: str, seed: int = DEFAULT_SEED
) -> dict[str, int]:
    """Add tasks, notes, appointments and businesses to the seeded demo contacts (replacing earlier ones).

    Needs sandbox_seed_demo to have run; deterministic for a seed. Contacts keep their timestamps: the
    business links are part of the seeded state, not later edits.
    """
    ghl_account = SandboxAccount.objects.filter(system=SandboxSystem.GHL, account_id=ghl_location_id).first()
    st_accounts = services.sandbox_accounts_for_secret(system=SandboxSystem.STREETTEXT, secret=streettext_api_key)
    if ghl_account is None or not st_accounts:
        raise services.SandboxInputError("unknown demo accounts: run sandbox_seed_demo first")
    st_account = st_accounts[0]
    rng = random.Random(seed)
    with transaction.atomic():
        SandboxRecord.objects.filter(
            account=ghl_account, object_type__in=(GHL_TASK, GHL_NOTE, GHL_APPOINTMENT, GHL_BUSINESS)
        ).delete()
        SandboxRecord.objects.filter(account=st_account, object_type__in=STREETTEXT_CHILD_TYPES).delete()
        ghl_contacts = list(services.live_records(account=ghl_account, object_type=CONTACT).order_by("record_id"))
        st_contacts = list(services.live_records(account=st_account, object_type=CONTACT).order_by("record_id"))
        if not ghl_contacts or not st_contacts:
            raise services.SandboxInputError("the demo accounts have no contacts: run sandbox_seed_demo first")
        counts = _seed_businesses(account=ghl_account, contacts=ghl_contacts, rng=rng)
        records = _ghl_children(account=ghl_account, contacts=ghl_contacts, rng=rng)
        records += _streettext_children(account=st_account, contacts=st_contacts, rng=rng)
        services.sandbox_records_bulk_create(records=records)
    for record in records:
        key = f"{'ghl' if record.account_id == ghl_account.pk else 'streettext'}_{record.object_type}s"
        counts[key] = counts.get(key, 0) + 1
    counts["ghl_tasks_completed"] = sum(
        1
        for record in records
        if record.object_type == GHL_TASK and record.account_id == ghl_account.pk and record.data["completed"]
    )
    return dict(sorted(counts.items()))


def _rid(rng: random.Random, prefix: str = "") -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return prefix + "".join(rng.choice(alphabet) for _ in range(20))


def _past(rng: random.Random, max_days: int) -> datetime:
    """A moment before BASE_TIME, on a whole minute plus BASE_TIME's milliseconds."""
    return BASE_TIME - timedelta(days=rng.randint(1, max_days), minutes=rng.randint(0, 600))


def _seed_businesses(*, account: SandboxAccount, contacts: list[SandboxRecord], rng: random.Random) -> dict[str, int]:
    """Create DEMO_BUSINESSES and link about half of the contacts whose companyName matches one."""
    by_name: dict[str, str] = {}
    businesses = []
    for index, business in enumerate(DEMO_BUSINESSES):
        record_id = _rid(rng)
        by_name[business["name"]] = record_id
        created = BASE_TIME - timedelta(days=90 - index)
        data = {
            "name": business["name"],
            "phone": business["phone"],
            "email": f"hello@{business['website']}",
            "website": f"https://{business['website']}",
            "address": f"{100 + index} Main St",
            "city": business["city"],
            "state": business["state"],
            "postalCode": None,
            "country": "US",
            "description": "Sandbox demo business",
            "createdBy": "sandbox-integration",
            "updatedBy": "sandbox-integration",
        }
        businesses.append(
            SandboxRecord(
                account=account,
                object_type=GHL_BUSINESS,
                record_id=record_id,
                data=data,
                created_at=created,
                updated_at=created,
            )
        )
    services.sandbox_records_bulk_create(records=businesses)
    linked = 0
    for contact in contacts:
        business_id = by_name.get(contact.data.get("companyName") or "")
        if business_id is not None and rng.random() < 0.5:
            linked += 1
        else:
            business_id = None
        if contact.data.get("businessId") != business_id:
            contact.data = {**contact.data, "businessId": business_id}
            contact.save(update_fields=["data"])
    return {"ghl_businesses": len(businesses), "ghl_contacts_with_business": linked}


def _ghl_children(*, account: SandboxAccount, contacts: list[SandboxRecord], rng: random.Random) -> list[SandboxRecord]:
    records: list[SandboxRecord] = []

    def add(object_type: str, data: dict[str, Any], created: datetime, updated: datetime) -> None:
        records.append(
            SandboxRecord(
                account=account,
                object_type=object_type,
                record_id=_rid(rng),
                data=data,
                created_at=created,
                updated_at=updated,
            )
        )

    data: dict[str, Any]
    for contact in contacts:
        if rng.random() < 0.35:
            for _ in range(rng.randint(1, 3)):
                created = _past(rng, 40)
                due = BASE_TIME + timedelta(days=rng.randint(-20, 30), hours=rng.randint(0, 8))
                completed = rng.random() < (0.7 if due < BASE_TIME else 0.1)
                data = {
                    "title": rng.choice(TASK_TITLES),
                    "body": rng.choice((None, "See the notes for details.", "Mentioned on the last call.")),
                    "assignedTo": rng.choice(DEMO_USERS),
                    "dueDate": services.to_iso(due),
                    "completed": completed,
                    "contactId": contact.record_id,
                }
                add(GHL_TASK, data, created, created + timedelta(hours=rng.randint(0, 48)))
        if rng.random() < 0.25:
            for _ in range(rng.randint(1, 2)):
                created = _past(rng, 120)
                data = {
                    "body": rng.choice(NOTE_BODIES),
                    "userId": rng.choice(DEMO_USERS),
                    "title": rng.choice((None, "Call notes", "Meeting")),
                    "color": rng.choice((None, None, "#FFAA00")),
                    "pinned": rng.random() < 0.1,
                    "contactId": contact.record_id,
                }
                add(GHL_NOTE, data, created, created)
        if rng.random() < 0.15:
            start = BASE_TIME.replace(hour=rng.randint(9, 16), minute=0, second=0, microsecond=0) + timedelta(
                days=rng.randint(-15, 30)
            )
            created = start - timedelta(days=rng.randint(2, 20))
            data = {
                "calendarId": rng.choice(("calDemoSales000000001", "calDemoSupport0000002")),
                "contactId": contact.record_id,
                "title": rng.choice(APPOINTMENT_TITLES),
                "startTime": services.to_iso(start),
                "endTime": services.to_iso(start + timedelta(minutes=rng.choice((30, 60)))),
                "appointmentStatus": rng.choice(APPOINTMENT_STATUSES),
                "assignedUserId": rng.choice(DEMO_USERS[:2]),
                "description": rng.choice((None, "Bring the pricing sheet.")),
                "address": rng.choice((None, "Zoom", "Main office")),
                "meetingLocationType": None,
                "rrule": None,
                "groupId": None,
                "users": [],
                "createdBy": {"source": "third_party", "userId": None},
            }
            add(GHL_APPOINTMENT, data, created, created)
    return records


def _streettext_children(
    *, account: SandboxAccount, contacts: list[SandboxRecord], rng: random.Random
) -> list[SandboxRecord]:
    records: list[SandboxRecord] = []
    for contact in contacts:
        if rng.random() < 0.2:
            created = _past(rng, 30)
            due = BASE_TIME + timedelta(days=rng.randint(-10, 20))
            data = {
                "contact_id": contact.record_id,
                "title": rng.choice(TASK_TITLES),
                "body": None,
                "due_at": services.to_iso(due),
                "completed": due < BASE_TIME and rng.random() < 0.6,
                "assignee": rng.choice(("alice", "bob", None)),
            }
            records.append(
                SandboxRecord(
                    account=account,
                    object_type="task",
                    record_id=_rid(rng, "tsk_"),
                    data=data,
                    created_at=created,
                    updated_at=created,
                )
            )
        if rng.random() < 0.15:
            created = _past(rng, 60)
            data = {
                "contact_id": contact.record_id,
                "body": rng.choice(NOTE_BODIES),
                "title": None,
                "author": rng.choice(("alice", "bob", None)),
                "written_at": services.to_iso(created),
            }
            records.append(
                SandboxRecord(
                    account=account,
                    object_type="note",
                    record_id=_rid(rng, "note_"),
                    data=data,
                    created_at=created,
                    updated_at=created,
                )
            )
    return records


# ------------------------------------------------------------------------------
# The rest of the catalog: calendars, opportunities, users, conversations, … (run after the two above)
# ------------------------------------------------------------------------------
def sandbox_seed_demo_catalog(*, ghl_location_id: str, seed: int = DEFAULT_SEED) -> dict[str, int]:
    """Add demo data for every other area of GHL's API (sandbox/catalog/demo.py) to the demo location; returns the
    count per object type."""
    from sandbox.catalog.demo import sandbox_seed_demo_catalog as seed_catalog

    return seed_catalog(ghl_location_id=ghl_location_id, seed=seed)
