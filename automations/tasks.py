"""Celery entry points for automations: ids in, one service call, a small summary out."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from celery import shared_task

from automations.models import Automation, AutomationPoll
from automations.services import engine, polls
from integrations.task_base import RETRY_POLICY, LifecycleTask, scheduled_request

logger = logging.getLogger(__name__)


@shared_task(bind=True, base=LifecycleTask, lifecycle=polls.POLLS, **RETRY_POLICY)
def run_poll_task(self: LifecycleTask, poll_id: int) -> dict[str, Any]:
    """Execute one automation poll, resuming each item at its first action not done (its retries, hand-over and
    database loss: integrations/task_base.py)."""
    poll = self.execute(poll_id, partial(engine.automation_poll_execute, poll_id=poll_id))
    if isinstance(poll, str):
        return {"poll": poll_id, "status": poll}
    return {"poll": poll.pk, "status": poll.status, "handled": poll.handled, "failed": poll.failed}


@shared_task
def scheduled_poll_task(automation_id: int) -> dict[str, Any]:
    """Beat entry point: request a scheduled poll unless one is already active."""
    return scheduled_request(
        "automation",
        automation_id,
        Automation.objects.select_related("ghl_connection", "streettext_connection").filter(pk=automation_id).first(),
        lambda automation: polls.automation_poll_request(
            automation=automation, trigger=AutomationPoll.Trigger.SCHEDULE
        ),
        polls.PollRefused,
    )


@shared_task
def prune_items_task() -> dict[str, int]:
    """Beat entry point (hourly): item versions older than the retention setting, replaced by a later version."""
    from automations.services.history import automation_items_prune

    return {"deleted": automation_items_prune()}


@shared_task
def resume_waits_task() -> dict[str, int]:
    """Beat entry point (every minute): items whose wait has ended go back to their automation's steps."""
    from automations.services.waits import automation_waits_resume

    return automation_waits_resume()


@shared_task
def recover_polls_task() -> dict[str, int]:
    """Beat entry point (every minute): running polls whose worker died end stale (their items resume on the next
    poll: nothing is lost, nothing sent twice); pending polls whose task was lost are sent again (or, after a few
    tries, end stale) so the automation can run again."""
    return polls.POLLS.recover()  # also run by every worker on a thread of its own (integrations/housekeeping.py)


@shared_task
def fire_event_task(automation_id: int, requested_by: str, attempt: int) -> dict[str, Any]:
    """A webhook's event found its automation's poll going: request the poll again (docs/automations.md#events)."""
    from automations.services.events import automation_event_fire_again

    fired = automation_event_fire_again(automation_id=automation_id, requested_by=requested_by, attempt=attempt)
    return {"automation": automation_id, "fired": fired, "attempt": attempt}
