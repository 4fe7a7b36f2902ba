"""Reads about mappings for the admin: how many linked records a re-sync would touch, how many are out of date, and
what a per-contact scan (GHL notes, appointments) costs."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from integrations.models import MappingRecordState, SyncRun
from integrations.services.sync.context import mapping_config_digests
from integrations.services.sync.links import pair_links
from integrations.services.sync.reading import scan_cost
from mappings.models import Mapping

NAME_MAX = 120


@dataclass(frozen=True)
class ResyncSummary:
    linked: int  # records a re-sync run reads again (per direction it runs)
    outdated: int  # linked records last synced with another version of the mapping (or never by this one)
    has_run: bool


def mapping_resync_summary(*, mapping: Mapping) -> ResyncSummary:
    """What "Re-sync linked records" would touch, and whether the mapping changed since those records were synced."""
    linked = pair_links(mapping).count()
    # Up to date: synced with the current configuration in every direction the mapping runs.
    current = mapping_config_digests(mapping)
    wanted = {f"configs__{direction}": digest for direction, digest in current.items()}
    up_to_date = MappingRecordState.objects.filter(mapping=mapping, **wanted).count()
    has_run = SyncRun.objects.filter(mapping=mapping).exists()
    return ResyncSummary(linked=linked, outdated=max(linked - up_to_date, 0) if has_run else 0, has_run=has_run)


def mapping_free_name(*, name: str, exclude_pk: int | None = None) -> str:
    """`name`, or `name (2)`, `name (3)`, … : the first that no other mapping has (names are unique, case aside)."""
    taken = Mapping.objects.exclude(pk=exclude_pk) if exclude_pk else Mapping.objects.all()
    wanted = taken.filter(name__istartswith=name[: NAME_MAX - 6]).values_list("name", flat=True)
    used = {existing.lower() for existing in wanted}
    candidate, number = name[:NAME_MAX], 2
    while candidate.lower() in used:
        suffix = f" ({number})"
        candidate = name[: NAME_MAX - len(suffix)] + suffix
        number += 1
    return candidate


def mapping_scan_summary(*, mapping: Mapping) -> str:
    """One paragraph for the mapping page on the GHL per-contact scan (notes, appointments); "" for other mappings."""
    cost = scan_cost(mapping)
    if cost is None:
        return ""
    label = mapping.get_object_type_display().lower()
    hours = cost.interval.total_seconds() / 3600
    per_second = settings.GHL_RATE_LIMIT_MAX / settings.GHL_RATE_LIMIT_WINDOW_SECONDS
    parts = [
        f"GHL lists {label} only per contact, so a full scan costs one GHL request per contact plus one per 100 "
        f"contacts searched."
    ]
    if cost.requests is not None and cost.finished_at is not None:
        minutes = cost.requests / per_second / 60
        parts.append(
            f"The last scan took {cost.requests:,} requests (about {minutes:.1f} min of the location's "
            f"{settings.GHL_RATE_LIMIT_MAX} requests per {settings.GHL_RATE_LIMIT_WINDOW_SECONDS:g} s) and finished "
            f"at {cost.finished_at:%Y-%m-%d %H:%M} UTC."
        )
    elif cost.in_progress is not None:
        parts.append(f"A scan is under way: {cost.in_progress:,} requests so far.")
    else:
        parts.append("No scan has finished yet.")
    parts.append(
        f"Scheduled runs scan at most once every {hours:g} h"
        + (f" (next at {cost.next_due:%Y-%m-%d %H:%M} UTC)" if cost.next_due else "")
        + f"; GHL's webhooks keep {label} fresh in between, and Sync now always scans."
    )
    return " ".join(parts)
