"""The catalog's demo data: every area seeded, deterministic for a seed, consistent (every reference names a record
that exists), replaced on a second run; and served over real HTTP, with a customer's reply arriving the way a
poller would see it."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import requests
from django.test import Client

from sandbox import services
from sandbox.catalog.demo import CATALOG_TYPES
from sandbox.demo import sandbox_seed_demo, sandbox_seed_demo_catalog
from sandbox.models import SandboxRecord
from tests.sandbox.test_sandbox_catalog_helpers import LOCATION, TOKEN, World, build_world

EXPECTED_COUNTS = {
    "associations": 2,
    "associations.relations": 4,
    "blogs.authors": 3,
    "blogs.categories": 4,
    "blogs.posts": 6,
    "blogs.site": 2,
    "calendars": 3,
    "calendars.block-slots": 19,
    "calendars.groups": 2,
    "calendars.notes": 5,
    "calendars.notifications": 6,
    "calendars.resources": 3,
    "calendars.schedules": 2,
    "campaigns": 3,
    "companies": 1,
    "contacts.workflows": 3,
    "conversations": 12,
    "conversations.custom-subtypes": 1,
    "conversations.messages": 43,
    "custom-fields": 2,
    "custom-fields.folder": 1,
    "locations.customFields": 6,
    "locations.customValues": 3,
    "locations.recurring-tasks": 1,
    "locations.tags": 7,
    "locations.templates": 3,
    "objects": 1,
    "objects.records": 3,
    "opportunities": 30,
    "opportunities.lost-reason": 3,
    "opportunities.pipelines": 2,
    "users": 5,
    "workflows": 3,
}


def _snapshot() -> list[tuple[str, str, Any, str, str]]:
    rows = SandboxRecord.objects.filter(account__account_id=LOCATION, object_type__in=CATALOG_TYPES)
    return sorted(
        (r.object_type, r.record_id, r.data, services.to_iso(r.created_at), services.to_iso(r.updated_at)) for r in rows
    )


@pytest.mark.django_db
def test_every_area_is_seeded_and_the_counts_are_stable(client: Client) -> None:
    world = build_world(client)

    catalog_counts = {key: value for key, value in world.counts.items() if key in CATALOG_TYPES}

    assert catalog_counts == EXPECTED_COUNTS
    assert set(EXPECTED_COUNTS) == set(CATALOG_TYPES) - {"contacts.campaigns"}


@pytest.mark.django_db
def test_seeding_is_deterministic_and_a_second_run_replaces_the_first(client: Client) -> None:
    build_world(client)
    first = _snapshot()

    sandbox_seed_demo_catalog(ghl_location_id=LOCATION)
    again = _snapshot()
    sandbox_seed_demo_catalog(ghl_location_id=LOCATION, seed=7)
    other = _snapshot()

    assert again == first
    assert {row[1] for row in other} != {row[1] for row in first}
    assert {row[0] for row in other} == {row[0] for row in first}


@pytest.mark.django_db
def test_every_reference_in_the_demo_names_a_record_that_exists(client: Client) -> None:
    world = build_world(client)

    def ids(object_type: str) -> set[str]:
        return {r.record_id for r in world.records(object_type)}

    contacts, users, calendars = ids("contact"), ids("users"), ids("calendars")
    stages = {s["id"]: p.record_id for p in world.records("opportunities.pipelines") for s in p.data["stages"]}
    for deal in world.records("opportunities"):
        assert deal.data["contactId"] in contacts
        assert stages[deal.data["pipelineStageId"]] == deal.data["pipelineId"]
        assert deal.data["assignedTo"] in users
    for appointment in world.records("appointment"):
        assert appointment.data["calendarId"] in calendars
    for note in world.records("calendars.notes"):
        assert note.data["appointmentId"] in ids("appointment")
    conversations = {r.record_id: r.data["contactId"] for r in world.records("conversations")}
    assert set(conversations.values()) <= contacts
    for message in world.records("conversations.messages"):
        assert conversations[message.data["conversationId"]] == message.data["contactId"]
    for relation in world.records("associations.relations"):
        assert relation.data["associationId"] in ids("associations")
    for calendar in world.records("calendars"):
        assert calendar.data["groupId"] in ids("calendars.groups")
        assert {m["userId"] for m in calendar.data["teamMembers"]} <= users
    directions = Counter(m.data["direction"] for m in world.records("conversations.messages"))
    assert directions["inbound"] > 0
    assert directions["outbound"] > 0
    assert Counter(d.data["status"] for d in world.records("opportunities")).keys() >= {"open", "won"}


@pytest.mark.django_db
def test_the_catalog_needs_the_contacts_first() -> None:
    with pytest.raises(services.SandboxInputError):
        sandbox_seed_demo_catalog(ghl_location_id="locNowhere")
    sandbox_seed_demo(ghl_location_id="locEmpty", ghl_token="t", streettext_api_key="k", size=10)
    SandboxRecord.objects.filter(account__account_id="locEmpty").delete()

    with pytest.raises(services.SandboxInputError, match="no contacts"):
        sandbox_seed_demo_catalog(ghl_location_id="locEmpty")


@pytest.mark.django_db(transaction=True)
def test_a_poller_over_http_sees_a_customer_reply_first(live_server: Any) -> None:
    world: World = build_world(Client())
    conversation = world.first("conversations")
    base = f"{live_server.url}/sandbox"
    headers = {"Authorization": f"Bearer {TOKEN}", "Version": "2021-04-15"}

    reply = requests.post(
        f"{base}/_control/ghl/inbound-message",
        json={"contactId": conversation.data["contactId"], "message": "Still available?", "locationId": LOCATION},
        timeout=10,
    )
    newest = requests.get(
        f"{base}/ghl/conversations/{conversation.record_id}/messages", params={"limit": 1}, headers=headers, timeout=10
    )
    inbox = requests.get(
        f"{base}/ghl/conversations/search",
        params={"locationId": LOCATION, "lastMessageDirection": "inbound", "limit": "1"},
        headers=headers,
        timeout=10,
    )

    assert reply.status_code == 201
    assert newest.status_code == 200
    assert newest.headers["X-RateLimit-Max"] == "100"
    message = newest.json()["messages"][0]
    assert (message["id"], message["direction"], message["body"]) == (
        reply.json()["messageId"],
        "inbound",
        "Still available?",
    )
    assert inbox.json()["conversations"][0]["id"] == conversation.record_id
