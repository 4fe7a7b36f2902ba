"""Sending alert notifications to the Celery workers by task name (services never import the task module)."""

from __future__ import annotations

from celery import current_app

EMAIL = "alerts.tasks.alert_email_task"
WEBHOOK = "alerts.tasks.alert_webhook_task"


def alert_email(alert_id: int) -> None:
    current_app.send_task(EMAIL, args=(alert_id,))


def alert_webhook(alert_id: int) -> None:
    current_app.send_task(WEBHOOK, args=(alert_id,))
