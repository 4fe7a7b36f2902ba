"""Reads for the admin: the start page (connections' health, mappings' last runs, daily figures, latest failures,
the setup guide) and a run's live progress. Each selector costs a fixed number of queries, however much data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.module_loading import import_string

from integrations import ratelimit
from integrations.models import Connection, RecordHistory, SyncRun, System
from integrations.services.budget import LocationBudget, location_budgets
from mappings.models import Mapping

DASHBOARD_DAYS = 30
LATEST_FAILURES = 10
# The automations model another part of the product adds; the start page lists it once it exists.
AUTOMATION_MODEL = "automations.Automation"

# A tone per status, for colour-coded badges: ok (green), warn (amber), bad (red), info (blue), muted (grey).
RUN_STATUS_TONES = {
    SyncRun.Status.PENDING: "info",
    SyncRun.Status.RUNNING: "info",
    SyncRun.Status.SUCCEEDED: "ok",
    SyncRun.Status.PARTIAL: "warn",
    SyncRun.Status.FAILED: "bad",
    SyncRun.Status.STALE: "bad",
    SyncRun.Status.CANCELLED: "muted",
}
CONNECTION_STATUS_TONES = {
    Connection.Status.OK: "ok",
    Connection.Status.UNTESTED: "muted",
    Connection.Status.NEEDS_REAUTH: "bad",
    Connection.Status.ERROR: "bad",
}


# ------------------------------------------------------------------------------
# Connections
# ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Backlog:
    """The sync work queued or running on one connection (for GHL: one location) now."""

    queued: int = 0  # runs waiting for a worker (new, between their turns, or waiting for a retry)
    running: int = 0  # runs a worker is on
    records_left: int = 0  # of runs whose total is known
    pages_left: int = 0  # records_left in pages of SYNC_PAGE_SIZE: the turns the location still needs

    @property
    def runs(self) -> int:
        return self.queued + self.running

    @property
    def summary(self) -> str:
        """E.g. "1 running, 2 queued: 2,000 records (20 pages) left", or "idle"."""
        if not self.runs:
            return "idle"
        runs = ", ".join(f"{n} {what}" for n, what in ((self.running, "running"), (self.queued, "queued")) if n)
        if not self.records_left:
            return runs
        pages = f"{self.pages_left:,} page{'s' if self.pages_left != 1 else ''}"
        return f"{runs}: {self.records_left:,} records ({pages}) left"


@dataclass(frozen=True)
class ConnectionHealth:
    connection: Connection
    tone: str
    label: str
    budget: ratelimit.DailyBudget | None = None
    # False when the budget figure is from an earlier day (no GHL request seen today yet).
    budget_today: bool = False
    backlog: Backlog = Backlog()
    # GHL: the location's daily budget, today's use and forecast, and its per-contact scans (services/budget.py).
    location: LocationBudget | None = None


def connection_health(*, connection: Connection, now: datetime | None = None) -> tuple[str, str]:
    """(tone, label) of a connection: paused until … beats the stored status, which the last test or run set."""
    now = now or timezone.now()
    if connection.paused_until and connection.paused_until > now:
        until = timezone.localtime(connection.paused_until)
        return "warn", f"Paused until {until:%d %b %H:%M} (daily quota used up)"
    status = Connection.Status(connection.status)
    return CONNECTION_STATUS_TONES.get(status, "muted"), str(status.label)


def connection_backlogs() -> dict[int, Backlog]:
    """Per connection, the runs queued or running on it and the records (pages) they still have to do (one query:
    active runs are at most one per mapping)."""
    counts: dict[int, dict[str, int]] = {}
    active = SyncRun.objects.filter(status__in=SyncRun.ACTIVE_STATUSES).values_list(
        "mapping__ghl_connection_id", "mapping__streettext_connection_id", "status", "total", "processed"
    )
    for ghl_id, streettext_id, status, total, processed in active:
        left = max((total or 0) - processed, 0) if total is not None else 0
        for connection_id in (ghl_id, streettext_id):
            c = counts.setdefault(connection_id, {"queued": 0, "running": 0, "records_left": 0})
            c["running" if status == SyncRun.Status.RUNNING else "queued"] += 1
            c["records_left"] += left
    page = max(int(settings.SYNC_PAGE_SIZE), 1)
    return {pk: Backlog(**c, pages_left=-(-c["records_left"] // page)) for pk, c in counts.items()}


def connection_health_list(*, now: datetime | None = None) -> list[ConnectionHealth]:
    """Every connection with its health, its backlog and, for GHL, the day's request budget last reported and the
    location's budget and scans (six queries)."""
    now = now or timezone.now()
    connections = list(Connection.objects.order_by("system", "name"))
    keys = {c.pk: f"ghl:{c.location_id}" for c in connections if c.system == System.GHL}
    budgets = ratelimit.daily_budgets(list(set(keys.values()))) if keys else {}
    locations = location_budgets(connections, now=now, reported=budgets)
    backlogs = connection_backlogs()
    today = timezone.localdate(now)
    result = []
    for connection in connections:
        tone, label = connection_health(connection=connection, now=now)
        budget = budgets.get(keys.get(connection.pk, ""))
        result.append(
            ConnectionHealth(
                connection=connection,
                tone=tone,
                label=label,
                budget=budget,
                budget_today=budget is not None and timezone.localdate(budget.seen_at) == today,
                backlog=backlogs.get(connection.pk, Backlog()),
                location=locations.get(connection.pk),
            )
        )
    return result


# ------------------------------------------------------------------------------
# Mappings and automations
# ------------------------------------------------------------------------------
# The runs that say how a mapping is doing: its scheduled and manual runs over its records. A run of one record
# ("Sync this record now", Retry, a webhook's), a re-run of failed records and a dry run never repaint it: one bad
# record retried must not show a healthy mapping as "Failed".
STATE_TRIGGERS = (SyncRun.Trigger.MANUAL, SyncRun.Trigger.SCHEDULE)


def mapping_state_runs() -> QuerySet[SyncRun]:
    return SyncRun.objects.filter(trigger__in=STATE_TRIGGERS, dry_run=False).exclude(scope=SyncRun.Scope.IDS)


def mapping_list_with_last_run() -> QuerySet[Mapping]:
    """Mappings annotated with the id, status, time and failed count of the last run that gives their state
    (`mapping_state_runs`; one query)."""
    last = mapping_state_runs().filter(mapping=OuterRef("pk")).order_by("-created_at", "-pk")
    return (
        Mapping.objects.select_related("ghl_connection", "streettext_connection")
        .annotate(
            last_run_id=Subquery(last.values("pk")[:1]),
            last_run_status=Subquery(last.values("status")[:1]),
            last_run_at=Subquery(last.values("created_at")[:1]),
            last_run_failed=Subquery(last.values("failed")[:1]),
        )
        .order_by("-enabled", "name")
    )


def automation_list() -> list[Any] | None:
    """The automations with their last poll's status (one query; None while the automations app is not installed:
    the start page leaves the slot out)."""
    try:
        model = apps.get_model(AUTOMATION_MODEL)
    except (LookupError, ValueError):
        return None
    # Its app names the selector (AutomationsConfig.start_page_list): this app never imports automations.
    listing = import_string(model._meta.app_config.start_page_list)
    return list(listing()[:50])


# ------------------------------------------------------------------------------
# Daily figures (one aggregate query per chart set, grouped by day in the database)
# ------------------------------------------------------------------------------
@dataclass(frozen=True)
class DayStats:
    day: date
    runs: int = 0
    failed_runs: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    deleted: int = 0
    processed: int = 0

    @property
    def synced(self) -> int:
        """Records written: created, updated or deleted."""
        return self.created + self.updated + self.deleted

    @property
    def error_rate(self) -> float:
        """Failed records as a share of the records the runs looked at, in percent."""
        return round(100.0 * self.failed / self.processed, 1) if self.processed else 0.0


def run_daily_stats(*, days: int = DASHBOARD_DAYS, now: datetime | None = None) -> list[DayStats]:
    """Runs and record counts per day for the last `days` days, oldest first, days without runs included."""
    today = timezone.localdate(now or timezone.now())
    first = today - timedelta(days=days - 1)
    start = timezone.make_aware(datetime.combine(first, datetime.min.time()))
    failed_statuses = [SyncRun.Status.FAILED, SyncRun.Status.STALE]
    rows = (
        SyncRun.objects.filter(created_at__gte=start, dry_run=False)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            runs=Count("id"),
            failed_runs=Count("id", filter=Q(status__in=failed_statuses)),
            created_sum=Sum("created"),
            updated_sum=Sum("updated"),
            failed_sum=Sum("failed"),
            deleted_sum=Sum("deleted"),
            processed_sum=Sum("processed"),
        )
        .order_by("day")
    )
    by_day = {
        row["day"]: DayStats(
            day=row["day"],
            runs=row["runs"],
            failed_runs=row["failed_runs"],
            created=row["created_sum"] or 0,
            updated=row["updated_sum"] or 0,
            failed=row["failed_sum"] or 0,
            deleted=row["deleted_sum"] or 0,
            processed=row["processed_sum"] or 0,
        )
        for row in rows
    }
    return [by_day.get(first + timedelta(days=i), DayStats(day=first + timedelta(days=i))) for i in range(days)]


@dataclass(frozen=True)
class Totals:
    synced_today: int
    failed_today: int
    runs_today: int
    processed: int
    failed: int
    runs: int
    failed_runs: int

    @property
    def error_rate(self) -> float:
        return round(100.0 * self.failed / self.processed, 1) if self.processed else 0.0


def totals_from(days: list[DayStats]) -> Totals:
    today = days[-1] if days else DayStats(day=timezone.localdate())
    return Totals(
        synced_today=today.synced,
        failed_today=today.failed,
        runs_today=today.runs,
        processed=sum(d.processed for d in days),
        failed=sum(d.failed for d in days),
        runs=sum(d.runs for d in days),
        failed_runs=sum(d.failed_runs for d in days),
    )


def chart_data(days: list[DayStats]) -> dict[str, list[Any]]:
    """The series the start page's charts draw (and its tables print)."""
    return {
        "labels": [f"{d.day:%d %b}" for d in days],
        "created": [d.created for d in days],
        "updated": [d.updated for d in days],
        "failed": [d.failed for d in days],
        "runs": [d.runs - d.failed_runs for d in days],
        "failed_runs": [d.failed_runs for d in days],
        "error_rate": [d.error_rate for d in days],
    }


# Rows of one run counted at most (an index-only count on history_run_recent); beyond, "N+".
RUN_HISTORY_COUNT_CAP = 100_000


@dataclass(frozen=True)
class CappedCount:
    count: int
    capped: bool


def sync_run_history_count(*, run: SyncRun, cap: int = RUN_HISTORY_COUNT_CAP) -> CappedCount:
    """How many history rows a run kept: the figure beside the link that lists them (one query)."""
    count = RecordHistory.objects.filter(run=run).order_by()[: cap + 1].count()
    return CappedCount(count=min(count, cap), capped=count > cap)


def record_failure_latest_list(*, limit: int = LATEST_FAILURES) -> list[RecordHistory]:
    """The latest failed records, newest first (one query)."""
    return list(
        RecordHistory.objects.filter(action=RecordHistory.Action.FAILED, dry_run=False)
        .select_related("mapping")
        .order_by("-created_at", "-id")[:limit]
    )


# ------------------------------------------------------------------------------
# A fresh install's guide: connect → map → preview → sync
# ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SetupStep:
    title: str
    text: str
    done: bool
    url: str = ""
    action: str = ""


def setup_steps(
    *, connections: list[ConnectionHealth], mappings: list[Mapping], has_runs: bool, urls: dict[str, str]
) -> list[SetupStep]:
    """The four steps with what is done; built from data the start page has already read (no query).
    `urls`: connection_add, presets, preview (of the first mapping, if any) and mappings."""
    # Connected: one account on each side that passed a test (not merely one that has not failed yet: an untested
    # connection is not done), or, once runs have read and written through them, one whose runs did not fail on it.
    usable = {
        h.connection.system
        for h in connections
        if h.connection.status == Connection.Status.OK or (has_runs and h.tone != "bad")
    }
    has_both = {System.GHL, System.STREETTEXT} <= usable
    return [
        SetupStep(
            "Connect",
            "Add your GoHighLevel sub-account and your StreetText workspace, and test them.",
            has_both,
            urls.get("connection_add", ""),
            "Add a connection",
        ),
        SetupStep(
            "Map",
            "Choose what to sync: start from a pattern, then adjust the fields.",
            bool(mappings),
            urls.get("presets", ""),
            "Add from a pattern",
        ),
        SetupStep(
            "Preview",
            "See a real record beside what would be written, before anything is written.",
            has_runs,
            urls.get("preview", ""),
            "Preview",
        ),
        SetupStep(
            "Sync",
            "Press Sync now on the mapping (or switch its schedule on) and watch the run.",
            has_runs,
            urls.get("mappings", ""),
            "Open mappings",
        ),
    ]


# ------------------------------------------------------------------------------
# A run's progress: percentage, records per second, time left
# ------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunProgress:
    active: bool
    percent: int | None  # None: the source did not say how many records there are
    rate: float | None  # records per second since the run started
    eta_seconds: int | None
    elapsed_seconds: int | None
    tone: str
    # A per-contact scan (GHL notes, appointments): "1,200 of 5,000 contacts" scanned by the run ("" otherwise).
    scan_display: str = ""

    @property
    def eta_display(self) -> str:
        return duration_display(self.eta_seconds) if self.eta_seconds is not None else "—"

    @property
    def rate_display(self) -> str:
        return f"{self.rate:.1f} records/s" if self.rate is not None else "—"

    @property
    def elapsed_display(self) -> str:
        return duration_display(self.elapsed_seconds) if self.elapsed_seconds is not None else "—"


def duration_display(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def sync_run_progress(*, run: SyncRun, now: datetime | None = None) -> RunProgress:
    """Percentage, rate and time left of a run, from its counters (no query)."""
    now = now or timezone.now()
    active = run.status in SyncRun.ACTIVE_STATUSES
    percent: int | None = None
    if run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL):
        percent = 100
    elif run.scan_total:
        # A per-contact scan finds its records contact by contact: its share of the contacts is the measure.
        percent = min(100, int(100 * (run.scan_done or 0) / run.scan_total))
    elif run.total:
        percent = min(100, int(100 * run.processed / run.total))
    elif run.total == 0 and not active:
        percent = 100
    elapsed = rate = eta = None
    if run.started_at:
        end = run.finished_at or now
        elapsed_f = max((end - run.started_at).total_seconds(), 0.0)
        elapsed = int(elapsed_f)
        if elapsed_f >= 0.1 and run.processed:
            rate = run.processed / elapsed_f
        if active and rate and run.total and run.total > run.processed:
            eta = int((run.total - run.processed) / rate)
        elif active and run.scan_total and run.scan_done and run.scan_total > run.scan_done and elapsed_f >= 0.1:
            eta = int((run.scan_total - run.scan_done) * elapsed_f / run.scan_done)
    scan_display = ""
    if run.scan_done is not None:
        of = f" of {run.scan_total:,}" if run.scan_total else ""
        scan_display = f"{run.scan_done:,}{of}"
    return RunProgress(
        active=active,
        percent=percent,
        rate=rate,
        eta_seconds=eta,
        elapsed_seconds=elapsed,
        tone=RUN_STATUS_TONES.get(SyncRun.Status(run.status), "muted"),
        scan_display=scan_display,
    )


def sync_run_recent_active() -> QuerySet[SyncRun]:
    return SyncRun.objects.filter(status__in=SyncRun.ACTIVE_STATUSES).select_related("mapping").order_by("created_at")
