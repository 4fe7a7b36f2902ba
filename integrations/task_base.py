"""The one Celery task base for every unit of background work (a sync run, an automation poll): what happens around
the engine's call is the same for both, so each task is an id in, one call, a summary out.

Retry budget: each API call gets 1 + API_TRANSPORT_RETRIES (default 3) transport tries for idempotent methods and 429s
(urllib3 Retry, honouring Retry-After); a transient error that survives them releases the work, and the task retries
up to SYNC_MAX_RETRIES (5) times with exponential backoff from SYNC_RETRY_BACKOFF_SECONDS (5 s; at most 300 s,
jittered), resuming from what was stored. Worst case per call: 4 tries x 6 task attempts = 24 requests, spread over
~10 minutes. A retry lost with its worker is sent again by its app's periodic recovery (same budget)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from celery import Task
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections

from integrations.clients.base import requests_stopped
from integrations.clients.exceptions import ApiQuotaExhausted, ApiWorkerStopping, TransientApiError
from integrations.models import RunLifecycle
from integrations.services.lifecycle import Lifecycle

logger = logging.getLogger(__name__)

T = TypeVar("T")

HANDED_OVER = "handed over"
NOT_CLAIMED = "not claimed"

# The options of every lifecycle task (`@shared_task(bind=True, base=LifecycleTask, lifecycle=…, **RETRY_POLICY)`).
RETRY_POLICY: dict[str, Any] = {
    "autoretry_for": (TransientApiError,),
    # A spent daily quota is handled by the engine (the work ends, the connection pauses); retrying minutes later is
    # useless. A worker shutting down hands its work over at once (below), outside the retry budget.
    "dont_autoretry_for": (ApiQuotaExhausted, ApiWorkerStopping),
    "retry_backoff": settings.SYNC_RETRY_BACKOFF_SECONDS,
    "retry_backoff_max": settings.SYNC_RETRY_BACKOFF_MAX_SECONDS,
    "retry_jitter": settings.SYNC_RETRY_JITTER,
    "max_retries": settings.SYNC_MAX_RETRIES,
}


class LifecycleTask(Task):  # type: ignore[misc]
    """A task whose first argument is the id of a row of `lifecycle`'s model."""

    lifecycle: Lifecycle[Any]

    def _pk(self, args: Any, kwargs: Any) -> int | None:
        values = list(args or ()) or list((kwargs or {}).values())
        return int(values[0]) if values and values[0] is not None else None

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """The task gave up (retries exhausted, or a bug): the work ends failed with the reason."""
        close_old_connections()  # a connection that failed in the task is not used again
        pk = self._pk(args, kwargs)
        if pk is not None:
            self.lifecycle.fail(pk, error=f"{type(exc).__name__}: {exc}")

    def retry(self, *args: Any, **kwargs: Any) -> Any:
        """Autoretry passes the countdown it chose: the work records when its retry is due, so the recovery can tell
        work that waits for its retry from work whose retry was lost with a killed worker."""
        pk = self._pk(self.request.args, self.request.kwargs)
        if pk is not None:
            self.lifecycle.retry_due(pk, countdown=float(kwargs.get("countdown") or 0))
        return super().retry(*args, **kwargs)

    def execute(self, pk: int, work: Callable[[], T | None]) -> T | str:
        """Run `work` (the engine: claim and execute `pk`): what it returned, or why it did not run (NOT_CLAIMED,
        HANDED_OVER)."""
        if requests_stopped():
            # Received while this worker shuts down (it still polls for a moment): passed on unclaimed.
            self.lifecycle.hand_over(pk, retries=self.request.retries)
            return HANDED_OVER
        try:
            done = work()
        except ApiWorkerStopping:
            # The engine has released the work (PENDING, stored up to the last page): sent on for the next worker.
            self.lifecycle.hand_over(pk, retries=self.request.retries)
            return HANDED_OVER
        except (InterfaceError, OperationalError) as e:
            # The database went away mid-run (a restart, a failover): once it answers again the work is given back
            # and this task retries it, resuming from what was stored, in this worker. Never through the dead
            # connection.
            if not self.lifecycle.release_after_database_error(
                pk, error=e, wait_seconds=settings.SYNC_DATABASE_WAIT_SECONDS
            ):
                raise
            raise self.retry(exc=e, countdown=1) from e
        return NOT_CLAIMED if done is None else done


def scheduled_request(
    owner_name: str, owner_id: int, owner: Any, request: Callable[[Any], RunLifecycle], refused: type[Exception]
) -> dict[str, Any]:
    """A schedule's beat entry point: `request` scheduled work of `owner` (the mapping, the automation), unless it is
    gone or the request is refused (one is already active, it is switched off, its connection is paused)."""
    if owner is None:
        return {owner_name: owner_id, "status": "missing"}
    try:
        row = request(owner)
    except refused as e:
        logger.info("Scheduled work of %s %s skipped: %s", owner_name, owner_id, e)
        return {owner_name: owner_id, "status": "skipped", "reason": str(e)}
    return {owner_name: owner_id, "id": row.pk, "status": row.status}
