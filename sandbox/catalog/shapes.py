"""Answers in the spec's response shapes: where a record goes in an operation's success response (its envelope key),
how a stored record is rendered into the declared item schema (missing required fields filled from the schema's
examples and defaults), and a validator that checks an answer against the declared schema.

GHL's response schemas come from a code generator (NestJS swagger) and carry a few systematic artefacts that no real
answer could satisfy. Responses are read with four rules (requests are still judged strictly by ghl_spec):

1. a `type` its own `example` contradicts allows the example's type too (`startTime: {type: object, example:
   "2023-09-25T16:00:00+05:30"}` on calendar events, `properties: {type: string, example: {...}}` on object records);
2. `type: "any"` means no type;
3. an array whose items are `{type: array}` with nothing inside (`stages`, `tasks`, `followers`: swagger's untyped
   arrays) holds items of any shape;
4. `oneOf` is read as `anyOf`: the unions (sms/email templates) declare no discriminator and no required fields, so
   every object would match both branches and `oneOf` could never hold.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ghl_spec import Operation
from ghl_spec.validation import schema_messages

Schema = Mapping[str, Any]

_JSON_TYPES: dict[type, str] = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array"}
# Envelope keys that never hold the record itself.
_NOT_A_RECORD = frozenset({"meta", "aggregations", "forwardData", "error", "traceId", "metadata", "uploadedFiles"})
ID_KEYS = ("id", "_id")
CREATED_KEYS = ("dateAdded", "createdAt")
UPDATED_KEYS = ("dateUpdated", "updatedAt")
SUCCESS_FLAGS = frozenset({"success", "succeded", "succeeded", "deleted"})
TOTAL_KEYS = frozenset({"total", "count", "totalCount"})

_lock = threading.Lock()
_normalised: dict[int, Any] = {}
_shapes: dict[tuple[tuple[str, str], bool, str | None], Shape] = {}


# ------------------------------------------------------------------------------
# Reading the response schemas (the four rules of the module docstring)
# ------------------------------------------------------------------------------
def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "object"
    return _JSON_TYPES.get(type(value), "string")


def _compatible(declared: Any, example_type: str) -> bool:
    types = declared if isinstance(declared, list) else [declared]
    return example_type in types or (example_type == "integer" and "number" in types) or example_type == "null"


def normalise(schema: Any) -> Any:
    """A copy of a response schema with the module's four reading rules applied (memoised per schema object)."""
    if isinstance(schema, list):
        return [normalise(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    cached = _normalised.get(id(schema))
    if cached is not None:
        return cached
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties") and isinstance(value, Mapping):
            result[key] = {name: normalise(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not", "anyOf", "allOf"):
            result[key] = normalise(value)
        elif key == "oneOf":
            result["anyOf"] = normalise(value)
        else:
            result[key] = value
    declared = result.get("type")
    if declared == "any":
        result.pop("type")
    elif declared is not None and "example" in result and not _compatible(declared, _json_type(result["example"])):
        result["type"] = [declared, _json_type(result["example"])]
    items = result.get("items")
    if (
        result.get("type") == "array"
        and isinstance(items, Mapping)
        and items.get("type") == "array"
        and "items" not in items
    ):
        result["items"] = {}
    with _lock:
        _normalised[id(schema)] = result
    return result


def response_schema(op: Operation) -> Schema | None:
    """The operation's success-response schema, read with the module's rules."""
    return normalise(op.response_schema) if op.response_schema is not None else None


def response_problems(op: Operation, payload: Any) -> list[str]:
    """Why an answer does not conform to the operation's declared success schema ([] when it does). Answers are open
    objects (GHL adds fields its spec does not list), unlike request bodies."""
    schema = response_schema(op)
    if schema is None:
        return []
    return schema_messages(schema, payload, root="response", closed=False)


# ------------------------------------------------------------------------------
# Where the record goes
# ------------------------------------------------------------------------------
def unwrap(schema: Any) -> Schema:
    """The object schema behind single-member allOf wrappers (GHL's `allOf: [{$ref}]` for nested DTOs)."""
    while isinstance(schema, Mapping) and "properties" not in schema:
        members = schema.get("allOf") or schema.get("anyOf")
        if not isinstance(members, list) or not members:
            break
        schema = members[0]
    return schema if isinstance(schema, Mapping) else {}


def _is_object(schema: Any) -> bool:
    return bool(unwrap(schema).get("properties"))


@dataclass(frozen=True)
class Shape:
    """Where records sit in one operation's answer: `slot` is the envelope key (None: the root), `many` says whether
    it holds a list; `item` is the schema of one record; `envelope` the root object schema (for the other keys)."""

    slot: str | None
    many: bool
    item: Schema
    envelope: Schema


def shape_of(op: Operation, *, many: bool, slot: str | None = None) -> Shape:
    """The answer's shape for a list (`many`) or a single-record operation; `slot` forces the envelope key."""
    key = (op.key, many, slot)
    cached = _shapes.get(key)
    if cached is not None:
        return cached
    shape = _find_shape(unwrap(response_schema(op) or {}), many=many, slot=slot)
    with _lock:
        _shapes[key] = shape
    return shape


def _find_shape(schema: Schema, *, many: bool, slot: str | None) -> Shape:
    properties: Mapping[str, Any] = schema.get("properties") or {}
    if slot is not None:
        sub = properties.get(slot) or {}
        if sub.get("type") == "array":
            return Shape(slot, True, unwrap(sub.get("items") or {}), schema)
        return Shape(slot, many, unwrap(sub), schema)
    if schema.get("type") == "array" or (not schema and many):
        return Shape(None, True, unwrap(schema.get("items") or {}), {})
    if many:
        for name, sub in properties.items():
            if sub.get("type") == "array" and _is_object(sub.get("items")):
                return Shape(name, True, unwrap(sub["items"]), schema)
        # A list operation whose spec declares one object (find-associations): the record sits at the root.
        return Shape(None, False, schema, schema)
    if any(key in properties for key in ID_KEYS):
        return Shape(None, False, schema, schema)
    for name, sub in properties.items():
        if name not in _NOT_A_RECORD and _is_object(sub) and unwrap(sub).get("type", "object") == "object":
            return Shape(name, False, unwrap(sub), schema)
    return Shape(None, False, schema, schema)


# ------------------------------------------------------------------------------
# Filling and rendering
# ------------------------------------------------------------------------------
def fits(value: Any, schema: Any) -> bool:
    """A cheap conformance check: the declared type(s), enum and, for arrays, the items' types. Nested objects are
    rendered (and so completed) separately."""
    if not isinstance(schema, Mapping):
        return True
    if value is None:
        return bool(schema.get("nullable"))
    alternatives = schema.get("anyOf")
    if isinstance(alternatives, list) and alternatives:
        return any(fits(value, alternative) for alternative in alternatives)
    declared = schema.get("type")
    if declared is not None:
        types = declared if isinstance(declared, list) else [declared]
        actual = _json_type(value)
        if actual not in types and not (actual == "integer" and "number" in types):
            return False
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        return False
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return all(fits(item, schema["items"]) for item in value[:5])
    return True


def filler(schema: Any, name: str = "") -> Any:
    """A value for a required field the record does not have: the schema's example or default when it conforms,
    else the first enum value, else an empty value of the type (objects get their own required fields). Ids and
    lists are left empty: an example id would look like a reference to a record that does not exist."""
    schema = unwrap(schema) if isinstance(schema, Mapping) and "allOf" in schema else schema
    if not isinstance(schema, Mapping):
        return None
    declared = schema.get("type")
    types = declared if isinstance(declared, list) else [declared]
    if "string" in types and fits("", schema) and (name.endswith("Id") or name in ID_KEYS):
        return ""
    if "array" in types and fits([], schema):
        return []
    for key in ("example", "default"):
        if key in schema and fits(schema[key], schema):
            return schema[key]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    alternatives = schema.get("anyOf")
    if isinstance(alternatives, list) and alternatives:
        return filler(alternatives[0], name)
    kind = types[0]
    if kind == "object" or schema.get("properties"):
        return render_object({}, schema)
    return {"string": "", "number": 0, "integer": 0, "boolean": False, "array": []}.get(str(kind))


def _branch(data: Mapping[str, Any], schema: Schema) -> Schema:
    """The anyOf branch a record fits best (most of its keys declared), for union item schemas."""
    alternatives = schema.get("anyOf")
    if not isinstance(alternatives, list) or not alternatives:
        return schema
    best = max(alternatives, key=lambda alt: len(set(unwrap(alt).get("properties") or {}) & set(data)))
    return unwrap(best)


def render_object(data: Mapping[str, Any], schema: Any) -> dict[str, Any]:
    """`data` as an object of `schema`: declared fields that fit are kept (nested objects completed), required ones
    the data lacks (or holds in another type) are filled, optional ones that do not fit are left out, and undeclared
    fields pass through (GHL's answers carry more than its spec lists). Keys starting with "_" stay private."""
    schema = _branch(data, unwrap(schema))
    properties: Mapping[str, Any] = schema.get("properties") or {}
    required = schema.get("required") or ()
    out: dict[str, Any] = {}
    for name, sub in properties.items():
        if name in data:
            value = _conform(data[name], sub)
            if value is not _MISSING:
                out[name] = value
                continue
        if name in required:
            out[name] = filler(sub, name)
    for name, value in data.items():
        if name not in properties and not name.startswith("_"):
            out[name] = value
    for name in required:
        if name not in out and name not in properties:  # blog categories require `name` and declare `label`
            out[name] = ""
    return out


_MISSING = object()


def _conform(value: Any, schema: Any) -> Any:
    """The value made to conform to its declared schema, or _MISSING when it cannot."""
    if not fits(value, schema):
        return _MISSING
    if isinstance(value, dict) and _is_object(schema):
        return render_object(value, schema)
    items = schema.get("items") if isinstance(schema, Mapping) else None
    if isinstance(value, list) and _is_object(items):
        return [render_object(item, items) if isinstance(item, dict) else item for item in value]
    return value


def envelope(
    shape: Shape, body: Any, *, values: Mapping[str, Any], fill: Callable[[str, Schema], Any] | None = None
) -> Any:
    """The whole answer: the rendered record(s) at the shape's slot, then the envelope's other declared keys from
    `values` (what the handler knows: totals, paging, flags), then required ones still missing filled."""
    if shape.slot is None and not shape.envelope:
        return body
    if shape.slot is None and isinstance(body, dict):
        out = dict(body)
    elif shape.slot is None:
        out = {}
    else:
        out = {shape.slot: body}
    properties: Mapping[str, Any] = shape.envelope.get("properties") or {}
    required = shape.envelope.get("required") or ()
    for name, value in values.items():
        if name in properties or name not in out:
            out[name] = value
    for name, sub in properties.items():
        if name in out:
            continue
        if name in SUCCESS_FLAGS:
            out[name] = True
        elif fill is not None and (value := fill(name, sub)) is not _MISSING:
            out[name] = value
        elif name in required:
            out[name] = filler(sub, name)
    return out


MISSING = _MISSING
