"""Tasks, notes, appointments, businesses, tags and the ready-made patterns, end to end against the sandbox
(real HTTP; the engine in-process here, through the worker in test_sync_end_to_end)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from integrations.models import RecordHistory, RecordLink, SyncRun
from integrations.services import sync
from mappings.models import Direction, FieldMapping, Mapping
from mappings.presets import preset_create
from sandbox.demo import sandbox_seed_demo_children
from sandbox.models import SandboxRecord
from tests.integrations.support import GHL_TOKEN, LOCATION, ST_KEY, World, build_world

pytestmark = pytest.mark.django_db(transaction=True)
Action = RecordHistory.Action
GHL_HEADERS = {"Authorization": f"Bearer {GHL_TOKEN}", "Version": "2021-07-28"}


@pytest.fixture(autouse=True)
def _fast(settings: Any) -> None:
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000
    settings.SANDBOX_RATE_LIMIT = 10_000
    settings.SYNC_PAGE_SIZE = 25


@pytest.fixture
def world(live_server: Any) -> World:
    w = build_world(live_server.url, direction=Direction.TO_STREETTEXT, size=40)
    w.seeded.update(sandbox_seed_demo_children(ghl_location_id=LOCATION, streettext_api_key=ST_KEY))
    return w


def execute(mapping: Mapping, **kwargs: Any) -> SyncRun:
    run = SyncRun.objects.create(mapping=mapping, trigger=SyncRun.Trigger.MANUAL, **kwargs)
    sync.sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def records(system: str, object_type: str) -> dict[str, dict[str, Any]]:
    rows = SandboxRecord.objects.filter(account__system=system, object_type=object_type, deleted=False)
    return {r.record_id: r.data for r in rows}


def contact_link_map() -> dict[str, str]:
    return dict(RecordLink.objects.filter(object_type="contact").values_list("ghl_id", "streettext_id"))


def test_tasks_follow_their_contact_which_is_synced_first_when_needed(world: World) -> None:
    (tasks,) = preset_create(key="task_orchestration", ghl=world.ghl, streettext=world.streettext)
    ghl_tasks = records("ghl", "task")

    run = execute(tasks)  # contacts not synced yet: each task's contact is synced first, in this run

    assert RecordHistory.objects.filter(run=run, mapping=world.mapping).exists()  # the contacts, in the same run
    # Only tasks whose contact cannot be synced (an unparseable phone) fail, and they say why.
    unsyncable = {i for i, c in records("ghl", "contact").items() if c.get("phone") in ("12", "call me")}
    failed = RecordHistory.objects.filter(run=run, mapping=tasks, action=Action.FAILED)
    assert {row.ghl_id.split("/")[0] for row in failed} <= unsyncable
    assert all("could not be synced first" in row.error and "phone" in row.error for row in failed)
    st_tasks = records("streettext", "task")
    links = contact_link_map()
    task_links = RecordLink.objects.filter(object_type="task")
    assert task_links.count() == len(ghl_tasks) - failed.count()
    for link in task_links:
        contact_id, task_id = link.ghl_id.split("/")
        st_task = st_tasks[link.streettext_id]
        # Never attached to the wrong contact.
        assert st_task["contact_id"] == links[contact_id]
        assert st_task["title"] == ghl_tasks[task_id]["title"]
        assert st_task["completed"] == ghl_tasks[task_id]["completed"]

    # A status change in GHL (through the /completed endpoint) reaches StreetText on the next run.
    open_link = task_links.filter(streettext_id__in=[k for k, v in st_tasks.items() if not v["completed"]]).first()
    assert open_link is not None
    link = open_link
    contact_id, task_id = link.ghl_id.split("/")
    r = requests.put(
        f"{world.ghl.base_url}/contacts/{contact_id}/tasks/{task_id}/completed",
        json={"completed": True},
        headers=GHL_HEADERS,
        timeout=10,
    )
    assert r.status_code == 200, r.text
    again = execute(tasks)
    assert again.updated == 1
    assert records("streettext", "task")[link.streettext_id]["completed"] is True


def test_tasks_both_ways_use_the_completed_endpoint(world: World) -> None:
    execute(world.mapping)
    tasks = Mapping.objects.create(
        name="tasks both ways",
        object_type="task",
        ghl_connection=world.ghl,
        streettext_connection=world.streettext,
        direction=Direction.BOTH,
        match_rules=["link"],
    )
    for direction, pairs in (
        (Direction.TO_STREETTEXT, [("title", "title"), ("completed", "completed"), ("due_at", "dueDate")]),
        (Direction.TO_GHL, [("title", "title"), ("completed", "completed"), ("dueDate", "due_at")]),
    ):
        for target, source in pairs:
            FieldMapping.objects.create(mapping=tasks, direction=direction, target_field=target, source=source)
    first = execute(tasks)
    # Tasks of contacts that cannot be linked (StreetText-only contacts with no StreetText → GHL contacts
    # mapping here, or unparseable phones) fail with the reason; the others are created under the right contact.
    failed = RecordHistory.objects.filter(run=first, mapping=tasks, action=Action.FAILED)
    assert all("could not be synced first" in row.error for row in failed)
    st_created = RecordHistory.objects.filter(run=first, direction=Direction.TO_GHL, action=Action.CREATED)
    assert st_created.count() == world.seeded["streettext_tasks"] - failed.filter(direction=Direction.TO_GHL).count()
    assert st_created.count() > 0
    open_tasks = [k for k, v in records("streettext", "task").items() if not v["completed"]]
    link = RecordLink.objects.filter(object_type="task", streettext_id__in=open_tasks).first()
    assert link is not None
    r = requests.patch(
        f"{world.streettext.base_url}/v1/tasks/{link.streettext_id}",
        json={"completed": True},
        headers={"X-Api-Key": ST_KEY},
        timeout=10,
    )
    assert r.status_code == 200
    second = execute(tasks)
    task_id = link.ghl_id.split("/")[1]
    assert records("ghl", "task")[task_id]["completed"] is True
    assert second.updated == 1
    assert execute(tasks).updated == 0


def test_a_child_without_a_contacts_mapping_fails_with_a_clear_reason(world: World) -> None:
    Mapping.objects.filter(pk=world.mapping.pk).update(enabled=False)
    (notes,) = preset_create(key="notes_history", ghl=world.ghl, streettext=world.streettext)
    st_notes_before = records("streettext", "note")
    run = execute(notes)
    assert run.created == 0
    errors = set(RecordHistory.objects.filter(run=run, action=Action.FAILED).values_list("error", flat=True))
    assert errors
    assert all("is not linked to StreetText" in e and "no enabled contact mapping" in e for e in errors)
    assert records("streettext", "note") == st_notes_before


def test_notes_keep_their_timestamps(world: World) -> None:
    execute(world.mapping)
    (notes,) = preset_create(key="notes_history", ghl=world.ghl, streettext=world.streettext)
    run = execute(notes)
    assert run.created == world.seeded["ghl_notes"]
    st_notes = records("streettext", "note")
    for link in RecordLink.objects.filter(object_type="note"):
        r = requests.get(
            f"{world.ghl.base_url}/contacts/{link.ghl_id.replace('/', '/notes/')}", headers=GHL_HEADERS, timeout=10
        )
        source = r.json()["note"]
        assert st_notes[link.streettext_id]["written_at"][:19] == source["dateAdded"][:19]
        assert st_notes[link.streettext_id]["body"] == source["body"]


def test_historical_enrichment_pulls_appointments_too(world: World) -> None:
    execute(world.mapping)
    mappings = preset_create(key="historical_enrichment", ghl=world.ghl, streettext=world.streettext)
    appointments = next(m for m in mappings if m.object_type == "appointment")
    run = execute(appointments)
    assert run.failed == 0
    assert run.created == world.seeded["ghl_appointments"]
    st = records("streettext", "appointment")
    assert {a["status"] for a in st.values()} <= {"scheduled", "confirmed", "cancelled", "showed", "no_show"}
    assert execute(appointments).created == 0


def test_businesses_and_the_contact_business_link(world: World) -> None:
    businesses = Mapping.objects.create(
        name="businesses",
        object_type="business",
        ghl_connection=world.ghl,
        streettext_connection=world.streettext,
        match_rules=["link", "name"],
    )
    for field in ("name", "email", "website", "city", "country", "description"):
        FieldMapping.objects.create(mapping=businesses, target_field=field, source=field)
    assert execute(businesses).created == world.seeded["ghl_businesses"]
    FieldMapping.objects.create(mapping=world.mapping, target_field="organization_id", source="businessId")

    execute(world.mapping)

    orgs = dict(RecordLink.objects.filter(object_type="business").values_list("ghl_id", "streettext_id"))
    links = contact_link_map()
    st_contacts = records("streettext", "contact")
    linked = 0
    for ghl_id, ghl_contact in records("ghl", "contact").items():
        if ghl_contact.get("businessId") and ghl_id in links:
            assert st_contacts[links[ghl_id]]["organization_id"] == orgs[ghl_contact["businessId"]]
            linked += 1
    assert linked > 0


def test_tags_merge_what_the_source_changed_and_keep_tags_only_the_target_has(world: World) -> None:
    execute(world.mapping)
    back = Mapping.objects.create(
        name="tags back",
        ghl_connection=world.ghl,
        streettext_connection=world.streettext,
        direction=Direction.TO_GHL,
        create_missing=False,
    )
    FieldMapping.objects.create(mapping=back, direction=Direction.TO_GHL, target_field="tags", source="tags")
    ghl_id, st_id = next(iter(contact_link_map().items()))

    def st_tags(tags: list[str]) -> None:
        r = requests.patch(
            f"{world.streettext.base_url}/v1/contacts/{st_id}",
            json={"tags": tags},
            headers={"X-Api-Key": ST_KEY},
            timeout=10,
        )
        assert r.status_code == 200

    def ghl_tags() -> list[str]:
        return list(records("ghl", "contact")[ghl_id]["tags"])

    # GHL has a tag of its own; StreetText has one GHL lacks: the first sync adds it and keeps GHL's.
    ghl_only = sandbox_tag(ghl_id, "ghl-only")
    st_tags(["st-1", "st-2"])
    first = execute(back, only_ids={"streettext": [st_id]})
    assert first.updated == 1
    assert {"ghl-only", "st-1", "st-2"} <= {t.lower() for t in ghl_tags()}
    before = ghl_tags()

    # StreetText removes st-1 and adds from-streettext: exactly that reaches GHL; ghl-only stays.
    st_tags(["st-2", "from-streettext"])
    run = execute(back, only_ids={"streettext": [st_id]})

    after = ghl_tags()
    assert run.updated == 1
    assert "st-1" not in after
    assert {"ghl-only", "st-2", "from-streettext"} <= set(after)
    assert set(after) == (set(before) - {"st-1"}) | {"from-streettext"}
    change = RecordHistory.objects.get(run=run).changes["tags"]
    assert set(change["before"]) == set(before)
    assert set(change["after"]) == set(after)
    assert ghl_only in after


def sandbox_tag(ghl_id: str, tag: str) -> str:
    """Give a GHL contact a tag directly in the sandbox (someone tagging it in GHL)."""
    record = SandboxRecord.objects.get(account__system="ghl", object_type="contact", record_id=ghl_id)
    record.data = {**record.data, "tags": [*(record.data.get("tags") or []), tag]}
    record.save(update_fields=["data"])
    return tag


def test_contact_data_sync_pattern_fills_streettext_profiles_and_creates_one_followup(world: World) -> None:
    (pattern,) = preset_create(key="contact_data_sync", ghl=world.ghl, streettext=world.streettext)
    # A new StreetText lead, known in GHL by its email (written in another case here).
    st_emails = {(c.get("email") or "").lower() for c in records("streettext", "contact").values()}
    ghl_id, ghl_contact = next(
        (i, c) for i, c in records("ghl", "contact").items() if c.get("email") and c["email"].lower() not in st_emails
    )
    r = requests.post(
        f"{world.streettext.base_url}/v1/contacts",
        json={"email": ghl_contact["email"].upper()},
        headers={"X-Api-Key": ST_KEY},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    lead_id = r.json()["contact"]["id"]
    st_before = records("streettext", "contact")
    ghl_tasks_before = len(records("ghl", "task"))

    run = execute(pattern)

    assert len(records("streettext", "contact")) == len(st_before)  # enrich never creates contacts
    lead = records("streettext", "contact")[lead_id]
    assert lead["first_name"] == ghl_contact["firstName"]
    assert lead["email"] == ghl_contact["email"].strip().lower()
    assert RecordHistory.objects.filter(run=run, action=Action.UPDATED).count() > 1  # older contacts filled in too
    # Only the new lead (created in the last 7 days) gets a follow-up task in GHL, on its GHL contact.
    followups = RecordHistory.objects.filter(run=run, reason__startswith="follow-up task")
    assert followups.count() == 1
    assert followups.get().ghl_id.startswith(f"{ghl_id}/")
    assert len(records("ghl", "task")) == ghl_tasks_before + 1
    # Nothing changed since: a second run writes nothing and makes no second follow-up task.
    second = execute(pattern)
    assert (second.created, second.updated) == (0, 0)


def test_lead_qualification_scores_and_tags_leads(world: World) -> None:
    st_emails = {(c.get("email") or "").lower() for c in records("streettext", "contact").values()}
    ghl = records("ghl", "contact")
    vip_id = next(i for i, c in ghl.items() if c.get("email") and c["email"].lower() in st_emails)
    requests.post(
        f"{world.ghl.base_url}/contacts/{vip_id}/tags", json={"tags": ["vip"]}, headers=GHL_HEADERS, timeout=10
    )
    (pattern,) = preset_create(key="lead_qualification", ghl=world.ghl, streettext=world.streettext)

    execute(pattern)

    link = RecordLink.objects.get(object_type="contact", ghl_id=vip_id)
    lead = records("streettext", "contact")[link.streettext_id]
    assert "hot-lead" in lead["tags"]
    assert lead["custom"]["lead_score"] >= 40
