"""Storing a processed page: history rows, this mapping's states, the cursor and the run's progress, together."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from integrations.models import FollowupMarker, PendingCreate, RecordHistory, SyncCursor
from integrations.services import runs
from integrations.services.sync.context import LegContext
from integrations.services.sync.items import PageResult
from integrations.services.sync.links import states_save


def store_page(
    ctx: LegContext,
    result: PageResult,
    *,
    cursor: SyncCursor | None = None,
    next_position: dict[str, Any] | None = None,
) -> None:
    """History rows, this mapping's states, the cursor and the run's progress, in one transaction.

    Rows a page adds beyond its records (a parent synced first, a follow-up task) raise the run's total with its
    processed count, so processed never passes the total."""
    rows = []
    counts = {"processed": len(result.outcomes), "created": 0, "updated": 0, "skipped": 0, "failed": 0, "deleted": 0}
    for o in result.outcomes:
        counts[o.action] += 1
        if o.quiet:
            continue
        rows.append(
            RecordHistory(
                run=ctx.run,
                mapping=ctx.mapping,
                direction=o.direction or ctx.direction,
                action=o.action,
                reason=o.reason[:200],
                ghl_id=o.ghl_id,
                streettext_id=o.streettext_id,
                email=o.email[:254],
                phone=o.phone[:40],
                changes=o.changes,
                error=o.error,
                dry_run=ctx.dry_run,
            )
        )
    progress = ctx.state
    progress.processed += len(result.outcomes)
    if progress.total is not None:
        progress.total = max(progress.total, progress.processed)
    with transaction.atomic():
        if rows:
            RecordHistory.objects.bulk_create(rows)
        if not ctx.dry_run:
            states_save(ctx.mapping, result.states)
            if result.written_ahead:  # the page's creates are stored: none is in doubt any more
                PendingCreate.objects.filter(
                    mapping=ctx.mapping, direction=ctx.direction, source_id__in=set(result.written_ahead)
                ).delete()
            if result.markers:  # the page's follow-ups are in its history now
                FollowupMarker.objects.filter(pk__in=result.markers).update(recorded=True)
            # A dry run must not move the cursor: the real run still has to see these records.
            if cursor is not None and next_position is not None:
                cursor.position = next_position
                cursor.save(update_fields=["position", "updated_at"])
        runs.sync_run_add_progress(run=ctx.run, counts=counts, total=progress.total)
