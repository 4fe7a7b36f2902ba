"""Load the sandbox demo data: `manage.py sandbox_seed --ghl-location-id … --ghl-token … --streettext-api-key …`."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox import demo, services


class Command(BaseCommand):
    help = "Create the sandbox demo GHL location and StreetText workspace and (re)load their contacts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--ghl-location-id", required=True)
        parser.add_argument("--ghl-token", required=True)
        parser.add_argument("--streettext-api-key", required=True)
        parser.add_argument("--streettext-workspace-id", default=demo.DEFAULT_WORKSPACE_ID)
        parser.add_argument("--size", type=int, default=demo.DEFAULT_SIZE)
        parser.add_argument("--seed", type=int, default=demo.DEFAULT_SEED)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            counts = demo.sandbox_seed_demo(
                ghl_location_id=options["ghl_location_id"],
                ghl_token=options["ghl_token"],
                streettext_api_key=options["streettext_api_key"],
                streettext_workspace_id=options["streettext_workspace_id"],
                size=options["size"],
                seed=options["seed"],
            )
        except services.SandboxInputError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(json.dumps(counts, indent=2))
