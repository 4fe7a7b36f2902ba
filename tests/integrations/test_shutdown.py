"""Ctrl-C on ./scripts/run: honcho gives its processes SIGTERM and SIGKILLs whatever still runs 5 s later. The worker
(the Procfile's own command line) must stop within that grace, log no error, and hand a run it had in hand back for the
next worker: nothing half-done, nothing lost, nothing written twice."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from integrations.models import RecordLink, SyncRun
from integrations.services.runs import sync_run_request
from mappings.models import Direction
from sandbox import services as sandbox
from tests.conftest import ROOT, WorkerProcess, _database_url_for_worker, wait_for
from tests.integrations.support import build_world, sandbox_contacts, wait_finished

pytestmark = pytest.mark.worker
HONCHO_GRACE_SECONDS = 5  # honcho.manager.KILL_WAIT


def procfile_command(name: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        key, _, command = line.partition(":")
        if key.strip() == name:
            return command.strip()
    raise AssertionError(f"no {name} process in the Procfile")


def start_honcho(procfile: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url_for_worker(),
        "CELERY_BROKER_DIR": str(settings.BROKER_DIR),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "SYNC_PAGE_SIZE": "20",
        "WORKER_CONCURRENCY": "2",
    }
    return subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "honcho"), "start", "-f", str(procfile), "-d", str(ROOT)],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_the_worker_within_honchos_grace_and_hands_its_run_over(
    live_server: Any, celery_worker_process: WorkerProcess, tmp_path: Path, settings: Any, sig: signal.Signals
) -> None:
    celery_worker_process.stop()  # only the Procfile's worker may take the run
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT, size=100)
    seeded = world.seeded
    st_before = len(sandbox_contacts("streettext"))
    # Slow StreetText writes: the run takes far longer than honcho's grace, so only a hand-over can stop it in time.
    sandbox.sandbox_fault_add(system="streettext", kind="slow", delay=0.15, count=10_000, method="POST")
    procfile = tmp_path / "Procfile"
    # The real worker line, beside a process that stops at once on SIGTERM as the web server does: honcho's 5 s
    # countdown to SIGKILL starts when the first process has stopped.
    procfile.write_text(f"web: exec sleep 3600\nworker: {procfile_command('worker')}\n")
    log = tmp_path / "honcho.log"

    honcho = start_honcho(procfile, log)
    try:
        wait_for(lambda: "ready." in log.read_text(errors="replace"), timeout=60, message="worker not ready")
        run = sync_run_request(mapping=world.mapping, trigger=SyncRun.Trigger.MANUAL)
        wait_for(lambda: SyncRun.objects.get(pk=run.pk).processed >= 40, timeout=120, message="no progress")
        started = time.monotonic()
        honcho.send_signal(sig)  # Ctrl-C reaches honcho only: its processes run in sessions of their own
        honcho.wait(timeout=60)
        elapsed = time.monotonic() - started
    finally:
        if honcho.poll() is None:
            honcho.kill()
            honcho.wait()
    output = log.read_text(errors="replace")

    assert "SIGKILL" not in output, output[-3000:]
    assert re.search(r"worker\.1 stopped \(rc=0\)", output), output[-3000:]
    assert elapsed < HONCHO_GRACE_SECONDS, f"{elapsed:.1f} s"
    bad = [line for line in output.splitlines() if re.search(r"\b(ERROR|CRITICAL)\b|Traceback|WorkerLostError", line)]
    assert bad == [], "\n".join(bad)
    handed = SyncRun.objects.get(pk=run.pk)
    assert handed.status == SyncRun.Status.PENDING
    assert "the worker is shutting down" in handed.error
    assert 40 <= handed.processed < seeded["ghl_total"]
    sandbox.sandbox_fault_clear()

    celery_worker_process.start()  # the next worker picks the handed-over run up from the broker
    finished = wait_finished(run, timeout=180)

    assert finished.status == SyncRun.Status.PARTIAL, finished.error  # the bad phones only
    assert finished.attempts == 2
    st_ids = {c["id"] for c in sandbox_contacts("streettext")}
    links = list(RecordLink.objects.filter(object_type="contact"))
    assert len(links) == seeded["ghl_total"] - seeded["bad_phone"]
    assert all(link.streettext_id in st_ids for link in links)
    assert len(st_ids) == st_before + seeded["ghl_only"] + seeded["lowercase_names"]
