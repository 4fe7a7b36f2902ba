"""Reads for the admin: automations with their last poll (one query), the fields the pickers offer for a trigger and
an action (no API call), an item's previous version."""

from __future__ import annotations

import contextlib
from typing import Any

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from automations import values as v
from automations.actions import action_fields
from automations.events import event_fields, event_get
from automations.models import Automation, AutomationAction, AutomationItem, AutomationPoll
from automations.triggers import STREETTEXT_RESOURCES, GhlTrigger, TriggerFailed, streettext_fields
from integrations.catalog.loader import UnknownCatalogOperation
from integrations.models import System
from mappings.widgets import OPERATORS, transform_catalog

TRIGGER_META = (
    ("trigger.id", "The item's id"),
    ("trigger.version", "The item's version (updated time or content digest)"),
    ("trigger.change", "new or updated"),
    ("automation.name", "This automation's name"),
)
SAMPLE_FIELDS = 200


def automation_list_with_last_poll() -> QuerySet[Automation]:
    """Automations annotated with their last poll's id, status, time, handled and failed counts (one query)."""
    last = AutomationPoll.objects.filter(automation=OuterRef("pk")).order_by("-created_at", "-pk")
    actions = (
        AutomationAction.objects.filter(automation=OuterRef("pk"))
        .order_by()
        .values("automation")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Automation.objects.select_related("ghl_connection", "streettext_connection")
        .annotate(
            last_poll_id=Subquery(last.values("pk")[:1]),
            last_poll_status=Subquery(last.values("status")[:1]),
            last_poll_at=Subquery(last.values("created_at")[:1]),
            last_poll_handled=Subquery(last.values("handled")[:1]),
            last_poll_failed=Subquery(last.values("failed")[:1]),
            action_count=Coalesce(Subquery(actions[:1]), 0),
        )
        .order_by("-enabled", "name")
    )


def trigger_label(automation: Automation) -> str:
    if automation.trigger_system == System.STREETTEXT:
        return STREETTEXT_RESOURCES.get(automation.trigger_key, (automation.trigger_key, None))[0]
    from integrations.catalog.selectors import catalog_operation

    try:
        return catalog_operation(automation.trigger_key).name
    except UnknownCatalogOperation:
        return automation.trigger_key


def trigger_fields(automation: Automation | None) -> list[tuple[str, str]]:
    """(name, label) of what a trigger's items hold: the spec's (or the contract's) fields, then the fields of the
    latest item the automation recorded (a real sample), then about the trigger itself."""
    names: dict[str, str] = {}
    event = event_get(automation.event) if automation is not None else None
    if event is not None:
        names.update(event_fields(event))
    elif automation is not None and automation.trigger_key:
        if automation.trigger_system == System.STREETTEXT:
            if automation.trigger_key in STREETTEXT_RESOURCES:
                names.update(streettext_fields(automation.trigger_key))
        else:
            # An unknown trigger offers no fields; the form says what is wrong with it.
            with contextlib.suppress(TriggerFailed):
                names.update(GhlTrigger(automation).fields())
    if automation is not None and automation.pk:
        latest = AutomationItem.objects.filter(automation=automation).order_by("-created_at", "-pk").first()
        if latest is not None:
            for name in list(v.flatten(latest.item or {}))[:SAMPLE_FIELDS]:
                names.setdefault(name, name)
    names.update(dict(TRIGGER_META))
    return list(names.items())


def _entries(pairs: list[tuple[str, str]], *, writable: bool = True) -> list[dict[str, Any]]:
    return [{"value": name, "label": label, "kind": "string", "writable": writable} for name, label in pairs]


def editor_catalog(*, automation: Automation | None, action: AutomationAction | None = None) -> dict[str, Any]:
    """What mappings/static/mappings/mapping_editor.js offers on an automation's page (the condition) or an action's
    page (its fields): the trigger item's fields as the source, the action's fields as the target."""
    sources = trigger_fields(automation)
    targets: list[tuple[str, str]] = []
    if action is not None:
        targets = [
            (f.name, f.label + (" *" if f.required else "")) for f in action_fields(action.system, action.operation)
        ]
        earlier = automation.actions.filter(position__lt=action.position) if automation is not None else []
        for index, _ in enumerate(earlier, start=1):
            sources.append((f"actions.{index}.id", f"Action {index}'s result: id"))
    return {
        "systems": {"trigger": "Trigger item", "action": "Action"},
        "directions": {"to_action": {"source": "trigger", "target": "action", "label": "Trigger → action"}},
        "rowDirection": "to_action",
        "readSystems": ["trigger"],
        "objectTypes": {
            "contact": {"label": "Items", "trigger": _entries(sources, writable=False), "action": _entries(targets)},
        },
        "custom": {
            "trigger": {"fields": [], "known": True, "note": ""},
            "action": {"fields": [], "known": True, "note": ""},
        },
        "customUrl": "",
        "connections": {},
        "drift": {},
        "transforms": transform_catalog(),
        "operators": OPERATORS,
        "customPrefix": {},
    }


def automation_items_recent(*, automation: Automation, limit: int = 8) -> list[AutomationItem]:
    """The latest items an automation handled or tried (existing ones left out), with their actions (two queries)."""
    from django.db.models import Prefetch

    from automations.models import AutomationActionRun

    return list(
        AutomationItem.objects.filter(automation=automation)
        .exclude(change=AutomationItem.Change.BASELINE)
        .order_by("-created_at", "-pk")
        .prefetch_related(Prefetch("action_runs", queryset=AutomationActionRun.objects.order_by("position", "id")))[
            :limit
        ]
    )
