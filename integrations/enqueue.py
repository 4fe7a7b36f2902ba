"""Sending work to the Celery workers, by task name: services enqueue through here and never import a task module,
so no service depends on the tasks that call it (the tasks import the services, not the other way round)."""

from __future__ import annotations

from celery import current_app

RUN_SYNC = "integrations.tasks.run_sync_task"
PROCESS_WEBHOOK = "integrations.webhooks.tasks.process_webhook_task"


def run_sync(run_id: int, *, countdown: float | None = None, retries: int = 0) -> None:
    """Queue the execution of a sync run (`retries` carries the task's retry count over to a re-sent message)."""
    current_app.send_task(RUN_SYNC, args=(run_id,), countdown=countdown, retries=retries)


def process_webhook(delivery_id: int) -> None:
    """Queue the processing of a recorded webhook delivery."""
    current_app.send_task(PROCESS_WEBHOOK, args=(delivery_id,))
