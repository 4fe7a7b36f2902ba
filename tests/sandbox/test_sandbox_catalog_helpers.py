"""Helpers for the catalog tests (no tests here): a seeded demo world, and a valid request for any operation built
from GHL's spec (required parameters and a minimal body, ids taken from the demo data)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.test import Client

import ghl_spec
from ghl_spec import Operation
from sandbox import services
from sandbox.catalog import rules as catalog_rules
from sandbox.catalog.demo import BASE_TIME
from sandbox.demo import sandbox_seed_demo, sandbox_seed_demo_catalog, sandbox_seed_demo_children
from sandbox.models import SandboxAccount, SandboxRecord

LOCATION = "locCatalog"
TOKEN = "pit-catalog"
ST_KEY = "st-catalog"


@dataclass
class World:
    """The seeded demo location and a client that calls its GHL sandbox."""

    client: Client
    account: SandboxAccount
    counts: dict[str, int] = field(default_factory=dict)

    def records(self, object_type: str, **filters: Any) -> list[SandboxRecord]:
        rows = SandboxRecord.objects.filter(account=self.account, object_type=object_type, deleted=False, **filters)
        return list(rows.order_by("created_at", "record_id"))

    def first(self, object_type: str, **filters: Any) -> SandboxRecord:
        rows = self.records(object_type, **filters)
        assert rows, f"no demo {object_type} matching {filters}"
        return rows[0]

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, Any] | None = None,
        version: str | None = "2021-07-28",
        token: str = TOKEN,
        multipart: bool = False,
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        if version:
            headers["Version"] = version
        url = "/sandbox/ghl" + path
        if method == "GET":
            return self.client.get(url, data=query or {}, headers=headers)
        if query:
            url += "?" + "&".join(f"{key}={value}" for key, value in query.items())
        if multipart:
            return self.client.post(url, data=body or {}, headers=headers)
        data = "" if body is None else json.dumps(body)
        return self.client.generic(method, url, data=data, content_type="application/json", headers=headers)

    def op(self, operation_id: str, app: str | None = None, **kwargs: Any) -> Any:
        """Call one operation by id: path parameters by name, the rest as for call()."""
        if ":" in operation_id:
            app, operation_id = operation_id.split(":", 1)
        operation = ghl_spec.operation(operation_id, app=app)
        params = kwargs.pop("params", {})
        path = operation.path
        for name, value in params.items():
            path = path.replace("{" + name + "}", str(value))
        kwargs.setdefault("version", operation.version)
        return self.call(operation.method, path, **kwargs)


def build_world(client: Client, *, size: int = 40) -> World:
    """The demo data of every area in one location (contacts, children, then the catalog)."""
    counts = sandbox_seed_demo(ghl_location_id=LOCATION, ghl_token=TOKEN, streettext_api_key=ST_KEY, size=size)
    counts.update(sandbox_seed_demo_children(ghl_location_id=LOCATION, streettext_api_key=ST_KEY))
    counts.update(sandbox_seed_demo_catalog(ghl_location_id=LOCATION))
    account = SandboxAccount.objects.get(system="ghl", account_id=LOCATION)
    return World(client=client, account=account, counts=counts)


# ------------------------------------------------------------------------------
# A valid request for any operation
# ------------------------------------------------------------------------------
@dataclass
class Request:
    method: str
    path: str
    query: dict[str, Any]
    body: Any
    version: str | None
    multipart: bool = False


def _ms(moment: Any) -> int:
    return services.to_epoch_ms(moment)


def _named(world: World, name: str) -> Any:
    """A demo value for a parameter or body field known by name; None when the name says nothing."""
    first = world.first
    values = {
        "locationId": lambda: LOCATION,
        "location_id": lambda: LOCATION,
        "companyId": lambda: "sandbox-company",
        "contactId": lambda: first("contact").record_id,
        "calendarId": lambda: first("calendars").record_id,
        "groupId": lambda: first("calendars.groups").record_id,
        "appointmentId": lambda: first("appointment").record_id,
        "userId": lambda: first("users").record_id,
        "pipelineId": lambda: first("opportunities.pipelines").record_id,
        "pipelineStageId": lambda: first("opportunities.pipelines").data["stages"][0]["id"],
        "conversationId": lambda: first("conversations").record_id,
        "workflowId": lambda: first("workflows").record_id,
        "campaignId": lambda: first("campaigns").record_id,
        "associationId": lambda: first("associations").record_id,
        "blogId": lambda: first("blogs.site").record_id,
        "schemaKey": lambda: first("objects").data["key"],
        "objectKey": lambda: first("objects").data["key"],
        "startTime": lambda: str(_ms(BASE_TIME - timedelta(days=7))),
        "endTime": lambda: str(_ms(BASE_TIME + timedelta(days=14))),
        "startDate": lambda: str(_ms(BASE_TIME)),
        "endDate": lambda: str(_ms(BASE_TIME + timedelta(days=7))),
        "limit": lambda: "10",
        "skip": lambda: "0",
        "offset": lambda: "0",
        "originId": lambda: "sandbox-company",
        "appId": lambda: "app-demo",
        "urlSlug": lambda: "a-new-post",
        "deleteTwilioAccount": lambda: "false",
        "email": lambda: "someone.new@example.com",
    }
    getter = values.get(name)
    return getter() if getter is not None else None


def _value(schema: Any, errors_ok: bool = False) -> Any:
    """A minimal valid value of a request schema: its example or default when valid, else the first enum value,
    else an empty value of the type (objects with their required fields)."""
    if not isinstance(schema, dict):
        return None
    for key in ("example", "default"):
        if key in schema and not ghl_spec.validation.schema_messages(schema, schema[key]):
            return schema[key]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return _value(schema[key][0])
    kind = schema.get("type")
    if kind == "object" or schema.get("properties"):
        return {name: _value(schema["properties"][name]) for name in schema.get("required") or []}
    if kind == "array":
        item = _value(schema.get("items") or {})
        return [item] if schema.get("minItems") else []
    return {"string": "x", "number": 1, "integer": 1, "boolean": False}.get(str(kind))


def _body(world: World, op: Operation) -> Any:
    if op.request_body is None:
        return None
    schema = op.request_body.schema
    if schema.get("type") == "array":
        return [_object(world, schema.get("items") or {})]
    return _object(world, schema)


def _object(world: World, schema: Mapping[str, Any]) -> dict[str, Any]:
    body = {}
    for name in schema.get("required") or []:
        named = _named(world, name)
        declared = schema["properties"][name]
        if named is not None and declared.get("type") in ("number", "integer"):
            named = int(named)
        body[name] = named if named is not None else _value(declared)
    return body


def _id_for(world: World, op: Operation, name: str) -> str:
    rule = catalog_rules.rules().get(op.key) or catalog_rules.rule_for(op)
    if name == "locationId":
        return LOCATION
    if name in catalog_rules.REFERENCES and name not in ("schemaKey",) and rule.lookup is None:
        return str(_named(world, name))
    if name == rule.id_param or (name in rule.parents and name not in catalog_rules.REFERENCES):
        record = world.first(rule.resource)
        return str(record.data[rule.lookup]) if rule.lookup else record.record_id
    named = _named(world, name)
    if named is not None:
        return str(named)
    raise AssertionError(f"no demo value for path parameter {name} of {op.operation_id}")


def request_for(world: World, op: Operation, overrides: dict[str, Any] | None = None) -> Request:
    """A valid request for `op`: required path/query parameters and a minimal body, ids from the demo world.
    `overrides` may set "params", "query" and "body" (a callable taking the world, or a value)."""
    overrides = overrides or {}
    params = _resolve(world, overrides.get("params", {}))
    for segment in op.segments:
        name = segment[1:-1]
        if segment.startswith("{") and name not in params:
            params[name] = _id_for(world, op, name)
    query = {}
    for parameter in op.params("query"):
        if parameter.required:
            named = _named(world, parameter.name)
            query[parameter.name] = named if named is not None else _value(parameter.schema)
    query.update(_resolve(world, overrides.get("query", {})))
    body = _resolve(world, overrides["body"]) if "body" in overrides else _body(world, op)
    path = op.path
    for name, value in params.items():
        path = path.replace("{" + name + "}", str(value))
    multipart = op.request_body is not None and op.request_body.content_type == "multipart/form-data"
    return Request(op.method, path, query, body, op.version, multipart)


def _resolve(world: World, value: Any) -> Any:
    if callable(value):
        return value(world)
    if isinstance(value, dict):
        return {key: _resolve(world, item) for key, item in value.items()}
    return value


def send(world: World, request: Request) -> Any:
    return world.call(
        request.method,
        request.path,
        body=request.body,
        query=request.query,
        version=request.version,
        multipart=request.multipart,
    )
