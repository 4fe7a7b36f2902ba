"""GoHighLevel actions: any action of the operations catalog, run through `catalog_execute` (checked against GHL's
spec before it is sent, logged in the execution log).

Whether a lost answer may be followed by sending again: PUT, PATCH and DELETE (and a few POSTs that set rather than
add) are safe to repeat; the creates GHL lets us look up are found again (`FINDERS`); any other POST whose answer was
lost is not sent again by itself (the item fails, saying so; Retry sends it again once someone has checked).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from automations import values as v
from automations.actions.base import ActionContext, ActionFailed, ActionField, Sent, blank, mapped_values
from automations.models import AutomationAction
from integrations.catalog.loader import BODY, BODY_JSON, INPUT, PATH, QUERY, CatalogOperation, UnknownCatalogOperation
from integrations.catalog.models import CatalogExecution
from integrations.catalog.selectors import catalog_operation
from integrations.catalog.services import catalog_execute
from integrations.clients import exceptions as exc

MSG_NOT_AN_ACTION = "“{key}” is not an action of the operations catalog."
MSG_NOT_SENT = "Not sent: {error}"
MSG_BODY_JSON = "{name}: the body must be JSON ({error})"
# A StreetText contact named by its id, found (or created) in GoHighLevel: fills the operation's contactId.
STREETTEXT_CONTACT = "streettext_contact_id"
# POSTs that set state rather than add to it: a repeat changes nothing.
REPEATABLE_POSTS = frozenset(
    {
        "upsert-contact",
        "find-contact",
        "add-tags-to-contact",
        "bulk-update-contact-tags",
        "add-contact-followers",
        "add-opportunity-followers",
        "bulk-business-update",
        "upsert-opportunity",
        "validate-calendar-group-slug",
        "agent-typing-indicator",
    }
)
REPEATABLE_METHODS = frozenset({"GET", "PUT", "PATCH", "DELETE"})


def _ids(operation: CatalogOperation, data: Any, items: list[dict[str, Any]]) -> dict[str, Any]:
    """The id of what an action made or changed, from its answer."""
    if items and operation.items and operation.items.id_field and items[0].get(operation.items.id_field):
        return {"id": items[0][operation.items.id_field]}
    if isinstance(data, dict):
        if data.get("id"):
            return {"id": data["id"]}
        for key, value in data.items():
            if isinstance(value, dict) and value.get("id"):
                return {"id": value["id"], "kind": key}
    return {}


def _find_in(
    ctx: ActionContext, key: str, params: dict[str, Any], match: Callable[[dict[str, Any]], bool], exclude: set[str]
) -> Sent | None:
    found = catalog_execute(connection=ctx.automation.ghl_connection, key=key, params=params, log=False)
    if not found.ok:
        if isinstance(found.exception, exc.TransientApiError):
            raise found.exception
        return None
    for item in found.items:
        if str(item.get("id")) not in exclude and match(item):
            return Sent(ids={"id": item["id"]}, response=item)
    return None


def _find_note(ctx: ActionContext, payload: dict[str, Any], since: datetime, exclude: set[str]) -> Sent | None:
    body = (payload.get("body") or {}).get("body")

    def same(note: dict[str, Any]) -> bool:
        added = v.parse_time(note.get("dateAdded"))
        return note.get("body") == body and (added is None or added >= since)

    return _find_in(ctx, "get-contact-notes", {"contactId": payload["params"].get("contactId")}, same, exclude)


def _find_task(ctx: ActionContext, payload: dict[str, Any], since: datetime, exclude: set[str]) -> Sent | None:
    sent = payload.get("body") or {}

    def same(task: dict[str, Any]) -> bool:
        due = v.parse_time(task.get("dueDate")), v.parse_time(sent.get("dueDate"))
        return task.get("title") == sent.get("title") and due[0] == due[1]

    return _find_in(ctx, "get-contact-tasks", {"contactId": payload["params"].get("contactId")}, same, exclude)


def _find_contact(ctx: ActionContext, payload: dict[str, Any], since: datetime, exclude: set[str]) -> Sent | None:
    body = payload.get("body") or {}
    for name in ("email", "phone"):
        if body.get(name):
            found = catalog_execute(
                connection=ctx.automation.ghl_connection, key="find-contact", params={name: body[name]}, log=False
            )
            if not found.ok and isinstance(found.exception, exc.TransientApiError):
                raise found.exception
            contacts = (found.data or {}).get("contacts") if found.ok and isinstance(found.data, dict) else None
            if contacts and str(contacts[0].get("id")) not in exclude:
                return Sent(ids={"id": contacts[0]["id"]}, response=contacts[0])
    return None


FINDERS: dict[str, Callable[[ActionContext, dict[str, Any], datetime, set[str]], Sent | None]] = {
    "create-contact-note": _find_note,
    "create-contact-task": _find_task,
    "create-contact": _find_contact,
}


def ghl_action_fields(operation: CatalogOperation) -> list[ActionField]:
    """The fields of a catalog action, as the field picker offers them."""
    fields = []
    for f in operation.fields:
        where = {PATH: "in the path", QUERY: "query", INPUT: "finds by", BODY: "body", BODY_JSON: "whole body, JSON"}
        label = f"{f.name} ({where.get(f.location, f.location)})"
        fields.append(ActionField(f.name, label, "json" if f.location == BODY_JSON else "text", f.needed_in_form))
    if any(f.name == "contactId" for f in operation.fields):
        fields.append(
            ActionField(
                STREETTEXT_CONTACT,
                "Contact: StreetText id (found or created in GoHighLevel)",
                "contact",
                help="Fills contactId with the GoHighLevel contact of this StreetText contact.",
            )
        )
    return fields


class GhlExecutor:
    """One configured catalog action."""

    def __init__(self, ctx: ActionContext, action: AutomationAction) -> None:
        try:
            operation = catalog_operation(action.operation)
        except UnknownCatalogOperation:
            operation = None
        if operation is None or operation.is_trigger:
            raise ActionFailed(MSG_NOT_AN_ACTION.format(key=action.operation))
        self.ctx = ctx
        self.action = action
        self.operation = operation
        self.can_find = operation.key in FINDERS

    def build(self, values: dict[str, Any]) -> dict[str, Any]:
        raw = mapped_values(self.action, values, region=self.ctx.automation.phone_region)
        params: dict[str, Any] = {}
        body: Any = None
        fields = {f.name: f for f in self.operation.fields}
        if not blank(raw.get(STREETTEXT_CONTACT)):
            raw["contactId"] = self.ctx.resolver.ghl_for_streettext(
                str(raw.pop(STREETTEXT_CONTACT)), create=self.action.create_missing_contact
            )
        for name, value in raw.items():
            field = fields.get(name)
            if field is None or blank(value):
                continue
            if field.location in (PATH, QUERY, INPUT):
                params[name] = value
            elif field.location == BODY_JSON:
                if isinstance(value, str):
                    try:
                        value = json.loads(value)
                    except ValueError as e:
                        raise ActionFailed(MSG_BODY_JSON.format(name=name, error=e)) from e
                body = value
            else:
                body = {**(body or {}), name: value}
        return {"params": params, "body": body}

    def idempotent(self, payload: dict[str, Any]) -> bool:
        return self.operation.method in REPEATABLE_METHODS or self.operation.key in REPEATABLE_POSTS

    def send(self, payload: dict[str, Any]) -> Sent:
        execution = catalog_execute(
            connection=self.ctx.automation.ghl_connection,
            key=self.operation.key,
            params=payload.get("params") or {},
            body=payload.get("body"),
            log=True,
            origin=CatalogExecution.Origin.CODE,
        )
        if execution.ok:
            return Sent(ids=_ids(self.operation, execution.data, execution.items), response=execution.data)
        if execution.exception is not None:
            raise execution.exception
        raise ActionFailed(MSG_NOT_SENT.format(error="; ".join([execution.error, *execution.messages]).strip("; ")))

    def find(self, payload: dict[str, Any], *, since: datetime, exclude: set[str]) -> Sent | None:
        finder = FINDERS.get(self.operation.key)
        return finder(self.ctx, payload, since, exclude) if finder else None
