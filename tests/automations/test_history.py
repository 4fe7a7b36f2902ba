"""Items history housekeeping: old versions go after the retention period, each item's latest version stays (it tells
the next change from one already handled); the hourly job is defined in code."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from automations.models import Automation, AutomationActionRun, AutomationItem
from automations.services.history import automation_items_prune
from integrations.models import Connection, System

pytestmark = pytest.mark.django_db


def _automation() -> Automation:
    ghl = Connection.objects.create(
        name="G", system=System.GHL, base_url="https://services.leadconnectorhq.com", location_id="l", auth_type="pit"
    )
    return Automation.objects.create(name="A", ghl_connection=ghl, trigger_key="search-contacts")


def _version(automation: Automation, item_id: str, version: str, days_ago: int) -> AutomationItem:
    row = AutomationItem.objects.create(automation=automation, item_id=item_id, version=version, change="updated")
    AutomationItem.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    return row


def test_old_versions_are_pruned_but_each_items_latest_stays(settings: Any) -> None:
    settings.SYNC_HISTORY_RETENTION_DAYS = 30
    automation = _automation()
    replaced = _version(automation, "a", "v1", days_ago=60)
    AutomationActionRun.objects.create(item=replaced, position=1, label="x")
    latest_old = _version(automation, "a", "v2", days_ago=45)  # old, but the latest of "a": kept
    _version(automation, "b", "v1", days_ago=50)  # old, replaced by a recent version: pruned
    recent = _version(automation, "b", "v2", days_ago=1)
    assert automation_items_prune() == 2
    assert set(AutomationItem.objects.values_list("pk", flat=True)) == {latest_old.pk, recent.pk}
    assert not AutomationActionRun.objects.exists()
    assert automation_items_prune(days=0) == 0


def test_the_hourly_prune_is_scheduled_in_code() -> None:
    call_command("setup_periodic_tasks", stdout=open("/dev/null", "w"))  # noqa: SIM115
    task = PeriodicTask.objects.select_related("interval").get(name="Prune old automation items")
    assert (task.task, task.interval.every, task.interval.period) == (
        "automations.tasks.prune_items_task",
        60,
        "minutes",
    )


def test_a_version_still_waiting_is_not_pruned(settings: Any) -> None:
    settings.SYNC_HISTORY_RETENTION_DAYS = 30
    automation = _automation()
    waiting = _version(automation, "a", "v1", days_ago=60)  # a long wait, replaced by a later version meanwhile
    AutomationItem.objects.filter(pk=waiting.pk).update(status=AutomationItem.Status.WAITING)
    _version(automation, "a", "v2", days_ago=1)
    assert automation_items_prune() == 0
    AutomationItem.objects.filter(pk=waiting.pk).update(status=AutomationItem.Status.DONE)
    assert automation_items_prune() == 1


def test_the_every_minute_resume_of_waits_is_scheduled_in_code() -> None:
    call_command("setup_periodic_tasks", stdout=open("/dev/null", "w"))  # noqa: SIM115
    task = PeriodicTask.objects.select_related("interval").get(name="Resume automation waits")
    assert (task.task, task.interval.every) == ("automations.tasks.resume_waits_task", 1)
