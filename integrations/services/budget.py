"""A GoHighLevel location's daily request budget, and how the per-contact scans are spread to fit it.

The budget is the connection's `daily_budget_percent` of the location's daily limit (GHL's X-RateLimit-Limit-Daily,
else GHL_DAILY_LIMIT). Of it, the per-contact reconciliation scans (notes, appointments: one request per contact)
may spend GHL_BUDGET_SCAN_SHARE, split evenly between the mappings that scan; the rest is kept for what is never
deferred: webhook-driven and manual runs, the change feeds, task listings, deletion checks and automation polls.

Each scanning mapping earns scan credit (contacts) at its daily rate, kept in its cursor; a scheduled run scans as
many contacts as its credit allows, most recently updated first, and the pass goes on from there on the next run.
The rate is the smaller of what the budget allows and one full pass per SYNC_CHILD_RESCAN_HOURS, so a small location
is scanned once a day spread over the day, and a large one every N days (N shown on the mapping and start pages).
Once the location has used its whole budget today, scans wait for the next UTC day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from integrations import ratelimit
from integrations.adapters.registry import ADAPTERS
from integrations.models import Connection, SyncCursor, System
from mappings.models import Direction, Mapping

DAY_SECONDS = 86_400.0

# Keys a per-contact scan keeps in its mapping's cursor, beside the adapter's position.
CREDIT_KEY = "scan_credit"  # contacts the scan may still read (may be negative after a page ran over)
CREDIT_AT_KEY = "scan_credit_at"  # when the credit was last brought up to date
CONTACTS_KEY = "scan_contacts"  # the location's contacts, as GHL's contact search last reported them
PASS_DONE_KEY = "scan_pass_done"  # noqa: S105 (a cursor key): contacts read so far in the pass under way
DAY_KEY = "scan_day"  # the UTC day of DAY_DONE_KEY
DAY_DONE_KEY = "scan_day_done"  # contacts read that day
BUDGET_KEYS = (CREDIT_KEY, CREDIT_AT_KEY, CONTACTS_KEY, PASS_DONE_KEY, DAY_KEY, DAY_DONE_KEY)


def _today(now: datetime) -> date:
    return now.astimezone(UTC).date()


def _day_fraction_left(now: datetime) -> float:
    start = datetime.combine(_today(now), datetime.min.time(), tzinfo=UTC)
    return max(0.0, 1.0 - (now - start).total_seconds() / DAY_SECONDS)


def rate_limit_key(connection: Connection) -> str:
    return f"ghl:{connection.location_id}"


def scan_object_types() -> frozenset[str]:
    """The GHL object types listed one request per contact (notes, appointments)."""
    return frozenset(
        ot for (system, ot), cls in ADAPTERS.items() if system == System.GHL and getattr(cls, "scan_per_parent", False)
    )


def reads_ghl(mapping: Mapping) -> bool:
    return mapping.direction != Direction.TO_GHL or mapping.mode == Mapping.Mode.ENRICH


def scanning_mappings(connection: Connection) -> list[Mapping]:
    """The enabled mappings of the location that run a per-contact scan (one query)."""
    candidates = Mapping.objects.filter(
        ghl_connection=connection, enabled=True, object_type__in=scan_object_types()
    ).order_by("name")
    return [m for m in candidates if reads_ghl(m)]


@dataclass(frozen=True)
class Usage:
    limit: int  # the location's daily limit
    used: int  # requests GHL counted today (0 before the first answer of the day)
    reported: bool  # GHL announced the figures today


def _usage(reported: ratelimit.DailyBudget | None, *, now: datetime) -> Usage:
    if reported is None or reported.limit <= 0:
        return Usage(limit=settings.GHL_DAILY_LIMIT, used=0, reported=False)
    if _today(reported.seen_at) != _today(now):
        return Usage(limit=reported.limit, used=0, reported=False)
    return Usage(limit=reported.limit, used=reported.used, reported=True)


def usage_today(connection: Connection, *, now: datetime | None = None) -> Usage:
    """Today's requests as GHL last reported them (X-RateLimit-Daily-Remaining, kept by the rate limiter)."""
    key = rate_limit_key(connection)
    return _usage(ratelimit.daily_budgets([key]).get(key), now=now or timezone.now())


def budget_requests(connection: Connection, limit: int) -> int:
    return int(limit * connection.daily_budget_percent / 100)


def scan_requests_per_day(connection: Connection, *, limit: int, scanners: int) -> float:
    """GHL requests a day one scanning mapping of the location may spend."""
    return budget_requests(connection, limit) * settings.GHL_BUDGET_SCAN_SHARE / max(1, scanners)


def request_per_contact() -> float:
    """A scan's cost per contact: its listing plus its share of one contact search per page."""
    return 1 + 1 / max(1, settings.SYNC_PAGE_SIZE)


def contacts_per_day(*, requests_per_day: float, contacts: int | None) -> float:
    """How many contacts a day one scan reads: what its share of the budget pays for, and no more than one full pass
    per SYNC_CHILD_RESCAN_HOURS."""
    by_budget = requests_per_day / request_per_contact()
    if not contacts:
        return by_budget
    by_interval = contacts * 24 / max(settings.SYNC_CHILD_RESCAN_HOURS, 0.01)
    return min(by_budget, by_interval)


@dataclass(frozen=True)
class ScanSlice:
    """What one scheduled run of a per-contact scan may read."""

    contacts: int  # contacts this run may scan (0: none)
    credit: float  # the credit before this run's scan
    per_day: float  # contacts per day at the current rate
    deferred: str = ""  # why the run scans nothing, when it does not


def _float(value: Any, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def scan_slice(mapping: Mapping, position: dict[str, Any], *, now: datetime | None = None) -> ScanSlice:
    """The contacts a scheduled run of `mapping`'s per-contact scan may read now (no API call)."""
    now = now or timezone.now()
    connection = mapping.ghl_connection
    usage = usage_today(connection, now=now)
    scanners = max(1, len(scanning_mappings(connection)))
    contacts = int(position[CONTACTS_KEY]) if position.get(CONTACTS_KEY) else None
    per_day = contacts_per_day(
        requests_per_day=scan_requests_per_day(connection, limit=usage.limit, scanners=scanners), contacts=contacts
    )
    rate = per_day / DAY_SECONDS
    cap = rate * settings.GHL_BUDGET_CREDIT_HOURS * 3600
    last = _time(position.get(CREDIT_AT_KEY))
    if last is None:
        # A scan's first run may read one schedule interval's worth (at least one page).
        credit = max(rate * max(mapping.schedule_minutes, 15) * 60, float(settings.SYNC_PAGE_SIZE))
    else:
        credit = min(cap, _float(position.get(CREDIT_KEY)) + rate * max(0.0, (now - last).total_seconds()))
    budget = budget_requests(connection, usage.limit)
    if usage.used >= budget:
        return ScanSlice(
            contacts=0,
            credit=credit,
            per_day=per_day,
            deferred=(
                f"the location has used {usage.used:,} GHL requests today, its whole daily budget of {budget:,} "
                f"({connection.daily_budget_percent} % of {usage.limit:,}); the scan goes on tomorrow"
            ),
        )
    if credit < 1:
        return ScanSlice(
            contacts=0,
            credit=credit,
            per_day=per_day,
            deferred=f"its share of the daily budget allows {per_day:,.0f} contacts a day; the next slice is due later",
        )
    return ScanSlice(contacts=int(credit), credit=credit, per_day=per_day)


def scan_position_after(
    position: dict[str, Any],
    *,
    credit: float | None,
    scanned: int,
    contacts: int | None,
    now: datetime,
    pass_ended: bool,
) -> dict[str, Any]:
    """The budget keys to store with a scan's cursor after this run read `scanned` contacts so far. `credit`: the
    credit the run started with (a scheduled run spends it; None: a manual run, which leaves it as it was)."""
    day = _today(now).isoformat()
    day_done = int(position.get(DAY_DONE_KEY) or 0) if position.get(DAY_KEY) == day else 0
    kept: dict[str, Any] = {
        DAY_KEY: day,
        DAY_DONE_KEY: day_done + scanned,
        PASS_DONE_KEY: 0 if pass_ended else int(position.get(PASS_DONE_KEY) or 0) + scanned,
    }
    if credit is not None:
        kept[CREDIT_KEY] = round(credit - scanned, 3)
        kept[CREDIT_AT_KEY] = now.isoformat()
    else:
        kept.update({k: position[k] for k in (CREDIT_KEY, CREDIT_AT_KEY) if k in position})
    known = contacts if contacts is not None else position.get(CONTACTS_KEY)
    if known is not None:
        kept[CONTACTS_KEY] = int(known)
    return kept


def deletion_check_minutes(mapping: Mapping, *, linked: int, per_request: int) -> float:
    """The shortest interval (minutes) between deletion checks of a GHL source that keeps their daily cost (one
    listing request per `per_request` linked records) within GHL_BUDGET_DELETION_SHARE of the location's budget,
    shared by the location's enabled mappings that read GHL (a few queries)."""
    connection = mapping.ghl_connection
    cost = math.ceil(linked / max(1, per_request))
    if cost == 0:
        return 0.0
    readers = [m for m in Mapping.objects.filter(ghl_connection=connection, enabled=True) if reads_ghl(m)]
    share = budget_requests(connection, usage_today(connection).limit) * settings.GHL_BUDGET_DELETION_SHARE
    checks_per_day = share / max(1, len(readers)) / cost
    return 1440.0 / checks_per_day if checks_per_day > 0 else 1440.0


# ------------------------------------------------------------------------------
# The figures for the mapping and start pages
# ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScanPlan:
    """One mapping's per-contact scan, as planned and as done today."""

    mapping: Mapping
    contacts: int | None  # the location's contacts (None: no page read yet)
    per_day: float  # contacts a day
    requests_per_day: float  # what that costs
    scanned_today: int
    pass_done: int  # contacts read in the pass under way

    @property
    def cycle_days(self) -> int | None:
        """Every contact is scanned at least once per this many days (None: not known before the first page)."""
        if not self.contacts or self.per_day <= 0:
            return None
        return max(1, math.ceil(self.contacts / self.per_day))

    @property
    def deferred_today(self) -> int:
        """Contacts left for later days: those a full pass has that today's share does not pay for."""
        if not self.contacts:
            return 0
        return max(0, self.contacts - round(self.per_day))

    @property
    def summary(self) -> str:
        label = self.mapping.get_object_type_display().lower()
        if self.contacts is None:
            return (
                f"{label} scan ({self.mapping.name}): about {self.per_day:,.0f} contacts a day; "
                f"the number of contacts is known after its first page"
            )
        cycle = self.cycle_days
        every = "every day" if cycle == 1 else f"every {cycle} days"
        deferred = f", {self.deferred_today:,} deferred to later days" if self.deferred_today else ""
        return (
            f"{label} scan ({self.mapping.name}): {self.scanned_today:,} of {self.contacts:,} contacts today "
            f"(about {self.per_day:,.0f} a day{deferred}); full cycle {every}"
        )


@dataclass(frozen=True)
class LocationBudget:
    """A GHL location's budget today: what it may use, what it used, what the scans plan, what polls took."""

    connection: Connection
    limit: int
    percent: int
    budget: int
    used: int
    reported: bool
    forecast: int  # used so far + the scans planned for the rest of the day
    scan_share: int  # requests a day the per-contact scans may spend
    reserved: int  # the rest of the budget: webhook-driven and manual runs, feeds, listings, checks, polls
    scans: list[ScanPlan] = field(default_factory=list)
    poll_pages_today: int = 0  # pages GHL automation polls of this location read today (one request each)

    @property
    def percent_used(self) -> int:
        return min(999, round(100 * self.used / self.budget)) if self.budget else 0

    @property
    def over(self) -> bool:
        return self.used >= self.budget

    @property
    def tone(self) -> str:
        return "bad" if self.over else "warn" if self.forecast > self.budget else "ok"

    @property
    def line(self) -> str:
        """One line for the start page."""
        text = (
            f"Budget {self.budget:,} requests a day ({self.percent} % of {self.limit:,}): {self.used:,} used today, "
            f"forecast {self.forecast:,}"
        )
        if self.over:
            text += "; used up: the scans wait for tomorrow"
        if self.poll_pages_today:
            text += f"; automation polls read {self.poll_pages_today:,} pages"
        return text

    @property
    def summary(self) -> str:
        used = f"{self.used:,}" if self.reported else "0 (no GHL answer yet today)"
        return (
            f"{used} of a {self.budget:,} request budget used today ({self.percent} % of {self.limit:,}); "
            f"forecast {self.forecast:,} by the end of the day"
        )


def location_budget(connection: Connection, *, now: datetime | None = None) -> LocationBudget:
    """The day's budget of a GHL location, for the start page, the mapping page and other helpers (four queries)."""
    return location_budgets([connection], now=now)[connection.pk]


def location_budgets(
    connections: list[Connection],
    *,
    now: datetime | None = None,
    reported: dict[str, ratelimit.DailyBudget] | None = None,
) -> dict[int, LocationBudget]:
    """The day's budget of each GHL connection given, by pk (at most four queries however many connections; three
    with `reported`, the daily budgets the caller read already)."""
    now = now or timezone.now()
    ghl = [c for c in connections if c.system == System.GHL]
    if not ghl:
        return {}
    keys = {c.pk: rate_limit_key(c) for c in ghl}
    if reported is None:
        reported = ratelimit.daily_budgets(list(set(keys.values())))
    candidates = Mapping.objects.filter(
        ghl_connection__in=ghl, enabled=True, object_type__in=scan_object_types()
    ).order_by("name")
    mappings = [m for m in candidates if reads_ghl(m)]
    cursors = (
        {
            c.mapping_id: c.position
            for c in SyncCursor.objects.filter(mapping__in=mappings, system=System.GHL).only("mapping_id", "position")
        }
        if mappings
        else {}
    )
    polls = _poll_pages_today([c.pk for c in ghl], now=now)
    day = _today(now).isoformat()
    left = _day_fraction_left(now)
    result: dict[int, LocationBudget] = {}
    for connection in ghl:
        usage = _usage(reported.get(keys[connection.pk]), now=now)
        budget = budget_requests(connection, usage.limit)
        own = [m for m in mappings if m.ghl_connection_id == connection.pk]
        per_mapping = scan_requests_per_day(connection, limit=usage.limit, scanners=len(own))
        plans = []
        for mapping in own:
            position = cursors.get(mapping.pk, {})
            contacts = int(position[CONTACTS_KEY]) if position.get(CONTACTS_KEY) else None
            per_day = contacts_per_day(requests_per_day=per_mapping, contacts=contacts)
            plans.append(
                ScanPlan(
                    mapping=mapping,
                    contacts=contacts,
                    per_day=per_day,
                    requests_per_day=per_day * request_per_contact(),
                    scanned_today=int(position.get(DAY_DONE_KEY) or 0) if position.get(DAY_KEY) == day else 0,
                    pass_done=int(position.get(PASS_DONE_KEY) or 0),
                )
            )
        scan_share = int(budget * settings.GHL_BUDGET_SCAN_SHARE) if own else 0
        result[connection.pk] = LocationBudget(
            connection=connection,
            limit=usage.limit,
            percent=connection.daily_budget_percent,
            budget=budget,
            used=usage.used,
            reported=usage.reported,
            forecast=usage.used + round(sum(p.requests_per_day for p in plans) * left),
            scan_share=scan_share,
            reserved=budget - scan_share,
            scans=plans,
            poll_pages_today=polls.get(connection.pk, 0),
        )
    return result


def _poll_pages_today(connection_ids: list[int], *, now: datetime) -> dict[int, int]:
    """Pages read today by the polls of automations whose trigger reads these GHL locations (a read-only report: one
    request per page)."""
    try:
        poll_model = apps.get_model("automations", "AutomationPoll")
    except LookupError:
        return {}
    start = datetime.combine(_today(now), datetime.min.time(), tzinfo=UTC)
    rows = (
        poll_model.objects.filter(
            automation__ghl_connection__in=connection_ids,
            automation__trigger_system=System.GHL,
            created_at__gte=start,
            created_at__lt=start + timedelta(days=1),
        )
        .values("automation__ghl_connection")
        .annotate(pages=Sum("pages"))
        .order_by()
    )
    return {row["automation__ghl_connection"]: int(row["pages"] or 0) for row in rows}
