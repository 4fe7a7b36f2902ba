"""Associations and relations, custom objects and their fields, blogs, and OAuth's installed locations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Q

from sandbox.catalog import shapes
from sandbox.catalog.common import action, hook, iso, written
from sandbox.catalog.engine import Call, Plan, not_found
from sandbox.catalog.locations import location_profile
from sandbox.ghl import Result, ghl_error, unprocessable
from sandbox.models import SandboxRecord

MSG_OBJECT_KEY = "key must start with custom_objects."


# ------------------------------------------------------------------------------
# Associations and relations, custom objects
# ------------------------------------------------------------------------------
ASSOCIATION_FIELDS = (
    "key",
    "firstObjectKey",
    "firstObjectLabel",
    "secondObjectKey",
    "secondObjectLabel",
    "associationType",
)


@written("associations.relations")
def _relation_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    """A relation links two records under an association and answers with the association's keys and labels."""
    if old is None:
        association = call.referenced("associationId", data["associationId"])
        if association is not None:
            data.update({key: association.data.get(key) for key in ASSOCIATION_FIELDS})
    return data


@hook("relations_of_record")
def relations_of_record(call: Call, plan: Plan) -> None:
    record_id = call.params["recordId"]
    plan.qs = plan.qs.filter(Q(data__firstRecordId=record_id) | Q(data__secondRecordId=record_id))
    wanted = [part for part in str(call.req.query.get("associationIds") or "").split(",") if part]
    plan.consumed.add("associationIds")
    if wanted:
        plan.qs = plan.qs.filter(data__associationId__in=wanted)


@action("association_by_object_key")
def association_by_object_key(call: Call) -> Result:
    key = call.params["objectKey"]
    rows = list(
        call.records("associations")
        .filter(Q(data__firstObjectKey=key) | Q(data__secondObjectKey=key))
        .select_related("account")
        .order_by("created_at", "record_id")
    )
    if not rows:
        raise not_found("associations")
    shape = shapes.shape_of(call.op, many=False)
    items = call.render(rows, shape.item, "associations")
    return 200, {**items[0], "associations": items}


@written("objects")
def _object_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    if old is None:
        if not str(data.get("key", "")).startswith("custom_objects."):
            raise unprocessable([MSG_OBJECT_KEY])
        if call.records("objects").filter(data__key=data["key"]).exists():
            raise ghl_error(400, f"An object with the key {data['key']} already exists", "Bad Request")
        details = data.pop("primaryDisplayPropertyDetails", None) or {}
        data["primaryDisplayProperty"] = details.get("key") or f"{data['key']}.name"
    data.pop("searchableProperties", None)
    return data


@hook("object_with_fields")
def object_with_fields(call: Call, record: SandboxRecord) -> dict[str, Any]:
    """GET /objects/{key}: the schema with its custom fields."""
    rows = list(call.records("custom-fields").filter(data__objectKey=record.data.get("key")))
    shape = shapes.shape_of(call.op, many=False)
    fields = (shape.envelope.get("properties") or {}).get("fields") or {}
    return {"cache": False, "fields": call.render(rows, shapes.unwrap(fields.get("items") or {}), "custom-fields")}


@written("objects.records")
def _object_record_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    """A record knows its object; its properties' values are what a search's `query` finds."""
    stored = data.get("properties")
    properties: dict[str, Any] = stored if isinstance(stored, dict) else {}
    data["_text"] = " ".join(str(value) for value in properties.values() if isinstance(value, str | int | float))
    if old is None:
        schema = call.find("objects", data.get("schemaKey", ""), lookup="key")
        if schema is not None:
            data["objectId"] = schema.record_id
            data["objectKey"] = schema.data.get("key")
    return data


# ------------------------------------------------------------------------------
# Blogs, OAuth installations
# ------------------------------------------------------------------------------
@action("blog_slug_exists")
def blog_slug_exists(call: Call) -> Result:
    rows = call.records("blogs.posts").filter(data__urlSlug=call.req.query["urlSlug"])
    if call.req.query.get("postId"):
        rows = rows.exclude(record_id=call.req.query["postId"])
    return call.answer(values={"exists": rows.exists()})


@action("installed_locations")
def installed_locations(call: Call) -> Result:
    """GET /oauth/installedLocations: the locations the token opens, all installed."""
    inputs = call.inputs()
    accounts = sorted(call.req.accounts, key=lambda account: account.account_id)
    if inputs.get("locationId"):
        accounts = [account for account in accounts if account.account_id == inputs["locationId"]]
    if inputs.get("query"):
        accounts = [account for account in accounts if str(inputs["query"]).lower() in account.name.lower()]
    if inputs.get("isInstalled") is False:
        accounts = []
    skip, limit = int(inputs.get("skip") or 0), int(inputs.get("limit") or 20)
    items = [
        {
            "_id": account.account_id,
            "name": account.name or account.account_id,
            "address": str(location_profile(account).get("address") or ""),
            "isInstalled": True,
            "installedAt": iso(account.created_at),
        }
        for account in accounts[skip : skip + limit]
    ]
    return call.answer(values={"locations": items, "count": len(accounts), "installToFutureLocations": False})
