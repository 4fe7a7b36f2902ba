"""The sandbox's GHL location in both "Allow Duplicate Contact" modes (docs/ghl-facts.md): create, upsert,
duplicate search."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox import ghl as ghl_module
from sandbox.models import SandboxAccount, SandboxRecord
from tests.sandbox.sandbox_support import GHL_LOCATION, GhlApi

pytestmark = pytest.mark.django_db
MODES = {"refuses duplicates": False, "allows duplicates": True}


@pytest.fixture(params=list(MODES), ids=list(MODES))
def allow(request: pytest.FixtureRequest, ghl_account: SandboxAccount) -> bool:
    ghl_account.allow_duplicate_contacts = MODES[request.param]
    ghl_account.save()
    return ghl_account.allow_duplicate_contacts


def create(ghl: GhlApi, **fields: Any) -> Any:
    return ghl("POST", "/contacts/", {"locationId": GHL_LOCATION, **fields})


def upsert(ghl: GhlApi, **fields: Any) -> dict[str, Any]:
    response = ghl("POST", "/contacts/upsert", {"locationId": GHL_LOCATION, **fields})
    assert response.status_code == 200, response.json()
    return dict(response.json())


def search(ghl: GhlApi, **params: str) -> dict[str, Any] | None:
    response = ghl("GET", "/contacts/search/duplicate", params={"locationId": GHL_LOCATION, **params})
    assert response.status_code == 200
    return response.json()["contact"]


def test_the_location_reports_its_setting(ghl: GhlApi, allow: bool) -> None:
    location = ghl("GET", f"/locations/{GHL_LOCATION}", version="2021-07-28").json()["location"]
    assert location["settings"]["allowDuplicateContact"] is allow


def test_a_second_create_with_the_same_email_is_refused_only_when_duplicates_are_not_allowed(
    ghl: GhlApi, allow: bool
) -> None:
    first = create(ghl, email="dup@example.com", firstName="One")
    second = create(ghl, email="DUP@example.com", firstName="Two")

    assert first.status_code == 201
    if allow:
        assert second.status_code == 201
        assert second.json()["contact"]["id"] != first.json()["contact"]["id"]
    else:
        assert second.status_code == 400
        assert second.json()["message"] == ghl_module.MSG_DUPLICATE
    assert SandboxRecord.objects.filter(email_lower="dup@example.com").count() == (2 if allow else 1)


def test_duplicate_search_puts_email_before_phone_and_returns_the_oldest(ghl: GhlApi, allow: bool) -> None:
    by_phone = create(ghl, phone="+14155550199", firstName="Phone").json()["contact"]
    by_email = create(ghl, email="order@example.com", firstName="Email").json()["contact"]
    if allow:
        create(ghl, email="order@example.com", firstName="Younger twin")

    both = search(ghl, email="order@example.com", number="+14155550199")
    phone_only = search(ghl, number="+14155550199")

    assert (both or {}).get("id") == by_email["id"]
    assert (phone_only or {}).get("id") == by_phone["id"]
    assert search(ghl, email="nobody@example.com") is None


def test_upsert_updates_the_match_and_creates_only_when_asked_and_allowed(ghl: GhlApi, allow: bool) -> None:
    original = create(ghl, email="up@example.com", firstName="Ada").json()["contact"]

    matched = upsert(ghl, email="up@example.com", lastName="King")
    forced = upsert(ghl, email="up@example.com", lastName="Queen", createNewIfDuplicateAllowed=True)

    assert (matched["new"], matched["contact"]["id"]) == (False, original["id"])
    assert matched["contact"]["name"] == "Ada King"
    if allow:  # the flag creates a second contact only where duplicates are allowed
        assert forced["new"] is True
        assert forced["contact"]["id"] != original["id"]
    else:  # elsewhere it is ignored
        assert (forced["new"], forced["contact"]["id"]) == (False, original["id"])
    assert SandboxRecord.objects.filter(email_lower="up@example.com").count() == (2 if allow else 1)


def test_upsert_matching_one_contact_by_email_and_another_by_phone_updates_the_first_and_ignores_the_phone(
    ghl: GhlApi, allow: bool
) -> None:
    phone_owner = create(ghl, phone="+14155550177", firstName="Phone").json()["contact"]
    email_owner = create(ghl, email="split@example.com", firstName="Email").json()["contact"]

    result = upsert(ghl, email="split@example.com", phone="+14155550177", lastName="Updated")

    assert (result["new"], result["contact"]["id"]) == (False, email_owner["id"])
    assert result["contact"]["lastName"] == "Updated"
    assert result["contact"]["phone"] is None
    assert SandboxRecord.objects.filter(phone="+14155550177").count() == 1
    assert ghl("GET", f"/contacts/{phone_owner['id']}").json()["contact"]["phone"] == "+14155550177"


def test_an_update_may_take_another_contacts_email_only_when_duplicates_are_allowed(ghl: GhlApi, allow: bool) -> None:
    create(ghl, email="taken@example.com")
    other = create(ghl, email="free@example.com").json()["contact"]

    response = ghl("PUT", f"/contacts/{other['id']}", {"email": "taken@example.com"})

    assert response.status_code == (200 if allow else 400)
