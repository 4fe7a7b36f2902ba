"""A worker SIGKILLed mid-page and a PostgreSQL server killed (kill -9 of the postmaster) mid-run, on a cluster this
test starts itself: the cases in `postgres_cases.py` run in one pytest process of their own whose database is that
cluster, with a real worker (the Procfile's threads pool) and the sandbox over HTTP (docs/reliability.md)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET  # our own pytest's report, not untrusted input
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.pgcluster import SKIP_REASON, PgCluster, bin_dir

pytestmark = [pytest.mark.worker, pytest.mark.skipif(bin_dir() is None, reason=SKIP_REASON)]
CASES = "tests/integrations/postgres_cases.py"
# The worker of the cases: the Procfile's pool, its own stale check every 2 s, a run without progress for 30 s is
# dead, no rate-limit waits (the sandbox's limits are off too).
WORKER_ENV = {
    "TEST_WORKER_POOL_ARGS": "--pool=threads --concurrency=2",
    "SYNC_STALE_CHECK_SECONDS": "2",
    "SYNC_STALE_AFTER_SECONDS": "30",
    "RATE_LIMIT_BACKEND": "off",
}


@pytest.fixture(scope="module")
def cases() -> Iterator[dict[str, str]]:
    """Both cases, run once on a fresh cluster: {case name: "" if it passed, else its failure and output}."""
    cluster = PgCluster()
    with tempfile.TemporaryDirectory(prefix="streetsync-kills-") as tmp:
        try:
            cluster.init()
            cluster.start()
            cluster.createdb("streetsync")
            report = Path(tmp) / "report.xml"
            env = {
                **os.environ,
                **WORKER_ENV,
                "DJANGO_SETTINGS_MODULE": "config.settings.test",
                "DATABASE_URL": cluster.url,
                "CELERY_BROKER_URL": "filesystem://",
                "CELERY_BROKER_DIR": str(Path(tmp) / "broker"),
                "STREETSYNC_TEST_PG_ROOT": str(cluster.root),
                "STREETSYNC_TEST_PG_PORT": str(cluster.port),
            }
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    "-s",
                    "-p",
                    "no:cacheprovider",
                    "--create-db",
                    f"--junitxml={report}",
                    CASES,
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            output = done.stdout + done.stderr
            results: dict[str, str] = {}
            if report.exists():
                for case in ET.parse(report).iter("testcase"):  # noqa: S314
                    failure = case.find("failure")
                    if failure is None:
                        failure = case.find("error")
                    if failure is not None:
                        results[case.get("name", "")] = f"{failure.text}\n--- output ---\n{output[-4000:]}"
                    elif case.find("skipped") is not None:
                        results[case.get("name", "")] = "skipped"
                    else:
                        results[case.get("name", "")] = ""
            results["_output"] = output + "\n--- postgres log ---\n" + cluster.log_text()[-3000:]
            yield results
        finally:
            cluster.remove()


def outcome(cases: dict[str, str], name: str) -> None:
    assert name in cases, cases["_output"][-6000:]
    assert cases[name] == "", cases[name]
    marks = ("FIGURES", "KILLED", "RESTART")
    figures = [line.lstrip(".") for line in cases["_output"].splitlines() if any(m in line for m in marks)]
    sys.stdout.write("\n".join(figures) + "\n")


def test_a_worker_killed_mid_page_leaves_a_created_row_for_every_contact_created(cases: dict[str, str]) -> None:
    outcome(cases, "test_worker_killed_mid_page_loses_no_history")


def test_a_database_restart_mid_run_leaves_the_worker_working(cases: dict[str, str]) -> None:
    outcome(cases, "test_database_restart_mid_run_does_not_stall_the_worker")
