"""Reads about mappings for the admin: how many linked records a re-sync would touch, how many are out of date."""

from __future__ import annotations

from dataclasses import dataclass

from integrations.models import MappingRecordState, SyncRun
from integrations.services.sync.context import mapping_config_digest
from integrations.services.sync.links import pair_links
from mappings.models import Mapping


@dataclass(frozen=True)
class ResyncSummary:
    linked: int  # records a re-sync run reads again (per direction it runs)
    outdated: int  # linked records last synced with another version of the mapping (or never by this one)
    has_run: bool


def mapping_resync_summary(*, mapping: Mapping) -> ResyncSummary:
    """What "Re-sync linked records" would touch, and whether the mapping changed since those records were synced."""
    linked = pair_links(mapping).count()
    current = mapping_config_digest(mapping, list(mapping.field_mappings.all()))
    up_to_date = MappingRecordState.objects.filter(mapping=mapping, config=current).count()
    has_run = SyncRun.objects.filter(mapping=mapping).exists()
    return ResyncSummary(linked=linked, outdated=max(linked - up_to_date, 0) if has_run else 0, has_run=has_run)
