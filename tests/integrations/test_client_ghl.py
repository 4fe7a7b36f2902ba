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
from integrations.clients.ghl import (
    API_VERSIONS,
    GhlClient,
    custom_fields_from_read,
    custom_fields_to_write,
    epoch_ms,
)
from tests.integrations.support import body_of

pytestmark = pytest.mark.usefixtures("no_transport_retries")

BASE = "https://services.leadconnectorhq.com"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ghl"
TOKEN = "pit-secret-token-123"


def url_of(call: Any) -> str:
    return str(call.request.url)


def load(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture
def client(no_transport_retries: None) -> GhlClient:
    return GhlClient(base_url=BASE + "/", token=TOKEN, location_id="loc1")


def query_of(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


# -- headers, versions ---------------------------------------------------------------------------------


def test_it_sends_bearer_token_and_contacts_version(client: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/contacts/abc", json=load("contact_get__ok"))

    contact = client.get_contact("abc")

    request = mocked.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Version"] == "2021-07-28"
    assert request.headers["Accept"] == "application/json"
    assert contact["id"] == "ocQHyuzHvysMo5N5VsXc"
    assert contact["customFields"][0] == {"id": "MgobCB14YMVKuE4Ka8p1", "value": "name"}


def test_version_map_follows_the_spec_files() -> None:
    assert API_VERSIONS["contacts"] == API_VERSIONS["locations"] == API_VERSIONS["businesses"] == "2021-07-28"
    assert API_VERSIONS["calendars"] == API_VERSIONS["conversations"] == "2021-04-15"


def test_get_location_reads_the_location_envelope(client: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/locations/loc1", json=load("location_get__ok"))

    location = client.get_location()

    assert location["name"] == "Mark Shoes"
    assert mocked.calls[0].request.headers["Version"] == API_VERSIONS["locations"]


# -- error mapping -------------------------------------------------------------------------------------


def test_it_raises_auth_error_on_401_without_leaking_the_token(
    client: GhlClient, mocked: responses.RequestsMock
) -> None:
    mocked.get(f"{BASE}/locations/loc1", json=load("error__401"), status=401)

    with pytest.raises(exc.ApiAuthError) as info:
        client.get_location()

    assert info.value.status_code == 401
    assert "Invalid token: access token is invalid" in str(info.value)
    assert TOKEN not in str(info.value)
    assert TOKEN not in info.value.url


def test_it_raises_auth_error_on_403(client: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.get(
        f"{BASE}/contacts/abc",
        json={"statusCode": 403, "message": "The token does not have access to this location."},
        status=403,
    )

    with pytest.raises(exc.ApiAuthError, match="does not have access"):
        client.get_contact("abc")


def test_it_raises_not_found_on_404(client: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/contacts/missing", json={"statusCode": 404, "message": "Contact not found"}, status=404)

    with pytest.raises(exc.ApiNotFound, match="Contact not found"):
        client.get_contact("missing")


def test_it_raises_validation_error_with_details_on_422(client: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{BASE}/contacts/", json=load("error__422"), status=422)

    with pytest.raises(exc.ApiValidationError) as info:
        client.create_contact({"email": "nope"})

    assert info.value.status_code == 422
    assert info.value.details == ["email must be an email", "phone must be a valid phone number"]
    assert "Unprocessable Entity" in info.value.message


def test_it_reads_the_400_message(client: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{BASE}/contacts/", json=load("error__400"), status=400)

    with pytest.raises(exc.ApiValidationError, match="Bad Request"):
        client.create_contact({})


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"Retry-After": "7"}, 7.0), ({"X-RateLimit-Interval-Milliseconds": "10000"}, 10.0)],
)
def test_it_raises_rate_limited_with_retry_after_on_429(
    client: GhlClient, mocked: responses.RequestsMock, headers: dict[str, str], expected: float
) -> None:
    mocked.get(
        f"{BASE}/contacts/abc", json={"statusCode": 429, "message": "Too many requests"}, status=429, headers=headers
    )

    with pytest.raises(exc.ApiRateLimited) as info:
        client.get_contact("abc")

    assert info.value.retry_after == expected
    assert isinstance(info.value, exc.TransientApiError)


def test_it_raises_server_error_on_500(client: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/contacts/abc", json={"statusCode": 500, "message": "Internal server error"}, status=500)

    with pytest.raises(exc.ApiServerError, match="500"):
        client.get_contact("abc")


@pytest.mark.parametrize("error", [requests.exceptions.ConnectTimeout(), requests.exceptions.ReadTimeout()])
def test_it_raises_timeout(client: GhlClient, mocked: responses.RequestsMock, error: Exception) -> None:
    mocked.get(f"{BASE}/contacts/abc", body=error)

    with pytest.raises(exc.ApiTimeout):
        client.get_contact("abc")


def test_it_raises_connection_error(client: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/contacts/abc", body=requests.exceptions.ConnectionError("refused"))

    with pytest.raises(exc.ApiConnectionError):
        client.get_contact("abc")


def test_malformed_json_on_200_is_a_bad_response(client: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/contacts/abc", body="<html>gateway</html>", status=200)

    with pytest.raises(exc.ApiBadResponse):
        client.get_contact("abc")


def test_missing_envelope_key_is_a_bad_response(client: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/contacts/abc", json={"id": "abc"})

    with pytest.raises(exc.ApiBadResponse, match="no 'contact' key"):
        client.get_contact("abc")


# -- transport retries (configured in BaseClient) ----------------------------------------------------


def test_a_get_503_is_retried_then_succeeds(settings: Any, mocked: responses.RequestsMock) -> None:
    settings.API_TRANSPORT_RETRIES = 2
    client = GhlClient(base_url=BASE, token=TOKEN, location_id="loc1")
    mocked.get(f"{BASE}/contacts/abc", json={"message": "unavailable"}, status=503)
    mocked.get(f"{BASE}/contacts/abc", json=load("contact_get__ok"))

    contact = client.get_contact("abc")

    assert contact["id"] == "ocQHyuzHvysMo5N5VsXc"
    assert len(mocked.calls) == 2


def test_a_post_503_is_not_retried(settings: Any, mocked: responses.RequestsMock) -> None:
    settings.API_TRANSPORT_RETRIES = 2
    client = GhlClient(base_url=BASE, token=TOKEN, location_id="loc1")
    mocked.post(f"{BASE}/contacts/", json={"message": "unavailable"}, status=503)
    mocked.post(f"{BASE}/contacts/", json=load("contact_create__ok"), status=201)

    with pytest.raises(exc.ApiServerError):
        client.create_contact({"email": "a@b.c"})

    assert len(mocked.calls) == 1
    mocked.reset()  # the second (never requested) response is intentional


def test_401_refreshes_the_token_once_through_the_provider(mocked: responses.RequestsMock) -> None:
    calls: list[bool] = []

    def provider(*, force: bool = False) -> str:
        calls.append(force)
        return "fresh-token"

    client = GhlClient(base_url=BASE, token="old-token", location_id="loc1", token_provider=provider)
    mocked.get(f"{BASE}/contacts/abc", json=load("error__401"), status=401)
    mocked.get(f"{BASE}/contacts/abc", json=load("contact_get__ok"))

    client.get_contact("abc")

    assert calls == [True]
    assert mocked.calls[0].request.headers["Authorization"] == "Bearer old-token"
    assert mocked.calls[1].request.headers["Authorization"] == "Bearer fresh-token"


def test_401_without_a_provider_is_not_repeated(client: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/contacts/abc", json=load("error__401"), status=401)

    with pytest.raises(exc.ApiAuthError):
        client.get_contact("abc")

    assert len(mocked.calls) == 1


# -- list_contacts (deprecated GET /contacts/) ---------------------------------------------------------


def _list_server(rows: list[dict[str, Any]], *, with_meta: bool, inclusive: bool = False) -> Any:
    """A fake GET /contacts/ ordered by (dateAdded, id) with the startAfter/startAfterId cursor."""
    ordered = sorted(rows, key=lambda r: (epoch_ms(r["dateAdded"]), r["id"]))

    def callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        query = parse_qs(urlsplit(str(request.url)).query)
        limit = int(query["limit"][0])
        remaining = ordered
        if "startAfter" in query:
            position = (int(query["startAfter"][0]), query["startAfterId"][0])
            remaining = [
                r
                for r in ordered
                if ((epoch_ms(r["dateAdded"]), r["id"]) >= position)
                if inclusive or (epoch_ms(r["dateAdded"]), r["id"]) > position
            ]
        page = remaining[:limit]
        payload: dict[str, Any] = {"contacts": page, "count": len(ordered)}
        if with_meta and page:
            last = page[-1]
            payload["meta"] = {
                "total": len(ordered),
                "startAfter": epoch_ms(last["dateAdded"]),
                "startAfterId": last["id"],
            }
        return 200, {}, json.dumps(payload)

    return callback


def _rows() -> list[dict[str, Any]]:
    same = "2026-11-26T10:00:00.000Z"
    rows = [{"id": f"s{i}", "dateAdded": same, "locationId": "loc1"} for i in range(7)]
    rows.append({"id": "a0", "dateAdded": "2026-11-25T10:00:00.000Z", "locationId": "loc1"})
    rows.append({"id": "z9", "dateAdded": "2026-11-27T10:00:00.000Z", "locationId": "loc1"})
    return rows


@pytest.mark.parametrize("with_meta", [True, False])
def test_list_contacts_yields_every_contact_once_when_many_share_a_timestamp(
    client: GhlClient, mocked: responses.RequestsMock, with_meta: bool
) -> None:
    mocked.add_callback(responses.GET, f"{BASE}/contacts/", callback=_list_server(_rows(), with_meta=with_meta))

    ids = [c["id"] for c in client.list_contacts(limit=2)]

    assert sorted(ids) == sorted(r["id"] for r in _rows())
    assert len(ids) == len(set(ids))
    second = query_of(mocked.calls[1])
    assert second["locationId"] == ["loc1"]
    assert second["limit"] == ["2"]
    assert second["startAfter"] == [str(epoch_ms("2026-11-26T10:00:00.000Z"))]
    assert second["startAfterId"] == ["s0"]
    assert all(call.request.headers["Version"] == "2021-07-28" for call in mocked.calls)


def test_list_contacts_skips_a_boundary_row_the_server_repeats(
    client: GhlClient, mocked: responses.RequestsMock
) -> None:
    mocked.add_callback(
        responses.GET, f"{BASE}/contacts/", callback=_list_server(_rows(), with_meta=False, inclusive=True)
    )

    ids = [c["id"] for c in client.list_contacts(limit=3)]

    assert sorted(ids) == sorted(r["id"] for r in _rows())


def test_list_contacts_is_bounded(client: GhlClient, mocked: responses.RequestsMock) -> None:
    counter = iter(range(10_000))

    def endless(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        n = next(counter)
        row = {"id": f"c{n}", "dateAdded": 1_700_000_000_000 + n}
        return 200, {}, json.dumps({"contacts": [row], "count": 10**9})

    mocked.add_callback(responses.GET, f"{BASE}/contacts/", callback=endless)

    with pytest.raises(exc.ApiBadResponse, match="did not end after 3 pages"):
        list(client.list_contacts(limit=1, max_pages=3))


def test_list_contacts_passes_query(client: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/contacts/", json={"contacts": [], "count": 0})

    assert list(client.list_contacts(query="ann")) == []
    assert query_of(mocked.calls[0])["query"] == ["ann"]


# -- search_contacts -------------------------------------------------------------------------------------


def test_search_contacts_sends_sort_filter_and_search_after(client: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{BASE}/contacts/search", json=load("contact_search__page"))

    page = client.search_contacts(
        page_limit=2, search_after=[1795687200000, "c0"], updated_since=datetime(2026, 11, 1, tzinfo=UTC)
    )

    assert body_of(mocked.calls[0]) == {
        "locationId": "loc1",
        "pageLimit": 2,
        "sort": [{"field": "dateUpdated", "direction": "asc"}],
        "filters": [{"field": "dateUpdated", "operator": "range", "value": {"gte": "2026-11-01T00:00:00.000Z"}}],
        "searchAfter": [1795687200000, "c0"],
    }
    assert mocked.calls[0].request.headers["Version"] == "2021-07-28"
    assert page["total"] == 3
    assert [c["searchAfter"] for c in page["contacts"]] == [[1795687200000, "c1"], [1795687200000, "c2"]]


def test_search_contacts_first_page_has_no_search_after_or_filter(
    client: GhlClient, mocked: responses.RequestsMock
) -> None:
    mocked.post(f"{BASE}/contacts/search", json={"contacts": [], "total": 0})

    client.search_contacts(page_limit=1000)

    body = body_of(mocked.calls[0])
    assert body["pageLimit"] == 500  # the documented maximum
    assert "searchAfter" not in body
    assert "filters" not in body
    assert "page" not in body


def test_search_contacts_without_contacts_key_is_a_bad_response(
    client: GhlClient, mocked: responses.RequestsMock
) -> None:
    mocked.post(f"{BASE}/contacts/search", json={"total": 0})

    with pytest.raises(exc.ApiBadResponse, match="'contacts'"):
        client.search_contacts(page_limit=10)


# -- writes ------------------------------------------------------------------------------------------------


def test_create_contact_adds_location_id(client: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{BASE}/contacts/", json=load("contact_create__ok"), status=201)

    contact = client.create_contact({"firstName": "Rosan", "email": "rosan@deos.com"})

    assert body_of(mocked.calls[0]) == {"firstName": "Rosan", "email": "rosan@deos.com", "locationId": "loc1"}
    assert contact["id"] == "seD4PfOuKoVMLkEZqohJ"


def test_update_contact_drops_fields_update_contact_dto_lacks(
    client: GhlClient, mocked: responses.RequestsMock
) -> None:
    mocked.put(f"{BASE}/contacts/abc", json=load("contact_update__ok"))

    contact = client.update_contact(
        "abc",
        {"firstName": "Rosa", "locationId": "loc1", "gender": "female", "companyName": "X", "tags": ["only-this"]},
    )

    # `tags` is sent as given: GHL replaces all of the contact's tags with it. companyName is sent although the
    # spec's UpdateContactDto lacks it: the live API accepts it (ghl_spec/deviations.py).
    assert body_of(mocked.calls[0]) == {"firstName": "Rosa", "companyName": "X", "tags": ["only-this"]}
    assert mocked.calls[0].request.method == "PUT"
    assert contact["tags"] == ["only-this"]


def test_update_contact_with_succeded_false_raises(client: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.put(f"{BASE}/contacts/abc", json={"succeded": False, "contact": {"id": "abc"}})

    with pytest.raises(exc.ApiServerError, match="did not succeed"):
        client.update_contact("abc", {"firstName": "X"})


def test_update_contact_without_succeded_is_a_bad_response(client: GhlClient, mocked: responses.RequestsMock) -> None:
    # "succeeded" (correct English) is NOT the contract; the spec spells it "succeded".
    mocked.put(f"{BASE}/contacts/abc", json={"succeeded": True, "contact": {"id": "abc"}})

    with pytest.raises(exc.ApiBadResponse, match="'succeded'"):
        client.update_contact("abc", {"firstName": "X"})


def test_upsert_contact_returns_new_flag(client: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{BASE}/contacts/upsert", json=load("contact_upsert__new"))

    created, contact = client.upsert_contact({"email": "rosan@deos.com"})

    assert created is True
    assert contact["id"] == "seD4PfOuKoVMLkEZqohJ"
    assert body_of(mocked.calls[0]) == {"email": "rosan@deos.com", "locationId": "loc1"}


def test_delete_contact_checks_succeded(client: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.delete(f"{BASE}/contacts/abc", json=load("contact_delete__ok"))
    mocked.delete(f"{BASE}/contacts/def", json={"succeded": False})

    client.delete_contact("abc")
    with pytest.raises(exc.ApiServerError):
        client.delete_contact("def")


def test_find_duplicate_url_encodes_plus_and_at(client: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/contacts/search/duplicate", json=load("contact_duplicate__found"))

    contact = client.find_duplicate(email="test+abc@gmail.com", phone="+1423164516")

    url = url_of(mocked.calls[0])
    assert "email=test%2Babc%40gmail.com" in url
    assert "number=%2B1423164516" in url
    assert "locationId=loc1" in url
    assert contact is not None
    assert contact["id"] == "ocQHyuzHvysMo5N5VsXc"


def test_find_duplicate_returns_none_for_null_contact(client: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/contacts/search/duplicate", json=load("contact_duplicate__none"))

    assert client.find_duplicate(email="nobody@example.com") is None
    assert "number" not in query_of(mocked.calls[0])


def test_find_duplicate_needs_email_or_phone(client: GhlClient) -> None:
    with pytest.raises(ValueError, match="email or a phone"):
        client.find_duplicate()


def test_add_and_remove_tags(client: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{BASE}/contacts/abc/tags", json=load("contact_tags__ok"), status=201)
    mocked.delete(f"{BASE}/contacts/abc/tags", json={"tags": ["vip"]})

    assert client.add_tags("abc", ["customer"]) == ["vip", "customer"]
    assert client.remove_tags("abc", ["customer"]) == ["vip"]

    assert body_of(mocked.calls[0]) == {"tags": ["customer"]}
    assert mocked.calls[1].request.method == "DELETE"
    assert body_of(mocked.calls[1]) == {"tags": ["customer"]}  # a DELETE with a JSON body


# -- custom fields -----------------------------------------------------------------------------------------


def test_custom_fields_read_shape_is_id_value() -> None:
    contact = load("contact_get__ok")["contact"]

    assert custom_fields_from_read(contact["customFields"]) == {"MgobCB14YMVKuE4Ka8p1": "name", "cf_multi": ["a", "b"]}
    assert custom_fields_from_read(None) == {}


def test_custom_fields_write_shape_is_id_key_field_value() -> None:
    items = custom_fields_to_write({"cf1": "blue", "cf2": 3}, keys={"cf1": "contact.favourite_color"})

    assert items == [
        {"id": "cf1", "key": "contact.favourite_color", "field_value": "blue"},
        {"id": "cf2", "field_value": 3},
    ]
