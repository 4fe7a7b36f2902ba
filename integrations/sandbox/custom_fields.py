"""The fake GoHighLevel custom-field definitions of a location (Version 2021-07-28), kept as records of type
"custom_field" so that a rename or a deletion is seen by every process (the web page, the worker, the test).

`GET|POST /locations/{locationId}/customFields` (`model` = contact | opportunity | all, default all) and
`GET|PUT|DELETE /locations/{locationId}/customFields/{id}`; shapes from FACTS §5 and the spec's CustomFieldSchema:
{id, name, fieldKey ("contact.lead_source"), placeholder, dataType, position, picklistOptions, model, locationId}.
The routes go through views.ghl_view, so auth, the Version header, rate limits and faults apply as everywhere.
"""

from __future__ import annotations

import re
from typing import Any

from django.urls import URLPattern, re_path

from integrations.sandbox import services, views
from integrations.sandbox.ghl import GhlRequest, Result, ghl_error, unprocessable
from integrations.sandbox.models import SandboxAccount, SandboxRecord

CUSTOM_FIELD = "custom_field"
MODELS = ("contact", "opportunity")
DATA_TYPES = (
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
MSG_NOT_FOUND = "Custom field not found"
MSG_NAME = "name should not be empty"
MSG_DATA_TYPE = f"dataType must be one of the following values: {', '.join(DATA_TYPES)}"
MSG_MODEL = "model must be one of the following values: contact, opportunity"

# The demo location's fields (sandbox_seed_demo stores them); ids are fixed so demo contacts can carry values.
DEMO_FIELDS: tuple[dict[str, Any], ...] = (
    {"id": "cf_lead_source", "name": "Lead source", "dataType": "SINGLE_OPTIONS",
     "picklistOptions": ["Website", "Referral", "Trade show", "Advert"]},
    {"id": "cf_budget", "name": "Budget", "dataType": "MONETORY"},
    {"id": "cf_favourite_colour", "name": "Favourite colour", "dataType": "SINGLE_OPTIONS",
     "picklistOptions": ["red", "green", "blue"]},
)  # fmt: skip


def _key(name: str) -> str:
    return "contact." + (re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "field")


def render(record: SandboxRecord) -> dict[str, Any]:
    data = record.data
    return {
        "id": record.record_id,
        "name": data.get("name"),
        "fieldKey": data.get("fieldKey"),
        "placeholder": data.get("placeholder") or "",
        "dataType": data.get("dataType"),
        "position": data.get("position", 0),
        "picklistOptions": list(data.get("picklistOptions") or []),
        "model": data.get("model", "contact"),
        "locationId": record.account.account_id,
    }


def _clean(body: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    errors: list[str] = []
    cleaned: dict[str, Any] = {}
    if "name" in body or not partial:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            errors.append(MSG_NAME)
        else:
            cleaned["name"] = name.strip()
    if "dataType" in body or not partial:
        if body.get("dataType", "TEXT") not in DATA_TYPES:
            errors.append(MSG_DATA_TYPE)
        else:
            cleaned["dataType"] = body.get("dataType", "TEXT")
    if "model" in body and body["model"] not in MODELS:
        errors.append(MSG_MODEL)
    elif "model" in body or not partial:
        cleaned["model"] = body.get("model", "contact")
    for key in ("placeholder", "position", "picklistOptions"):
        if key in body:
            cleaned[key] = body[key]
    if errors:
        raise unprocessable(errors)
    return cleaned


def _field(account: SandboxAccount, field_id: str) -> SandboxRecord:
    record = services.sandbox_record_get(account=account, object_type=CUSTOM_FIELD, record_id=field_id)
    if record is None:
        raise ghl_error(404, MSG_NOT_FOUND)
    return record


def custom_field_list(req: GhlRequest, location_id: str) -> Result:
    account = req.location(location_id)
    model = req.query.get("model") or "all"
    if model not in (*MODELS, "all"):
        raise unprocessable(["model must be one of the following values: contact, opportunity, all"])
    rows = services.live_records(account=account, object_type=CUSTOM_FIELD).select_related("account")
    fields = [render(r) for r in rows.order_by("created_at", "record_id")]
    if model != "all":
        fields = [f for f in fields if f["model"] == model]
    return 200, {"customFields": sorted(fields, key=lambda f: f["position"])}


def custom_field_create(req: GhlRequest, location_id: str) -> Result:
    account = req.location(location_id)
    cleaned = _clean(req.body, partial=False)
    cleaned["fieldKey"] = _key(cleaned["name"])
    cleaned.setdefault("position", services.live_records(account=account, object_type=CUSTOM_FIELD).count())
    record = services.sandbox_record_put(account=account, object_type=CUSTOM_FIELD, data=cleaned)
    return 201, {"customField": render(record)}


def custom_field_get(req: GhlRequest, location_id: str, field_id: str) -> Result:
    return 200, {"customField": render(_field(req.location(location_id), field_id))}


def custom_field_update(req: GhlRequest, location_id: str, field_id: str) -> Result:
    """A rename keeps the id and the field key (GHL addresses values by id): the drift a mapping must notice."""
    account = req.location(location_id)
    record = _field(account, field_id)
    data = {**record.data, **_clean(req.body, partial=True)}
    record = services.sandbox_record_put(account=account, object_type=CUSTOM_FIELD, data=data, record_id=field_id)
    return 200, {"customField": render(record)}


def custom_field_delete(req: GhlRequest, location_id: str, field_id: str) -> Result:
    services.sandbox_record_delete(record=_field(req.location(location_id), field_id))
    return 200, {"succeded": True}


def sandbox_seed_custom_fields(*, account: SandboxAccount) -> int:
    """Store the demo location's custom fields (replacing earlier ones); returns how many."""
    SandboxRecord.objects.filter(account=account, object_type=CUSTOM_FIELD).delete()
    for position, field in enumerate(DEMO_FIELDS):
        data = {k: v for k, v in field.items() if k != "id"}
        data.update(fieldKey=_key(field["name"]), model="contact", position=position)
        services.sandbox_record_put(account=account, object_type=CUSTOM_FIELD, data=data, record_id=field["id"])
    return len(DEMO_FIELDS)


_LOCATION = r"^ghl/locations/(?P<location_id>[^/]+)/customFields"

ghl_patterns: list[URLPattern] = [
    re_path(
        rf"{_LOCATION}/?$",
        views.ghl_view({"GET": custom_field_list, "POST": custom_field_create}),
        name="ghl-custom-fields",
    ),
    re_path(
        rf"{_LOCATION}/(?P<field_id>[^/]+)/?$",
        views.ghl_view({"GET": custom_field_get, "PUT": custom_field_update, "DELETE": custom_field_delete}),
        name="ghl-custom-field",
    ),
]
