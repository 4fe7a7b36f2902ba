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

from integrations.sandbox import services
from integrations.sandbox.models import SandboxAccount, SandboxRecord, SandboxSystem

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
        custom = (
            [{"id": "cf_favourite_colour", "value": rng.choice(["red", "green", "blue"])}] if index % 5 == 0 else []
        )
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
