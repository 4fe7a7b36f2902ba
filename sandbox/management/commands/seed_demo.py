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
from sandbox.connections import sandbox_connection

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
        from sandbox.demo import sandbox_seed_demo, sandbox_seed_demo_catalog, sandbox_seed_demo_children

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
        _delete_demo_automations(demo)
        demo.delete()

        ghl_token, st_key = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        counts = sandbox_seed_demo(
            ghl_location_id=DEMO_LOCATION_ID, ghl_token=ghl_token, streettext_api_key=st_key, size=options["size"]
        )
        counts.update(sandbox_seed_demo_children(ghl_location_id=DEMO_LOCATION_ID, streettext_api_key=st_key))
        counts.update(sandbox_seed_demo_catalog(ghl_location_id=DEMO_LOCATION_ID))
        ghl = sandbox_connection(
            system=System.GHL, name=DEMO_GHL_NAME, base_url=base, secret=ghl_token, location_id=DEMO_LOCATION_ID
        )
        st = sandbox_connection(system=System.STREETTEXT, name=DEMO_STREETTEXT_NAME, base_url=base, secret=st_key)
        mapping_create_with_defaults(
            name=DEMO_MAPPING_NAME, ghl_connection=ghl, streettext_connection=st, direction=Direction.BOTH
        )
        # One mapping per pattern of the integration guide (and its ideas), ready to run after the contacts sync.
        for key in DEMO_PRESETS:
            preset_create(key=key, ghl=ghl, streettext=st)
        counts["callback_tagged"] = _tag_for_callback(DEMO_LOCATION_ID, count=3)
        # Two automations, on and scheduled, starting now; then appointments booked and opportunities won after their
        # start, so each one's first poll has something to handle.
        counts["automations"] = len(_demo_automations(ghl, st))
        counts["appointments_booked"] = _book_demo_appointments(DEMO_LOCATION_ID, count=3)
        counts["opportunities_won"] = _win_demo_opportunities(DEMO_LOCATION_ID, count=2)
        self.stdout.write(self.style.SUCCESS(f"Demo seeded: {counts}"))

    def _point_at(self, base: str) -> None:
        """The web server may listen elsewhere this time: keep the demo connections pointing at it."""
        Connection.objects.filter(name=DEMO_GHL_NAME).update(base_url=f"{base}/sandbox/ghl")
        Connection.objects.filter(name=DEMO_STREETTEXT_NAME).update(base_url=f"{base}/sandbox/streettext")


def _tag_for_callback(location_id: str, *, count: int) -> int:
    """Tag a few demo GHL contacts 'callback' so the automated follow-up pattern has something to do."""
    from sandbox.models import SandboxRecord

    rows = SandboxRecord.objects.filter(
        account__system="ghl", account__account_id=location_id, object_type="contact", deleted=False
    ).exclude(data__email=None)
    tagged = 0
    for row in rows.order_by("record_id")[:count]:
        row.data["tags"] = [*row.data.get("tags", []), "callback"]
        row.save(update_fields=["data"])
        tagged += 1
    return tagged


# ------------------------------------------------------------------------------
# Automations (automations/presets.py)
# ------------------------------------------------------------------------------
DEMO_CALENDAR_ID = "calDemoSales000000001"


def _delete_demo_automations(demo: Any) -> None:
    from automations.models import Automation
    from automations.services.automations import automation_delete

    for automation in Automation.objects.filter(ghl_connection__in=demo) | Automation.objects.filter(
        streettext_connection__in=demo
    ):
        automation_delete(automation=automation)


def _demo_automations(ghl: Connection, st: Connection) -> list[Any]:
    """New appointment → StreetText note (every 2 min), and opportunity won → StreetText tag (every 5 min; its
    trigger needs the sandbox's opportunities)."""
    from automations.models import Automation
    from automations.presets import automation_create_from_preset
    from automations.services.automations import automation_save

    note = automation_create_from_preset(
        key="new_appointment_note", ghl=ghl, streettext=st, inputs={"calendar_id": DEMO_CALENDAR_ID}
    )
    won = automation_create_from_preset(key="opportunity_won", ghl=ghl, streettext=st, inputs={"tag": "customer"})
    note.schedule_minutes = 2
    automation_save(automation=note)
    return list(Automation.objects.filter(pk__in=[note.pk, won.pk]))


def _streettext_emails() -> set[str]:
    from sandbox.models import SandboxRecord

    return set(
        SandboxRecord.objects.filter(account__system="streettext", object_type="contact", deleted=False)
        .exclude(email_lower="")
        .values_list("email_lower", flat=True)
    )


def _win_demo_opportunities(location_id: str, *, count: int) -> int:
    """A few open demo opportunities won now (as in GoHighLevel: status, lastStatusChangeAt and updatedAt move), their
    contacts in StreetText too, for the "Opportunity won" automation's first poll."""
    from sandbox import services as sandbox
    from sandbox.models import SandboxAccount, SandboxRecord

    account = SandboxAccount.objects.get(system="ghl", account_id=location_id)
    contacts = SandboxRecord.objects.filter(account=account, object_type="contact", deleted=False)
    emails = dict(contacts.exclude(email_lower="").values_list("record_id", "email_lower"))
    st_emails = _streettext_emails()
    opportunities = [
        row
        for row in SandboxRecord.objects.filter(
            account=account, object_type="opportunities", deleted=False, data__status="open"
        ).order_by("record_id")
        if emails.get(row.data.get("contactId") or "") in st_emails
    ][:count]
    for row in opportunities:
        now = sandbox.to_iso(sandbox.now_ms())
        data = {**row.data, "status": "won", "lastStatusChangeAt": now, "lastActionDate": now}
        sandbox.sandbox_record_put(account=account, object_type="opportunities", record_id=row.record_id, data=data)
    return len(opportunities)


def _book_demo_appointments(location_id: str, *, count: int) -> int:
    """A few appointments booked on the demo calendar in the coming days, for contacts StreetText has too."""
    from datetime import timedelta

    from django.utils import timezone

    from sandbox import services as sandbox
    from sandbox.models import SandboxAccount, SandboxRecord

    account = SandboxAccount.objects.get(system="ghl", account_id=location_id)
    st_emails = _streettext_emails()
    contacts = [
        row
        for row in SandboxRecord.objects.filter(account=account, object_type="contact", deleted=False).order_by(
            "record_id"
        )
        if row.email_lower in st_emails
    ][:count]
    titles = ("Intro call", "Product demo", "Pricing review")
    for n, contact in enumerate(contacts):
        start = (timezone.now() + timedelta(days=n + 1)).replace(minute=0, second=0, microsecond=0)
        sandbox.sandbox_record_put(
            account=account,
            object_type="appointment",
            data={
                "calendarId": DEMO_CALENDAR_ID,
                "contactId": contact.record_id,
                "title": titles[n % len(titles)],
                "startTime": sandbox.to_iso(start),
                "endTime": sandbox.to_iso(start + timedelta(minutes=30)),
                "appointmentStatus": "confirmed",
                "assignedUserId": None,
                "description": None,
                "address": "Zoom",
                "meetingLocationType": None,
                "rrule": None,
                "groupId": None,
                "users": [],
                "createdBy": {"source": "third_party", "userId": None},
            },
        )
    return len(contacts)
