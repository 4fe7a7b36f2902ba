"""One run of one mapping: its legs (GHL → StreetText, StreetText → GHL), each reading pages from the right place,
processing and storing them one by one, then looking for deletions. Totals are known before the first write, so
progress never jumps; Cancel stops at a page boundary; errors end the run the way their kind requires.

Fair turns: after each stored page of the change feed, a run whose worker another location's run is waiting for gives
the worker up (`RunYielded`) and is queued again behind it (runs.sync_run_yield); the next turn resumes from the
stored cursor and skips the legs already finished. A location with a big backlog then holds a worker for one page at
a time, never every worker while another location waits."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError, connection

import integrations.services.sync.deletions as deletions
import integrations.services.sync.reading as reading
from integrations import ratelimit
from integrations.adapters import Record
from integrations.clients import exceptions as exc
from integrations.models import RecordHistory, SyncCursor, SyncRun, System
from integrations.services import runs
from integrations.services.connection_status import connection_needs_reauth
from integrations.services.sync.context import ConnectionAuthFailed, LegContext, RunCancelled, RunState, RunYielded
from integrations.services.sync.enrich import EnrichLeg
from integrations.services.sync.items import PageResult
from integrations.services.sync.leg import Leg
from integrations.services.sync.reading import Batch
from integrations.services.sync.store import store_page
from mappings.models import Mapping

logger = logging.getLogger(__name__)


class LegRunner:
    """Reads, processes and stores the pages of one leg."""

    def __init__(self, state: RunState, direction: str) -> None:
        run = state.run
        self.ctx = LegContext(state=state, mapping=run.mapping, direction=direction)
        self.leg: Leg = EnrichLeg(self.ctx) if self.ctx.enrich else Leg(self.ctx)
        self.force = run.scope == SyncRun.Scope.LINKED
        self.source_ids: list[str] = []
        self.note = ""
        self.batches = self._batches()
        self.first: Batch | None = None
        self.total: int | None = 0
        self.reread = False
        # Only a change feed read from the stored cursor can stop after any page and go on later from there: a list
        # of ids, the linked records and a dry run (which never moves the cursor) would start again; a full scan
        # would lose the complete pass its deletion check relies on.
        self.may_yield = (
            settings.SYNC_FAIR_TURNS
            and run.scope == SyncRun.Scope.CHANGES
            and not run.only_ids
            and not run.dry_run
            and not self.ctx.source.full_scan
        )

    def _batches(self) -> Iterator[Batch]:
        ctx, run = self.ctx, self.ctx.run
        if run.only_ids or run.scope == SyncRun.Scope.IDS:
            ids = run.only_ids.get(ctx.read_system) or []
            if ctx.enrich:
                # A change on the source side (a webhook) re-enriches the targets it fills.
                self.source_ids = run.only_ids.get(ctx.source_system) or []
            return reading.pages_for_ids(ctx, ctx.read_system, ids)
        if run.scope == SyncRun.Scope.LINKED:
            return reading.pages_for_links(ctx)
        self.note = reading.rescan_note(ctx)
        return reading.pages_from_cursor(ctx)

    def start(self, *, keep: bool) -> None:
        """Read the first page: its total is the leg's share of the run's total. Unless `keep`, the page is read again
        when the leg executes: a later leg must see what the legs before it wrote."""
        self.first = self.ctx.call(self.ctx.connection(self.ctx.read_system), next, self.batches, None)
        if self.first is not None:
            self.total = self.first.total
        if self.source_ids:
            self.total = (self.total or 0) + len(self.source_ids)
        if not keep:
            self.batches = self._batches()
            self.first = None
            self.reread = True

    def execute(self) -> None:
        ctx = self.ctx
        batch = self.first
        if self.reread:
            batch = ctx.call(ctx.connection(ctx.read_system), next, self.batches, None)
        listed: set[str] | None = set() if ctx.source.full_scan else None
        complete = False
        read_anything = batch is not None
        while batch is not None:
            if listed is not None:
                listed.update(r.id for r in batch.records if not r.deleted)
            complete = complete or batch.scan_complete
            # Every turn moves the cursor (a page with records, more to come): turns always make progress. A run that
            # gives its worker up after this page reads nothing ahead (its next turn reads the next page).
            turn_over = bool(
                self.may_yield and batch.has_more and batch.records and runs.sync_run_turn_over(run=ctx.run)
            )
            ahead = None if turn_over else ReadAhead(ctx, self.leg, self.batches)
            self._store(self.leg.process(self._unrecorded(batch.records), force=self.force, on_drain=ahead), batch)
            if ahead is not None and ahead.error is not None:
                raise ahead.error
            if turn_over:
                # A location whose requests are paused (a 429, a full window at GHL) comes back when the pause ends:
                # its worker serves the others meanwhile instead of sleeping on it.
                raise RunYielded(resume_in=ratelimit.pause_left(f"ghl:{ctx.mapping.ghl_connection.location_id}"))
            if ahead is not None and ahead.done:
                batch = ahead.batch
            else:
                batch = ctx.call(ctx.connection(ctx.read_system), next, self.batches, None)
        if self.source_ids and isinstance(self.leg, EnrichLeg):
            for start in range(0, len(self.source_ids), settings.SYNC_PAGE_SIZE):
                chunk = self.source_ids[start : start + settings.SYNC_PAGE_SIZE]
                found = ctx.call(ctx.source_connection, ctx.source.get_many, chunk)
                self._store(self.leg.process_sources(list(found.values())), Batch(records=[]))
                # Ids of records gone on the source count as processed: nothing to fill from them.
                ctx.state.processed += len(chunk) - len(found)
        if ctx.run.scope == SyncRun.Scope.CHANGES and not ctx.run.only_ids and (read_anything or not self.note):
            self._check_deletions(listed if complete else None)

    def _unrecorded(self, records: list[Record]) -> list[Record]:
        """The records this run has no row of yet in this leg's direction. An attempt that goes on with a run may read
        again what an earlier attempt recorded: a full scan (GHL tasks) starts again from its first page when the
        attempt before failed after the scan (in the deletion check), a change feed lists the run's own writes. Each
        record gets one row per run and direction, so those are left out (counted by the attempt that recorded
        them). One indexed lookup per page, only in a resumed attempt."""
        ctx = self.ctx
        if not ctx.state.resumed or not records:
            return records
        column = "ghl_id" if ctx.read_system == System.GHL else "streettext_id"
        rows = RecordHistory.objects.filter(
            run=ctx.run, direction=ctx.direction, **{f"{column}__in": [r.id for r in records]}
        )
        recorded = set(rows.values_list(column, flat=True))
        return [r for r in records if r.id not in recorded]

    def _store(self, result: PageResult, batch: Batch) -> None:
        store_page(self.ctx, result, cursor=batch.cursor, next_position=batch.next_position)
        if batch.scanned is not None:
            runs.sync_run_scan_progress(run=self.ctx.run, scanned=batch.scanned, total=batch.scan_total)
        if runs.sync_run_cancel_requested(run=self.ctx.run):
            raise RunCancelled

    def _check_deletions(self, listed: set[str] | None) -> None:
        ctx = self.ctx
        if listed is None and reading.is_sliced(ctx.source):
            # Listing ids would cost a request per parent: deletions are seen by a scan that reads every contact in
            # one run (and by the Delete webhooks).
            return
        cursor = SyncCursor.objects.filter(mapping=ctx.mapping, system=ctx.source_system).first()
        if not deletions.check_due(ctx, cursor):
            return
        gone = deletions.missing_records(ctx, listed=listed)
        size = settings.SYNC_PAGE_SIZE
        for start in range(0, len(gone), size):
            chunk = gone[start : start + size]
            if ctx.state.total is not None:
                ctx.state.total += len(chunk)
            self._store(self.leg.process(self._unrecorded(chunk)), Batch(records=chunk))
        if not ctx.dry_run:
            deletions.mark_checked(ctx)


class ReadAhead:
    """The next page and its match searches, read while a page's last writes are in flight (`Leg.process`'s
    on_drain): the page boundary then waits for no request. A failed read is raised where it would have happened,
    after the page is stored; a failed search is made again when the next page is matched."""

    def __init__(self, ctx: LegContext, leg: Leg, batches: Iterator[Batch]) -> None:
        self.ctx, self.leg, self.batches = ctx, leg, batches
        self.done = False
        self.batch: Batch | None = None
        self.error: Exception | None = None

    def __call__(self) -> None:
        ctx = self.ctx
        try:
            self.batch = ctx.call(ctx.connection(ctx.read_system), next, self.batches, None)
        except Exception as e:  # noqa: BLE001 - raised by the run after the page is stored
            self.error = e
            return
        self.done = True
        if self.batch is not None and not isinstance(self.leg, EnrichLeg):
            try:
                self.leg.search_ahead(self.batch.records)
            except (exc.ApiError, ConnectionAuthFailed):
                self.leg.search_ahead([])


@contextmanager
def async_commit() -> Iterator[None]:
    """On PostgreSQL (SYNC_ASYNC_COMMIT), this session's commits do not wait for the disk until the block ends: a link
    is committed after each create, and waiting for a disk flush each time would cost more than the engine's work."""
    if not settings.SYNC_ASYNC_COMMIT or connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")
        except DatabaseError:
            # The connection broke during the run: the run's own error is the one to report; a new session starts
            # with the server's setting.
            connection.close()


def sync_run_execute(*, run_id: int) -> SyncRun | None:
    """Claim and execute one run. Transient API errors release the run for a task retry and are re-raised."""
    with async_commit():
        return _execute(run_id=run_id)


def _execute(*, run_id: int) -> SyncRun | None:
    run = runs.sync_run_claim(run_id=run_id)
    if run is None:
        logger.info("Run %s is not pending (already claimed or finished); nothing to do", run_id)
        return None
    mapping = run.mapping
    # A run resumed after a turn (or a retry) goes on counting from what it stored before; its total is that plus what
    # is left, so progress never jumps back.
    state = RunState(run=run, processed=run.processed, resumed=bool(run.processed))
    if run.processed and mapping.mode == Mapping.Mode.ENRICH:
        # Only an enrich leg reads again the side it writes (its stamps); other legs need none of this.
        writes = [RecordHistory.Action.CREATED, RecordHistory.Action.UPDATED]
        written = RecordHistory.objects.filter(run=run, action__in=writes)
        state.resume(written.values_list("direction", "ghl_id", "streettext_id", "created_at").iterator())
    done = set(run.legs_done or [])
    try:
        legs = [LegRunner(state, direction) for direction in mapping.directions if direction not in done]
        for index, leg in enumerate(legs):
            leg.start(keep=index == 0)
        totals = [leg.total for leg in legs]
        left = sum(t for t in totals if t is not None) if all(t is not None for t in totals) else None
        state.total = None if left is None else run.processed + left
        runs.sync_run_add_progress(run=run, counts={}, total=state.total)
        turns = any(leg.may_yield for leg in legs)
        for index, leg in enumerate(legs):
            leg.execute()
            if turns and index < len(legs) - 1:  # a later turn of the run goes on with the next leg
                done.add(leg.ctx.direction)
                runs.sync_run_leg_done(run=run, directions=sorted(done))
        # The end of the run makes the total exact.
        runs.sync_run_add_progress(run=run, counts={}, total=state.processed)
        note = " ".join(leg.note for leg in legs if leg.note)
        if note:
            SyncRun.objects.filter(pk=run.pk).update(note=note[:2000])
    except RunYielded as turn:
        return runs.sync_run_yield(run=run, resume_in=turn.resume_in)
    except RunCancelled:
        return runs.sync_run_finish_cancelled(run=run)
    except runs.RunLost:
        logger.warning("Run %s was ended by the stale check while this worker still ran it; stopped", run_id)
        return None
    except exc.ApiQuotaExhausted as e:
        # The day's quota is spent: a task retry would come far too soon. The run ends, the connection pauses until
        # the quota is back, and the cursor still points after the last stored page, so the next run resumes there.
        from integrations.services.quota import mapping_pause_for_quota

        return runs.sync_run_finish(run=run, error=mapping_pause_for_quota(mapping=mapping, error=e))
    except exc.TransientApiError as e:
        runs.sync_run_release(run=run, error=str(e))
        raise
    except ConnectionAuthFailed as e:
        connection_needs_reauth(connection=e.connection, detail=str(e))
        return runs.sync_run_finish(run=run, error=str(e))
    except exc.ApiError as e:
        return runs.sync_run_finish(run=run, error=str(e))
    return runs.sync_run_finish(run=run)
