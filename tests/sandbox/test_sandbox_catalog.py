"""Every operation of GHL's spec that the catalog serves answers a valid request (built from the spec, ids from the
demo data) with the spec's success status and a body valid against the spec's response schema; nothing the
sandbox refuses along the way."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

import ghl_spec
from ghl_spec import Operation
from sandbox import services
from sandbox.catalog import rules as catalog_rules
from sandbox.catalog.shapes import response_problems, shape_of
from sandbox.models import SandboxRecord
from tests.sandbox.test_sandbox_catalog_helpers import World, build_world, request_for, send

pytestmark = pytest.mark.django_db


def _new_contact(world: World) -> str:
    """A contact without a conversation."""
    with_conversation = {row.data["contactId"] for row in world.records("conversations")}
    return next(row.record_id for row in world.records("contact") if row.record_id not in with_conversation)


def _message(world: World, **filters: Any) -> str:
    return world.first("conversations.messages", **filters).record_id


# Where the request built from the spec alone is not a valid one for the sandbox's state (a unique value, a record
# of a particular kind): per operation, "params" / "query" / "body" to use instead (a value or a function of the
# world).
OVERRIDES: dict[str, dict[str, Any]] = {
    "create-calendar-group": {
        "body": {"locationId": "locCatalog", "name": "Partners", "description": "Partner calls", "slug": "partners"}
    },
    "edit-group": {"body": {"name": "Sales team", "description": "Renamed", "slug": "sales-team"}},
    "create-user": {
        "body": {
            "companyId": "sandbox-company",
            "firstName": "Frank",
            "lastName": "Nguyen",
            "email": "frank@demo-agency.example",
            "password": "not-stored-1",
            "type": "account",
            "role": "user",
            "locationIds": ["locCatalog"],
        }
    },
    "custom-fields:create-custom-field": {
        "body": {
            "locationId": "locCatalog",
            "name": "Age",
            "dataType": "NUMERICAL",
            "fieldKey": "custom_objects.pets.age",
            "objectKey": "custom_objects.pets",
            "parentId": lambda w: w.first("custom-fields.folder").record_id,
            "showInForms": True,
        }
    },
    "create-custom-object-schema": {
        "body": {
            "locationId": "locCatalog",
            "key": "custom_objects.boats",
            "labels": {"singular": "Boat", "plural": "Boats"},
            "primaryDisplayPropertyDetails": {"key": "custom_objects.boats.name", "name": "Name", "dataType": "TEXT"},
        }
    },
    "create-conversation": {"body": lambda w: {"locationId": "locCatalog", "contactId": _new_contact(w)}},
    "get-message-recording": {"params": {"messageId": lambda w: _message(w, data__messageType="TYPE_CALL")}},
    "get-message-transcription": {"params": {"messageId": lambda w: _message(w, data__messageType="TYPE_CALL")}},
    "download-message-transcription": {"params": {"messageId": lambda w: _message(w, data__messageType="TYPE_CALL")}},
    "cancel-scheduled-message": {"params": {"messageId": lambda w: _message(w, data__status="scheduled")}},
    "cancel-scheduled-email-message": {"params": {"emailMessageId": lambda w: _message(w, data__status="scheduled")}},
    "add-an-inbound-message": {
        "body": lambda w: {
            "type": "SMS",
            "conversationId": w.first("conversations").record_id,
            "contactId": w.first("conversations").data["contactId"],
            "conversationProviderId": "provider-demo",
            "message": "Is anyone there?",
        }
    },
    "add-an-outbound-message": {
        "body": lambda w: {
            "type": "Call",
            "conversationId": w.first("conversations").record_id,
            "conversationProviderId": "provider-demo",
        }
    },
    "create-relation": {
        "body": lambda w: {
            "locationId": "locCatalog",
            "associationId": w.first("associations").record_id,
            "firstRecordId": w.first("objects.records").record_id,
            "secondRecordId": w.first("contact").record_id,
        }
    },
    "get-relations-by-record-id": {
        "params": {"recordId": lambda w: w.first("associations.relations").data["firstRecordId"]}
    },
    "get-association-key-by-key-name": {"params": {"key_name": "pet_owner"}},
    "get-association-by-object-keys": {"params": {"objectKey": "custom_objects.pets"}},
    "create-opportunity": {
        "body": lambda w: {
            "pipelineId": w.first("opportunities.pipelines").record_id,
            "locationId": "locCatalog",
            "name": "New deal",
            "status": "open",
            "contactId": w.first("contact").record_id,
        }
    },
    "update-opportunity-status": {"body": {"status": "won"}},
    "Upsert-opportunity": {
        "body": lambda w: {
            "pipelineId": w.first("opportunities.pipelines").record_id,
            "locationId": "locCatalog",
            "followers": [],
            "isRemoveAllFollowers": False,
            "followersActionType": "add",
            "name": "Upserted deal",
        }
    },
    "create-block-slot": {
        "body": lambda w: {
            "calendarId": w.first("calendars").record_id,
            "locationId": "locCatalog",
            "startTime": "2026-01-09T15:00:00Z",
            "endTime": "2026-01-09T16:00:00Z",
        }
    },
    "edit-block-slot": {
        "body": lambda w: {"calendarId": w.first("calendars").record_id, "locationId": "locCatalog", "title": "Busy"}
    },
    "get-blocked-slots": {"query": lambda w: {"calendarId": w.first("calendars").record_id}},
    "get-slots": {"query": {"startDate": "1767571200000", "endDate": "1768176000000"}},
    "get-calendar-resource": {"params": {"resourceType": "rooms"}},
    "update-calendar-resource": {"params": {"resourceType": "rooms"}},
    "delete-calendar-resource": {"params": {"resourceType": "rooms"}},
    "fetch-calendar-resources": {"params": {"resourceType": "rooms"}},
    "create-calendar-resource": {
        "params": {"resourceType": "equipments"},
        "body": lambda w: {
            "locationId": "locCatalog",
            "name": "Speaker",
            "description": "Portable speaker",
            "quantity": 1,
            "outOfService": 0,
            "capacity": 0,
            "calendarIds": [w.first("calendars").record_id],
        },
    },
    "add-calendar-to-schedule": {"params": {"calendarId": lambda w: w.records("calendars")[-1].record_id}},
    "createSchedule": {
        "body": lambda w: {
            "locationId": "locCatalog",
            "name": "Weekend cover",
            "timezone": "America/New_York",
            "userId": w.first("users").record_id,
        }
    },
    "check-url-slug-exists": {"query": {"urlSlug": "our-spring-release", "locationId": "locCatalog"}},
    "contacts:create-association": {
        "params": {"type": "add"},
        "body": lambda w: {"contacts": [w.first("contact").record_id], "tags": ["vip"], "locationId": "locCatalog"},
    },
    "send-a-new-message": {
        "body": lambda w: {
            "type": "SMS",
            "subType": {},
            "contactId": w.first("contact").record_id,
            "message": "Hello from the sandbox",
            "status": "delivered",
        }
    },
    "update-blog-post": {
        "body": lambda w: {
            **{k: v for k, v in w.first("blogs.posts").data.items() if k not in ("archived",)},
            "locationId": "locCatalog",
            "title": "Renamed post",
        }
    },
    "create-blog-post": {
        "body": lambda w: {
            "title": "Hello",
            "locationId": "locCatalog",
            "blogId": w.first("blogs.site").record_id,
            "imageUrl": "https://demo.example/i.png",
            "description": "d",
            "rawHTML": "<p>x</p>",
            "status": "DRAFT",
            "imageAltText": "i",
            "categories": [],
            "author": w.first("blogs.authors").record_id,
            "urlSlug": "hello",
            "publishedAt": "2026-01-10T00:00:00.000Z",
        }
    },
    "get-contact-unsubscription-status": {
        "query": lambda w: {"locationId": "locCatalog", "contactId": w.first("contact").record_id}
    },
}


def _operations() -> list[Operation]:
    return sorted((rule.op for rule in catalog_rules.rules().values()), key=lambda op: (op.app, op.path, op.method))


def _override(op: Operation) -> dict[str, Any]:
    return OVERRIDES.get(f"{op.app}:{op.operation_id}") or OVERRIDES.get(op.operation_id) or {}


@pytest.fixture
def world(client: Client) -> World:
    return build_world(client)


@pytest.mark.parametrize("op", _operations(), ids=lambda op: f"{op.app}:{op.operation_id}")
def test_every_operation_answers_a_valid_request_in_its_declared_shape(world: World, op: Operation) -> None:
    request = request_for(world, op, _override(op))
    verdict = ghl_spec.validate(
        request.method, request.path, query=request.query, body=request.body, headers={"Version": op.version or ""}
    )
    assert verdict.operation is not None
    assert verdict.operation.key == op.key, f"{request.path} routes to {verdict.operation.operation_id}"
    assert verdict.errors == [], f"the test built an invalid request: {verdict.errors}"

    response = send(world, request)

    assert response.status_code == op.success_status, response.content[:500]
    assert services.sandbox_stats()["ghl"]["spec_rejections"] == 0
    if response["Content-Type"].startswith("application/json"):
        assert response_problems(op, response.json()) == []
        assert _changed_fields(op, response.json()) == []
    else:
        assert response.content


# Stored values an answer shows in another type on purpose: a conversation's type is a number on a read and its
# name (TYPE_PHONE) in search results.
KNOWN_CONVERSIONS = {("conversations", "type")}


def _changed_fields(op: Operation, payload: Any) -> list[str]:
    """Stored scalar values that a read's answer drops or changes, for the fields the answer declares: the shape
    may add what a record lacks, never lose or alter what it has."""
    rule = catalog_rules.rules()[op.key]
    if rule.kind not in (catalog_rules.GET, catalog_rules.LIST):
        return []
    shape = shape_of(op, many=rule.kind == catalog_rules.LIST, slot=rule.slot)
    body = payload if shape.slot is None else payload.get(shape.slot)
    rendered = body if isinstance(body, list) else [body] if isinstance(body, dict) else []
    declared = set(shape.item.get("properties") or {})
    problems = []
    for item in rendered:
        stored = SandboxRecord.objects.filter(
            object_type=rule.resource, record_id=item.get("id") or item.get("_id") or ""
        ).first()
        if stored is None:
            continue
        for key, value in stored.data.items():
            scalar = isinstance(value, str | int | float | bool)
            if scalar and key in declared and (rule.resource, key) not in KNOWN_CONVERSIONS and item.get(key) != value:
                problems.append(f"{stored.record_id}.{key}: stored {value!r}, answered {item.get(key)!r}")
    return problems


def test_the_catalog_serves_every_operation_of_the_spec_but_the_existing_ones() -> None:
    spec = ghl_spec.get_spec()
    served = set(catalog_rules.rules())
    existing = {op.key for op in spec.operations if catalog_rules.is_existing(op)}

    assert len(spec.operations) == 195
    assert served | existing == {op.key for op in spec.operations}
    assert len(served) == 157
