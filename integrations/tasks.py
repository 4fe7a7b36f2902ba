"""Celery entry points: ids in, one service call, a small summary out."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from celery import shared_task
from celery.signals import worker_ready, worker_shutting_down

from integrations import heartbeats  # noqa: F401 - connects the worker heartbeat to the worker's signals
from integrations.clients.base import stop_requests
from integrations.housekeeping import housekeeping_start, housekeeping_stop
from integrations.models import SyncRun
from integrations.services import runs, sync
from integrations.task_base import RETRY_POLICY, LifecycleTask, scheduled_request
from mappings.models import Mapping

logger = logging.getLogger(__name__)


@worker_shutting_down.connect
def _hand_back_runs_on_shutdown(**kwargs: Any) -> None:
    """Warm shutdown (SIGTERM, Ctrl-C): running syncs stop at their next API call and are handed back, so the worker
    exits within seconds (honcho and most supervisors kill after a short grace) and no run is left half-done.

    Sent in the worker's main process: it reaches the runs of the solo and threads pools (the Procfile uses threads);
    prefork children do not see it, and a warm shutdown of theirs waits for their runs to finish.
    """
    stop_requests()
    housekeeping_stop()


@worker_ready.connect
def _start_housekeeping(**kwargs: Any) -> None:
    """Every worker runs the stale check on a thread of its own: it cannot wait behind the work it checks."""
    housekeeping_start()


@shared_task(bind=True, base=LifecycleTask, lifecycle=runs.RUNS, **RETRY_POLICY)
def run_sync_task(self: LifecycleTask, run_id: int) -> dict[str, Any]:
    """Execute one sync run (its retries, hand-over and database loss: integrations/task_base.py)."""
    run = self.execute(run_id, partial(sync.sync_run_execute, run_id=run_id))
    if isinstance(run, str):
        return {"run": run_id, "status": run}
    if run.status == SyncRun.Status.PENDING:
        # It gave its worker to another location's run after a page: queued again, behind that run.
        runs.sync_run_next_turn(run_id=run.pk, retries=self.request.retries)
        return {"run": run.pk, "status": "turn over", "processed": run.processed}
    return {"run": run.pk, "status": run.status, "processed": run.processed, "failed": run.failed}


@shared_task
def scheduled_sync_task(mapping_id: int) -> dict[str, Any]:
    """Beat entry point: request a scheduled run unless one is already active."""
    return scheduled_request(
        "mapping",
        mapping_id,
        Mapping.objects.filter(pk=mapping_id).first(),
        lambda mapping: runs.sync_run_request(mapping=mapping, trigger=SyncRun.Trigger.SCHEDULE),
        runs.SyncRequestRefused,
    )


@shared_task
def mark_stale_runs_task() -> dict[str, int]:
    """Beat entry point (every minute): running runs whose worker died are marked stale; pending runs whose task was
    lost are sent again (or, after a few tries, marked stale) so the mapping can run again."""
    return runs.RUNS.recover()  # also run by every worker on a thread of its own (integrations/housekeeping.py)


@shared_task
def prune_history_task() -> dict[str, int]:
    """Beat entry point (hourly): delete record history older than the retention setting."""
    from integrations.services.history import history_prune

    return {"deleted": history_prune()}
