"""`manage.py benchmark`: every speed figure of docs/performance.md, with its goal beside it, in one table.

Each section builds its own data in a throwaway database created on the configured database server (SQLite file
var/benchmark.sqlite3 on the embedded default, a `<name>_benchmark` database on PostgreSQL) and dropped at the end:
the project's own data is never read or written. Sections that need servers (the sandbox, sync workers) start them
as subprocesses against that database and the configured broker.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from django.test.utils import setup_databases, teardown_databases

from sandbox.benchmarks import admin, budget, calls, engine, latency, locations, rate, templates
from sandbox.benchmarks.report import SIZES, Row, Section, render

SECTIONS: list[Section] = [engine, calls, rate, latency, locations, admin, budget, templates]  # type: ignore[list-item]


@contextmanager
def throwaway_database(*, name: str = "benchmark") -> Iterator[None]:
    """A fresh, migrated database beside the configured one, made default for the benchmark (or another command
    that must not touch the project's data: `name`) and dropped after it."""
    db = connections["default"].settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        db["TEST"]["NAME"] = str(settings.VAR_DIR / f"{name}.sqlite3")
    else:
        db["TEST"]["NAME"] = f"{db['NAME']}_{name}"
    names = setup_databases(verbosity=0, interactive=False, aliases={"default": True})
    try:
        yield
    finally:
        connections.close_all()
        teardown_databases(names, verbosity=0)
        if db["ENGINE"] == "django.db.backends.sqlite3":
            for suffix in ("-wal", "-shm"):  # SQLite's write-ahead log files outlive the database file
                Path(f"{db['TEST']['NAME']}{suffix}").unlink(missing_ok=True)


class Command(BaseCommand):
    help = (
        "Measure the sync engine, GHL calls per record, rate use, the sandbox and the admin at scale; print every "
        "figure with its goal. Builds its own data in a throwaway database; --size 100k / 1m for larger runs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        names = ", ".join(s.NAME for s in SECTIONS)
        parser.add_argument("--only", default="", help=f"Comma-separated sections to run (default all: {names}).")
        parser.add_argument("--size", choices=SIZES, default="default", help="How much data each section builds.")
        parser.add_argument("--strict", action="store_true", help="Exit with status 1 when a goal is missed.")
        for section in SECTIONS:
            group = parser.add_argument_group(f"{section.NAME}: {section.HELP}")
            section.add_arguments(group)  # type: ignore[arg-type]

    def handle(self, *args: Any, **options: Any) -> None:
        wanted = [n.strip() for n in options["only"].split(",") if n.strip()]
        known = {s.NAME: s for s in SECTIONS}
        unknown = [n for n in wanted if n not in known]
        if unknown:
            raise CommandError(f"Unknown section(s): {', '.join(unknown)}; known: {', '.join(known)}.")
        chosen = [known[n] for n in wanted] if wanted else SECTIONS
        db = settings.DATABASES["default"]
        self.stdout.write(
            f"benchmark on {db['ENGINE'].rsplit('.', 1)[-1]}, broker {settings.CELERY_BROKER_URL.split(':', 1)[0]}, "
            f"size {options['size']}, python {sys.version.split()[0]}"
        )
        rows: list[Row] = []
        # With DEBUG on (local settings), Django keeps the last 9,000 SQL statements of the process: memory and CPU
        # the product does not spend in a worker. The figures are taken as a production worker runs.
        settings.DEBUG = False

        def log(message: str) -> None:
            self.stdout.write(f"  {message}")
            self.stdout.flush()

        with throwaway_database():
            for section in chosen:
                self.stdout.write(f"== {section.NAME}")
                rows.extend(section.run(options, log))
        self.stdout.write("")
        self.stdout.write(render(rows))
        missed = [r for r in rows if r.ok is False]
        self.stdout.write("")
        self.stdout.write(f"{len(rows)} figures, {len(missed)} goal(s) missed.")
        if missed and options["strict"]:
            raise SystemExit(1)
