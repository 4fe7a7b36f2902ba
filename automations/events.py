"""The events an automation can start from, by object: "New contact", "Opportunity won", "New inbound message"…

An event is data over the polling engine: a trigger (a catalog trigger or a StreetText listing), which changes count
(new, updated, watched fields), a condition on the item, and the webhook event types that fire it at once. The poll
stays the reconciliation: a webhook that never comes is made up for by the next scheduled poll, and the history's
(item, version) rows keep each item handled once whichever of the two sees it first (docs/automations.md#events).

Deletions cannot be polled (a deleted item is simply no longer listed): their events are fired by webhooks only, the
item being what the webhook names.

The webhook type names are GoHighLevel's documented ones (docs/ghl-facts.md#webhook-events) and StreetText's
(docs/streettext-api.md#events).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from integrations.models import System

NEW, UPDATED, DELETED = "new", "updated", "deleted"


@dataclass(frozen=True)
class Event:
    key: str
    label: str
    group: str  # the object, for the grouped list ("Contacts")
    system: str  # where the trigger reads and the webhooks come from
    trigger_key: str
    kind: str = NEW  # NEW | UPDATED | DELETED (what the event counts)
    webhooks: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    body: Any = None
    watch_fields: tuple[str, ...] = ()
    condition: Mapping[str, Any] = field(default_factory=dict)
    # The condition's value is the person's to choose ("Status changed to…"): the event's is only a default.
    condition_editable: bool = False
    entered: bool = False
    each_message: bool = False
    # Both new and updated items count (e.g. "Opportunity won": made as won, or moved to won).
    new_and_updated: bool = False
    # DELETED: where the deleted item's id is in the webhook's payload.
    id_path: str = "id"
    # Parameters of which one must be given (GoHighLevel lists appointments per calendar, user or group).
    needs_one_of: tuple[str, ...] = ()
    help: str = ""

    @property
    def on_new(self) -> bool:
        return self.kind == NEW or self.new_and_updated

    @property
    def on_updated(self) -> bool:
        return self.kind == UPDATED or self.new_and_updated

    @property
    def polled(self) -> bool:
        """Whether a poll can see it (a deletion cannot: only its webhook fires it)."""
        return self.kind != DELETED

    @property
    def group_label(self) -> str:
        return f"{System(self.system).label}: {self.group}"


def _status(value: str) -> dict[str, Any]:
    return {"field": "status", "op": "eq", "value": value}


GHL, ST = System.GHL, System.STREETTEXT
CONTACT_UPDATES = ("ContactUpdate", "ContactTagUpdate", "ContactDndUpdate")
OPPORTUNITY_UPDATES = (
    "OpportunityUpdate",
    "OpportunityStatusUpdate",
    "OpportunityStageUpdate",
    "OpportunityMonetaryValueUpdate",
    "OpportunityAssignedToUpdate",
)
APPOINTMENT_SCOPE = ("calendarId", "userId", "groupId")
APPOINTMENTS = {"startTime": "{now_ms-1d}", "endTime": "{now_ms+90d}"}
CONVERSATIONS = {"sortBy": "last_message_date", "sort": "desc", "limit": 100}

EVENT_LIST: tuple[Event, ...] = (
    # -- GoHighLevel --------------------------------------------------------------------------------------------------
    Event("ghl.contact.new", "New contact", "Contacts", GHL, "search-contacts", NEW, ("ContactCreate",)),
    Event(
        "ghl.contact.updated",
        "Contact updated",
        "Contacts",
        GHL,
        "search-contacts",
        UPDATED,
        CONTACT_UPDATES,
        help="Only when the watched fields changed (empty: any change).",
    ),
    Event(
        "ghl.contact.tagged",
        "Tag added to contact",
        "Contacts",
        GHL,
        "search-contacts",
        UPDATED,
        ("ContactTagUpdate", "ContactCreate"),
        condition={"field": "tags", "op": "contains", "value": ""},
        condition_editable=True,
        entered=True,
        new_and_updated=True,
        help="Choose the tag in the condition.",
    ),
    Event("ghl.contact.deleted", "Contact deleted", "Contacts", GHL, "search-contacts", DELETED, ("ContactDelete",)),
    Event(
        "ghl.opportunity.new",
        "New opportunity",
        "Opportunities",
        GHL,
        "search-opportunities",
        NEW,
        ("OpportunityCreate",),
        params={"limit": 100},
    ),
    Event(
        "ghl.opportunity.updated",
        "Opportunity updated",
        "Opportunities",
        GHL,
        "search-opportunities",
        UPDATED,
        OPPORTUNITY_UPDATES,
        params={"limit": 100},
        help="Only when the watched fields changed (empty: any change).",
    ),
    Event(
        "ghl.opportunity.stage",
        "Opportunity moved to another stage",
        "Opportunities",
        GHL,
        "search-opportunities",
        UPDATED,
        ("OpportunityStageUpdate", "OpportunityUpdate"),
        params={"limit": 100},
        watch_fields=("pipelineStageId",),
    ),
    Event(
        "ghl.opportunity.status",
        "Opportunity status changed to…",
        "Opportunities",
        GHL,
        "search-opportunities",
        UPDATED,
        ("OpportunityStatusUpdate", "OpportunityUpdate"),
        params={"limit": 100},
        watch_fields=("status",),
        condition=_status("open"),
        condition_editable=True,
        entered=True,
        help="Choose the status in the condition (open, won, lost, abandoned).",
    ),
    Event(
        "ghl.opportunity.won",
        "Opportunity won",
        "Opportunities",
        GHL,
        "search-opportunities",
        UPDATED,
        ("OpportunityStatusUpdate", "OpportunityCreate", "OpportunityUpdate"),
        params={"limit": 100},
        condition=_status("won"),
        entered=True,
        new_and_updated=True,
    ),
    Event(
        "ghl.opportunity.lost",
        "Opportunity lost",
        "Opportunities",
        GHL,
        "search-opportunities",
        UPDATED,
        ("OpportunityStatusUpdate", "OpportunityCreate", "OpportunityUpdate"),
        params={"limit": 100},
        condition=_status("lost"),
        entered=True,
        new_and_updated=True,
    ),
    Event(
        "ghl.opportunity.deleted",
        "Opportunity deleted",
        "Opportunities",
        GHL,
        "search-opportunities",
        DELETED,
        ("OpportunityDelete",),
    ),
    Event(
        "ghl.message.inbound",
        "New inbound message",
        "Conversations",
        GHL,
        "search-conversations",
        NEW,
        ("InboundMessage",),
        params=CONVERSATIONS,
        condition={"field": "direction", "op": "eq", "value": "inbound"},
        each_message=True,
    ),
    Event(
        "ghl.message.outbound",
        "New outbound message",
        "Conversations",
        GHL,
        "search-conversations",
        NEW,
        ("OutboundMessage",),
        params=CONVERSATIONS,
        condition={"field": "direction", "op": "eq", "value": "outbound"},
        each_message=True,
    ),
    Event(
        "ghl.appointment.booked",
        "Appointment booked",
        "Appointments",
        GHL,
        "list-calendar-events",
        NEW,
        ("AppointmentCreate",),
        params=APPOINTMENTS,
        needs_one_of=APPOINTMENT_SCOPE,
        help="Choose the calendar in the parameters.",
    ),
    Event(
        "ghl.appointment.cancelled",
        "Appointment cancelled",
        "Appointments",
        GHL,
        "list-calendar-events",
        UPDATED,
        ("AppointmentUpdate",),
        params=APPOINTMENTS,
        condition={"field": "appointmentStatus", "op": "eq", "value": "cancelled"},
        entered=True,
        needs_one_of=APPOINTMENT_SCOPE,
        help="Choose the calendar in the parameters.",
    ),
    Event(
        "ghl.appointment.deleted",
        "Appointment deleted",
        "Appointments",
        GHL,
        "list-calendar-events",
        DELETED,
        ("AppointmentDelete",),
        id_path="appointment.id",
    ),
    Event("ghl.task.new", "New task", "Tasks", GHL, "search-location-tasks", NEW, ("TaskCreate",), body={"limit": 100}),
    Event(
        "ghl.task.completed",
        "Task completed",
        "Tasks",
        GHL,
        "search-location-tasks",
        UPDATED,
        ("TaskComplete",),
        body={"limit": 100},
        condition={"field": "completed", "op": "eq", "value": "true"},
        entered=True,
    ),
    Event(
        "ghl.business.new",
        "New business",
        "Businesses",
        GHL,
        "list-businesses-by-location",
        NEW,
        params={"limit": 100},
    ),
    # -- StreetText -------------------------------------------------------------------------------------------------
    Event("st.contact.new", "New contact", "Contacts", ST, "contacts", NEW, ("contact.created",)),
    Event(
        "st.contact.updated",
        "Contact updated",
        "Contacts",
        ST,
        "contacts",
        UPDATED,
        ("contact.updated",),
        help="Only when the watched fields changed (empty: any change).",
    ),
    Event(
        "st.contact.deleted",
        "Contact deleted",
        "Contacts",
        ST,
        "contacts",
        DELETED,
        ("contact.deleted",),
        id_path="data.contact.id",
    ),
    Event("st.task.new", "New task", "Tasks", ST, "tasks", NEW),
    Event("st.note.new", "Note added", "Notes", ST, "notes", NEW),
    Event("st.appointment.new", "Appointment booked", "Appointments", ST, "appointments", NEW),
    Event("st.organization.new", "New organisation", "Organisations", ST, "organizations", NEW),
    Event("st.activity.new", "New contact activity", "Contact activities", ST, "activities", NEW),
)
EVENTS: dict[str, Event] = {event.key: event for event in EVENT_LIST}


def event_get(key: str) -> Event | None:
    return EVENTS.get(key or "")


def events_for_webhook(system: str, event_type: str) -> list[Event]:
    """The events a webhook of this type fires."""
    return [event for event in EVENT_LIST if event.system == system and event_type in event.webhooks]


def event_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """The events grouped per object, for a select (GoHighLevel's first, then StreetText's)."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for event in EVENT_LIST:
        groups.setdefault(event.group_label, []).append((event.key, event.label))
    return list(groups.items())


def webhook_types(system: str) -> set[str]:
    """Every webhook type some event listens to."""
    return {name for event in EVENT_LIST if event.system == system for name in event.webhooks}


# The object type (integrations/object_types.py) of each group's items, when the spec does not describe them (Search
# Contacts and Search Tasks answer with an undescribed list).
GROUP_OBJECT = {
    "Contacts": "contact",
    "Opportunities": "opportunity",
    "Appointments": "appointment",
    "Tasks": "task",
    "Notes": "note",
    "Businesses": "business",
    "Organisations": "business",
}
# "Each new message" events: the items are messages, as this operation's answer describes them.
MESSAGES_OPERATION = "get-messages-by-conversation"


def event_fields(event: Event) -> list[tuple[str, str]]:
    """(name, label) of the event's items, from the spec's item schema (or the object type's fields when the spec
    does not describe them): what the condition builder and the action field pickers offer before anything is
    saved or polled."""
    from automations.triggers import GhlTrigger, _schema_at, schema_fields, streettext_fields
    from integrations.catalog.selectors import catalog_operation
    from integrations.object_types import OBJECT_TYPES

    if event.system == System.STREETTEXT:
        return streettext_fields(event.trigger_key)
    names: dict[str, str] = {}
    if event.each_message:
        operation = catalog_operation(MESSAGES_OPERATION)
        path = operation.items.path if operation.items else ""
        names.update((n, n) for n in schema_fields(_schema_at(operation.spec.response_schema or {}, path)))
    else:
        from automations.models import Automation

        names.update(GhlTrigger(Automation(trigger_key=event.trigger_key)).fields())
    object_type = OBJECT_TYPES.get(GROUP_OBJECT.get(event.group, ""))
    if object_type is not None and not event.each_message:
        for f in object_type.fields_for(System.GHL):
            names.setdefault(f.name, f.label)
    return list(names.items())
