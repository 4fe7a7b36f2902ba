"""New, updated or existing; handled or skipped: what an automation does with one trigger item. Pure: the caller
passes what the history already holds for the item's id.

- An item whose (id, version) is in the history was handled (or skipped) before: nothing to do.
- Seen for the first time: *existing* (recorded, not handled) when it last changed before the automation's start,
  or, for items without timestamps, when it is found by the first full scan; otherwise *new* (or *updated* when its
  creation time is before the start: an old record that changed since).
- Seen before at another version: *updated*.
Then the automation's rules: new and/or updated items, "only when these fields changed", "only items where", and
"only when the condition starts to hold" (it did not hold on the version seen before).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from automations import values as v
from automations.models import Automation, AutomationItem
from mappings.rules import condition_holds

REASON_BASELINE = "It existed before the automation's start."
REASON_NO_NEW = "New items are not handled by this automation."
REASON_NO_UPDATED = "Updated items are not handled by this automation."
REASON_UNWATCHED = "None of the watched fields changed ({fields})."
REASON_FILTER = "It does not meet the condition."
REASON_ALREADY_MET = "It already met the condition before this change."


@dataclass(frozen=True)
class ItemShape:
    """Where an item's id and updated time are (the trigger's)."""

    id_field: str | None
    updated_field: str | None
    many: bool = True


@dataclass(frozen=True)
class Rules:
    start_from: datetime
    on_new: bool = True
    on_updated: bool = True
    watch_fields: tuple[str, ...] = ()
    condition: Mapping[str, Any] = field(default_factory=dict)
    entered: bool = False

    @classmethod
    def of(cls, automation: Automation) -> Rules:
        return cls(
            start_from=automation.start_from,
            on_new=automation.on_new,
            on_updated=automation.on_updated,
            watch_fields=tuple(automation.watch_fields or ()),
            condition=automation.record_filter or {},
            entered=automation.filter_entered,
        )


@dataclass
class Known:
    """What the history holds for one item id: the versions recorded and the latest one's item."""

    versions: set[str] = field(default_factory=set)
    latest: dict[str, Any] | None = None


@dataclass
class Decision:
    item_id: str
    version: str
    item_time: datetime | None
    change: str
    status: str
    reason: str
    label: str
    item: dict[str, Any]
    changes: dict[str, Any]

    @property
    def pending(self) -> bool:
        return self.status == AutomationItem.Status.PENDING


def identify(item: Mapping[str, Any], shape: ItemShape) -> tuple[str, str, datetime | None]:
    """(id, version, updated time) of an item."""
    version, moment = v.version_of(item, shape.updated_field)
    return v.id_of(item, shape.id_field, many=shape.many), version, moment


def classify(
    item: Mapping[str, Any], *, shape: ItemShape, known: Known | None, rules: Rules, first_scan: bool
) -> Decision | None:
    """What to do with one item; None when this version is already in the history."""
    item_id, version, item_time = identify(item, shape)
    if known is not None and version in known.versions:
        return None
    previous = known.latest if known is not None else None
    stored = v.stored_item(item)
    label = v.label_of(item)

    def decide(change: str, status: str = AutomationItem.Status.PENDING, reason: str = "") -> Decision:
        changes = v.changes_between(previous, item) if previous is not None else {}
        return Decision(item_id, version, item_time, change, status, reason, label, stored, changes)

    skipped = AutomationItem.Status.SKIPPED
    created = v.created_of(item)
    if previous is None:
        moment = item_time or created
        before_start = moment < rules.start_from if moment is not None else first_scan
        if before_start:
            return decide(AutomationItem.Change.BASELINE, skipped, REASON_BASELINE)
        old_record = created is not None and created < rules.start_from
        change = AutomationItem.Change.UPDATED if old_record else AutomationItem.Change.NEW
    else:
        change = AutomationItem.Change.UPDATED

    if change == AutomationItem.Change.NEW and not rules.on_new:
        return decide(change, skipped, REASON_NO_NEW)
    if change == AutomationItem.Change.UPDATED and not rules.on_updated:
        return decide(change, skipped, REASON_NO_UPDATED)
    flat = v.flatten(item)
    before = v.flatten(previous) if previous is not None else None
    unwatched = before is not None and all(flat.get(name) == before.get(name) for name in rules.watch_fields)
    if change == AutomationItem.Change.UPDATED and rules.watch_fields and unwatched:
        return decide(change, skipped, REASON_UNWATCHED.format(fields=", ".join(rules.watch_fields))[:200])
    if rules.condition:
        if not condition_holds(dict(rules.condition), flat):
            return decide(change, skipped, REASON_FILTER)
        if rules.entered and before is not None and condition_holds(dict(rules.condition), before):
            return decide(change, skipped, REASON_ALREADY_MET)
    return decide(change)
