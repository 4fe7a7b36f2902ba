"""Reads for /healthz and /metrics: is each part of the deployment up, and the figures the people who run it watch.

Each check is cheap and bounded (one query, or one broker connection with a short timeout) because a load balancer
asks every few seconds. What a check found wrong is logged here in full; the public answer only names the part.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection as db_connection
from django.db.models import Count, Max, Sum
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from integrations import ratelimit
from integrations.models import Connection, ProcessHeartbeat, SyncRun, System

logger = logging.getLogger(__name__)

# What /healthz says about a part that is down (the details go to the log, not to an unauthenticated caller).
DATABASE_DOWN = "database unreachable"
BROKER_DOWN = "broker unreachable"
WORKER_DOWN = "no Celery worker has written its heartbeat in the last {seconds} s"
BEAT_DOWN = "Celery beat has not written its heartbeat in the last {seconds} s"
CHECK_FAILED = "could not be checked (see the log)"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, **({"detail": self.detail} if self.detail else {}), **self.data}


@dataclass(frozen=True)
class HealthReport:
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def down(self) -> list[str]:
        return [check.name for check in self.checks if not check.ok]

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "down",
            "down": self.down,
            "checks": {check.name: check.as_json() for check in self.checks},
        }


def _age(seen_at: datetime | None, now: datetime) -> float | None:
    return None if seen_at is None else round(max((now - seen_at).total_seconds(), 0.0), 1)


def check_database() -> Check:
    try:
        with db_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.exception("Health check: the database is unreachable")
        return Check("database", False, DATABASE_DOWN)
    return Check("database", True)


def _broker_connection() -> Any:
    from config.celery import app

    return app.connection_for_read(connect_timeout=settings.HEALTH_BROKER_TIMEOUT_SECONDS)


def check_broker() -> Check:
    try:
        with _broker_connection() as conn:
            conn.ensure_connection(max_retries=1, timeout=settings.HEALTH_BROKER_TIMEOUT_SECONDS)
    except Exception:
        logger.exception("Health check: the broker is unreachable")
        return Check("broker", False, BROKER_DOWN)
    return Check("broker", True)


def heartbeats(*, kind: str) -> list[ProcessHeartbeat]:
    return list(ProcessHeartbeat.objects.filter(kind=kind).order_by("-seen_at"))


def check_workers(*, now: datetime | None = None) -> Check:
    now = now or timezone.now()
    max_age = settings.HEALTH_WORKER_MAX_AGE_SECONDS
    rows = heartbeats(kind=ProcessHeartbeat.Kind.WORKER)
    alive = [row for row in rows if now - row.seen_at <= timedelta(seconds=max_age)]
    data = {"alive": len(alive), "last_seen_seconds_ago": _age(rows[0].seen_at if rows else None, now)}
    if not alive:
        return Check("worker", False, WORKER_DOWN.format(seconds=max_age), data)
    return Check("worker", True, data=data)


def check_beat(*, now: datetime | None = None) -> Check:
    now = now or timezone.now()
    max_age = settings.HEALTH_BEAT_MAX_AGE_SECONDS
    rows = heartbeats(kind=ProcessHeartbeat.Kind.BEAT)
    last_task = PeriodicTask.objects.filter(enabled=True).aggregate(at=Max("last_run_at"))["at"]
    data = {
        "last_seen_seconds_ago": _age(rows[0].seen_at if rows else None, now),
        # When beat last sent a periodic task, as django-celery-beat stored it (written every few minutes).
        "last_periodic_task_seconds_ago": _age(last_task, now),
    }
    if not rows or now - rows[0].seen_at > timedelta(seconds=max_age):
        return Check("beat", False, BEAT_DOWN.format(seconds=max_age), data)
    return Check("beat", True, data=data)


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    try:
        return check()
    except Exception:
        logger.exception("Health check %s failed", name)
        return Check(name, False, CHECK_FAILED)


def health_report() -> HealthReport:
    database = check_database()
    checks = [database, check_broker()]
    if database.ok:
        now = timezone.now()
        checks += [_guarded("worker", lambda: check_workers(now=now)), _guarded("beat", lambda: check_beat(now=now))]
    else:
        # The heartbeats live in the database: unknown, so not shown as up.
        checks += [Check("worker", False, DATABASE_DOWN), Check("beat", False, DATABASE_DOWN)]
    return HealthReport(checks)


# ------------------------------------------------------------------------------
# Figures for /metrics
# ------------------------------------------------------------------------------
@dataclass(frozen=True)
class BudgetFigure:
    connection: str
    location_id: str
    limit: int
    used: int


@dataclass(frozen=True)
class Figures:
    runs_by_status: dict[str, int]
    records_processed: int
    records_failed: int
    budgets: list[BudgetFigure]
    queue_depth: dict[str, int]
    workers: list[tuple[str, float]]  # (name, seconds since its heartbeat)
    beat_age: float | None
    scrape_seconds: float


def run_counts() -> tuple[dict[str, int], int, int]:
    """Runs by status (every status, 0 when none) and the records processed and failed over all runs."""
    counts = {status: 0 for status in SyncRun.Status.values}
    for row in SyncRun.objects.values("status").annotate(n=Count("id")).order_by():
        counts[row["status"]] = row["n"]
    sums = SyncRun.objects.aggregate(processed=Sum("processed"), failed=Sum("failed"))
    return counts, int(sums["processed"] or 0), int(sums["failed"] or 0)


def ghl_budgets_today(*, now: datetime | None = None) -> list[BudgetFigure]:
    """Each GHL connection's daily request budget as GHL last reported it today (none yet today: left out)."""
    today = timezone.localdate(now or timezone.now())
    connections = list(Connection.objects.filter(system=System.GHL).order_by("name"))
    budgets = ratelimit.daily_budgets(list({f"ghl:{c.location_id}" for c in connections}))
    result = []
    for c in connections:
        budget = budgets.get(f"ghl:{c.location_id}")
        if budget is not None and timezone.localdate(budget.seen_at) == today:
            result.append(
                BudgetFigure(connection=c.name, location_id=c.location_id, limit=budget.limit, used=budget.used)
            )
    return result


def queue_depth() -> dict[str, int]:
    """Messages waiting in each of the worker queues, when the broker can say so cheaply (empty when it cannot)."""
    from config.celery import app

    names = sorted({app.conf.task_default_queue, *app.amqp.queues.keys()})
    depth: dict[str, int] = {}
    try:
        with _broker_connection() as conn:
            channel = conn.default_channel
            for name in names:
                try:
                    depth[name] = int(channel.queue_declare(queue=name, passive=True).message_count)
                except Exception:  # noqa: BLE001 - a queue nobody declared yet holds nothing
                    depth[name] = 0
                    channel = conn.channel()
    except Exception:
        logger.warning("Metrics: the broker did not say its queue depth", exc_info=True)
        return {}
    return depth


def figures() -> Figures:
    started = time.monotonic()
    now = timezone.now()
    counts, processed, failed = run_counts()
    workers = [(row.name, _age(row.seen_at, now) or 0.0) for row in heartbeats(kind=ProcessHeartbeat.Kind.WORKER)]
    beats = heartbeats(kind=ProcessHeartbeat.Kind.BEAT)
    return Figures(
        runs_by_status=counts,
        records_processed=processed,
        records_failed=failed,
        budgets=ghl_budgets_today(now=now),
        queue_depth=queue_depth(),
        workers=workers,
        beat_age=_age(beats[0].seen_at, now) if beats else None,
        scrape_seconds=time.monotonic() - started,
    )
