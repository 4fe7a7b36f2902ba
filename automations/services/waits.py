"""Waits that ended, handed back to their automation; and waiting items cancelled.

A waiting item is a row (status WAITING, resume_at) and its wait step's row (WAITING): nothing lives in a worker's
memory, so waits outlive restarts and deploys. Every minute beat's resume_waits_task calls automation_waits_resume,
which claims each due item with a conditional UPDATE (WAITING and due → PENDING, the wait step → DONE) and requests a
poll of the item's automation (trigger "resume") in the same transaction: the poll runs the item's remaining steps.
Two resumers (two beats by mistake, or a retry) cannot both claim an item — the UPDATE's condition lets one through;
and when the automation already has an active poll the request is refused, the claims roll back and the next minute
tries again. A cancelled item (WAITING → CANCELLED, by the same kind of UPDATE) is never claimed.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from automations import values as v
from automations.models import AutomationActionRun, AutomationItem, AutomationPoll
from automations.services import polls

logger = logging.getLogger(__name__)

NOTE_RESUMED = "Waited until {until}; resumed {now}."
NOTE_CANCELLED = "Cancelled{by}; the steps after it never run."
NOTE_NOT_RUN = "Not run: the item was cancelled while waiting."
MSG_NOT_WAITING = "This item is not waiting (any more): nothing to cancel."


def automation_waits_resume(*, now: datetime | None = None) -> dict[str, int]:
    """Hand every item whose wait has ended to a poll of its automation. `now` moves the clock (tests, a catch-up).
    Returns counts: items resumed, automations whose poll was refused (tried again next time)."""
    now = now or timezone.now()
    due = AutomationItem.objects.filter(status=AutomationItem.Status.WAITING, resume_at__lte=now)
    resumed = refused = 0
    for automation_id in due.values_list("automation_id", flat=True).distinct().order_by("automation_id"):
        candidates = list(
            due.filter(automation_id=automation_id).order_by("resume_at", "pk")[: settings.AUTOMATION_RESUME_BATCH]
        )
        automation = candidates[0].automation if candidates else None
        if automation is None:
            continue
        try:
            with transaction.atomic():
                claimed = [item for item in candidates if _claim(item, now)]
                if not claimed:
                    continue
                polls.automation_poll_request(
                    automation=automation,
                    trigger=AutomationPoll.Trigger.RESUME,
                    only_items=[item.pk for item in claimed],
                )
        except polls.PollRefused as e:
            refused += 1
            logger.info("Waits of automation %s not resumed yet: %s", automation_id, e)
            continue
        resumed += len(claimed)
    return {"resumed": resumed, "refused": refused}


def _claim(item: AutomationItem, now: datetime) -> bool:
    """WAITING and due → PENDING, exactly once; its wait step DONE, saying so."""
    claimed = AutomationItem.objects.filter(
        pk=item.pk, status=AutomationItem.Status.WAITING, resume_at__lte=now
    ).update(status=AutomationItem.Status.PENDING, resume_at=None)
    if not claimed:
        return False
    until = v.iso(item.resume_at) if item.resume_at else "its end"
    AutomationActionRun.objects.filter(item=item, state=AutomationActionRun.State.WAITING).update(
        state=AutomationActionRun.State.DONE,
        note=NOTE_RESUMED.format(until=until, now=v.iso(now))[:300],
        finished_at=now,
    )
    return True


class NotWaiting(Exception):
    pass


@transaction.atomic
def automation_item_cancel(*, item: AutomationItem, by: str = "") -> AutomationItem:
    """A waiting item is cancelled: it never resumes, its wait and the steps after it say so. NotWaiting when it is
    not waiting (resumed in between, or finished)."""
    now = timezone.now()
    cancelled = AutomationItem.objects.filter(pk=item.pk, status=AutomationItem.Status.WAITING).update(
        status=AutomationItem.Status.CANCELLED, resume_at=None, finished_at=now
    )
    if not cancelled:
        raise NotWaiting(MSG_NOT_WAITING)
    AutomationActionRun.objects.filter(item=item, state=AutomationActionRun.State.WAITING).update(
        state=AutomationActionRun.State.CANCELLED,
        note=NOTE_CANCELLED.format(by=f" by {by}" if by else "")[:300],
        finished_at=now,
    )
    AutomationActionRun.objects.filter(item=item, state=AutomationActionRun.State.PENDING).update(
        state=AutomationActionRun.State.SKIPPED, note=NOTE_NOT_RUN
    )
    item.refresh_from_db()
    return item
