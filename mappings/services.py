"""Mapping services: schedules in django-celery-beat, default field mappings, preview."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django_celery_beat.models import PeriodicTask

from integrations.adapters import Record, adapter_for
from integrations.clients import exceptions as exc
from integrations.models import System
from integrations.object_types import OBJECT_TYPES
from integrations.services.schedules import periodic_task_sync
from mappings.models import Direction, FieldMapping, Mapping, source_system, target_system
from mappings.pipeline import apply_field_mapping, build_payload

SCHEDULED_TASK = "integrations.tasks.scheduled_sync_task"
PREVIEW_NO_RECORD = "The source has no record to preview yet."
PREVIEW_FAILED = "Could not fetch a sample record: {error}"

# Contact defaults per direction: (target field, source field, transform chain).
DEFAULT_CONTACT_FIELDS: dict[str, list[tuple[str, str, list[dict[str, Any]]]]] = {
    Direction.TO_STREETTEXT: [
        ("first_name", "firstName", [{"name": "trim", "params": {}}]),
        ("last_name", "lastName", [{"name": "trim", "params": {}}]),
        ("email", "email", [{"name": "trim", "params": {}}, {"name": "lower", "params": {}}]),
        ("phone", "phone", [{"name": "phone_e164", "params": {}}]),
        ("company", "companyName", [{"name": "trim", "params": {}}]),
        ("tags", "tags", []),
    ],
    Direction.TO_GHL: [
        ("firstName", "first_name", [{"name": "trim", "params": {}}]),
        ("lastName", "last_name", [{"name": "trim", "params": {}}]),
        ("email", "email", [{"name": "trim", "params": {}}, {"name": "lower", "params": {}}]),
        ("phone", "phone", [{"name": "phone_e164", "params": {}}]),
        ("tags", "tags", []),
    ],
}


def mapping_schedule_sync(*, mapping: Mapping) -> PeriodicTask | None:
    """Keep the mapping's django-celery-beat entry in step with its schedule and on/off switch."""
    return periodic_task_sync(
        owner=mapping,
        minutes=mapping.schedule_minutes,
        enabled=mapping.enabled,
        name=f"Sync mapping #{mapping.pk}: {mapping.name}",
        task=SCHEDULED_TASK,
        description="Created from the mapping's schedule; change it on the mapping page.",
    )


@transaction.atomic
def mapping_save(*, mapping: Mapping) -> Mapping:
    """Validate, save and reschedule a mapping (what the admin calls)."""
    mapping.full_clean(exclude=["periodic_task"])
    mapping.save()
    mapping_schedule_sync(mapping=mapping)
    return mapping


@transaction.atomic
def mapping_delete(*, mapping: Mapping) -> None:
    task = mapping.periodic_task
    mapping.delete()
    if task is not None:
        task.delete()


@transaction.atomic
def mapping_create_with_defaults(
    *,
    name: str,
    ghl_connection: Any,
    streettext_connection: Any,
    direction: str = Direction.TO_STREETTEXT,
    **options: Any,
) -> Mapping:
    """A contacts mapping with sensible default field mappings for each direction it runs."""
    mapping = Mapping(
        name=name,
        object_type="contact",
        ghl_connection=ghl_connection,
        streettext_connection=streettext_connection,
        direction=direction,
        **options,
    )
    mapping_save(mapping=mapping)
    for leg in mapping.directions:
        for position, (target, source, chain) in enumerate(DEFAULT_CONTACT_FIELDS[leg]):
            FieldMapping.objects.create(
                mapping=mapping, direction=leg, target_field=target, source=source, transforms=chain, position=position
            )
    return mapping


@dataclass
class PreviewRow:
    target_field: str
    source_description: str
    source_value: Any
    target_value: Any
    error: str = ""
    target_label: str = ""  # the field's name as people read it ("First name"); "" when it has none


def _field_labels(object_type: str, system: str) -> dict[str, str]:
    spec = OBJECT_TYPES.get(object_type)
    return {f.name: f.label for f in spec.fields_for(system)} if spec else {}


@dataclass
class Preview:
    direction: str
    source_system: str
    target_system: str
    record: Record | None = None
    rows: list[PreviewRow] = field(default_factory=list)
    error: str = ""
    source_labels: dict[str, str] = field(default_factory=dict)  # source field name -> label

    @property
    def source_values(self) -> list[tuple[str, str, Any]]:
        """(label, name, value) of every source value, for "All source values"."""
        values = self.record.values if self.record else {}
        return [(self.source_labels.get(name, ""), name, value) for name, value in values.items()]


def mapping_preview(*, mapping: Mapping, direction: str | None = None, record_id: str = "") -> Preview:
    """Fetch one real source record and show what each field mapping would write. Writes nothing."""
    direction = direction or mapping.directions[0]
    src, dst = source_system(direction), target_system(direction)
    preview = Preview(direction=direction, source_system=src, target_system=dst)
    connection = mapping.ghl_connection if src == System.GHL else mapping.streettext_connection
    try:
        adapter = adapter_for(connection, mapping.object_type)
        record = adapter.get(record_id) if record_id else adapter.sample()
    except exc.ApiError as e:
        preview.error = PREVIEW_FAILED.format(error=e)
        return preview
    if record is None:
        preview.error = PREVIEW_NO_RECORD
        return preview
    preview.record = record
    rules = [fm for fm in mapping.field_mappings.all() if fm.direction == direction]
    payload, errors = build_payload(rules, record.values, default_region=mapping.phone_region)
    target_labels = _field_labels(mapping.object_type, dst)
    preview.source_labels = _field_labels(mapping.object_type, src)
    # Custom fields carry the label they had when picked.
    preview.source_labels.update({fm.source: fm.source_label for fm in rules if fm.source_label})
    for fm in rules:
        if fm.source_kind == FieldMapping.SourceKind.FIELD:
            source_value = record.values.get(fm.source)
        else:
            source_value = apply_field_mapping(
                source_kind=fm.source_kind, source=fm.source, transforms=[], values=record.values
            )
        preview.rows.append(
            PreviewRow(
                target_field=fm.target_field,
                target_label=fm.target_label or target_labels.get(fm.target_field, ""),
                source_description=(
                    f"{fm.get_source_kind_display()}: {preview.source_labels.get(fm.source) or fm.source}"
                    if fm.source_kind == FieldMapping.SourceKind.FIELD
                    else f"{fm.get_source_kind_display()}: {fm.source}"
                ),
                source_value=source_value,
                target_value=payload.get(fm.target_field),
                error=errors.get(fm.target_field, ""),
            )
        )
    return preview
