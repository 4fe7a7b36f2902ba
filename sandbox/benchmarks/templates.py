"""Templates across many locations: one template (a contacts mapping with its default field mappings and an
automation) previewed, applied and updated across N GoHighLevel connections, timed in-process (the services the admin
calls; no API call is made: applying a template only writes configuration).

Figures: the preview, the apply and the update of all N locations, each as a total and per location, and the
statements per location of the apply.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from django.db import connection as db

from automations.presets import automation_create_from_preset
from configs import template_services
from configs.models import TemplateUse
from integrations.models import Connection, System
from mappings.services import mapping_create_with_defaults
from sandbox.benchmarks.report import Row, at_most, info

NAME = "templates"
HELP = "one template previewed, applied and updated across many GHL locations: time per location"
LOCATIONS = {"default": 100, "100k": 500, "1m": 2_000}
GOAL_MS_PER_LOCATION = 250.0
UPPER = [{"name": "trim", "params": {}}, {"name": "upper", "params": {}}]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--template-locations", type=int, default=None, help="Locations (default per --size).")


def _connection(name: str, system: str, location_id: str = "") -> Connection:
    c = Connection(name=name, system=system, base_url="https://api.example.test", location_id=location_id)
    c.auth_type = "pit" if system == System.GHL else "api_key"
    c.api_secret = f"benchmark-{location_id or system}"
    c.save()
    return c


def run(options: dict[str, Any], log: Callable[[str], None]) -> list[Row]:
    count = options.get("template_locations") or LOCATIONS[options.get("size") or "default"]
    pilot = _connection("Benchmark pilot", System.GHL, "pilot")
    shared = _connection("Benchmark StreetText", System.STREETTEXT)
    mapping = mapping_create_with_defaults(name="Contacts", ghl_connection=pilot, streettext_connection=shared)
    automation = automation_create_from_preset(
        key="opportunity_won", ghl=pilot, streettext=shared, inputs={"tag": "vip"}, enabled=False
    )
    template = template_services.template_create(
        name="Benchmark template", mappings=[mapping], automations=[automation]
    )
    locations = [_connection(f"Location {i:05d}", System.GHL, f"loc-{i:05d}") for i in range(count)]
    log(f"templates: {count} locations")

    def timed(call: Callable[[], template_services.ApplyReport]) -> tuple[float, int, template_services.ApplyReport]:
        statements: list[str] = []

        def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            statements.append(sql)
            return execute(sql, params, many, context)

        with db.execute_wrapper(count):
            started = time.perf_counter()
            report = call()
            seconds = time.perf_counter() - started
        assert report.ok, report.summary()
        return seconds, len(statements), report

    preview, _, _ = timed(
        lambda: template_services.template_apply(
            template=template, locations=locations, shared_streettext=shared, dry_run=True
        )
    )
    # Statements counted on one location of its own.
    first = _connection("Location first", System.GHL, "loc-first")
    _, statements, _ = timed(
        lambda: template_services.template_apply(template=template, locations=[first], shared_streettext=shared)
    )
    apply, _, _ = timed(
        lambda: template_services.template_apply(template=template, locations=locations, shared_streettext=shared)
    )
    assert TemplateUse.objects.filter(template=template).count() == 2 * (count + 1)
    doc = template.document
    for row in doc["mappings"][0]["field_mappings"]:
        if row["target_field"] == "last_name":
            row["transforms"] = UPPER
    template_services.template_save(template=template, document=doc)
    update, _, _ = timed(lambda: template_services.template_update_locations(template=template))
    per_update = 1000.0 / (count + 1)
    detail = f"{count} locations, 1 mapping ({mapping.field_mappings.count()} field mappings) + 1 automation each"
    per = 1000.0 / count
    return [
        at_most(NAME, "preview, per location", preview * per, GOAL_MS_PER_LOCATION, "ms", detail),
        at_most(NAME, "apply, per location", apply * per, GOAL_MS_PER_LOCATION, "ms", detail),
        at_most(NAME, "update (one transform changed), per location", update * per_update, GOAL_MS_PER_LOCATION, "ms"),
        info(NAME, "apply, all locations", apply, "s", detail),
        info(NAME, "apply, SQL statements per location", statements, "", detail),
    ]
