"""Reads about mappings for the admin: how many linked records a re-sync would touch, how many are out of date, and
what a per-contact scan (GHL notes, appointments) costs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from integrations.models import MappingRecordState
from integrations.services import budget
from integrations.services.sync.context import mapping_config_digest
from integrations.services.sync.links import pair_links
from integrations.services.sync.reading import listing_due, scan_cost
from mappings.models import Mapping

NAME_MAX = 120


# Counts on the mapping page stop here: past it the page says "more than" (a count of 1M rows costs ~0.3 s a view).
RESYNC_COUNT_CAP = 10_000


@dataclass(frozen=True)
class Count:
    value: int
    capped: bool  # there are more than `value`

    def __bool__(self) -> bool:
        return self.value > 0

    def __str__(self) -> str:
        return f"more than {self.value:,}" if self.capped else f"{self.value:,}"


@dataclass(frozen=True)
class ResyncSummary:
    linked: Count  # record links of the mapping's pair of connections: what a re-sync run reads again
    outdated: Count  # records THIS mapping synced with an earlier version of ITS configuration


def _capped(queryset: QuerySet[Any], cap: int) -> Count:
    found = queryset.values("pk")[: cap + 1].count()
    return Count(value=min(found, cap), capped=found > cap)


def states_synced_with_other_config(mapping: Mapping) -> list[QuerySet[MappingRecordState]]:
    """This mapping's record states written with a configuration other than its current one.

    The one place that compares a state's `config` with the mapping's: each part is a range of the
    (mapping, config) index, so finding few or none among a million states reads few index entries, never the table
    (`config != current` would read every entry). A state with no config was never synced by a configuration."""
    current = mapping_config_digest(mapping, list(mapping.field_mappings.all()))
    states = MappingRecordState.objects.filter(mapping=mapping)
    return [states.filter(config__gt="", config__lt=current), states.filter(config__gt=current)]


def mapping_resync_summary(*, mapping: Mapping, cap: int = RESYNC_COUNT_CAP) -> ResyncSummary:
    """What "Re-sync linked records" would touch, and how many records this mapping synced with an earlier version
    of its configuration (0 for a new or unedited mapping). Both counts stop at `cap`."""
    older = [_capped(part, cap) for part in states_synced_with_other_config(mapping)]
    total = sum(c.value for c in older)
    outdated = Count(value=min(total, cap), capped=total > cap or any(c.capped for c in older))
    return ResyncSummary(linked=_capped(pair_links(mapping), cap), outdated=outdated)


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
    """One paragraph for the mapping page on the GHL per-contact scan (notes, appointments) and its share of the
    location's daily budget, or on the daily task listing; "" for other mappings."""
    listing = listing_due(mapping)
    if listing is not None:
        interval, finished, due = listing
        hours = interval.total_seconds() / 3600
        text = (
            f"GHL's task search has no updated-since filter, so scheduled runs list every task (one request per 100) "
            f"at most once every {hours:g} h; GHL's task webhooks keep tasks fresh in between, and Sync now always "
            f"lists."
        )
        if finished is not None:
            text += f" Last full listing at {finished:%Y-%m-%d %H:%M} UTC"
            text += f", next due at {due:%Y-%m-%d %H:%M} UTC." if due else "; the next scheduled run lists again."
        return text
    cost = scan_cost(mapping)
    if cost is None:
        return ""
    label = mapping.get_object_type_display().lower()
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
    location = budget.location_budget(mapping.ghl_connection)
    plan = next((p for p in location.scans if p.mapping.pk == mapping.pk), None)
    parts.append(
        "Scheduled runs scan a slice of the contacts each, most recently updated first, sized to fit the location's "
        f"daily budget ({location.budget:,} requests, {location.percent} % of {location.limit:,}; "
        f"{location.used:,} used today, forecast {location.forecast:,})"
        + (f": {plan.summary}." if plan is not None else ".")
        + f" GHL's webhooks keep {label} fresh in between, and Sync now finishes the pass under way."
    )
    return " ".join(parts)
