"""Where a trigger's items come from, a page at a time: a GoHighLevel catalog trigger (run through `catalog_execute`,
paged as its spec declares, see paging.py) or a StreetText listing (its durable cursor).

A source hands out pages; each page says where the next one starts. The engine stores that position with the page's
items, so a poll that stops (a crash, the page limit) resumes at the next page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from automations import values as v
from automations.models import Automation
from automations.paging import Paging, paging_for
from integrations.catalog.loader import CatalogOperation, UnknownCatalogOperation
from integrations.catalog.selectors import catalog_operation
from integrations.catalog.services import catalog_execute
from integrations.clients import exceptions as exc
from integrations.models import System
from integrations.object_types import OBJECT_TYPES

MSG_NOT_A_TRIGGER = "“{key}” is not a trigger of the operations catalog."
MSG_UNKNOWN_RESOURCE = "“{key}” is not a StreetText listing; choose one of {known}."
MSG_NO_STREETTEXT = "Choose a StreetText connection: this trigger reads StreetText."
MSG_TRIGGER_REFUSED = "The trigger was not sent: {error}"
MSG_TRIGGER_FAILED = "Reading the trigger failed: {error}"
# Re-read this much before the newest change seen, when a trigger can be narrowed by updated time: GHL's search
# index shows an update a few seconds late, and an item updated just before the last poll must not be missed.
OVERLAP = timedelta(minutes=5)
STREETTEXT_PAGE_SIZE = 100


class TriggerFailed(Exception):
    """The trigger cannot be read and retrying will not help (a refused request, a wrong parameter, no access)."""


@dataclass(frozen=True)
class TriggerInfo:
    """What the engine needs to know about a trigger's items."""

    label: str
    id_field: str | None
    updated_field: str | None
    many: bool
    # A durable cursor: after the last page the source continues from where it stopped (StreetText), instead of
    # scanning again from the top (GoHighLevel lists).
    incremental: bool = False


@dataclass
class Page:
    items: list[dict[str, Any]]
    next: dict[str, Any] | None  # where the next page starts
    done: bool  # this was the last page of the scan
    data: Any = field(default=None, repr=False)


# ------------------------------------------------------------------------------
# StreetText listings
# ------------------------------------------------------------------------------
ACTIVITY_FIELDS = (
    ("id", "Activity id"),
    ("contact_id", "Contact id"),
    ("type", "Type"),
    ("text", "Text"),
    ("occurred_at", "Occurred at"),
    ("source", "Source"),
    ("source_id", "Source id"),
)
# Listing -> (label, object type of integrations/object_types.py or None, client resource or "contacts").
STREETTEXT_RESOURCES: dict[str, tuple[str, str | None]] = {
    "contacts": ("StreetText contacts", "contact"),
    "tasks": ("StreetText tasks", "task"),
    "notes": ("StreetText notes", "note"),
    "appointments": ("StreetText appointments", "appointment"),
    "organizations": ("StreetText organisations", "business"),
    "activities": ("StreetText contact activities", None),
}


def streettext_fields(resource: str) -> list[tuple[str, str]]:
    """(name, label) of a StreetText listing's items."""
    _, object_type = STREETTEXT_RESOURCES[resource]
    if object_type is None:
        names = list(ACTIVITY_FIELDS)
    else:
        names = [(f.name, f.label) for f in OBJECT_TYPES[object_type].fields_for(System.STREETTEXT)]
    known = {name for name, _ in names}
    stamps = (("created_at", "Created at"), ("updated_at", "Updated at"))
    names += [(name, label) for name, label in stamps if name not in known]
    return names


class StreetTextTrigger:
    """A StreetText listing read with its durable cursor: the first scan reads everything (what existed before the
    start is recorded as such), later polls read only what changed since."""

    def __init__(self, automation: Automation) -> None:
        from integrations.adapters.clients import streettext_client_for

        if automation.trigger_key not in STREETTEXT_RESOURCES:
            raise TriggerFailed(
                MSG_UNKNOWN_RESOURCE.format(key=automation.trigger_key, known=", ".join(STREETTEXT_RESOURCES))
            )
        if automation.streettext_connection is None:
            raise TriggerFailed(MSG_NO_STREETTEXT)
        self.resource = automation.trigger_key
        self.client = streettext_client_for(automation.streettext_connection)
        label, _ = STREETTEXT_RESOURCES[self.resource]
        self.info = TriggerInfo(label=label, id_field="id", updated_field="updated_at", many=True, incremental=True)

    def start(self, *, watermark: str = "") -> dict[str, Any]:
        return {"cursor": None}

    def page(self, position: Mapping[str, Any], *, size: int | None = None) -> Page:
        limit = size or STREETTEXT_PAGE_SIZE
        cursor = position.get("cursor")
        try:
            if self.resource == "contacts":
                answer = self.client.list_contacts(limit=limit, cursor=cursor)
            else:
                answer = self.client.list_records(self.resource, limit=limit, cursor=cursor)
        except exc.TransientApiError:
            raise
        except exc.ApiError as e:
            raise TriggerFailed(MSG_TRIGGER_FAILED.format(error=e)) from e
        following = {"cursor": answer["next_cursor"] or cursor}
        return Page(items=list(answer["data"]), next=following, done=not answer["has_more"], data=answer)

    def fields(self) -> list[tuple[str, str]]:
        return streettext_fields(self.resource)


# ------------------------------------------------------------------------------
# GoHighLevel catalog triggers
# ------------------------------------------------------------------------------
def _schema_at(schema: Any, path: str) -> Any:
    node = schema
    for step in [s for s in path.split(".") if s]:
        while isinstance(node, Mapping) and node.get("type") == "array":
            node = node.get("items") or {}
        props = node.get("properties") if isinstance(node, Mapping) else None
        if not isinstance(props, Mapping) or step not in props:
            return {}
        node = props[step]
    while isinstance(node, Mapping) and node.get("type") == "array":
        node = node.get("items") or {}
    return node


def schema_fields(schema: Any, prefix: str = "", depth: int = 0) -> list[str]:
    """Dotted names of an item schema's fields (nested objects two levels deep), as `values.flatten` names them."""
    props = schema.get("properties") if isinstance(schema, Mapping) else None
    if not isinstance(props, Mapping):
        return []
    names: list[str] = []
    for name, sub in props.items():
        dotted = f"{prefix}{name}"
        nested = sub.get("properties") if isinstance(sub, Mapping) and sub.get("type") != "array" else None
        if isinstance(nested, Mapping) and depth < 2:
            names += schema_fields(sub, f"{dotted}.", depth + 1)
        else:
            names.append(dotted)
    return names


class GhlTrigger:
    """A catalog trigger, run through catalog_execute and paged as its spec declares."""

    def __init__(self, automation: Automation, *, now: datetime | None = None) -> None:
        try:
            operation = catalog_operation(automation.trigger_key)
        except UnknownCatalogOperation:
            operation = None
        if operation is None or not operation.is_trigger or operation.items is None:
            raise TriggerFailed(MSG_NOT_A_TRIGGER.format(key=automation.trigger_key))
        self.automation = automation
        self.operation: CatalogOperation = operation
        self.paging: Paging = paging_for(operation)
        items = operation.items
        self.info = TriggerInfo(
            label=operation.name, id_field=items.id_field, updated_field=items.updated_field, many=items.many
        )
        self.now = now or timezone.now()

    # Search Contacts can be asked for what changed since a time, oldest first: later scans read only that (with an
    # overlap, OVERLAP). Every other catalog trigger is read whole on each poll; what was handled is recognised by
    # the history's (item, version) rows.
    def narrowable(self) -> bool:
        body = self.automation.trigger_body
        return self.operation.key == "search-contacts" and not (isinstance(body, Mapping) and body.get("sort"))

    def start(self, *, watermark: str = "") -> dict[str, Any]:
        """The position of a new scan: its reference time for relative parameters, the first paging values and, for
        a narrowable trigger, the updated time it reads from."""
        params, body = self._inputs(self.now)
        size = self.paging.page_size(params, body)
        position: dict[str, Any] = {"now": v.iso(self.now), "values": self.paging.first(size), "size": size}
        since = v.parse_time(watermark) if watermark else None
        if self.narrowable() and since is not None:
            position["since"] = v.iso(since - OVERLAP)
        return position

    def _inputs(self, now: datetime) -> tuple[dict[str, Any], Any]:
        params = v.resolve_relative(dict(self.automation.trigger_params or {}), now)
        body = v.resolve_relative(self.automation.trigger_body, now)
        return params, body

    def request(self, position: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
        """The parameters and body of the page at `position`."""
        now = v.parse_time(position.get("now")) or self.now
        params, body = self._inputs(now)
        params, body = self.paging.apply(params, body, position.get("values") or {})
        if self.narrowable():
            body = dict(body or {})
            body["sort"] = [{"field": "dateUpdated", "direction": "asc"}]
            if position.get("since"):
                since_filter = {"field": "dateUpdated", "operator": "range", "value": {"gte": position["since"]}}
                body["filters"] = [*(body.get("filters") or []), since_filter]
        return params, body

    def page(self, position: Mapping[str, Any], *, size: int | None = None) -> Page:
        params, body = self.request(position)
        if size is not None and self.paging.size_name:
            params, body = self.paging.apply(params, body, {self.paging.size_name: size})
        execution = catalog_execute(
            connection=self.automation.ghl_connection,
            key=self.operation.key,
            params=params,
            body=body,
            log=False,
        )
        if not execution.ok:
            error = execution.exception
            if isinstance(error, exc.TransientApiError):
                raise error
            detail = "; ".join([execution.error, *execution.messages]).strip("; ")
            template = MSG_TRIGGER_FAILED if error is not None else MSG_TRIGGER_REFUSED
            raise TriggerFailed(template.format(error=detail or "no answer"))
        items = execution.items
        values = position.get("values") or {}
        following = self.paging.next(values, execution.data, items, int(position.get("size") or 0))
        if following is None:
            return Page(items=items, next=None, done=True, data=execution.data)
        return Page(items=items, next={**position, "values": following}, done=False, data=execution.data)

    def fields(self) -> list[tuple[str, str]]:
        items = self.operation.items
        schema = _schema_at(self.operation.spec.response_schema or {}, items.path if items else "")
        return [(name, name) for name in schema_fields(schema)]


Trigger = GhlTrigger | StreetTextTrigger


def trigger_for(automation: Automation, *, now: datetime | None = None) -> Trigger:
    """The source of an automation's items."""
    if automation.trigger_system == System.STREETTEXT:
        return StreetTextTrigger(automation)
    return GhlTrigger(automation, now=now)


def trigger_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Every trigger an automation can poll, grouped for a select: GoHighLevel's by category, then StreetText's."""
    from integrations.catalog.selectors import catalog_categories, catalog_operations

    groups: list[tuple[str, list[tuple[str, str]]]] = []
    for count in catalog_categories():
        ops = catalog_operations(kind="trigger", category=count.category.key)
        if ops:
            groups.append((f"GoHighLevel: {count.category.label}", [(op.key, op.name) for op in ops]))
    groups.append(("StreetText", [(key, label) for key, (label, _) in STREETTEXT_RESOURCES.items()]))
    return groups
