"""Ready-made mappings for the integration patterns (one click in the admin), built on the same engine.

Each preset is a function that creates a Mapping with its field mappings between two connections.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from integrations.models import Connection
from mappings.models import Direction, FieldMapping, Mapping
from mappings.selectors import mapping_free_name
from mappings.services import mapping_save

Chain = list[dict[str, Any]]


def _step(name: str, **params: Any) -> dict[str, Any]:
    return {"name": name, "params": params}


TRIM = [_step("trim")]
APPOINTMENT_STATUS = {
    "new": "scheduled",
    "confirmed": "confirmed",
    "cancelled": "cancelled",
    "showed": "showed",
    "noshow": "no_show",
    "invalid": "cancelled",
}
LEAD_SCORE_RULES = [
    {"when": {"field": "tags", "op": "contains", "value": "vip"}, "points": 30},
    {"when": {"field": "companyName", "op": "exists"}, "points": 20},
    {"when": {"field": "source", "op": "in", "value": ["referral", "partner"]}, "points": 20},
    {"when": {"field": "email", "op": "exists"}, "points": 10},
    {"when": {"field": "phone", "op": "exists"}, "points": 10},
]
LEAD_TAG_RULES = [
    {"when": {"field": "tags", "op": "contains", "value": "vip"}, "tag": "hot-lead"},
    {"when": {"field": "companyName", "op": "exists"}, "tag": "b2b"},
]
NEW_LEAD_FOLLOWUP = {
    "name": "new-streettext-lead",
    # Only leads created in StreetText in the last week: older contacts get their profile filled, not a task.
    "when": {"field": "created_at", "op": "within_days", "value": 7},
    # And only leads a person created in StreetText, never the copies this app made there from GHL.
    "new_records_only": True,
    "title": "Follow up with {first_name} {last_name}: new StreetText lead",
    "due_in_days": 1,
}
CALLBACK_FOLLOWUP = {
    "name": "callback-requested",
    "when": {"any": [{"field": "tags", "op": "contains", "value": "callback"}]},
    "title": "Call back {firstName} {lastName}",
    "body": "The contact is tagged 'callback'.",
    "due_in_days": 1,
}
NOTE_FOLLOWUP = {
    "name": "note-asks-a-question",
    "when": {
        "any": [
            {"field": "body", "op": "contains", "value": "asked about"},
            {"field": "body", "op": "contains", "value": "call back"},
        ]
    },
    "title": "Answer the contact: {body}",
    "due_in_days": 2,
}


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    description: str
    build: Callable[..., list[Mapping]]


def _create(
    *,
    name: str,
    object_type: str,
    ghl: Connection,
    streettext: Connection,
    fields: list[tuple[str, str, str, Chain]],
    direction: str = Direction.TO_STREETTEXT,
    **options: Any,
) -> Mapping:
    mapping = Mapping(
        # A pattern created twice between the same connections gets "… (2)": mapping names are unique.
        name=mapping_free_name(name=name),
        object_type=object_type,
        ghl_connection=ghl,
        streettext_connection=streettext,
        direction=direction,
        **options,
    )
    mapping_save(mapping=mapping)
    for position, (target, kind, source, chain) in enumerate(fields):
        FieldMapping.objects.create(
            mapping=mapping,
            direction=direction if direction != Direction.BOTH else Direction.TO_STREETTEXT,
            target_field=target,
            source_kind=kind,
            source=source,
            transforms=chain,
            position=position,
        )
    return mapping


CONTACT_CORE = [
    ("first_name", "field", "firstName", TRIM),
    ("last_name", "field", "lastName", TRIM),
    ("email", "field", "email", [_step("trim"), _step("lower")]),
    ("phone", "field", "phone", [_step("phone_e164")]),
    ("tags", "field", "tags", []),
]


def contact_data_sync(ghl: Connection, streettext: Connection, *, followup: bool = True) -> list[Mapping]:
    """New StreetText contacts are looked up in GHL (duplicate search by email, then phone) and filled in."""
    return [
        _create(
            name="Pattern 1 · Contact data sync (StreetText profiles filled from GHL)",
            object_type="contact",
            ghl=ghl,
            streettext=streettext,
            fields=CONTACT_CORE,
            mode=Mapping.Mode.ENRICH,
            create_missing=False,
            match_rules=["link", "email", "phone"],
            followup_rules=[NEW_LEAD_FOLLOWUP] if followup else [],
            # StreetText's contact.created webhook runs it at once; the schedule catches what a webhook missed.
            schedule_minutes=5,
        )
    ]


def task_orchestration(ghl: Connection, streettext: Connection) -> list[Mapping]:
    """GHL tasks mirrored in StreetText with status and due date."""
    return [
        _create(
            name="Pattern 2 · Task orchestration (GHL tasks → StreetText)",
            object_type="task",
            ghl=ghl,
            streettext=streettext,
            match_rules=["link"],
            schedule_minutes=15,
            fields=[
                ("title", "field", "title", TRIM),
                ("body", "field", "body", []),
                ("due_at", "field", "dueDate", [_step("datetime_format", tz="UTC")]),
                ("completed", "field", "completed", []),
                ("assignee", "field", "assignedTo", []),
            ],
        )
    ]


def notes_history(ghl: Connection, streettext: Connection) -> list[Mapping]:
    """GHL notes on the StreetText contact, with their original timestamps."""
    return [
        _create(
            name="Pattern 3 · Notes and history (GHL notes → StreetText)",
            object_type="note",
            ghl=ghl,
            streettext=streettext,
            match_rules=["link"],
            # GHL's NoteCreate/NoteUpdate webhooks keep notes fresh; the scheduled scan of every contact's notes
            # runs at most once a day (SYNC_CHILD_RESCAN_HOURS).
            schedule_minutes=15,
            fields=[
                ("body", "field", "body", []),
                ("title", "field", "title", []),
                ("written_at", "field", "dateAdded", [_step("datetime_format", tz="UTC")]),
                ("author", "field", "userId", []),
            ],
        )
    ]


def lead_qualification(ghl: Connection, streettext: Connection) -> list[Mapping]:
    """StreetText leads scored and tagged from their GHL data by an editable rule list (tags are merged: it adds and
    removes only its own rule tags, so it runs beside contact data sync)."""
    return [
        _create(
            name="Idea · Lead qualification (score and tag StreetText leads from GHL)",
            object_type="contact",
            ghl=ghl,
            streettext=streettext,
            mode=Mapping.Mode.ENRICH,
            create_missing=False,
            match_rules=["link", "email", "phone"],
            schedule_minutes=15,
            fields=[
                ("custom.lead_score", "record", "", [_step("score", rules=LEAD_SCORE_RULES)]),
                ("tags", "record", "", [_step("rule_tags", rules=LEAD_TAG_RULES)]),
            ],
        )
    ]


def automated_followups(ghl: Connection, streettext: Connection) -> list[Mapping]:
    """GHL tasks created when a condition on contact data or on notes holds."""
    contacts = _create(
        name="Idea · Automated follow-ups from contact data",
        object_type="contact",
        ghl=ghl,
        streettext=streettext,
        create_missing=False,
        match_rules=["link", "email", "phone"],
        fields=[],
        followup_rules=[CALLBACK_FOLLOWUP],
        schedule_minutes=5,
    )
    notes = _create(
        name="Idea · Automated follow-ups from notes",
        object_type="note",
        ghl=ghl,
        streettext=streettext,
        create_missing=False,
        match_rules=["link"],
        fields=[],
        followup_rules=[NOTE_FOLLOWUP],
        schedule_minutes=15,
    )
    return [contacts, notes]


def historical_enrichment(ghl: Connection, streettext: Connection) -> list[Mapping]:
    """Past notes, tasks and appointments of linked contacts pulled into StreetText once: a one-off, so these three
    have no schedule (press Sync now on each; switch a schedule on to keep them in step)."""
    notes = notes_history(ghl, streettext)[0]
    tasks = task_orchestration(ghl, streettext)[0]
    appointments = _create(
        name="Appointments (GHL → StreetText)",
        object_type="appointment",
        ghl=ghl,
        streettext=streettext,
        match_rules=["link"],
        fields=[
            ("title", "field", "title", []),
            ("starts_at", "field", "startTime", [_step("datetime_format", tz="UTC")]),
            ("ends_at", "field", "endTime", [_step("datetime_format", tz="UTC")]),
            ("status", "field", "appointmentStatus", [_step("lookup", table=APPOINTMENT_STATUS, default="scheduled")]),
            ("location", "field", "address", []),
            ("notes", "field", "notes", []),
            ("calendar", "field", "calendarId", []),
        ],
    )
    mappings = [notes, tasks, appointments]
    for mapping in mappings:
        mapping.name = mapping_free_name(
            name=f"Idea · Historical enrichment: {mapping.get_object_type_display().lower()}", exclude_pk=mapping.pk
        )
        mapping.schedule_minutes = 0
        mapping_save(mapping=mapping)
    return mappings


def opportunities(ghl: Connection, streettext: Connection) -> list[Mapping]:
    """GHL opportunities as StreetText deals: name, value, pipeline and stage by name, status and owner."""
    return [
        _create(
            name="Opportunities (GHL → StreetText deals)",
            object_type="opportunity",
            ghl=ghl,
            streettext=streettext,
            match_rules=["link"],
            schedule_minutes=15,
            fields=[
                ("title", "field", "name", TRIM),
                ("value", "field", "monetaryValue", []),
                ("pipeline", "field", "pipelineName", []),
                ("stage", "field", "pipelineStageName", []),
                ("status", "field", "status", []),
                ("assignee", "field", "assignedTo", []),
            ],
        )
    ]


PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset("contact_data_sync", "Contact data sync", contact_data_sync.__doc__ or "", contact_data_sync),
        Preset("task_orchestration", "Task orchestration", task_orchestration.__doc__ or "", task_orchestration),
        Preset("notes_history", "Notes and history", notes_history.__doc__ or "", notes_history),
        Preset("lead_qualification", "Lead qualification", lead_qualification.__doc__ or "", lead_qualification),
        Preset("automated_followups", "Automated follow-ups", automated_followups.__doc__ or "", automated_followups),
        Preset(
            "historical_enrichment", "Historical enrichment", historical_enrichment.__doc__ or "", historical_enrichment
        ),
        Preset("opportunities", "Opportunities and pipelines", opportunities.__doc__ or "", opportunities),
    )
}


class UnknownPreset(KeyError):
    pass


@transaction.atomic
def preset_create(*, key: str, ghl: Connection, streettext: Connection, **options: Any) -> list[Mapping]:
    """Create the preset's mapping(s) between two connections; returns them."""
    try:
        preset = PRESETS[key]
    except KeyError as e:
        raise UnknownPreset(key) from e
    return preset.build(ghl, streettext, **options)
