"""MappingRecordState.config (one digest of the whole mapping) becomes configs (one digest per direction), so editing
one direction's field mappings makes records stale in that direction only.

A state synced with the mapping as it is now gets the per-direction digests of the mapping as it is now (it stays up
to date); any other state gets none (it was stale, and stays stale in every direction). Both digests are frozen
copies of the engine's code at the time of this migration (integrations/services/sync/context.py)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import migrations, models

BOTH = "both"
LEGS = ["to_streettext", "to_ghl"]


def _hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _shared(mapping: Any) -> dict[str, Any]:
    return {
        "filter": mapping.record_filter,
        "followups": mapping.followup_rules,
        "overwrite_tags": mapping.overwrite_tags,
        "region": mapping.phone_region,
    }


def _whole_mapping_digest(mapping: Any, rules: list[Any]) -> str:
    fields = sorted(
        (fm.direction, fm.target_field, fm.source_kind, fm.source, json.dumps(fm.transforms, sort_keys=True))
        for fm in rules
    )
    return _hash({"fields": fields, **_shared(mapping)})


def _direction_digest(mapping: Any, rules: list[Any], direction: str) -> str:
    fields = sorted(
        (fm.target_field, fm.source_kind, fm.source, json.dumps(fm.transforms, sort_keys=True))
        for fm in rules
        if fm.direction == direction
    )
    return _hash({"fields": fields, **_shared(mapping)})


def split_configs(apps: Any, schema_editor: Any) -> None:
    Mapping = apps.get_model("mappings", "Mapping")
    MappingRecordState = apps.get_model("integrations", "MappingRecordState")
    for mapping in Mapping.objects.all():
        rules = list(mapping.field_mappings.all())
        directions = LEGS if mapping.direction == BOTH else [mapping.direction]
        configs = {direction: _direction_digest(mapping, rules, direction) for direction in directions}
        MappingRecordState.objects.filter(mapping=mapping, config=_whole_mapping_digest(mapping, rules)).update(
            configs=configs
        )


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0011_history_admin_indexes"),
        ("mappings", "0008_followup_actions"),
    ]

    operations = [
        migrations.AddField(
            model_name="mappingrecordstate",
            name="configs",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(split_configs, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="mappingrecordstate",
            name="config",
        ),
    ]
