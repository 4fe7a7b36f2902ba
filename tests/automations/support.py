"""Builders for the automation tests: sandbox accounts and connections on the live server, automations with their
actions and fields, sandbox records read back, and polls run in this process or through the real worker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from automations.models import (
    Automation,
    AutomationAction,
    AutomationFieldMapping,
    AutomationPath,
    AutomationPoll,
)
from automations.services.automations import automation_save
from automations.services.engine import automation_poll_execute
from automations.services.polls import automation_poll_request
from integrations.catalog.services import catalog_execute
from integrations.models import Connection, System
from sandbox import ratelimit
from sandbox import services as sandbox
from sandbox.demo import sandbox_seed_demo, sandbox_seed_demo_catalog, sandbox_seed_demo_children
from sandbox.models import SandboxAccount, SandboxRecord
from tests.conftest import wait_for
from tests.integrations.support import sandbox_ghl_connection, sandbox_streettext_connection

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
    ghl = sandbox_ghl_connection(live_url, name="GHL automations", location=LOCATION, token=GHL_TOKEN)
    st = sandbox_streettext_connection(live_url, name="StreetText automations", key=ST_KEY)
    return World(ghl=ghl, streettext=st, seeded=seeded)


def build_catalog_world(live_url: str, *, size: int = 10) -> World:
    """build_world plus the demo data of every other area of GHL's API (pipelines and opportunities, workflows,
    conversations, …), as `manage.py seed_demo` makes it."""
    world = build_world(live_url, size=size)
    world.seeded.update(sandbox_seed_demo_children(ghl_location_id=LOCATION, streettext_api_key=ST_KEY))
    world.seeded.update(sandbox_seed_demo_catalog(ghl_location_id=LOCATION))
    return world


def ghl_run(world: World, key: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
    """Run one catalog operation on the sandbox over HTTP, as a person would in GoHighLevel; its answer."""
    run = catalog_execute(connection=world.ghl, key=key, params=params or {}, body=body, log=False)
    assert run.ok, (key, run.error, run.messages)
    return run.data


def ghl_http(world: World, method: str, path: str, *, body: Any = None, version: str = "2021-04-15") -> Any:
    """One request to the sandbox's GHL API, as GoHighLevel's own app would send it (a person sending a message)."""
    answer = requests.request(
        method,
        f"{world.ghl.base_url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {GHL_TOKEN}", "Version": version},
        timeout=10,
    )
    assert answer.status_code < 300, answer.text[:400]
    return answer.json()


def sandbox_control(world: World, method: str, name: str, **kwargs: Any) -> Any:
    """The sandbox's control endpoints (/sandbox/_control/ghl/<name>): a customer's reply, workflow memberships."""
    root = world.ghl.base_url.rsplit("/ghl", 1)[0]
    answer = requests.request(method, f"{root}/_control/ghl/{name}", timeout=10, **kwargs)
    assert answer.status_code < 300, answer.text[:400]
    return answer.json()


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


def add_step(
    automation: Automation,
    position: int,
    *,
    kind: str = AutomationAction.Kind.ACTION,
    path: AutomationPath | None = None,
    action: tuple[str, str, list[dict[str, Any]]] | None = None,
    **options: Any,
) -> AutomationAction:
    """One step of an automation (on the main line, or in `path`): an action (system, operation, fields), a router or
    a wait."""
    system, operation, fields = action or (System.STREETTEXT, "", [])
    step = AutomationAction.objects.create(
        automation=automation, path=path, position=position, kind=kind, system=system, operation=operation, **options
    )
    for index, spec in enumerate(fields):
        AutomationFieldMapping.objects.create(action=step, position=index, **spec)
    return step


def add_path(router: AutomationAction, position: int, name: str, **options: Any) -> AutomationPath:
    return AutomationPath.objects.create(
        automation=router.automation, router=router, position=position, name=name, **options
    )


def automation_form_data(**overrides: Any) -> dict[str, Any]:
    """What the automation add page posts (no steps, no paths), with `overrides`; a key set to None is left out (an
    unticked box)."""
    data = {
        "name": "Contacts to tasks",
        "description": "",
        "enabled": "on",
        "ghl_connection": "",
        "streettext_connection": "",
        "trigger_key": "search-contacts",
        "trigger_params": "",
        "trigger_body": '{"pageLimit": 50}',
        "on_new": "on",
        "on_updated": "on",
        "watch_fields": "",
        "record_filter": "",
        "start_from_0": "2020-01-01",
        "start_from_1": "00:00:00",
        "schedule_minutes": "5",
        "phone_region": "US",
        "actions-TOTAL_FORMS": "0",
        "actions-INITIAL_FORMS": "0",
        "actions-MIN_NUM_FORMS": "0",
        "actions-MAX_NUM_FORMS": "1000",
        "paths-TOTAL_FORMS": "0",
        "paths-INITIAL_FORMS": "0",
        "paths-MIN_NUM_FORMS": "0",
        "paths-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}
