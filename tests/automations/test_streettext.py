"""StreetText for automations: the contract's contact activities (sandbox + client), StreetText listings as triggers,
and contacts named by their GoHighLevel id found or created in StreetText."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from automations.actions import ActionContext, ActionFailed
from automations.models import AutomationItem
from integrations.adapters.clients import streettext_client_for
from integrations.clients import exceptions as exc
from integrations.models import RecordLink, System
from sandbox import services as sandbox
from tests.automations.support import account, build_world, field, make_automation, poll_here, records

pytestmark = pytest.mark.django_db(transaction=True)


# ------------------------------------------------------------------------------
# The contract's contact activities
# ------------------------------------------------------------------------------
def test_an_activity_is_recorded_once_per_source_event(live_server: Any) -> None:
    world = build_world(live_server.url, size=10)
    client = streettext_client_for(world.streettext)
    contact = client.list_contacts(limit=1)["data"][0]
    body = {"type": "message", "text": "Hi there", "source": "gohighlevel", "source_id": "msg_1"}
    first, created = client.create_activity(contact["id"], body)
    again, created_again = client.create_activity(contact["id"], {**body, "text": "Sent twice"})
    assert (created, created_again) == (True, False)
    assert again["id"] == first["id"]
    assert again["text"] == "Hi there"
    assert first["id"].startswith("act_")
    assert first["occurred_at"] == first["created_at"]  # defaults to when it was recorded
    other, created_other = client.create_activity(contact["id"], {**body, "source_id": "msg_2"})
    assert created_other
    # Listed under the contact (and by source id), and in the workspace-wide feed.
    listed = client.list_contact_activities(contact["id"], limit=10)
    assert [a["id"] for a in listed["data"]] == [first["id"], other["id"]]
    assert [a["id"] for a in client.list_contact_activities(contact["id"], limit=10, source_id="msg_2")["data"]] == [
        other["id"]
    ]
    assert client.list_records("activities", limit=10, contact_id=contact["id"])["total"] == 2
    assert client.get_record("activities", first["id"])["text"] == "Hi there"


def test_activities_refuse_bad_input_plainly(live_server: Any) -> None:
    world = build_world(live_server.url, size=10)
    client = streettext_client_for(world.streettext)
    contact = client.list_contacts(limit=1)["data"][0]
    with pytest.raises(exc.ApiNotFound):
        client.create_activity("ct_missing", {"type": "message", "text": "x"})
    with pytest.raises(exc.ApiValidationError) as refused:
        client.create_activity(contact["id"], {"type": "telepathy", "contact_id": "x", "occurred_at": "soon"})
    details = " ".join(refused.value.details)
    assert "type: must be one of message, call, email, form, meeting, note, other" in details
    assert "contact_id: comes from the path" in details
    with pytest.raises(exc.ApiValidationError) as missing:
        client.create_activity(contact["id"], {"type": "call", "occurred_at": "soon"})
    assert "text: required" in missing.value.details
    assert "occurred_at: must be an ISO 8601 time or null" in missing.value.details


def test_deleting_a_contact_deletes_its_activities(live_server: Any) -> None:
    world = build_world(live_server.url, size=10)
    client = streettext_client_for(world.streettext)
    contact = client.list_contacts(limit=1)["data"][0]
    activity, _ = client.create_activity(contact["id"], {"type": "call", "text": "Called"})
    client.delete_contact(contact["id"])
    with pytest.raises(exc.ApiNotFound):
        client.get_record("activities", activity["id"])


# ------------------------------------------------------------------------------
# StreetText listings as triggers
# ------------------------------------------------------------------------------
def test_a_streettext_listing_is_read_with_its_durable_cursor(live_server: Any, settings: Any) -> None:
    world = build_world(live_server.url, size=20)
    automation = make_automation(
        world,
        trigger="contacts",
        system=System.STREETTEXT,
        start_from=timezone.now(),
        record_filter={"field": "tags", "op": "contains", "value": "nurture"},
        filter_entered=True,
        actions=[
            (
                System.STREETTEXT,
                "note.create",
                [field("contact_id", "id"), field("body", "Nurture {email}", "template")],
            )
        ],
    )
    first = poll_here(automation)
    contacts = records("streettext", "contact")
    # The first scan records what existed (nothing handled) and keeps its place: later polls read changes only.
    assert (first.seen, first.skipped, first.handled) == (len(contacts), len(contacts), 0)
    client = streettext_client_for(world.streettext)
    tagged = [c["id"] for c in contacts[:2]]
    for contact_id in tagged:
        client.update_contact(contact_id, {"tags": ["nurture"]})
    client.update_contact(contacts[3]["id"], {"city": "Leeds"})  # changed, not tagged
    second = poll_here(automation)
    assert (second.seen, second.updated, second.handled) == (3, 3, 2)
    notes = records("streettext", "note")
    assert sorted(n["contact_id"] for n in notes) == sorted(tagged)
    # Still tagged after another edit: the condition held before, nothing again.
    client.update_contact(tagged[0], {"city": "York"})
    third = poll_here(automation)
    assert (third.seen, third.handled, third.skipped) == (1, 0, 1)
    assert AutomationItem.objects.filter(reason="It already met the condition before this change.").count() == 1
    assert len(records("streettext", "note")) == 2


# ------------------------------------------------------------------------------
# A GoHighLevel contact found or created in StreetText
# ------------------------------------------------------------------------------
def test_a_ghl_contact_is_found_by_link_then_email_then_phone_and_created_when_missing(live_server: Any) -> None:
    world = build_world(live_server.url, size=30)
    automation = make_automation(world)
    resolver = ActionContext(automation).resolver
    ghl = {c["id"]: c for c in records("ghl", "contact")}
    st = records("streettext", "contact")
    by_email = {str(c.get("email") or "").lower(): c["id"] for c in st if c.get("email")}

    # A record link of the sync mappings wins.
    linked_ghl = next(iter(ghl))
    RecordLink.objects.create(
        ghl_connection=world.ghl,
        streettext_connection=world.streettext,
        object_type="contact",
        ghl_id=linked_ghl,
        streettext_id="ct_linked",
    )
    assert resolver.streettext_for_ghl(linked_ghl, create=False) == "ct_linked"
    # Then the email (any letter case).
    shared = next(
        c for c in ghl.values() if c.get("email") and c["email"].lower() in by_email and c["id"] != linked_ghl
    )
    assert resolver.streettext_for_ghl(shared["id"], create=False) == by_email[shared["email"].lower()]
    # Missing in StreetText: created once (a second look-up finds it by email).
    missing = [
        c for c in ghl.values() if c.get("email") and c["email"].lower() not in by_email and c["id"] != linked_ghl
    ]
    only_ghl = missing[0]
    before = len(records("streettext", "contact"))
    made = resolver.streettext_for_ghl(only_ghl["id"], create=True)
    fresh = ActionContext(automation).resolver
    assert fresh.streettext_for_ghl(only_ghl["id"], create=True) == made
    assert len(records("streettext", "contact")) == before + 1
    # Not created when that is off, nor without an email or a usable phone.
    other = missing[1]
    with pytest.raises(ActionFailed, match="creating missing contacts is off"):
        resolver.streettext_for_ghl(other["id"], create=False)
    row = sandbox.sandbox_record_put(
        account=account("ghl"), object_type="contact", record_id="nokeys", data={"firstName": "No", "phone": "12"}
    )
    with pytest.raises(ActionFailed, match="no email or phone"):
        resolver.streettext_for_ghl(row.record_id, create=True)
    with pytest.raises(ActionFailed, match="could not be read"):
        resolver.streettext_for_ghl("does-not-exist", create=True)
