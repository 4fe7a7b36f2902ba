"""The engine benchmark's memory runs: they measure a peak and keep the planner's statistics fresh as the tables grow
(on a server without autovacuum, a never-analyzed table is planned as empty and a page's link lookup scans them all)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from integrations.benchmarks import engine
from integrations.models import RecordLink

pytestmark = pytest.mark.django_db


def planned_links() -> float:
    """The number of links the planner believes the table holds (from its last ANALYZE)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [RecordLink._meta.db_table])
            return float(cursor.fetchone()[0])
        cursor.execute("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'")
        if cursor.fetchone() is None:
            return -1.0
        cursor.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = %s LIMIT 1", [RecordLink._meta.db_table])
        row = cursor.fetchone()
        return float(row[0].split()[0]) if row else -1.0


def test_a_memory_run_refreshes_the_planners_statistics_while_the_links_grow(monkeypatch: Any) -> None:
    analyzed_at: list[int] = []
    refresh = engine.planner_statistics_refresh

    def counting_refresh() -> None:
        refresh()
        analyzed_at.append(RecordLink.objects.count())

    monkeypatch.setattr(engine, "planner_statistics_refresh", counting_refresh)
    monkeypatch.setattr(engine, "MEMORY_ANALYZE_EVERY", 2)

    peak = engine.engine_memory(records=450)

    assert peak > 0
    # Every second page (of 100): while the creates add links, then during the measured re-sync.
    assert analyzed_at[0] < 450
    assert 450 in analyzed_at
    assert planned_links() == RecordLink.objects.count() == 450
