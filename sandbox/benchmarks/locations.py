"""Fairness between GHL locations: N locations, each with M StreetText contacts to create in it, synced at once by
Celery workers started as two machines would start them.

The sandbox server holds every location in live mode (a latency per answer, GHL's own 100 / 10 s per location;
`--locations-latency`, deviations off: their handling is measured by the reliability suite). Two groups of worker
processes (`celery worker -n fair-a@bench-host-a`, `-n fair-b@bench-host-b`, `--locations-workers` processes in all)
share the benchmark's database, the broker (on a queue of the benchmark's own) and the rate-limit governor. One
StreetText → GHL run per location is requested at t0, all at once; the section waits until every run has ended.

Per location: its GHL requests and 429s (the sandbox's per-location counters), its run's start (first claim) and end.
Reported: the share of the location's allowed rate (10 requests / s) while its run was active (start → end) and
while a worker was on it (the sum of its turns' task durations, from the workers' logs), the slowest and the fastest
location's finish time from t0 and their ratio, and every 429. With far more locations than workers, a location's
rate while active is the workers' total rate shared between the locations: the 95 % goal there is reachable only
while workers × what one worker sends ≥ locations × 10 / s (docs/performance.md has the figures and the projection).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections

from sandbox.benchmarks import servers
from sandbox.benchmarks.report import Row, at_least, at_most, info

NAME = "locations"
HELP = "fairness between GHL locations: N locations x M contacts, workers on two hosts, per-location rate and finish"
SIZE = {"default": (20, 50), "100k": (100, 200), "1m": (100, 2000)}
# A turn is a page: small pages give a small run several turns (20 x 50 in pages of 10: 5 turns per location, as a
# 500-contact location has with the engine's default pages of 100).
PAGE_SIZE = 10
GOAL_SHARE = 95.0
GOAL_FINISH_RATIO = 1.5
POLL_SECONDS = 1.0
LOG_EVERY_SECONDS = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--locations", type=int, default=None, help="GHL locations (default per --size).")
    parser.add_argument("--locations-contacts", type=int, default=None, help="StreetText contacts per location.")
    parser.add_argument("--locations-workers", type=int, default=4, help="Worker processes, split over two hosts.")
    parser.add_argument(
        "--locations-latency", default="0.15,0.6", help="GHL latency per answer: low,high seconds (default 150-600 ms)."
    )
    parser.add_argument(
        "--locations-fair", choices=("on", "off"), default="on", help="SYNC_FAIR_TURNS of the workers (off: compare)."
    )
    parser.add_argument(
        "--locations-page-size", type=int, default=PAGE_SIZE, help="SYNC_PAGE_SIZE of the workers (a turn is a page)."
    )
    parser.add_argument("--locations-keep-logs", action="store_true", help="Keep the workers' and server's logs.")
    parser.add_argument("--locations-timeout", type=float, default=30.0, help="Minutes to wait for every run.")


@dataclass(frozen=True)
class Shape:
    """What was run: locations x contacts, page size, worker processes, GHL latency, fair turns on or off."""

    n: int
    m: int
    page: int
    workers: int
    latency: tuple[float, float]
    fair: bool

    @property
    def label(self) -> str:
        low, high = (round(v * 1000) for v in self.latency)
        text = f"{self.n} x {self.m}, pages of {self.page}, {self.workers} workers on 2 hosts, {low}-{high} ms"
        return text if self.fair else f"{text}, fair turns off"


@dataclass(frozen=True)
class Location:
    location: str
    mapping_id: int


def seed(*, locations: int, contacts: int, base_url: str, tag: str, latency: tuple[float, float]) -> list[Location]:
    """`locations` GHL locations in live mode, each with a StreetText workspace of `contacts` contacts and a
    StreetText → GHL contacts mapping into it."""
    from integrations.models import System
    from mappings.models import Direction
    from mappings.services import mapping_create_with_defaults
    from sandbox import services as sandbox
    from sandbox.connections import sandbox_connection

    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    seeded = []
    for index in range(locations):
        name = f"{tag}-{index:03d}"
        location, token, key = f"loc-{name}", f"pit-{name}", f"st-{name}"
        sandbox.sandbox_account_create(system="ghl", account_id=location, secret=token, name=f"Location {name}")
        sandbox.sandbox_set_live(location=location, latency=latency, deviations=())
        account = sandbox.sandbox_account_create(
            system="streettext", account_id=f"ws_{name}", secret=key, name=f"Workspace {name}"
        )
        rows = []
        for n in range(contacts):
            rows.append(
                servers.streettext_contact_row(
                    account,
                    f"ct_{name}_{n:06d}",
                    first=f"Fair{n}",
                    last=f"Location{index}",
                    email=f"fair{n}.{index}@example.com",
                    phone=f"+1415{5550000 + (index * contacts + n) % 4_000_000:07d}",
                    when=start + timedelta(milliseconds=n),
                )
            )
        sandbox.sandbox_records_bulk_create(records=rows)
        ghl = sandbox_connection(
            system=System.GHL, name=f"GHL {name}", base_url=base_url, secret=token, location_id=location
        )
        st = sandbox_connection(system=System.STREETTEXT, name=f"StreetText {name}", base_url=base_url, secret=key)
        mapping = mapping_create_with_defaults(
            name=f"Contacts {name}", ghl_connection=ghl, streettext_connection=st, direction=Direction.TO_GHL
        )
        seeded.append(Location(location=location, mapping_id=mapping.pk))
    connections.close_all()
    return seeded


def start_worker_group(
    *, name: str, host: str, processes: int, env: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """One `celery worker` with its own node name and host name, as on a machine of its own."""
    with log_path.open("wb") as log:
        return subprocess.Popen(  # noqa: S603 - our own Celery app with fixed arguments
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-n",
                f"{name}@{host}",
                "-c",
                str(processes),
                "-P",
                "prefork",
                "-l",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=settings.BASE_DIR,
            env={**env, "HOSTNAME": host},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _latency(text: str) -> tuple[float, float]:
    low, high = (float(part) for part in text.split(","))
    if not 0 <= low <= high <= 60:
        raise ValueError("--locations-latency: low,high seconds with 0 <= low <= high <= 60")
    return low, high


def _broker_url() -> str:
    url = str(settings.CELERY_BROKER_URL)
    if url.startswith("memory://"):
        raise servers.BenchmarkError("the locations section needs a broker other processes share (Redis, RabbitMQ)")
    return url


def run(options: dict[str, Any], log: Callable[[str], None]) -> list[Row]:
    from celery import current_app

    from integrations.models import RecordHistory, SyncRun
    from integrations.services.runs import sync_run_request
    from mappings.models import Mapping
    from sandbox.benchmarks.rate import _forget_governor_keys

    default_n, default_m = SIZE[options.get("size") or "default"]
    n = options.get("locations") or default_n
    m = options.get("locations_contacts") or default_m
    workers = max(2, int(options.get("locations_workers") or 4))
    latency = _latency(options.get("locations_latency") or "0.15,0.6")
    fair = (options.get("locations_fair") or "on") == "on"
    timeout = float(options.get("locations_timeout") or 30.0) * 60
    page = int(options.get("locations_page_size") or PAGE_SIZE)
    tag = f"fair{uuid.uuid4().hex[:5]}"
    queue = f"bench-{tag}"
    workdir = Path(tempfile.mkdtemp(prefix="streetsync-locations-"))
    broker = _broker_url()
    procs: list[subprocess.Popen[bytes]] = []
    key_prefix = f"bench-{tag}:"
    try:
        # A connection per request: runserver answers each on a thread of its own, and thousands of threads keeping
        # their connection (as the rate section's server does) would exhaust a shared PostgreSQL's connections.
        with servers.SandboxServer(workdir / "server.log", DJANGO_CONN_MAX_AGE="0") as server:
            log(f"seeding {n} locations x {m} contacts (latency {latency[0]:g}-{latency[1]:g} s) ...")
            located = seed(locations=n, contacts=m, base_url=server.base_url, tag=tag, latency=latency)
            server.reset_counters()
            env = servers.process_env(
                key_prefix=key_prefix,
                CELERY_BROKER_URL=broker,
                CELERY_TASK_DEFAULT_QUEUE=queue,
                SYNC_FAIR_TURNS="true" if fair else "false",
                SYNC_PAGE_SIZE=str(page),
                DJANGO_LOG_LEVEL="INFO",
            )
            half = workers // 2
            for group, (host, processes) in enumerate((("bench-host-a", half), ("bench-host-b", workers - half))):
                name = f"fair-{'ab'[group]}"
                procs.append(
                    start_worker_group(
                        name=name, host=host, processes=processes, env=env, log_path=workdir / f"{name}.log"
                    )
                )
            # This process sends the runs' tasks to the benchmark's queue on the shared broker (its own setting).
            current_app.conf.task_default_queue = queue
            _wait_for_workers(workdir, procs, log)
            t0 = time.time()
            run_ids = [
                sync_run_request(mapping=Mapping.objects.get(pk=loc.mapping_id), trigger=SyncRun.Trigger.MANUAL).pk
                for loc in located
            ]
            log(f"{len(run_ids)} runs queued on {queue} for {workers} worker processes on two hosts (fair: {fair})")
            deadline, next_log = time.monotonic() + timeout, time.monotonic() + LOG_EVERY_SECONDS
            while True:
                active = SyncRun.objects.filter(pk__in=run_ids, status__in=SyncRun.ACTIVE_STATUSES).count()
                if not active:
                    break
                if any(p.poll() is not None for p in procs):
                    raise servers.BenchmarkError(f"a worker group exited; logs in {workdir}")
                if time.monotonic() > deadline:
                    raise servers.BenchmarkError(f"{active} runs still active after {timeout / 60:.0f} min")
                if time.monotonic() > next_log:
                    done = SyncRun.objects.filter(pk__in=run_ids).values_list("processed", flat=True)
                    log(f"{time.time() - t0:.0f} s: {active} runs active, {sum(done):,} of {n * m:,} contacts done")
                    next_log += LOG_EVERY_SECONDS
                time.sleep(POLL_SECONDS)
            elapsed = time.time() - t0
            stats = server.stats().get("ghl", {})
            connections.close_all()
            runs = {r.mapping_id: r for r in SyncRun.objects.filter(pk__in=run_ids)}
            served = served_seconds(sorted(workdir.glob("fair-*.log")))
            failures = RecordHistory.objects.filter(run_id__in=run_ids).exclude(error="")
            errors = {r.error for r in runs.values() if r.error} | set(failures.values_list("error", flat=True)[:50])
            for error in sorted(errors)[:5]:
                log(f"error: {error[:300]}")
    except servers.BenchmarkError as e:
        log(f"kept the logs in {workdir}")
        raise RuntimeError(str(e)) from e
    finally:
        for proc in procs:
            servers.stop(proc)
        _forget_governor_keys(key_prefix)
        _forget_queue(broker, queue)
    if options.get("locations_keep_logs"):
        log(f"worker and server logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    shape = Shape(n=n, m=m, page=page, workers=workers, latency=latency, fair=fair)
    return figures(located, runs, stats, served, t0=t0, elapsed=elapsed, shape=shape)


def _forget_queue(broker: str, queue: str) -> None:
    """Drop the run's queue and Kombu's bindings of it from a Redis broker (they outlive the workers)."""
    if not broker.startswith(("redis://", "rediss://")):
        return
    import redis

    try:
        client = redis.Redis.from_url(broker, socket_timeout=5, socket_connect_timeout=5)
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    except redis.RedisError:
        pass


def _wait_for_workers(workdir: Path, procs: list[subprocess.Popen[bytes]], log: Callable[[str], None]) -> None:
    deadline = time.monotonic() + servers.SERVER_START_TIMEOUT
    logs = sorted(workdir.glob("fair-*.log"))
    while time.monotonic() < deadline:
        if all(" ready." in path.read_text(errors="replace") for path in logs):
            log("both worker groups are ready")
            return
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.5)
    raise servers.BenchmarkError(f"the worker groups did not start; logs in {workdir}")


# Celery's line for each task that ended: how long the worker held the run in that turn.
TASK_DONE = re.compile(r"succeeded in ([0-9.]+)s: \{'run': ([0-9]+)")


def served_seconds(logs: list[Path]) -> dict[int, float]:
    """Per run id, the seconds workers spent on it (the sum of its tasks' durations, from the workers' logs)."""
    served: dict[int, float] = {}
    for path in logs:
        for seconds, run_id in TASK_DONE.findall(path.read_text(errors="replace")):
            served[int(run_id)] = served.get(int(run_id), 0.0) + float(seconds)
    return served


def figures(
    located: list[Location],
    runs: dict[int, Any],
    stats: dict[str, int],
    served: dict[int, float],
    *,
    t0: float,
    elapsed: float,
    shape: Shape,
) -> list[Row]:
    from sandbox.benchmarks.rate import honest_share
    from sandbox.live import location_counter

    shares, served_shares, finishes, too_many, requests, turns, failed = [], [], [], 0, 0, 0, 0
    for loc in located:
        run = runs[loc.mapping_id]
        sent = int(stats.get(location_counter(loc.location), 0))
        refused = int(stats.get(location_counter(loc.location, "429"), 0))
        requests += sent
        too_many += refused
        turns += run.turns
        failed += run.failed + (0 if run.status in ("succeeded", "partial") else 1)
        busy = max((run.finished_at - run.started_at).total_seconds(), 0.001)
        # Honest about the burst (sandbox/benchmarks/rate.py): GHL's sliding window lets 100 x ceil(T / 10 s) through
        # in T, so a short run is not credited with more than its windows allowed.
        shares.append(honest_share(sent, busy)[0])
        if served.get(run.pk):
            served_shares.append(honest_share(sent, served[run.pk])[0])
        finishes.append(run.finished_at.timestamp() - t0)
    label, n = shape.label, shape.n
    ratio = max(finishes) / max(min(finishes), 0.001)
    busy_ok = sum(1 for s in shares if s >= GOAL_SHARE)
    return [
        at_least(
            NAME,
            f"lowest location's share of its allowed rate while active ({label})",
            min(shares),
            GOAL_SHARE,
            "%",
            f"median {statistics.median(shares):.1f} %, highest {max(shares):.1f} %; {busy_ok} of {n} at >= 95 %",
        ),
        at_least(
            NAME,
            f"lowest location's share of its allowed rate while a worker was on it ({label})",
            min(served_shares or [0.0]),
            GOAL_SHARE,
            "%",
            f"median {statistics.median(served_shares or [0.0]):.1f} %; {len(served_shares)} locations timed",
        ),
        at_most(NAME, f"GHL 429s ({label})", too_many, 0),
        at_most(
            NAME,
            f"slowest / fastest location's finish ({label})",
            ratio,
            GOAL_FINISH_RATIO,
            detail=f"fastest {min(finishes):.0f} s, slowest {max(finishes):.0f} s after t0",
        ),
        info(NAME, f"GHL requests per second, all locations ({label})", requests / elapsed, "/s"),
        info(NAME, f"GHL requests ({label})", requests, detail=f"{elapsed:.0f} s; {turns:,} turns; {failed} failed"),
    ]
