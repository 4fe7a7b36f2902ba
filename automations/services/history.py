"""Items history housekeeping: versions older than the retention setting are deleted in bounded batches, except
each item's latest version, which is what tells the item's next change from one already handled."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from automations.models import AutomationItem

logger = logging.getLogger(__name__)

PRUNE_BATCH = 5000
PRUNE_MAX_PER_CALL = 500_000


def automation_items_prune(*, now: datetime | None = None, days: int | None = None) -> int:
    """Delete item versions recorded more than `days` ago (SYNC_HISTORY_RETENTION_DAYS, as record history; 0 keeps
    everything) that a later version of the same item has replaced, unless still waiting. Returns the count of rows
    deleted."""
    days = settings.SYNC_HISTORY_RETENTION_DAYS if days is None else days
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    later = AutomationItem.objects.filter(
        automation_id=OuterRef("automation_id"), item_id=OuterRef("item_id"), created_at__gt=OuterRef("created_at")
    )
    # A version still waiting (a wait may last up to AUTOMATION_WAIT_MAX_DAYS) stays until it has resumed.
    old = (
        AutomationItem.objects.filter(created_at__lt=cutoff)
        .exclude(status=AutomationItem.Status.WAITING)
        .filter(Exists(later))
    )
    deleted = 0
    while deleted < PRUNE_MAX_PER_CALL:
        ids = list(old.values_list("pk", flat=True)[:PRUNE_BATCH])
        if not ids:
            break
        # Their action results go with them (cascade).
        AutomationItem.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
    if deleted:
        logger.info("Pruned %s automation item versions older than %s days", deleted, days)
    return deleted
