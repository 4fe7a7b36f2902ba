"""Whatever a client sends, the sandbox answers with a 4xx JSON error, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from tests.sandbox.sandbox_support import GHL_LOCATION, GhlApi, StreetTextApi

pytestmark = pytest.mark.django_db

GARBAGE_VALUES: list[Any] = [None, 1, -1, 10**30, 1.5, True, "x", "", [], [1, "a"], {}, {"gte": []}, {"gt": "nope"}]


@pytest.mark.parametrize("value", GARBAGE_VALUES)
@pytest.mark.parametrize(
    "key", ["pageLimit", "page", "searchAfter", "sort", "filters", "query", "locationId", "filters.value"]
)
def test_search_never_500s(ghl: GhlApi, key: str, value: Any) -> None:
    body: dict[str, Any] = {"locationId": GHL_LOCATION, "pageLimit": 10}
    if key == "filters.value":
        body["filters"] = [
            {"field": field, "operator": operator, "value": value}
            for field in ("dateUpdated", "email", "firstName")
            for operator in ("eq", "range", "contains")
        ]
    else:
        body[key] = value

    response = ghl("POST", "/contacts/search", body)

    assert response.status_code < 500
    response.json()


@pytest.mark.parametrize("value", GARBAGE_VALUES)
@pytest.mark.parametrize(
    "key", ["email", "phone", "tags", "customFields", "dateOfBirth", "dnd", "firstName", "dndSettings", "locationId"]
)
def test_create_and_upsert_never_500(ghl: GhlApi, key: str, value: Any) -> None:
    for path in ("/contacts/", "/contacts/upsert"):
        response = ghl("POST", path, {"locationId": GHL_LOCATION, key: value})
        assert response.status_code < 500
        response.json()


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "abc"},
        {"limit": "0"},
        {"startAfter": "abc"},
        {"startAfter": "99999999999999999999"},
        {"startAfterId": "zzz"},
        {"query": "%"},
    ],
)
def test_deprecated_list_never_500s(ghl: GhlApi, params: dict[str, str]) -> None:
    response = ghl("GET", "/contacts/", params={"locationId": GHL_LOCATION, **params})

    assert response.status_code < 500


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "x"},
        {"updated_since": "99999-01-01"},
        {"cursor": "eyJ1IjoxfQ"},
        {"cursor": "e30"},
        {"cursor": "bnVsbA"},
        {"phone": "call me"},
        {"email": ""},
    ],
)
def test_streettext_list_never_500s(st: StreetTextApi, params: dict[str, str]) -> None:
    response = st("GET", "/v1/contacts", params=params)

    assert response.status_code < 500


@pytest.mark.parametrize("value", GARBAGE_VALUES)
@pytest.mark.parametrize("key", ["email", "phone", "tags", "custom", "birthday", "opted_out", "first_name"])
def test_streettext_writes_never_500(st: StreetTextApi, key: str, value: Any) -> None:
    response = st("POST", "/v1/contacts", {key: value})

    assert response.status_code < 500


@pytest.mark.parametrize("raw", ["", "null", "[]", '"text"', "{", "\xff"])
def test_non_object_bodies_are_4xx(client: Client, ghl: GhlApi, st: StreetTextApi, raw: str) -> None:
    ghl_response = client.generic(
        "PUT", "/sandbox/ghl/contacts/x", data=raw, content_type="application/json", headers=ghl.headers()
    )
    st_response = client.generic(
        "POST",
        "/sandbox/streettext/v1/contacts",
        data=raw,
        content_type="application/json",
        headers={"X-Api-Key": st.key},
    )
    control = client.generic("POST", "/sandbox/_control/faults", data=raw, content_type="application/json")

    assert 400 <= ghl_response.status_code < 500
    assert st_response.status_code in (201, 400)
    assert control.status_code == 400
    json.loads(control.content)
