"""The demo location's GoHighLevel custom fields, with fixed ids so demo contacts can carry values for them.

They are stored like every other location custom field of the sandbox (records of type "locations.customFields",
served by the spec-driven catalog engine in sandbox/catalog/:
`GET|POST /locations/{locationId}/customFields`,
`GET|PUT|DELETE …/customFields/{id}`), so a rename or a deletion is seen by every process (the web page, the worker,
the test) and the mapping page can show a drifted field.
"""

from __future__ import annotations

import re
from typing import Any

from sandbox import services
from sandbox.models import SandboxAccount, SandboxRecord

CUSTOM_FIELD = "locations.customFields"

# The demo location's fields (sandbox_seed_demo stores them); ids are fixed so demo contacts can carry values.
DEMO_FIELDS: tuple[dict[str, Any], ...] = (
    {"id": "cf_lead_source", "name": "Lead source", "dataType": "SINGLE_OPTIONS",
     "picklistOptions": ["Website", "Referral", "Trade show", "Advert"]},
    {"id": "cf_budget", "name": "Budget", "dataType": "MONETORY"},
    {"id": "cf_favourite_colour", "name": "Favourite colour", "dataType": "SINGLE_OPTIONS",
     "picklistOptions": ["red", "green", "blue"]},
)  # fmt: skip


def field_key(name: str, model: str = "contact") -> str:
    """GHL's fieldKey for a field name: "contact.lead_source"."""
    return f"{model}." + (re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "field")


def demo_field_data(field: dict[str, Any], position: int) -> dict[str, Any]:
    """One demo field as the catalog engine stores custom fields."""
    return {
        "name": field["name"],
        "fieldKey": field_key(field["name"]),
        "placeholder": field["name"],
        "dataType": field["dataType"],
        "position": position,
        "picklistOptions": list(field.get("picklistOptions") or []),
        "model": "contact",
    }


def sandbox_seed_custom_fields(*, account: SandboxAccount) -> int:
    """Store the demo location's custom fields (replacing earlier ones of those ids); returns how many."""
    ids = [field["id"] for field in DEMO_FIELDS]
    SandboxRecord.objects.filter(account=account, object_type=CUSTOM_FIELD, record_id__in=ids).delete()
    for position, field in enumerate(DEMO_FIELDS):
        services.sandbox_record_put(
            account=account, object_type=CUSTOM_FIELD, data=demo_field_data(field, position), record_id=field["id"]
        )
    return len(DEMO_FIELDS)
