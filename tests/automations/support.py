"""Builders for the automation tests: sandbox accounts and connections on the live server, automations with their
actions and fields, sandbox records read back, and polls run in this process or through the real worker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from automations.models import Automation, AutomationAction, AutomationFieldMapping, AutomationPoll
from automations.services.automations import automation_save
from automations.services.engine import automation_poll_execute
from automations.services.polls import automation_poll_request
from integrations.models import Connection, System
from integrations.sandbox import ratelimit
from integrations.sandbox import services as sandbox
from integrations.sandbox.demo import sandbox_seed_demo
from integrations.sandbox.models import SandboxAccount, SandboxRecord
from tests.conftest import wait_for

LOCATION = "loc-auto"
GHL_TOKEN = "ghl-token-auto"
ST_KEY = "st-key-auto"
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass
class World:
    ghl: Connection
    streettext: Connection
    seeded: dict[str, int]


def build_world(live_url: str, *, size: int = 30) -> World:
    """Seeded sandbox accounts (demo contacts on both sides) and a connection to each."""
    ratelimit.rate_limit_reset()
    seeded = sandbox_seed_demo(ghl_location_id=LOCATION, ghl_token=GHL_TOKEN, streettext_api_key=ST_KEY, size=size)
    ghl = Connection(
        name="GHL automations",
        system=System.GHL,
        base_url=f"{live_url}/sandbox/ghl",
        location_id=LOCATION,
        auth_type=Connection.AuthType.PRIVATE_TOKEN,
    )
    ghl.api_secret = GHL_TOKEN
    ghl.save()
    st = Connection(
        name="StreetText automations",
        system=System.STREETTEXT,
        base_url=f"{live_url}/sandbox/streettext",
        auth_type=Connection.AuthType.API_KEY,
    )
    st.api_secret = ST_KEY
    st.save()
    return World(ghl=ghl, streettext=st, seeded=seeded)


def field(
    target: str, source: str = "", kind: str = "field", transforms: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {"target_field": target, "source": source, "source_kind": kind, "transforms": transforms or []}


def make_automation(
    world: World,
    *,
    trigger: str = "search-contacts",
    system: str = System.GHL,
    params: dict[str, Any] | None = None,
    body: Any = None,
    actions: Sequence[tuple[str, str, list[dict[str, Any]]]] = (),
    name: str = "Test automation",
    **options: Any,
) -> Automation:
    """An automation with its actions: (system, operation, fields)."""
    automation = Automation(
        name=name,
        ghl_connection=world.ghl,
        streettext_connection=world.streettext,
        trigger_system=system,
        trigger_key=trigger,
        trigger_params=params or {},
        trigger_body=body,
        start_from=options.pop("start_from", LONG_AGO),
        schedule_minutes=options.pop("schedule_minutes", 0),
        **options,
    )
    automation_save(automation=automation)
    for position, (action_system, operation, fields) in enumerate(actions, start=1):
        action = AutomationAction.objects.create(
            automation=automation, position=position, system=action_system, operation=operation
        )
        for index, spec in enumerate(fields):
            AutomationFieldMapping.objects.create(action=action, position=index, **spec)
    return automation


def poll_here(automation: Automation, *, trigger: str = AutomationPoll.Trigger.MANUAL) -> AutomationPoll:
    """Request a poll and run it in this process (no worker)."""
    poll = automation_poll_request(automation=automation, trigger=trigger)
    automation_poll_execute(poll_id=poll.pk)
    poll.refresh_from_db()
    return poll


def wait_poll(poll: AutomationPoll, timeout: float = 180.0) -> AutomationPoll:
    def finished() -> AutomationPoll | None:
        current = AutomationPoll.objects.get(pk=poll.pk)
        return None if current.status in AutomationPoll.ACTIVE_STATUSES else current

    return wait_for(finished, timeout=timeout, message=f"poll #{poll.pk} did not finish in {timeout} s")


def account(system: str) -> SandboxAccount:
    return SandboxAccount.objects.get(system=system, account_id=LOCATION if system == "ghl" else "ws_demo")


def records(system: str, object_type: str) -> list[dict[str, Any]]:
    return [
        {"id": r.record_id, **r.data}
        for r in SandboxRecord.objects.filter(account__system=system, object_type=object_type, deleted=False).order_by(
            "created_at", "record_id"
        )
    ]


def ghl_contact_edit(record_id: str, **changes: Any) -> SandboxRecord:
    """Change a GHL contact in the sandbox, as a person would in GoHighLevel (its dateUpdated moves on)."""
    row = SandboxRecord.objects.get(account=account("ghl"), object_type="contact", record_id=record_id)
    return sandbox.sandbox_record_put(
        account=row.account, object_type="contact", record_id=row.record_id, data={**row.data, **changes}
    )
