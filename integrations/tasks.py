"""Celery entry points: ids in, one service call, a small summary out."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from celery.signals import worker_ready, worker_shutting_down
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections

from integrations import heartbeats  # noqa: F401 - connects the worker heartbeat to the worker's signals
from integrations.clients.base import requests_stopped, stop_requests
from integrations.clients.exceptions import ApiQuotaExhausted, ApiWorkerStopping, TransientApiError
from integrations.housekeeping import housekeeping_start, housekeeping_stop, stale_check
from integrations.models import SyncRun
from integrations.services import runs, sync
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


class SyncRunTask(Task):
    """When the task gives up (retries exhausted, or a bug), the run ends failed with the reason."""

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        close_old_connections()  # a connection that failed in the task is not used again
        run_id = args[0] if args else kwargs.get("run_id")
        if run_id is not None:
            runs.sync_run_fail(run_id=run_id, error=f"{type(exc).__name__}: {exc}")

    def retry(self, *args: Any, **kwargs: Any) -> Any:
        """Autoretry passes the countdown it chose: the run records when its retry is due, so the stale check can
        tell a run that waits for its retry from one whose retry was lost with a killed worker."""
        run_ids = self.request.args or [self.request.kwargs.get("run_id") if self.request.kwargs else None]
        if run_ids and run_ids[0] is not None:
            runs.sync_run_retry_due(run_id=int(run_ids[0]), countdown=float(kwargs.get("countdown") or 0))
        return super().retry(*args, **kwargs)


@shared_task(
    bind=True,
    base=SyncRunTask,
    autoretry_for=(TransientApiError,),
    # A spent daily quota is handled by the engine (run ends, connection paused); retrying minutes later is useless.
    # A worker shutting down hands its run over at once (below), outside the retry budget.
    dont_autoretry_for=(ApiQuotaExhausted, ApiWorkerStopping),
    retry_backoff=settings.SYNC_RETRY_BACKOFF_SECONDS,
    retry_backoff_max=settings.SYNC_RETRY_BACKOFF_MAX_SECONDS,
    retry_jitter=settings.SYNC_RETRY_JITTER,
    max_retries=settings.SYNC_MAX_RETRIES,
)
def run_sync_task(self: Any, run_id: int) -> dict[str, Any]:
    """Execute one sync run.

    Retry budget: each API call gets 1 + API_TRANSPORT_RETRIES (default 3) transport tries for idempotent methods and
    429s (urllib3 Retry, honouring Retry-After); a transient error that survives them releases the run, and this task
    retries up to SYNC_MAX_RETRIES (5) times with exponential backoff from SYNC_RETRY_BACKOFF_SECONDS (5 s; at most
    300 s, jittered), resuming from the stored cursor. Worst case per call: 4 tries x 6 task attempts = 24 requests,
    spread over ~10 minutes. A retry lost with its worker is sent again by `mark_stale_runs_task` (same budget).
    """
    if requests_stopped():
        # Received while this worker shuts down (it still polls for a moment): passed on unclaimed.
        runs.sync_run_hand_over(run_id=run_id, retries=self.request.retries)
        return {"run": run_id, "status": "handed over"}
    try:
        run = sync.sync_run_execute(run_id=run_id)
    except ApiWorkerStopping:
        # The engine has released the run (PENDING, cursor at the last stored page): send it on for the next worker.
        runs.sync_run_hand_over(run_id=run_id, retries=self.request.retries)
        return {"run": run_id, "status": "handed over"}
    except (InterfaceError, OperationalError) as e:
        # The database went away mid-run (a restart, a failover): once it answers again the run is given back and
        # this task retries it, resuming from the cursor, in this worker. Never again through the dead connection.
        if not runs.sync_run_release_after_database_error(
            run_id=run_id, error=e, wait_seconds=settings.SYNC_DATABASE_WAIT_SECONDS
        ):
            raise
        raise self.retry(exc=e, countdown=1) from e
    if run is None:
        return {"run": run_id, "status": "not claimed"}
    if run.status == SyncRun.Status.PENDING:
        # It gave its worker to another location's run after a page: queued again, behind that run.
        runs.sync_run_next_turn(run_id=run.pk, retries=self.request.retries)
        return {"run": run.pk, "status": "turn over", "processed": run.processed}
    return {"run": run.pk, "status": run.status, "processed": run.processed, "failed": run.failed}


@shared_task
def scheduled_sync_task(mapping_id: int) -> dict[str, Any]:
    """Beat entry point: request a scheduled run unless one is already active."""
    mapping = Mapping.objects.filter(pk=mapping_id).first()
    if mapping is None:
        return {"mapping": mapping_id, "status": "missing"}
    try:
        run = runs.sync_run_request(mapping=mapping, trigger=SyncRun.Trigger.SCHEDULE)
    except runs.SyncRequestRefused as e:
        logger.info("Scheduled run of mapping %s skipped: %s", mapping_id, e)
        return {"mapping": mapping_id, "status": "skipped", "reason": str(e)}
    return {"mapping": mapping_id, "run": run.pk}


@shared_task
def mark_stale_runs_task() -> dict[str, int]:
    """Beat entry point (every minute): running runs whose worker died are marked stale; pending runs whose task was
    lost are sent again (or, after a few tries, marked stale) so the mapping can run again."""
    return stale_check()  # also run by every worker on a thread of its own (integrations/housekeeping.py)


@shared_task
def prune_history_task() -> dict[str, int]:
    """Beat entry point (hourly): delete record history older than the retention setting."""
    from integrations.services.history import history_prune

    return {"deleted": history_prune()}
