"""What one sandbox request costs in SQL: the benchmark's server CPU per request (`manage.py benchmark --only calls`,
goal ≤ 5 ms) depends on it. Statement counts include the savepoints of the handler's atomic block."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sandbox import services
from sandbox.models import SandboxAccount, SandboxCounter
from tests.sandbox.sandbox_support import GHL_LOCATION, GhlApi

pytestmark = pytest.mark.django_db

CONTACT = {"locationId": GHL_LOCATION, "firstName": "Ada", "email": "ada@example.com", "phone": "+14155550100"}


def test_counting_a_request_is_one_statement_whatever_the_counters(django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(1):
        services.sandbox_counter_incr(system="ghl", names=["requests", "status_200"])  # created on first use
    with django_assert_num_queries(1):
        services.sandbox_counter_incr(system="ghl", names=["requests", "status_201", "requests"])

    values = dict(SandboxCounter.objects.filter(system="ghl").values_list("name", "value"))
    assert values == {"requests": 3, "status_200": 1, "status_201": 1}
    assert services.sandbox_stats()["ghl"]["requests"] == 3


def test_an_upsert_that_creates_costs_eight_statements(ghl: GhlApi, django_assert_max_num_queries: Any) -> None:
    # fault check, token, [savepoint] duplicate look-up (email and phone at once), latest timestamp, insert
    # [release], counters
    with django_assert_max_num_queries(8):
        response = ghl("POST", "/contacts/upsert", CONTACT)

    assert response.status_code == 200, response.content
    assert response.json()["new"] is True


def test_the_next_request_knows_its_token_and_that_no_fault_is_queued(
    ghl: GhlApi, django_assert_max_num_queries: Any
) -> None:
    ghl("POST", "/contacts/upsert", CONTACT)

    # [savepoint] duplicate look-up, latest timestamp, insert [release], counters: token and faults are known
    with django_assert_max_num_queries(6):
        response = ghl("POST", "/contacts/upsert", {**CONTACT, "email": "bea@example.com", "phone": ""})

    assert response.status_code == 200, response.content


def test_a_fault_queued_or_an_account_changed_counts_from_the_next_request(
    ghl: GhlApi, ghl_account: SandboxAccount
) -> None:
    assert ghl("POST", "/contacts/upsert", CONTACT).status_code == 200
    services.sandbox_fault_add(system="ghl", kind="status", status=503)
    assert ghl("POST", "/contacts/upsert", CONTACT).status_code == 503

    services.sandbox_account_create(system="ghl", account_id=GHL_LOCATION, secret="a-new-token")
    assert ghl("POST", "/contacts/upsert", CONTACT).status_code == 401


def test_an_update_costs_seven_statements(ghl: GhlApi, django_assert_max_num_queries: Any) -> None:
    contact_id = ghl("POST", "/contacts/upsert", CONTACT).json()["contact"]["id"]

    # (fault check, token: known from the upsert) [savepoint] the contact, duplicate look-up, latest timestamp, update
    # [release], counters
    with django_assert_max_num_queries(7):
        response = ghl("PUT", f"/contacts/{contact_id}", {"lastName": "Lovelace"})

    assert response.status_code == 200, response.content
    assert response.json()["contact"]["lastName"] == "Lovelace"


def test_matching_a_page_by_email_is_one_search_whatever_the_page_size(
    ghl: GhlApi, ghl_account: SandboxAccount, django_assert_max_num_queries: Any
) -> None:
    for n in range(3):
        ghl("POST", "/contacts/upsert", {"locationId": GHL_LOCATION, "email": f"p{n}@example.com"})
    emails = [f"p{n}@example.com" for n in range(100)]
    group = {"group": "OR", "filters": [{"field": "email", "operator": "eq", "value": e} for e in emails]}

    with django_assert_max_num_queries(7):
        response = ghl("POST", "/contacts/search", {"locationId": GHL_LOCATION, "pageLimit": 100, "filters": [group]})

    assert response.status_code == 200, response.content
    assert sorted(c["email"] for c in response.json()["contacts"]) == emails[:3]


def test_an_or_group_mixing_fields_and_operators_selects_what_each_filter_selects(ghl: GhlApi) -> None:
    ghl("POST", "/contacts/upsert", {"locationId": GHL_LOCATION, "email": "a@example.com", "phone": "+14155550101"})
    ghl("POST", "/contacts/upsert", {"locationId": GHL_LOCATION, "email": "b@example.com", "firstName": "Bea"})
    ghl("POST", "/contacts/upsert", {"locationId": GHL_LOCATION, "email": "c@example.com", "phone": "+14155550103"})
    group = {
        "group": "OR",
        "filters": [
            {"field": "email", "operator": "eq", "value": " A@Example.com"},  # normalised as a single filter is
            {"field": "phone", "operator": "eq", "value": "(415) 555-0103"},
            {"field": "firstName", "operator": "eq", "value": "bea"},
        ],
    }

    def emails(filters: list[Any]) -> list[str]:
        body = {"locationId": GHL_LOCATION, "pageLimit": 100, "filters": filters}
        response = ghl("POST", "/contacts/search", body)
        assert response.status_code == 200, response.content
        return sorted(c["email"] for c in response.json()["contacts"])

    assert emails([group]) == ["a@example.com", "b@example.com", "c@example.com"]
    assert emails([{**group, "filters": group["filters"][:2]}]) == ["a@example.com", "c@example.com"]


def test_a_ghl_request_counts_in_the_window_from_when_it_arrived() -> None:
    from sandbox import ratelimit

    key: dict[str, Any] = {"namespace": "ghl", "key": "loc-arrival", "limit": 2, "window_seconds": 10.0}
    now = time.monotonic()
    assert ratelimit.rate_limit_hit(**key, arrived=now - 20).allowed  # came in long ago: out of the window now
    assert ratelimit.rate_limit_hit(**key, arrived=now - 5).allowed
    assert ratelimit.rate_limit_hit(**key, arrived=now - 8).allowed  # counted after a later arrival: kept in order
    refused = ratelimit.rate_limit_hit(**key, arrived=now)

    assert not refused.allowed
    assert list(ratelimit._windows[("ghl", "loc-arrival")]) == [now - 8, now - 5]
