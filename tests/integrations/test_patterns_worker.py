"""Every preset together with the two-way demo mapping on the same connections, through the real worker, with edits
on both sides between rounds: no edit reverted, no duplicate, no bogus follow-up, StreetText-only tags kept, deletions
propagated per policy, and not one request GHL's spec would refuse."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import requests

from integrations.models import RecordHistory, RecordLink, SyncRun
from mappings.models import Direction, Mapping
from mappings.presets import PRESETS, preset_create
from sandbox import services as sandbox
from sandbox.demo import sandbox_seed_demo_children
from sandbox.models import SandboxRecord
from tests.integrations.support import GHL_TOKEN, LOCATION, ST_KEY, World, build_world, run_via_worker

pytestmark = pytest.mark.worker
Action = RecordHistory.Action


@pytest.fixture(autouse=True)
def _fast(settings: Any) -> None:
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000
    settings.SANDBOX_RATE_LIMIT = 10_000


def ghl(world: World, method: str, path: str, **body: Any) -> Any:
    r = requests.request(
        method,
        f"{world.ghl.base_url}{path}",
        json=body or None,
        headers={"Authorization": f"Bearer {GHL_TOKEN}", "Version": "2021-07-28"},
        timeout=10,
    )
    assert r.status_code in (200, 201), r.text
    return r.json()


def st(world: World, method: str, path: str, **body: Any) -> Any:
    r = requests.request(
        method, f"{world.streettext.base_url}{path}", json=body or None, headers={"X-Api-Key": ST_KEY}, timeout=10
    )
    assert r.status_code in (200, 201, 204), r.text
    return r.json() if r.content else {}


def live(system: str, object_type: str = "contact") -> dict[str, dict[str, Any]]:
    rows = SandboxRecord.objects.filter(account__system=system, object_type=object_type, deleted=False)
    return {r.record_id: r.data for r in rows}


def run_all(mappings: list[Mapping]) -> list[SyncRun]:
    runs = []
    for mapping in mappings:
        run = run_via_worker(mapping)
        assert run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL), (mapping.name, run.error)
        runs.append(run)
    return runs


def tags(data: dict[str, Any]) -> set[str]:
    return {t.lower() for t in data.get("tags") or []}


def test_every_preset_beside_the_two_way_mapping_with_edits_on_both_sides(live_server: Any, worker: Any) -> None:
    world = build_world(live_server.url, direction=Direction.BOTH, size=40, delete_policy=Mapping.DeletePolicy.DELETE)
    sandbox_seed_demo_children(ghl_location_id=LOCATION, streettext_api_key=ST_KEY)
    presets = [m for key in PRESETS for m in preset_create(key=key, ghl=world.ghl, streettext=world.streettext)]
    everything = [world.mapping, *presets]
    sandbox.sandbox_stats_reset()

    run_all(everything)
    run_all(everything)
    links = list(RecordLink.objects.filter(object_type="contact").exclude(email="").order_by("pk"))
    a, b, c, d = links[:4]
    tasks_before = set(live("ghl", "task"))

    # Between rounds, people edit both sides.
    ghl(world, "PUT", f"/contacts/{a.ghl_id}", firstName="EditedInGHL")
    ghl(world, "POST", f"/contacts/{a.ghl_id}/tags", tags=["from-ghl", "callback"])
    st_a = live("streettext")[a.streettext_id]
    st(world, "PATCH", f"/v1/contacts/{a.streettext_id}", tags=[*(st_a.get("tags") or []), "st-only"])
    ghl(world, "PUT", f"/contacts/{b.ghl_id}", lastName="")
    st(world, "PATCH", f"/v1/contacts/{c.streettext_id}", last_name="EditedInStreetText")
    ghl(world, "DELETE", f"/contacts/{d.ghl_id}")
    ghl(
        world,
        "POST",
        "/contacts/",
        firstName="Genuine",
        lastName="Lead",
        email="genuine.lead@example.com",
        locationId=LOCATION,
    )
    st(world, "POST", "/v1/contacts", first_name="Genuine", last_name="Lead", email="genuine.lead@example.com")

    second = run_all(everything)
    third = run_all(everything)
    quiet = run_all(everything)

    ghl_contacts, st_contacts = live("ghl"), live("streettext")
    # No edit reverted; each reached the other side; the cleared field is cleared.
    assert ghl_contacts[a.ghl_id]["firstName"] == st_contacts[a.streettext_id]["first_name"] == "EditedInGHL"
    assert not st_contacts[b.streettext_id].get("last_name")
    assert ghl_contacts[c.ghl_id]["lastName"] == "EditedInStreetText"
    reverted = [
        row
        for row in RecordHistory.objects.filter(run__in=second + third, ghl_id=a.ghl_id, direction=Direction.TO_GHL)
        if "firstName" in row.changes
    ]
    assert not reverted, [r.changes for r in reverted]
    # Tags merged: what either side added is on both, the StreetText-only tag survived every mapping writing tags.
    assert {"from-ghl", "st-only"} <= tags(st_contacts[a.streettext_id])
    assert {"from-ghl", "st-only"} <= tags(ghl_contacts[a.ghl_id])
    # The deletion in GHL reached StreetText (policy: delete).
    assert d.ghl_id not in ghl_contacts
    assert d.streettext_id not in st_contacts
    # No duplicate on either side.
    for side in (ghl_contacts, st_contacts):
        emails = [str(x.get("email") or "").lower() for x in side.values() if x.get("email")]
        assert len(emails) == len(set(emails)), Counter(emails).most_common(3)
    for object_type in ("task", "note", "appointment"):
        st_links = RecordLink.objects.filter(object_type=object_type).values_list("streettext_id", flat=True)
        assert len(st_links) == len(set(st_links))
    # Follow-ups: exactly one for the genuine new lead, one callback task for the newly tagged contact, none for
    # the copies this app made, and nothing again on later rounds.
    # (Counted among the tasks made since the edits: deleting contact d in GHL took its own tasks with it.)
    ghl_tasks = live("ghl", "task")
    titles = [t.get("title", "") for t in ghl_tasks.values()]
    assert sum("new StreetText lead" in t for t in titles) == 1, [t for t in titles if "lead" in t]
    new_callbacks = [t for key, t in ghl_tasks.items() if key not in tasks_before and t["title"].startswith("Call")]
    assert [t["contactId"] for t in new_callbacks] == [a.ghl_id], new_callbacks
    assert not RecordHistory.objects.filter(run__in=quiet, reason__startswith="follow-up task").exists()
    # The last round found nothing left to do.
    assert sum(r.created + r.updated + r.deleted for r in quiet) == 0, [(r.mapping.name, r.updated) for r in quiet]
    # Not one request the official spec would refuse.
    assert sandbox.sandbox_stats()["ghl"].get("spec_rejections", 0) == 0
