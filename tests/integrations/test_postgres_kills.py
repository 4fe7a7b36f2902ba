"""A worker SIGKILLed mid-page and a PostgreSQL server killed (kill -9 of the postmaster) mid-run, on a cluster this
test starts itself: the cases in `postgres_cases.py` run in a pytest process of their own whose database is that
cluster, with a real worker and the sandbox over HTTP (docs/reliability.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.pgcluster import SKIP_REASON, PgCluster, bin_dir

pytestmark = [pytest.mark.worker, pytest.mark.skipif(bin_dir() is None, reason=SKIP_REASON)]
CASES = "tests/integrations/postgres_cases.py"


@pytest.fixture(scope="module")
def pg_cluster() -> Iterator[PgCluster]:
    cluster = PgCluster()
    try:
        cluster.init()
        cluster.start()
        cluster.createdb("streetsync")
        yield cluster
    finally:
        cluster.remove()


def run_case(cluster: PgCluster, name: str, tmp_path: Path) -> str:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": cluster.url,
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_BROKER_DIR": str(tmp_path / "broker"),
        "STREETSYNC_TEST_PG_ROOT": str(cluster.root),
        "STREETSYNC_TEST_PG_PORT": str(cluster.port),
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "--create-db", f"{CASES}::{name}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:] + "\n--- postgres log ---\n" + cluster.log_text()[-3000:]
    assert " passed" in output, output[-3000:]
    return output


def test_a_worker_killed_mid_page_leaves_a_created_row_for_every_contact_created(
    pg_cluster: PgCluster, tmp_path: Path
) -> None:
    run_case(pg_cluster, "test_worker_killed_mid_page_loses_no_history", tmp_path)


def test_a_database_restart_mid_run_leaves_the_worker_working(pg_cluster: PgCluster, tmp_path: Path) -> None:
    run_case(pg_cluster, "test_database_restart_mid_run_does_not_stall_the_worker", tmp_path)
