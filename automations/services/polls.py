"""Automation polls: request (one active poll per automation, a database constraint) and retry of failed items; their
claim, heartbeat, release, finish and recovery are the one lifecycle every unit of background work shares
(integrations/services/lifecycle.py), recovered every minute by this app's own periodic task."""

from __future__ import annotations

from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone

from automations import enqueue
from automations.models import (
    Automation,
    AutomationActionRun,
    AutomationItem,
    AutomationPoll,
)
from integrations.models import Connection
from integrations.services.lifecycle import Lifecycle

POLL_ALREADY_ACTIVE = "A poll of “{automation}” is already {status} (#{poll_id}); wait for it to finish."
AUTOMATION_DISABLED = "“{automation}” is switched off; switch it on to run it."
CONNECTION_NEEDS_REAUTH = "“{connection}” needs re-authentication; its automations wait until that is fixed."
CONNECTION_PAUSED = "“{connection}” is paused until {until:%Y-%m-%d %H:%M} UTC (daily quota of its API used up)."
NOTHING_TO_RETRY = "No failed item to retry."


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


class AutomationPolls(Lifecycle[AutomationPoll]):
    model = AutomationPoll
    noun = "poll"
    resumes = "the next poll resumes"
    related = ("automation", "automation__ghl_connection", "automation__streettext_connection")

    def send(self, pk: int, *, retries: int = 0, countdown: float | None = None) -> None:
        enqueue.run_poll(pk, retries=retries, countdown=countdown)

    def alerts(self, pk: int) -> None:
        """The automation's alerts after a poll ended (failing polls, failing items)."""
        from alerts.services import alerts_for_poll

        alerts_for_poll(poll_id=pk)


POLLS = AutomationPolls()


def automation_poll_claim(*, poll_id: int) -> AutomationPoll | None:
    """PENDING → RUNNING by a conditional update; None if another worker got it or it is not pending."""
    return POLLS.claim(poll_id)


def automation_poll_beat(*, poll: AutomationPoll, **counts: int) -> None:
    """Add counts and beat the heartbeat; PollLost when the poll is no longer this worker's (ended stale)."""
    if not POLLS.beat(poll.pk, counts):
        raise PollLost(f"poll {poll.pk} is no longer running")


def automation_poll_release(*, poll: AutomationPoll, error: str) -> None:
    """Give a running poll back to PENDING for the task's retry (a transient failure)."""
    POLLS.release(poll.pk, error=error)


def automation_poll_finish(*, poll: AutomationPoll, error: str = "", note: str = "") -> AutomationPoll:
    """Set the final status from the counts: succeeded, partial or failed."""
    return POLLS.finish(poll, error=error, note=note)


def automation_action_runs_reset(*, item: AutomationItem) -> int:
    """Before a retry: the item's failed action and the ones not run after it go back to 'not run yet'."""
    return AutomationActionRun.objects.filter(
        item=item, state__in=[AutomationActionRun.State.FAILED, AutomationActionRun.State.SKIPPED]
    ).update(state=AutomationActionRun.State.PENDING, error="", note="")
