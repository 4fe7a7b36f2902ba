"""Ready-made automations for what people ask for most (one click in the admin, then adjust).

Each preset is data: its trigger, which items it handles, and its actions with their fields. A few inputs (a
calendar, a pipeline stage, a tag, a workflow) are asked for when it is created.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from automations.models import Automation, AutomationAction, AutomationFieldMapping
from automations.services.automations import automation_save
from integrations.models import Connection, System

MSG_INPUT_REQUIRED = "{label} is needed for this preset."
MSG_UNKNOWN_PRESET = "No such preset: {key}"

Fields = list[dict[str, Any]]


def _field(target: str, source: str, kind: str = "field", transforms: list[dict[str, Any]] | None = None) -> dict:
    return {"target_field": target, "source": source, "source_kind": kind, "transforms": transforms or []}


def _template(target: str, text: str) -> dict[str, Any]:
    return _field(target, text, "template")


def _constant(target: str, value: str) -> dict[str, Any]:
    return _field(target, value, "constant")


@dataclass(frozen=True)
class PresetInput:
    name: str
    label: str
    help: str = ""
    picker: str | None = None  # a catalog picker (its choices come from the GoHighLevel connection)
    required: bool = True
    default: str = ""


@dataclass
class Spec:
    """What a preset makes, before it is saved."""

    name: str
    trigger_key: str
    trigger_system: str = System.GHL
    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    on_new: bool = True
    on_updated: bool = True
    each_message: bool = False
    watch_fields: list[str] = field(default_factory=list)
    record_filter: dict[str, Any] = field(default_factory=dict)
    filter_entered: bool = False
    schedule_minutes: int = 5
    actions: list[tuple[str, str, str, Fields]] = field(default_factory=list)  # (system, operation, name, fields)
    description: str = ""


@dataclass(frozen=True)
class AutomationPreset:
    key: str
    label: str
    description: str
    inputs: tuple[PresetInput, ...]
    build: Callable[[dict[str, str]], Spec]
    # The GoHighLevel operations its trigger and actions need.
    operations: tuple[str, ...] = ()


# ------------------------------------------------------------------------------
# The presets
# ------------------------------------------------------------------------------
def _opportunity_stage_changed(inputs: dict[str, str]) -> Spec:
    params = {"pipeline_id": inputs["pipeline_id"]} if inputs.get("pipeline_id") else {}
    spec = Spec(
        name="Opportunity stage changed → StreetText tag and task",
        trigger_key="search-opportunities",
        params={**params, "limit": 100},
        on_new=False,
        watch_fields=["pipelineStageId"],
        description="When an opportunity moves to another stage, its contact is tagged in StreetText and given a "
        "task to follow up.",
        actions=[
            (
                System.STREETTEXT,
                "contact.tag",
                "Tag the contact",
                [_field("ghl_contact_id", "contactId"), _constant("tags", inputs.get("tag") or "stage-changed")],
            ),
            (
                System.STREETTEXT,
                "task.create",
                "Follow-up task",
                [
                    _template("contact_id", "{actions.1.id}"),
                    _template("title", "Opportunity {name}: moved to a new stage"),
                    _template("body", "Status {status}, value {monetaryValue}. Stage {pipelineStageId}."),
                ],
            ),
        ],
    )
    if inputs.get("stage_id"):
        spec.record_filter = {"field": "pipelineStageId", "op": "eq", "value": inputs["stage_id"]}
        spec.filter_entered = True
    return spec


def _opportunity_won(inputs: dict[str, str]) -> Spec:
    params = {"pipeline_id": inputs["pipeline_id"]} if inputs.get("pipeline_id") else {}
    return Spec(
        name="Opportunity won → StreetText tag",
        trigger_key="search-opportunities",
        params={**params, "limit": 100},
        record_filter={"field": "status", "op": "eq", "value": "won"},
        filter_entered=True,
        description="When an opportunity is won, its contact is tagged in StreetText (once: later edits of a won "
        "opportunity do not tag it again).",
        actions=[
            (
                System.STREETTEXT,
                "contact.tag",
                "Tag the customer",
                [_field("ghl_contact_id", "contactId"), _constant("tags", inputs.get("tag") or "customer")],
            ),
        ],
    )


def _new_appointment_note(inputs: dict[str, str]) -> Spec:
    return Spec(
        name="New appointment → StreetText note",
        trigger_key="list-calendar-events",
        # GHL lists a calendar's events in a time window (epoch ms): from a day ago to 90 days ahead, moving on.
        params={"calendarId": inputs["calendar_id"], "startTime": "{now_ms-1d}", "endTime": "{now_ms+90d}"},
        on_updated=False,
        description="Each new appointment on the calendar becomes a note on the StreetText contact.",
        actions=[
            (
                System.STREETTEXT,
                "note.create",
                "Note the appointment",
                [
                    _field("ghl_contact_id", "contactId"),
                    _template("title", "Appointment: {title}"),
                    _template("body", "{title} from {startTime} to {endTime} ({appointmentStatus}). {address}"),
                    _field("written_at", "dateAdded"),
                ],
            ),
        ],
    )


def _inbound_message_activity(inputs: dict[str, str]) -> Spec:
    return Spec(
        name="New inbound message → StreetText contact activity",
        trigger_key="search-conversations",
        # Every conversation whose last message moved (whichever way: a reply answered before the poll still
        # counts), newest first; its messages since the last one handled are the items (automations/messages.py).
        params={"sortBy": "last_message_date", "sort": "desc", "limit": 100},
        each_message=True,
        record_filter={"field": "direction", "op": "eq", "value": "inbound"},
        description="Each inbound message (every one between two polls, not only a conversation's newest) is "
        "recorded on the StreetText contact's timeline, once.",
        actions=[
            (
                System.STREETTEXT,
                "activity.create",
                "Record the message",
                [
                    _field("ghl_contact_id", "contactId"),
                    _constant("type", "message"),
                    _template("text", "{body}"),
                    _field("occurred_at", "dateAdded"),
                    _constant("source", "gohighlevel"),
                    # Recorded once per message even if the action is sent again (the contract's source_id).
                    _template("source_id", "{id}"),
                ],
            ),
        ],
    )


def _tag_to_workflow(inputs: dict[str, str]) -> Spec:
    tag = inputs["tag"]
    return Spec(
        name=f"StreetText tag “{tag}” → GoHighLevel workflow",
        trigger_key="contacts",
        trigger_system=System.STREETTEXT,
        record_filter={"field": "tags", "op": "contains", "value": tag},
        filter_entered=True,
        description=f"When a StreetText contact is tagged “{tag}”, its GoHighLevel contact (found by its link, email "
        "or phone; created when missing) is added to the workflow, once.",
        actions=[
            (
                System.GHL,
                "add-contact-to-workflow",
                "Add to the workflow",
                [_field("streettext_contact_id", "id"), _constant("workflowId", inputs["workflow_id"])],
            ),
        ],
    )


PRESETS: dict[str, AutomationPreset] = {
    p.key: p
    for p in (
        AutomationPreset(
            "opportunity_stage_changed",
            "Opportunity stage changed → StreetText tag and task",
            "An opportunity moves to another stage: tag its contact in StreetText and give them a task.",
            (
                PresetInput("pipeline_id", "Pipeline", "Only this pipeline (optional).", "pipelines", required=False),
                PresetInput(
                    "stage_id",
                    "Only into this stage",
                    "Only when it moves into this stage (optional).",
                    "pipeline-stages",
                    required=False,
                ),
                PresetInput("tag", "StreetText tag", default="stage-changed"),
            ),
            _opportunity_stage_changed,
            ("search-opportunities",),
        ),
        AutomationPreset(
            "opportunity_won",
            "Opportunity won → StreetText tag",
            "An opportunity is won: tag its contact in StreetText.",
            (
                PresetInput("pipeline_id", "Pipeline", "Only this pipeline (optional).", "pipelines", required=False),
                PresetInput("tag", "StreetText tag", default="customer"),
            ),
            _opportunity_won,
            ("search-opportunities",),
        ),
        AutomationPreset(
            "new_appointment_note",
            "New appointment → StreetText note",
            "A new appointment on a calendar: a note on the StreetText contact.",
            (PresetInput("calendar_id", "Calendar", "The calendar whose appointments to watch.", "calendars"),),
            _new_appointment_note,
            ("list-calendar-events",),
        ),
        AutomationPreset(
            "inbound_message_activity",
            "New inbound message → StreetText contact activity",
            "A message comes in on GoHighLevel: an activity on the StreetText contact's timeline.",
            (),
            _inbound_message_activity,
            ("search-conversations", "get-messages-by-conversation"),
        ),
        AutomationPreset(
            "tag_to_workflow",
            "StreetText tag → GoHighLevel workflow",
            "A StreetText contact gets a tag: add its GoHighLevel contact to a workflow.",
            (
                PresetInput("tag", "StreetText tag", "e.g. nurture"),
                PresetInput("workflow_id", "Workflow", "The GoHighLevel workflow to add the contact to.", "workflows"),
            ),
            _tag_to_workflow,
            ("add-contact-to-workflow", "find-contact", "upsert-contact"),
        ),
    )
}


def automation_free_name(*, name: str) -> str:
    """`name`, or "name (2)", "name (3)"… when taken (names are unique, letter case aside)."""
    candidate, n = name, 1
    while Automation.objects.filter(name__iexact=candidate).exists():
        n += 1
        candidate = f"{name} ({n})"
    return candidate


@transaction.atomic
def automation_create_from_preset(
    *,
    key: str,
    ghl: Connection,
    streettext: Connection | None,
    inputs: dict[str, str] | None = None,
    start_from: Any = None,
    enabled: bool = True,
) -> Automation:
    """A working automation from a preset, switched on with its schedule, starting from now (or `start_from`)."""
    preset = PRESETS.get(key)
    if preset is None:
        raise ValueError(MSG_UNKNOWN_PRESET.format(key=key))
    given = {i.name: (inputs or {}).get(i.name) or i.default for i in preset.inputs}
    missing = [i.label for i in preset.inputs if i.required and not given.get(i.name)]
    if missing:
        raise ValueError(MSG_INPUT_REQUIRED.format(label=", ".join(missing)))
    spec = preset.build(given)
    automation = Automation(
        name=automation_free_name(name=spec.name),
        description=spec.description,
        preset=key,
        ghl_connection=ghl,
        streettext_connection=streettext,
        trigger_system=spec.trigger_system,
        trigger_key=spec.trigger_key,
        trigger_params=spec.params,
        trigger_body=spec.body,
        each_message=spec.each_message,
        on_new=spec.on_new,
        on_updated=spec.on_updated,
        watch_fields=spec.watch_fields,
        record_filter=spec.record_filter,
        filter_entered=spec.filter_entered,
        start_from=start_from or timezone.now(),
        schedule_minutes=spec.schedule_minutes,
        enabled=enabled,
    )
    automation_save(automation=automation)
    for position, (system, operation, label, fields) in enumerate(spec.actions, start=1):
        action = AutomationAction.objects.create(
            automation=automation, position=position, system=system, operation=operation, name=label
        )
        AutomationFieldMapping.objects.bulk_create(
            AutomationFieldMapping(action=action, position=index, **spec_field)
            for index, spec_field in enumerate(fields)
        )
    return automation
