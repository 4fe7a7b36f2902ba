"""Sending automation work to the Celery workers by task name (services never import the task module)."""

from __future__ import annotations

from celery import current_app

RUN_POLL = "automations.tasks.run_poll_task"
FIRE_EVENT = "automations.tasks.fire_event_task"


def run_poll(poll_id: int, *, countdown: float | None = None, retries: int = 0) -> None:
    """Queue the execution of a poll (`retries` carries the task's retry count over to a re-sent message)."""
    current_app.send_task(RUN_POLL, args=(poll_id,), countdown=countdown, retries=retries)


def fire_event(automation_id: int, requested_by: str, attempt: int, *, countdown: float) -> None:
    """Ask again, later, for the poll a webhook's event wants (the automation's poll was going)."""
    current_app.send_task(FIRE_EVENT, args=(automation_id, requested_by, attempt), countdown=countdown)
