"""The catalog keeps state like GHL: records round-trip (create → get → list → update → get → delete → 404), actions
change what later reads show (status, stage, followers, memberships, messages, links, slots), lists page without
gaps or repeats, and a body GHL's spec refuses is still the spec's 422 before anything is stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

import ghl_spec
from sandbox import services
from sandbox.catalog.rules import rule_for, rules
from sandbox.catalog.shapes import shape_of
from sandbox.models import SandboxRecord
from tests.sandbox.test_sandbox_catalog import OVERRIDES
from tests.sandbox.test_sandbox_catalog_helpers import LOCATION, World, build_world, request_for, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(client: Client) -> World:
    return build_world(client)


def _json(response: Any, status: int) -> Any:
    assert response.status_code == status, response.content[:400]
    return response.json()


# ------------------------------------------------------------------------------
# CRUD round trips
# ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Crud:
    """The operations of one resource and a change its update makes (field, value) that its reads then show."""

    create: str
    get: str | None
    listing: str | None
    update: str
    delete: str | None
    change: tuple[str, Any]
    update_body: dict[str, Any] | None = None  # when the update body needs more than the change


def _slot(op_id: str) -> str | None:
    return next((rule.slot for rule in rules().values() if rule.op.operation_id == op_id), None)


CRUDS = {
    "calendars": Crud(
        "create-calendar", "get-calendar", "get-calendars", "update-calendar", "delete-calendar", ("name", "Renamed")
    ),
    "calendars.notifications": Crud(
        "create-event-notification",
        "find-event-notification",
        "get-event-notification",
        "update-event-notification",
        "delete-event-notification",
        ("subject", "Changed subject"),
    ),
    "calendars.resources": Crud(
        "create-calendar-resource",
        "get-calendar-resource",
        "fetch-calendar-resources",
        "update-calendar-resource",
        "delete-calendar-resource",
        ("name", "Big room"),
    ),
    "calendars.schedules": Crud(
        "createSchedule",
        "getScheduleById",
        "getAllSchedules",
        "updateSchedule",
        "deleteSchedule",
        ("name", "Late shift"),
    ),
    "calendars.notes": Crud(
        "create-appointment-note",
        None,
        "get-appointment-notes",
        "update-appointment-note",
        "delete-appointment-note",
        ("body", "Changed note"),
    ),
    "calendars.groups": Crud(
        "create-calendar-group",
        None,
        "get-groups",
        "edit-group",
        "delete-group",
        ("name", "Partner team"),
        {"name": "Partner team", "description": "d", "slug": "partner-team"},
    ),
    "opportunities": Crud(
        "create-opportunity",
        "get-opportunity",
        "search-opportunity",
        "update-opportunity",
        "delete-opportunity",
        ("name", "Bigger deal"),
    ),
    "users": Crud(
        "create-user", "get-user", "get-user-by-location", "update-user", "delete-user", ("firstName", "Francis")
    ),
    "conversations": Crud(
        "create-conversation",
        "get-conversation",
        "search-conversation",
        "update-conversation",
        "delete-conversation",
        ("starred", True),
        {"locationId": LOCATION, "starred": True},
    ),
    "custom-fields": Crud(
        "custom-fields:create-custom-field",
        "get-custom-field-by-id",
        None,
        "custom-fields:update-custom-field",
        "custom-fields:delete-custom-field",
        ("name", "Years"),
        {"locationId": LOCATION, "name": "Years", "showInForms": True},
    ),
    "locations.tags": Crud(
        "create-tag", "get-tag-by-id", "get-location-tags", "update-tag", "delete-tag", ("name", "gold")
    ),
    "locations.customFields": Crud(
        "locations:create-custom-field",
        "get-custom-field",
        "get-custom-fields",
        "locations:update-custom-field",
        "locations:delete-custom-field",
        ("name", "Shoe size"),
    ),
    "locations.customValues": Crud(
        "create-custom-value",
        "get-custom-value",
        "get-custom-values",
        "update-custom-value",
        "delete-custom-value",
        ("value", "Changed"),
        {"name": "Office hours", "value": "Changed"},
    ),
    "locations.recurring-tasks": Crud(
        "create-recurring-task",
        "get-recurring-task-by-id",
        None,
        "update-recurring-task",
        "delete-recurring-task",
        ("title", "Weekly call"),
    ),
    "associations": Crud(
        "associations:create-association",
        "get-association-by-ID",
        "find-associations",
        "update-association",
        "delete-association",
        ("firstObjectLabel", "Animal"),
        {"firstObjectLabel": "Animal", "secondObjectLabel": "Keeper"},
    ),
    "objects.records": Crud(
        "create-object-record",
        "get-record-by-id",
        "search-object-records",
        "update-object-record",
        "delete-object-record",
        ("properties", {"name": "Spot"}),
    ),
    "calendars.block-slots": Crud(
        "create-block-slot",
        None,
        "get-blocked-slots",
        "edit-block-slot",
        "delete-event",
        ("title", "Dentist"),
        {"calendarId": "calDemoSales000000001", "locationId": LOCATION, "title": "Dentist"},
    ),
    "custom-fields.folder": Crud(
        "create-custom-field-folder",
        None,
        None,
        "update-custom-field-folder",
        "delete-custom-field-folder",
        ("name", "Vet details"),
        {"name": "Vet details", "locationId": LOCATION},
    ),
    "conversations.custom-subtypes": Crud(
        "create-custom-subtype", None, "get-all-custom-subtypes", "update-custom-subtype", None, ("name", "Offers")
    ),
    "objects": Crud(
        "create-custom-object-schema",
        "get-object-schema-by-key",
        "get-object-by-location-id",
        "update-custom-object",
        None,
        ("description", "Boats we service"),
        {"locationId": LOCATION, "description": "Boats we service", "searchableProperties": []},
    ),
    "blogs.posts": Crud("create-blog-post", None, "get-blog-post", "update-blog-post", None, ("title", "Renamed post")),
}

CREATE_BODIES: dict[str, Any] = {
    "create-calendar": {"locationId": LOCATION, "name": "Demo day"},
    "locations:create-custom-field": {"name": "Shoe size", "dataType": "NUMERICAL"},
    "create-custom-value": {"name": "Office hours", "value": "9-5"},
    "create-tag": {"name": "silver"},
    "create-object-record": {"locationId": LOCATION, "properties": {"name": "Rover"}},
    "create-appointment-note": {"body": "First note"},
    "create-custom-field-folder": {"objectKey": "custom_objects.pets", "name": "Vet", "locationId": LOCATION},
    "create-custom-subtype": {"name": "Deals", "channel": "email", "language": "en"},
}


def _op(label: str) -> ghl_spec.Operation:
    app, _, operation_id = label.rpartition(":")
    return ghl_spec.operation(operation_id, app=app or None)


def _record_of(op: ghl_spec.Operation, payload: Any) -> Any:
    """The record in an answer: at the operation's slot, at the root, or the first of a list."""
    if isinstance(payload, list):
        return payload[0]
    slot = rules()[op.key].slot
    shape = shape_of(op, many=False, slot=slot)
    return payload[shape.slot] if shape.slot and shape.slot in payload else payload


def _id(record: dict[str, Any]) -> str:
    return record.get("id") or record.get("_id") or ""


def _listed(world: World, crud: Crud, resource: str, params: dict[str, str]) -> list[str]:
    op = _op(crud.listing or "")
    request = request_for(
        world,
        op,
        {**OVERRIDES.get(op.operation_id, {}), "params": params} if params else OVERRIDES.get(op.operation_id),
    )
    if "limit" in request.query:
        request.query["limit"] = "20"
    if isinstance(request.body, dict) and "pageLimit" in request.body:
        request.body.update({"pageLimit": 100, "query": ""})
    payload = _json(send(world, request), op.success_status or 200)
    items = payload if isinstance(payload, list) else next(v for v in payload.values() if isinstance(v, list))
    return [_id(item) for item in items]


@pytest.mark.parametrize("resource", sorted(CRUDS))
def test_records_round_trip_create_get_list_update_delete(world: World, resource: str) -> None:
    crud = CRUDS[resource]
    create = _op(crud.create)
    overrides = dict(OVERRIDES.get(crud.create) or OVERRIDES.get(create.operation_id) or {})
    if crud.create in CREATE_BODIES:
        overrides["body"] = CREATE_BODIES[crud.create]
    request = request_for(world, create, overrides)
    created = _record_of(create, _json(send(world, request), create.success_status or 200))
    record_id = _id(created)
    assert record_id
    # The path's parents (calendarId, appointmentId, schemaKey, resourceType, locationId) for the later calls.
    parents = {
        k: v for k, v in zip(create.segments, request.path.strip("/").split("/"), strict=False) if k.startswith("{")
    }
    params = {k.strip("{}"): v for k, v in parents.items()}

    def item_params(op: ghl_spec.Operation) -> dict[str, str]:
        rule = rules().get(op.key) or rule_for(op)  # delete-event is ghl_children's
        values = dict(params)
        if rule.id_param:
            stored = SandboxRecord.objects.get(record_id=record_id)
            values[rule.id_param] = stored.data[rule.lookup] if rule.lookup else record_id
        return values

    if crud.listing:
        assert record_id in _listed(world, crud, resource, params)

    update = _op(crud.update)
    field, value = crud.change
    body = crud.update_body or {field: value}
    update_request = request_for(
        world, update, {**OVERRIDES.get(update.operation_id, {}), "params": item_params(update)}
    )
    if isinstance(update_request.body, dict):
        update_request.body.update(body)
    before = SandboxRecord.objects.get(record_id=record_id)
    _json(send(world, update_request), update.success_status or 200)
    after = SandboxRecord.objects.get(record_id=record_id)
    assert after.data[field] == value
    assert after.updated_at > before.updated_at
    assert after.created_at == before.created_at

    if crud.get:
        get = _op(crud.get)
        request = request_for(world, get, {**OVERRIDES.get(get.operation_id, {}), "params": item_params(get)})
        payload = _json(send(world, request), 200)
        shown = _record_of(get, payload)
        assert shown.get(field) == value or shown.get("properties") == value

    if crud.delete is None:
        return
    delete = _op(crud.delete)
    request = request_for(world, delete, {**OVERRIDES.get(delete.operation_id, {}), "params": item_params(delete)})
    _json(send(world, request), delete.success_status or 200)
    assert SandboxRecord.objects.get(record_id=record_id).deleted
    if crud.get:
        get = _op(crud.get)
        request = request_for(world, get, {**OVERRIDES.get(get.operation_id, {}), "params": item_params(get)})
        assert send(world, request).status_code == 404
    if crud.listing:
        assert record_id not in _listed(world, crud, resource, params)
    again = send(
        world, request_for(world, delete, {**OVERRIDES.get(delete.operation_id, {}), "params": item_params(delete)})
    )
    assert again.status_code == 404


# ------------------------------------------------------------------------------
# Opportunities: status and stage moves, what pollers read
# ------------------------------------------------------------------------------
def _opportunity(world: World) -> SandboxRecord:
    return world.first("opportunities", data__status="open")


def test_a_status_update_moves_status_and_its_timestamps_and_shows_first_to_pollers(world: World) -> None:
    deal = _opportunity(world)
    before = _json(world.op("get-opportunity", params={"id": deal.record_id}), 200)["opportunity"]

    answer = world.op("update-opportunity-status", params={"id": deal.record_id}, body={"status": "won"})

    assert _json(answer, 200) == {"succeded": True}
    after = _json(world.op("get-opportunity", params={"id": deal.record_id}), 200)["opportunity"]
    assert after["status"] == "won"
    assert after["lastStatusChangeAt"] > before["lastStatusChangeAt"]
    assert after["updatedAt"] > before["updatedAt"]
    assert after["createdAt"] == before["createdAt"]
    assert after["lastStageChangeAt"] == before["lastStageChangeAt"]
    polled = _json(
        world.op("search-opportunity", query={"location_id": LOCATION, "order": "updated_desc", "limit": 1}), 200
    )
    assert [row["id"] for row in polled["opportunities"]] == [deal.record_id]
    won = _json(world.op("search-opportunity", query={"location_id": LOCATION, "status": "won", "limit": 100}), 200)
    assert deal.record_id in {row["id"] for row in won["opportunities"]}
    assert all(row["status"] == "won" for row in won["opportunities"])


def test_a_stage_move_bumps_last_stage_change_and_is_found_by_stage(world: World) -> None:
    deal = _opportunity(world)
    pipeline = world.first("opportunities.pipelines", record_id=deal.data["pipelineId"])
    target = next(s["id"] for s in pipeline.data["stages"] if s["id"] != deal.data["pipelineStageId"])

    moved = _json(world.op("update-opportunity", params={"id": deal.record_id}, body={"pipelineStageId": target}), 200)

    assert moved["opportunity"]["pipelineStageId"] == target
    assert moved["opportunity"]["lastStageChangeAt"] > deal.data["lastStageChangeAt"]
    assert moved["opportunity"]["lastStatusChangeAt"] == deal.data["lastStatusChangeAt"]
    assert moved["opportunity"]["updatedAt"] > services.to_iso(deal.updated_at)  # what pollers version it by
    found = _json(
        world.op(
            "search-opportunity",
            query={"location_id": LOCATION, "pipeline_id": pipeline.record_id, "pipeline_stage_id": target},
        ),
        200,
    )
    assert deal.record_id in {row["id"] for row in found["opportunities"]}
    assert {row["pipelineStageId"] for row in found["opportunities"]} == {target}


def test_a_stage_of_another_pipeline_is_refused_and_nothing_changes(world: World) -> None:
    deal = _opportunity(world)
    other = world.first("opportunities.pipelines", record_id__in=["pplDemoOnboard0000002", "pplDemoSales000000001"])
    foreign = next(
        s["id"]
        for p in world.records("opportunities.pipelines")
        if p.record_id != deal.data["pipelineId"]
        for s in p.data["stages"]
    )
    assert other

    answer = world.op("update-opportunity", params={"id": deal.record_id}, body={"pipelineStageId": foreign})

    assert answer.status_code == 422
    assert answer.json()["message"] == ["pipelineStageId must be a stage of the pipeline"]
    assert SandboxRecord.objects.get(record_id=deal.record_id).data["pipelineStageId"] == deal.data["pipelineStageId"]


def test_a_new_opportunity_is_found_by_q_on_its_contact_and_by_date(world: World) -> None:
    contact = world.first("contact")
    created = _json(
        world.op(
            "create-opportunity",
            body={
                "pipelineId": "pplDemoSales000000001",
                "locationId": LOCATION,
                "name": "Fresh deal",
                "status": "open",
                "contactId": contact.record_id,
            },
        ),
        201,
    )["opportunity"]

    by_email = _json(world.op("search-opportunity", query={"location_id": LOCATION, "q": contact.data["email"]}), 200)
    today = created["createdAt"][:10]
    since = _json(world.op("search-opportunity", query={"location_id": LOCATION, "date": today}), 200)

    assert created["pipelineStageId"] == "pplDemoSal-stage-1"  # the pipeline's first stage by default
    assert created["contact"]["email"] == contact.data["email"]
    assert created["id"] in {row["id"] for row in by_email["opportunities"]}
    assert [row["id"] for row in since["opportunities"]] == [created["id"]]


def test_followers_are_added_and_removed_on_opportunities_and_contacts(world: World) -> None:
    deal = _opportunity(world)
    contact = world.first("contact")

    added = _json(
        world.op("add-followers-opportunity", params={"id": deal.record_id}, body={"followers": ["u1", "u2"]}), 201
    )
    again = _json(
        world.op("add-followers-opportunity", params={"id": deal.record_id}, body={"followers": ["u2", "u3"]}), 201
    )
    removed = _json(
        world.op("remove-followers-opportunity", params={"id": deal.record_id}, body={"followers": ["u1"]}), 200
    )
    on_contact = _json(
        world.op("add-followers-contact", params={"contactId": contact.record_id}, body={"followers": ["u9"]}), 201
    )

    assert added == {"followers": ["u1", "u2"], "followersAdded": ["u1", "u2"]}
    assert again == {"followers": ["u1", "u2", "u3"], "followersAdded": ["u3"]}
    assert removed == {"followers": ["u2", "u3"], "followersRemoved": ["u1"]}
    shown = _json(world.op("get-opportunity", params={"id": deal.record_id}), 200)["opportunity"]
    assert shown["followers"] == ["u2", "u3"]
    assert on_contact["followers"] == ["u9"]
    assert SandboxRecord.objects.get(record_id=contact.record_id).data["followers"] == ["u9"]


# ------------------------------------------------------------------------------
# Workflows and campaigns: memberships are recorded and readable
# ------------------------------------------------------------------------------
def test_adding_a_contact_to_a_workflow_is_recorded_once_and_can_be_undone(world: World) -> None:
    contact = world.records("contact")[-1]
    workflow = world.first("workflows")
    before = SandboxRecord.objects.get(record_id=contact.record_id).updated_at

    first = world.op(
        "add-contact-to-workflow",
        params={"contactId": contact.record_id, "workflowId": workflow.record_id},
        body={"eventStartTime": "2026-01-06T10:00:00Z"},
    )
    world.op(
        "add-contact-to-workflow", params={"contactId": contact.record_id, "workflowId": workflow.record_id}, body={}
    )
    read = world.client.get(
        "/sandbox/_control/ghl/memberships", {"locationId": LOCATION, "contactId": contact.record_id}
    )

    assert _json(first, 200) == {"succeded": True}
    memberships = read.json()
    assert [(m["workflowId"], m["name"], m["eventStartTime"]) for m in memberships["workflows"]] == [
        (workflow.record_id, workflow.data["name"], "2026-01-06T10:00:00Z")
    ]
    assert memberships["workflows"][0]["addedAt"]
    assert SandboxRecord.objects.get(record_id=contact.record_id).updated_at == before  # the contact is unchanged

    removed = world.op(
        "delete-contact-from-workflow",
        params={"contactId": contact.record_id, "workflowId": workflow.record_id},
        body={},
    )
    assert _json(removed, 200) == {"succeded": True}
    read = world.client.get(
        "/sandbox/_control/ghl/memberships", {"locationId": LOCATION, "contactId": contact.record_id}
    )
    assert read.json()["workflows"] == []


def test_campaign_memberships_are_added_removed_and_cleared(world: World) -> None:
    contact = world.records("contact")[-1]
    campaigns = world.records("campaigns")
    for campaign in campaigns:
        world.op(
            "add-contact-to-campaign",
            params={"contactId": contact.record_id, "campaignId": campaign.record_id},
            body={},
        )

    world.op(
        "remove-contact-from-campaign", params={"contactId": contact.record_id, "campaignId": campaigns[0].record_id}
    )
    after_one = world.client.get(
        "/sandbox/_control/ghl/memberships", {"locationId": LOCATION, "contactId": contact.record_id}
    )
    world.op("remove-contact-from-every-campaign", params={"contactId": contact.record_id})
    after_all = world.client.get(
        "/sandbox/_control/ghl/memberships", {"locationId": LOCATION, "contactId": contact.record_id}
    )

    assert [m["campaignId"] for m in after_one.json()["campaigns"]] == [c.record_id for c in campaigns[1:]]
    assert after_all.json()["campaigns"] == []


def test_an_unknown_workflow_is_404_and_nothing_is_recorded(world: World) -> None:
    contact = world.first("contact")
    before = len(world.records("contacts.workflows"))

    answer = world.op("add-contact-to-workflow", params={"contactId": contact.record_id, "workflowId": "nope"}, body={})

    assert answer.status_code == 404
    assert answer.json()["message"] == "Workflow not found"
    assert len(world.records("contacts.workflows")) == before


# ------------------------------------------------------------------------------
# Conversations and messages
# ------------------------------------------------------------------------------
def test_sending_a_message_adds_it_to_the_contacts_conversation(world: World) -> None:
    contact = next(
        c for c in world.records("contact") if not world.records("conversations", data__contactId=c.record_id)
    )

    sent = _json(
        world.op(
            "send-a-new-message",
            version="2021-04-15",
            body={
                "type": "SMS",
                "subType": {},
                "contactId": contact.record_id,
                "message": "Hi there",
                "status": "delivered",
            },
        ),
        200,
    )
    messages = _json(world.op("get-messages", params={"conversationId": sent["conversationId"]}), 200)
    conversation = _json(world.op("get-conversation", params={"conversationId": sent["conversationId"]}), 200)

    assert [(m["id"], m["direction"], m["body"], m["messageType"]) for m in messages["messages"]] == [
        (sent["messageId"], "outbound", "Hi there", "TYPE_SMS")
    ]
    assert conversation["contactId"] == contact.record_id
    assert conversation["lastMessageBody"] == "Hi there"
    assert conversation["unreadCount"] == 0


def test_a_customer_reply_arrives_through_the_control_endpoint_as_an_unread_inbound_message(world: World) -> None:
    conversation = world.first("conversations")
    contact_id = conversation.data["contactId"]
    unread_before = conversation.data["unreadCount"]

    reply = world.client.post(
        "/sandbox/_control/ghl/inbound-message",
        data={"contactId": contact_id, "message": "Can we talk tomorrow?"},
        content_type="application/json",
    )

    created = _json(reply, 201)
    assert created["conversationId"] == conversation.record_id
    newest = _json(world.op("get-messages", params={"conversationId": conversation.record_id}, query={"limit": 1}), 200)
    assert [(m["id"], m["direction"], m["body"]) for m in newest["messages"]] == [
        (created["messageId"], "inbound", "Can we talk tomorrow?")
    ]
    inbound_only = _json(
        world.op("get-messages", params={"conversationId": conversation.record_id}, query={"direction": "inbound"}), 200
    )
    assert {m["direction"] for m in inbound_only["messages"]} == {"inbound"}
    unread = _json(
        world.op("search-conversation", query={"locationId": LOCATION, "status": "unread", "limit": 100}), 200
    )
    row = next(c for c in unread["conversations"] if c["id"] == conversation.record_id)
    assert row["unreadCount"] == unread_before + 1
    assert row["lastMessageBody"] == "Can we talk tomorrow?"
    newest_first = _json(world.op("search-conversation", query={"locationId": LOCATION, "limit": 1}), 200)
    assert newest_first["conversations"][0]["id"] == conversation.record_id


def _conversations(world: World, **query: Any) -> list[dict[str, Any]]:
    answer = _json(world.op("search-conversation", query={"locationId": LOCATION, **query}), 200)
    return list(answer["conversations"])


def test_conversations_are_searched_and_paged_by_their_last_message_date(world: World) -> None:
    """sortBy=last_message_date orders by the last message's time, not by the conversation's last change (starring
    one moves nothing); each answer carries its sort value and startAfterDate reads on from it, both ways."""
    stored = world.records("conversations")
    assert len(stored) >= 6
    oldest = min(stored, key=lambda c: c.data["lastMessageDate"])
    starred = _json(
        world.op(
            "update-conversation",
            params={"conversationId": oldest.record_id},
            body={"locationId": LOCATION, "starred": True},
        ),
        200,
    )
    assert starred["conversation"]["starred"] is True
    assert SandboxRecord.objects.get(record_id=oldest.record_id).updated_at > max(c.updated_at for c in stored)
    by_message = sorted(stored, key=lambda c: (c.data["lastMessageDate"], c.record_id))

    for sort, expected in (("desc", by_message[::-1]), ("asc", by_message)):
        whole = _conversations(world, sortBy="last_message_date", sort=sort, limit=100)
        assert [c["id"] for c in whole] == [c.record_id for c in expected]
        assert [c["sort"] for c in whole] == [[services.to_epoch_ms(_at(c.data["lastMessageDate"]))] for c in expected]
        paged: list[str] = []
        after: dict[str, Any] = {}
        while True:
            page = _conversations(world, sortBy="last_message_date", sort=sort, limit=4, **after)
            paged += [c["id"] for c in page]
            if len(page) < 4:
                break
            after = {"startAfterDate": page[-1]["sort"][0]}
        assert paged == [c.record_id for c in expected]  # no gaps, no repeats

    # The default order is the same: newest last message first.
    assert [c["id"] for c in _conversations(world, limit=100)] == [c.record_id for c in by_message[::-1]]


def test_the_control_endpoint_refuses_an_unknown_contact(world: World) -> None:
    reply = world.client.post(
        "/sandbox/_control/ghl/inbound-message",
        data={"contactId": "nobody", "message": "x"},
        content_type="application/json",
    )

    assert reply.status_code == 404
    assert reply.json() == {"error": "No such contact in the sandbox"}


def test_messages_filter_by_type_and_a_scheduled_one_can_be_cancelled_once(world: World) -> None:
    call = world.first("conversations.messages", data__messageType="TYPE_CALL")
    scheduled = world.first("conversations.messages", data__status="scheduled")

    calls = _json(
        world.op("get-messages", params={"conversationId": call.data["conversationId"]}, query={"type": "TYPE_CALL"}),
        200,
    )
    cancelled = world.op("cancel-scheduled-message", params={"messageId": scheduled.record_id})
    twice = world.op("cancel-scheduled-message", params={"messageId": scheduled.record_id})
    not_scheduled = world.op("cancel-scheduled-message", params={"messageId": call.record_id})

    assert [m["id"] for m in calls["messages"]] == [call.record_id]
    assert _json(cancelled, 200) == {"status": 200, "message": "Scheduled message cancelled"}
    assert twice.status_code == 404
    assert not_scheduled.status_code == 400


def test_a_call_recording_is_a_wav_file_and_its_transcription_text(world: World) -> None:
    call = world.first("conversations.messages", data__messageType="TYPE_CALL")

    audio = world.op("get-message-recording", params={"messageId": call.record_id, "locationId": LOCATION})
    text = world.op("download-message-transcription", params={"messageId": call.record_id, "locationId": LOCATION})

    assert audio.status_code == 200
    assert audio["Content-Type"] == "audio/x-wav"
    assert audio.content[:4] == b"RIFF"
    assert text["Content-Type"].startswith("text/plain")
    assert text.content.decode() == call.data["transcript"]


# ------------------------------------------------------------------------------
# Calendars: blocked slots, free slots, schedules
# ------------------------------------------------------------------------------
CALENDAR = "calDemoSales000000001"
MONDAY_UTC = {"startDate": "1767571200000", "endDate": "1767657600000"}  # 2026-01-05 00:00 .. 2026-01-06 00:00 UTC


def _slots(world: World) -> list[str]:
    answer = _json(world.op("get-slots", params={"calendarId": CALENDAR}, query=MONDAY_UTC), 200)
    return [slot for day in answer.values() for slot in day["slots"]]


def _at(text: str) -> datetime:
    moment = services.parse_time(text)
    assert moment is not None
    return moment


def _expected_monday_slots(world: World) -> list[str]:
    """Open 09:00-17:00 in 30-minute slots, minus the calendar's appointments and its user's blocked slots."""
    calendar = world.first("calendars", record_id=CALENDAR)
    user = calendar.data["teamMembers"][0]["userId"]
    busy = [
        (_at(r.data["startTime"]), _at(r.data["endTime"]))
        for r in [
            *world.records("appointment", data__calendarId=CALENDAR),
            *world.records("calendars.block-slots", data__calendarId=CALENDAR),
            *world.records("calendars.block-slots", data__assignedUserId=user),
        ]
        if r.data.get("appointmentStatus") not in ("cancelled", "invalid")
    ]
    day = services.parse_time("2026-01-05T09:00:00Z")
    assert day is not None
    slots = []
    for n in range(16):
        start = day + timedelta(minutes=30 * n)
        end = start + timedelta(minutes=30)
        if all(not (start < b_end and end > b_start) for b_start, b_end in busy):
            slots.append(start.isoformat())
    return slots


def test_free_slots_are_open_hours_minus_appointments_and_blocked_slots(world: World) -> None:
    slots = _slots(world)

    assert slots == _expected_monday_slots(world)
    assert "2026-01-05T12:00:00+00:00" not in slots  # the demo's lunch break
    assert "2026-01-05T09:00:00+00:00" in slots

    block = _json(
        world.op(
            "create-block-slot",
            version="2021-04-15",
            body={
                "calendarId": CALENDAR,
                "locationId": LOCATION,
                "startTime": "2026-01-05T14:00:00Z",
                "endTime": "2026-01-05T15:00:00Z",
            },
        ),
        201,
    )
    blocked = _slots(world)
    listed = _json(
        world.op(
            "get-blocked-slots",
            query={
                "locationId": LOCATION,
                "calendarId": CALENDAR,
                **{"startTime": MONDAY_UTC["startDate"], "endTime": MONDAY_UTC["endDate"]},
            },
        ),
        200,
    )
    assert "2026-01-05T14:00:00+00:00" in slots
    assert {"2026-01-05T14:00:00+00:00", "2026-01-05T14:30:00+00:00"}.isdisjoint(blocked)
    assert block["id"] in {event["id"] for event in listed["events"]}
    assert all(e["startTime"] < "2026-01-06" and e["endTime"] > "2026-01-05" for e in listed["events"])
    assert {e["calendarId"] for e in listed["events"]} == {CALENDAR}
    assert [e["startTime"] for e in listed["events"]] == sorted(e["startTime"] for e in listed["events"])

    deleted = world.op("delete-event", params={"eventId": block["id"]}, body={})
    assert _json(deleted, 201) == {"succeeded": True}
    assert _slots(world) == slots


def test_a_booked_appointment_takes_its_slot(world: World) -> None:
    contact = world.first("contact")
    free = _slots(world)
    start = free[len(free) // 2]

    world.op(
        "create-appointment",
        body={"calendarId": CALENDAR, "locationId": LOCATION, "contactId": contact.record_id, "startTime": start},
    )

    assert start in free
    assert start not in _slots(world)


def test_a_calendar_joins_and_leaves_a_schedule(world: World) -> None:
    schedule = world.first("calendars.schedules")
    calendar = world.records("calendars")[-1]
    params = {"id": schedule.record_id, "calendarId": calendar.record_id}

    _json(world.op("add-calendar-to-schedule", params=params), 200)
    joined = _json(world.op("getScheduleById", params={"id": schedule.record_id}), 200)["schedule"]["calendarIds"]
    _json(world.op("remove-calendar-from-schedule", params=params), 200)
    left = _json(world.op("getScheduleById", params={"id": schedule.record_id}), 200)["schedule"]["calendarIds"]

    assert joined == [*schedule.data["calendarIds"], calendar.record_id]
    assert left == schedule.data["calendarIds"]


# ------------------------------------------------------------------------------
# Associations, relations, custom fields, tags
# ------------------------------------------------------------------------------
def test_a_relation_links_two_records_under_an_association(world: World) -> None:
    association = world.first("associations", data__key="referred_by")
    first, second = world.records("contact")[5:7]

    relation = _json(
        world.op(
            "create-relation",
            body={
                "locationId": LOCATION,
                "associationId": association.record_id,
                "firstRecordId": first.record_id,
                "secondRecordId": second.record_id,
            },
        ),
        201,
    )
    of_second = _json(
        world.op(
            "get-relations-by-record-id",
            params={"recordId": second.record_id},
            query={"locationId": LOCATION, "skip": 0, "limit": 10},
        ),
        200,
    )
    world.op("delete-relation", params={"relationId": relation["id"]}, query={"locationId": LOCATION})
    after = _json(
        world.op(
            "get-relations-by-record-id",
            params={"recordId": second.record_id},
            query={"locationId": LOCATION, "skip": 0, "limit": 10},
        ),
        200,
    )

    assert relation["key"] == "referred_by"
    assert relation["firstObjectKey"] == "contact"
    assert [r["id"] for r in of_second["relations"]] == [relation["id"]]
    assert after["relations"] == []


def test_a_location_custom_field_gets_a_unique_key_from_its_name(world: World) -> None:
    params = {"locationId": LOCATION}
    first = _json(
        world.op("locations:create-custom-field", params=params, body={"name": "Pet name", "dataType": "TEXT"}), 201
    )
    second = _json(
        world.op("locations:create-custom-field", params=params, body={"name": "Pet name", "dataType": "TEXT"}), 201
    )
    opportunity = _json(
        world.op(
            "locations:create-custom-field",
            params=params,
            body={"name": "Deal score", "dataType": "NUMERICAL", "model": "opportunity"},
        ),
        201,
    )
    only_opportunity = _json(world.op("get-custom-fields", params=params, query={"model": "opportunity"}), 200)

    assert first["customField"]["fieldKey"] == "contact.pet_name"
    assert second["customField"]["fieldKey"] == "contact.pet_name_2"
    assert opportunity["customField"]["fieldKey"] == "opportunity.deal_score"
    assert {f["model"] for f in only_opportunity["customFields"]} == {"opportunity"}
    assert opportunity["customField"]["id"] in {f["id"] for f in only_opportunity["customFields"]}


def test_bulk_tags_are_added_and_removed_on_many_contacts(world: World) -> None:
    contacts = [c.record_id for c in world.records("contact")[:3]]

    added = _json(
        world.op(
            "create-association",
            app="contacts",
            params={"type": "add"},
            body={"contacts": [*contacts, "missing"], "tags": ["bulk-a", "bulk-b"], "locationId": LOCATION},
        ),
        201,
    )
    world.op(
        "create-association",
        app="contacts",
        params={"type": "remove"},
        body={"contacts": contacts[:1], "tags": ["bulk-a"], "locationId": LOCATION},
    )

    assert added == {"succeded": True, "errorCount": 1, "responses": ["missing: Contact not found"]}
    tags = {c: SandboxRecord.objects.get(record_id=c).data["tags"] for c in contacts}
    assert "bulk-a" not in tags[contacts[0]]
    assert "bulk-b" in tags[contacts[0]]
    assert all({"bulk-a", "bulk-b"} <= set(tags[c]) for c in contacts[1:])


# ------------------------------------------------------------------------------
# Paging: every record once, in a stable order
# ------------------------------------------------------------------------------
def _walk(world: World, fetch: Any, key: str) -> tuple[list[str], int]:
    seen: list[str] = []
    cursor: Any = None
    total = 0
    for _ in range(50):
        payload, cursor = fetch(cursor)
        total = payload.get("total", payload.get("count", payload.get("meta", {}).get("total", total)))
        seen += [row.get("id") or row.get("_id") for row in payload[key]]
        if cursor is None:
            break
    return seen, total


def test_opportunities_page_by_page_and_by_cursor_without_gaps_or_repeats(world: World) -> None:
    expected = {r.record_id for r in world.records("opportunities")}

    def by_page(page: Any) -> tuple[Any, Any]:
        page = page or 1
        payload = _json(world.op("search-opportunity", query={"location_id": LOCATION, "limit": 7, "page": page}), 200)
        return payload, page + 1 if payload["meta"].get("nextPage") else None

    def by_cursor(meta: Any) -> tuple[Any, Any]:
        query = {"location_id": LOCATION, "limit": 7, "order": "added_asc"}
        if meta:
            query.update({"startAfter": meta["startAfter"], "startAfterId": meta["startAfterId"]})
        payload = _json(world.op("search-opportunity", query=query), 200)
        return payload, payload["meta"] if payload["meta"].get("nextPage") else None

    paged, total = _walk(world, by_page, "opportunities")
    cursored, _ = _walk(world, by_cursor, "opportunities")

    assert total == len(expected) == 30
    assert len(paged) == len(set(paged)) == 30
    assert set(paged) == set(cursored) == expected
    assert len(cursored) == 30


def test_messages_page_by_last_message_id_newest_first(world: World) -> None:
    conversation = max(
        world.records("conversations"),
        key=lambda c: len(world.records("conversations.messages", data__conversationId=c.record_id)),
    )
    stored = world.records("conversations.messages", data__conversationId=conversation.record_id)

    def fetch(last: Any) -> tuple[Any, Any]:
        query = {"limit": 2, **({"lastMessageId": last} if last else {})}
        payload = _json(world.op("get-messages", params={"conversationId": conversation.record_id}, query=query), 200)
        return payload, payload["lastMessageId"] if payload["nextPage"] else None

    seen, _ = _walk(world, fetch, "messages")

    assert len(stored) > 2
    assert seen == [m.record_id for m in sorted(stored, key=lambda m: (m.created_at, m.record_id), reverse=True)]


def test_users_blog_posts_and_object_records_page_by_offset(world: World) -> None:
    for n in range(4):
        world.op(
            "create-user",
            body={
                "companyId": "sandbox-company",
                "firstName": f"Temp{n}",
                "lastName": "User",
                "email": f"temp{n}@example.com",
                "password": "x-secret-1",
                "type": "account",
                "role": "user",
                "locationIds": [LOCATION],
            },
        )

    def users(skip: Any) -> tuple[Any, Any]:
        skip = skip or 0
        payload = _json(world.op("search-users", query={"companyId": "sandbox-company", "skip": skip, "limit": 3}), 200)
        return payload, skip + 3 if skip + 3 < payload["count"] else None

    def posts(offset: Any) -> tuple[Any, Any]:
        offset = offset or 0
        query = {"locationId": LOCATION, "blogId": "blgDemoNews0000000001", "limit": 2, "offset": offset}
        payload = _json(world.op("get-blog-post", query=query), 200)
        return payload, offset + 2 if len(payload["blogs"]) == 2 else None

    seen_users, count = _walk(world, users, "users")
    seen_posts, _ = _walk(world, posts, "blogs")

    assert count == 9
    assert len(seen_users) == len(set(seen_users)) == 9
    blog = {r.record_id for r in world.records("blogs.posts", data__blogId="blgDemoNews0000000001")}
    assert len(seen_posts) == len(set(seen_posts)) == len(blog) == 3
    assert set(seen_posts) == blog


# ------------------------------------------------------------------------------
# Bad input still gets the spec's answers; routing follows the spec's matcher
# ------------------------------------------------------------------------------
def test_a_body_the_spec_refuses_is_422_before_anything_is_stored(world: World) -> None:
    count = len(world.records("opportunities"))

    answer = world.op(
        "create-opportunity",
        body={
            "pipelineId": "pplDemoSales000000001",
            "locationId": LOCATION,
            "name": 7,
            "status": "open",
            "colour": "red",
        },
    )

    assert answer.status_code == 422
    assert answer.json()["error"] == "Unprocessable Entity"
    assert sorted(answer.json()["message"]) == [
        "contactId must be a string",
        "contactId should not be empty",
        "name must be a string",
        "property colour should not exist",
    ]
    assert services.sandbox_stats()["ghl"]["spec_rejections"] == 1
    assert len(world.records("opportunities")) == count


def test_a_wrong_version_is_400_on_a_catalog_route(world: World) -> None:
    answer = world.op("get-groups", query={"locationId": LOCATION}, version="2021-07-28")

    assert answer.status_code == 400


def test_literal_segments_win_and_the_method_chooses_like_ghl(world: World) -> None:
    events = world.op(
        "get-calendar-events",
        query={
            "locationId": LOCATION,
            "calendarId": CALENDAR,
            "startTime": "1767225600000",
            "endTime": "1768435200000",
        },
    )
    locations = world.op("search-locations", query={"companyId": "sandbox-company"})
    contact_named_search = world.call("GET", "/contacts/search")

    assert events.status_code == 200
    assert "events" in events.json()
    assert [row["id"] for row in locations.json()["locations"]] == [LOCATION]
    assert contact_named_search.status_code == 404
    assert contact_named_search.json()["message"] == "Contact not found"  # get-contact with contactId "search"


def test_another_locations_records_are_not_found(world: World, client: Client) -> None:
    services.sandbox_account_create(system="ghl", account_id="locOther", secret="pit-other")
    deal = _opportunity(world)

    answer = world.call("GET", f"/opportunities/{deal.record_id}", token="pit-other")

    assert answer.status_code == 404
    assert answer.json()["message"] == "Opportunity not found"


def test_a_list_reads_the_same_number_of_rows_whatever_its_page_size(world: World) -> None:
    """Each record's contact is read with the page (one query), not one query per record."""
    world.op("search-opportunity", query={"location_id": LOCATION, "limit": 1})  # counters and the like exist now
    counts = []
    for limit in (2, 30):
        with CaptureQueriesContext(connection) as queries:
            page = _json(world.op("search-opportunity", query={"location_id": LOCATION, "limit": limit}), 200)
        assert len(page["opportunities"]) == limit
        assert all(row["contact"]["id"] == row["contactId"] for row in page["opportunities"])
        counts.append(len(queries.captured_queries))

    assert counts[0] == counts[1]


def test_records_whose_schema_declares_no_timestamps_still_tell_pollers_when_they_changed(world: World) -> None:
    user = world.first("users")

    before = _json(world.op("get-user", params={"userId": user.record_id}), 200)
    world.op("update-user", params={"userId": user.record_id}, body={"lastName": "Moreau-Smith"})
    after = _json(world.op("get-user", params={"userId": user.record_id}), 200)
    listed = _json(world.op("get-calendars", query={"locationId": LOCATION}), 200)["calendars"]

    assert after["dateAdded"] == before["dateAdded"]
    assert after["dateUpdated"] > before["dateUpdated"]
    assert all(row["dateAdded"] and row["dateUpdated"] for row in listed)
