"""The django-celery-beat entry of anything run on a schedule (a mapping's sync, an automation's poll), kept in step
with its schedule and on/off switch: one `PeriodicTask` per owner, in its `periodic_task` field."""

from __future__ import annotations

import json
from typing import Any

from django_celery_beat.models import IntervalSchedule, PeriodicTask


def periodic_task_sync(
    *, owner: Any, minutes: int, enabled: bool, name: str, task: str, description: str
) -> PeriodicTask | None:
    """Create, update or (for 0 minutes) delete `owner`'s entry: `task` every `minutes` minutes with the owner's id as
    its argument, enabled while the owner is."""
    current: PeriodicTask | None = owner.periodic_task
    rows = type(owner)._default_manager.filter(pk=owner.pk)
    if not minutes:
        if current is not None:
            owner.periodic_task = None
            rows.update(periodic_task=None)
            current.delete()
        return None
    interval, _ = IntervalSchedule.objects.get_or_create(every=minutes, period=IntervalSchedule.MINUTES)
    values = {
        "name": name[:200],
        "task": task,
        "interval": interval,
        "args": json.dumps([owner.pk]),
        "enabled": enabled,
        "description": description,
    }
    if current is None:
        current = PeriodicTask.objects.create(**values)
        rows.update(periodic_task=current)
        owner.periodic_task = current
    else:
        for key, value in values.items():
            setattr(current, key, value)
        current.save()
    return current
