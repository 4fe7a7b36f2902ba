"""Seed the built-in sandbox with demo contacts and create the demo connections and mapping."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.models import Connection, System
from mappings.models import Direction, Mapping
from mappings.presets import preset_create
from mappings.services import mapping_create_with_defaults, mapping_delete

DEMO_GHL_NAME = "Demo GoHighLevel sub-account (sandbox)"
DEMO_STREETTEXT_NAME = "Demo StreetText workspace (sandbox)"
DEMO_MAPPING_NAME = "Demo: contacts both ways"
DEMO_LOCATION_ID = "demo-location"
DEMO_PRESETS = (
    "contact_data_sync",
    "task_orchestration",
    "notes_history",
    "lead_qualification",
    "automated_followups",
    "opportunities",
)


class Command(BaseCommand):
    help = "Create demo data in the built-in sandbox plus the connections and mapping that sync it (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="Where this app's web server listens.")
        parser.add_argument("--size", type=int, default=300, help="About how many contacts on each side.")
        parser.add_argument("--reset", action="store_true", help="Replace existing demo data.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.SANDBOX_ENABLED:
            raise CommandError("The sandbox is off: set SANDBOX_ENABLED=true to seed the demo.")
        from integrations.sandbox.demo import sandbox_seed_demo, sandbox_seed_demo_catalog, sandbox_seed_demo_children

        base = options["base_url"].rstrip("/")
        ghl = Connection.objects.filter(name=DEMO_GHL_NAME).first()
        if ghl is not None and not options["reset"]:
            self.stdout.write("Demo already seeded (use --reset to start again).")
            self._point_at(base)
            return
        demo = Connection.objects.filter(name__in=[DEMO_GHL_NAME, DEMO_STREETTEXT_NAME])
        for mapping in Mapping.objects.filter(ghl_connection__in=demo) | Mapping.objects.filter(
            streettext_connection__in=demo
        ):
            mapping_delete(mapping=mapping)
        demo.delete()

        ghl_token, st_key = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        counts = sandbox_seed_demo(
            ghl_location_id=DEMO_LOCATION_ID, ghl_token=ghl_token, streettext_api_key=st_key, size=options["size"]
        )
        counts.update(sandbox_seed_demo_children(ghl_location_id=DEMO_LOCATION_ID, streettext_api_key=st_key))
        counts.update(sandbox_seed_demo_catalog(ghl_location_id=DEMO_LOCATION_ID))
        ghl = Connection(
            name=DEMO_GHL_NAME,
            system=System.GHL,
            base_url=f"{base}/sandbox/ghl",
            location_id=DEMO_LOCATION_ID,
            auth_type=Connection.AuthType.PRIVATE_TOKEN,
        )
        ghl.api_secret = ghl_token
        ghl.save()
        st = Connection(
            name=DEMO_STREETTEXT_NAME,
            system=System.STREETTEXT,
            base_url=f"{base}/sandbox/streettext",
            auth_type=Connection.AuthType.API_KEY,
        )
        st.api_secret = st_key
        st.save()
        mapping_create_with_defaults(
            name=DEMO_MAPPING_NAME, ghl_connection=ghl, streettext_connection=st, direction=Direction.BOTH
        )
        # One mapping per pattern of the integration guide (and its ideas), ready to run after the contacts sync.
        for key in DEMO_PRESETS:
            preset_create(key=key, ghl=ghl, streettext=st)
        counts["callback_tagged"] = _tag_for_callback(DEMO_LOCATION_ID, count=3)
        self.stdout.write(self.style.SUCCESS(f"Demo seeded: {counts}"))

    def _point_at(self, base: str) -> None:
        """The web server may listen elsewhere this time: keep the demo connections pointing at it."""
        Connection.objects.filter(name=DEMO_GHL_NAME).update(base_url=f"{base}/sandbox/ghl")
        Connection.objects.filter(name=DEMO_STREETTEXT_NAME).update(base_url=f"{base}/sandbox/streettext")


def _tag_for_callback(location_id: str, *, count: int) -> int:
    """Tag a few demo GHL contacts 'callback' so the automated follow-up pattern has something to do."""
    from integrations.sandbox.models import SandboxRecord

    rows = SandboxRecord.objects.filter(
        account__system="ghl", account__account_id=location_id, object_type="contact", deleted=False
    ).exclude(data__email=None)
    tagged = 0
    for row in rows.order_by("record_id")[:count]:
        row.data["tags"] = [*row.data.get("tags", []), "callback"]
        row.save(update_fields=["data"])
        tagged += 1
    return tagged
