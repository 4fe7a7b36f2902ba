"""The admin at scale: every list, filter and search of record history, the runs list and the links list, timed
in-process (django.test.Client as a superuser: the server's time, no browser) over a history table of N rows.

The table is filled in SQL (PostgreSQL: INSERT … SELECT FROM generate_series; SQLite: a recursive CTE), in chunks,
then VACUUM ANALYZEd, with a realistic spread: five mappings (three one way, one the other, one both), runs of 1,000
rows, mostly skipped or updated rows with some created, failed and deleted, 2 % of runs dry runs, and a unique email,
phone and id per row (a third of the emails in mixed case, a quarter of the rows without a phone). Links: one per ten
rows. Each page: one warm-up request, then the median of three; its SQL statements are counted on one more request.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db import connection as db
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from integrations.models import Connection, RecordLink, SyncRun, System
from mappings.models import Direction, Mapping
from sandbox.benchmarks.report import Row, at_most, info

NAME = "admin"
HELP = "admin pages over a big record history (lists, filters, searches, runs, links): server time per page"
ROWS = {"default": 200_000, "100k": 1_000_000, "1m": 10_000_000}
GOAL_MS = 300.0
RUN_SIZE = 1_000
MAPPINGS = 5
CHUNK = 500_000
LINK_EVERY = 10
START = datetime(2026, 1, 1, tzinfo=UTC)

# One history row per n (0-based). Run k = n / RUN_SIZE; mapping k % 5. Portable pieces of SQL, per vendor.
_ACTION = """CASE WHEN (n * 7919) % 100 < 60 THEN 'skipped' WHEN (n * 7919) % 100 < 85 THEN 'updated'
    WHEN (n * 7919) % 100 < 95 THEN 'created' WHEN (n * 7919) % 100 < 99 THEN 'failed' ELSE 'deleted' END"""
_REASON = """CASE WHEN (n * 7919) % 100 < 60 THEN 'unchanged' WHEN (n * 7919) % 100 < 99 THEN 'matched by email'
    ELSE 'deleted on the source' END"""
_DIRECTION = """CASE WHEN (n / 1000) % 5 < 3 THEN 'to_streettext' WHEN (n / 1000) % 5 = 3 THEN 'to_ghl'
    WHEN n % 2 = 0 THEN 'to_streettext' ELSE 'to_ghl' END"""
_CHANGES = """CASE WHEN (n * 7919) % 100 >= 60 AND (n * 7919) % 100 < 85
    THEN '{"lastName": {"before": "Old", "after": "New"}}' ELSE '{}' END"""
_ERROR = "CASE WHEN (n * 7919) % 100 >= 95 AND (n * 7919) % 100 < 99 THEN 'HTTP 422: phone is invalid' ELSE '' END"
_COLUMNS = (
    "run_id, mapping_id, created_at, direction, action, reason, ghl_id, streettext_id, email, phone, changes, "
    "error, dry_run"
)
_SELECT = """SELECT {run_base} + n / 1000, {mapping_case}, {created}, {direction}, {action}, {reason},
    {ghl_id}, {st_id}, {email}, {phone}, {changes}, {error}, ((n / 1000) % 50 = 7)"""

POSTGRES_FILL = (
    f"INSERT INTO integrations_recordhistory ({_COLUMNS}) "
    + _SELECT.format(
        run_base="%(run_base)s",
        mapping_case="{mapping_case}",
        created="%(start)s::timestamptz + n * interval '1 second'",
        direction=_DIRECTION,
        action=_ACTION,
        reason=_REASON,
        ghl_id="'g' || lpad(n::text, 10, '0')",
        st_id="'st_' || n",
        email="CASE WHEN n % 3 = 0 THEN 'Person' || n || '@Example.com' ELSE 'person' || n || '@example.com' END",
        phone="CASE WHEN n % 4 = 3 THEN '' ELSE '+1' || (2000000000 + n) END",
        changes=_CHANGES + "::jsonb",
        error=_ERROR,
    )
    .replace("%", "%%")
    .replace("%%(", "%(")
    + " FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS n"
)
# Built from the constants above only (no outside text): the values are passed as parameters.
SQLITE_FILL = (
    "WITH RECURSIVE s(n) AS (SELECT %(first)s UNION ALL SELECT n + 1 FROM s WHERE n < %(last)s) "  # noqa: S608
    f"INSERT INTO integrations_recordhistory ({_COLUMNS}) "
    + _SELECT.format(
        run_base="%(run_base)s",
        mapping_case="{mapping_case}",
        created="strftime('%Y-%m-%d %H:%M:%f', %(start)s, '+' || n || ' seconds')",
        direction=_DIRECTION,
        action=_ACTION,
        reason=_REASON,
        ghl_id="'g' || printf('%010d', n)",
        st_id="'st_' || n",
        email="CASE WHEN n % 3 = 0 THEN 'Person' || n || '@Example.com' ELSE 'person' || n || '@example.com' END",
        phone="CASE WHEN n % 4 = 3 THEN '' ELSE '+1' || (2000000000 + n) END",
        changes=_CHANGES,
        error=_ERROR,
    )
    .replace("%", "%%")
    .replace("%%(", "%(")
    + " FROM s"
)
POSTGRES_LINKS = (
    "INSERT INTO integrations_recordlink (created_at, updated_at, ghl_connection_id, streettext_connection_id, "
    "object_type, ghl_id, streettext_id, origin, label, email, last_synced_at) "
    "SELECT %(start)s::timestamptz, %(start)s::timestamptz, %(ghl)s, %(st)s, 'contact', 'g' || lpad(n::text, 10, '0'), "
    "'st_' || n, '', 'Person ' || n, 'person' || n || '@example.com', %(start)s::timestamptz "
    "FROM generate_series(%(first)s::bigint, %(last)s::bigint, %(step)s) AS n"
)
SQLITE_LINKS = (
    "WITH RECURSIVE s(n) AS (SELECT %(first)s UNION ALL SELECT n + %(step)s FROM s WHERE n + %(step)s <= %(last)s) "
    "INSERT INTO integrations_recordlink (created_at, updated_at, ghl_connection_id, streettext_connection_id, "
    "object_type, ghl_id, streettext_id, origin, label, email, last_synced_at) "
    "SELECT %(start)s, %(start)s, %(ghl)s, %(st)s, 'contact', 'g' || printf('%%010d', n), 'st_' || n, '', "
    "'Person ' || n, 'person' || n || '@example.com', %(start)s FROM s"
)


@dataclass
class World:
    rows: int
    mappings: list[Mapping]
    run_ids: list[int]
    links: int


def _ghl_id(n: int) -> str:
    return f"g{n:010d}"


def fill(*, rows: int, log: Callable[[str], None]) -> World:
    """N history rows (and their runs, mappings, links) in a few large INSERT … SELECT statements."""
    ghl = Connection.objects.create(
        name="bench GHL", system=System.GHL, base_url="https://bench.invalid", location_id="bench", auth_type="pit"
    )
    st = Connection.objects.create(
        name="bench ST", system=System.STREETTEXT, base_url="https://bench.invalid", auth_type="api_key"
    )
    directions = [Direction.TO_STREETTEXT] * 3 + [Direction.TO_GHL, Direction.BOTH]
    mappings = [
        Mapping.objects.create(name=f"bench mapping {i}", ghl_connection=ghl, streettext_connection=st, direction=d)
        for i, d in enumerate(directions)
    ]
    run_count = (rows + RUN_SIZE - 1) // RUN_SIZE
    statuses = {3: SyncRun.Status.FAILED, 5: SyncRun.Status.PARTIAL}
    runs = SyncRun.objects.bulk_create(
        [
            SyncRun(
                mapping=mappings[k % MAPPINGS],
                trigger=SyncRun.Trigger.SCHEDULE,
                status=statuses.get(k % 20, SyncRun.Status.SUCCEEDED),
                dry_run=k % 50 == 7,
                created_at=START + timedelta(seconds=k * RUN_SIZE),
                started_at=START + timedelta(seconds=k * RUN_SIZE),
                finished_at=START + timedelta(seconds=(k + 1) * RUN_SIZE),
                processed=RUN_SIZE,
                total=RUN_SIZE,
                skipped=600,
                updated=250,
                created=100,
                failed=40,
                deleted=10,
            )
            for k in range(run_count)
        ],
        batch_size=5_000,
    )
    run_ids = sorted(r.pk for r in runs) if all(r.pk for r in runs) else []
    if not run_ids:
        run_ids = sorted(SyncRun.objects.filter(mapping__in=mappings).values_list("pk", flat=True))
    if run_ids[-1] - run_ids[0] != len(run_ids) - 1:
        raise RuntimeError("benchmark runs did not get consecutive ids")
    mapping_case = "CASE (n / 1000) %% 5 " + " ".join(f"WHEN {i} THEN {m.pk}" for i, m in enumerate(mappings)) + " END"
    postgres = db.vendor == "postgresql"
    sql = (POSTGRES_FILL if postgres else SQLITE_FILL).replace("{mapping_case}", mapping_case)
    start_text = START.isoformat() if postgres else START.strftime("%Y-%m-%d %H:%M:%S")
    started = time.perf_counter()
    with db.cursor() as cursor:
        if postgres:
            cursor.execute("SET synchronous_commit TO off")
        for first in range(0, rows, CHUNK):
            last = min(first + CHUNK, rows) - 1
            cursor.execute(sql, {"run_base": run_ids[0], "start": start_text, "first": first, "last": last})
            done = last + 1
            rate = done / (time.perf_counter() - started)
            log(f"history: {done:,} / {rows:,} rows ({rate:,.0f} rows/s)")
        links_sql = POSTGRES_LINKS if postgres else SQLITE_LINKS
        cursor.execute(
            links_sql, {"start": start_text, "ghl": ghl.pk, "st": st.pk, "first": 0, "last": rows - 1, "step": 10}
        )
        log(f"links: {RecordLink.objects.count():,}; {'VACUUM ANALYZE' if postgres else 'ANALYZE'}")
        # As autovacuum leaves a table in use: statistics for the planner and (PostgreSQL) the visibility map that
        # lets a count read an index alone.
        cursor.execute("VACUUM ANALYZE" if postgres else "ANALYZE")
    return World(rows=rows, mappings=mappings, run_ids=run_ids, links=(rows + LINK_EVERY - 1) // LINK_EVERY)


@dataclass(frozen=True)
class Page:
    label: str
    url: str
    expect: str = ""  # text the page must show (the row a search must find)


def pages(world: World) -> list[Page]:
    history = reverse("admin:integrations_recordhistory_changelist")
    runs = reverse("admin:integrations_syncrun_changelist")
    links = reverse("admin:integrations_recordlink_changelist")
    middle = world.rows // 2 - (world.rows // 2) % 12  # its email is stored in mixed case, and it has a phone
    run_index = middle // RUN_SIZE
    run_id = world.run_ids[run_index]
    newest_of_run = min((run_index + 1) * RUN_SIZE, world.rows) - 1
    national = 2000000000 + middle
    digits = str(national)
    phone_typed = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    linked = (world.rows // 2) // LINK_EVERY * LINK_EVERY

    def q(base: str, **params: Any) -> str:
        return f"{base}?{urlencode(params)}"

    return [
        Page("history list", history),
        Page("history list, page 50", q(history, p=50)),
        Page("one run's history", q(history, run__id__exact=run_id), _ghl_id(newest_of_run)),
        Page("one run's failed rows", q(history, run__id__exact=run_id, action__exact="failed")),
        Page("filter action=failed", q(history, action__exact="failed")),
        Page("filter action=deleted", q(history, action__exact="deleted")),
        Page("filter direction=to_ghl", q(history, direction="to_ghl")),
        Page("filter direction=to_streettext", q(history, direction="to_streettext")),
        Page("filter mapping", q(history, mapping__id__exact=world.mappings[2].pk)),
        Page("filter dry run", q(history, dry_run__exact=1)),
        Page("filter run status=failed", q(history, run__status__exact="failed")),
        Page("search email", q(history, q=f"person{middle}@example.com"), _ghl_id(middle)),
        Page("search phone", q(history, q=phone_typed), _ghl_id(middle)),
        Page("search GHL id", q(history, q=_ghl_id(middle)), f"st_{middle}"),
        Page("search StreetText id", q(history, q=f"st_{middle}"), _ghl_id(middle)),
        Page("search run id", q(history, q=f"#{run_id}"), _ghl_id(newest_of_run)),
        Page("search, nothing found", q(history, q="nobody@nowhere.example")),
        Page("run list", runs),
        Page("run list, filter mapping", q(runs, mapping__id__exact=world.mappings[0].pk)),
        Page("links list", links),
        Page("links search email", q(links, q=f"PERSON{linked}@example.com"), _ghl_id(linked)),
        Page("links search GHL id", q(links, q=_ghl_id(linked)), f"st_{linked}"),
        Page("find a record (email)", q(reverse("admin:records"), q=f"person{linked}@example.com")),
        Page("record page", q(reverse("admin:record", args=[System.GHL]), id=_ghl_id(linked)), f"st_{linked}"),
    ]


@dataclass(frozen=True)
class Timing:
    page: Page
    ms: float
    cpu_ms: float  # this process's CPU time: what the page costs when the machine is busy with other work
    queries: int
    found: bool


def time_page(client: Client, page: Page, *, repeat: int = 3) -> Timing:
    response = client.get(page.url, follow=True)  # warm-up (and the found check)
    if response.status_code != 200:
        raise RuntimeError(f"{page.label}: HTTP {response.status_code} for {page.url}")
    found = not page.expect or page.expect in response.content.decode()
    times, cpu = [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        client.get(page.url, follow=True)
        times.append(1000 * (time.perf_counter() - started))
        cpu.append(1000 * (time.process_time() - started_cpu))
    with CaptureQueriesContext(db) as queries:
        client.get(page.url, follow=True)
    return Timing(
        page=page, ms=statistics.median(times), cpu_ms=statistics.median(cpu), queries=len(queries), found=found
    )


def admin_benchmark(*, rows: int, log: Callable[[str], None]) -> tuple[float, float, list[Timing]]:
    from django.contrib.auth import get_user_model

    started = time.perf_counter()
    world = fill(rows=rows, log=log)
    fill_seconds = time.perf_counter() - started
    log(f"filled {rows:,} history rows in {fill_seconds:,.0f} s")
    user = get_user_model().objects.create_superuser("bench-admin", "bench@example.com", "bench-admin-pw")
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    timings = []
    # Wall-clock times depend on what else the machine runs: the load is reported beside them.
    load = os.getloadavg()[0]
    log(f"load average {load:.1f} on {os.cpu_count()} CPUs")
    for page in pages(world):
        timing = time_page(client, page)
        missing = "" if timing.found else " (NOT FOUND)"
        log(f"{page.label}: {timing.ms:,.0f} ms (CPU {timing.cpu_ms:,.0f} ms), {timing.queries} queries{missing}")
        timings.append(timing)
    return fill_seconds, load, timings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--admin-rows",
        type=int,
        default=None,
        help="Record-history rows (default 200,000; --size 100k: 1,000,000; --size 1m: 10,000,000).",
    )


def run(options: dict[str, Any], log: Callable[[str], None]) -> list[Row]:
    size = options.get("size") or "default"
    rows = options.get("admin_rows") or ROWS[size]
    log(f"{rows:,} record-history rows, runs of {RUN_SIZE:,}, {MAPPINGS} mappings, a link per {LINK_EVERY} rows")
    fill_seconds, load, timings = admin_benchmark(rows=rows, log=log)
    result = [
        info(NAME, f"fill {rows:,} history rows", fill_seconds, "s"),
        info(NAME, "load average when timed", load, "", f"{os.cpu_count()} CPUs"),
    ]
    for t in timings:
        detail = f"{t.queries} queries, CPU {t.cpu_ms:,.0f} ms" + ("" if t.found else ", RESULT NOT FOUND")
        result.append(at_most(NAME, t.page.label, t.ms, GOAL_MS, "ms", detail))
    return result
