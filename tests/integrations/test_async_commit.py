"""A sync run's session commits asynchronously on PostgreSQL (a link is committed after each create; a disk flush each
time would cost more than the engine's own work), and the session is put back as it was when the run ends."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from integrations.services.sync.run import async_commit
from sandbox.benchmarks.engine import EngineBench

pytestmark = pytest.mark.django_db(transaction=True)
postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="synchronous_commit is PostgreSQL's")


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])


@postgres_only
def test_a_run_commits_asynchronously_and_puts_the_session_back() -> None:
    assert synchronous_commit() == "on"
    with async_commit():
        assert synchronous_commit() == "off"
    assert synchronous_commit() == "on"


@postgres_only
def test_the_setting_keeps_every_commit_synchronous(settings: Any) -> None:
    settings.SYNC_ASYNC_COMMIT = False
    with async_commit():
        assert synchronous_commit() == "on"


@postgres_only
def test_an_error_in_the_run_still_puts_the_session_back() -> None:
    with pytest.raises(RuntimeError), async_commit():
        raise RuntimeError("boom")
    assert synchronous_commit() == "on"


def test_sync_runs_go_through_it() -> None:
    """The engine's runs switch the session (PostgreSQL) and nothing else does; SQLite is left alone."""
    seen: list[str] = []

    def spy(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with EngineBench() as bench:
        bench.seed(5)
        with connection.execute_wrapper(spy):
            bench.run("create", 5)
    switches = [sql for sql in seen if "synchronous_commit" in sql]
    if connection.vendor == "postgresql":
        assert switches == ["SET synchronous_commit TO OFF", "RESET synchronous_commit"]
    else:
        assert switches == []


@postgres_only
def test_a_broken_connection_does_not_hide_the_runs_own_error() -> None:
    def run_that_loses_its_connection() -> None:
        with async_commit():
            connection.connection.close()  # the session is gone under the run
            raise RuntimeError("the run's error")

    with pytest.raises(RuntimeError, match="the run's error"):
        run_that_loses_its_connection()
    assert synchronous_commit() == "on"  # a new session, with the server's setting
