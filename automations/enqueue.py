"""Sending automation work to the Celery workers by task name (services never import the task module)."""

from __future__ import annotations

from celery import current_app

RUN_POLL = "automations.tasks.run_poll_task"


def run_poll(poll_id: int, *, countdown: float | None = None, retries: int = 0) -> None:
    """Queue the execution of a poll (`retries` carries the task's retry count over to a re-sent message)."""
    current_app.send_task(RUN_POLL, args=(poll_id,), countdown=countdown, retries=retries)
