"""The catalog as data: operations.toml joined with GoHighLevel's OpenAPI specs, loaded and checked once per process.

An entry in operations.toml holds only what the spec does not: the seed's name and description, the category, trigger
or action, the spec operation (`app/operationId`), and choices such as pickers, defaults, fixed values and where a
trigger's items are when the response schema does not say. Method, path, Version header, parameters and body schema
are read from the spec here, so they are never retyped. Any entry that does not fit the spec stops the load with a
`CatalogError` naming the entry.
"""

from __future__ import annotations

import re
import threading
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import ghl_spec
from ghl_spec import GhlSpec, Operation, UnknownOperation
from ghl_spec.spec import JSON, MULTIPART

CATALOG_FILE = Path(__file__).resolve().with_name("operations.toml")

TRIGGER = "trigger"
ACTION = "action"
KINDS = (TRIGGER, ACTION)

# Where a field's value goes. BODY is one top-level property of a JSON object body; BODY_JSON is a whole body typed
# in as JSON (bodies that are arrays or objects without declared properties); INPUT is a convenience input that only
# feeds the entry's `fixed` templates.
PATH, QUERY, BODY, BODY_JSON, INPUT = "path", "query", "body", "body_json", "input"
PARAM_LOCATIONS = (PATH, QUERY, INPUT)
TEMPLATE_LOCATIONS = (PATH, QUERY, BODY)

# Values the connection supplies. A field with one of these names defaults to it (a blank form field means "this
# connection's location"); templates may use them anywhere.
CONTEXT_DEFAULTS: Final = {"locationId": "{locationId}", "location_id": "{locationId}", "companyId": "{companyId}"}
CONTEXT_NAMES: Final = ("locationId", "companyId")

# How a trigger's items are recognised in a response schema when the entry does not say.
ID_FIELDS: Final = ("id", "_id")
UPDATED_FIELDS: Final = ("dateUpdated", "updatedAt", "updated_at", "lastUpdated", "dateModified")

_ENTRY_KEYS = frozenset(
    {
        "key",
        "name",
        "description",
        "category",
        "kind",
        "spec",
        "note",
        "pickers",
        "defaults",
        "fixed",
        "inputs",
        "require_one_of",
        "items",
    }
)
_ITEMS_KEYS = frozenset({"path", "many", "id", "updated"})
_PICKER_KEYS = frozenset({"label", "operation", "params", "body", "items", "value", "text"})
_INPUT_KEYS = frozenset({"type", "label", "help"})
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class CatalogError(Exception):
    """operations.toml does not fit the loader or the spec (an unknown key, an operationId the spec lacks, …)."""


class UnknownCatalogOperation(LookupError):
    """No catalog operation has this key."""


# ------------------------------------------------------------------------------
# The catalog's pieces
# ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Category:
    key: str
    label: str
    seed_triggers: int  # what the seed counts (it sometimes names a different number)
    seed_actions: int


@dataclass(frozen=True)
class NotBuilt:
    """A seed entry the catalog cannot offer, and why (listed in docs/catalog.md)."""

    name: str
    description: str
    category: str
    kind: str
    why: str


@dataclass(frozen=True)
class Excluded:
    """A spec operation the catalog deliberately does not offer, and why (listed in docs/catalog.md)."""

    spec: Operation
    why: str

    @property
    def spec_ref(self) -> str:
        return f"{self.spec.app}/{self.spec.operation_id}"


@dataclass(frozen=True)
class Field:
    """One input of an operation, with its schema from the spec."""

    name: str
    location: str  # PATH | QUERY | BODY | BODY_JSON | INPUT
    required: bool  # by the spec (or, for inputs, never: require_one_of says which are needed)
    schema: Mapping[str, Any]
    description: str = ""
    default: Any = None  # a template ("{locationId}") used when the field is left blank
    picker: str | None = None
    declared: bool = True  # False: a path parameter the spec uses in the path but does not declare

    @property
    def form_name(self) -> str:
        return f"{self.location}__{self.name}"

    @property
    def enum(self) -> tuple[Any, ...] | None:
        values = self.schema.get("enum")
        return tuple(values) if isinstance(values, list) and values else None

    @property
    def kind(self) -> str:
        """How a person types it: string, integer, number, boolean, enum, list (of text, one per line) or json."""
        if self.location == BODY_JSON:
            return "json"
        if self.enum:
            return "enum"
        kind = self.schema.get("type")
        if kind in ("string", "integer", "number", "boolean"):
            return str(kind)
        if kind == "array":
            items = self.schema.get("items") or {}
            if isinstance(items, Mapping) and items.get("type") == "string":
                return "list"
            return "json"
        if kind is None and self.location in (PATH, QUERY, INPUT):
            return "string"
        return "json"

    @property
    def needed_in_form(self) -> bool:
        """Required and not filled in by a default: the form marks it required."""
        return self.required and self.default is None


@dataclass(frozen=True)
class Items:
    """Where a trigger's items are in its answer and which of their fields are the id and the updated time."""

    path: str  # dotted keys from the answer's root to the items ("" = the answer itself); lists are flattened
    many: bool  # a list of items; False: the answer holds one item (a "get" trigger)
    id_field: str | None
    updated_field: str | None  # None: the items carry no updated timestamp (recognise changes by content)
    from_spec: bool  # True: read from the response schema; False: stated in operations.toml

    def walk(self, data: Any) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
        """(item, parent item) pairs at `path`; the parent is the enclosing item of a nested list, else None."""
        nodes: list[tuple[Any, dict[str, Any] | None]] = [(data, None)]
        for step in [s for s in self.path.split(".") if s]:
            found: list[tuple[Any, dict[str, Any] | None]] = []
            for node, parent in nodes:
                for element, element_parent in _elements(node, parent):
                    if isinstance(element, Mapping) and step in element:
                        # Inside a list, the element holding the next step becomes the parent of what it holds.
                        holder = element_parent if element is node else dict(element)
                        found.append((element[step], holder))
            nodes = found
        items: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        for node, parent in nodes:
            for element, element_parent in _elements(node, parent):
                if isinstance(element, Mapping):
                    items.append((dict(element), element_parent))
        return items

    def extract(self, data: Any) -> list[dict[str, Any]]:
        """The items of one answer (one item, or none, for a "get" trigger)."""
        return [item for item, _ in self.walk(data)]


def _elements(node: Any, parent: dict[str, Any] | None) -> Iterator[tuple[Any, dict[str, Any] | None]]:
    if isinstance(node, list):
        for element in node:
            yield element, parent
    else:
        yield node, parent


@dataclass(frozen=True)
class Picker:
    """A parameter's values come from a list operation's items: `value` is sent, `text` (a template) is shown."""

    key: str
    label: str
    operation: str  # catalog key of the list operation
    params: Mapping[str, Any]  # path/query parameters of the list call (templates; "{search}" = the typed text)
    body: Any  # the body of the list call (templates), or None
    items: Items | None  # where the choices are, when not the list operation's own items ("pipelines.stages")
    value: str
    text: str  # a template over the item ("{name}") and its parent item ("{parent[name]}")

    @property
    def searchable(self) -> bool:
        """Whether typed text narrows the list (its call uses "{search}")."""
        return "{search}" in repr((self.params, self.body))


@dataclass(frozen=True)
class CatalogOperation:
    """One catalog entry joined with its spec operation."""

    key: str
    name: str
    description: str
    category: str
    kind: str  # TRIGGER | ACTION
    spec: Operation
    version: str | None  # the Version header sent (the spec's, or its app's when the operation declares none)
    fields: tuple[Field, ...]
    fixed: Mapping[str, Mapping[str, Any]]  # location -> name -> template, always sent, not in the form
    require_one_of: tuple[str, ...]
    items: Items | None
    note: str = ""

    @property
    def method(self) -> str:
        return self.spec.method

    @property
    def path(self) -> str:
        return self.spec.path

    @property
    def operation_id(self) -> str:
        return self.spec.operation_id

    @property
    def app(self) -> str:
        return self.spec.app

    @property
    def spec_ref(self) -> str:
        return f"{self.spec.app}/{self.spec.operation_id}"

    @property
    def scopes(self) -> tuple[str, ...]:
        return self.spec.scopes

    @property
    def is_trigger(self) -> bool:
        return self.kind == TRIGGER

    @property
    def body_is_json(self) -> bool:
        return any(f.location == BODY_JSON for f in self.fields)

    @property
    def content_type(self) -> str | None:
        """How the body is sent: application/json, or multipart/form-data for the spec's two upload operations."""
        body = self.spec.request_body
        if body is None:
            return None
        return JSON if JSON in body.content_types else body.content_type

    def field(self, name: str, location: str | None = None) -> Field | None:
        return next((f for f in self.fields if f.name == name and location in (None, f.location)), None)

    def fields_at(self, *locations: str) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.location in locations)


@dataclass(frozen=True)
class Catalog:
    categories: tuple[Category, ...]
    operations: tuple[CatalogOperation, ...]
    pickers: Mapping[str, Picker]
    not_built: tuple[NotBuilt, ...]
    excluded: tuple[Excluded, ...] = ()
    # Spec operations neither offered nor excluded by name (a test keeps this empty: a new spec operation cannot be
    # silently missing).
    uncovered: tuple[Operation, ...] = ()

    def operation(self, key: str) -> CatalogOperation:
        for op in self.operations:
            if op.key == key:
                return op
        raise UnknownCatalogOperation(f"no catalog operation {key!r}")

    def category(self, key: str) -> Category:
        return next(c for c in self.categories if c.key == key)


# ------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------
def _table(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CatalogError(f"{where} must be a table")
    return value


def _unknown(data: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise CatalogError(f"{where}: unknown key(s) {', '.join(extra)}")


def _spec_operation(spec: GhlSpec, ref: Any, where: str) -> Operation:
    if not isinstance(ref, str) or "/" not in ref:
        raise CatalogError(f"{where}: spec must be 'app/operationId', not {ref!r}")
    app, operation_id = ref.split("/", 1)
    try:
        return spec.operation(operation_id, app=app)
    except UnknownOperation as e:
        raise CatalogError(f"{where}: GoHighLevel's spec has no operation {ref!r} ({e})") from e


def _app_versions(spec: GhlSpec) -> dict[str, str]:
    """Each spec file's Version value, where all its operations that declare one agree."""
    seen: dict[str, set[str]] = {}
    for op in spec.operations:
        if op.version:
            seen.setdefault(op.app, set()).add(op.version)
    return {app: next(iter(values)) for app, values in seen.items() if len(values) == 1}


def app_version(app: str) -> str | None:
    """The Version value of a spec file's operations (sent for its few operations that declare none)."""
    return _app_versions(ghl_spec.get_spec()).get(app)


def _first(names: tuple[str, ...], properties: Mapping[str, Any]) -> str | None:
    return next((name for name in names if name in properties), None)


def _properties(schema: Any) -> Mapping[str, Any]:
    """Declared properties of an object schema, looking through allOf wrappers (GHL wraps `$ref`s in allOf)."""
    if not isinstance(schema, Mapping):
        return {}
    merged: dict[str, Any] = {}
    for member in schema.get("allOf") or ():
        merged.update(_properties(member))
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        merged.update(properties)
    return merged


def _is_array(schema: Any) -> bool:
    return isinstance(schema, Mapping) and (schema.get("type") == "array" or "items" in schema)


def derive_items(schema: Mapping[str, Any] | None) -> Items | None:
    """Where the items are, from a success response schema: the answer itself when it has an id, else its one array
    of objects, else its one object property (a "get" answer such as {contact: {...}}). None when it cannot tell."""
    if not schema:
        return None
    if _is_array(schema):
        item = schema.get("items") or {}
        props = _properties(item)
        if not props:
            return None
        return Items("", True, _first(ID_FIELDS, props), _first(UPDATED_FIELDS, props), True)
    props = _properties(schema)
    if _first(ID_FIELDS, props):
        # The answer is the record itself (GET /conversations/{id}, GET /users/{id}).
        return Items("", False, _first(ID_FIELDS, props), _first(UPDATED_FIELDS, props), True)
    arrays = [name for name, sub in props.items() if _is_array(sub) and _properties(sub.get("items"))]
    if len(arrays) == 1:
        item_props = _properties(props[arrays[0]].get("items"))
        return Items(arrays[0], True, _first(ID_FIELDS, item_props), _first(UPDATED_FIELDS, item_props), True)
    objects = [name for name, sub in props.items() if _properties(sub)]
    if not arrays and len(objects) == 1:
        item_props = _properties(props[objects[0]])
        return Items(objects[0], False, _first(ID_FIELDS, item_props), _first(UPDATED_FIELDS, item_props), True)
    return None


def _stated_items(data: Any, where: str) -> Items:
    data = _table(data, where)
    _unknown(data, _ITEMS_KEYS, where)
    if "path" not in data:
        raise CatalogError(f"{where}: items needs a path ('' for the answer itself)")
    return Items(
        path=str(data["path"]),
        many=bool(data.get("many", True)),
        id_field=data.get("id") or None,
        updated_field=data.get("updated") or None,
        from_spec=False,
    )


def _path_names(op: Operation) -> list[str]:
    return [segment[1:-1] for segment in op.segments if segment.startswith("{") and segment.endswith("}")]


def _fields(
    op: Operation,
    entry: Mapping[str, Any],
    picker_for: Mapping[str, str],
    where: str,
) -> tuple[Field, ...]:
    defaults = {loc: _table(v, f"{where}.defaults.{loc}") for loc, v in _table(entry.get("defaults"), where).items()}
    fixed = {loc: _table(v, f"{where}.fixed.{loc}") for loc, v in _table(entry.get("fixed"), where).items()}
    pickers = _table(entry.get("pickers"), f"{where}.pickers")
    for loc in [*defaults, *fixed]:
        if loc not in TEMPLATE_LOCATIONS:
            raise CatalogError(f"{where}: defaults and fixed take path, query or body, not {loc!r}")

    fields: list[Field] = []

    def add(name: str, location: str, required: bool, schema: Mapping[str, Any], description: str, **kw: Any) -> None:
        template_location = BODY if location == BODY_JSON else location
        if name in fixed.get(template_location, {}) or (location == BODY_JSON and BODY in fixed):
            return
        if location == BODY_JSON:
            default = defaults.get(BODY) or None  # the whole body's template
        else:
            default = defaults.get(template_location, {}).get(name, CONTEXT_DEFAULTS.get(name))
        picker: str | None = pickers.get(name, picker_for.get(name))
        if location in (BODY_JSON,) or schema.get("type") not in (None, "string") or schema.get("enum"):
            picker = pickers.get(name) or None
        fields.append(Field(name, location, required, schema, description, default, picker or None, **kw))

    declared_path = {p.name: p for p in op.params(PATH)}
    for name in _path_names(op):
        parameter = declared_path.get(name)
        if parameter is None:
            add(name, PATH, True, {"type": "string"}, "", declared=False)
        else:
            add(name, PATH, True, parameter.schema, parameter.description)
    for parameter in op.params(QUERY):
        add(parameter.name, QUERY, parameter.required, parameter.schema, parameter.description)
    body = op.request_body
    if body is not None:
        if JSON not in body.content_types and MULTIPART not in body.content_types:
            raise CatalogError(
                f"{where}: the catalog sends JSON or multipart bodies; {op.operation_id} takes {body.content_type}"
            )
        if JSON not in body.content_types and not _properties(body.schema):
            raise CatalogError(f"{where}: a multipart body needs declared fields ({op.operation_id} has none)")
        properties = _properties(body.schema)
        if body.schema.get("type") in (None, "object") and properties:
            required = set(body.schema.get("required") or ())
            for name, schema in properties.items():
                add(name, BODY, name in required, schema, str(schema.get("description") or ""))
        else:
            add("body", BODY_JSON, body.required, body.schema, "The whole request body, as JSON.")
    inputs = _table(entry.get("inputs"), f"{where}.inputs")
    for name, spec in inputs.items():
        spec = _table(spec, f"{where}.inputs.{name}")
        _unknown(spec, _INPUT_KEYS, f"{where}.inputs.{name}")
        schema = {"type": "string", **({"format": spec["type"]} if spec.get("type") == "email" else {})}
        fields.append(Field(name, INPUT, False, schema, str(spec.get("help") or spec.get("label") or "")))

    # Every default, fixed value and picker must name a real field, so a typo cannot pass unnoticed.
    open_body = body is not None and not _properties(body.schema)
    names = {(f.location if f.location != BODY_JSON else BODY, f.name) for f in fields}
    names |= {(loc, name) for loc, table in fixed.items() for name in table}
    for loc, table in [*defaults.items(), *fixed.items()]:
        for name in table:
            known = (loc, name) in names or (loc == PATH and name in _path_names(op))
            known = known or (loc == QUERY and any(p.name == name for p in op.params(QUERY)))
            known = known or (loc == BODY and (open_body or name in _properties(body.schema if body else {})))
            if not known:
                raise CatalogError(f"{where}: {loc} has no field {name!r} in {op.operation_id}")
    for name in pickers:
        if not any(f.name == name for f in fields):
            raise CatalogError(f"{where}: picker for {name!r}, which is not a field of {op.operation_id}")
    # Path, query and input values are passed by name in one mapping: a name must mean one thing.
    param_names = [f.name for f in fields if f.location in PARAM_LOCATIONS]
    clashes = sorted({n for n in param_names if param_names.count(n) > 1})
    if clashes:
        raise CatalogError(f"{where}: {', '.join(clashes)} is both a path/query parameter and an input")
    return tuple(fields)


def _picker(key: str, data: Any) -> Picker:
    where = f"pickers.{key}"
    data = _table(data, where)
    _unknown(data, _PICKER_KEYS, where)
    for needed in ("label", "operation", "value", "text"):
        if needed not in data:
            raise CatalogError(f"{where}: {needed} is missing")
    return Picker(
        key=key,
        label=str(data["label"]),
        operation=str(data["operation"]),
        params=_table(data.get("params"), f"{where}.params"),
        body=data.get("body"),
        items=_stated_items({"path": data["items"]}, f"{where}.items") if "items" in data else None,
        value=str(data["value"]),
        text=str(data["text"]),
    )


def load_catalog(path: Path = CATALOG_FILE, spec: GhlSpec | None = None) -> Catalog:
    """Read operations.toml and join it with the spec; CatalogError names the first entry that does not fit."""
    spec = spec or ghl_spec.get_spec()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise CatalogError(f"{path.name} is not valid TOML: {e}") from e
    _unknown(data, frozenset({"categories", "pickers", "picker_for", "not_built", "excluded", "operation"}), path.name)

    categories = tuple(
        Category(
            key=key,
            label=str(value["label"]),
            seed_triggers=int(value["seed_triggers"]),
            seed_actions=int(value["seed_actions"]),
        )
        for key, value in _table(data.get("categories"), "categories").items()
    )
    category_keys = {c.key for c in categories}
    pickers = {key: _picker(key, value) for key, value in _table(data.get("pickers"), "pickers").items()}
    picker_for = {str(k): str(v) for k, v in _table(data.get("picker_for"), "picker_for").items()}
    for name, picker_key in picker_for.items():
        if picker_key not in pickers:
            raise CatalogError(f"picker_for.{name}: no picker {picker_key!r}")

    versions = _app_versions(spec)
    operations: list[CatalogOperation] = []
    for index, entry in enumerate(data.get("operation") or []):
        where = f"operation {entry.get('key') or index + 1}"
        _unknown(entry, _ENTRY_KEYS, where)
        for needed in ("key", "name", "description", "category", "kind", "spec"):
            if not entry.get(needed):
                raise CatalogError(f"{where}: {needed} is missing")
        if entry["category"] not in category_keys:
            raise CatalogError(f"{where}: unknown category {entry['category']!r}")
        if entry["kind"] not in KINDS:
            raise CatalogError(f"{where}: kind must be trigger or action")
        op = _spec_operation(spec, entry["spec"], where)
        fields = _fields(op, entry, picker_for, where)
        stated = entry.get("items")
        items = _stated_items(stated, f"{where}.items") if stated is not None else derive_items(op.response_schema)
        if entry["kind"] == TRIGGER:
            _check_trigger_answer(op, items, where)
        require_one_of = tuple(entry.get("require_one_of") or ())
        for name in require_one_of:
            if not any(f.name == name for f in fields):
                raise CatalogError(f"{where}: require_one_of names {name!r}, which is not a field")
        for name in [f.picker for f in fields if f.picker]:
            if name not in pickers:
                raise CatalogError(f"{where}: no picker {name!r}")
        fixed = {loc: dict(v) for loc, v in _table(entry.get("fixed"), where).items()}
        operations.append(
            CatalogOperation(
                key=str(entry["key"]),
                name=str(entry["name"]),
                description=str(entry["description"]),
                category=str(entry["category"]),
                kind=str(entry["kind"]),
                spec=op,
                version=op.version or versions.get(op.app),
                fields=fields,
                fixed=fixed,
                require_one_of=require_one_of,
                items=items,
                note=str(entry.get("note") or "").strip(),
            )
        )
    keys = [op.key for op in operations]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise CatalogError(f"duplicate operation keys: {', '.join(duplicates)}")
    by_key = {op.key: op for op in operations}
    for picker in pickers.values():
        target = by_key.get(picker.operation)
        if target is None:
            raise CatalogError(f"pickers.{picker.key}: no catalog operation {picker.operation!r}")
        if (picker.items or target.items) is None:
            raise CatalogError(f"pickers.{picker.key}: {picker.operation} has no items to choose from")
        for name in picker.params:
            if target.field(name) is None or target.field(name, BODY) is not None:
                raise CatalogError(f"pickers.{picker.key}: {picker.operation} has no path or query field {name!r}")
    not_built = tuple(
        NotBuilt(
            name=str(item["name"]),
            description=str(item["description"]),
            category=str(item["category"]),
            kind=str(item["kind"]),
            why=str(item["why"]).strip(),
        )
        for item in data.get("not_built") or []
    )
    excluded = _excluded(spec, data.get("excluded"))
    offered = {op.spec.key for op in operations}
    overlap = sorted(e.spec_ref for e in excluded if e.spec.key in offered)
    if overlap:
        raise CatalogError(f"excluded, yet in the catalog: {', '.join(overlap)}")
    covered = offered | {e.spec.key for e in excluded}
    return Catalog(
        categories=categories,
        operations=tuple(operations),
        pickers=pickers,
        not_built=not_built,
        excluded=excluded,
        uncovered=tuple(op for op in spec.operations if op.key not in covered),
    )


def _excluded(spec: GhlSpec, data: Any) -> tuple[Excluded, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise CatalogError("excluded must be a list of tables ([[excluded]])")
    found: list[Excluded] = []
    for index, item in enumerate(data):
        where = f"excluded {index + 1}"
        item = _table(item, where)
        _unknown(item, frozenset({"spec", "why"}), where)
        why = str(item.get("why") or "").strip()
        if not why:
            raise CatalogError(f"{where}: why is missing (an exclusion says its reason)")
        found.append(Excluded(spec=_spec_operation(spec, item.get("spec"), where), why=why))
    refs = [e.spec_ref for e in found]
    duplicates = sorted({r for r in refs if refs.count(r) > 1})
    if duplicates:
        raise CatalogError(f"excluded twice: {', '.join(duplicates)}")
    return tuple(found)


MSG_TRIGGER_NO_ITEMS = "{where}: a trigger needs items (the response schema does not say where they are)"
MSG_TRIGGER_NOT_JSON = (
    "{where}: a trigger must answer JSON with items, and the spec declares no JSON answer for {operation} (a file or "
    "an empty answer?): make it an action, or state where its items are with a path"
)


def _check_trigger_answer(op: Operation, items: Items | None, where: str) -> None:
    """A trigger polls items: its answer must be JSON holding them. When the spec declares a JSON answer, the items are
    read from it or stated; when it declares none (recordings, transcription files, answers GHL does not document),
    the entry must state a path to items under a key, which only a JSON object can have."""
    if items is None:
        raise CatalogError(MSG_TRIGGER_NO_ITEMS.format(where=where))
    if op.response_schema is None and not items.path:
        raise CatalogError(MSG_TRIGGER_NOT_JSON.format(where=where, operation=op.operation_id))


_lock = threading.Lock()
_catalog: Catalog | None = None


def get_catalog() -> Catalog:
    """The process-wide catalog, loaded on first use (after the spec)."""
    global _catalog
    if _catalog is None:
        with _lock:
            if _catalog is None:
                _catalog = load_catalog()
    return _catalog


# ------------------------------------------------------------------------------
# Templates: "{locationId}", "{email}" in defaults, fixed values and picker parameters
# ------------------------------------------------------------------------------
class _Drop:
    """A template whose placeholder has no value: the key (or list item) holding it is left out."""


DROP: Final = _Drop()


def render(template: Any, values: Mapping[str, Any]) -> Any:
    """A template with its placeholders filled. A string that is exactly "{name}" takes the value as it is (any
    type); placeholders inside longer text are replaced by their text. A placeholder without a value (missing, None
    or "") drops what holds it: its key in a dict, and a dict inside a list that lost a key this way is dropped whole
    (a search filter without its value is left out, not sent half). DROP when the template itself drops."""
    return _render(template, values)[0]


def _render(template: Any, values: Mapping[str, Any]) -> tuple[Any, bool]:
    """(value or DROP, whether a key of this very dict was dropped)."""
    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template)
        if whole:
            value = values.get(whole.group(1))
            return (DROP if value is None or value == "" else value), False
        missing = False

        def fill(match: re.Match[str]) -> str:
            nonlocal missing
            value = values.get(match.group(1))
            if value is None or value == "":
                missing = True
                return ""
            return str(value)

        text = _PLACEHOLDER.sub(fill, template)
        return (DROP if missing else text), False
    if isinstance(template, Mapping):
        rendered = {k: _render(v, values)[0] for k, v in template.items()}
        kept = {k: v for k, v in rendered.items() if v is not DROP}
        return kept, len(kept) < len(rendered)
    if isinstance(template, list):
        items = [_render(v, values) for v in template]
        return [v for v, lost_a_key in items if v is not DROP and not lost_a_key], False
    return template, False
