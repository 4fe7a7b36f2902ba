"""Builders for end-to-end tests: sandbox accounts, demo data and connections pointing at the live server."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from integrations.models import Connection, SyncRun, System
from integrations.services.runs import sync_run_request
from mappings.models import Direction, Mapping
from mappings.services import mapping_create_with_defaults
from sandbox import ratelimit
from sandbox import services as sandbox_services
from sandbox.demo import sandbox_seed_demo
from sandbox.models import SandboxAccount, SandboxRecord
from tests.conftest import wait_for

LOCATION = "loc-e2e"
GHL_TOKEN = "ghl-token-e2e"
ST_KEY = "st-key-e2e"
# Live mode in tests: GHL's latency, small (sandbox/live.py's default is 150–600 ms), and every ordinary deviation.
TEST_LIVE_LATENCY = (0.005, 0.02)
# Set by the `sandbox_mode` fixture (tests/integrations/conftest.py): build_world then puts its location in live mode.
_SANDBOX_MODE = {"live": False}


def sandbox_mode_set(*, live: bool) -> None:
    """Whether worlds built from now on have their GHL location in live mode (the `sandbox_mode` fixture's switch)."""
    _SANDBOX_MODE["live"] = live


def sandbox_live(location: str = LOCATION, *deviations: str) -> None:
    """The location in live mode with the tests' small latency: the given deviations, or every ordinary one."""
    sandbox_services.sandbox_set_live(location=location, latency=TEST_LIVE_LATENCY, deviations=deviations or None)


@dataclass
class World:
    ghl: Connection
    streettext: Connection
    mapping: Mapping
    seeded: dict[str, int]


def build_world(
    live_url: str,
    *,
    direction: str = Direction.BOTH,
    size: int = 60,
    allow_duplicate_contacts: bool = False,
    **mapping_options: Any,
) -> World:
    """Seeded sandbox accounts, two connections to them and a contacts mapping.

    `allow_duplicate_contacts` switches the GHL location to GHL's "Allow Duplicate Contact" setting: creates no
    longer refuse a second contact with the same email or phone, so a create repeated blindly shows as a duplicate.
    """
    ratelimit.rate_limit_reset()
    seeded = sandbox_seed_demo(ghl_location_id=LOCATION, ghl_token=GHL_TOKEN, streettext_api_key=ST_KEY, size=size)
    sandbox_location_allow_duplicates(LOCATION, allow=allow_duplicate_contacts)
    if _SANDBOX_MODE["live"]:
        sandbox_live(LOCATION)
    ghl = sandbox_ghl_connection(live_url, name="GHL e2e")
    st = sandbox_streettext_connection(live_url, name="StreetText e2e")
    mapping = mapping_create_with_defaults(
        name="e2e contacts", ghl_connection=ghl, streettext_connection=st, direction=direction, **mapping_options
    )
    return World(ghl=ghl, streettext=st, mapping=mapping, seeded=seeded)


def sandbox_location_allow_duplicates(location_id: str, *, allow: bool = True) -> None:
    """GHL's per-location "Allow Duplicate Contact" setting, in the sandbox (docs/ghl-facts.md)."""
    updated = SandboxAccount.objects.filter(system="ghl", account_id=location_id).update(allow_duplicate_contacts=allow)
    assert updated == 1, f"no sandbox GHL location {location_id!r}"


def sandbox_ghl_connection(
    live_url: str, *, name: str = "GHL sandbox", location: str = LOCATION, token: str = GHL_TOKEN
) -> Connection:
    """A GHL connection (Private Integration Token) to a sandbox location on the live server."""
    connection = Connection(
        name=name,
        system=System.GHL,
        base_url=f"{live_url}/sandbox/ghl",
        location_id=location,
        auth_type=Connection.AuthType.PRIVATE_TOKEN,
    )
    connection.api_secret = token
    connection.save()
    return connection


def sandbox_streettext_connection(live_url: str, *, name: str = "StreetText sandbox", key: str = ST_KEY) -> Connection:
    """A StreetText connection (API key) to a sandbox workspace on the live server."""
    connection = Connection(
        name=name,
        system=System.STREETTEXT,
        base_url=f"{live_url}/sandbox/streettext",
        auth_type=Connection.AuthType.API_KEY,
    )
    connection.api_secret = key
    connection.save()
    return connection


def wait_finished(run: SyncRun, timeout: float = 120.0) -> SyncRun:
    def finished() -> SyncRun | None:
        current = SyncRun.objects.get(pk=run.pk)
        return None if current.status in SyncRun.ACTIVE_STATUSES else current

    return wait_for(finished, timeout=timeout, message=f"run #{run.pk} did not finish in {timeout} s")


def run_via_worker(mapping: Mapping, **kwargs: Any) -> SyncRun:
    run = sync_run_request(mapping=mapping, trigger=kwargs.pop("trigger", SyncRun.Trigger.MANUAL), **kwargs)
    return wait_finished(run)


def sandbox_contacts(system: str) -> list[dict[str, Any]]:
    return [
        {"id": r.record_id, **r.data}
        for r in SandboxRecord.objects.filter(account__system=system, object_type="contact", deleted=False)
    ]


def body_of(call: Any) -> Any:
    """The JSON body a mocked request (`responses`) was sent with."""
    return json.loads(call.request.body)


def assert_no_spec_rejections() -> None:
    """The sandbox refused no GHL request for breaking GHL's official spec; otherwise show what it refused."""
    count = sandbox_services.sandbox_stats()["ghl"]["spec_rejections"]
    rejected = "\n".join(
        f"  {r['method']} {r['path']}: {'; '.join(r['messages'])}" for r in sandbox_services.sandbox_spec_rejections()
    )
    assert count == 0, f"the sandbox refused {count} GHL request(s) as not conforming to GHL's spec:\n{rejected}"


def st_contacts_to_ghl(live_url: str, count: int, *, word: str) -> Mapping:
    """`count` StreetText contacts ("<Word><n> …", <word><n>@example.com, distinct phones), an empty GHL location and
    a StreetText → GHL contacts mapping with the default field mappings."""
    sandbox_services.sandbox_account_create(system="ghl", account_id=LOCATION, secret=GHL_TOKEN)
    workspace = sandbox_services.sandbox_account_create(system="streettext", account_id=f"ws_{word}", secret=ST_KEY)
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    sandbox_services.sandbox_records_bulk_create(
        records=[
            SandboxRecord(
                account=workspace,
                object_type="contact",
                record_id=f"ct_{word}{n:04d}",
                data={
                    "first_name": f"{word.capitalize()}{n}",
                    "last_name": "Counted",
                    "email": f"{word}{n}@example.com",
                    "phone": f"+1415{5550000 + n:07d}",
                    "tags": [word],
                    "custom": {},
                },
                created_at=start + timedelta(milliseconds=n),
                updated_at=start + timedelta(milliseconds=n),
            )
            for n in range(count)
        ]
    )
    st = sandbox_streettext_connection(live_url, name=f"StreetText {word}")
    ghl = sandbox_ghl_connection(live_url)
    return mapping_create_with_defaults(
        name=word, ghl_connection=ghl, streettext_connection=st, direction=Direction.TO_GHL
    )
