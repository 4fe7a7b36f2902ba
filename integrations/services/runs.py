"""Sync-run lifecycle: request (one active run per mapping), claim, progress, finish, stale detection."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db import connection as db_connection
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from integrations import enqueue
from integrations.models import Connection, RecordHistory, SyncRun
from integrations.services.quota import mapping_paused_connection
from mappings.models import Mapping

logger = logging.getLogger(__name__)

RUN_ALREADY_ACTIVE = "A run of “{mapping}” is already {status} (run #{run_id}); wait for it to finish."
CONNECTION_NEEDS_REAUTH = "“{connection}” needs re-authentication; its mappings are paused until that is fixed."
MAPPING_DISABLED = "“{mapping}” is switched off; switch it on to run it."
CONNECTION_PAUSED = (
    "“{connection}” is paused until {until:%Y-%m-%d %H:%M} UTC (daily quota of its API used up); run it after that."
)
NOTHING_TO_RERUN = "Run #{run_id} has no failed records to re-run."
NOT_ACTIVE = "Run #{run_id} is not running any more ({status}); there is nothing to cancel."
CANCELLED_BEFORE_START = "Cancelled by {who} before it started."
CANCELLED_AT_PAGE = "Cancelled by {who}; stopped after the last stored page (the next run resumes from there)."
STALE_ERROR = (
    "The worker stopped sending progress for {seconds} s (killed or lost); the next run resumes from the cursor."
)
LOST_ERROR = (
    "No worker started this run within {minutes} min of when it was due, even after its task was sent again "
    "{times} time(s) (a worker stopped while holding it, or the workers were busy); the next run resumes from the "
    "cursor."
)
REQUEUED_NOTE = "Its task was lost (a worker stopped while holding it); sent again."
DATABASE_LOST = "The database connection was lost ({error}); resumed from the cursor once it was back."


class SyncRequestRefused(Exception):
    """A run cannot be started now; the message says why."""


def sync_run_request(
    *,
    mapping: Mapping,
    trigger: str,
    dry_run: bool = False,
    only_ids: dict[str, list[str]] | None = None,
    rerun_of: SyncRun | None = None,
    requested_by: str = "",
    scope: str = "",
) -> SyncRun:
    """Create a pending run and enqueue it once the transaction commits; refuse if one is already active."""
    if not mapping.enabled:
        raise SyncRequestRefused(MAPPING_DISABLED.format(mapping=mapping))
    paused = mapping_paused_connection(mapping=mapping)
    if paused is not None:
        raise SyncRequestRefused(CONNECTION_PAUSED.format(connection=paused, until=paused.paused_until))
    for connection in (mapping.ghl_connection, mapping.streettext_connection):
        if connection.status == Connection.Status.NEEDS_REAUTH:
            raise SyncRequestRefused(CONNECTION_NEEDS_REAUTH.format(connection=connection))
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(
                mapping=mapping,
                trigger=trigger,
                dry_run=dry_run,
                only_ids=only_ids or {},
                scope=scope or (SyncRun.Scope.IDS if only_ids else SyncRun.Scope.CHANGES),
                rerun_of=rerun_of,
                requested_by=requested_by,
            )
    except IntegrityError as e:
        active = SyncRun.objects.filter(mapping=mapping, status__in=SyncRun.ACTIVE_STATUSES).first()
        if active is None:  # finished in between: a genuine integrity problem
            raise
        raise SyncRequestRefused(
            RUN_ALREADY_ACTIVE.format(mapping=mapping, status=active.get_status_display().lower(), run_id=active.pk)
        ) from e
    transaction.on_commit(partial(enqueue.run_sync, run.pk))
    return run


def sync_run_rerun_failed(*, run: SyncRun, requested_by: str = "") -> SyncRun:
    """A new run limited to the source records that failed in `run`."""
    only: dict[str, list[str]] = {}
    mapping = run.mapping
    # Rows of this mapping only (a parent synced first in the same run belongs to its own mapping). The id to read
    # again is the one of the side each direction reads: the source in sync mode, the target in enrich mode.
    failed = RecordHistory.objects.filter(run=run, mapping=mapping, action=RecordHistory.Action.FAILED).values_list(
        "direction", "ghl_id", "streettext_id"
    )
    enrich = mapping.mode == Mapping.Mode.ENRICH
    for direction, ghl_id, streettext_id in failed:
        reads_ghl = (direction == "to_streettext") != enrich
        system, record_id = ("ghl", ghl_id) if reads_ghl else ("streettext", streettext_id)
        if record_id and record_id not in only.setdefault(system, []):
            only[system].append(record_id)
    if not any(only.values()):
        raise SyncRequestRefused(NOTHING_TO_RERUN.format(run_id=run.pk))
    return sync_run_request(
        mapping=run.mapping, trigger=SyncRun.Trigger.RERUN, only_ids=only, rerun_of=run, requested_by=requested_by
    )


def sync_run_cancel(*, run: SyncRun, requested_by: str = "") -> SyncRun:
    """Ask an active run to stop. A pending run ends at once; a running one stops at its next page boundary."""
    who = requested_by or "a user"
    now = timezone.now()
    ended = SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.PENDING).update(
        status=SyncRun.Status.CANCELLED,
        cancel_requested_at=now,
        cancel_requested_by=requested_by,
        error=CANCELLED_BEFORE_START.format(who=who),
        finished_at=now,
    )
    if not ended:
        asked = SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(
            cancel_requested_at=now, cancel_requested_by=requested_by
        )
        if not asked:
            run.refresh_from_db()
            raise SyncRequestRefused(NOT_ACTIVE.format(run_id=run.pk, status=run.get_status_display().lower()))
    run.refresh_from_db()
    return run


def sync_run_cancel_requested(*, run: SyncRun) -> bool:
    """Whether someone pressed Cancel on this run (checked by the engine at page boundaries)."""
    return SyncRun.objects.filter(pk=run.pk, cancel_requested_at__isnull=False).exists()


def sync_run_finish_cancelled(*, run: SyncRun) -> SyncRun:
    """End a run that stopped at a page boundary because Cancel was pressed."""
    run.refresh_from_db()
    SyncRun.objects.filter(pk=run.pk).update(
        status=SyncRun.Status.CANCELLED,
        error=CANCELLED_AT_PAGE.format(who=run.cancel_requested_by or "a user"),
        finished_at=timezone.now(),
    )
    run.refresh_from_db()
    return run


def sync_run_request_resync(*, mapping: Mapping, dry_run: bool = False, requested_by: str = "") -> SyncRun:
    """A run over every linked record of the mapping, whatever changed (after its field mappings were edited)."""
    return sync_run_request(
        mapping=mapping,
        trigger=SyncRun.Trigger.MANUAL,
        dry_run=dry_run,
        scope=SyncRun.Scope.LINKED,
        requested_by=requested_by,
    )


def sync_run_claim(*, run_id: int) -> SyncRun | None:
    """PENDING → RUNNING by a conditional update; None if another worker got it or it is not pending."""
    now = timezone.now()
    claimed = SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.PENDING).update(
        status=SyncRun.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        error="",
        next_attempt_at=None,
        attempts=F("attempts") + 1,
    )
    if claimed != 1:
        return None
    return SyncRun.objects.select_related("mapping", "mapping__ghl_connection", "mapping__streettext_connection").get(
        pk=run_id
    )


def sync_run_add_progress(*, run: SyncRun, counts: dict[str, int], total: int | None = None) -> None:
    """Add a page's counts to the run and beat its heartbeat (F() so concurrent readers see consistent numbers)."""
    updates: dict[str, Any] = {name: F(name) + value for name, value in counts.items() if value}
    updates["heartbeat_at"] = timezone.now()
    if total is not None:
        updates["total"] = total
    SyncRun.objects.filter(pk=run.pk).update(**updates)


def sync_run_scan_progress(*, run: SyncRun, scanned: int, total: int | None) -> None:
    """A per-contact scan's progress: contacts scanned so far of the contacts this run reads."""
    SyncRun.objects.filter(pk=run.pk).update(scan_done=scanned, scan_total=total)


def sync_run_release(*, run: SyncRun, error: str, retry_in: float | None = None) -> None:
    """Give a running run back to PENDING so a task retry can claim it again (transient failure).

    `retry_in` (seconds) is when the retry is due, if known now; the task records it once Celery has chosen the
    countdown (`sync_run_retry_due`). Until then the run counts as due at once, so a worker killed in between leaves
    a run the stale check recovers soon (`sync_run_recover_pending`).
    """
    due = timezone.now() + timedelta(seconds=retry_in or 0)
    SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(
        status=SyncRun.Status.PENDING, error=f"Retrying after: {error}", next_attempt_at=due
    )


def sync_run_retry_due(*, run_id: int, countdown: float) -> None:
    """Record when the task's retry of a released run is due (the countdown Celery chose)."""
    SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.PENDING).update(
        next_attempt_at=timezone.now() + timedelta(seconds=max(countdown, 0.0))
    )


def sync_run_finish(*, run: SyncRun, error: str = "") -> SyncRun:
    """Set the final status from the counts: succeeded, partial or failed."""
    run.refresh_from_db()
    if error:
        status = SyncRun.Status.FAILED
    elif run.failed and (run.created or run.updated or run.skipped or run.deleted):
        status = SyncRun.Status.PARTIAL
    elif run.failed:
        status = SyncRun.Status.FAILED
        error = "Every record failed; see the record history."
    else:
        status = SyncRun.Status.SUCCEEDED
    SyncRun.objects.filter(pk=run.pk).update(status=status, error=error, finished_at=timezone.now())
    run.refresh_from_db()
    _raise_alerts(run.pk)
    return run


def _raise_alerts(run_id: int) -> None:
    """The mapping's alerts after a run ended (failing runs, records that keep failing); an alert that cannot be
    raised never fails the run."""
    from alerts.services import alerts_for_sync_run

    try:
        alerts_for_sync_run(run_id=run_id)
    except Exception:
        logger.exception("Alerts for run %s could not be raised", run_id)


def sync_run_fail(*, run_id: int, error: str) -> None:
    """Used by the task's failure hook: whatever state the run is in, it ends failed with the reason."""
    if SyncRun.objects.filter(pk=run_id, status__in=SyncRun.ACTIVE_STATUSES).update(
        status=SyncRun.Status.FAILED, error=error[:2000], finished_at=timezone.now()
    ):
        _raise_alerts(run_id)


def sync_run_mark_stale(*, older_than: timedelta | None = None) -> int:
    """Runs whose worker died (no heartbeat for a while) are marked stale so the mapping can run again."""
    seconds = int(older_than.total_seconds()) if older_than is not None else settings.SYNC_STALE_AFTER_SECONDS
    cutoff = timezone.now() - timedelta(seconds=seconds)
    count = SyncRun.objects.filter(status=SyncRun.Status.RUNNING, heartbeat_at__lt=cutoff).update(
        status=SyncRun.Status.STALE, error=STALE_ERROR.format(seconds=seconds), finished_at=timezone.now()
    )
    if count:
        logger.warning("Marked %s sync run(s) stale", count)
    return count


# A handed-over run's task waits this long: the worker that is shutting down may still receive it in its last second
# of polling, and then only holds it (a countdown) until it gives it back on exit, instead of starting it.
HANDOVER_COUNTDOWN_SECONDS = 10


def sync_run_hand_over(*, run_id: int, retries: int = 0) -> None:
    """A worker shutting down gave the run back: send its task again for the next worker, with the same retry count.
    If the broker cannot take it (going away too), the stale check re-sends it later."""
    countdown = HANDOVER_COUNTDOWN_SECONDS
    SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.PENDING).update(
        next_attempt_at=timezone.now() + timedelta(seconds=countdown)
    )
    try:
        enqueue.run_sync(run_id, retries=retries, countdown=countdown)
    except Exception:  # the broker is going away too: recovery by the stale check, never lost
        logger.exception("Run %s was handed back but its task could not be sent; the stale check will", run_id)
    else:
        logger.info("Run %s handed back for the next worker (this one is shutting down)", run_id)


def sync_run_recover_pending(*, now: datetime | None = None) -> dict[str, int]:
    """Pending runs whose task is gone: re-send the task, or (after SYNC_PENDING_MAX_REQUEUES tries) end them stale.

    A pending run is overdue once SYNC_PENDING_GRACE_SECONDS have passed since it was due: since it was requested or
    last re-sent, or since its retry's countdown ran out. Its task message was lost: a worker stopped while holding
    it (an autoretry's countdown is held by the worker; SIGKILL, or Redis's hour-long visibility timeout) or the
    broker dropped it. Re-sending is safe: the claim is a conditional update, so a late original finds nothing to
    claim. The retry count travels with the new message, so the task's retry budget is kept.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SYNC_PENDING_GRACE_SECONDS)
    due = Coalesce("next_attempt_at", "created_at")
    overdue = list(
        SyncRun.objects.filter(status=SyncRun.Status.PENDING)
        .annotate(due=due)
        .filter(due__lt=cutoff)
        .values_list("pk", "requeued", "attempts")
    )
    requeued = lost = 0
    for run_id, times, attempts in overdue:
        if times >= settings.SYNC_PENDING_MAX_REQUEUES:
            minutes = max(1, round(settings.SYNC_PENDING_GRACE_SECONDS * (times + 1) / 60))
            lost += SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.PENDING, requeued=times).update(
                status=SyncRun.Status.STALE,
                error=LOST_ERROR.format(minutes=minutes, times=times),
                finished_at=now,
                next_attempt_at=None,
            )
            continue
        # The conditional update is the guard against two stale checks re-sending the same run.
        with transaction.atomic():
            if SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.PENDING, requeued=times).update(
                requeued=times + 1, next_attempt_at=now, error=REQUEUED_NOTE
            ):
                # The lost message was the retry after the run's last attempt: it carried that many retries.
                retries = attempts
                send = partial(enqueue.run_sync, run_id, retries=retries)
                transaction.on_commit(send)
                requeued += 1
    if requeued or lost:
        logger.warning("Pending sync runs whose task was lost: %s sent again, %s ended stale", requeued, lost)
    return {"requeued": requeued, "lost": lost}


def sync_run_release_after_database_error(*, run_id: int, error: Exception, wait_seconds: float) -> bool:
    """The run's database connection died (the server restarted): drop it, and give the run back (if it is still
    running) for the task's retry as soon as the database answers again, trying for up to `wait_seconds`. False if it
    never answered (the stale check recovers the run later).

    Django never reconnects a connection that failed in the middle of a task; used again, it fails the same way. So
    it is closed here, and every attempt below opens a fresh one (`connect_timeout` bounds each)."""
    deadline = time.monotonic() + wait_seconds
    delay = 0.5
    while True:
        db_connection.close()
        try:
            released = SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.RUNNING).update(
                status=SyncRun.Status.PENDING,
                error=DATABASE_LOST.format(error=str(error).strip()[:300]),
                next_attempt_at=timezone.now(),
            )
            logger.warning("Run %s: database connection lost (%s); given back for a retry: %s", run_id, error, released)
            return True
        except (InterfaceError, OperationalError):
            if time.monotonic() + delay > deadline:
                db_connection.close()
                return False
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
