"""Storing a processed page: history rows, this mapping's states, the cursor and the run's progress, together; and a
created record's row with its link, at once (`store_created`)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from integrations.models import RecordHistory, SyncCursor, SyncRun
from integrations.services import runs
from integrations.services.sync.context import LegContext
from integrations.services.sync.items import PageResult
from integrations.services.sync.links import states_save
from integrations.services.sync.outcomes import Outcome


def _history_row(ctx: LegContext, o: Outcome) -> RecordHistory:
    return RecordHistory(
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


def store_created(ctx: LegContext, result: PageResult, *, link_pk: int, outcome: Outcome) -> Outcome:
    """A record just created on the target: its history row, this mapping's state and the run's counts, stored now.

    Called inside the transaction that inserts the record's link, so the three are committed with it: a worker killed
    later in the page (SIGKILL, no cleanup) loses none of them, and the run that resumes the page finds the pair
    synced (its state) instead of counting it as skipped. The page's own store leaves the outcome out (`stored`)."""
    RecordHistory.objects.bulk_create([_history_row(ctx, outcome)])
    state = result.states.pop(link_pk, None)
    if state is not None:
        states_save(ctx.mapping, {link_pk: state})
    updates: dict[str, Any] = {
        "processed": F("processed") + 1,
        "created": F("created") + 1,
        "heartbeat_at": timezone.now(),
    }
    if ctx.state.total is not None:
        # Processed never passes the total (a parent synced first raises the total only when its page is stored).
        updates["total"] = Greatest(F("total"), F("processed") + 1)
    SyncRun.objects.filter(pk=ctx.run.pk).update(**updates)
    outcome.stored = True
    return outcome


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
    counts = {"processed": 0, "created": 0, "updated": 0, "skipped": 0, "failed": 0, "deleted": 0}
    for o in result.outcomes:
        if o.stored:  # row and counts committed with its link already (store_created)
            continue
        counts["processed"] += 1
        counts[o.action] += 1
        if o.quiet:
            continue
        rows.append(_history_row(ctx, o))
    progress = ctx.state
    progress.processed += len(result.outcomes)
    if progress.total is not None:
        progress.total = max(progress.total, progress.processed)
    with transaction.atomic():
        if rows:
            RecordHistory.objects.bulk_create(rows)
        if not ctx.dry_run:
            states_save(ctx.mapping, result.states)
            # A dry run must not move the cursor: the real run still has to see these records.
            if cursor is not None and next_position is not None:
                cursor.position = next_position
                cursor.save(update_fields=["position", "updated_at"])
        runs.sync_run_add_progress(run=ctx.run, counts=counts, total=progress.total)
