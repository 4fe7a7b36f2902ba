"""Automations: save (checked), schedule in django-celery-beat, delete, and "Test trigger" (a real sample item and what
each action would receive; nothing is written)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from automations import values as v
from automations.actions import ActionFailed, action_fields
from automations.actions.base import mapped_values
from automations.classify import ItemShape, Known, Rules, classify
from automations.models import Automation, AutomationAction, AutomationCursor, AutomationItem
from automations.services.runner import action_outputs, item_values
from automations.steps import StepTree, choose_paths, holds, paths_note, wait_end
from automations.triggers import TriggerFailed, trigger_for
from integrations.clients import exceptions as exc
from integrations.services.schedules import periodic_task_sync

SCHEDULED_TASK = "automations.tasks.scheduled_poll_task"
TEST_NO_ITEM = "The trigger answered with no item to test with."
TEST_FAILED = "Could not read the trigger: {error}"
TEST_EARLIER_RESULT = "(the result of action {index}, once it has run)"
TEST_SAMPLE_SIZE = 5
TEST_NOT_TAKEN = "On a path this item would not take: not run."
TEST_NOT_MET = "Its condition would not hold for this item: not run."
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def automation_schedule_sync(*, automation: Automation) -> PeriodicTask | None:
    """Keep the automation's django-celery-beat entry in step with its schedule and on/off switch."""
    return periodic_task_sync(
        owner=automation,
        minutes=automation.schedule_minutes,
        enabled=automation.enabled,
        name=f"Automation #{automation.pk}: {automation.name}",
        task=SCHEDULED_TASK,
        description="Created from the automation's schedule; change it on the automation's page.",
    )


TRIGGER_FIELDS = (
    "trigger_system",
    "trigger_key",
    "trigger_params",
    "trigger_body",
    "each_message",
    "ghl_connection_id",
    "streettext_connection_id",
)


@transaction.atomic
def automation_save(*, automation: Automation) -> Automation:
    """Validate, save and reschedule an automation. A changed trigger (or connection) starts reading from the top
    again: the stored paging position belongs to the old one; the history stays, so nothing handled is handled again."""
    automation.full_clean(exclude=["periodic_task"])
    before = Automation.objects.filter(pk=automation.pk).values(*TRIGGER_FIELDS).first() if automation.pk else None
    automation.save()
    if before is not None and any(before[name] != getattr(automation, name) for name in TRIGGER_FIELDS):
        AutomationCursor.objects.filter(automation=automation).update(
            position=None, watermark="", watermark_ids=[], scans_completed=0, scan_started_at=None
        )
    automation_schedule_sync(automation=automation)
    return automation


@transaction.atomic
def automation_delete(*, automation: Automation) -> None:
    task = automation.periodic_task
    automation.delete()
    if task is not None:
        task.delete()


# ------------------------------------------------------------------------------
# Test trigger
# ------------------------------------------------------------------------------
@dataclass
class ActionPreview:
    index: int
    action: AutomationAction
    fields: list[tuple[str, Any]] = field(default_factory=list)  # (field, value) as it would be sent
    error: str = ""
    note: str = ""  # a router's paths, a wait's end, a condition that would not hold, a path not taken
    depth: int = 0  # routers above it (0: the main line)
    runs: bool = True


@dataclass
class TriggerTest:
    """What "Test trigger" shows: the sample item, whether it would be handled, and each action's fields."""

    item: dict[str, Any] | None = None
    item_id: str = ""
    version: str = ""
    label: str = ""
    flat: dict[str, Any] = field(default_factory=dict)
    verdict: str = ""
    handled: bool = False
    actions: list[ActionPreview] = field(default_factory=list)
    error: str = ""
    count: int = 0


def automation_test_trigger(*, automation: Automation) -> TriggerTest:
    """Read one page of the trigger (a real request, not logged), take its newest item and show what each action
    would receive. Writes nothing: no history row, no cursor, no action, no contact created."""
    test = TriggerTest()
    try:
        trigger = trigger_for(automation)
        page = trigger.page(trigger.start(), size=TEST_SAMPLE_SIZE)
    except (TriggerFailed, exc.ApiError) as e:
        test.error = TEST_FAILED.format(error=e)
        return test
    test.count = len(page.items)
    if not page.items:
        test.error = TEST_NO_ITEM
        return test
    info = trigger.info
    shape = ItemShape(info.id_field, info.updated_field, info.many)
    # The newest item when they carry an updated time (what the automation would meet first), else the first.
    sample = max(page.items, key=lambda item: v.version_of(item, info.updated_field)[1] or EPOCH)
    test.item = sample
    test.label = v.label_of(sample)
    # As if it were seen for the first time, after the start: the filter and rules decide.
    rules = Rules.of(automation)
    decision = classify(
        sample,
        shape=shape,
        known=Known(),
        rules=Rules(
            start_from=EPOCH,
            on_new=True,
            on_updated=True,
            condition=rules.condition,
        ),
        first_scan=False,
    )
    assert decision is not None
    test.item_id, test.version = decision.item_id, decision.version
    test.handled = decision.status == AutomationItem.Status.PENDING
    test.verdict = "It meets the condition: the actions would run." if test.handled else decision.reason
    item = AutomationItem(
        automation=automation, item_id=decision.item_id, version=decision.version, change=decision.change, item=sample
    )
    values = item_values(item, automation)
    test.flat = {k: values[k] for k in sorted(values)}
    tree = StepTree.of(automation)
    taken: set[int] = set()
    for action in tree.walk():
        index = tree.numbers[action.pk]
        preview = ActionPreview(index=index, action=action, depth=tree.depth(action))
        test.actions.append(preview)
        if action.path_id is not None and action.path_id not in taken:
            preview.runs, preview.note = False, TEST_NOT_TAKEN
            continue
        if not holds(action.condition, values):
            preview.runs, preview.note = False, TEST_NOT_MET
            continue
        if action.kind == AutomationAction.Kind.ROUTER:
            chosen = choose_paths(tree.paths.get(action.pk, []), action.router_mode, values)
            taken.update(p.pk for p in chosen)
            preview.note = paths_note(chosen)
            continue
        if action.kind == AutomationAction.Kind.WAIT:
            until, note = wait_end(action, values, now=timezone.now(), cap_days=settings.AUTOMATION_WAIT_MAX_DAYS)
            preview.note = note if until is None else f"{note} The steps after it would run then."
            continue
        known_fields = {f.name: f for f in action_fields(action.system, action.operation)}
        if not known_fields:
            preview.error = f"“{action.operation}” is not a known action."
        try:
            payload = mapped_values(action, values, region=automation.phone_region)
        except ActionFailed as e:
            preview.error = str(e)
            payload = {}
        preview.fields = list(payload.items())
        # Later actions may use this one's result ({actions.1.id}): shown as a placeholder, since nothing runs.
        values.update(action_outputs(index, {"id": TEST_EARLIER_RESULT.format(index=index)}))
    return test
