from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sandbox import services
from sandbox.models import SandboxAccount, SandboxRecord
from tests.sandbox.sandbox_support import GHL_LOCATION, GhlApi

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)


def seed_shared_timestamps(account: SandboxAccount, count: int = 137, group: int = 40) -> set[str]:
    """`count` contacts whose created/updated times come in groups of `group` identical milliseconds."""
    records = [
        SandboxRecord(
            account=account,
            object_type="contact",
            record_id=f"c{(index * 7919) % 1000:04d}x{index}",
            data={"firstName": f"P{index}", "email": f"p{index}@example.com"},
            created_at=T0 + timedelta(seconds=index // group),
            updated_at=T0 + timedelta(minutes=index // group),
        )
        for index in range(count)
    ]
    services.sandbox_records_bulk_create(records=records)
    return {record.record_id for record in records}


def search_all(ghl: GhlApi, sort: list[dict[str, str]] | None, page_limit: int = 25, **extra: Any) -> list[str]:
    seen: list[str] = []
    search_after = None
    for _ in range(100):
        body: dict[str, Any] = {"locationId": GHL_LOCATION, "pageLimit": page_limit, **extra}
        if sort is not None:
            body["sort"] = sort
        if search_after is not None:
            body["searchAfter"] = search_after
        response = ghl("POST", "/contacts/search", body)
        assert response.status_code == 200, response.json()
        contacts = response.json()["contacts"]
        if not contacts:
            return seen
        seen.extend(contact["id"] for contact in contacts)
        search_after = contacts[-1]["searchAfter"]
    raise AssertionError("pagination did not finish")


@pytest.mark.parametrize(
    "sort",
    [
        [{"field": "dateUpdated", "direction": "asc"}],
        [{"field": "dateUpdated", "direction": "desc"}],
        [{"field": "dateAdded", "direction": "asc"}],
        None,
    ],
)
def test_search_after_returns_every_contact_exactly_once_despite_shared_timestamps(
    ghl: GhlApi, ghl_account: SandboxAccount, sort: list[dict[str, str]] | None
) -> None:
    expected = seed_shared_timestamps(ghl_account)

    seen = search_all(ghl, sort)

    assert len(seen) == len(expected)
    assert set(seen) == expected


def test_search_results_carry_search_after_and_total(ghl: GhlApi, ghl_account: SandboxAccount) -> None:
    seed_shared_timestamps(ghl_account, count=10)

    body = ghl(
        "POST",
        "/contacts/search",
        {"locationId": GHL_LOCATION, "pageLimit": 3, "sort": [{"field": "dateUpdated", "direction": "asc"}]},
    ).json()

    assert body["total"] == 10
    first = body["contacts"][0]
    assert first["searchAfter"] == [services.to_epoch_ms(T0), first["id"]]
    assert first["firstName"].startswith("P")


def test_search_range_filter_on_date_updated_accepts_iso_and_epoch_ms(ghl: GhlApi, ghl_account: SandboxAccount) -> None:
    seed_shared_timestamps(ghl_account, count=120, group=40)  # minutes 0, 1, 2
    later = T0 + timedelta(minutes=1)

    iso = ghl(
        "POST",
        "/contacts/search",
        {
            "locationId": GHL_LOCATION,
            "pageLimit": 500,
            "filters": [{"field": "dateUpdated", "operator": "range", "value": {"gte": services.to_iso(later)}}],
        },
    ).json()
    epoch = ghl(
        "POST",
        "/contacts/search",
        {
            "locationId": GHL_LOCATION,
            "pageLimit": 500,
            "filters": [
                {"field": "dateUpdated", "operator": "range", "value": {"gt": services.to_epoch_ms(later)}},
            ],
        },
    ).json()

    assert iso["total"] == 80
    assert epoch["total"] == 40


def test_search_filters_by_email_and_page_numbers(ghl: GhlApi, ghl_account: SandboxAccount) -> None:
    seed_shared_timestamps(ghl_account, count=30)

    by_email = ghl(
        "POST",
        "/contacts/search",
        {
            "locationId": GHL_LOCATION,
            "pageLimit": 10,
            "filters": [{"field": "email", "operator": "eq", "value": "P7@Example.com"}],
        },
    ).json()
    page_three = ghl("POST", "/contacts/search", {"locationId": GHL_LOCATION, "pageLimit": 10, "page": 3}).json()

    assert [contact["firstName"] for contact in by_email["contacts"]] == ["P7"]
    assert len(page_three["contacts"]) == 10
    assert page_three["total"] == 30


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "pageLimit should not be empty"),
        ({"pageLimit": 501}, "pageLimit must not be greater than 500"),
        ({"pageLimit": 0}, "pageLimit must not be less than 1"),
        ({"pageLimit": 10, "page": 2, "searchAfter": [1, "x"]}, "page and searchAfter cannot be used together"),
        ({"pageLimit": 10, "searchAfter": "nope"}, "searchAfter must be an array of [sort value, contact id]"),
        ({"pageLimit": 10, "sort": [{"field": "shoeSize"}]}, "sort field must be one of dateAdded, dateUpdated"),
        ({"pageLimit": 10, "filters": [{"field": "dateUpdated", "operator": "range", "value": 5}]}, None),
    ],
)
def test_search_rejects_bad_bodies_with_422(ghl: GhlApi, body: dict[str, Any], message: str | None) -> None:
    response = ghl("POST", "/contacts/search", {"locationId": GHL_LOCATION, **body})

    assert response.status_code == 422
    assert isinstance(response.json()["message"], list)
    if message:
        assert message in response.json()["message"]


def test_deprecated_list_walks_every_contact_exactly_once_with_start_after(
    ghl: GhlApi, ghl_account: SandboxAccount
) -> None:
    expected = seed_shared_timestamps(ghl_account, count=95, group=30)
    seen: list[str] = []
    params: dict[str, Any] = {"locationId": GHL_LOCATION, "limit": 20}
    pages = 0
    while True:
        body = ghl("GET", "/contacts/", params=params).json()
        pages += 1
        seen.extend(contact["id"] for contact in body["contacts"])
        assert body["count"] == 95
        assert body["meta"]["total"] == 95
        assert body["meta"]["currentPage"] == pages
        if body["meta"]["nextPage"] is None:
            assert body["meta"]["nextPageUrl"] is None
            break
        assert "startAfterId=" in body["meta"]["nextPageUrl"]
        params = {**params, "startAfter": body["meta"]["startAfter"], "startAfterId": body["meta"]["startAfterId"]}

    assert pages == 5
    assert len(seen) == 95
    assert set(seen) == expected


def test_deprecated_list_limits_and_query(ghl: GhlApi, ghl_account: SandboxAccount) -> None:
    seed_shared_timestamps(ghl_account, count=25)

    default = ghl("GET", "/contacts/", params={"locationId": GHL_LOCATION}).json()
    too_many = ghl("GET", "/contacts/", params={"locationId": GHL_LOCATION, "limit": 101})
    query = ghl("GET", "/contacts/", params={"locationId": GHL_LOCATION, "query": "p12@example"}).json()
    missing_location = ghl("GET", "/contacts/")

    assert len(default["contacts"]) == 20
    assert too_many.status_code == 422
    assert [contact["firstName"] for contact in query["contacts"]] == ["P12"]
    assert missing_location.status_code == 422
