"""Sync runs: request (one active run per mapping), re-run, cancel; their claim, progress, release, finish and
recovery are the one lifecycle every unit of background work shares (integrations/services/lifecycle.py)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial

from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Greatest
from django.utils import timezone

from integrations import enqueue
from integrations.models import Connection, RecordHistory, SyncRun
from integrations.services.lifecycle import Lifecycle
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


class SyncRuns(Lifecycle[SyncRun]):
    model = SyncRun
    noun = "run"
    resumes = "the next run resumes from the cursor"
    related = ("mapping", "mapping__ghl_connection", "mapping__streettext_connection")

    def send(self, pk: int, *, retries: int = 0, countdown: float | None = None) -> None:
        enqueue.run_sync(pk, retries=retries, countdown=countdown)

    def alerts(self, pk: int) -> None:
        """The mapping's alerts after a run ended (failing runs, records that keep failing)."""
        from alerts.services import alerts_for_sync_run

        alerts_for_sync_run(run_id=pk)

    def working_through_backlog(self, *, cutoff: datetime, now: datetime) -> bool:
        """While the workers are working through a backlog (some run was claimed or stored a page within the grace
        period), no pending run counts as lost: with many locations queued, and runs taking turns page by page, a
        run's task can wait in line far longer than the grace, and re-sending it would only queue it twice (and end it
        stale after a few tries). A task really lost then is re-sent once the workers have run out of other work."""
        return SyncRun.objects.filter(status__in=SyncRun.ACTIVE_STATUSES, heartbeat_at__range=(cutoff, now)).exists()


RUNS = SyncRuns()


class RunLost(Exception):
    """This worker no longer owns the run (the stale check ended it): stop without writing more."""


def sync_run_claim(*, run_id: int) -> SyncRun | None:
    """PENDING → RUNNING by a conditional update; None if another worker got it or it is not pending."""
    return RUNS.claim(run_id)


def sync_run_add_progress(*, run: SyncRun, counts: dict[str, int], total: int | None = None) -> None:
    """Add a page's counts to the run and beat its heartbeat; RunLost when the run is no longer this worker's."""
    if not RUNS.beat(run.pk, counts, **({} if total is None else {"total": total})):
        raise RunLost(f"run {run.pk} is no longer running")


def sync_run_scan_progress(*, run: SyncRun, scanned: int, total: int | None) -> None:
    """A per-contact scan's progress: contacts scanned so far of the contacts this run reads."""
    SyncRun.objects.filter(pk=run.pk).update(scan_done=scanned, scan_total=total)


def sync_run_release(*, run: SyncRun, error: str, retry_in: float | None = None) -> None:
    """Give a running run back to PENDING so a task retry can claim it again (a transient failure)."""
    RUNS.release(run.pk, error=error, retry_in=retry_in)


# ------------------------------------------------------------------------------
# Fair turns between locations
# ------------------------------------------------------------------------------
def location_waiting_runs(*, run: SyncRun, now: datetime | None = None) -> QuerySet[SyncRun]:
    """Pending runs of other locations (GHL connections) whose task is due: they wait for a worker now."""
    now = now or timezone.now()
    return (
        SyncRun.objects.filter(status=SyncRun.Status.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .exclude(mapping__ghl_connection_id=run.mapping.ghl_connection_id)
    )


def sync_run_turn_over(*, run: SyncRun) -> bool:
    """Whether the run should give its worker up after the page it just stored: another location's run is waiting
    (one query, asked at a page boundary after Cancel was looked for)."""
    return location_waiting_runs(run=run).exists()


# A pause shorter than this is waited out in the next turn: re-sending the task later would cost more than it saves.
TURN_DELAY_MIN_SECONDS = 1.0


def sync_run_yield(*, run: SyncRun, resume_in: float = 0.0) -> SyncRun:
    """RUNNING → PENDING at a page boundary: the run's task is sent again (`sync_run_next_turn`) and lands behind the
    waiting runs of other locations (the queue is first in, first out), or, when its location's requests are paused
    for `resume_in` seconds, once the pause is over. Its cursor is stored with its last page, so the next turn goes on
    from there. A turn is not an attempt: `attempts` (the retry count a lost task is re-sent with) stays what it was
    before this claim."""
    delay = resume_in if resume_in >= TURN_DELAY_MIN_SECONDS else 0.0
    SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(
        status=SyncRun.Status.PENDING,
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
        heartbeat_at=timezone.now(),
        turns=F("turns") + 1,
        attempts=Greatest(F("attempts") - 1, 0),
    )
    run.refresh_from_db()
    return run


def sync_run_leg_done(*, run: SyncRun, directions: list[str]) -> None:
    """Remember the legs a run has finished, so its later turns do not read them again."""
    SyncRun.objects.filter(pk=run.pk).update(legs_done=directions)


def sync_run_next_turn(*, run_id: int, retries: int = 0) -> None:
    """Send the task of a run that gave its worker up, due when its next turn is (`next_attempt_at`); if the broker
    cannot take it, the stale check re-sends it."""
    due = SyncRun.objects.filter(pk=run_id).values_list("next_attempt_at", flat=True).first()
    countdown = (due - timezone.now()).total_seconds() if due is not None else 0.0
    try:
        enqueue.run_sync(run_id, retries=retries, countdown=countdown if countdown >= TURN_DELAY_MIN_SECONDS else None)
    except Exception:
        logger.exception("Run %s gave its worker up but its task could not be sent; the stale check will", run_id)


def sync_run_finish(*, run: SyncRun, error: str = "") -> SyncRun:
    """Set the final status from the counts: succeeded, partial or failed."""
    return RUNS.finish(run, error=error)
