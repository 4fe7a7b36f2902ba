"""Celery entry points for alert notifications: an alert id in, one service call."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from alerts import notify

# Retries of a delivery that may pass: 30 s doubling, at most 10 min apart, 6 tries in all (about 30 min).
RETRY_BACKOFF_SECONDS = 30
RETRY_BACKOFF_MAX_SECONDS = 600
MAX_RETRIES = 5


class DeliveryTask(Task):
    channel = ""

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        alert_id = args[0] if args else kwargs.get("alert_id")
        if alert_id is not None:
            notify.alert_delivery_failed(alert_id=int(alert_id), channel=self.channel, error=exc)


class EmailTask(DeliveryTask):
    channel = "email"


class WebhookTask(DeliveryTask):
    channel = "webhook"


@shared_task(
    base=EmailTask,
    autoretry_for=(notify.DeliveryRetry,),
    retry_backoff=RETRY_BACKOFF_SECONDS,
    retry_backoff_max=RETRY_BACKOFF_MAX_SECONDS,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def alert_email_task(alert_id: int) -> dict[str, Any]:
    return {"alert": alert_id, "emailed": notify.alert_email_send(alert_id=alert_id)}


@shared_task(
    base=WebhookTask,
    autoretry_for=(notify.DeliveryRetry,),
    retry_backoff=RETRY_BACKOFF_SECONDS,
    retry_backoff_max=RETRY_BACKOFF_MAX_SECONDS,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def alert_webhook_task(alert_id: int) -> dict[str, Any]:
    return {"alert": alert_id, "posted": notify.alert_webhook_send(alert_id=alert_id)}
