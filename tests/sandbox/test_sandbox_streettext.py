from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from sandbox import services
from sandbox.models import SandboxAccount, SandboxRecord
from tests.sandbox.sandbox_support import ST_WORKSPACE, StreetTextApi

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 2, 1, 8, 0, 0, 500000, tzinfo=UTC)


def create(st: StreetTextApi, **fields: Any) -> dict[str, Any]:
    response = st("POST", "/v1/contacts", fields)
    assert response.status_code == 201, response.json()
    return response.json()["contact"]


def seed(account: SandboxAccount, count: int, group: int = 20) -> list[str]:
    records = [
        SandboxRecord(
            account=account,
            object_type="contact",
            record_id=f"ct_{(index * 31) % 97:03d}_{index}",
            data={"first_name": f"N{index}", "email": f"n{index}@example.com"},
            created_at=T0,
            updated_at=T0 + timedelta(seconds=index // group),
        )
        for index in range(count)
    ]
    services.sandbox_records_bulk_create(records=records)
    return [record.record_id for record in records]


def list_all(st: StreetTextApi, params: dict[str, Any]) -> tuple[list[str], str]:
    seen: list[str] = []
    for _ in range(100):
        body = st("GET", "/v1/contacts", params=params).json()
        seen.extend(contact["id"] for contact in body["data"])
        assert body["next_cursor"]
        if not body["has_more"]:
            return seen, body["next_cursor"]
        params = {"limit": params.get("limit", 50), "cursor": body["next_cursor"]}
    raise AssertionError("listing did not finish")


def test_missing_or_wrong_api_key_is_401_in_the_error_shape(client: Client, st_account: SandboxAccount) -> None:
    missing = StreetTextApi(client, key="")("GET", "/v1/workspace")
    wrong = StreetTextApi(client, key="wrong")("GET", "/v1/contacts")

    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthorized"
    assert wrong.status_code == 401
    assert set(wrong.json()["error"]) == {"code", "message", "details"}


def test_workspace(st: StreetTextApi) -> None:
    response = st("GET", "/v1/workspace")

    assert response.status_code == 200
    assert response.json() == {"workspace": {"id": ST_WORKSPACE, "name": "WS"}}


def test_create_get_patch_delete(st: StreetTextApi) -> None:
    contact = create(st, first_name="Ada", email="ada@example.com", phone="+14155550100", tags=["a"], custom={"k": 1})

    fetched = st("GET", f"/v1/contacts/{contact['id']}")
    patched = st("PATCH", f"/v1/contacts/{contact['id']}", {"last_name": "King", "tags": ["b"]})
    deleted = st("DELETE", f"/v1/contacts/{contact['id']}")

    assert contact["id"].startswith("ct_")
    assert contact["opted_out"] is False
    assert contact["external_id"] is None
    assert contact["updated_at"].endswith("Z")
    assert fetched.json()["contact"] == contact
    assert patched.status_code == 200
    assert patched.json()["contact"]["first_name"] == "Ada"
    assert patched.json()["contact"]["last_name"] == "King"
    assert patched.json()["contact"]["tags"] == ["b"]
    assert patched.json()["contact"]["updated_at"] > contact["updated_at"]
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert st("GET", f"/v1/contacts/{contact['id']}").status_code == 404


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"phone": "(415) 555-0100"}, "phone: must be in E.164 format, e.g. +14155550100"),
        ({"phone": "+1 415 555 0100"}, "phone: must be in E.164 format, e.g. +14155550100"),
        ({"email": "nope"}, "email: not a valid address"),
        ({"nickname": "x"}, "nickname: unknown field"),
        ({"id": "ct_x"}, "id: read-only field"),
        ({"birthday": "1990-02-30"}, "birthday: must be a date YYYY-MM-DD"),
        ({"tags": "a,b"}, "tags: must be an array of strings"),
    ],
)
def test_invalid_fields_are_422_with_details(st: StreetTextApi, fields: dict[str, Any], detail: str) -> None:
    response = st("POST", "/v1/contacts", fields)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_failed"
    assert detail in response.json()["error"]["details"]


def test_unique_fields_conflict_with_409(st: StreetTextApi) -> None:
    first = create(st, email="Same@Example.com", phone="+14155550100", external_id="ghl-1")
    other = create(st, email="other@example.com")

    email = st("POST", "/v1/contacts", {"email": "same@example.com"})
    phone = st("POST", "/v1/contacts", {"phone": "+14155550100"})
    external = st("PATCH", f"/v1/contacts/{other['id']}", {"external_id": "ghl-1"})
    itself = st("PATCH", f"/v1/contacts/{first['id']}", {"email": "SAME@example.com"})

    assert email.status_code == 409
    assert email.json()["error"]["code"] == "conflict"
    assert email.json()["error"]["details"] == [f"email: already used by contact {first['id']}"]
    assert phone.status_code == 409
    assert external.status_code == 409
    assert itself.status_code == 200


def test_bad_json_and_bad_parameters_are_400(st: StreetTextApi, client: Client) -> None:
    bad_json = client.post("/sandbox/streettext/v1/contacts", data="[1,", content_type="application/json",
                           headers={"X-Api-Key": st.key})  # fmt: skip
    bad_limit = st("GET", "/v1/contacts", params={"limit": 500})
    bad_since = st("GET", "/v1/contacts", params={"updated_since": "yesterday"})
    bad_cursor = st("GET", "/v1/contacts", params={"cursor": "!!!"})

    for response in (bad_json, bad_limit, bad_since, bad_cursor):
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "bad_request"


def test_listing_returns_every_contact_once_in_updated_order(st: StreetTextApi, st_account: SandboxAccount) -> None:
    ids = seed(st_account, 130)

    seen, _ = list_all(st, {"limit": 17})

    assert len(seen) == 130
    assert set(seen) == set(ids)
    first_page = st("GET", "/v1/contacts", params={"limit": 17}).json()
    assert first_page["total"] == 130
    stamps = [(c["updated_at"], c["id"]) for c in first_page["data"]]
    assert stamps == sorted(stamps)


def test_cursor_is_durable_and_resumes_with_only_later_changes(st: StreetTextApi, st_account: SandboxAccount) -> None:
    seed(st_account, 60)
    _, stored_cursor = list_all(st, {"limit": 25})
    changed_id = "ct_000_0"  # the very first contact, sharing its timestamp with 19 others

    st("PATCH", f"/v1/contacts/{changed_id}", {"last_name": "Changed"})
    resumed = st("GET", "/v1/contacts", params={"cursor": stored_cursor}).json()
    again = st("GET", "/v1/contacts", params={"cursor": resumed["next_cursor"]}).json()

    assert [contact["id"] for contact in resumed["data"]] == [changed_id]
    assert resumed["has_more"] is False
    assert again["data"] == []
    assert again["next_cursor"] == resumed["next_cursor"]


def test_cursor_is_base64_json_of_position(st: StreetTextApi, st_account: SandboxAccount) -> None:
    seed(st_account, 3)

    cursor = st("GET", "/v1/contacts", params={"limit": 2}).json()["next_cursor"]
    decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))

    assert decoded["u"] == services.to_iso(T0)
    assert decoded["i"]


def test_updated_since_is_inclusive_and_filters_match(st: StreetTextApi, st_account: SandboxAccount) -> None:
    seed(st_account, 60, group=20)  # seconds 0, 1, 2
    create(st, email="Find.Me@Example.com", phone="+14155550199", external_id="ext-9")

    since = st("GET", "/v1/contacts", params={"updated_since": services.to_iso(T0 + timedelta(seconds=1))}).json()
    by_email = st("GET", "/v1/contacts", params={"email": "find.me@example.COM"}).json()
    by_phone = st("GET", "/v1/contacts", params={"phone": "+14155550199"}).json()
    by_external = st("GET", "/v1/contacts", params={"external_id": "ext-9"}).json()
    empty = st("GET", "/v1/contacts", params={"email": "nobody@example.com"}).json()

    assert since["total"] == 41
    assert len(since["data"]) == 41
    assert by_email["total"] == by_phone["total"] == by_external["total"] == 1
    assert empty == {"data": [], "next_cursor": empty["next_cursor"], "has_more": False, "total": 0}
    assert empty["next_cursor"]


def test_unknown_paths_and_methods(st: StreetTextApi) -> None:
    assert st("GET", "/v2/contacts").status_code == 404
    assert st("PUT", "/v1/contacts/ct_1").status_code == 405
