"""A poll's lifecycle, as a sync run's (integrations/services/runs.py): request (one active poll per automation, a
database constraint), claim (a conditional update), heartbeat, release for a retry, finish, and the every-minute
recovery of polls whose worker died or whose task was lost."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from automations import enqueue
from automations.models import (
    POLL_EVERY_ITEM_FAILED,
    Automation,
    AutomationActionRun,
    AutomationItem,
    AutomationPoll,
)
from integrations.models import Connection

logger = logging.getLogger(__name__)

POLL_ALREADY_ACTIVE = "A poll of “{automation}” is already {status} (#{poll_id}); wait for it to finish."
AUTOMATION_DISABLED = "“{automation}” is switched off; switch it on to run it."
CONNECTION_NEEDS_REAUTH = "“{connection}” needs re-authentication; its automations wait until that is fixed."
CONNECTION_PAUSED = "“{connection}” is paused until {until:%Y-%m-%d %H:%M} UTC (daily quota of its API used up)."
NOTHING_TO_RETRY = "No failed item to retry."
STALE_ERROR = "The worker stopped sending progress for {seconds} s (killed or lost); the next poll resumes."
LOST_ERROR = (
    "No worker started this poll within {minutes} min of when it was due, even after its task was sent again "
    "{times} time(s); the next poll resumes."
)
REQUEUED_NOTE = "Its task was lost (a worker stopped while holding it); sent again."
EVERY_ITEM_FAILED = POLL_EVERY_ITEM_FAILED


class PollRefused(Exception):
    """A poll cannot be started now; the message says why."""


class PollLost(Exception):
    """This worker no longer owns the poll (the stale check ended it): stop without writing more."""


def _check_can_run(automation: Automation) -> None:
    if not automation.enabled:
        raise PollRefused(AUTOMATION_DISABLED.format(automation=automation))
    now = timezone.now()
    for connection in (automation.ghl_connection, automation.streettext_connection):
        if connection is None:
            continue
        if connection.status == Connection.Status.NEEDS_REAUTH:
            raise PollRefused(CONNECTION_NEEDS_REAUTH.format(connection=connection))
        if connection.paused_until and connection.paused_until > now:
            raise PollRefused(CONNECTION_PAUSED.format(connection=connection, until=connection.paused_until))


def automation_poll_request(
    *,
    automation: Automation,
    trigger: str,
    requested_by: str = "",
    only_items: list[int] | None = None,
    countdown: float | None = None,
) -> AutomationPoll:
    """Create a pending poll and enqueue it once the transaction commits (after `countdown` seconds); refused while
    another is active."""
    _check_can_run(automation)
    try:
        with transaction.atomic():
            poll = AutomationPoll.objects.create(
                automation=automation, trigger=trigger, requested_by=requested_by, only_items=only_items or []
            )
    except IntegrityError as e:
        active = AutomationPoll.objects.filter(automation=automation, status__in=AutomationPoll.ACTIVE_STATUSES).first()
        if active is None:  # finished in between: a genuine integrity problem
            raise
        raise PollRefused(
            POLL_ALREADY_ACTIVE.format(
                automation=automation, status=active.get_status_display().lower(), poll_id=active.pk
            )
        ) from e
    if countdown:
        transaction.on_commit(partial(enqueue.run_poll, poll.pk, countdown=countdown))
    else:
        transaction.on_commit(partial(enqueue.run_poll, poll.pk))
    return poll


def automation_items_retry(*, automation: Automation, item_ids: list[int], requested_by: str = "") -> AutomationPoll:
    """Run the failed actions of these items again (and the ones after them), in a poll of their own."""
    failed = list(
        AutomationItem.objects.filter(
            automation=automation, pk__in=item_ids, status=AutomationItem.Status.FAILED
        ).values_list("pk", flat=True)
    )
    if not failed:
        raise PollRefused(NOTHING_TO_RETRY)
    return automation_poll_request(
        automation=automation, trigger=AutomationPoll.Trigger.RETRY, requested_by=requested_by, only_items=failed
    )


def automation_poll_claim(*, poll_id: int) -> AutomationPoll | None:
    """PENDING → RUNNING by a conditional update; None if another worker got it or it is not pending."""
    now = timezone.now()
    claimed = AutomationPoll.objects.filter(pk=poll_id, status=AutomationPoll.Status.PENDING).update(
        status=AutomationPoll.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        error="",
        next_attempt_at=None,
        attempts=F("attempts") + 1,
    )
    if claimed != 1:
        return None
    return AutomationPoll.objects.select_related(
        "automation", "automation__ghl_connection", "automation__streettext_connection"
    ).get(pk=poll_id)


def automation_poll_beat(*, poll: AutomationPoll, **counts: int) -> None:
    """Add counts and beat the heartbeat; PollLost when the poll is no longer this worker's (ended stale)."""
    updates: dict[str, Any] = {name: F(name) + value for name, value in counts.items() if value}
    updates["heartbeat_at"] = timezone.now()
    if not AutomationPoll.objects.filter(pk=poll.pk, status=AutomationPoll.Status.RUNNING).update(**updates):
        raise PollLost(f"poll {poll.pk} is no longer running")


def automation_poll_release(*, poll: AutomationPoll, error: str) -> None:
    """Give a running poll back to PENDING for the task's retry (a transient failure)."""
    AutomationPoll.objects.filter(pk=poll.pk, status=AutomationPoll.Status.RUNNING).update(
        status=AutomationPoll.Status.PENDING, error=f"Retrying after: {error}"[:2000], next_attempt_at=timezone.now()
    )


def automation_poll_retry_due(*, poll_id: int, countdown: float) -> None:
    AutomationPoll.objects.filter(pk=poll_id, status=AutomationPoll.Status.PENDING).update(
        next_attempt_at=timezone.now() + timedelta(seconds=max(countdown, 0.0))
    )


def automation_poll_finish(*, poll: AutomationPoll, error: str = "", note: str = "") -> AutomationPoll:
    """Set the final status from the counts: succeeded, partial or failed."""
    poll.refresh_from_db()
    if error:
        status = AutomationPoll.Status.FAILED
    elif poll.failed and (poll.handled or poll.skipped):
        status = AutomationPoll.Status.PARTIAL
    elif poll.failed:
        status = AutomationPoll.Status.FAILED
        error = EVERY_ITEM_FAILED
    else:
        status = AutomationPoll.Status.SUCCEEDED
    ended = AutomationPoll.objects.filter(pk=poll.pk, status=AutomationPoll.Status.RUNNING).update(
        status=status, error=error[:2000], note=note[:2000], finished_at=timezone.now()
    )
    poll.refresh_from_db()
    if ended:
        _raise_alerts(poll.pk)
    return poll


def _raise_alerts(poll_id: int) -> None:
    """The automation's alerts after a poll ended (failing polls, failing items); an alert that cannot be raised
    never fails the poll."""
    from alerts.services import alerts_for_poll

    try:
        alerts_for_poll(poll_id=poll_id)
    except Exception:
        logger.exception("Alerts for poll %s could not be raised", poll_id)


def automation_poll_fail(*, poll_id: int, error: str) -> None:
    """The task's failure hook: whatever state the poll is in, it ends failed with the reason."""
    if AutomationPoll.objects.filter(pk=poll_id, status__in=AutomationPoll.ACTIVE_STATUSES).update(
        status=AutomationPoll.Status.FAILED, error=error[:2000], finished_at=timezone.now()
    ):
        _raise_alerts(poll_id)


HANDOVER_COUNTDOWN_SECONDS = 10


def automation_poll_hand_over(*, poll_id: int, retries: int = 0) -> None:
    """A worker shutting down gave the poll back: send its task again for the next worker."""
    AutomationPoll.objects.filter(pk=poll_id, status=AutomationPoll.Status.PENDING).update(
        next_attempt_at=timezone.now() + timedelta(seconds=HANDOVER_COUNTDOWN_SECONDS)
    )
    try:
        enqueue.run_poll(poll_id, retries=retries, countdown=HANDOVER_COUNTDOWN_SECONDS)
    except Exception:  # the broker is going away too: the recovery re-sends it later
        logger.exception("Poll %s was handed back but its task could not be sent; the recovery will", poll_id)


def automation_polls_recover(*, now: datetime | None = None) -> dict[str, int]:
    """Every minute (from the sync runs' stale check): running polls whose worker died end stale (their items resume
    on the next poll: nothing is lost, nothing sent twice); pending polls whose task was lost are sent again, and end
    stale after SYNC_PENDING_MAX_REQUEUES tries."""
    now = now or timezone.now()
    seconds = settings.SYNC_STALE_AFTER_SECONDS
    stale = AutomationPoll.objects.filter(
        status=AutomationPoll.Status.RUNNING, heartbeat_at__lt=now - timedelta(seconds=seconds)
    ).update(status=AutomationPoll.Status.STALE, error=STALE_ERROR.format(seconds=seconds), finished_at=now)
    cutoff = now - timedelta(seconds=settings.SYNC_PENDING_GRACE_SECONDS)
    overdue = list(
        AutomationPoll.objects.filter(status=AutomationPoll.Status.PENDING)
        .annotate(due=Coalesce("next_attempt_at", "created_at"))
        .filter(due__lt=cutoff)
        .values_list("pk", "requeued", "attempts")
    )
    requeued = lost = 0
    for poll_id, times, attempts in overdue:
        if times >= settings.SYNC_PENDING_MAX_REQUEUES:
            minutes = max(1, round(settings.SYNC_PENDING_GRACE_SECONDS * (times + 1) / 60))
            lost += AutomationPoll.objects.filter(
                pk=poll_id, status=AutomationPoll.Status.PENDING, requeued=times
            ).update(
                status=AutomationPoll.Status.STALE,
                error=LOST_ERROR.format(minutes=minutes, times=times),
                finished_at=now,
                next_attempt_at=None,
            )
            continue
        with transaction.atomic():
            # The conditional update is the guard against two recoveries re-sending the same poll.
            if AutomationPoll.objects.filter(pk=poll_id, status=AutomationPoll.Status.PENDING, requeued=times).update(
                requeued=times + 1, next_attempt_at=now, error=REQUEUED_NOTE
            ):
                transaction.on_commit(partial(enqueue.run_poll, poll_id, retries=attempts))
                requeued += 1
    if stale or requeued or lost:
        logger.warning("Automation polls: %s stale, %s sent again, %s lost", stale, requeued, lost)
    return {"polls_stale": stale, "polls_requeued": requeued, "polls_lost": lost}


def automation_action_runs_reset(*, item: AutomationItem) -> int:
    """Before a retry: the item's failed action and the ones not run after it go back to 'not run yet'."""
    return AutomationActionRun.objects.filter(
        item=item, state__in=[AutomationActionRun.State.FAILED, AutomationActionRun.State.SKIPPED]
    ).update(state=AutomationActionRun.State.PENDING, error="", note="")
