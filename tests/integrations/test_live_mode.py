"""GHL in live mode (sandbox/live.py): latency, GHL's own limits, and each documented live deviation, one at a time,
over real HTTP (live_server) with a small injected latency. Each test names the deviation and its source; the app's
answer to it is in integrations/adapters/ghl.py and integrations/clients/ghl.py (docs/ghl-facts.md)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from integrations.adapters.ghl import REFUSED_ON_WRITES, GhlContactAdapter
from integrations.clients import exceptions as exc
from integrations.clients.ghl import MSG_NO_LOCATION_ACCESS
from integrations.models import Connection, RecordHistory, SyncRun
from integrations.services import sync
from integrations.services.connections import connection_test
from mappings.models import Direction, FieldMapping, Mapping
from sandbox import live
from sandbox import services as sandbox
from sandbox.models import SandboxAccount, SandboxRecord
from tests.integrations.support import GHL_TOKEN, LOCATION, World, build_world, sandbox_contacts, sandbox_live

pytestmark = pytest.mark.django_db(transaction=True)
Action = RecordHistory.Action


@pytest.fixture(autouse=True)
def _fast(settings: Any) -> None:
    # Only the sandbox's own settings: a location in live mode keeps GHL's limits whatever they say.
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000
    settings.SANDBOX_RATE_LIMIT = 10_000
    settings.SYNC_PAGE_SIZE = 20
    settings.API_BACKOFF_FACTOR = 0


def execute(mapping: Mapping) -> SyncRun:
    run = SyncRun.objects.create(mapping=mapping, trigger=SyncRun.Trigger.MANUAL)
    sync.sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def ghl_request(world: World, method: str, path: str, body: dict[str, Any] | None = None) -> requests.Response:
    return requests.request(
        method,
        f"{world.ghl.base_url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {GHL_TOKEN}", "Version": "2021-07-28"},
        timeout=10,
    )


def ghl_account() -> SandboxAccount:
    return SandboxAccount.objects.get(system="ghl", account_id=LOCATION)


def ghl_contact_put(record_id: str, **data: Any) -> None:
    record = SandboxRecord.objects.get(account=ghl_account(), object_type="contact", record_id=record_id)
    sandbox.sandbox_record_put(
        account=record.account, object_type="contact", record_id=record_id, data={**record.data, **data}
    )


# -- the mode itself ------------------------------------------------------------------------------------------------


def test_live_mode_answers_late_with_ghls_own_limits(live_server: Any) -> None:
    world = build_world(live_server.url, size=10)
    ideal = ghl_request(world, "GET", f"/locations/{LOCATION}")
    assert ideal.headers["X-RateLimit-Max"] == "10000"  # the sandbox's test setting

    sandbox.sandbox_set_live(location=LOCATION, latency=(0.12, 0.15), deviations=[], daily_limit=5)
    started = time.monotonic()
    answer = ghl_request(world, "GET", f"/locations/{LOCATION}")
    took = time.monotonic() - started

    assert answer.status_code == 200
    assert took >= 0.12
    assert answer.headers["X-RateLimit-Max"] == str(live.LIVE_RATE_LIMIT)
    assert answer.headers["X-RateLimit-Interval-Milliseconds"] == "10000"
    assert answer.headers["X-RateLimit-Limit-Daily"] == "5"
    # The daily limit is on: the day's fifth request (the ideal one counted too) is the last one answered.
    statuses = [ghl_request(world, "GET", f"/locations/{LOCATION}").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]

    sandbox.sandbox_set_live(location=LOCATION, enabled=False)
    assert ghl_account().live is None


def test_live_mode_is_switched_over_http_and_refuses_what_it_does_not_know(live_server: Any) -> None:
    build_world(live_server.url, size=10)
    control = f"{live_server.url}/sandbox/_control/live"

    listed = requests.get(control, timeout=10).json()
    refused = requests.post(control, json={"location": LOCATION, "deviations": ["no_such_thing"]}, timeout=10)
    missing = requests.post(control, json={"location": "nowhere"}, timeout=10)
    bad_latency = requests.post(control, json={"location": LOCATION, "latency": [0.5, 0.1]}, timeout=10)
    switched = requests.post(control, json={"location": LOCATION, "latency": [0.005, 0.01]}, timeout=10)

    assert {d["name"] for d in listed["deviations"]} == set(live.DEVIATIONS)
    assert all(d["source"] for d in listed["deviations"])
    assert (refused.status_code, missing.status_code, bad_latency.status_code) == (400, 400, 400)
    assert "no_such_thing" in refused.json()["error"]
    assert switched.status_code == 200
    assert set(switched.json()["live"]["deviations"]) == live.DEFAULT_DEVIATIONS
    assert (ghl_account().live or {}).get("latency") == [0.005, 0.01]


# -- #314: the search's shape ----------------------------------------------------------------------------------------


def test_search_shaped_dates_of_birth_sync_both_ways_without_failures_or_churn(live_server: Any) -> None:
    """GoHighLevel/highlevel-api-docs#314: search answers `address` and epoch-millisecond `dateOfBirth`. A two-way
    Date of birth <-> birthday mapping once failed 28 of 30 records ("birthday: must be a date YYYY-MM-DD")."""
    world = build_world(live_server.url, size=30)
    for n, record in enumerate(SandboxRecord.objects.filter(account=ghl_account(), object_type="contact")):
        ghl_contact_put(record.record_id, dateOfBirth=f"19{60 + n % 40}-0{1 + n % 9}-1{n % 10}", address1=f"{n} Main")
    pairs = [(Direction.TO_STREETTEXT, "birthday", "dateOfBirth"), (Direction.TO_GHL, "dateOfBirth", "birthday")]
    for direction, target, source in pairs:
        FieldMapping.objects.create(mapping=world.mapping, direction=direction, target_field=target, source=source)
    FieldMapping.objects.create(
        mapping=world.mapping, direction=Direction.TO_STREETTEXT, target_field="address", source="address1"
    )
    FieldMapping.objects.create(
        mapping=world.mapping, direction=Direction.TO_GHL, target_field="address1", source="address"
    )
    sandbox_live(LOCATION, live.SEARCH_SHAPE)
    searched = ghl_request(world, "POST", "/contacts/search", {"locationId": LOCATION, "pageLimit": 1}).json()
    assert isinstance(searched["contacts"][0]["dateOfBirth"], int)
    assert "address1" not in searched["contacts"][0]

    first = execute(world.mapping)
    second = execute(world.mapping)

    birthday_failures = RecordHistory.objects.filter(run=first, action=Action.FAILED, error__contains="birthday")
    assert birthday_failures.count() == 0, [row.error for row in birthday_failures[:3]]
    birthdays = {c["email"]: c.get("birthday") for c in sandbox_contacts("streettext") if c.get("email")}
    ghl_dobs = {c["email"]: c.get("dateOfBirth") for c in sandbox_contacts("ghl") if c.get("email")}
    shared = [email for email in ghl_dobs if email in birthdays and ghl_dobs[email]]
    assert len(shared) >= 20
    assert all(birthdays[email] == ghl_dobs[email] for email in shared)
    # The second run reads the same search shapes and sees nothing to write either way.
    assert (second.created, second.updated, second.failed) == (0, 0, 0), (second.updated, second.error)


# -- #64: 422, yet created -------------------------------------------------------------------------------------------


def test_a_create_answered_422_yet_carried_out_is_linked_not_failed_nor_made_twice(live_server: Any) -> None:
    """GoHighLevel/highlevel-api-docs#64: a contact create answered 422 and created the contact all the same."""
    world = build_world(live_server.url, direction=Direction.TO_GHL, size=30)
    sandbox_live(LOCATION, live.CREATE_422_CREATED)
    ghl_before = len(sandbox_contacts("ghl"))

    first = execute(world.mapping)
    second = execute(world.mapping)

    created = RecordHistory.objects.filter(run=first, action=Action.CREATED)
    assert created.count() == world.seeded["streettext_only"] >= 1
    assert not RecordHistory.objects.filter(run=first, action=Action.FAILED, error__contains="422").exists()
    assert len(sandbox_contacts("ghl")) == ghl_before + world.seeded["streettext_only"]
    assert sandbox.sandbox_stats()["ghl"].get("status_422", 0) == created.count()
    assert (second.created, second.failed) == (0, 0)
    assert len(sandbox_contacts("ghl")) == ghl_before + world.seeded["streettext_only"]


def test_a_contact_without_email_or_phone_denied_yet_created_is_found_by_its_names(live_server: Any) -> None:
    world = build_world(live_server.url, size=10)
    sandbox_live(LOCATION, live.CREATE_422_CREATED)
    adapter = GhlContactAdapter(world.ghl)

    record = adapter.create({"firstName": "Nomail", "lastName": "Nophone", "companyName": "Quiet Ltd"})

    stored = [c for c in sandbox_contacts("ghl") if c.get("lastName") == "Nophone"]
    assert [c["id"] for c in stored] == [record.id]


def test_a_plain_422_on_create_is_still_reported(live_server: Any) -> None:
    """Only a 422 whose contact exists is believed away: a create GHL really refused fails with GHL's message."""
    world = build_world(live_server.url, size=10)
    sandbox_live(LOCATION)
    sandbox.sandbox_fault_add(system="ghl", kind="status", status=422, count=1, method="POST")

    with pytest.raises(exc.ApiValidationError, match="422"):
        GhlContactAdapter(world.ghl).create({"firstName": "Refused", "email": "refused@example.com"})
    assert not [c for c in sandbox_contacts("ghl") if c.get("email") == "refused@example.com"]


# -- n8n #11353: an upsert with only a phone ------------------------------------------------------------------------


def test_an_upsert_refused_for_carrying_only_a_phone_creates_the_contact_once(live_server: Any) -> None:
    """n8n-io/n8n#11353: POST /contacts/upsert with only a phone answered 422."""
    world = build_world(live_server.url, size=10)
    sandbox_live(LOCATION, live.UPSERT_PHONE_ONLY_422)

    record = GhlContactAdapter(world.ghl).create({"firstName": "Phone", "lastName": "Only", "phone": "+14155550999"})

    assert [c["id"] for c in sandbox_contacts("ghl") if c.get("phone") == "+14155550999"] == [record.id]


# -- #262: additionalEmails ------------------------------------------------------------------------------------------


def test_additional_emails_are_read_and_never_written_each_record_says_why(live_server: Any) -> None:
    """GoHighLevel/highlevel-api-docs#262: additionalEmails shows on reads and is refused on every write."""
    world = build_world(live_server.url, direction=Direction.TO_GHL, size=20)
    some = SandboxRecord.objects.filter(account=ghl_account(), object_type="contact").first()
    assert some is not None
    ghl_contact_put(some.record_id, additionalEmails=[{"email": "second@example.com"}])
    sandbox_live(LOCATION, live.ADDITIONAL_EMAILS)
    FieldMapping.objects.create(
        mapping=world.mapping, direction=Direction.TO_GHL, target_field="additionalEmails", source="email"
    )

    read = GhlContactAdapter(world.ghl).get(some.record_id)
    run = execute(world.mapping)

    assert read.values["additionalEmails"] == ["second@example.com"]
    # Every created contact, and every updated one whose email was to be written there, says why it was not.
    created = RecordHistory.objects.filter(run=run, action=Action.CREATED)
    updated = RecordHistory.objects.filter(run=run, action=Action.UPDATED, reason__contains="matched by email")
    assert created.count() == world.seeded["streettext_only"]
    assert updated.exists()
    assert all(REFUSED_ON_WRITES["additionalEmails"] in row.reason for row in [*created, *updated])
    assert sandbox.sandbox_stats()["ghl"].get("status_422", 0) == 0
    assert not RecordHistory.objects.filter(run=run, error__contains="additionalEmails").exists()


# -- #289: the phone filter ------------------------------------------------------------------------------------------


def test_phone_matches_are_found_when_the_searchs_phone_filter_finds_nothing(live_server: Any) -> None:
    """GoHighLevel/highlevel-api-docs#289: a search filter on phone (eq) returned no contact."""
    world = build_world(live_server.url, size=20)
    holder = next(c for c in sandbox_contacts("ghl") if c.get("phone"))
    sandbox_live(LOCATION, live.PHONE_FILTER_EMPTY)
    blind = ghl_request(
        world,
        "POST",
        "/contacts/search",
        {
            "locationId": LOCATION,
            "pageLimit": 10,
            "filters": [{"field": "phone", "operator": "eq", "value": holder["phone"]}],
        },
    ).json()
    assert blind["contacts"] == []

    found = GhlContactAdapter(world.ghl).find_many("phone", [holder["phone"], "+14155550000"])

    assert list(found) == [holder["phone"]]
    assert found[holder["phone"]].id == holder["id"]


# -- n8n #11353: a token without access to the location -------------------------------------------------------------


def test_a_token_without_access_to_the_location_gets_a_clear_connection_status(live_server: Any) -> None:
    """n8n-io/n8n#11353: "The token does not have access to this location" (403)."""
    world = build_world(live_server.url, size=10)
    sandbox_live(LOCATION, live.NO_LOCATION_ACCESS)
    expected = MSG_NO_LOCATION_ACCESS.format(location=LOCATION)

    result = connection_test(connection=world.ghl)
    world.ghl.refresh_from_db()
    assert (result.ok, result.message) == (False, expected)
    assert (world.ghl.status, world.ghl.status_detail) == (Connection.Status.NEEDS_REAUTH, expected)

    Connection.objects.filter(pk=world.ghl.pk).update(status=Connection.Status.OK, status_detail="")
    run = execute(world.mapping)
    world.ghl.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert expected in run.error
    assert world.ghl.status == Connection.Status.NEEDS_REAUTH
    assert expected in world.ghl.status_detail


def test_each_deviation_is_off_until_switched_on(live_server: Any) -> None:
    """Live mode without deviations keeps the spec's shapes: the switches are one by one."""
    world = build_world(live_server.url, size=10)
    some = SandboxRecord.objects.filter(account=ghl_account(), object_type="contact").first()
    assert some is not None
    ghl_contact_put(some.record_id, dateOfBirth="1990-09-25", address1="1 Main", additionalEmails=[{"email": "b@x.io"}])
    body = {
        "locationId": LOCATION,
        "pageLimit": 10,
        "filters": [{"field": "id", "operator": "eq", "value": some.record_id}],
    }

    sandbox.sandbox_set_live(location=LOCATION, latency=(0.005, 0.01), deviations=[])
    plain = ghl_request(world, "POST", "/contacts/search", body).json()["contacts"][0]
    sandbox.sandbox_set_live(
        location=LOCATION, latency=(0.005, 0.01), deviations=[live.SEARCH_SHAPE, live.ADDITIONAL_EMAILS]
    )
    shaped = ghl_request(world, "POST", "/contacts/search", body).json()["contacts"][0]

    assert (plain["address1"], plain["dateOfBirth"], "additionalEmails" in plain) == ("1 Main", "1990-09-25", False)
    assert (shaped["address"], shaped["dateOfBirth"], "address1" in shaped) == ("1 Main", 654220800000, False)
    assert shaped["additionalEmails"] == [{"email": "b@x.io"}]
