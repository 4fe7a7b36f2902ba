"""GHL at its real latency: how much of GHL's allowed rate a write-heavy StreetText → GHL sync uses when every GHL
answer takes 300 ms, and how long an initial sync of 100k contacts takes against the limit's floor.

The sandbox server (one process) has the GHL location in live mode (sandbox/live.py) at a fixed latency (300 ms by
default) with GHL's own limits (100 / 10 s, the daily one), and none of the live deviations (they are about answers'
shapes, not speed). Sync processes (benchmarks/worker.py, the engine as a Celery task runs it) share the location
through the governor the settings choose; each writes a page's records several at once (SYNC_WRITE_CONCURRENCY).

- rate runs (1 and 4 processes, `--latency-records` contacts between them): the share of GHL's allowed rate over the
  whole 10-second windows from the first GHL request (counters polled every 50 ms; under a sliding window of 100 / 10 s
  at most 100 × k requests fit in k windows), and the 429s;
- initial sync (`--latency-initial` contacts, 1 process): its GHL requests per contact and its duration against the
  floor, contacts × requests per contact / 10 per s; at a constant rate (the engine's cost per page does not grow
  with the data, see the engine section), 100k contacts take 100k / n times as long, so the measured duration ÷ the
  floor is also the 100k projection's.
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from django.db import connections

from integrations import ratelimit
from sandbox.benchmarks import servers
from sandbox.benchmarks.rate import WINDOW_FULL, _forget_governor_keys
from sandbox.benchmarks.report import Row, at_least, at_most, info

NAME = "latency"
HELP = "GHL at a fixed 300 ms latency: share of the allowed rate with 1 and 4 workers, initial sync vs the floor"
RECORDS = {"default": 1_500, "100k": 2_000, "1m": 2_000}
INITIAL = {"default": 2_000, "100k": 10_000, "1m": 10_000}
GOAL_SHARE = 95.0
GOAL_FLOOR_RATIO = 1.05
POLL_SECONDS = 0.05
RUN_TIMEOUT = 4 * 3600.0
PROJECTED = 100_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--latency-ms", type=float, default=300.0, help="Every GHL answer's latency (default 300).")
    parser.add_argument("--latency-records", type=int, default=None, help="Contacts of each rate run.")
    parser.add_argument(
        "--latency-workers", default="1,4", help='Comma-separated worker counts, one rate run each ("": none).'
    )
    parser.add_argument("--latency-initial", type=int, default=None, help="Contacts of the initial sync (0: none).")


def _ghl(stats: dict[str, dict[str, int]]) -> tuple[int, int]:
    ghl = stats.get("ghl", {})
    return int(ghl.get("requests", 0)), int(ghl.get("status_429", 0))


def _live(server: servers.SandboxServer, location: str, latency: float) -> None:
    """The location in live mode at a fixed latency, no deviations (through the server: its caches forget at once)."""
    body = {"location": location, "latency": [latency, latency], "deviations": []}
    requests.post(f"{server.base_url}/sandbox/_control/live", json=body, timeout=30).raise_for_status()


def _sync(
    server: servers.SandboxServer, *, records: int, workers: int, latency: float, workdir: Path, tag: str
) -> dict[str, Any]:
    """`workers` processes syncing `records` contacts into one live location; the counters sampled all along."""
    seeded = servers.seed_streettext_to_ghl(records=records, workers=workers, base_url=server.base_url, tag=tag)
    _live(server, seeded.location, latency)
    server.reset_counters()
    env = servers.process_env(key_prefix=f"bench-{tag}:")
    logs = [workdir / f"{tag}-worker{i}.log" for i in range(workers)]
    procs = [servers.start_worker(m, env, path) for m, path in zip(seeded.mapping_ids, logs, strict=True)]
    samples: list[tuple[float, int, int]] = []
    deadline = time.monotonic() + RUN_TIMEOUT
    try:
        while any(p.poll() is None for p in procs):
            if time.monotonic() > deadline:
                raise servers.BenchmarkError(f"the sync did not finish within {RUN_TIMEOUT:.0f} s")
            sent, too_many = _ghl(server.stats())
            samples.append((time.monotonic(), sent, too_many))
            time.sleep(POLL_SECONDS)
        ended = time.monotonic()
    finally:
        for proc in procs:
            if proc.poll() is None:
                servers.stop(proc)
        _forget_governor_keys(f"bench-{tag}:")
    results = [servers.worker_result(path) for path in logs]
    for result in results:
        if result["status"] != "succeeded" or result["created"] != result["processed"]:
            raise servers.BenchmarkError(f"a sync did not create every contact: {result}")
    final = server.stats()
    sent, too_many = _ghl(final)
    first = next((t for t, n, _ in samples if n > 0), None)
    if first is None:
        raise servers.BenchmarkError("no GHL request was counted")
    # Whole 10-second windows from the first request, read half a second before the last one ends (a read a few ms
    # after it would start another window).
    window = float(settings.GHL_RATE_LIMIT_WINDOW_SECONDS)
    windows = math.floor((ended - first) / window)
    cut = first + windows * window - 0.5
    in_windows = max((n for t, n, _ in samples if t <= cut), default=0)
    pauses = sum(path.read_text(errors="replace").count(WINDOW_FULL) for path in logs)
    return {
        "records": records,
        "sent": sent,
        "too_many": too_many,
        "duration": ended - first,
        "windows": windows,
        "in_windows": in_windows,
        "pauses": pauses,
        "run_seconds": max(r["finished"] for r in results) - min(r["started"] for r in results),
    }


def _rate_rows(figures: dict[str, Any], workers: int, latency_ms: float) -> list[Row]:
    label = f"{workers} worker{'s' if workers > 1 else ''}, {latency_ms:.0f} ms, {ratelimit.backend_name()} governor"
    allowed = settings.GHL_RATE_LIMIT_MAX * figures["windows"]
    share = 100.0 * figures["in_windows"] / allowed if allowed else 0.0
    per_second = figures["sent"] / figures["duration"] if figures["duration"] else 0.0
    return [
        at_least(
            NAME,
            f"share of allowed rate ({label})",
            share,
            GOAL_SHARE,
            "%",
            f"{figures['in_windows']:,} of {allowed:,} in {figures['windows']} windows",
        ),
        at_most(NAME, f"GHL 429s ({label})", figures["too_many"], 0),
        info(
            NAME,
            f"GHL requests per second, whole run ({label})",
            per_second,
            detail=f"{figures['sent']:,} requests, {figures['records']:,} contacts in {figures['duration']:.1f} s",
        ),
        info(NAME, f"window-full pauses ({label})", figures["pauses"]),
    ]


def _initial_rows(figures: dict[str, Any], latency_ms: float) -> list[Row]:
    records, sent = figures["records"], figures["sent"]
    per_contact = sent / records
    per_second = settings.GHL_RATE_LIMIT_MAX / settings.GHL_RATE_LIMIT_WINDOW_SECONDS
    floor = records * per_contact / per_second
    measured = figures["run_seconds"]
    ratio = measured / floor
    projected = measured * PROJECTED / records
    return [
        at_most(
            NAME,
            f"initial sync ÷ the limit's floor ({records:,} contacts, {latency_ms:.0f} ms)",
            ratio,
            GOAL_FLOOR_RATIO,
            "×",
            f"{measured:.0f} s against {floor:.0f} s = {records:,} × {per_contact:.3f} requests / {per_second:g} per s",
        ),
        info(
            NAME,
            f"initial sync of {PROJECTED:,} contacts, projected",
            projected / 3600,
            "h",
            f"floor {PROJECTED * per_contact / per_second / 3600:.2f} h; 429s {figures['too_many']}",
        ),
        info(NAME, "GHL requests per created contact (initial sync)", per_contact),
    ]


def run(options: dict[str, Any], log: Callable[[str], None]) -> list[Row]:
    size = options.get("size") or "default"
    records = options.get("latency_records") or RECORDS[size]
    initial = INITIAL[size] if options.get("latency_initial") is None else options["latency_initial"]
    latency_ms = float(options.get("latency_ms") or 300.0)
    workers = options.get("latency_workers")
    counts = [int(part) for part in str("1,4" if workers is None else workers).split(",") if part.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="streetsync-latency-"))
    rows: list[Row] = [info(NAME, "writes in flight per sync process (SYNC_WRITE_CONCURRENCY)", _concurrency())]
    try:
        with servers.SandboxServer(workdir / "server.log") as server:
            for workers in counts:
                log(f"{workers} worker(s): {records:,} contacts into one GHL location at {latency_ms:.0f} ms")
                tag = f"lat{workers}-{uuid.uuid4().hex[:6]}"
                figures = _sync(
                    server, records=records, workers=workers, latency=latency_ms / 1000, workdir=workdir, tag=tag
                )
                rows += _rate_rows(figures, workers, latency_ms)
            if initial:
                log(f"initial sync: {initial:,} contacts, 1 worker, at {latency_ms:.0f} ms")
                tag = f"init-{uuid.uuid4().hex[:6]}"
                figures = _sync(server, records=initial, workers=1, latency=latency_ms / 1000, workdir=workdir, tag=tag)
                rows += _initial_rows(figures, latency_ms)
    except (servers.BenchmarkError, subprocess.SubprocessError) as e:
        log(f"kept the logs in {workdir}")
        raise RuntimeError(str(e)) from e
    finally:
        connections.close_all()
    shutil.rmtree(workdir, ignore_errors=True)
    return rows


def _concurrency() -> int:
    return int(settings.SYNC_WRITE_CONCURRENCY)
