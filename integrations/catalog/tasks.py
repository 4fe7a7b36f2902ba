"""Celery entry points of the catalog (listed in CELERY_IMPORTS: autodiscovery only finds integrations/tasks.py)."""

from __future__ import annotations

from celery import shared_task


@shared_task
def prune_catalog_executions_task() -> dict[str, int]:
    """Beat entry point (hourly): delete execution log rows older than the retention setting."""
    from integrations.catalog.services import catalog_execution_prune

    return {"deleted": catalog_execution_prune()}
