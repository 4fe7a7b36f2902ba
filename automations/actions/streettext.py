"""StreetText actions: create or update a contact, tag it, give it a task, a note or an activity (a message, a call…).

Each names its contact by StreetText id, by GoHighLevel contact id (found, or created, through the contact resolver)
or by email. Creates that cannot be made unrepeatable by the API are found again after a lost answer (`find`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from automations import values as v
from automations.actions.base import (
    MSG_REQUIRED,
    ActionContext,
    ActionFailed,
    ActionField,
    Sent,
    blank,
    mapped_values,
)
from automations.models import AutomationAction
from mappings.transforms import TransformError, tags_split, to_bool

MSG_NO_CONTACT = "Name the contact: map contact_id, ghl_contact_id or contact_email."
MSG_BAD_TIME = '{name}: "{value}" is not a time (ISO 8601 or epoch milliseconds)'
MSG_BAD_BOOL = '{name}: "{value}" is not yes or no'
# How far back a lost create is looked for (clocks of two systems, the time the request took).
FIND_PAGES = 5
CUSTOM_PREFIX = "custom."

CONTACT_REFS = (
    ActionField("contact_id", "Contact: StreetText id", "contact", help="e.g. {actions.1.id}"),
    ActionField(
        "ghl_contact_id",
        "Contact: GoHighLevel id",
        "contact",
        help="Found in StreetText by its link, email or phone; created when missing.",
    ),
    ActionField("contact_email", "Contact: email", "contact", help="Found in StreetText by email."),
)
CONTACT_FIELDS = (
    ActionField("first_name", "First name"),
    ActionField("last_name", "Last name"),
    ActionField("email", "Email", "email"),
    ActionField("phone", "Phone (E.164)", "phone"),
    ActionField("company", "Company"),
    ActionField("address", "Address"),
    ActionField("city", "City"),
    ActionField("region", "Region"),
    ActionField("postal_code", "Postal code"),
    ActionField("country", "Country"),
    ActionField("birthday", "Birthday (YYYY-MM-DD)"),
    ActionField("tags", "Tags (added to the contact's)", "tags"),
    ActionField("opted_out", "Opted out", "bool"),
    ActionField("external_id", "External id"),
    ActionField("organization_id", "Organisation id"),
)


@dataclass(frozen=True)
class StreetTextAction:
    key: str
    name: str
    description: str
    fields: tuple[ActionField, ...]
    needs_contact: bool = True
    # The resource a create is found again in after a lost answer, and the fields that must match.
    resource: str = ""
    match: tuple[str, ...] = ()

    @property
    def all_fields(self) -> tuple[ActionField, ...]:
        return (*CONTACT_REFS, *self.fields) if self.needs_contact else self.fields


ACTIONS: dict[str, StreetTextAction] = {
    a.key: a
    for a in (
        StreetTextAction(
            "contact.upsert",
            "Create or update a contact",
            "Finds the contact by email, phone or external id and changes the fields given (tags are added); "
            "creates it when none matches. custom.<key> fields fill custom fields.",
            CONTACT_FIELDS,
            needs_contact=False,
        ),
        StreetTextAction(
            "contact.tag",
            "Tag a contact",
            "Adds tags to the contact (and removes others); its other tags stay.",
            (
                ActionField("tags", "Tags to add", "tags", required=True),
                ActionField("remove_tags", "Tags to remove", "tags"),
            ),
        ),
        StreetTextAction(
            "task.create",
            "Create a task",
            "A task on the contact.",
            (
                ActionField("title", "Title", required=True),
                ActionField("body", "Details", "long_text"),
                ActionField("due_at", "Due at", "time"),
                ActionField("completed", "Completed", "bool"),
                ActionField("assignee", "Assignee"),
            ),
            resource="tasks",
            match=("title", "body", "due_at"),
        ),
        StreetTextAction(
            "note.create",
            "Create a note",
            "A note on the contact.",
            (
                ActionField("body", "Text", "long_text", required=True),
                ActionField("title", "Title"),
                ActionField("author", "Author"),
                ActionField("written_at", "Written at", "time"),
            ),
            resource="notes",
            match=("body", "title"),
        ),
        StreetTextAction(
            "activity.create",
            "Record an activity (a message, a call…)",
            "An entry on the contact's timeline. With a source id it is recorded once per source event.",
            (
                ActionField("type", "Type (message, call, email, form, meeting, note, other)", required=True),
                ActionField("text", "Text", "long_text", required=True),
                ActionField("occurred_at", "Occurred at", "time"),
                ActionField("source", "Source (e.g. gohighlevel)"),
                ActionField("source_id", "Source id (e.g. the message id)"),
            ),
            resource="activities",
            match=("type", "text", "source_id"),
        ),
    )
}


def _normalise(field: ActionField, value: Any) -> Any:
    """A mapped value as the StreetText contract wants it; blank values are left out."""
    if blank(value):
        return None
    kind = field.kind
    if kind == "time":
        moment = v.parse_time(value)
        if moment is None:
            raise ActionFailed(MSG_BAD_TIME.format(name=field.name, value=value))
        return v.iso(moment)
    if kind == "tags":
        return tags_split(value) if isinstance(value, str) else [str(t) for t in value if not blank(t)]
    if kind == "bool":
        try:
            flag = to_bool(value)
        except TransformError:
            raise ActionFailed(MSG_BAD_BOOL.format(name=field.name, value=value)) from None
        return flag
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


class StreetTextExecutor:
    """One configured StreetText action."""

    def __init__(self, ctx: ActionContext, action: AutomationAction) -> None:
        if action.operation not in ACTIONS:
            raise ActionFailed(f"“{action.operation}” is not a StreetText action; choose one of {', '.join(ACTIONS)}.")
        self.ctx = ctx
        self.action = action
        self.spec = ACTIONS[action.operation]
        self.can_find = bool(self.spec.resource) or action.operation == "contact.upsert"

    # -- building ---------------------------------------------------------------------------------------------
    def build(self, values: dict[str, Any]) -> dict[str, Any]:
        raw = mapped_values(self.action, values, region=self.ctx.automation.phone_region)
        payload: dict[str, Any] = {}
        fields = {f.name: f for f in self.spec.fields}
        custom: dict[str, Any] = {}
        for name, value in raw.items():
            if name.startswith(CUSTOM_PREFIX) and self.spec.key == "contact.upsert":
                if not blank(value):
                    custom[name.removeprefix(CUSTOM_PREFIX)] = value
            elif name in fields:
                clean = _normalise(fields[name], value)
                if clean is not None:
                    payload[name] = clean
        if custom:
            payload["custom"] = custom
        missing = [f.name for f in self.spec.fields if f.required and f.name not in payload]
        if missing:
            raise ActionFailed(MSG_REQUIRED.format(action=self.spec.name, names=", ".join(missing)))
        if self.spec.needs_contact:
            payload = {"contact_id": self._contact(raw), **payload}
        return payload

    def _contact(self, raw: dict[str, Any]) -> str:
        create = self.action.create_missing_contact
        if not blank(raw.get("contact_id")):
            return str(raw["contact_id"])
        if not blank(raw.get("ghl_contact_id")):
            return self.ctx.resolver.streettext_for_ghl(str(raw["ghl_contact_id"]), create=create)
        if not blank(raw.get("contact_email")):
            return self.ctx.resolver.streettext_for_email(str(raw["contact_email"]), create=create)
        raise ActionFailed(MSG_NO_CONTACT)

    # -- sending ----------------------------------------------------------------------------------------------
    def idempotent(self, payload: dict[str, Any]) -> bool:
        """Whether sending `payload` twice has the effect of sending it once."""
        key = self.spec.key
        if key == "contact.upsert":
            return any(payload.get(name) for name in ("email", "phone", "external_id"))
        if key == "contact.tag":
            return True
        return key == "activity.create" and bool(payload.get("source_id"))

    def send(self, payload: dict[str, Any]) -> Sent:
        senders: dict[str, Callable[[dict[str, Any]], Sent]] = {
            "contact.upsert": self._upsert,
            "contact.tag": self._tag,
            "activity.create": self._activity,
        }
        sender = senders.get(self.spec.key)
        if sender is not None:
            return sender(payload)
        record = self.ctx.streettext.create_record(self.spec.resource, payload)
        return Sent(ids={"id": record["id"], "contact_id": payload["contact_id"]}, response=record)

    def _match_contact(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        client = self.ctx.streettext
        for name in ("email", "phone", "external_id"):
            if payload.get(name):
                page = client.list_contacts(limit=1, **{name: str(payload[name])})
                if page["data"]:
                    return dict(page["data"][0])
        return None

    def _upsert(self, payload: dict[str, Any]) -> Sent:
        client = self.ctx.streettext
        existing = self._match_contact(payload)
        if existing is None:
            record = client.create_contact(payload)
            return Sent(ids={"id": record["id"], "created": True}, response=record)
        changes = dict(payload)
        if "tags" in changes:
            changes["tags"] = list(dict.fromkeys([*(existing.get("tags") or []), *changes["tags"]]))
        if "custom" in changes:
            changes["custom"] = {**(existing.get("custom") or {}), **changes["custom"]}
        changes = {k: val for k, val in changes.items() if existing.get(k) != val}
        if not changes:
            return Sent(ids={"id": existing["id"], "created": False}, response=existing, note="already up to date")
        record = client.update_contact(str(existing["id"]), changes)
        return Sent(ids={"id": record["id"], "created": False}, response=record)

    def _tag(self, payload: dict[str, Any]) -> Sent:
        client = self.ctx.streettext
        contact_id = payload["contact_id"]
        contact = client.get_contact(contact_id)
        current = list(contact.get("tags") or [])
        removed = {t.lower() for t in payload.get("remove_tags") or []}
        wanted = [t for t in dict.fromkeys([*current, *(payload.get("tags") or [])]) if t.lower() not in removed]
        if wanted == current:
            return Sent(ids={"id": contact_id}, response={"tags": current}, note="already tagged")
        record = client.update_contact(contact_id, {"tags": wanted})
        return Sent(ids={"id": contact_id}, response={"tags": record.get("tags")})

    def _activity(self, payload: dict[str, Any]) -> Sent:
        body = {k: val for k, val in payload.items() if k != "contact_id"}
        record, created = self.ctx.streettext.create_activity(payload["contact_id"], body)
        note = "" if created else "recorded before (same source id)"
        return Sent(ids={"id": record["id"], "contact_id": payload["contact_id"]}, response=record, note=note)

    # -- finding a create whose answer was lost --------------------------------------------------------------------
    def find(self, payload: dict[str, Any], *, since: datetime, exclude: set[str]) -> Sent | None:
        """The record this payload made, if it landed: same contact, same fields, made since `since`, not already
        claimed by another action run (`exclude`)."""
        if self.spec.key == "contact.upsert":
            existing = self._match_contact(payload)
            return Sent(ids={"id": existing["id"], "created": False}, response=existing) if existing else None
        client = self.ctx.streettext
        cursor: str | None = None
        for _ in range(FIND_PAGES):
            if self.spec.resource == "activities":
                page = client.list_contact_activities(
                    payload["contact_id"], limit=200, cursor=cursor, updated_since=None if cursor else since
                )
            else:
                page = client.list_records(
                    self.spec.resource,
                    limit=200,
                    cursor=cursor,
                    updated_since=None if cursor else since,
                    contact_id=payload["contact_id"],
                )
            for record in page["data"]:
                if str(record["id"]) in exclude:
                    continue
                if all(record.get(name) == payload.get(name) for name in self.spec.match):
                    return Sent(ids={"id": record["id"], "contact_id": payload["contact_id"]}, response=record)
            if not page["has_more"]:
                return None
            cursor = page["next_cursor"]
        return None


def streettext_action_choices() -> list[tuple[str, str]]:
    return [(a.key, a.name) for a in ACTIONS.values()]
