"""Benchmark the GHL rate-limit governor: a write-heavy StreetText → GoHighLevel sync against the sandbox.

Everything runs in subprocesses on a throwaway SQLite database in a temporary directory, never on this project's
own database: `migrate`, the sandbox web server (`runserver --noreload`, so GHL's 100 / 10 s limit lives in one
server process as it would at GHL), a seeding step, then K sync processes, each syncing its own StreetText
workspace into the same GHL location. The figures come from the sandbox's request counters.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

GOAL_SHARE = 90.0
LOCATION = "loc-bench"
GHL_TOKEN = "pit-bench"  # noqa: S105 - a sandbox account created for the benchmark, not a secret
SERVER_START_TIMEOUT = 90.0
STEP_TIMEOUT = 300.0


class Command(BaseCommand):
    help = (
        "Run a write-heavy StreetText → GoHighLevel sync against the sandbox (own server, own temporary database) and "
        "print the achieved GHL request rate as a share of the allowed rate, and the 429s seen."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--records", type=int, default=600, help="StreetText contacts to create on GHL.")
        parser.add_argument(
            "--workers", type=int, default=1, help="Concurrent sync processes sharing the one GHL location."
        )
        parser.add_argument(
            "--backend", choices=["db", "redis"], default="db", help="Where the governor's windows live."
        )
        parser.add_argument(
            "--redis-url",
            default=os.environ.get("RATE_LIMIT_REDIS_URL") or settings.RATE_LIMIT_REDIS_URL,
            help="Redis for --backend redis (default: RATE_LIMIT_REDIS_URL).",
        )
        parser.add_argument("--timeout", type=float, default=900.0, help="Give up on the sync after this many seconds.")
        parser.add_argument("--keep", action="store_true", help="Keep the temporary directory (database, logs).")
        # Internal: the steps that run inside the benchmark's own environment.
        parser.add_argument("--role", choices=["main", "seed", "run"], default="main", help=argparse.SUPPRESS)
        parser.add_argument("--base-url", default="", help=argparse.SUPPRESS)
        parser.add_argument("--mapping-id", type=int, default=0, help=argparse.SUPPRESS)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["role"] == "seed":
            self._seed(base_url=options["base_url"], records=options["records"], workers=options["workers"])
        elif options["role"] == "run":
            self._run(mapping_id=options["mapping_id"])
        else:
            self._benchmark(options)

    # -- the orchestrating process: touches no database itself ---------------------------------------------------
    def _benchmark(self, options: dict[str, Any]) -> None:
        records, workers, backend = options["records"], options["workers"], options["backend"]
        if not 1 <= workers <= 16 or not workers <= records <= 9000:
            raise CommandError("--workers must be 1-16 and --records between --workers and 9000")
        redis_url = options["redis_url"] if backend == "redis" else ""
        if backend == "redis" and not redis_url:
            raise CommandError("--backend redis needs --redis-url (or RATE_LIMIT_REDIS_URL)")
        workdir = Path(tempfile.mkdtemp(prefix="streetsync-bench-"))
        prefix = f"bench-{uuid.uuid4().hex[:12]}:"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
            "DJANGO_DEBUG": "false",
            "DJANGO_LOG_LEVEL": "WARNING",
            "SANDBOX_ENABLED": "true",
            "CELERY_BROKER_URL": "memory://",
            "CELERY_BROKER_DIR": str(workdir / "broker"),
            "RATE_LIMIT_BACKEND": backend,
            "RATE_LIMIT_REDIS_URL": redis_url,
            "RATE_LIMIT_KEY_PREFIX": prefix,
        }
        server: subprocess.Popen[bytes] | None = None
        try:
            self._step(["migrate", "--no-input", "-v", "0"], env, workdir)
            port = _free_port()
            base_url = f"http://127.0.0.1:{port}"
            with (workdir / "server.log").open("wb") as log:
                server = subprocess.Popen(  # noqa: S603 - our own manage.py with fixed arguments
                    [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
                    cwd=settings.BASE_DIR,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            _wait_for_server(base_url, server)
            seed_args = ["--role", "seed", "--base-url", base_url, "--records", str(records), "--workers", str(workers)]
            seeded = json.loads(self._step(["benchmark_sync", *seed_args], env, workdir).strip().splitlines()[-1])
            requests.delete(f"{base_url}/sandbox/_control/stats", timeout=10)
            requests.post(f"{base_url}/sandbox/_control/rate-limit/reset", timeout=10)
            results = self._run_workers(seeded["mapping_ids"], env, workdir, options["timeout"])
            stats = requests.get(f"{base_url}/sandbox/_control/stats", timeout=10).json()
        finally:
            if server is not None:
                server.terminate()
                try:
                    server.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    server.kill()
            if redis_url:
                _redis_cleanup(redis_url, prefix)
            if not options["keep"]:
                shutil.rmtree(workdir, ignore_errors=True)
        self._report(records=records, workers=workers, backend=backend, results=results, stats=stats)
        if options["keep"]:
            self.stdout.write(f"Kept {workdir}")

    def _step(self, args: list[str], env: dict[str, str], workdir: Path) -> str:
        done = subprocess.run(  # noqa: S603 - our own manage.py with fixed arguments
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise CommandError(f"manage.py {args[0]} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def _run_workers(
        self, mapping_ids: list[int], env: dict[str, str], workdir: Path, timeout: float
    ) -> list[dict[str, Any]]:
        procs = [
            subprocess.Popen(  # noqa: S603 - our own manage.py with fixed arguments
                [sys.executable, "manage.py", "benchmark_sync", "--role", "run", "--mapping-id", str(mapping_id)],
                cwd=settings.BASE_DIR,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for mapping_id in mapping_ids
        ]
        deadline = time.monotonic() + timeout
        results: list[dict[str, Any]] = []
        for proc in procs:
            try:
                out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                for other in procs:
                    other.kill()
                raise CommandError(f"the sync did not finish within --timeout {timeout:.0f} s") from None
            if proc.returncode != 0:
                raise CommandError(f"a sync process failed:\n{err[-3000:]}")
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results

    def _report(
        self, *, records: int, workers: int, backend: str, results: list[dict[str, Any]], stats: dict[str, Any]
    ) -> None:
        ghl, st = stats.get("ghl", {}), stats.get("streettext", {})
        ghl_requests = int(ghl.get("requests", 0))
        ghl_429, st_429 = int(ghl.get("status_429", 0)), int(st.get("status_429", 0))
        elapsed = max(r["finished"] for r in results) - min(r["started"] for r in results)
        limit, window = settings.GHL_RATE_LIMIT_MAX, settings.GHL_RATE_LIMIT_WINDOW_SECONDS
        allowed_rate = limit / window
        rate = ghl_requests / elapsed if elapsed > 0 else 0.0
        share = 100.0 * rate / allowed_rate
        # What a sliding window lets through in `elapsed` at most: a full window's worth per started window.
        allowed_in_time = limit * math.ceil(elapsed / window)
        created = sum(r["created"] for r in results)
        failed = sum(r["failed"] for r in results)
        statuses = ", ".join(sorted({r["status"] for r in results}))
        used = 100.0 * ghl_requests / allowed_in_time
        # Over a few windows the plain rate flatters (the first window's burst counts, the last one's unused tail does
        # not), so the verdict takes the lower of the two shares.
        ok = min(share, used) >= GOAL_SHARE and ghl_429 == 0
        lines = [
            f"benchmark           : StreetText → GoHighLevel, {workers} worker process(es), governor backend {backend}",
            f"records             : {records} (created {created}, failed {failed}; runs {statuses})",
            f"GHL requests        : {ghl_requests}",
            f"StreetText requests : {int(st.get('requests', 0))}",
            f"elapsed             : {elapsed:.1f} s",
            f"achieved GHL rate   : {rate:.2f} requests/s",
            f"allowed GHL rate    : {allowed_rate:.2f} requests/s ({limit} / {window:g} s)",
            f"share of allowed    : {share:.1f} %",
            f"of the most allowed : {used:.1f} % "
            f"({ghl_requests} of {allowed_in_time} = {limit} per started {window:g} s window)",
            f"429s seen           : {ghl_429} from GHL, {st_429} from StreetText",
            f"verdict             : {'PASS' if ok else 'FAIL'} "
            f"(goal: >= {GOAL_SHARE:g} % of the allowed rate by both measures, no 429s)",
        ]
        self.stdout.write("\n".join(lines))

    # -- inside the benchmark environment ---------------------------------------------------------------------------
    def _seed(self, *, base_url: str, records: int, workers: int) -> None:
        from integrations.models import Connection, System
        from integrations.sandbox import services as sandbox
        from integrations.sandbox.models import SandboxRecord
        from mappings.models import Direction
        from mappings.services import mapping_create_with_defaults

        sandbox.sandbox_account_create(system="ghl", account_id=LOCATION, secret=GHL_TOKEN, name="Benchmark")
        ghl = Connection(
            name="Benchmark GHL",
            system=System.GHL,
            base_url=f"{base_url}/sandbox/ghl",
            location_id=LOCATION,
            auth_type=Connection.AuthType.PRIVATE_TOKEN,
        )
        ghl.api_secret = GHL_TOKEN
        ghl.save()
        start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        mapping_ids: list[int] = []
        for w in range(workers):
            key = f"st-bench-{w}"
            account = sandbox.sandbox_account_create(
                system="streettext", account_id=f"ws_bench_{w}", secret=key, name=f"Benchmark {w}"
            )
            rows = []
            for n in range(w, records, workers):
                when = start + timedelta(milliseconds=n)
                data = {
                    "first_name": f"Bench{n}",
                    "last_name": "Runner",
                    "email": f"bench{n}@example.com",
                    "phone": f"+1415555{n:04d}",
                    "company": "Benchmark Inc",
                    "city": "San Francisco",
                    "region": "CA",
                    "country": "US",
                    "tags": ["benchmark"],
                    "opted_out": False,
                    "external_id": None,
                    "custom": {},
                }
                record_id = f"ct_bench{n:06d}"
                rows.append(
                    SandboxRecord(
                        account=account,
                        object_type="contact",
                        record_id=record_id,
                        data=data,
                        created_at=when,
                        updated_at=when,
                    )
                )
            sandbox.sandbox_records_bulk_create(records=rows)
            st = Connection(
                name=f"Benchmark StreetText {w}",
                system=System.STREETTEXT,
                base_url=f"{base_url}/sandbox/streettext",
                auth_type=Connection.AuthType.API_KEY,
            )
            st.api_secret = key
            st.save()
            mapping = mapping_create_with_defaults(
                name=f"Benchmark {w}", ghl_connection=ghl, streettext_connection=st, direction=Direction.TO_GHL
            )
            mapping_ids.append(mapping.pk)
        self.stdout.write(json.dumps({"mapping_ids": mapping_ids}))

    def _run(self, *, mapping_id: int) -> None:
        from integrations.clients.exceptions import ApiError
        from integrations.models import SyncRun
        from integrations.services.sync import sync_run_execute

        run = SyncRun.objects.create(mapping_id=mapping_id, trigger=SyncRun.Trigger.MANUAL)
        started = time.time()
        try:
            finished_run = sync_run_execute(run_id=run.pk)
        except ApiError as e:  # a transient error the task would retry: report it
            run.refresh_from_db()
            finished_run, run.error = run, str(e)
        finished = time.time()
        assert finished_run is not None
        self.stdout.write(
            json.dumps(
                {
                    "status": finished_run.status,
                    "error": finished_run.error,
                    "created": finished_run.created,
                    "failed": finished_run.failed,
                    "started": started,
                    "finished": finished,
                }
            )
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_server(base_url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise CommandError("the sandbox server exited at start")
        try:
            if requests.get(f"{base_url}/sandbox/_control/stats", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise CommandError(f"the sandbox server did not answer within {SERVER_START_TIMEOUT:.0f} s")


def _redis_cleanup(url: str, prefix: str) -> None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        keys = list(client.scan_iter(match=f"{{{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass
