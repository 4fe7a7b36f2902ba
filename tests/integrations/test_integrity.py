"""Data-integrity defects found by editing mappings after they synced and by running mappings side by side (issue 17):
a re-sync writes only the direction whose configuration changed, opposite one-way mappings keep the originals and
compare datetimes as instants, enrich writes and counts a record once per run, a record another mapping wrote is
counted (not written) when it is unchanged for this one, and follow-up titles render from the enriched record. The
engine runs in-process against the sandbox over real HTTP (live_server)."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.models import RecordHistory, RecordLink, SyncRun
from mappings.models import Direction, FieldMapping
from mappings.selectors import mapping_resync_summary
from tests.integrations.support import World, build_world
from tests.integrations.test_sync_together import contacts, execute

pytestmark = pytest.mark.django_db(transaction=True)
Action = RecordHistory.Action
UPPER = {"name": "upper", "params": {}}


@pytest.fixture(autouse=True)
def _fast(settings: Any) -> None:
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000
    settings.SANDBOX_RATE_LIMIT = 10_000
    settings.SYNC_PAGE_SIZE = 20
    settings.API_BACKOFF_FACTOR = 0


@pytest.fixture
def world(live_server: Any) -> World:
    return build_world(live_server.url, direction=Direction.BOTH, size=30)


def written(run: SyncRun, direction: str) -> int:
    return RecordHistory.objects.filter(
        run=run, direction=direction, action__in=[Action.CREATED, Action.UPDATED]
    ).count()


# -- 1. a re-sync writes only the edited direction ----------------------------------------------------------------


def test_a_resync_after_editing_one_direction_writes_only_that_direction(world: World) -> None:
    execute(world.mapping)
    linked = RecordLink.objects.filter(object_type="contact").count()
    ghl_before = {i: c.get("lastName") for i, c in contacts("ghl").items()}
    assert mapping_resync_summary(mapping=world.mapping).outdated == 0
    rule = FieldMapping.objects.get(mapping=world.mapping, direction=Direction.TO_STREETTEXT, target_field="last_name")
    rule.transforms = [*rule.transforms, UPPER]
    rule.save()
    assert mapping_resync_summary(mapping=world.mapping).outdated == linked

    resync = execute(world.mapping, scope=SyncRun.Scope.LINKED)

    st_names = [
        contacts("streettext")[i].get("last_name")
        for i in RecordLink.objects.filter(object_type="contact").values_list("streettext_id", flat=True)
    ]
    upper = [n for n in st_names if n and n == n.upper() and n != n.lower()]
    assert len(upper) >= linked // 2, st_names
    assert written(resync, Direction.TO_STREETTEXT) == len(upper)
    # GoHighLevel, whose field mappings did not change, is neither forced nor written.
    assert written(resync, Direction.TO_GHL) == 0
    assert {i: c.get("lastName") for i, c in contacts("ghl").items()} == ghl_before
    assert mapping_resync_summary(mapping=world.mapping).outdated == 0
    again = execute(world.mapping, scope=SyncRun.Scope.LINKED)
    assert (again.created, again.updated) == (0, 0)
