"""Shared fixtures: the sandbox over real HTTP (live_server) and a real Celery worker process."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection as db_connection
from django.utils.timezone import now as django_now
from hypothesis import settings as hypothesis_settings

ROOT = Path(__file__).resolve().parent.parent

# Property tests explore new random inputs on developers' machines; in CI (CI=true) they replay a fixed sequence,
# so a CI result does not depend on luck. Both run the same number of examples.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


def _database_url_for_worker() -> str:
    """The test database as a URL, so the worker process writes where the tests read."""
    s = db_connection.settings_dict
    if s["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or ""
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = s.get("HOST") or "127.0.0.1"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{s['NAME']}"


class WorkerProcess:
    def __init__(self, log_path: Path):
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        # Settings a test needs in the worker process (environment variables); see `reconfigured`.
        self.extra_env: dict[str, str] = {}
        # The execution pool: solo by default; TEST_WORKER_POOL_ARGS="--pool=threads --concurrency=2" runs the
        # Procfile's (tests/integrations/test_postgres_kills.py).
        self.pool_args = os.environ.get("TEST_WORKER_POOL_ARGS", "--pool=solo").split()

    def start(self) -> None:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": _database_url_for_worker(),
            "CELERY_BROKER_DIR": str(settings.BROKER_DIR),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            # Small pages so the demo-sized data spans several pages and the cursor is exercised.
            "SYNC_PAGE_SIZE": "20",
            **self.extra_env,
        }
        started_at = len(self.log())
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                *self.pool_args,
                "--loglevel=INFO",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"test-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        # Ready when the worker logs it (or it died).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Celery worker exited at start; see {self.log_path}:\n{self.log()}")
            if "ready." in self.log()[started_at:]:
                return
            time.sleep(0.2)
        raise RuntimeError(f"Celery worker did not become ready; see {self.log_path}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    @contextlib.contextmanager
    def reconfigured(self, **env: str) -> Iterator[WorkerProcess]:
        """Restart this worker with extra settings for one test, and without them afterwards."""
        self.stop()
        self.extra_env = dict(env)
        try:
            self.start()
            yield self
        finally:
            self.stop()
            self.extra_env = {}
            self.start()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _purge_broker() -> None:
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        shutil.rmtree(settings.BROKER_DIR, ignore_errors=True)
        for sub in ("queue", "processed"):
            (settings.BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    else:
        from config.celery import app

        app.control.purge()


# The session's worker, once a test has started it: tests that do not ask for it still reach it when they queue work.
_SESSION_WORKER: list[WorkerProcess] = []
# How long a test's teardown waits for a run the session's worker is executing (see _settle_runs_before_flush).
SETTLE_TIMEOUT = 30.0


@pytest.fixture(scope="session")
def celery_worker_process(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """A real `celery worker` process on the configured broker and the test database."""
    with django_db_blocker.unblock():
        _purge_broker()
        worker = WorkerProcess(tmp_path_factory.mktemp("worker") / "worker.log")
        worker.start()
    _SESSION_WORKER.append(worker)
    yield worker
    _SESSION_WORKER.clear()
    worker.stop()


@pytest.fixture(autouse=True)
def _settle_runs_before_flush(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a transactional test, before its database is emptied: runs it queued are taken back, and a run the
    session's worker is executing is let finish. Emptying the tables under a running sync deadlocks on PostgreSQL
    (the flush is the one killed), and the next test would find this one's rows."""
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        request.getfixturevalue("_django_db_helper")  # set up first, so emptied after this teardown
    elif {"transactional_db", "live_server"} & set(request.fixturenames):
        request.getfixturevalue("transactional_db")
    else:
        yield
        return
    yield
    worker = _SESSION_WORKER[0].proc if _SESSION_WORKER else None
    if worker is None or worker.poll() is not None:
        return
    from integrations.models import SyncRun

    SyncRun.objects.filter(status=SyncRun.Status.PENDING).update(status=SyncRun.Status.CANCELLED)
    # A run a worker claimed (attempts counts claims) and that beat its heartbeat lately; a test that wrote a RUNNING
    # row itself, or whose worker it killed, is not waited for long.
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        recent = django_now() - timedelta(seconds=SETTLE_TIMEOUT)
        running = SyncRun.objects.filter(status=SyncRun.Status.RUNNING, attempts__gte=1, heartbeat_at__gte=recent)
        if not running.exists():
            return
        time.sleep(0.2)


@pytest.fixture
def worker(celery_worker_process: WorkerProcess, transactional_db: Any) -> WorkerProcess:
    """Per test: make sure the session's worker is alive (a test may have killed it)."""
    if celery_worker_process.proc is None or celery_worker_process.proc.poll() is not None:
        celery_worker_process.start()
    return celery_worker_process


def wait_for(predicate: Callable[[], Any], *, timeout: float = 60.0, interval: float = 0.2, message: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(message or "condition not met in time")


_DB_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback", "live_server"}


@pytest.fixture(autouse=True)
def _rate_limit_governor(request: pytest.FixtureRequest, settings: Any) -> None:
    """Fresh rate-limit state per test (a unique key prefix: Redis keeps keys between tests); tests without database
    access use the governor's in-process backend, since the default one may be the database."""
    import uuid

    settings.RATE_LIMIT_KEY_PREFIX = f"test-{uuid.uuid4().hex[:12]}:"
    has_db = request.node.get_closest_marker("django_db") is not None or bool(_DB_FIXTURES & set(request.fixturenames))
    if not has_db and settings.RATE_LIMIT_BACKEND != "off":
        settings.RATE_LIMIT_BACKEND = "local"
