"""Define the apps' own periodic jobs in code (per-mapping and per-automation schedules are kept by their services)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django_celery_beat.models import IntervalSchedule, PeriodicTask

# name -> (task, every N minutes)
PERIODIC_TASKS = {
    # Every minute (https://crontab.guru/#*_*_*_*_*): runs whose worker died are marked stale, and pending runs whose
    # task was lost with a worker are sent again (docs/reliability.md "Crash-safe runs"). Automation polls are
    # recovered by automations' own "Recover automation polls" (automations/apps.py).
    "Mark stale sync runs": ("integrations.tasks.mark_stale_runs_task", 1),
    # Every minute: webhook deliveries deferred while a run was active get one coalesced run per mapping.
    "Retry deferred webhooks": ("integrations.webhooks.tasks.retry_deferred_webhooks_task", 1),
    # Every hour: record history older than SYNC_HISTORY_RETENTION_DAYS is deleted, a bounded batch at a time.
    "Prune old record history": ("integrations.tasks.prune_history_task", 60),
    # Every hour: the operations catalog's execution log, kept as long as record history.
    "Prune old catalog executions": ("integrations.catalog.tasks.prune_catalog_executions_task", 60),
}


def periodic_tasks() -> dict[str, tuple[str, int]]:
    """These and every other app's own (its AppConfig's `periodic_tasks`, e.g. automations' poll recovery)."""
    found = dict(PERIODIC_TASKS)
    for config in apps.get_app_configs():
        found.update(getattr(config, "periodic_tasks", {}))
    return found


class Command(BaseCommand):
    help = "Create or update the app's periodic tasks in django-celery-beat."

    def handle(self, *args: Any, **options: Any) -> None:
        for name, (task, minutes) in periodic_tasks().items():
            interval, _ = IntervalSchedule.objects.get_or_create(every=minutes, period=IntervalSchedule.MINUTES)
            PeriodicTask.objects.update_or_create(name=name, defaults={"task": task, "interval": interval})
            self.stdout.write(f"Periodic task ready: {name}")
