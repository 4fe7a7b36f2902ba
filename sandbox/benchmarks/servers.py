"""The processes a benchmark section starts against the throwaway database: the sandbox web server and sync workers.

They run with this process's settings module and environment, pointed at the benchmark's database (the one
`manage.py benchmark` made default) and at the governor backend this process would use, with an in-memory broker
(a sync run's follow-up tasks must not reach the real queues).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings
from django.db import connections

from integrations import ratelimit

SERVER_START_TIMEOUT = 90.0
# A persistent database connection per server thread: the sandbox answers thousands of requests a minute.
SERVER_CONN_MAX_AGE = 600


class BenchmarkError(RuntimeError):
    """A benchmark process failed or did not answer."""


def database_url() -> str:
    """The default database (the benchmark's throwaway one) as a URL other processes can open."""
    s = connections["default"].settings_dict
    if s["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    user = quote(str(s.get("USER") or ""), safe="")
    password = f":{quote(str(s['PASSWORD']), safe='')}" if s.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = s.get("HOST") or "127.0.0.1"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{s['NAME']}"


def process_env(*, key_prefix: str = "", **extra: str) -> dict[str, str]:
    """Environment of a benchmark subprocess: this process's settings, the benchmark's database and governor."""
    backend = ratelimit.backend_name()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE") or settings.SETTINGS_MODULE,
        "DATABASE_URL": database_url(),
        "DJANGO_DEBUG": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
        "SANDBOX_ENABLED": "true",
        "CELERY_BROKER_URL": "memory://",
        "RATE_LIMIT_BACKEND": backend,
        "RATE_LIMIT_REDIS_URL": str(settings.RATE_LIMIT_REDIS_URL) if backend == "redis" else "",
        "RATE_LIMIT_KEY_PREFIX": key_prefix or f"bench-{uuid.uuid4().hex[:12]}:",
    }
    env.update(extra)
    return env


def sandbox_host_allow(host_port: str) -> None:
    """This server is the app's own sandbox: connections may reach its /sandbox/ over http on loopback, in this
    process and in the processes it starts (they inherit the environment). The address policy allows only the app's
    own host:port (SANDBOX_HOSTS), which a server on a free port is not by default."""
    hosts = list(getattr(settings, "SANDBOX_HOSTS", []))
    if host_port not in hosts:
        hosts.append(host_port)
    settings.SANDBOX_HOSTS = hosts
    os.environ["SANDBOX_HOSTS"] = ",".join(hosts)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class SandboxServer:
    """`runserver --noreload` on a free port: one process, so a GHL location's window lives in one place, as at GHL."""

    def __init__(self, log_path: Path, **env: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        sandbox_host_allow(f"127.0.0.1:{self.port}")
        self.log_path = log_path
        self.env = process_env(**{"DJANGO_CONN_MAX_AGE": str(SERVER_CONN_MAX_AGE), **env})
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SandboxServer:
        connections.close_all()  # SQLite: nothing of ours may hold the file while the server writes
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own manage.py with fixed arguments
                [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"],
                cwd=settings.BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchmarkError(f"the sandbox server exited at start:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.base_url}/sandbox/_control/stats", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.__exit__()
        raise BenchmarkError(f"the sandbox server did not answer within {SERVER_START_TIMEOUT:.0f} s")

    def __exit__(self, *exc: Any) -> None:
        if self.process is not None:
            stop(self.process)

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def stats(self) -> dict[str, dict[str, int]]:
        return dict(requests.get(f"{self.base_url}/sandbox/_control/stats", timeout=30).json())

    def reset_counters(self) -> None:
        """Zero the request counters and forget the rate-limit windows."""
        requests.delete(f"{self.base_url}/sandbox/_control/stats", timeout=30).raise_for_status()
        requests.post(f"{self.base_url}/sandbox/_control/rate-limit/reset", timeout=30).raise_for_status()


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


def start_worker(mapping_id: int, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """A process that runs one sync of the mapping (benchmarks/worker.py); its last line is JSON."""
    with log_path.open("wb") as log:
        return subprocess.Popen(  # noqa: S603 - our own module with fixed arguments
            [sys.executable, "-m", "sandbox.benchmarks.worker", str(mapping_id)],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def worker_result(log_path: Path) -> dict[str, Any]:
    lines = log_path.read_text(errors="replace").strip().splitlines()
    try:
        return dict(json.loads(lines[-1]))
    except (IndexError, ValueError):
        raise BenchmarkError(f"a sync worker failed:\n{''.join(lines[-30:])}") from None


# -- seeding the sandbox and the mappings, in this process ---------------------------------------------------------
@dataclass
class Seeded:
    location: str
    mapping_ids: list[int]


def streettext_contact_row(
    account: Any, record_id: str, *, first: str, last: str, email: str, phone: str, when: datetime
) -> Any:
    """One StreetText contact of a benchmark's workspace, as the sandbox stores it (for a bulk create)."""
    from sandbox.models import SandboxRecord

    data = {
        "first_name": first,
        "last_name": last,
        "email": email,
        "phone": phone,
        "company": "Benchmark Inc",
        "city": "San Francisco",
        "region": "CA",
        "country": "US",
        "tags": ["benchmark"],
        "opted_out": False,
        "external_id": None,
        "custom": {},
    }
    return SandboxRecord(
        account=account, object_type="contact", record_id=record_id, data=data, created_at=when, updated_at=when
    )


def seed_streettext_to_ghl(*, records: int, workers: int, base_url: str, tag: str) -> Seeded:
    """An empty GHL location and `workers` StreetText workspaces holding `records` contacts between them, each with a
    StreetText → GHL mapping into that location (GHL base URL = the sandbox server)."""
    from integrations.models import System
    from mappings.models import Direction
    from mappings.services import mapping_create_with_defaults
    from sandbox import services as sandbox
    from sandbox.connections import sandbox_connection

    location, token = f"loc-{tag}", f"pit-{tag}"
    sandbox.sandbox_account_create(system="ghl", account_id=location, secret=token, name=f"Benchmark {tag}")
    ghl = sandbox_connection(
        system=System.GHL, name=f"Benchmark GHL {tag}", base_url=base_url, secret=token, location_id=location
    )
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    mapping_ids: list[int] = []
    for w in range(workers):
        key = f"st-{tag}-{w}"
        account = sandbox.sandbox_account_create(
            system="streettext", account_id=f"ws_{tag}_{w}", secret=key, name=f"Benchmark {tag} {w}"
        )
        rows = []
        for n in range(w, records, workers):
            rows.append(
                streettext_contact_row(
                    account,
                    f"ct_{tag}_{n:07d}",
                    first=f"Bench{n}",
                    last="Runner",
                    email=f"bench{n}@example.com",
                    phone=f"+1415{5550000 + n:07d}",
                    when=start + timedelta(milliseconds=n),
                )
            )
        sandbox.sandbox_records_bulk_create(records=rows)
        st = sandbox_connection(
            system=System.STREETTEXT, name=f"Benchmark StreetText {tag} {w}", base_url=base_url, secret=key
        )
        mapping = mapping_create_with_defaults(
            name=f"Benchmark {tag} {w}", ghl_connection=ghl, streettext_connection=st, direction=Direction.TO_GHL
        )
        mapping_ids.append(mapping.pk)
    connections.close_all()
    return Seeded(location=location, mapping_ids=mapping_ids)
