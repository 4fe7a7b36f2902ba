from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from integrations.adapters import Record, adapter_for
from integrations.adapters.clients import client_for
from integrations.adapters.ghl import GhlContactAdapter, normalize_phone
from integrations.adapters.registry import ADAPTERS
from integrations.adapters.streettext import StreetTextContactAdapter
from integrations.clients.ghl import GhlClient
from integrations.clients.streettext import StreetTextClient
from integrations.models import Connection
from tests.integrations.support import body_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_transport_retries")]

GHL = "https://services.leadconnectorhq.com"
ST = "https://api.streettext.example"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def query_of(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def url_of(call: Any) -> str:
    return str(call.request.url)


def load(system: str, name: str) -> Any:
    return json.loads((FIXTURES / system / f"{name}.json").read_text())


def ghl_contact(n: int, updated: str = "2026-11-26T10:00:00.000Z") -> dict[str, Any]:
    return {
        "id": f"c{n}",
        "email": f"c{n}@example.com",
        "dateUpdated": updated,
        "searchAfter": [1795687200000, f"c{n}"],
    }


# -- registry and client construction ----------------------------------------------------------------


def test_registry_serves_both_systems(ghl_connection: Connection, st_connection: Connection) -> None:
    assert {("ghl", "contact"), ("streettext", "contact")} <= set(ADAPTERS)
    assert isinstance(adapter_for(ghl_connection, "contact"), GhlContactAdapter)
    assert isinstance(adapter_for(st_connection, "contact"), StreetTextContactAdapter)
    with pytest.raises(LookupError):
        adapter_for(ghl_connection, "invoice")


def test_client_for_uses_the_pit_or_the_oauth_token(ghl_connection: Connection) -> None:
    client = client_for(ghl_connection)
    assert isinstance(client, GhlClient)
    assert client.auth_headers() == {"Authorization": "Bearer tok"}
    assert client.location_id == "loc1"

    ghl_connection.auth_type = "oauth"
    ghl_connection.oauth_access_token = "oauth-access"
    client = client_for(ghl_connection)
    assert isinstance(client, GhlClient)
    assert client.auth_headers() == {"Authorization": "Bearer oauth-access"}


def test_client_for_streettext_sends_the_api_key(st_connection: Connection) -> None:
    client = client_for(st_connection)
    assert isinstance(client, StreetTextClient)
    assert client.auth_headers() == {"X-Api-Key": "key"}


# -- GHL adapter ---------------------------------------------------------------------------------------


def test_ghl_get_flattens_the_contact(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{GHL}/contacts/abc", json=load("ghl", "contact_get__ok"))

    record = GhlContactAdapter(ghl_connection).get("abc")

    assert record.id == "ocQHyuzHvysMo5N5VsXc"
    assert record.values["firstName"] == "Rosan"
    assert record.values["address1"] == "3535 1st St N"
    assert record.values["tags"] == ["nisi sint commodo amet", "consequat"]
    assert record.values["customFields.MgobCB14YMVKuE4Ka8p1"] == "name"
    assert record.values["customFields.cf_multi"] == ["a", "b"]
    assert record.updated_at == datetime(2021, 7, 2, 5, 18, 26, 704000, tzinfo=UTC)
    assert "customFields" not in record.values


def test_ghl_search_rows_map_address_to_address1(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{GHL}/contacts/search", json=load("ghl", "contact_search__page"))

    page = next(GhlContactAdapter(ghl_connection).iter_changes(cursor={}, since=None, page_size=5))

    assert page.records[0].values["address1"] == "1 Main St"
    assert page.records[0].values["customFields.cf1"] == "x"
    assert page.records[1].values["tags"] == []


def test_ghl_iter_changes_pages_with_search_after(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{GHL}/contacts/search", json={"contacts": [ghl_contact(1), ghl_contact(2)], "total": 3})
    mocked.post(f"{GHL}/contacts/search", json={"contacts": [ghl_contact(3)], "total": 3})
    since = datetime(2026, 11, 1, tzinfo=UTC)

    pages = GhlContactAdapter(ghl_connection).iter_changes(cursor={}, since=since, page_size=2)
    first = next(pages)

    assert len(mocked.calls) == 1  # a generator: one request per page asked for
    assert [r.id for r in first.records] == ["c1", "c2"]
    assert first.next_cursor == {"search_after": [1795687200000, "c2"]}
    assert first.has_more is True
    assert first.total == 3
    assert body_of(mocked.calls[0])["filters"][0]["value"] == {"gte": "2026-11-01T00:00:00.000Z"}
    assert "searchAfter" not in body_of(mocked.calls[0])

    rest = list(pages)

    assert [r.id for p in rest for r in p.records] == ["c3"]
    assert rest[-1].has_more is False
    assert rest[-1].next_cursor == {"search_after": [1795687200000, "c3"]}
    second = body_of(mocked.calls[1])
    assert second["searchAfter"] == [1795687200000, "c2"]
    assert "filters" not in second  # `since` applies to the first call only
    assert second["sort"] == [{"field": "dateUpdated", "direction": "asc"}]


def test_ghl_iter_changes_resumes_from_a_stored_cursor(
    ghl_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.post(f"{GHL}/contacts/search", json={"contacts": [], "total": 0})
    cursor = {"search_after": [1795687200000, "c9"]}

    pages = list(
        GhlContactAdapter(ghl_connection).iter_changes(
            cursor=cursor, since=datetime(2020, 1, 1, tzinfo=UTC), page_size=10
        )
    )

    assert body_of(mocked.calls[0])["searchAfter"] == [1795687200000, "c9"]
    assert "filters" not in body_of(mocked.calls[0])
    assert pages[0].records == []
    assert pages[0].has_more is False
    assert pages[0].next_cursor == cursor  # nothing new: the stored position stays


def test_ghl_cursor_falls_back_to_date_updated_and_id(
    ghl_connection: Connection, mocked: responses.RequestsMock
) -> None:
    row = {"id": "c1", "dateUpdated": "2026-11-26T10:00:00.000Z"}
    mocked.post(f"{GHL}/contacts/search", json={"contacts": [row], "total": 1})

    page = next(GhlContactAdapter(ghl_connection).iter_changes(cursor={}, since=None, page_size=5))

    assert page.next_cursor == {"search_after": [1795687200000, "c1"]}


def test_ghl_find_by_email_verifies_the_match(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{GHL}/contacts/search/duplicate", json=load("ghl", "contact_duplicate__found"))
    adapter = GhlContactAdapter(ghl_connection)

    found = adapter.find_by("email", "test+abc@GMAIL.com")
    # The duplicate search may answer with a contact matched by another rule: not the one asked for.
    other = adapter.find_by("email", "someone.else@gmail.com")

    assert found is not None
    assert found.id == "ocQHyuzHvysMo5N5VsXc"
    assert other is None
    assert "email=test%2Babc%40GMAIL.com" in url_of(mocked.calls[0])


def test_ghl_find_by_phone_compares_e164(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{GHL}/contacts/search/duplicate", json=load("ghl", "contact_duplicate__found"))
    adapter = GhlContactAdapter(ghl_connection)

    assert adapter.find_by("phone", "+1 (423) 164-516") is not None
    assert adapter.find_by("phone", "+1423164517") is None
    assert "number=%2B1+%28423%29+164-516" in url_of(mocked.calls[0])


def test_the_phone_filter_probe_is_asked_once_per_connection_not_once_per_turn(
    ghl_connection: Connection, mocked: responses.RequestsMock
) -> None:
    """A run taking turns makes a new adapter each turn: the probe's two searches are not spent again."""
    probe = {**ghl_contact(1), "phone": "+14155550001"}
    mocked.post(f"{GHL}/contacts/search", json={"contacts": [probe], "total": 1})

    assert GhlContactAdapter(ghl_connection)._phone_search_works() is True
    assert len(mocked.calls) == 2  # a page of contacts, then that contact's phone
    assert GhlContactAdapter(ghl_connection)._phone_search_works() is True
    assert len(mocked.calls) == 2
    other = Connection(name="GHL 2", system="ghl", base_url=GHL, location_id="loc2", auth_type="pit")
    other.api_secret = "tok"
    other.save()
    assert GhlContactAdapter(other)._phone_search_works() is True
    assert len(mocked.calls) == 4


def test_ghl_find_by_returns_none_when_nothing_matches(
    ghl_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.get(f"{GHL}/contacts/search/duplicate", json=load("ghl", "contact_duplicate__none"))

    assert GhlContactAdapter(ghl_connection).find_by("email", "nobody@example.com") is None


def test_ghl_find_by_other_fields_makes_no_call(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    assert GhlContactAdapter(ghl_connection).find_by("customFields.cf1", "x") is None
    assert len(mocked.calls) == 0


def test_normalize_phone() -> None:
    assert normalize_phone("+1 (415) 555-0100") == "+14155550100"
    assert normalize_phone("0044 20 7946 0000") == "+442079460000"
    assert normalize_phone(None) == ""
    # A national number is read in the country of the number it is compared with.
    assert normalize_phone("(702) 555-0020", like="+17025550020") == "+17025550020"
    assert normalize_phone("020 7946 0000", like="+442079460000") == "+442079460000"


def test_ghl_create_unflattens_custom_fields_to_write_shape(
    ghl_connection: Connection, mocked: responses.RequestsMock
) -> None:
    created = load("ghl", "contact_create__ok")
    # With an email the create goes through the upsert endpoint: a retried create cannot make a second contact.
    mocked.post(f"{GHL}/contacts/upsert", json={"new": True, **created, "traceId": "t1"})

    record = GhlContactAdapter(ghl_connection).create(
        {"firstName": "Rosan", "email": "rosan@deos.com", "customFields.MgobCB14YMVKuE4Ka8p1": "blue", "id": "x"}
    )

    assert body_of(mocked.calls[0]) == {
        "firstName": "Rosan",
        "email": "rosan@deos.com",
        "customFields": [{"id": "MgobCB14YMVKuE4Ka8p1", "field_value": "blue"}],
        "locationId": "loc1",
    }
    assert record.id == "seD4PfOuKoVMLkEZqohJ"
    assert record.values["customFields.MgobCB14YMVKuE4Ka8p1"] == "blue"  # read back in the {id, value} shape


def test_ghl_create_without_email_or_phone_uses_the_create_endpoint(
    ghl_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.post(f"{GHL}/contacts/", json=load("ghl", "contact_create__ok"), status=201)

    record = GhlContactAdapter(ghl_connection).create({"firstName": "Rosan"})

    assert body_of(mocked.calls[0]) == {"firstName": "Rosan", "locationId": "loc1"}
    assert record.id == "seD4PfOuKoVMLkEZqohJ"


def test_ghl_update_puts_only_given_fields_and_tags_overwrite(
    ghl_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.put(f"{GHL}/contacts/abc", json=load("ghl", "contact_update__ok"))

    record = GhlContactAdapter(ghl_connection).update(
        "abc", {"firstName": "Rosa", "tags": ["only-this"], "dateUpdated": "ignored"}
    )

    # `tags` replaces every tag the contact had: that is what a mapped tags field means.
    assert body_of(mocked.calls[0]) == {"firstName": "Rosa", "tags": ["only-this"]}
    assert record.values["tags"] == ["only-this"]


def test_ghl_delete_and_sample(ghl_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.delete(f"{GHL}/contacts/abc", json={"succeded": True})
    mocked.post(f"{GHL}/contacts/search", json={"contacts": [ghl_contact(1)], "total": 40})
    adapter = GhlContactAdapter(ghl_connection)

    adapter.delete("abc")
    sample = adapter.sample()

    assert sample is not None
    assert sample.id == "c1"
    assert body_of(mocked.calls[1])["pageLimit"] == 1
    assert len(mocked.calls) == 2


# -- StreetText adapter ----------------------------------------------------------------------------------


def test_streettext_get_flattens_the_contact(st_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{ST}/v1/contacts/ct_123", json=load("streettext", "contact_get__ok"))

    record = StreetTextContactAdapter(st_connection).get("ct_123")

    assert record.values["first_name"] == "Ann"
    assert record.values["region"] == "IL"
    assert record.values["custom.favourite_color"] == "blue"
    assert record.values["custom.score"] == 7
    assert "custom" not in record.values
    assert record.updated_at == datetime(2026, 11, 26, 10, 0, 0, 123000, tzinfo=UTC)


def test_streettext_iter_changes_follows_next_cursor(st_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{ST}/v1/contacts", json=load("streettext", "contacts_list__page"))
    mocked.get(
        f"{ST}/v1/contacts",
        json={
            "data": [{"id": "ct_3", "updated_at": "2026-11-26T11:00:00.000Z"}],
            "next_cursor": "end",
            "has_more": False,
        },
    )
    since = datetime(2026, 11, 26, tzinfo=UTC)

    pages = list(StreetTextContactAdapter(st_connection).iter_changes(cursor={}, since=since, page_size=2))

    assert [[r.id for r in p.records] for p in pages] == [["ct_1", "ct_2"], ["ct_3"]]
    first_cursor = load("streettext", "contacts_list__page")["next_cursor"]
    assert pages[0].next_cursor == {"cursor": first_cursor}
    assert pages[0].has_more is True
    assert pages[0].total == 3
    assert pages[1].next_cursor == {"cursor": "end"}
    assert pages[1].has_more is False
    first_query = query_of(mocked.calls[0])
    second_query = query_of(mocked.calls[1])
    assert first_query == {"limit": ["2"], "updated_since": ["2026-11-26T00:00:00.000Z"]}
    assert second_query == {"limit": ["2"], "cursor": [first_cursor]}


def test_streettext_iter_changes_resumes_from_a_stored_cursor(
    st_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.get(f"{ST}/v1/contacts", json={"data": [], "next_cursor": "same", "has_more": False, "total": 0})

    pages = list(
        StreetTextContactAdapter(st_connection).iter_changes(
            cursor={"cursor": "same"}, since=datetime(2020, 1, 1, tzinfo=UTC), page_size=50
        )
    )

    assert query_of(mocked.calls[0]) == {"limit": ["50"], "cursor": ["same"]}
    assert pages[0].next_cursor == {"cursor": "same"}


def test_streettext_find_by_uses_list_filters(st_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{ST}/v1/contacts", json={"data": [{"id": "ct_1", "email": "a@b.c"}], "next_cursor": "x", "total": 1})
    mocked.get(f"{ST}/v1/contacts", json={"data": [], "next_cursor": None, "has_more": False, "total": 0})
    adapter = StreetTextContactAdapter(st_connection)

    found = adapter.find_by("email", "A@b.c")
    missing = adapter.find_by("external_id", "ghl:zz")

    assert found is not None
    assert found.id == "ct_1"
    assert missing is None
    assert query_of(mocked.calls[0]) == {"limit": ["1"], "email": ["A@b.c"]}
    assert query_of(mocked.calls[1]) == {"limit": ["1"], "external_id": ["ghl:zz"]}
    assert adapter.find_by("company", "Acme") is None
    assert len(mocked.calls) == 2


def test_streettext_create_unflattens_custom(st_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{ST}/v1/contacts", json=load("streettext", "contact_get__ok"), status=201)

    StreetTextContactAdapter(st_connection).create(
        {"first_name": "Ann", "custom.score": 7, "updated_at": "ignored", "id": "ignored"}
    )

    assert body_of(mocked.calls[0]) == {"first_name": "Ann", "custom": {"score": 7}}


def test_streettext_update_patches_given_fields_and_keeps_other_custom_keys(
    st_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.patch(f"{ST}/v1/contacts/ct_123", json=load("streettext", "contact_get__ok"))
    current = Record(id="ct_123", values={}, raw={"id": "ct_123", "custom": {"favourite_color": "red", "score": 1}})

    StreetTextContactAdapter(st_connection).update("ct_123", {"tags": ["vip"], "custom.score": 7}, current)

    assert body_of(mocked.calls[0]) == {"tags": ["vip"], "custom": {"favourite_color": "red", "score": 7}}


def test_streettext_delete_and_empty_sample(st_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.delete(f"{ST}/v1/contacts/ct_1", status=204)
    mocked.get(f"{ST}/v1/contacts", json={"data": [], "next_cursor": None, "has_more": False, "total": 0})
    adapter = StreetTextContactAdapter(st_connection)

    adapter.delete("ct_1")

    assert adapter.sample() is None


def test_timestamps_out_of_range_are_unreadable_not_a_crash() -> None:
    from integrations.adapters.ghl import parse_timestamp

    assert parse_timestamp(10**20) is None
    assert parse_timestamp(-(10**20)) is None
    assert parse_timestamp(float("1e300")) is None
    assert parse_timestamp(1_700_000_000_000) is not None
