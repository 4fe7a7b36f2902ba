"""One lifecycle for every unit of background work (a sync run, an automation poll), written once and parameterised
by a `Lifecycle`: the model (a `RunLifecycle`), how its task is sent, which alerts its end raises, and its words.

    request ──► PENDING ──claim──► RUNNING ──finish──► SUCCEEDED / PARTIAL / FAILED
                  ▲  │                │ │
                  │  └─recover────────┼─┼──► STALE (its task was lost SYNC_PENDING_MAX_REQUEUES times)
                  └──release (retry)──┘ └──► STALE (no heartbeat for SYNC_STALE_AFTER_SECONDS) or FAILED (task gave up)

Every change of state is a conditional update on the status it leaves, so two workers (or two recoveries) acting at
once change each row once. An app's lifecycle is recovered by that app's own periodic task and by every worker's
stale-check thread (integrations/housekeeping.py)."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from functools import partial
from typing import Any, ClassVar, Generic, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db import connection as db_connection
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from integrations.models import RunLifecycle

logger = logging.getLogger(__name__)

R = TypeVar("R", bound=RunLifecycle)
Status = RunLifecycle.Status

STALE_ERROR = "The worker stopped sending progress for {seconds} s (killed or lost); {resumes}."
LOST_ERROR = (
    "No worker started this {noun} within {minutes} min of when it was due, even after its task was sent again "
    "{times} time(s) (a worker stopped while holding it, or the workers were busy); {resumes}."
)
REQUEUED_NOTE = "Its task was lost (a worker stopped while holding it); sent again."
DATABASE_LOST = "The database connection was lost ({error}); resumed once it was back."
# A handed-over task waits this long: the worker that is shutting down may still receive it in its last second of
# polling, and then only holds it (a countdown) until it gives it back on exit, instead of starting it.
HANDOVER_COUNTDOWN_SECONDS = 10


class Lifecycle(Generic[R]):
    """The lifecycle of one model; an app subclasses it once (integrations/services/runs.py `RUNS`,
    automations/services/polls.py `POLLS`)."""

    model: type[R]
    noun: ClassVar[str]  # "run", "poll"
    resumes: ClassVar[str]  # what happens to the work of one that was lost
    related: ClassVar[tuple[str, ...]] = ()  # loaded with it when it is claimed

    def send(self, pk: int, *, retries: int = 0, countdown: float | None = None) -> None:
        """Queue its task (by name: services never import a task module)."""
        raise NotImplementedError

    def alerts(self, pk: int) -> None:
        """Raise the alerts its end calls for (alerts/services.py)."""

    @property
    def stale_error(self) -> str:
        """Its error once its worker stopped beating the heartbeat ({seconds} left to fill)."""
        return STALE_ERROR.format(seconds="{seconds}", resumes=self.resumes)

    @property
    def lost_error(self) -> str:
        """Its error once its task was lost too often ({minutes} and {times} left to fill)."""
        return LOST_ERROR.format(noun=self.noun, minutes="{minutes}", times="{times}", resumes=self.resumes)

    def _rows(self, pk: int, *statuses: str) -> Any:
        return self.model._default_manager.filter(pk=pk, status__in=statuses)

    # -- a worker's side ------------------------------------------------------------------------------------------
    def claim(self, pk: int) -> R | None:
        """PENDING → RUNNING by a conditional update; None if another worker got it or it is not pending."""
        now = timezone.now()
        claimed = self._rows(pk, Status.PENDING).update(
            status=Status.RUNNING,
            # One resumed after a turn or a retry keeps the time it first started.
            started_at=Coalesce("started_at", now),
            heartbeat_at=now,
            error="",
            next_attempt_at=None,
            attempts=F("attempts") + 1,
        )
        if claimed != 1:
            return None
        return self.model._default_manager.select_related(*self.related).get(pk=pk)

    def beat(self, pk: int, counts: dict[str, int], **values: Any) -> bool:
        """Add counts (F(): concurrent readers see consistent numbers), set `values` and beat the heartbeat. False
        when it is not running any more (the stale check ended it): its worker must stop without writing more."""
        updates: dict[str, Any] = {name: F(name) + value for name, value in counts.items() if value}
        return bool(self._rows(pk, Status.RUNNING).update(**updates, **values, heartbeat_at=timezone.now()))

    def release(self, pk: int, *, error: str, retry_in: float | None = None) -> None:
        """Give a running one back to PENDING so the task's retry can claim it again (a transient failure).

        `retry_in` (seconds) is when the retry is due, if known now; the task records it once Celery has chosen the
        countdown (`retry_due`). Until then it counts as due at once, so a worker killed in between leaves one the
        recovery finds soon."""
        self._rows(pk, Status.RUNNING).update(
            status=Status.PENDING,
            error=f"Retrying after: {error}"[:2000],
            next_attempt_at=timezone.now() + timedelta(seconds=retry_in or 0),
        )

    def retry_due(self, pk: int, *, countdown: float) -> None:
        """Record when the task's retry of a released one is due (the countdown Celery chose)."""
        self._rows(pk, Status.PENDING).update(next_attempt_at=timezone.now() + timedelta(seconds=max(countdown, 0.0)))

    def finish(self, row: R, *, error: str = "", note: str | None = None) -> R:
        """Set the final status from the counts: succeeded, partial or failed; only a running one ends (one the stale
        check ended stays stale)."""
        row.refresh_from_db()
        failed = getattr(row, "failed", 0)
        if error:
            status = Status.FAILED
        elif failed and any(getattr(row, name) for name in self.model.DONE_COUNTS):
            status = Status.PARTIAL
        elif failed:
            status, error = Status.FAILED, self.model.EVERY_ONE_FAILED
        else:
            status = Status.SUCCEEDED
        values: dict[str, Any] = {"status": status, "error": error[:2000], "finished_at": timezone.now()}
        if note is not None:
            values["note"] = note[:2000]
        ended = self._rows(row.pk, Status.RUNNING).update(**values)
        row.refresh_from_db()
        if ended:
            self._alerts(row.pk)
        return row

    def fail(self, pk: int, *, error: str) -> None:
        """The task's failure hook: whatever active state it is in, it ends failed with the reason."""
        if self._rows(pk, *RunLifecycle.ACTIVE_STATUSES).update(
            status=Status.FAILED, error=error[:2000], finished_at=timezone.now()
        ):
            self._alerts(pk)

    def _alerts(self, pk: int) -> None:
        """An alert that cannot be raised never fails the work."""
        try:
            self.alerts(pk)
        except Exception:
            logger.exception("Alerts for %s %s could not be raised", self.noun, pk)

    def hand_over(self, pk: int, *, retries: int = 0) -> None:
        """A worker shutting down gave it back: send its task again for the next worker, with the same retry count.
        If the broker cannot take it (going away too), the recovery re-sends it later."""
        countdown = HANDOVER_COUNTDOWN_SECONDS
        self.retry_due(pk, countdown=countdown)
        try:
            self.send(pk, retries=retries, countdown=countdown)
        except Exception:  # the broker is going away too: recovery by the stale check, never lost
            logger.exception("%s %s was handed back but its task could not be sent; the recovery will", self.noun, pk)
        else:
            logger.info("%s %s handed back for the next worker (this one is shutting down)", self.noun, pk)

    def release_after_database_error(self, pk: int, *, error: Exception, wait_seconds: float) -> bool:
        """Its database connection died (the server restarted): drop it, and give it back (if it is still running)
        for the task's retry as soon as the database answers again, trying for up to `wait_seconds`. False if it never
        answered (the recovery finds it later).

        Django never reconnects a connection that failed in the middle of a task; used again, it fails the same way.
        So it is closed here, and every attempt below opens a fresh one (`connect_timeout` bounds each)."""
        deadline = time.monotonic() + wait_seconds
        delay = 0.5
        while True:
            db_connection.close()
            try:
                released = self._rows(pk, Status.RUNNING).update(
                    status=Status.PENDING,
                    error=DATABASE_LOST.format(error=str(error).strip()[:300]),
                    next_attempt_at=timezone.now(),
                )
                logger.warning("%s %s: database connection lost (%s); given back: %s", self.noun, pk, error, released)
                return True
            except (InterfaceError, OperationalError):
                if time.monotonic() + delay > deadline:
                    db_connection.close()
                    return False
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    # -- the recovery (every minute) ------------------------------------------------------------------------------
    def mark_stale(self, *, now: datetime | None = None, older_than: timedelta | None = None) -> int:
        """Running ones whose worker died (no heartbeat for a while) end stale, so their owner can run again."""
        now = now or timezone.now()
        seconds = int(older_than.total_seconds()) if older_than is not None else settings.SYNC_STALE_AFTER_SECONDS
        count: int = self.model._default_manager.filter(
            status=Status.RUNNING, heartbeat_at__lt=now - timedelta(seconds=seconds)
        ).update(status=Status.STALE, error=self.stale_error.format(seconds=seconds), finished_at=now)
        if count:
            logger.warning("Marked %s %s stale", count, self.model._meta.verbose_name_plural)
        return count

    def recover_pending(self, *, now: datetime | None = None) -> dict[str, int]:
        """Pending ones whose task is gone: re-send the task, or (after SYNC_PENDING_MAX_REQUEUES tries) end them
        stale.

        A pending one is overdue once SYNC_PENDING_GRACE_SECONDS have passed since it was due: since it was requested
        or last re-sent, or since its retry's countdown ran out. Its task message was lost: a worker stopped while
        holding it (an autoretry's countdown is held by the worker; SIGKILL, or Redis's hour-long visibility timeout)
        or the broker dropped it. Re-sending is safe: the claim is a conditional update, so a late original finds
        nothing to claim. The retry count travels with the new message, so the task's retry budget is kept."""
        now = now or timezone.now()
        cutoff = now - timedelta(seconds=settings.SYNC_PENDING_GRACE_SECONDS)
        if self.working_through_backlog(cutoff=cutoff, now=now):
            return {"requeued": 0, "lost": 0}
        overdue = list(
            self.model._default_manager.filter(status=Status.PENDING)
            .annotate(due=Coalesce("next_attempt_at", "created_at"))
            .filter(due__lt=cutoff)
            .values_list("pk", "requeued", "attempts")
        )
        requeued = lost = 0
        for pk, times, attempts in overdue:
            # The conditional updates (on `requeued`) are the guard against two recoveries acting on the same one.
            mine = self.model._default_manager.filter(pk=pk, status=Status.PENDING, requeued=times)
            if times >= settings.SYNC_PENDING_MAX_REQUEUES:
                minutes = max(1, round(settings.SYNC_PENDING_GRACE_SECONDS * (times + 1) / 60))
                lost += mine.update(
                    status=Status.STALE,
                    error=self.lost_error.format(minutes=minutes, times=times),
                    finished_at=now,
                    next_attempt_at=None,
                )
                continue
            with transaction.atomic():
                if mine.update(requeued=times + 1, next_attempt_at=now, error=REQUEUED_NOTE):
                    # The lost message was the retry after its last attempt: it carried that many retries.
                    transaction.on_commit(partial(self.send, pk, retries=attempts))
                    requeued += 1
        if requeued or lost:
            logger.warning(
                "Pending %s whose task was lost: %s sent again, %s ended stale",
                self.model._meta.verbose_name_plural,
                requeued,
                lost,
            )
        return {"requeued": requeued, "lost": lost}

    def working_through_backlog(self, *, cutoff: datetime, now: datetime) -> bool:
        """Whether no pending one may count as lost now (the workers are busy with a backlog): never, unless the
        model's lifecycle says otherwise."""
        return False

    def recover(self, *, now: datetime | None = None) -> dict[str, int]:
        """The periodic recovery: dead running ones end stale, lost pending ones are sent again (or end stale); what
        it ended raises its owner's alerts at once, not when the owner's next one ends."""
        now = now or timezone.now()
        found = {"stale": self.mark_stale(now=now), **self.recover_pending(now=now)}
        if found["stale"] or found["lost"]:
            ended = self.model._default_manager.filter(status=Status.STALE, finished_at=now)
            for pk in list(ended.values_list("pk", flat=True)):
                self._alerts(pk)
        return found
