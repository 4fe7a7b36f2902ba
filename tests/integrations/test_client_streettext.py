from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from integrations.clients import exceptions as exc
from integrations.clients.streettext import StreetTextClient
from tests.integrations.support import body_of

pytestmark = pytest.mark.usefixtures("no_transport_retries")

BASE = "https://api.streettext.example"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "streettext"
KEY = "st-secret-key-456"


def url_of(call: Any) -> str:
    return str(call.request.url)


def load(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture
def client(no_transport_retries: None) -> StreetTextClient:
    return StreetTextClient(base_url=BASE, api_key=KEY)


def query_of(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def test_get_workspace_sends_the_api_key(client: StreetTextClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/v1/workspace", json=load("workspace_get__ok"))

    workspace = client.get_workspace()

    assert workspace == {"id": "ws_123", "name": "Acme texting"}
    headers = mocked.calls[0].request.headers
    assert headers["X-Api-Key"] == KEY
    assert "Authorization" not in headers


def test_list_contacts_first_page_uses_updated_since(client: StreetTextClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/v1/contacts", json=load("contacts_list__page"))

    page = client.list_contacts(limit=2, updated_since=datetime(2026, 11, 26, 10, tzinfo=UTC))

    assert query_of(mocked.calls[0]) == {"limit": ["2"], "updated_since": ["2026-11-26T10:00:00.000Z"]}
    assert [c["id"] for c in page["data"]] == ["ct_1", "ct_2"]
    assert page["next_cursor"] == load("contacts_list__page")["next_cursor"]
    assert page["has_more"] is True
    assert page["total"] == 3


def test_list_contacts_with_cursor_drops_updated_since(
    client: StreetTextClient, mocked: responses.RequestsMock
) -> None:
    mocked.get(f"{BASE}/v1/contacts", json={"data": [], "next_cursor": "c2", "has_more": False, "total": 3})

    page = client.list_contacts(limit=500, cursor="c1", updated_since="2026-01-01T00:00:00Z")

    assert query_of(mocked.calls[0]) == {"limit": ["200"], "cursor": ["c1"]}
    assert page == {"data": [], "next_cursor": "c2", "has_more": False, "total": 3}


def test_list_contacts_match_filters_are_url_encoded(client: StreetTextClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/v1/contacts", json={"data": [], "next_cursor": None, "has_more": False, "total": 0})

    client.list_contacts(limit=1, email="a+b@example.com", phone="+14155550100", external_id="ghl:c1")

    url = url_of(mocked.calls[0])
    assert "email=a%2Bb%40example.com" in url
    assert "phone=%2B14155550100" in url
    assert query_of(mocked.calls[0])["external_id"] == ["ghl:c1"]


def test_list_contacts_without_data_is_a_bad_response(client: StreetTextClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/v1/contacts", json={"contacts": []})

    with pytest.raises(exc.ApiBadResponse, match="'data'"):
        client.list_contacts(limit=10)


def test_get_contact(client: StreetTextClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/v1/contacts/ct_123", json=load("contact_get__ok"))

    contact = client.get_contact("ct_123")

    assert contact["custom"] == {"favourite_color": "blue", "score": 7}


def test_create_contact_posts_json(client: StreetTextClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{BASE}/v1/contacts", json=load("contact_get__ok"), status=201)

    contact = client.create_contact({"first_name": "Ann", "custom": {"score": 7}})

    request = mocked.calls[0].request
    assert body_of(mocked.calls[0]) == {"first_name": "Ann", "custom": {"score": 7}}
    assert request.headers["Content-Type"] == "application/json"
    assert contact["id"] == "ct_123"


def test_update_contact_patches_only_given_fields(client: StreetTextClient, mocked: responses.RequestsMock) -> None:
    mocked.patch(f"{BASE}/v1/contacts/ct_123", json=load("contact_get__ok"))

    client.update_contact("ct_123", {"tags": ["vip"]})

    assert mocked.calls[0].request.method == "PATCH"
    assert body_of(mocked.calls[0]) == {"tags": ["vip"]}


def test_delete_contact_accepts_204_without_body(client: StreetTextClient, mocked: responses.RequestsMock) -> None:
    mocked.delete(f"{BASE}/v1/contacts/ct_123", status=204)

    client.delete_contact("ct_123")

    assert mocked.calls[0].request.method == "DELETE"


@pytest.mark.parametrize(
    ("status", "fixture", "error"),
    [
        (401, "error__401", exc.ApiAuthError),
        (409, "error__409", exc.ApiValidationError),
        (422, "error__422", exc.ApiValidationError),
    ],
)
def test_error_bodies_map_to_typed_errors(
    client: StreetTextClient, mocked: responses.RequestsMock, status: int, fixture: str, error: type[Exception]
) -> None:
    mocked.post(f"{BASE}/v1/contacts", json=load(fixture), status=status)

    with pytest.raises(error) as info:
        client.create_contact({"email": "bad"})

    assert info.value.status_code == status  # type: ignore[attr-defined]
    assert load(fixture)["error"]["message"] in str(info.value)
    assert KEY not in str(info.value)


def test_422_details_are_kept(client: StreetTextClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{BASE}/v1/contacts", json=load("error__422"), status=422)

    with pytest.raises(exc.ApiValidationError) as info:
        client.create_contact({"email": "bad"})

    assert info.value.details == ["email: not a valid address", "phone: must be E.164"]


def test_403_is_an_auth_error(client: StreetTextClient, mocked: responses.RequestsMock) -> None:
    body = {"error": {"code": "forbidden", "message": "key lacks permission", "details": []}}
    mocked.get(f"{BASE}/v1/workspace", json=body, status=403)

    with pytest.raises(exc.ApiAuthError, match="key lacks permission"):
        client.get_workspace()


def test_404_is_not_found(client: StreetTextClient, mocked: responses.RequestsMock) -> None:
    body = {"error": {"code": "not_found", "message": "no such record", "details": []}}
    mocked.get(f"{BASE}/v1/contacts/nope", json=body, status=404)

    with pytest.raises(exc.ApiNotFound):
        client.get_contact("nope")


def test_429_carries_retry_after(client: StreetTextClient, mocked: responses.RequestsMock) -> None:
    body = {"error": {"code": "rate_limited", "message": "slow down", "details": []}}
    mocked.get(f"{BASE}/v1/contacts", json=body, status=429, headers={"Retry-After": "3"})

    with pytest.raises(exc.ApiRateLimited) as info:
        client.list_contacts(limit=10)

    assert info.value.retry_after == 3.0


def test_500_is_a_server_error(client: StreetTextClient, mocked: responses.RequestsMock) -> None:
    body = {"error": {"code": "server_error", "message": "try again later", "details": []}}
    mocked.get(f"{BASE}/v1/workspace", json=body, status=500)

    with pytest.raises(exc.ApiServerError, match="try again later"):
        client.get_workspace()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (requests.exceptions.ConnectTimeout(), exc.ApiTimeout),
        (requests.exceptions.ReadTimeout(), exc.ApiTimeout),
        (requests.exceptions.ConnectionError(), exc.ApiConnectionError),
    ],
)
def test_transport_failures_are_typed(
    client: StreetTextClient, mocked: responses.RequestsMock, error: Exception, expected: type[Exception]
) -> None:
    mocked.get(f"{BASE}/v1/workspace", body=error)

    with pytest.raises(expected):
        client.get_workspace()


def test_malformed_json_on_200_is_a_bad_response(client: StreetTextClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/v1/workspace", body="{not json", status=200)

    with pytest.raises(exc.ApiBadResponse):
        client.get_workspace()


def test_a_get_503_is_retried_then_succeeds(settings: Any, mocked: responses.RequestsMock) -> None:
    settings.API_TRANSPORT_RETRIES = 1
    client = StreetTextClient(base_url=BASE, api_key=KEY)
    mocked.get(f"{BASE}/v1/workspace", status=503)
    mocked.get(f"{BASE}/v1/workspace", json=load("workspace_get__ok"))

    assert client.get_workspace()["id"] == "ws_123"
    assert len(mocked.calls) == 2


def test_a_patch_503_is_not_retried(settings: Any, mocked: responses.RequestsMock) -> None:
    settings.API_TRANSPORT_RETRIES = 2
    client = StreetTextClient(base_url=BASE, api_key=KEY)
    mocked.patch(f"{BASE}/v1/contacts/ct_1", status=503)

    with pytest.raises(exc.ApiServerError):
        client.update_contact("ct_1", {"first_name": "A"})

    assert len(mocked.calls) == 1
