"""Create or update mappings and automations from a configuration file; all or nothing, with a dry run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from configs.services import config_import


class Command(BaseCommand):
    help = "Import mappings and automations from a YAML or JSON file made by export_config (matched by name)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The file to read, or - for standard input.")
        parser.add_argument("--dry-run", action="store_true", help="Check and report; write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise CommandError(f"Cannot read {path}: {e}") from e
        report = config_import(text=text, dry_run=options["dry_run"])
        for line in report.lines if report.ok else []:
            changes = f" ({', '.join(line.changes)})" if line.changes else ""
            self.stdout.write(f"{line.kind} “{line.name}”: {line.action}{changes}")
        for error in report.errors:
            self.stderr.write(error)
        if not report.ok:
            raise CommandError(report.summary())
        self.stdout.write(report.summary())
