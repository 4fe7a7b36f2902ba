"""Every object type through the real worker: tasks, notes, appointments and businesses after the contacts."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.models import RecordLink, SyncRun
from mappings.models import Direction, FieldMapping, Mapping
from mappings.presets import preset_create
from sandbox.demo import sandbox_seed_demo_children
from sandbox.models import SandboxRecord
from tests.integrations.support import LOCATION, ST_KEY, build_world, run_via_worker

pytestmark = pytest.mark.worker


def test_each_object_type_syncs_through_the_worker(live_server: Any, worker: Any, settings: Any) -> None:
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT, size=30)
    seeded = sandbox_seed_demo_children(ghl_location_id=LOCATION, streettext_api_key=ST_KEY)
    businesses = Mapping.objects.create(
        name="businesses",
        object_type="business",
        ghl_connection=world.ghl,
        streettext_connection=world.streettext,
        match_rules=["link", "name"],
    )
    for field in ("name", "email", "city"):
        FieldMapping.objects.create(mapping=businesses, target_field=field, source=field)
    children = preset_create(key="historical_enrichment", ghl=world.ghl, streettext=world.streettext)

    assert run_via_worker(world.mapping).status == SyncRun.Status.PARTIAL  # the two bad phones
    assert run_via_worker(businesses).created == seeded["ghl_businesses"]
    for mapping in children:
        run = run_via_worker(mapping)
        assert run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL), run.error
        assert run.created > 0

    def count(system: str, object_type: str) -> int:
        return SandboxRecord.objects.filter(account__system=system, object_type=object_type, deleted=False).count()

    for object_type in ("task", "note", "appointment"):
        linked = RecordLink.objects.filter(object_type=object_type).count()
        assert linked > 0
        assert count("streettext", object_type) == seeded.get(f"streettext_{object_type}s", 0) + linked
    assert count("streettext", "organization") == seeded["ghl_businesses"]
