"""Each preset doing what it promises, StreetText being the real sandbox over HTTP.

- New appointment → StreetText note: against the sandbox (it serves calendar events).
- Opportunity stage changed / won, new inbound message, StreetText tag → workflow: their GoHighLevel operations
  (search-opportunities, search-conversations, add-contact-to-workflow, find-contact) are not served by the sandbox
  yet, so GoHighLevel is answered by tests/automations/fake_ghl.py in the spec's shapes. Once the sandbox serves
  them, the same flows run against it unchanged: point the GHL connection at the sandbox and create the data with
  the catalog's actions instead of FakeGhl.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import responses
from django.utils import timezone

from automations.models import AutomationActionRun, AutomationItem
from automations.presets import PRESETS, automation_create_from_preset
from integrations.adapters.clients import streettext_client_for
from integrations.catalog.services import catalog_execute
from integrations.models import Connection, System
from tests.automations.fake_ghl import BASE, FakeGhl
from tests.automations.support import World, build_world, poll_here, records

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fast(settings: Any) -> None:
    settings.API_TRANSPORT_RETRIES = 0
    settings.SANDBOX_RATE_LIMIT = 100_000
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 100_000


@pytest.fixture
def fake(live_server: Any, fast: None) -> Iterator[tuple[World, FakeGhl]]:
    """The sandbox world, with its GHL connection answered by FakeGhl (StreetText passes through to the sandbox)."""
    world = build_world(live_server.url, size=10)
    Connection.objects.filter(pk=world.ghl.pk).update(base_url=BASE)
    world.ghl.refresh_from_db()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_passthru(live_server.url)
        yield world, FakeGhl(rsps)


def _st_contacts_with_email(world: World, count: int) -> list[dict[str, Any]]:
    client = streettext_client_for(world.streettext)
    return [c for c in client.list_contacts(limit=50)["data"] if c.get("email")][:count]


def test_every_preset_makes_a_valid_automation(live_server: Any) -> None:
    world = build_world(live_server.url, size=10)
    inputs = {"calendar_id": "cal_1", "tag": "nurture", "workflow_id": "wf_1", "stage_id": "s2"}
    for key in PRESETS:
        automation = automation_create_from_preset(key=key, ghl=world.ghl, streettext=world.streettext, inputs=inputs)
        automation.full_clean()
        assert automation.enabled
        assert automation.schedule_minutes == 5
        assert automation.periodic_task is not None
        assert automation.actions.exists()
        assert all(a.field_mappings.exists() for a in automation.actions.all())


def test_new_appointment_becomes_a_streettext_note_once(live_server: Any, fast: None) -> None:
    world = build_world(live_server.url, size=10)
    st_by_email = {c["email"].lower(): c["id"] for c in records("streettext", "contact") if c.get("email")}
    ghl_contacts = [c for c in records("ghl", "contact") if c.get("email") and c["email"].lower() in st_by_email]

    def book(contact: dict[str, Any], title: str) -> dict[str, Any]:
        start = timezone.now() + timedelta(days=2)
        made = catalog_execute(
            connection=world.ghl,
            key="create-appointment",
            body={
                "calendarId": "cal_demo",
                "contactId": contact["id"],
                "startTime": start.isoformat(),
                "endTime": (start + timedelta(hours=1)).isoformat(),
                "title": title,
            },
            log=False,
        )
        assert made.ok, made.messages
        return dict(made.data)

    book(ghl_contacts[0], "Booked before the automation")
    automation = automation_create_from_preset(
        key="new_appointment_note", ghl=world.ghl, streettext=world.streettext, inputs={"calendar_id": "cal_demo"}
    )
    first = poll_here(automation)
    assert (first.status, first.skipped, first.handled) == ("succeeded", 1, 0)  # existed before: not handled

    first_new = book(ghl_contacts[1], "Intro call")
    book(ghl_contacts[2], "Demo")
    second = poll_here(automation)
    assert (second.status, second.new, second.handled) == ("succeeded", 2, 2), second.error
    notes = records("streettext", "note")
    assert sorted(n["title"] for n in notes) == ["Appointment: Demo", "Appointment: Intro call"]
    note = next(n for n in notes if n["title"] == "Appointment: Intro call")
    assert note["contact_id"] == st_by_email[ghl_contacts[1]["email"].lower()]
    assert note["body"].startswith("Intro call from ")

    # A change to an appointment is not a new one; a poll with nothing new does nothing.
    moved = catalog_execute(
        connection=world.ghl,
        key="update-appointment",
        params={"eventId": first_new["id"]},
        body={"title": "Intro call (moved)"},
        log=False,
    )
    assert moved.ok, moved.messages
    third = poll_here(automation)
    assert (third.updated, third.handled, third.skipped) == (1, 0, 1)
    assert poll_here(automation).handled == 0
    assert len(records("streettext", "note")) == 2


def test_opportunity_stage_changed_and_won_tag_and_task_once(fake: tuple[World, FakeGhl]) -> None:
    world, ghl = fake
    people = _st_contacts_with_email(world, 4)
    for n, person in enumerate(people, start=1):
        ghl.contact(f"g{n}", person["email"])
    ghl.opportunity("o1", contactId="g1", ago=timedelta(hours=1))
    ghl.opportunity("o2", contactId="g2", ago=timedelta(hours=1))
    ghl.opportunity("o3", contactId="g3", status="won", ago=timedelta(hours=1))  # won before: never tagged
    stage = automation_create_from_preset(
        key="opportunity_stage_changed", ghl=world.ghl, streettext=world.streettext, inputs={"tag": "stage-moved"}
    )
    won = automation_create_from_preset(
        key="opportunity_won", ghl=world.ghl, streettext=world.streettext, inputs={"tag": "customer"}
    )
    for automation in (stage, won):
        poll = poll_here(automation)
        assert (poll.status, poll.skipped, poll.handled) == ("succeeded", 3, 0), poll.error

    ghl.opportunity("o1", pipelineStageId="s2")  # moved
    ghl.opportunity("o2", status="won")  # won, same stage
    ghl.opportunity("o4", contactId="g4")  # new, not moved
    moved, first_won = poll_here(stage), poll_here(won)
    assert (moved.updated, moved.new, moved.handled) == (2, 1, 1), moved.error
    assert (first_won.handled, first_won.skipped) == (1, 2), first_won.error

    contacts = {c["email"]: c for c in records("streettext", "contact") if c.get("email")}
    assert contacts[people[0]["email"]]["tags"][-1] == "stage-moved"
    assert "customer" in contacts[people[1]["email"]]["tags"]
    assert "customer" not in contacts[people[2]["email"]]["tags"]
    tasks = records("streettext", "task")
    assert [(t["contact_id"], t["title"]) for t in tasks] == [
        (people[0]["id"], "Opportunity Deal o1: moved to a new stage")
    ]

    # Edits that are no stage change and no new win: nothing again.
    ghl.opportunity("o2", monetaryValue=999)
    ghl.opportunity("o1", name="Renamed")
    assert (poll_here(stage).handled, poll_here(won).handled) == (0, 0)
    reasons = set(AutomationItem.objects.filter(change="updated", status="skipped").values_list("reason", flat=True))
    assert "It already met the condition before this change." in reasons
    assert "None of the watched fields changed (pipelineStageId)." in reasons
    assert len(records("streettext", "task")) == 1
    # Search Opportunities was read with the location and page size, as the catalog builds it.
    assert "location_id=loc-auto" in ghl.requests[0]
    assert "limit=100" in ghl.requests[0]


def test_a_new_inbound_message_becomes_a_streettext_activity_once(fake: tuple[World, FakeGhl]) -> None:
    world, ghl = fake
    people = _st_contacts_with_email(world, 3)
    for n, person in enumerate(people, start=1):
        ghl.contact(f"g{n}", person["email"])
    old = int((timezone.now() - timedelta(days=1)).timestamp() * 1000)
    ghl.conversation("c1", contactId="g1", lastMessageBody="Hi", lastMessageDirection="inbound", lastMessageDate=old)
    automation = automation_create_from_preset(
        key="inbound_message_activity", ghl=world.ghl, streettext=world.streettext
    )
    first = poll_here(automation)
    assert (first.skipped, first.handled) == (1, 0)  # the conversation as it was: existing

    now = int(timezone.now().timestamp() * 1000)
    ghl.conversation("c1", lastMessageBody="Are you open on Sunday?", lastMessageDate=now)
    ghl.conversation("c2", contactId="g2", lastMessageBody="Hello", lastMessageDirection="inbound", lastMessageDate=now)
    ghl.conversation("c3", contactId="g3", lastMessageBody="Our offer", lastMessageDirection="outbound")
    second = poll_here(automation)
    assert (second.updated, second.new, second.handled, second.skipped) == (1, 2, 2, 1), second.error
    activities = records("streettext", "activity")
    assert sorted((a["contact_id"], a["text"], a["type"]) for a in activities) == sorted(
        [(people[0]["id"], "Are you open on Sunday?", "message"), (people[1]["id"], "Hello", "message")]
    )
    assert all(a["source"] == "gohighlevel" for a in activities)
    assert activities[0]["occurred_at"].startswith(timezone.now().strftime("%Y-%m-%d"))
    assert poll_here(automation).handled == 0

    # The action sent again (a lost answer): the contract records it once per source event.
    run = AutomationActionRun.objects.filter(state="done").first()
    assert run is not None
    client = streettext_client_for(world.streettext)
    body = {k: v for k, v in run.payload.items() if k != "contact_id"}
    _, created = client.create_activity(run.payload["contact_id"], body)
    assert not created
    assert len(records("streettext", "activity")) == 2


def test_a_streettext_tag_adds_the_contact_to_a_ghl_workflow_once(fake: tuple[World, FakeGhl]) -> None:
    world, ghl = fake
    people = _st_contacts_with_email(world, 3)
    for n, person in enumerate(people, start=1):
        ghl.contact(f"g{n}", person["email"].upper())  # found whatever the letter case
    automation = automation_create_from_preset(
        key="tag_to_workflow",
        ghl=world.ghl,
        streettext=world.streettext,
        inputs={"tag": "nurture", "workflow_id": "wf_nurture"},
    )
    assert automation.trigger_system == System.STREETTEXT
    first = poll_here(automation)
    assert first.handled == 0

    client = streettext_client_for(world.streettext)
    for person in people[:2]:
        client.update_contact(person["id"], {"tags": [*person["tags"], "nurture"]})
    second = poll_here(automation)
    assert (second.handled, second.status) == (2, "succeeded"), second.error
    assert sorted(ghl.enrolments) == [("g1", "wf_nurture"), ("g2", "wf_nurture")]

    client.update_contact(people[0]["id"], {"city": "Leeds"})  # still tagged: not enrolled again
    assert poll_here(automation).handled == 0
    assert len(ghl.enrolments) == 2


def test_the_demo_has_two_automations_and_the_first_poll_has_appointments_to_note(live_server: Any, fast: None) -> None:
    from django.core.management import call_command

    from automations.models import Automation

    call_command("seed_demo", base_url=live_server.url, size=60, stdout=open("/dev/null", "w"))  # noqa: SIM115
    automations = list(Automation.objects.order_by("name"))
    assert [a.preset for a in automations] == ["new_appointment_note", "opportunity_won"]
    assert all(a.enabled and a.periodic_task and a.periodic_task.enabled for a in automations)
    assert [a.schedule_minutes for a in automations] == [2, 5]
    notes_before = len(records("streettext", "note"))
    poll = poll_here(automations[0])
    assert (poll.status, poll.new, poll.handled) == ("succeeded", 3, 3), poll.error
    assert len(records("streettext", "note")) == notes_before + 3
    # Seeding again keeps one of each (the old ones are replaced).
    call_command("seed_demo", base_url=live_server.url, size=60, reset=True, stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert Automation.objects.count() == 2
