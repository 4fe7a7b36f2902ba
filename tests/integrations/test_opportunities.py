"""Opportunities as a synced object type: GHL opportunities ↔ StreetText deals, pipeline and stage by name, through
the engine against the sandbox over real HTTP; and follow-up rules that enrol contacts in a workflow."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from integrations.models import RecordHistory, RecordLink, SyncRun
from integrations.services import sync
from mappings.models import Direction, FieldMapping, Mapping
from mappings.presets import preset_create
from sandbox.demo import sandbox_seed_demo_catalog, sandbox_seed_demo_children
from sandbox.models import SandboxRecord
from tests.integrations.support import GHL_TOKEN, LOCATION, ST_KEY, World, build_world

pytestmark = pytest.mark.django_db(transaction=True)
HEADERS = {"Authorization": f"Bearer {GHL_TOKEN}", "Version": "2021-07-28"}


@pytest.fixture(autouse=True)
def _fast(settings: Any) -> None:
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000
    settings.SANDBOX_RATE_LIMIT = 10_000
    settings.SYNC_PAGE_SIZE = 20


@pytest.fixture
def world(live_server: Any) -> World:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT, size=40)
    sandbox_seed_demo_children(ghl_location_id=LOCATION, streettext_api_key=ST_KEY)
    sandbox_seed_demo_catalog(ghl_location_id=LOCATION)
    return world


def execute(mapping: Mapping) -> SyncRun:
    run = SyncRun.objects.create(mapping=mapping, trigger=SyncRun.Trigger.MANUAL)
    sync.sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL), run.error
    return run


def ghl(world: World, method: str, path: str, **body: Any) -> Any:
    r = requests.request(method, f"{world.ghl.base_url}{path}", json=body or None, headers=HEADERS, timeout=10)
    assert r.status_code in (200, 201), r.text
    return r.json()


def deals() -> dict[str, dict[str, Any]]:
    rows = SandboxRecord.objects.filter(account__system="streettext", object_type="deal", deleted=False)
    return {r.record_id: r.data for r in rows}


def pipelines(world: World) -> list[dict[str, Any]]:
    return list(ghl(world, "GET", f"/opportunities/pipelines?locationId={LOCATION}")["pipelines"])


def test_opportunities_become_deals_with_pipeline_and_stage_by_name_and_follow_stage_moves(world: World) -> None:
    (mapping,) = preset_create(key="opportunities", ghl=world.ghl, streettext=world.streettext)
    execute(world.mapping)  # the contacts first (children attach through their contact's link)

    run = execute(mapping)

    links = RecordLink.objects.filter(object_type="opportunity")
    assert run.created == links.count() > 0
    names = {p["id"]: p for p in pipelines(world)}
    link = links.first()
    assert link is not None
    opportunity = ghl(world, "GET", f"/opportunities/{link.ghl_id}")["opportunity"]
    pipeline = names[opportunity["pipelineId"]]
    stage_names = {s["id"]: s["name"] for s in pipeline["stages"]}
    deal = deals()[link.streettext_id]
    assert deal["title"] == opportunity["name"]
    assert deal["pipeline"] == pipeline["name"]
    assert deal["stage"] == stage_names[opportunity["pipelineStageId"]]

    # Someone moves the opportunity to another stage in GHL: the deal follows, by name.
    other = next(s for s in pipeline["stages"] if s["id"] != opportunity["pipelineStageId"])
    ghl(world, "PUT", f"/opportunities/{link.ghl_id}", pipelineStageId=other["id"])
    moved = execute(mapping)

    assert deals()[link.streettext_id]["stage"] == other["name"]
    row = RecordHistory.objects.get(run=moved, ghl_id=link.ghl_id)
    assert row.changes["stage"] == {"before": stage_names[opportunity["pipelineStageId"]], "after": other["name"]}


def test_a_deal_stage_written_by_name_reaches_ghl_as_the_stage_id_and_an_unknown_name_fails_clearly(
    world: World,
) -> None:
    (mapping,) = preset_create(key="opportunities", ghl=world.ghl, streettext=world.streettext)
    execute(world.mapping)
    execute(mapping)
    back = Mapping.objects.create(
        name="deals back",
        object_type="opportunity",
        ghl_connection=world.ghl,
        streettext_connection=world.streettext,
        direction=Direction.TO_GHL,
        match_rules=["link"],
        create_missing=False,
    )
    FieldMapping.objects.create(
        mapping=back, direction=Direction.TO_GHL, target_field="pipelineStageName", source="stage"
    )
    links = list(RecordLink.objects.filter(object_type="opportunity")[:2])
    first, second = links
    opportunity = ghl(world, "GET", f"/opportunities/{first.ghl_id}")["opportunity"]
    pipeline = next(p for p in pipelines(world) if p["id"] == opportunity["pipelineId"])
    target = next(s for s in pipeline["stages"] if s["id"] != opportunity["pipelineStageId"])
    for link, stage in ((first, target["name"]), (second, "No such stage")):
        r = requests.patch(
            f"{world.streettext.base_url}/v1/deals/{link.streettext_id}",
            json={"stage": stage},
            headers={"X-Api-Key": ST_KEY},
            timeout=10,
        )
        assert r.status_code == 200, r.text

    run = execute(back)

    assert ghl(world, "GET", f"/opportunities/{first.ghl_id}")["opportunity"]["pipelineStageId"] == target["id"]
    failed = RecordHistory.objects.get(run=run, action=RecordHistory.Action.FAILED)
    assert failed.ghl_id == second.ghl_id
    assert 'no stage named "No such stage"' in failed.error


def test_a_follow_up_rule_enrols_the_contact_in_a_workflow_once(world: World) -> None:
    workflow = ghl(world, "GET", f"/workflows/?locationId={LOCATION}")["workflows"][0]
    vip = next(
        r.record_id
        for r in SandboxRecord.objects.filter(account__system="ghl", object_type="contact", deleted=False)
        if r.data.get("email")
    )
    ghl(world, "POST", f"/contacts/{vip}/tags", tags=["enrol-me"])
    Mapping.objects.filter(pk=world.mapping.pk).update(
        followup_rules=[
            {
                "name": "enrol",
                "when": {"field": "tags", "op": "contains", "value": "enrol-me"},
                "action": "workflow",
                "workflow_id": workflow["id"],
            }
        ]
    )
    world.mapping.refresh_from_db()

    run = execute(world.mapping)
    again = execute(world.mapping)

    row = RecordHistory.objects.get(run=run, reason__startswith="follow-up: workflow")
    assert (row.ghl_id, row.direction) == (vip, Direction.TO_GHL)
    memberships = requests.get(
        f"{world.ghl.base_url.removesuffix('/ghl')}/_control/ghl/memberships",
        params={"locationId": LOCATION, "contactId": vip},
        timeout=10,
    ).json()
    assert [m.get("workflowId") for m in memberships["workflows"]] == [workflow["id"]]
    assert not RecordHistory.objects.filter(run=again, reason__startswith="follow-up").exists()
