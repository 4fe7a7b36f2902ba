"""Celery entry points for webhooks (registered through CELERY_IMPORTS: this package is not an app)."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from integrations.webhooks import services


class ProcessWebhookTask(Task):
    """When processing gives up (a bug, the database gone), the delivery ends failed with the reason."""

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        delivery_id = args[0] if args else kwargs.get("delivery_id")
        if delivery_id is not None:
            services.webhook_delivery_fail(delivery_id=delivery_id, error=f"{type(exc).__name__}: {exc}")


@shared_task(base=ProcessWebhookTask)
def process_webhook_task(delivery_id: int) -> dict[str, Any]:
    """Turn one recorded delivery into webhook runs (or defer it)."""
    delivery = services.webhook_delivery_process(delivery_id=delivery_id)
    if delivery is None:
        return {"delivery": delivery_id, "status": "missing"}
    return {"delivery": delivery.pk, "status": delivery.status}


@shared_task
def retry_deferred_webhooks_task() -> dict[str, int]:
    """Beat entry point (every minute): deferred deliveries get one coalesced run per mapping."""
    return services.webhook_deliveries_retry()
