"""The engine benchmark's memory runs: they measure a peak, keep the planner's statistics fresh as the tables grow (on a
server without autovacuum, a never-analyzed table is planned as empty and a page's link lookup scans them all), and
collect garbage only during the measured re-sync (before it, each collection would walk every stored contact)."""

from __future__ import annotations

import gc
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection

from integrations.models import RecordLink
from sandbox.benchmarks import engine

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


def test_a_memory_run_refreshes_the_planners_statistics_and_collects_only_while_measured(monkeypatch: Any) -> None:
    analyzed_at: list[int] = []
    phase, collections = ["create"], []
    rewind = engine.EngineBench.rewind

    def rewind_then_measure(bench: engine.EngineBench) -> None:
        rewind(bench)
        phase[0] = "re-sync"

    def collect() -> int:
        collections.append(phase[0])
        return gc.collect()

    monkeypatch.setattr(engine.EngineBench, "rewind", rewind_then_measure)
    monkeypatch.setattr(engine, "gc", SimpleNamespace(collect=collect, freeze=gc.freeze, unfreeze=gc.unfreeze))
    monkeypatch.setattr(engine, "MEMORY_COLLECT_EVERY", 2)
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
    assert "create" not in collections
    assert collections.count("re-sync") >= 3  # once before the re-sync, then every second page
