"""Locations (the sandbox accounts themselves), timezones, location custom fields and values, recurring tasks."""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from functools import cache
from typing import Any

from django.db import transaction

from sandbox import services
from sandbox.catalog import shapes
from sandbox.catalog.common import action, slugify, written
from sandbox.catalog.engine import Call
from sandbox.ghl import Result, ghl_error, unprocessable
from sandbox.models import SandboxAccount, SandboxSystem

LOCATION_PROFILE = "locations"  # PUT /locations/{id} details, one record per location (record id = location id)
COMPANY = "sandbox-company"  # the companyId ghl.location_get answers for every location


# ------------------------------------------------------------------------------
# Locations (the sandbox accounts), timezones, custom fields, custom values
# ------------------------------------------------------------------------------
def location_view(account: SandboxAccount, profile: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": account.account_id,
        "companyId": COMPANY,
        "name": account.name or account.account_id,
        "timezone": "UTC",
        "country": "US",
        **(profile or {}),
        "settings": {
            "allowDuplicateContact": account.allow_duplicate_contacts,
            **((profile or {}).get("settings") or {}),
        },
    }


def location_profile(account: SandboxAccount) -> dict[str, Any]:
    record = services.sandbox_record_get(account=account, object_type=LOCATION_PROFILE, record_id=account.account_id)
    return dict(record.data) if record is not None else {}


def _location_answer(call: Call, account: SandboxAccount) -> Result:
    view = location_view(account, location_profile(account))
    shape = shapes.shape_of(call.op, many=False)
    return call.op.success_status or 200, shapes.render_object(view, shape.item)


@action("locations_search")
def locations_search(call: Call) -> Result:
    """GET /locations/search: the token's locations by name (skip, limit default 10, order asc|desc, email)."""
    inputs = call.inputs()
    accounts = sorted(call.req.accounts, key=lambda account: (account.name.lower(), account.account_id))
    if str(inputs.get("order") or "asc").lower() == "desc":
        accounts.reverse()
    views = [location_view(account, location_profile(account)) for account in accounts]
    if inputs.get("email"):
        views = [view for view in views if str(view.get("email") or "").lower() == str(inputs["email"]).lower()]
    skip, limit = int(inputs.get("skip") or 0), int(inputs.get("limit") or 10)
    shape = shapes.shape_of(call.op, many=True)
    items = [shapes.render_object(view, shape.item) for view in views[skip : skip + limit]]
    return 200, shapes.envelope(shape, items, values={})


_PROFILE_SECRETS = ("twilio", "mailgun", "snapshot", "snapshotId", "prospectInfo")


@action("location_update")
def location_update(call: Call) -> Result:
    """PUT /locations/{id}: the location's details (name on the account itself; secrets are not kept)."""
    account = call.req.location(call.params["locationId"])
    profile = {**location_profile(account), **{k: v for k, v in call.body.items() if k not in _PROFILE_SECRETS}}
    if isinstance(call.body.get("name"), str) and call.body["name"]:
        account.name = call.body["name"]
        account.save(update_fields=["name"])
        services.sandbox_request_cache_clear()  # the cached account of this token has the old name
    services.sandbox_record_put(
        account=account, object_type=LOCATION_PROFILE, record_id=account.account_id, data=profile
    )
    return _location_answer(call, account)


@action("location_create")
def location_create(call: Call) -> Result:
    """POST /locations/: a new sub-account the caller's token opens too."""
    home = call.req.accounts[0]
    account = services.sandbox_account_create(
        system=SandboxSystem.GHL, account_id=services.new_id(), secret=home.secret, name=call.body["name"]
    )
    profile = {k: v for k, v in call.body.items() if k not in _PROFILE_SECRETS}
    services.sandbox_record_put(
        account=account, object_type=LOCATION_PROFILE, record_id=account.account_id, data=profile
    )
    return _location_answer(call, account)


@action("location_delete")
def location_delete(call: Call) -> Result:
    """DELETE /locations/{id}: the sub-account and everything in it."""
    account = call.req.location(call.params["locationId"])
    with transaction.atomic():
        account.delete()
    return call.answer(values={"success": True, "message": "Location deleted"})


@cache
def _timezones() -> list[str]:
    return sorted(zone for zone in zoneinfo.available_timezones() if "/" in zone and not zone.startswith("Etc/"))


@action("timezones")
def timezones(call: Call) -> Result:
    call.req.location(call.params["locationId"])
    return 200, {"timeZones": _timezones()}


# GHL's custom-field data types (the spec types dataType as a plain string; GHL refuses any other value).
FIELD_DATA_TYPES = (
    "TEXT",
    "LARGE_TEXT",
    "NUMERICAL",
    "PHONE",
    "MONETORY",  # sic: GHL's spelling
    "CHECKBOX",
    "SINGLE_OPTIONS",
    "MULTIPLE_OPTIONS",
    "DATE",
    "FILE_UPLOAD",
    "TEXTBOX_LIST",
)


@written("locations.customFields")
def _location_field_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    """A new field's key is `<model>.<name in snake case>` (contact.favourite_colour), unique in the location."""
    problems = []
    if not str(data.get("name") or "").strip():
        problems.append("name should not be empty")
    if data.get("dataType") is not None and data.get("dataType") not in FIELD_DATA_TYPES:
        problems.append(f"dataType must be one of the following values: {', '.join(FIELD_DATA_TYPES)}")
    if problems:
        raise unprocessable(problems)
    if old is None:
        data.setdefault("model", "contact")
        data["fieldKey"] = _unique_key(call, "locations.customFields", f"{data['model']}.{slugify(data.get('name'))}")
        data.setdefault("position", call.records("locations.customFields").count())
    return data


@written("locations.customValues")
def _location_value_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    if old is None or old.get("name") != data.get("name"):
        data["fieldKey"] = "{{ custom_values." + slugify(data.get("name")) + " }}"
    return data


def _unique_key(call: Call, resource: str, key: str) -> str:
    candidate, n = key, 1
    while call.records(resource).filter(data__fieldKey=candidate).exists():
        n += 1
        candidate = f"{key}_{n}"
    return candidate


@action("custom_fields_by_object")
def custom_fields_by_object(call: Call) -> Result:
    """GET /custom-fields/object-key/{objectKey}: the object's fields and folders."""
    key = call.params["objectKey"]
    shape = shapes.shape_of(call.op, many=False)
    properties = shape.envelope.get("properties") or {}
    found: dict[str, Any] = {}
    for slot, resource in (("fields", "custom-fields"), ("folders", "custom-fields.folder")):
        rows = list(call.records(resource).filter(data__objectKey=key).order_by("created_at", "record_id"))
        item = shapes.unwrap((properties.get(slot) or {}).get("items") or {})
        found[slot] = call.render(rows, item if resource == "custom-fields" else {}, resource)
    return 200, found


@written("custom-fields")
def _custom_field_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    if old is None and call.records("custom-fields").filter(data__fieldKey=data.get("fieldKey")).exists():
        raise ghl_error(400, f"A field with the key {data.get('fieldKey')} already exists", "Bad Request")
    return data


@written("locations.recurring-tasks")
def _recurring_task_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    """GHL answers one contact and one assignee: the first of contactIds and owners."""
    if data.get("contactIds"):
        data["contactId"] = data["contactIds"][0]
    if data.get("owners"):
        data["assignedTo"] = data["owners"][0]
    return data
