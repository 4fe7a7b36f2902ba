"""Records deleted on the source side: the mapping's delete policy applied to one record, and the deletion check
that finds them when no webhook said so.

The check lists the source's ids (adapters' `existing_ids`: one cheap, paged listing where the API has one; for a
full scan that just ran from the start, its own pages) and compares them with the pair's record links. Every id that
is missing is read once more before anything happens to it, so a listing that lags or fails cannot delete data.
Cost per check: GHL contacts 1 request per 500 contacts, GHL tasks and businesses 1 per 100 (nothing extra after a
full scan), StreetText 1 per 200 linked records; plus 1 request per missing record. GHL notes and appointments, listed
per contact, are checked only by a complete scan (nothing extra; their Delete webhooks say so in between).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.utils import timezone

from integrations.adapters import Record
from integrations.clients import exceptions as exc
from integrations.models import SyncCursor, System
from integrations.services import budget
from integrations.services.sync.context import LegContext
from integrations.services.sync.links import LinkBook, id_field, link_id, pair_links, unlinked_mark
from integrations.services.sync.outcomes import (
    REASON_DELETED_IGNORED,
    REASON_DELETED_NOT_LINKED,
    REASON_DELETED_TARGET,
    REASON_DELETED_UNLINKED,
    REASON_DELETION_FOUND,
    Action,
    Outcome,
)
from mappings.models import Mapping

# Linked ids read per query while comparing them with a listing.
LINK_CHUNK = 5000
# Marks a deleted Record the check found (in Record.raw), so its history row says how it was found.
FOUND_BY_CHECK = "found_by_deletion_check"


def apply(
    ctx: LegContext, book: LinkBook, source_id: str, keys: dict[str, Any], *, found_by_check: bool = False
) -> Outcome:
    """Apply the mapping's delete policy to a record deleted on the source side."""
    link = book.get(ctx.source_system, source_id)
    target_id = link_id(link, ctx.target_system)
    ids = ctx.ids(source_id, target_id)
    keys = dict(keys)
    if link is not None and link.email and not keys.get("email"):
        keys["email"] = link.email
    suffix = f" ({REASON_DELETION_FOUND})" if found_by_check else ""
    policy = ctx.mapping.delete_policy
    if link is None:
        return Outcome(Action.SKIPPED, REASON_DELETED_NOT_LINKED, **ids, **keys)
    if policy == Mapping.DeletePolicy.IGNORE:
        return Outcome(Action.SKIPPED, REASON_DELETED_IGNORED + suffix, **ids, **keys)
    if policy == Mapping.DeletePolicy.UNLINK:
        if not ctx.dry_run:
            book.forget(link)
            link.delete()
            # The survivor stays unlinked: a later run must not copy it again (docs/reliability.md).
            unlinked_mark(ctx.mapping, system=ctx.target_system, record_id=target_id, partner_id=source_id)
        return Outcome(Action.SKIPPED, REASON_DELETED_UNLINKED + suffix, **ids, **keys)
    if not ctx.dry_run:
        # Already gone on the target: the outcome is the same.
        with contextlib.suppress(exc.ApiNotFound):
            ctx.call(ctx.target_connection, ctx.target.delete, target_id)
        book.forget(link)
        link.delete()
    return Outcome(Action.DELETED, REASON_DELETED_TARGET + suffix, **ids, **keys)


# Deletion checks the budget pays for at least this often are not paced (the default schedule: every 15 minutes).
PACE_FLOOR_MINUTES = 15


def check_due(ctx: LegContext, cursor: SyncCursor | None) -> bool:
    """Whether this run looks for deletions on the leg's source side now."""
    mapping = ctx.mapping
    if mapping.delete_policy == Mapping.DeletePolicy.IGNORE or ctx.enrich:
        return False
    if cursor is None or cursor.deletions_checked_at is None:
        return True
    minutes = float(mapping.deletion_check_minutes)
    per_request = getattr(ctx.source, "ids_per_request", 0)
    if ctx.source_system == System.GHL and per_request:
        # At scale the listing's cost would eat the location's daily budget: it runs only as often as the budget allows.
        # A budget that pays for a check on every scheduled run (every PACE_FLOOR_MINUTES at the least) leaves them on
        # every run: a deletion is seen by the next one.
        linked = pair_links(mapping).count()
        paced = budget.deletion_check_minutes(mapping, linked=linked, per_request=per_request)
        if paced > max(mapping.schedule_minutes or 0, PACE_FLOOR_MINUTES):
            minutes = max(minutes, paced)
    if not minutes:
        return True
    return timezone.now() - cursor.deletions_checked_at >= timedelta(minutes=minutes)


def _linked_source_ids(ctx: LegContext) -> Iterator[list[str]]:
    links = pair_links(ctx.mapping).order_by("pk")
    last = 0
    field = id_field(ctx.source_system)
    while True:
        chunk = list(links.filter(pk__gt=last).values_list("pk", field)[:LINK_CHUNK])
        if not chunk:
            return
        last = chunk[-1][0]
        yield [record_id for _, record_id in chunk]


def missing_records(ctx: LegContext, *, listed: set[str] | None) -> list[Record]:
    """Linked source records that no longer exist: absent from the listing (`listed`, or the adapter's own) and
    confirmed gone by reading each once more."""
    linked = [record_id for chunk in _linked_source_ids(ctx) for record_id in chunk]
    if not linked:
        return []
    if listed is None:
        listed = ctx.call(ctx.source_connection, ctx.source.existing_ids, linked)
    absent = [record_id for record_id in linked if record_id not in listed]
    if not absent:
        return []
    still_there = ctx.call(ctx.source_connection, ctx.source.get_many, absent)
    return [
        Record(id=record_id, values={}, deleted=True, raw={FOUND_BY_CHECK: True})
        for record_id in absent
        if record_id not in still_there
    ]


def mark_checked(ctx: LegContext) -> None:
    SyncCursor.objects.update_or_create(
        mapping=ctx.mapping, system=ctx.source_system, defaults={"deletions_checked_at": timezone.now()}
    )
