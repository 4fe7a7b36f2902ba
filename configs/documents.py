"""Mappings and automations as plain documents (and back): every field a person edits, connections by name, never a
secret. The field lists come from the models, so a field added later is exported without touching this module.

A file holds `{"streetsync_config": 1, "mappings": [...], "automations": [...]}` as YAML or JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import yaml
from django.db import models
from django.utils.dateparse import parse_datetime

from automations.models import Automation, AutomationAction, AutomationFieldMapping, AutomationPath
from automations.steps import StepTree
from integrations.models import Connection
from mappings.models import FieldMapping, Mapping

FORMAT_VERSION = 1
FORMATS = ("yaml", "json")
# Kept out of documents: ids, bookkeeping, and what is derived from the rest (the beat entry follows the schedule).
SKIPPED = {"id", "created_at", "updated_at", "periodic_task", "mapping", "automation", "action", "path", "router"}
CONNECTION_FIELDS = {"ghl_connection", "streettext_connection"}


class DocumentError(ValueError):
    """A file that cannot be read as a configuration document."""


MAX_VALUES = 200_000
MSG_TOO_BIG = (
    "The file holds more than 200,000 values once its YAML aliases are expanded; a configuration is far smaller."
)


def _within(data: Any, limit: int = MAX_VALUES) -> bool:
    """Whether the document has at most `limit` values counted as expanded: YAML aliases (*name) let a few lines
    stand for billions of values, and everything after loading walks the expanded form."""
    stack, seen = [data], 0
    while stack:
        value = stack.pop()
        seen += 1
        if seen > limit:
            return False
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return True


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    return [
        f
        for f in model._meta.concrete_fields
        if f.name not in SKIPPED and (f.editable or f.name in {"preset", "target_label", "source_label"})
    ]


def field_names(model: type[models.Model]) -> list[str]:
    return [f.name for f in _fields(model)]


def _value(obj: models.Model, f: models.Field[Any, Any]) -> Any:
    if f.name in CONNECTION_FIELDS:
        connection = getattr(obj, f.name)
        return connection.name if connection is not None else None
    value = getattr(obj, f.attname)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _plain(obj: models.Model) -> dict[str, Any]:
    # Through JSON: plain types only (a choice enum becomes its value), as a file would give them back.
    return dict(json.loads(json.dumps({f.name: _value(obj, f) for f in _fields(type(obj))})))


def mapping_document(mapping: Mapping) -> dict[str, Any]:
    doc = _plain(mapping)
    doc["field_mappings"] = [_plain(fm) for fm in mapping.field_mappings.order_by("direction", "position", "id")]
    return doc


def automation_document(automation: Automation) -> dict[str, Any]:
    """The automation, its main line of steps, and each router's paths with their own steps, nested as they run."""
    doc = _plain(automation)
    tree = StepTree.of(automation)
    doc["actions"] = [_step_document(step, tree) for step in tree.main]
    return doc


def _step_document(step: AutomationAction, tree: StepTree) -> dict[str, Any]:
    doc = {**_plain(step), "fields": [_plain(fm) for fm in step.field_mappings.all()]}
    if step.kind == AutomationAction.Kind.ROUTER:
        doc["paths"] = [
            {**_plain(path), "actions": [_step_document(s, tree) for s in tree.steps.get(path.pk, [])]}
            for path in tree.paths.get(step.pk, [])
        ]
    return doc


def file_document(*, mappings: list[Mapping], automations: list[Automation]) -> dict[str, Any]:
    return {
        "streetsync_config": FORMAT_VERSION,
        "mappings": [mapping_document(m) for m in mappings],
        "automations": [automation_document(a) for a in automations],
    }


def dump(document: dict[str, Any], fmt: str = "yaml") -> str:
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    return str(yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120))


def load(text: str) -> dict[str, Any]:
    """A file's text (YAML or JSON: JSON is YAML) as a document, or a DocumentError saying why not."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise DocumentError(f"Not YAML or JSON: {e}") from e
    except RecursionError as e:
        raise DocumentError("The file nests too deeply.") from e
    if not _within(data):
        raise DocumentError(MSG_TOO_BIG)
    if not isinstance(data, dict) or "streetsync_config" not in data:
        raise DocumentError("Not a StreetSync configuration: the file has no “streetsync_config” key.")
    if data["streetsync_config"] != FORMAT_VERSION:
        raise DocumentError(f"Configuration format {data['streetsync_config']!r} is not known (expected 1).")
    for key in ("mappings", "automations"):
        if not isinstance(data.get(key) or [], list):
            raise DocumentError(f"“{key}” must be a list.")
    return data


# -- applying a document to objects (no saving: the services validate and save) ---------------------------------------
def apply_fields(
    obj: models.Model, doc: dict[str, Any], *, where: str, errors: list[str], skip: frozenset[str] = frozenset()
) -> None:
    """Set obj's fields from doc; unknown keys and unknown connections are errors (reported, never guessed)."""
    model = type(obj)
    known = {f.name: f for f in _fields(model)}
    for key in doc:
        if key not in known and key not in skip:
            errors.append(f"{where}: unknown field “{key}”.")
    for name, f in known.items():
        if name not in doc:
            continue
        value = doc[name]
        if name in CONNECTION_FIELDS:
            system = "ghl" if name == "ghl_connection" else "streettext"
            if value in (None, ""):
                setattr(obj, name, None)
                continue
            connection = Connection.objects.filter(name=value, system=system).first()
            if connection is None:
                errors.append(f"{where}: no {system_label(system)} connection is called “{value}”.")
                continue
            setattr(obj, name, connection)
        elif isinstance(f, models.DateTimeField) and isinstance(value, str):
            parsed = parse_datetime(value)
            if parsed is None:
                errors.append(f"{where}: “{name}” is not a date and time: {value!r}.")
                continue
            setattr(obj, name, parsed)
        else:
            setattr(obj, f.attname, value)


def system_label(system: str) -> str:
    return "GoHighLevel" if system == "ghl" else "StreetText"


def children(doc: dict[str, Any], key: str, *, where: str, errors: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    items = doc.get(key) or []
    if not isinstance(items, list):
        errors.append(f"{where}: “{key}” must be a list.")
        return
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            errors.append(f"{where}: {key} #{index} must be a mapping of fields.")
            continue
        yield index, item


CHILD_MODELS = {
    "field_mappings": FieldMapping,
    "actions": AutomationAction,
    "fields": AutomationFieldMapping,
    "paths": AutomationPath,
}


# -- comparing two documents ------------------------------------------------------------------------------------------
def _child_key(kind: str, item: dict[str, Any], index: int) -> str:
    if kind == "field_mappings":
        return f"{item.get('direction', '?')}:{item.get('target_field', '?')}"
    if kind == "fields":
        return str(item.get("target_field", index))
    return str(index)


def flatten(doc: Any, prefix: str = "") -> dict[str, Any]:
    """Paths to leaf values; child lists are keyed by what identifies an item (a field mapping by direction and target
    field), so a change reads as "field_mappings[to_streettext:last_name].transforms", not as a shifted index."""
    out: dict[str, Any] = {}
    if isinstance(doc, dict):
        for key, value in doc.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key in CHILD_MODELS and isinstance(value, list):
                for index, item in enumerate(value, start=1):
                    child = f"{path}[{_child_key(key, item, index) if isinstance(item, dict) else index}]"
                    out.update(flatten(item, child))
                if not value:
                    out[path] = []
            else:
                out[path] = value
        return out
    out[prefix] = doc
    return out


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(path, before, after) for every leaf that differs, in path order; a missing side is None."""
    a, b = flatten(before), flatten(after)
    return [(path, a.get(path), b.get(path)) for path in sorted(set(a) | set(b)) if a.get(path) != b.get(path)]
