"""Pickers for the mapping page: fields chosen from lists, transforms from the registry, rules edited as rows.

Each widget renders the plain input the server validates (a field name, a transform chain, a condition as JSON) and
marks it for mapping_editor.js, which puts a picker in its place and writes the same stored values back. Without
JavaScript the plain inputs still work. The lists come from one catalog per page (`mapping_catalog`), embedded with
json_script: each object type's known fields plus the live custom fields of the mapping's connections.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.urls import reverse

from integrations.custom_fields import CustomFieldList
from integrations.models import System
from integrations.object_types import OBJECT_TYPES
from mappings.models import Direction, source_system, target_system
from mappings.pipeline import format_chain
from mappings.transforms import _KIND_LABELS, TRANSFORMS

OPERATORS: list[dict[str, Any]] = [
    {"value": "eq", "label": "is", "needsValue": True},
    {"value": "ne", "label": "is not", "needsValue": True},
    {"value": "contains", "label": "contains / has the tag", "needsValue": True},
    {"value": "not_contains", "label": "does not contain", "needsValue": True},
    {"value": "exists", "label": "is set", "needsValue": False},
    {"value": "not_exists", "label": "is empty", "needsValue": False},
    {"value": "gt", "label": "is more than", "needsValue": True, "number": True},
    {"value": "lt", "label": "is less than", "needsValue": True, "number": True},
    {"value": "in", "label": "is one of (commas between)", "needsValue": True, "list": True},
    {"value": "within_days", "label": "is within the last (days)", "needsValue": True, "number": True},
]


class FieldPickerWidget(forms.TextInput):
    """A field name chosen from the catalog: `role` is target, source or field (a fixed `system`)."""

    def __init__(self, *, role: str, system: str = "", attrs: dict[str, Any] | None = None) -> None:
        picker_attrs = {"data-ss-picker": role, "class": "ss-picker-input", "size": 24, **(attrs or {})}
        if system:
            picker_attrs["data-ss-system"] = system
        super().__init__(attrs=picker_attrs)


class ChainWidget(forms.TextInput):
    """A transform chain: shown as text (`trim | lower`), edited step by step with each transform's parameters."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs={"data-ss-chain": "1", "class": "ss-chain-input", "size": 40, **(attrs or {})})

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, list):
            return format_chain(value)
        return super().format_value(value)

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        # The stored steps for the editor; the text in the box is what the server reads without JavaScript.
        if isinstance(value, list):
            context["widget"]["attrs"]["data-ss-steps"] = json.dumps(value, ensure_ascii=False)
        return context


class ConditionWidget(forms.Textarea):
    """A condition ({"field", "op", "value"} or all/any of several) edited as rows; the JSON stays the stored value."""

    def __init__(self, *, role: str = "condition", attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs={"data-ss-rules": role, "rows": 3, "cols": 80, "class": "ss-json", **(attrs or {})})

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        if self.attrs.get("data-ss-rules") == "followups":
            # Workflow, campaign and user ids are offered from the GHL connection's lists (the catalog's pickers).
            context["widget"]["attrs"]["data-ss-pickers"] = reverse("admin:catalog_picker", kwargs={"key": "KEY"})
        return context


def _field_entries(system: str, object_type_key: str) -> list[dict[str, Any]]:
    object_type = OBJECT_TYPES[object_type_key]
    return [
        {"value": f.name, "label": f.label, "kind": f.kind, "writable": f.writable}
        for f in object_type.fields_for(system)
    ]


def _custom_entries(fields: CustomFieldList) -> dict[str, Any]:
    return {
        "fields": [
            {"value": f.value, "label": f.name, "kind": f.kind, "options": list(f.options)} for f in fields.fields
        ],
        "known": fields.known,
        "note": fields.note,
    }


def transform_catalog() -> list[dict[str, Any]]:
    """Every registered transform with its description and typed parameters (for the step editor)."""
    result = []
    for name, spec in TRANSFORMS.items():
        params = []
        for param_name, param in spec.params.items():
            # The rules of score / rule_tags are edited as rows of conditions with points or a tag.
            kind = {"score": "score_rules", "rule_tags": "tag_rules"}.get(name) if param_name == "rules" else None
            params.append(
                {
                    "name": param_name,
                    "kind": kind or param.kind,
                    "kindLabel": _KIND_LABELS.get(param.kind, ""),
                    "required": param.required,
                    "default": param.default,
                    "choices": list(param.choices or []),
                    "help": param.help,
                }
            )
        # The registry's descriptions end with a JSON example for people typing chains; the editor shows rows instead.
        description = spec.description.split(" Rule: ")[0]
        result.append({"name": name, "description": description, "params": params})
    return result


def mapping_catalog(
    *,
    ghl_fields: CustomFieldList,
    streettext_fields: CustomFieldList,
    drift: dict[str, dict[str, str]] | None = None,
    connections: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What the pickers offer on one mapping page (no query, no API call: the custom fields are passed in)."""
    return {
        "systems": {str(System.GHL): str(System.GHL.label), str(System.STREETTEXT): str(System.STREETTEXT.label)},
        "directions": {
            d: {"source": source_system(d), "target": target_system(d), "label": str(Direction(d).label)}
            for d in (Direction.TO_STREETTEXT, Direction.TO_GHL)
        },
        "objectTypes": {
            key: {
                "label": ot.label,
                System.GHL: _field_entries(System.GHL, key),
                System.STREETTEXT: _field_entries(System.STREETTEXT, key),
                "custom": key == "contact",
            }
            for key, ot in OBJECT_TYPES.items()
        },
        "custom": {System.GHL: _custom_entries(ghl_fields), System.STREETTEXT: _custom_entries(streettext_fields)},
        "customUrl": reverse("admin:mappings_mapping_custom_fields", args=[0]),
        "connections": connections or {},
        "drift": drift or {},
        "transforms": transform_catalog(),
        "operators": OPERATORS,
        "customPrefix": {System.GHL: "customFields.", System.STREETTEXT: "custom."},
    }
