"""Celery entry points for automations: ids in, one service call, a small summary out."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from django.conf import settings

from automations.models import Automation, AutomationPoll
from automations.services import engine, polls
from integrations.clients.base import requests_stopped
from integrations.clients.exceptions import ApiQuotaExhausted, ApiWorkerStopping, TransientApiError

logger = logging.getLogger(__name__)


class PollTask(Task):
    """When the task gives up (retries exhausted, or a bug), the poll ends failed with the reason."""

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        poll_id = args[0] if args else kwargs.get("poll_id")
        if poll_id is not None:
            polls.automation_poll_fail(poll_id=poll_id, error=f"{type(exc).__name__}: {exc}")

    def retry(self, *args: Any, **kwargs: Any) -> Any:
        """Record when the retry is due, so the recovery tells a poll waiting for its retry from a lost one."""
        poll_ids = self.request.args or [self.request.kwargs.get("poll_id") if self.request.kwargs else None]
        if poll_ids and poll_ids[0] is not None:
            polls.automation_poll_retry_due(poll_id=int(poll_ids[0]), countdown=float(kwargs.get("countdown") or 0))
        return super().retry(*args, **kwargs)


@shared_task(
    bind=True,
    base=PollTask,
    autoretry_for=(TransientApiError,),
    dont_autoretry_for=(ApiQuotaExhausted, ApiWorkerStopping),
    retry_backoff=settings.SYNC_RETRY_BACKOFF_SECONDS,
    retry_backoff_max=settings.SYNC_RETRY_BACKOFF_MAX_SECONDS,
    retry_jitter=settings.SYNC_RETRY_JITTER,
    max_retries=settings.SYNC_MAX_RETRIES,
)
def run_poll_task(self: Any, poll_id: int) -> dict[str, Any]:
    """Execute one automation poll.

    Retry budget, as a sync run's: each API call gets 1 + API_TRANSPORT_RETRIES transport tries for idempotent
    methods and 429s; a transient error that survives them gives the poll back, and this task retries it up to
    SYNC_MAX_RETRIES (5) times with backoff from SYNC_RETRY_BACKOFF_SECONDS (5 s, at most 300 s, jittered),
    resuming each item at its first action not done. A retry lost with its worker is sent again by the every-minute
    recovery (same budget).
    """
    if requests_stopped():
        polls.automation_poll_hand_over(poll_id=poll_id, retries=self.request.retries)
        return {"poll": poll_id, "status": "handed over"}
    try:
        poll = engine.automation_poll_execute(poll_id=poll_id)
    except ApiWorkerStopping:
        polls.automation_poll_hand_over(poll_id=poll_id, retries=self.request.retries)
        return {"poll": poll_id, "status": "handed over"}
    if poll is None:
        return {"poll": poll_id, "status": "not claimed"}
    return {"poll": poll.pk, "status": poll.status, "handled": poll.handled, "failed": poll.failed}


@shared_task
def scheduled_poll_task(automation_id: int) -> dict[str, Any]:
    """Beat entry point: request a scheduled poll unless one is already active."""
    automation = (
        Automation.objects.select_related("ghl_connection", "streettext_connection").filter(pk=automation_id).first()
    )
    if automation is None:
        return {"automation": automation_id, "status": "missing"}
    try:
        poll = polls.automation_poll_request(automation=automation, trigger=AutomationPoll.Trigger.SCHEDULE)
    except polls.PollRefused as e:
        logger.info("Scheduled poll of automation %s skipped: %s", automation_id, e)
        return {"automation": automation_id, "status": "skipped", "reason": str(e)}
    return {"automation": automation_id, "poll": poll.pk}


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
def fire_event_task(automation_id: int, requested_by: str, attempt: int) -> dict[str, Any]:
    """A webhook's event found its automation's poll going: request the poll again (docs/automations.md#events)."""
    from automations.services.events import automation_event_fire_again

    fired = automation_event_fire_again(automation_id=automation_id, requested_by=requested_by, attempt=attempt)
    return {"automation": automation_id, "fired": fired, "attempt": attempt}
