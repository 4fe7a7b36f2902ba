"""Custom fields: GoHighLevel's definitions over real HTTP (the sandbox keeps them, renames and deletes them), the
admin's short cache that never waits long, and the engine leaving a deleted custom field out with a reason."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from django.core.cache import cache

from integrations import custom_fields
from integrations.adapters.clients import ghl_client_for
from integrations.clients import exceptions as exc
from integrations.clients.ghl import GhlClient
from integrations.models import RecordHistory, SyncRun
from integrations.services import sync
from mappings.models import Direction, FieldMapping, Mapping
from sandbox import services as sandbox
from sandbox.models import SandboxRecord
from tests.integrations.support import GHL_TOKEN, LOCATION, World, build_world

pytestmark = pytest.mark.django_db(transaction=True)
GHL_HEADERS = {"Authorization": f"Bearer {GHL_TOKEN}", "Version": "2021-07-28"}


@pytest.fixture(autouse=True)
def _fresh(settings: Any) -> None:
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000
    settings.SANDBOX_RATE_LIMIT = 10_000
    cache.clear()


@pytest.fixture
def world(live_server: Any) -> World:
    return build_world(live_server.url, direction=Direction.TO_GHL, size=30)


def _field_url(world: World, field_id: str = "") -> str:
    base = f"{world.ghl.base_url}/locations/{LOCATION}/customFields"
    return f"{base}/{field_id}" if field_id else base


def test_the_client_lists_the_demo_locations_custom_fields(world: World) -> None:
    rows = ghl_client_for(world.ghl).list_custom_fields()

    assert [(r["id"], r["name"], r["dataType"]) for r in rows] == [
        ("cf_lead_source", "Lead source", "SINGLE_OPTIONS"),
        ("cf_budget", "Budget", "MONETORY"),
        ("cf_favourite_colour", "Favourite colour", "SINGLE_OPTIONS"),
    ]
    assert rows[0]["fieldKey"] == "contact.lead_source"
    assert rows[0]["picklistOptions"][:2] == ["Website", "Referral"]
    assert {r["locationId"] for r in rows} == {LOCATION}


def test_the_sandbox_endpoint_checks_the_token_and_the_version_like_every_ghl_route(world: World) -> None:
    assert (
        requests.get(_field_url(world), headers={**GHL_HEADERS, "Version": "2021-04-15"}, timeout=10).status_code == 400
    )
    assert (
        requests.get(_field_url(world), headers={**GHL_HEADERS, "Authorization": "Bearer x"}, timeout=10).status_code
        == 401
    )
    created = requests.post(
        _field_url(world), json={"name": "Shoe size", "dataType": "NUMERICAL"}, headers=GHL_HEADERS, timeout=10
    )
    assert created.status_code == 201
    assert created.json()["customField"]["fieldKey"] == "contact.shoe_size"
    refused = requests.post(_field_url(world), json={"name": " ", "dataType": "ODD"}, headers=GHL_HEADERS, timeout=10)
    assert refused.status_code == 422


def test_names_are_read_once_then_served_from_the_cache_and_a_refresh_sees_a_rename(world: World) -> None:
    stats_before = sandbox.sandbox_stats()["ghl"].get("requests", 0)
    first = custom_fields.custom_fields_for(connection=world.ghl, object_type="contact")
    second = custom_fields.custom_fields_for(connection=world.ghl, object_type="contact")

    assert first.known
    assert first.name_of("customFields.cf_budget") == "Budget"
    assert second == first
    assert sandbox.sandbox_stats()["ghl"]["requests"] - stats_before == 1  # one call for two page views

    requests.put(_field_url(world, "cf_budget"), json={"name": "Budget (GBP)"}, headers=GHL_HEADERS, timeout=10)
    assert (
        custom_fields.custom_fields_for(connection=world.ghl, object_type="contact").name_of("customFields.cf_budget")
        == "Budget"
    )  # still the cached answer
    fresh = custom_fields.custom_fields_for(connection=world.ghl, object_type="contact", refresh=True)
    assert fresh.name_of("customFields.cf_budget") == "Budget (GBP)"
    # Tasks have no custom fields: nothing is asked.
    assert custom_fields.custom_fields_for(connection=world.ghl, object_type="task").fields == ()


def test_a_slow_ghl_never_holds_the_page_longer_than_the_wait(world: World) -> None:
    sandbox.sandbox_fault_add(system="ghl", kind="slow", delay=3.0, path_contains="customFields")

    started = time.monotonic()
    answer = custom_fields.custom_fields_for(connection=world.ghl, object_type="contact", wait=0.5)

    assert time.monotonic() - started < 1.5
    assert not answer.known
    assert "did not answer in time" in answer.note
    # The slow answer still lands in the cache for the next page view.
    deadline = time.monotonic() + 15
    while (
        time.monotonic() < deadline
        and not custom_fields.custom_fields_for(connection=world.ghl, object_type="contact", wait=0.1).known
    ):
        time.sleep(0.3)
    assert (
        custom_fields.custom_fields_for(connection=world.ghl, object_type="contact").name_of(
            "customFields.cf_lead_source"
        )
        == "Lead source"
    )


def test_an_unreadable_list_is_remembered_briefly_and_says_why(world: World) -> None:
    world.ghl.api_secret = "not-the-token"
    world.ghl.save()

    answer = custom_fields.custom_fields_for(connection=world.ghl, object_type="contact", wait=10)

    assert not answer.known
    assert "Could not read the custom fields" in answer.note
    with pytest.raises(exc.ApiAuthError):
        custom_fields.ghl_custom_fields_fetch(connection=world.ghl)


def test_streettext_offers_keys_seen_on_recent_contacts_and_keys_mappings_use(world: World) -> None:
    st_contact = SandboxRecord.objects.filter(account__system="streettext", object_type="contact").first()
    assert st_contact is not None
    sandbox.sandbox_record_put(
        account=st_contact.account,
        object_type="contact",
        record_id=st_contact.record_id,
        data={**st_contact.data, "custom": {"shoe_size": 42}},
    )
    FieldMapping.objects.create(
        mapping=world.mapping, direction=Direction.TO_GHL, target_field="city", source="custom.nickname"
    )

    answer = custom_fields.custom_fields_for(connection=world.streettext, object_type="contact", wait=10)

    assert [f.value for f in answer.fields] == ["custom.nickname", "custom.shoe_size"]
    assert "Other" in answer.note


def _budget_mapping(world: World) -> Mapping:
    mapping = world.mapping
    FieldMapping.objects.create(
        mapping=mapping,
        direction=Direction.TO_GHL,
        target_field="customFields.cf_budget",
        source_kind=FieldMapping.SourceKind.CONSTANT,
        source="1000",
        target_label="Budget",
        position=9,
    )
    FieldMapping.objects.create(
        mapping=mapping,
        direction=Direction.TO_GHL,
        target_field="customFields.cf_lead_source",
        source_kind=FieldMapping.SourceKind.CONSTANT,
        source="Referral",
        target_label="Lead source",
        position=10,
    )
    return mapping


def _execute(mapping: Mapping) -> SyncRun:
    run = SyncRun.objects.create(mapping=mapping, trigger=SyncRun.Trigger.MANUAL)
    sync.sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def test_a_custom_field_deleted_in_ghl_is_left_out_with_a_reason_and_the_rest_is_written(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    mapping = _budget_mapping(world)
    deleted = requests.delete(_field_url(world, "cf_budget"), headers=GHL_HEADERS, timeout=10)
    assert deleted.status_code == 200
    calls: list[str] = []
    original = GhlClient.list_custom_fields

    def counted(self: GhlClient, **kwargs: Any) -> Any:
        calls.append(self.location_id)
        return original(self, **kwargs)

    monkeypatch.setattr(GhlClient, "list_custom_fields", counted)

    run = _execute(mapping)

    assert run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL), run.error
    created = RecordHistory.objects.filter(run=run, action="created")
    assert created.exists()
    reason = "customFields.cf_budget not written: the custom field was deleted in GoHighLevel"
    assert all(reason in row.reason for row in created)
    assert all("customFields.cf_budget" not in row.changes for row in created)
    assert all("customFields.cf_lead_source" in row.changes for row in created)
    for row in created:
        contact = SandboxRecord.objects.get(account__system="ghl", object_type="contact", record_id=row.ghl_id)
        ids = {item["id"] for item in contact.data["customFields"]}
        assert "cf_budget" not in ids
        assert "cf_lead_source" in ids
    # The definitions were read once for the whole run, not per record.
    assert created.count() > 1
    assert calls == [LOCATION]


def test_without_a_deletion_every_custom_field_is_written(world: World) -> None:
    run = _execute(_budget_mapping(world))

    created = RecordHistory.objects.filter(run=run, action="created")
    assert created.exists()
    assert all("not written" not in row.reason for row in created)
    assert all(row.changes["customFields.cf_budget"]["after"] == "1000" for row in created)


def test_when_the_definitions_cannot_be_read_nothing_is_left_out(world: World) -> None:
    sandbox.sandbox_fault_add(system="ghl", kind="status", status=403, path_contains="customFields", count=5)

    run = _execute(_budget_mapping(world))

    created = RecordHistory.objects.filter(run=run, action="created")
    assert created.exists()
    assert all("customFields.cf_budget" in row.changes for row in created)
