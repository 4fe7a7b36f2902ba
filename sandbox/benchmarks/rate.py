"""GHL rate use under a write-heavy StreetText → GoHighLevel sync: share of GHL's allowed rate, and 429s.

For each worker count K: the sandbox server (one process, enforcing GHL's 100 / 10 s per location), K sync processes,
each syncing its own StreetText workspace into the same GHL location, governed by the backend the settings choose
(Redis when RATE_LIMIT_REDIS_URL is set or the broker is Redis, else the database). There are more contacts than the
run can create, so the workers never run dry; the figures are the sandbox's request counters over `--rate-minutes`.

The share is honest about the burst: under a sliding window of 100 / 10 s, at most 100 × ceil(T / 10 s) requests fit
in an interval of length T (the first window's burst is allowed too), so the share is requests / (100 × ceil(T / 10)),
not requests / (10 / s × T). The interval starts at the first counted GHL request (counters polled every 50 ms) and
counts the requests completed within it.
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from integrations import ratelimit
from sandbox.benchmarks import servers
from sandbox.benchmarks.report import Row, at_least, at_most, info

NAME = "rate"
HELP = "share of GHL's allowed rate and 429s in a write-heavy StreetText → GHL sync, with 1 and 4 workers"
MINUTES = {"default": 2.0, "100k": 10.0, "1m": 10.0}
GOAL_SHARE = 97.0
POLL_SECONDS = 0.05
END_EARLY_SECONDS = 1.0
WINDOW_FULL = ratelimit.MSG_WINDOW_FULL.split("%s")[0]
# Contacts seeded per second of the run: more than the allowed ~10 GHL requests a second can create.
RECORDS_PER_SECOND = 13


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate-minutes", type=float, default=None, help="Length of each run (default per --size).")
    parser.add_argument("--rate-workers", default="1,4", help="Comma-separated worker counts, one run each.")


def _worker_counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or any(not 1 <= k <= 16 for k in counts):
        raise ValueError("--rate-workers: comma-separated counts between 1 and 16")
    return counts


def honest_share(requests: int, seconds: float) -> tuple[float, int]:
    """(percent of the most a sliding GHL window lets through in `seconds`, that most)."""
    limit, window = settings.GHL_RATE_LIMIT_MAX, settings.GHL_RATE_LIMIT_WINDOW_SECONDS
    allowed = limit * max(1, math.ceil(seconds / window - 1e-9))
    return 100.0 * requests / allowed, allowed


def _ghl(stats: dict[str, dict[str, int]]) -> tuple[int, int]:
    ghl = stats.get("ghl", {})
    return int(ghl.get("requests", 0)), int(ghl.get("status_429", 0))


def measure(
    server: servers.SandboxServer, *, workers: int, seconds: float, workdir: Path, log: Callable[[str], None]
) -> list[Row]:
    tag = f"rate{workers}-{uuid.uuid4().hex[:6]}"
    records = math.ceil(seconds * RECORDS_PER_SECOND)
    seeded = servers.seed_streettext_to_ghl(records=records, workers=workers, base_url=server.base_url, tag=tag)
    server.reset_counters()
    env = servers.process_env(key_prefix=f"bench-{tag}:")
    logs = [workdir / f"{tag}-worker{i}.log" for i in range(workers)]
    procs = [servers.start_worker(m, env, path) for m, path in zip(seeded.mapping_ids, logs, strict=True)]
    try:
        deadline = time.monotonic() + servers.SERVER_START_TIMEOUT
        start = time.monotonic()
        first = server.stats()
        while _ghl(first)[0] == 0:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise servers.BenchmarkError(f"no GHL request from the workers:\n{servers.worker_result(logs[0])}")
            time.sleep(POLL_SECONDS)
            start = time.monotonic()
            first = server.stats()
        log(f"{workers} worker(s): measuring {seconds:.0f} s from the first GHL request ({records:,} contacts)")
        # Read the counters a second before the interval ends: a read that ended a few ms after it would start another
        # window, and the honest allowance would jump by 100.
        time.sleep(max(0.0, start + seconds - END_EARLY_SECONDS - time.monotonic()))
        last = server.stats()
        elapsed = time.monotonic() - start
        ended = [p for p in procs if p.poll() is not None]
        if ended:  # a worker that stopped early (failed, or ran out of contacts) makes the figures meaningless
            path = logs[procs.index(ended[0])]
            raise servers.BenchmarkError(f"a sync worker ended before the run did: {servers.worker_result(path)}")
    finally:
        for proc in procs:
            servers.stop(proc)
        _forget_governor_keys(f"bench-{tag}:")
    pauses = sum(path.read_text(errors="replace").count(WINDOW_FULL) for path in logs)
    sent = _ghl(last)[0] - _ghl(first)[0]
    too_many = _ghl(last)[1] - _ghl(first)[1]
    st_429 = int(last.get("streettext", {}).get("status_429", 0))
    share, allowed = honest_share(sent, elapsed)
    label = f"{workers} worker{'s' if workers > 1 else ''}, {ratelimit.backend_name()} governor"
    return [
        at_least(NAME, f"share of allowed rate ({label})", share, GOAL_SHARE, "%", f"{sent:,} of {allowed:,}"),
        at_most(NAME, f"GHL 429s ({label})", too_many, 0, detail=f"StreetText 429s: {st_429}" if st_429 else ""),
        info(NAME, f"GHL requests ({label})", sent),
        info(NAME, f"window-full pauses ({label})", pauses, detail="answers with X-RateLimit-Remaining: 0"),
        info(NAME, f"duration ({label})", elapsed, "s"),
    ]


def _forget_governor_keys(prefix: str) -> None:
    """Drop the run's windows and learned limits from Redis (the database's go with the throwaway database)."""
    if ratelimit.backend_name() != "redis":
        return
    import redis

    try:
        client = redis.Redis.from_url(settings.RATE_LIMIT_REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
        keys = list(client.scan_iter(match=f"{{{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass


def run(options: dict[str, Any], log: Callable[[str], None]) -> list[Row]:
    minutes = options.get("rate_minutes") or MINUTES[options.get("size") or "default"]
    counts = _worker_counts(options.get("rate_workers") or "1,4")
    workdir = Path(tempfile.mkdtemp(prefix="streetsync-rate-"))
    rows: list[Row] = []
    try:
        with servers.SandboxServer(workdir / "server.log") as server:
            for workers in counts:
                rows += measure(server, workers=workers, seconds=minutes * 60, workdir=workdir, log=log)
    except servers.BenchmarkError as e:
        log(f"kept the logs in {workdir}")
        raise RuntimeError(str(e)) from e
    shutil.rmtree(workdir, ignore_errors=True)
    return rows
