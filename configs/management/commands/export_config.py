"""Write mappings and automations to a configuration file (YAML or JSON): connections by name, never a secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from automations.models import Automation
from configs.services import config_export
from mappings.models import Mapping


class Command(BaseCommand):
    help = "Export mappings and automations (all of them, or those named) as YAML or JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--mapping", action="append", default=[], help="A mapping's name (repeatable).")
        parser.add_argument("--automation", action="append", default=[], help="An automation's name (repeatable).")
        parser.add_argument("--format", choices=["yaml", "json"], default="yaml")
        parser.add_argument("-o", "--output", help="The file to write (default: standard output).")

    def handle(self, *args: Any, **options: Any) -> None:
        mappings = _named(Mapping, options["mapping"], "mapping")
        automations = _named(Automation, options["automation"], "automation")
        if options["mapping"] and not options["automation"]:
            automations = []
        if options["automation"] and not options["mapping"]:
            mappings = []
        text = config_export(mappings=mappings, automations=automations, fmt=options["format"])
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stdout.write(
                f"Wrote {len(mappings)} mapping(s) and {len(automations)} automation(s) to {options['output']}"
            )
        else:
            self.stdout.write(text, ending="")


def _named(model: Any, names: list[str], what: str) -> list[Any]:
    if not names:
        return list(model.objects.order_by("name"))
    found = []
    for name in names:
        obj = model.objects.filter(name__iexact=name).first()
        if obj is None:
            raise CommandError(f"No {what} is called “{name}”.")
        found.append(obj)
    return found
