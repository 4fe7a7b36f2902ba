"""GHL calls per record, and the sandbox's own cost per request, with rate limits off.

N StreetText contacts are synced into an empty GHL location (creates), then one field is changed on each in StreetText
and synced again (updates). The GHL requests of each sync come from the sandbox's request counters; the sandbox
server's CPU (utime + stime of its process) over both syncs, divided by the requests it answered (GHL and
StreetText), is its cost per request.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.db import connections

from sandbox.benchmarks import servers
from sandbox.benchmarks.report import Row, at_most, info

NAME = "calls"
HELP = "GHL requests per created and per updated contact (limits off), and the sandbox's CPU per request"
RECORDS = {"default": 300, "100k": 1_000, "1m": 1_000}
GOALS = {"per_create": 1.2, "per_update": 1.2, "sandbox_cpu_ms": 5.0}
SYNC_TIMEOUT = 1800.0
# Limits off: the figures are about the engine's calls, not the governor's waits.
UNLIMITED = {"SANDBOX_RATE_LIMIT": "1000000", "SANDBOX_STREETTEXT_RATE_LIMIT": "1000000"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls-records", type=int, default=None, help="StreetText contacts created, then updated.")


def _sync(server: servers.SandboxServer, mapping_id: int, log_path: Path) -> tuple[dict[str, Any], int, int]:
    """One sync in a worker process: (its figures, GHL requests, all requests the sandbox answered)."""
    server.reset_counters()
    env = servers.process_env(RATE_LIMIT_BACKEND="off", STREETTEXT_RATE_LIMIT_MAX="0")
    proc = servers.start_worker(mapping_id, env, log_path)
    try:
        proc.wait(timeout=SYNC_TIMEOUT)
    except subprocess.TimeoutExpired:
        servers.stop(proc)
        raise servers.BenchmarkError(f"the sync did not finish within {SYNC_TIMEOUT:.0f} s") from None
    result = servers.worker_result(log_path)
    stats = server.stats()
    ghl = int(stats.get("ghl", {}).get("requests", 0))
    return result, ghl, ghl + int(stats.get("streettext", {}).get("requests", 0))


def touch_streettext_contacts(*, tag: str) -> int:
    """Change one mapped field (the last name) on every StreetText contact of the benchmark's workspaces."""
    from sandbox import services as sandbox
    from sandbox.models import SandboxRecord

    touched = 0
    records = SandboxRecord.objects.filter(account__account_id__startswith=f"ws_{tag}_", object_type="contact")
    for record in records.select_related("account").order_by("pk"):
        data = {**record.data, "last_name": f"{record.data.get('last_name') or ''}-Jones"}
        sandbox.sandbox_record_put(account=record.account, object_type="contact", record_id=record.record_id, data=data)
        touched += 1
    connections.close_all()
    return touched


def run(options: dict[str, Any], log: Callable[[str], None]) -> list[Row]:
    records = options.get("calls_records") or RECORDS[options.get("size") or "default"]
    workdir = Path(tempfile.mkdtemp(prefix="streetsync-calls-"))
    tag = f"calls-{uuid.uuid4().hex[:6]}"
    try:
        with servers.SandboxServer(workdir / "server.log", **UNLIMITED) as server:
            seeded = servers.seed_streettext_to_ghl(records=records, workers=1, base_url=server.base_url, tag=tag)
            mapping_id = seeded.mapping_ids[0]
            cpu_before = server.cpu_seconds()
            log(f"{records:,} StreetText contacts → GHL: creates")
            created, ghl_creates, all_creates = _sync(server, mapping_id, workdir / "create.log")
            touched = touch_streettext_contacts(tag=tag)
            log(f"{touched:,} contacts changed in StreetText → GHL: updates")
            updated, ghl_updates, all_updates = _sync(server, mapping_id, workdir / "update.log")
            cpu = server.cpu_seconds() - cpu_before
    except servers.BenchmarkError as e:
        log(f"kept the logs in {workdir}")
        raise RuntimeError(str(e)) from e
    shutil.rmtree(workdir, ignore_errors=True)
    if created["created"] != records or updated["updated"] != records:
        raise RuntimeError(f"calls benchmark: expected {records} creates and updates, got {created} and {updated}")
    served = all_creates + all_updates
    return [
        at_most(NAME, f"GHL calls per created contact ({records:,})", ghl_creates / records, GOALS["per_create"]),
        at_most(NAME, f"GHL calls per updated contact ({records:,})", ghl_updates / records, GOALS["per_update"]),
        at_most(
            NAME,
            "sandbox CPU per request",
            1000 * cpu / served if served else 0.0,
            GOALS["sandbox_cpu_ms"],
            "ms",
            f"{served:,} requests",
        ),
        info(NAME, "sandbox requests (GHL + StreetText)", served),
    ]
