from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from sandbox import services
from sandbox.demo import SHARED_TIMESTAMP_GROUP, sandbox_seed_demo
from sandbox.models import SandboxAccount, SandboxRecord
from tests.sandbox.sandbox_support import GhlApi, StreetTextApi

pytestmark = pytest.mark.django_db

SEED_ARGS: dict[str, Any] = {"ghl_location_id": "locDemo", "ghl_token": "pit-demo", "streettext_api_key": "st-demo"}


def test_seed_counts_per_category() -> None:
    counts = sandbox_seed_demo(**SEED_ARGS)

    assert counts == {
        "identical": 30,
        "last_name_differs": 30,
        "email_case": 30,
        "phone_format": 21,
        "bad_phone": 2,
        "lowercase_names": 9,
        "ghl_only": 178,
        "streettext_only": 37,
        "ghl_total": 300,
        "streettext_total": 148,
    }
    ghl = SandboxAccount.objects.get(system="ghl", account_id="locDemo")
    st = SandboxAccount.objects.get(system="streettext", account_id="ws_demo")
    assert SandboxRecord.objects.filter(account=ghl, object_type="contact").count() == 300
    # The location's custom-field definitions (sandbox/custom_fields.py) are records too.
    assert SandboxRecord.objects.filter(account=ghl, object_type="locations.customFields").count() == 3
    assert SandboxRecord.objects.filter(account=st).count() == 148


def test_seed_is_idempotent_and_deterministic() -> None:
    sandbox_seed_demo(**SEED_ARGS, size=60)
    first = sorted(SandboxRecord.objects.values_list("record_id", "email_lower"))

    sandbox_seed_demo(**SEED_ARGS, size=60)

    assert SandboxAccount.objects.count() == 2
    assert sorted(SandboxRecord.objects.values_list("record_id", "email_lower")) == first


def test_seed_overlaps_are_written_differently() -> None:
    sandbox_seed_demo(**SEED_ARGS)
    ghl = SandboxAccount.objects.get(system="ghl")
    st = SandboxAccount.objects.get(system="streettext")
    ghl_rows = list(SandboxRecord.objects.filter(account=ghl, object_type="contact"))
    st_by_email = {row.email_lower: row for row in SandboxRecord.objects.filter(account=st) if row.email_lower}
    st_by_phone = {row.phone: row for row in SandboxRecord.objects.filter(account=st)}

    mixed_case = [row for row in ghl_rows if row.data.get("email") and row.data["email"] != row.email_lower]
    unformatted = [row for row in ghl_rows if row.data.get("phone") and not row.data["phone"].startswith("+")]
    lower_names = [row for row in ghl_rows if (row.data.get("firstName") or "").islower()]
    last_name_changes = [
        row
        for row in ghl_rows
        if row.email_lower in st_by_email and st_by_email[row.email_lower].data["last_name"] != row.data["lastName"]
    ]

    assert len(mixed_case) == 15
    assert all(row.email_lower in st_by_email for row in mixed_case)
    assert any(st_row.data["email"] != st_row.email_lower for st_row in st_by_email.values())
    phone_matches = [row for row in unformatted if row.phone in st_by_phone]
    assert len(phone_matches) == 21
    assert {"(", "."} <= {char for row in phone_matches for char in row.data["phone"]}
    assert {row.data["phone"] for row in unformatted} - {row.data["phone"] for row in phone_matches} == {
        "12",
        "call me",
    }
    assert len(lower_names) == 9
    assert len(last_name_changes) == 30
    assert all(isinstance(row.data["tags"], list) for row in ghl_rows)
    shared = SandboxRecord.objects.filter(account=ghl, updated_at=ghl_rows[0].updated_at).count()
    assert shared == SHARED_TIMESTAMP_GROUP or shared == 300 % SHARED_TIMESTAMP_GROUP


def test_seeded_data_is_served_by_both_apis(client: Client) -> None:
    sandbox_seed_demo(**SEED_ARGS, size=40)

    ghl = GhlApi(client, token="pit-demo")("POST", "/contacts/search", {"locationId": "locDemo", "pageLimit": 100})
    st = StreetTextApi(client, key="st-demo")("GET", "/v1/contacts", params={"limit": 200})

    assert ghl.json()["total"] == 40
    assert st.json()["total"] == len(st.json()["data"])


def test_seed_through_the_control_endpoint(client: Client) -> None:
    response = client.post("/sandbox/_control/seed", {**SEED_ARGS, "size": 50}, content_type="application/json")
    missing = client.post("/sandbox/_control/seed", {"size": 50}, content_type="application/json")

    assert response.status_code == 200
    assert response.json()["counts"]["ghl_total"] == 50
    assert missing.status_code == 400
    assert services.sandbox_stats()["ghl"]["requests"] == 0


def test_seed_management_command() -> None:
    out = io.StringIO()

    call_command(
        "sandbox_seed", "--ghl-location-id=locCmd", "--ghl-token=t", "--streettext-api-key=k", "--size=20", stdout=out
    )

    assert json.loads(out.getvalue())["ghl_total"] == 20
