"""Where a leg's pages come from: the change feed after the stored cursor, a list of ids, or every linked record."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from integrations.adapters import Page, Record
from integrations.adapters.registry import ADAPTERS
from integrations.models import SyncCursor, SyncRun, System
from integrations.services import budget
from integrations.services.sync.context import LegContext
from integrations.services.sync.links import id_field, pair_links
from mappings.models import Mapping

# A finished full scan stores when it finished; the next scan of a per-contact listing waits for the interval.
SCAN_FINISHED_KEY = "scan_finished_at"
# The API requests a scan has taken so far (in progress) or took (finished), when the adapter counts them.
SCAN_REQUESTS_KEY = "scan_requests"
OWN_KEYS = (SCAN_FINISHED_KEY, SCAN_REQUESTS_KEY, *budget.BUDGET_KEYS)


@dataclass
class Batch:
    """One page to process, and where the cursor moves once its results are stored (cursor None: never)."""

    records: list[Record]
    cursor: SyncCursor | None = None
    next_position: dict[str, Any] | None = None
    total: int | None = None
    # For a full scan started from the beginning: the last page of a complete pass.
    scan_complete: bool = False
    # The feed said more pages follow (a run may stop after this page and go on from its cursor later).
    has_more: bool = False
    # A per-contact scan: contacts read so far by this run, and how many it will read (the run page's percentage).
    scanned: int | None = None
    scan_total: int | None = None


def _finished_at(position: dict[str, Any]) -> datetime | None:
    value = position.get(SCAN_FINISHED_KEY)
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def scan_interval(adapter: object) -> timedelta | None:
    """How often a scheduled run may list a source that has no updated-since listing and costs a request per page of
    records (GHL tasks: SYNC_TASK_RESCAN_HOURS; None: every run). Per-contact scans are paced by the budget instead."""
    hours = getattr(adapter, "rescan_hours_setting", "")
    if not hours:
        return None
    return timedelta(hours=float(getattr(settings, hours)))


def is_sliced(adapter: object) -> bool:
    """A per-contact scan (GHL notes, appointments): scheduled runs read a slice sized to the daily budget."""
    return bool(getattr(adapter, "scan_per_parent", False))


def scan_wait(ctx: LegContext, cursor: SyncCursor) -> datetime | None:
    """When a scheduled run may start the next full listing (None: now). Manual runs never wait."""
    interval = scan_interval(ctx.adapter(ctx.read_system))
    if interval is None or ctx.run.trigger != SyncRun.Trigger.SCHEDULE:
        return None
    finished = _finished_at(cursor.position)
    if finished is None:
        return None
    due = finished + interval
    return due if due > timezone.now() else None


def scan_slice(ctx: LegContext, cursor: SyncCursor) -> budget.ScanSlice | None:
    """The contacts a scheduled run's per-contact scan may read (None: not a sliced scan; manual runs finish the
    pass under way without a limit)."""
    if not is_sliced(ctx.adapter(ctx.read_system)) or ctx.run.trigger != SyncRun.Trigger.SCHEDULE:
        return None
    if settings.SYNC_CHILD_RESCAN_HOURS <= 0:
        return None  # 0: no pacing, every scheduled run reads every contact
    return budget.scan_slice(ctx.mapping, cursor.position)


def pages_from_cursor(ctx: LegContext) -> Iterator[Batch]:
    """The change feed of the side the leg reads, from the mapping's stored cursor."""
    system = ctx.read_system
    adapter = ctx.adapter(system)
    connection = ctx.connection(system)
    cursor, _ = SyncCursor.objects.get_or_create(mapping=ctx.mapping, system=system)
    if scan_wait(ctx, cursor) is not None:
        return
    allowed = scan_slice(ctx, cursor)
    if allowed is not None and allowed.contacts < 1:
        return
    sliced = is_sliced(adapter)
    stored = dict(cursor.position)
    position = {k: v for k, v in stored.items() if k not in OWN_KEYS}
    since = ctx.mapping.start_from if not cursor.position else None
    from_start = not position
    # A scan resumed mid-way (a cancelled or failed run) keeps counting from where it stopped.
    spent = 0 if from_start else int(stored.get(SCAN_REQUESTS_KEY) or 0)
    page_size = settings.SYNC_PAGE_SIZE
    if allowed is not None:
        page_size = max(1, min(page_size, allowed.contacts))
    pages = ctx.call(connection, adapter.iter_changes, cursor=position, since=since, page_size=page_size)
    scanned = 0
    planned: int | None = allowed.contacts if allowed is not None else None
    while True:
        page: Page | None = ctx.call(connection, next, pages, None)
        if page is None:
            return
        next_position = dict(page.next_cursor)
        last = not page.has_more
        if last and adapter.full_scan and not next_position:
            next_position = {SCAN_FINISHED_KEY: timezone.now().isoformat()}
        if page.cost is not None:
            spent += page.cost
            next_position[SCAN_REQUESTS_KEY] = spent
        total = page.total
        if sliced:
            if planned is None or scanned == 0:
                # The first page says how many contacts there are: the run reads the rest of the pass under way
                # (manual) or its slice of it, whichever is smaller.
                done_before = 0 if from_start else int(stored.get(budget.PASS_DONE_KEY) or 0)
                left = max(0, page.total - done_before) if page.total is not None else None
                planned = min(planned, left) if planned is not None and left is not None else planned or left
            scanned += page.parents or 0
            next_position.update(
                budget.scan_position_after(
                    stored,
                    credit=allowed.credit if allowed is not None else None,
                    scanned=scanned,
                    contacts=page.total,
                    now=timezone.now(),
                    pass_ended=last,
                )
            )
            total = None
        slice_ends = allowed is not None and scanned >= allowed.contacts
        yield Batch(
            records=page.records,
            cursor=cursor,
            next_position=next_position,
            total=total,
            scan_complete=last and adapter.full_scan and from_start,
            has_more=not last and not slice_ends,
            scanned=scanned if sliced else None,
            scan_total=max(planned or 0, scanned) if sliced and planned is not None else None,
        )
        if last or slice_ends:
            return


def pages_for_ids(ctx: LegContext, system: str, ids: list[str]) -> Iterator[Batch]:
    """Named records (webhook, re-run, one record), read in batches; a record that is gone reads as deleted."""
    adapter = ctx.adapter(system)
    connection = ctx.connection(system)
    size = settings.SYNC_PAGE_SIZE
    unique = list(dict.fromkeys(i for i in ids if i))
    for start in range(0, len(unique), size):
        chunk = unique[start : start + size]
        found = ctx.call(connection, adapter.get_many, chunk)
        records = [found.get(i) or Record(id=i, values={}, deleted=True) for i in chunk]
        yield Batch(records=records, total=len(unique))


def pages_for_links(ctx: LegContext) -> Iterator[Batch]:
    """Every linked record of the mapping's pair, source side read again (a re-sync after a mapping change)."""
    system = ctx.read_system
    # The links as they were when the leg started: a link the re-sync itself stores (a copy made again for a target
    # that was deleted) must not be read again further on, or its record would be processed twice in one run.
    ceiling = pair_links(ctx.mapping).aggregate(ceiling=Max("pk"))["ceiling"] or 0
    links = pair_links(ctx.mapping).filter(pk__lte=ceiling).order_by("pk")
    total = links.count()
    size = settings.SYNC_PAGE_SIZE
    last_pk = 0
    while True:
        chunk = list(links.filter(pk__gt=last_pk).values_list("pk", id_field(system))[:size])
        if not chunk:
            return
        last_pk = chunk[-1][0]
        ids = [record_id for _, record_id in chunk]
        found = ctx.call(ctx.connection(system), ctx.adapter(system).get_many, ids)
        records = [found.get(i) or Record(id=i, values={}, deleted=True) for i in ids]
        yield Batch(records=records, total=total)


def rescan_note(ctx: LegContext) -> str:
    """Why a scheduled run read nothing from a listing it paces (shown on the run), or ""."""
    cursor = SyncCursor.objects.filter(mapping=ctx.mapping, system=ctx.read_system).first()
    if cursor is None:
        return ""
    allowed = scan_slice(ctx, cursor)
    if allowed is not None:
        if allowed.contacts >= 1:
            return ""
        return f"{ctx.object_type.label} scan deferred: {allowed.deferred} (webhooks keep them fresh in between)."
    due = scan_wait(ctx, cursor)
    if due is None:
        return ""
    return (
        f"{ctx.object_type.label} were listed in full at {cursor.position[SCAN_FINISHED_KEY][:16]} UTC; "
        f"the next full listing is due at {due:%Y-%m-%d %H:%M} UTC (webhooks keep them fresh in between)."
    )


@dataclass(frozen=True)
class ScanCost:
    """What the per-contact scan of a mapping costs, for the mapping page."""

    interval: timedelta
    requests: int | None  # the last complete pass's GHL requests (None: no pass finished yet)
    finished_at: datetime | None
    next_due: datetime | None  # unused since scans are paced by the budget (kept for the page's wording)
    in_progress: int | None  # requests spent so far by a pass that has not finished


def scan_cost(mapping: Mapping) -> ScanCost | None:
    """The GHL per-contact scan of a mapping (notes, appointments): its cost and timing; None for other mappings."""
    if not is_sliced(ADAPTERS.get((System.GHL, mapping.object_type))) or not budget.reads_ghl(mapping):
        return None
    cursor = SyncCursor.objects.filter(mapping=mapping, system=System.GHL).first()
    position = cursor.position if cursor is not None else {}
    finished = _finished_at(position)
    spent = position.get(SCAN_REQUESTS_KEY)
    return ScanCost(
        interval=timedelta(hours=settings.SYNC_CHILD_RESCAN_HOURS),
        requests=int(spent) if finished is not None and spent is not None else None,
        finished_at=finished,
        next_due=None,
        in_progress=int(spent) if finished is None and spent is not None else None,
    )


def listing_due(mapping: Mapping) -> tuple[timedelta, datetime | None, datetime | None] | None:
    """A GHL source listed in full at most once per interval (tasks): (interval, last full listing, next one due);
    None for other mappings."""
    interval = scan_interval(ADAPTERS.get((System.GHL, mapping.object_type)))
    if interval is None or not budget.reads_ghl(mapping):
        return None
    cursor = SyncCursor.objects.filter(mapping=mapping, system=System.GHL).first()
    finished = _finished_at(cursor.position) if cursor is not None else None
    due = finished + interval if finished is not None else None
    return interval, finished, due if due is not None and due > timezone.now() else None
