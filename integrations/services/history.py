"""Record history housekeeping: rows older than the retention setting are deleted in bounded batches."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Model
from django.utils import timezone

from integrations.models import RecordHistory

logger = logging.getLogger(__name__)

# Rows deleted per statement, and at most per call: a big backlog is worked off over several hourly calls without
# holding long locks.
PRUNE_BATCH = 5000
PRUNE_MAX_PER_CALL = 500_000


def prune_older_than(
    model: type[Model], *, field: str, now: datetime | None = None, days: int | None = None, what: str
) -> int:
    """Delete rows of `model` whose `field` is older than `days` (SYNC_HISTORY_RETENTION_DAYS; 0 keeps everything),
    PRUNE_BATCH at a time and at most PRUNE_MAX_PER_CALL per call. Returns the count."""
    days = settings.SYNC_HISTORY_RETENTION_DAYS if days is None else days
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    old = model._default_manager.filter(**{f"{field}__lt": cutoff})
    deleted = 0
    while deleted < PRUNE_MAX_PER_CALL:
        ids = list(old.values_list("pk", flat=True)[:PRUNE_BATCH])
        if not ids:
            break
        count, _ = model._default_manager.filter(pk__in=ids).delete()
        deleted += count
    if deleted:
        logger.info("Pruned %s %s older than %s days", deleted, what, days)
    return deleted


def history_prune(*, now: datetime | None = None, days: int | None = None) -> int:
    """Delete record history older than `days` (SYNC_HISTORY_RETENTION_DAYS; 0 keeps everything). Returns the count."""
    return prune_older_than(RecordHistory, field="created_at", now=now, days=days, what="record-history rows")
