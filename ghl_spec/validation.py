"""Validate one GHL request against the spec, the way GHL (NestJS + class-validator) would judge it, and tell writers
how a body field can be cleared.

Semantics: OAS 3.0 on JSON Schema draft 4 (jsonschema's Draft4Validator) plus `nullable` (null is allowed only where
a schema says `nullable: true`), `format` checked for the cheap ones (date-time, date, email). Request-body objects
that declare properties are closed: GHL's ValidationPipe runs with a whitelist and refuses undeclared properties
("property foo should not exist"; GoHighLevel/highlevel-api-docs issue #314 shows it live). Query parameters arrive
as text and are read as their declared type; undeclared query parameters are not refused (nothing says GHL does).
Messages follow class-validator's wording: "country must be a string", "title should not be empty".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from jsonschema import Draft4Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError, best_match

from ghl_spec.spec import FORM, JSON, GhlSpec, Operation, Parameter, Schema

MSG_BODY_REQUIRED = "request body should not be empty"
MSG_BODY_OBJECT = "request body must be a JSON object"
REASON_NOT_ACCEPTED = "GoHighLevel does not accept this field"
REASON_REQUIRED = "GoHighLevel requires a value here"
REASON_CANNOT_CLEAR = "GoHighLevel cannot clear this field"

_TYPE_PHRASES = {
    "string": "must be a string",
    "number": "must be a number",
    "integer": "must be an integer number",
    "boolean": "must be a boolean value",
    "array": "must be an array",
    "object": "must be an object",
}
_FORMAT_PHRASES = {"date-time": "a valid ISO 8601 date string", "date": "a valid ISO 8601 date", "email": "an email"}
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


# ------------------------------------------------------------------------------
# The JSON Schema validator: draft 4 + OAS 3.0 `nullable`
# ------------------------------------------------------------------------------
_BASE = Draft4Validator.VALIDATORS


def _nullable(keyword: str) -> Any:
    base = _BASE[keyword]

    def check(validator: Any, value: Any, instance: Any, schema: Schema) -> Iterator[ValidationError]:
        if instance is None and schema.get("nullable") is True:
            return
        yield from base(validator, value, instance, schema) or ()

    return check


def _format(validator: Any, fmt: str, instance: Any, schema: Schema) -> Iterator[ValidationError]:
    if instance is None or validator.format_checker is None:
        return
    if not validator.format_checker.conforms(instance, fmt):
        yield ValidationError(f"{instance!r} is not a {fmt!r}")


def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return "T" in value.upper() or " " in value


def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_email(value: object) -> bool:
    if not isinstance(value, str):
        return True
    local, _, domain = value.rpartition("@")
    return bool(local) and "." in domain and not any(c.isspace() for c in value)


FORMATS = FormatChecker(formats=())
FORMATS.checks("date-time")(_is_datetime)
FORMATS.checks("date")(_is_date)
FORMATS.checks("email")(_is_email)

OasValidator = validators.extend(
    Draft4Validator,
    {"type": _nullable("type"), "enum": _nullable("enum"), "format": _format},
    # Search Conversations' startAfterDate is typed "any" (no JSON Schema type): any value is accepted.
    type_checker=Draft4Validator.TYPE_CHECKER.redefine("any", lambda checker, instance: True),
)


def _closed(schema: Any, memo: dict[int, Any] | None = None) -> Any:
    """A copy in which every object schema that declares properties refuses undeclared ones (GHL's whitelist)."""
    if memo is None:
        memo = {}
    if isinstance(schema, list):
        return [_closed(item, memo) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    if id(schema) in memo:
        return memo[id(schema)]
    result: dict[str, Any] = {}
    memo[id(schema)] = result
    for key, value in schema.items():
        if key == "properties" and isinstance(value, Mapping):
            result[key] = {name: _closed(sub, memo) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") or key in ("anyOf", "oneOf", "allOf"):
            result[key] = _closed(value, memo)
        else:
            result[key] = value
    if schema.get("properties") and "additionalProperties" not in schema:
        result["additionalProperties"] = False
    return result


# ------------------------------------------------------------------------------
# Messages
# ------------------------------------------------------------------------------
def _path(error: ValidationError, root: str = "") -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join([root, *parts] if root else parts)


def _prefix(path: str) -> str:
    return f"{path}." if path else ""


def _type_phrase(expected: Any) -> str:
    types = [expected] if isinstance(expected, str) else list(expected)
    phrases = [_TYPE_PHRASES.get(t, f"must be of type {t}") for t in types]
    return " or ".join(phrases)


def _messages(error: ValidationError, root: str = "") -> list[str]:
    """class-validator style messages for one jsonschema error."""
    path = _path(error, root)
    name = path or root or "request body"
    keyword = error.validator
    value = error.validator_value
    if keyword == "type":
        return [f"{name} {_type_phrase(value)}"]
    if keyword == "enum":
        return [f"{name} must be one of the following values: {', '.join(str(v) for v in value)}"]
    if keyword == "required":
        # class-validator reports a missing property once per failed rule: "should not be empty", then its type.
        instance = error.instance if isinstance(error.instance, Mapping) else {}
        properties = (error.schema.get("properties") or {}) if isinstance(error.schema, Mapping) else {}
        messages = []
        for prop in value:
            if prop in instance:
                continue
            messages.append(f"{_prefix(path)}{prop} should not be empty")
            declared = properties.get(prop)
            if isinstance(declared, Mapping) and declared.get("type") and not declared.get("nullable"):
                messages.append(f"{_prefix(path)}{prop} {_type_phrase(declared['type'])}")
        return messages
    if keyword == "additionalProperties":
        declared = set((error.schema.get("properties") or {}) if isinstance(error.schema, Mapping) else ())
        instance = error.instance if isinstance(error.instance, Mapping) else {}
        return [f"property {_prefix(path)}{key} should not exist" for key in instance if key not in declared]
    if keyword in ("anyOf", "oneOf"):
        if keyword == "oneOf" and not error.context:
            return [f"{name} matches more than one allowed form"]
        best = best_match(error.context) if error.context else None
        if best is not None:
            return _messages(best, root)
        return [f"{name} does not match any allowed form"]
    if keyword == "format":
        return [f"{name} must be {_FORMAT_PHRASES.get(value, f'in the {value} format')}"]
    simple = {
        "minLength": f"{name} must be longer than or equal to {value} characters",
        "maxLength": f"{name} must be shorter than or equal to {value} characters",
        "minimum": f"{name} must not be less than {value}",
        "maximum": f"{name} must not be greater than {value}",
        "minItems": f"{name} must contain at least {value} elements",
        "maxItems": f"{name} must contain no more than {value} elements",
        "pattern": f"{name} must match {value} regular expression",
        "uniqueItems": f"all {name}'s elements must be unique",
    }
    return [simple.get(str(keyword), f"{name}: {error.message}")]


def _unique(messages: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(messages))


def schema_messages(schema: Schema, instance: Any, *, root: str = "", closed: bool = True) -> list[str]:
    """Messages for `instance` against one (resolved) schema; [] when it conforms. Uncached: for tests and tools."""
    validator = OasValidator(_closed(schema) if closed else schema, format_checker=FORMATS)
    return _errors_to_messages(validator.iter_errors(instance), root)


def _errors_to_messages(errors: Iterable[ValidationError], root: str = "") -> list[str]:
    # Deterministic order: by position in the instance, then as jsonschema found them.
    ordered = sorted(errors, key=lambda e: [str(p) for p in e.absolute_path])
    return _unique(message for error in ordered for message in _messages(error, root))


# ------------------------------------------------------------------------------
# Requests
# ------------------------------------------------------------------------------
@dataclass
class Validation:
    """The verdict on one request. `errors` are GHL-style messages; `version_error` is set apart because the sandbox
    answers a wrong Version header with 400 (bad request) and everything else with 422."""

    method: str
    path: str
    operation: Operation | None = None
    path_params: dict[str, str] = field(default_factory=dict)
    route_error: str = ""
    version_error: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.route_error or self.version_error or self.errors)

    @property
    def messages(self) -> list[str]:
        return [m for m in (self.route_error, self.version_error) if m] + self.errors


class _Compiled:
    """Validators of one operation, built on first use."""

    def __init__(self, operation: Operation) -> None:
        self.body: Any = None
        body = operation.request_body
        if body is not None and body.schema:
            self.body = OasValidator(_closed(body.schema), format_checker=FORMATS)
        self.params = {id(p): OasValidator(p.schema, format_checker=FORMATS) for p in operation.parameters}


def _compiled(spec: GhlSpec, operation: Operation) -> _Compiled:
    compiled = spec.cache.get(operation.key)
    if compiled is None:
        with spec.lock:
            compiled = spec.cache.get(operation.key)
            if compiled is None:
                compiled = spec.cache[operation.key] = _Compiled(operation)
    return compiled


def _coerce(text: str, schema: Schema) -> tuple[bool, Any]:
    """A query/path/form value (always text on the wire) read as its declared type: (ok, value)."""
    kind = schema.get("type")
    if kind in ("number", "integer"):
        if not _NUMBER.fullmatch(text.strip()):
            return False, text
        number = float(text)
        if not math.isfinite(number):
            return False, text
        return True, int(number) if number.is_integer() else number
    if kind == "boolean":
        if text in ("true", "false"):
            return True, text == "true"
        return False, text
    return True, text


def _param_messages(parameter: Parameter, values: Sequence[str], validator: Any) -> list[str]:
    schema = parameter.schema
    if schema.get("type") == "array":
        item_schema = schema.get("items") or {}
        items = [v for value in values for v in value.split(",")] if len(values) == 1 else list(values)
        coerced_items = []
        for item in items:
            ok, coerced_item = _coerce(item, item_schema)
            if not ok:
                return [f"each value in {parameter.name} {_type_phrase(item_schema.get('type'))}"]
            coerced_items.append(coerced_item)
        value: Any = coerced_items
    else:
        ok, value = _coerce(values[-1], schema)
        if not ok:
            return [f"{parameter.name} {_type_phrase(schema.get('type'))}"]
    return _errors_to_messages(validator.iter_errors(value), parameter.name)


def _as_lists(query: Mapping[str, Any] | None) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for key, value in (query or {}).items():
        if isinstance(value, list | tuple):
            result[str(key)] = [str(v) for v in value]
        else:
            result[str(key)] = [str(value)]
    return result


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def validate_request(
    spec: GhlSpec,
    method: str,
    path: str,
    *,
    query: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    has_body: bool | None = None,
    content_type: str | None = None,
) -> Validation:
    """Check one request against the spec: route and method, Version header, path/query/header parameters and the
    body. `path` is GHL's path (no base URL); `query` maps names to a value or a list of values; `body` is the parsed
    JSON (or the form fields); `has_body` says whether a body was sent at all (default: body is not None);
    `content_type` is checked against the declared media types when given."""
    method = method.upper()
    verdict = Validation(method=method, path=path)
    match = spec.match(method, path)
    if match is None:
        verdict.route_error = f"Cannot {method} {path}"
        return verdict
    op = verdict.operation = match.operation
    verdict.path_params = match.path_params
    compiled = _compiled(spec, op)
    lowered = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    queries = _as_lists(query)
    errors: list[str] = []
    for parameter in op.parameters:
        if parameter.location == "header":
            value = lowered.get(parameter.name.lower())
            values = [] if value is None else [value]
        elif parameter.location == "path":
            values = [match.path_params[parameter.name]] if parameter.name in match.path_params else []
        elif parameter.location == "query":
            values = queries.get(parameter.name, [])
        else:
            continue  # cookie parameters: none in GHL's specs
        if not values:
            problems = [f"{parameter.name} should not be empty"] if parameter.required else []
        else:
            problems = _param_messages(parameter, values, compiled.params[id(parameter)])
        if parameter.location == "header" and parameter.name.lower() == "version" and problems:
            verdict.version_error = (
                f"Version must be one of the following values: {', '.join(parameter.enum or ())}"
                if parameter.enum
                else problems[0]
            )
        else:
            errors.extend(problems)
    errors.extend(_body_messages(op, compiled, body, body is not None if has_body is None else has_body, content_type))
    verdict.errors = _unique(errors)
    return verdict


def _body_messages(
    op: Operation, compiled: _Compiled, body: Any, has_body: bool, content_type: str | None
) -> list[str]:
    declared = op.request_body
    if declared is None:
        return []  # a body on an operation that declares none is ignored, as Express does
    if not has_body:
        return [MSG_BODY_REQUIRED] if declared.required else []
    media = _media_type(content_type)
    if content_type is not None and media not in declared.content_types:
        return [f"Content-Type must be {' or '.join(declared.content_types)}"]
    if compiled.body is None:
        return []
    if (media or declared.content_type) == FORM:
        if not isinstance(body, Mapping):
            return [MSG_BODY_OBJECT]
        body = _form_values(body, declared.schema)
    elif (media or declared.content_type) == JSON and declared.schema.get("type") == "object":
        if not isinstance(body, Mapping):
            return [MSG_BODY_OBJECT]
    elif (media or declared.content_type) not in (JSON, FORM):
        return []  # multipart uploads: not validated (the project sends none)
    return _errors_to_messages(compiled.body.iter_errors(body))


def _form_values(form: Mapping[str, Any], schema: Schema) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    values: dict[str, Any] = {}
    for key, raw in form.items():
        text = raw[-1] if isinstance(raw, list | tuple) and raw else raw
        ok, value = _coerce(str(text), properties.get(key) or {})
        values[str(key)] = value if ok else text
    return values


# ------------------------------------------------------------------------------
# Clearing a field
# ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClearRule:
    """How a writer clears one body field: send `value` when `clearable`, else leave the field out (`reason`)."""

    field: str
    clearable: bool
    value: Any = None
    reason: str = ""


_CLEAR_CANDIDATES: tuple[Any, ...] = (None, "", [])


def _alternatives(schema: Any) -> list[Schema]:
    """The schemas a value must satisfy one of: anyOf/oneOf/allOf members flattened (allOf is only used as a
    single-member wrapper in GHL's specs)."""
    if not isinstance(schema, Mapping):
        return []
    for keyword in ("anyOf", "oneOf", "allOf"):
        members = schema.get(keyword)
        if isinstance(members, list) and members:
            return [alt for member in members for alt in _alternatives(member)]
    return [schema]


def _at(schema: Schema, field_path: str) -> tuple[list[Schema], bool]:
    """The schemas found at a dotted field path ("customFields[].field_value") and whether the last step is a
    required property of its object."""
    current = _alternatives(schema)
    required = False
    for part in field_path.split("."):
        is_list = part.endswith("[]")
        name = part.removesuffix("[]")
        found: list[Schema] = []
        required = False
        for alternative in current:
            properties = alternative.get("properties") or {}
            if name in properties:
                found.extend(_alternatives(properties[name]))
                required = required or name in (alternative.get("required") or ())
        if is_list:
            found = [item for sub in found for item in _alternatives(sub.get("items") or {})]
        current = found
    return current, required


def clear_rule(
    spec: GhlSpec, operation: Operation, field_path: str, *, keep_required_of: Operation | None = None
) -> ClearRule:
    """How to clear `field_path` of `operation`'s body: null where it is nullable, else "" or [] where the schema
    accepts them, else not at all. A field required by `keep_required_of` (the create operation of the same object)
    always keeps a value: clearing it would leave a record GHL would not have accepted."""
    key = ("clear", operation.key, field_path, keep_required_of.key if keep_required_of else None)
    rule = spec.cache.get(key)
    if rule is None:
        rule = spec.cache[key] = _clear_rule(operation, field_path, keep_required_of)
    return rule


def _clear_rule(operation: Operation, field_path: str, keep_required_of: Operation | None) -> ClearRule:
    body = operation.request_body
    schemas, required = _at(body.schema, field_path) if body is not None else ([], False)
    if not schemas:
        return ClearRule(field_path, False, reason=REASON_NOT_ACCEPTED)
    if keep_required_of is not None and keep_required_of.request_body is not None:
        _, required_there = _at(keep_required_of.request_body.schema, field_path)
        if required_there:
            return ClearRule(field_path, False, reason=REASON_REQUIRED)
    # A required property must be present: only null clears it, and only where it is nullable ("should not be
    # empty" refuses "" and [] under class-validator).
    for candidate in (None,) if required else _CLEAR_CANDIDATES:
        if any(not schema_messages(schema, candidate) for schema in schemas):
            return ClearRule(field_path, True, value=candidate)
    return ClearRule(field_path, False, reason=REASON_REQUIRED if required else REASON_CANNOT_CLEAR)
