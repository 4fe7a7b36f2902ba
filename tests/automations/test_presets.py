"""Each preset doing what it promises against the built-in sandbox over real HTTP: GoHighLevel's opportunities,
pipelines, conversations, messages and workflows are the sandbox's catalog (seeded as `manage.py seed_demo` seeds
them, changed through its API between polls), StreetText is the sandbox's too; what the actions made is read back
from the sandbox (tags, tasks, activities, workflow memberships), what was handled from the items history.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from automations.models import AutomationActionRun, AutomationItem
from automations.presets import PRESETS, automation_create_from_preset
from automations.services.automations import automation_save
from automations.triggers import GhlTrigger, trigger_for
from integrations.adapters.clients import streettext_client_for
from integrations.catalog.services import catalog_execute
from integrations.models import System
from tests.automations.support import (
    LOCATION,
    World,
    build_catalog_world,
    build_world,
    ghl_http,
    ghl_run,
    poll_here,
    records,
    sandbox_control,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fast(settings: Any) -> None:
    settings.API_TRANSPORT_RETRIES = 0
    settings.SANDBOX_RATE_LIMIT = 100_000
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 100_000


@pytest.fixture
def world(live_server: Any, fast: None) -> World:
    """Both sandboxes seeded with every area's demo data, a connection to each."""
    return build_catalog_world(live_server.url, size=20)


def _people(count: int | None = None) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(GHL contact, StreetText contact) pairs that share an email, as the demo seeds them."""
    st_by_email = {c["email"].lower(): c for c in records("streettext", "contact") if c.get("email")}
    pairs = [
        (c, st_by_email[c["email"].lower()])
        for c in records("ghl", "contact")
        if c.get("email") and c["email"].lower() in st_by_email
    ]
    assert len(pairs) >= (count or 1)
    return pairs[:count]


def _new_people(world: World, prefix: str, count: int, *, in_ghl: int) -> list[tuple[str | None, dict[str, Any]]]:
    """`count` new StreetText contacts (prefix0@example.com, …), the first `in_ghl` of them in GoHighLevel too (made
    through its API, the email in capitals: found whatever the letter case); (GHL id or None, StreetText contact)."""
    client = streettext_client_for(world.streettext)
    people: list[tuple[str | None, dict[str, Any]]] = []
    for n in range(count):
        email = f"{prefix}{n}@example.com"
        person = client.create_contact({"first_name": f"{prefix.title()}{n}", "last_name": "Test", "email": email})
        ghl_id = None
        if n < in_ghl:
            body = {"firstName": person["first_name"], "lastName": "Test", "email": email.upper()}
            ghl_id = str(ghl_run(world, "create-contact", body=body)["contact"]["id"])
        people.append((ghl_id, dict(person)))
    return people


def _st_contact(st_id: str) -> dict[str, Any]:
    return next(c for c in records("streettext", "contact") if c["id"] == st_id)


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


def test_opportunity_stage_changed_and_won_tag_and_task_once(world: World) -> None:
    pipelines = {p["id"]: [s["id"] for s in p["stages"]] for p in records("ghl", "opportunities.pipelines")}
    sales, stages = next(iter(pipelines.items()))
    people = _people(4)

    def create(person: tuple[dict[str, Any], dict[str, Any]], name: str, status: str = "open") -> str:
        body = {"pipelineId": sales, "name": name, "status": status, "contactId": person[0]["id"]}
        return str(ghl_run(world, "create-opportunity", body=body)["opportunity"]["id"])

    def move(opportunity_id: str, **changes: Any) -> None:
        if set(changes) == {"status"}:
            ghl_run(world, "update-opportunity-status", params={"id": opportunity_id}, body=changes)
        else:
            ghl_run(world, "update-opportunity", params={"id": opportunity_id}, body=changes)

    o1 = create(people[0], "Deal one")
    o2 = create(people[1], "Deal two")
    create(people[2], "Deal three", status="won")  # won before the start: never tagged
    stage = automation_create_from_preset(
        key="opportunity_stage_changed", ghl=world.ghl, streettext=world.streettext, inputs={"tag": "stage-moved"}
    )
    won = automation_create_from_preset(
        key="opportunity_won", ghl=world.ghl, streettext=world.streettext, inputs={"tag": "customer"}
    )
    into = automation_create_from_preset(  # only the sales pipeline, only into its last stage
        key="opportunity_stage_changed",
        ghl=world.ghl,
        streettext=world.streettext,
        inputs={"tag": "closing", "pipeline_id": sales, "stage_id": stages[-1]},
    )
    everything = records("ghl", "opportunities")
    in_sales = [o for o in everything if o["pipelineId"] == sales]
    assert len(in_sales) < len(everything)
    for automation, count in ((stage, len(everything)), (won, len(everything)), (into, len(in_sales))):
        poll = poll_here(automation)
        assert (poll.status, poll.seen, poll.skipped, poll.handled) == ("succeeded", count, count, 0), poll.error
    # What Search Opportunities is asked (the catalog adds the location, which GHL's spec requires).
    trigger = trigger_for(into)
    assert isinstance(trigger, GhlTrigger)
    params, _ = trigger.request(trigger.start())
    assert (params["pipeline_id"], params["limit"]) == (sales, 100)

    move(o1, pipelineStageId=stages[1])  # moved
    move(o2, status="won")  # won, same stage
    create(people[3], "Deal four")  # new, not moved
    moved, first_won, not_into = poll_here(stage), poll_here(won), poll_here(into)
    assert (moved.updated, moved.new, moved.handled) == (2, 1, 1), moved.error
    assert (first_won.handled, first_won.skipped) == (1, 2), first_won.error
    assert (not_into.updated, not_into.handled) == (2, 0), not_into.error

    assert _st_contact(people[0][1]["id"])["tags"][-1] == "stage-moved"
    assert "customer" in _st_contact(people[1][1]["id"])["tags"]
    assert "customer" not in _st_contact(people[2][1]["id"])["tags"]
    assert [(t["contact_id"], t["title"]) for t in records("streettext", "task") if t["title"].startswith("Opp")] == [
        (people[0][1]["id"], "Opportunity Deal one: moved to a new stage")
    ]
    handled = AutomationItem.objects.filter(automation=stage, status="done")
    assert list(handled.values_list("item_id", flat=True)) == [o1]
    assert handled.get().changes["pipelineStageId"] == {"before": stages[0], "after": stages[1]}

    # Edits that are no stage change and no new win: nothing, however often it is polled.
    move(o2, monetaryValue=999)
    move(o1, name="Renamed")
    for _ in range(2):
        assert (poll_here(stage).handled, poll_here(won).handled, poll_here(into).handled) == (0, 0, 0)
    reasons = set(AutomationItem.objects.filter(change="updated", status="skipped").values_list("reason", flat=True))
    assert "It already met the condition before this change." in reasons
    assert "None of the watched fields changed (pipelineStageId)." in reasons

    # A changed stage fires again (into the last stage: the narrower automation too); moving out of it only the first.
    move(o1, pipelineStageId=stages[-1])
    assert (poll_here(stage).handled, poll_here(won).handled, poll_here(into).handled) == (1, 0, 1)
    move(o1, pipelineStageId=stages[2])
    assert (poll_here(stage).handled, poll_here(won).handled, poll_here(into).handled) == (1, 0, 0)
    assert "closing" in _st_contact(people[0][1]["id"])["tags"]
    titles = [t["title"] for t in records("streettext", "task") if t["contact_id"] == people[0][1]["id"]]
    # One task per handled move: the first automation's two, the narrower one's one.
    assert titles == ["Opportunity Deal one: moved to a new stage"] + ["Opportunity Renamed: moved to a new stage"] * 3
    assert [poll_here(a).handled for a in (stage, won, into)] == [0, 0, 0]
    assert AutomationItem.objects.filter(automation=stage, status="done").count() == 3
    assert AutomationItem.objects.filter(automation=into, status="done").count() == 1


def _inbound(world: World, contact_id: str, text: str) -> dict[str, Any]:
    """A customer's message arrives in GoHighLevel (the sandbox's control endpoint)."""
    return dict(sandbox_control(world, "POST", "inbound-message", json={"contactId": contact_id, "message": text}))


def _activity_texts(st_id: str | None = None) -> list[str]:
    return sorted(a["text"] for a in records("streettext", "activity") if st_id is None or a["contact_id"] == st_id)


def _message_items(automation: Any, status: str = "done") -> list[str]:
    """The message ids handled (the items of an each-message automation that are not conversation rows)."""
    return sorted(
        i.item_id
        for i in AutomationItem.objects.filter(automation=automation, status=status).exclude(
            reason__startswith="Its messages were read"
        )
    )


def test_a_new_inbound_message_becomes_a_streettext_activity_once(world: World) -> None:
    made = _new_people(world, "talk", 3, in_ghl=3)
    ghl_ids = [str(ghl_id) for ghl_id, _ in made]
    st_ids = [person["id"] for _, person in made]
    _inbound(world, ghl_ids[0], "Hi")
    automation = automation_create_from_preset(
        key="inbound_message_activity", ghl=world.ghl, streettext=world.streettext
    )
    assert automation.each_message
    # Pages of three: the scan goes on by each page's last sort value (startAfterDate), newest message first.
    automation.trigger_params = {**automation.trigger_params, "limit": 3}
    automation_save(automation=automation)
    conversations = records("ghl", "conversations")
    first = poll_here(automation)
    assert first.pages > 2
    # Every conversation's last message is older than the start: recorded as such, no message read.
    assert (first.status, first.seen, first.new, first.handled) == ("succeeded", len(conversations), 0, 0)

    _inbound(world, ghl_ids[0], "Are you open on Sunday?")
    _inbound(world, ghl_ids[1], "Hello")
    body = {"type": "SMS", "subType": {}, "contactId": ghl_ids[2], "message": "Our offer", "status": "delivered"}
    ghl_http(world, "POST", "/conversations/messages", body=body)  # outbound: recorded, not handled
    second = poll_here(automation)
    assert (second.new, second.handled, second.skipped) == (3, 2, 1), second.error
    activities = records("streettext", "activity")
    assert sorted((a["contact_id"], a["text"], a["type"]) for a in activities) == sorted(
        [(st_ids[0], "Are you open on Sunday?", "message"), (st_ids[1], "Hello", "message")]
    )
    assert all(a["source"] == "gohighlevel" for a in activities)
    assert all(a["occurred_at"].startswith(timezone.now().strftime("%Y-%m-%d")) for a in activities)
    assert poll_here(automation).handled == 0

    # Read in GoHighLevel (the conversation changes, its last message does not): nothing. Answered: nothing new
    # inbound; the customer writes again: recorded.
    c1 = next(c["id"] for c in records("ghl", "conversations") if c["contactId"] == ghl_ids[0])
    ghl_http(world, "PUT", f"/conversations/{c1}", body={"locationId": LOCATION, "unreadCount": 0})
    reply = {"type": "SMS", "subType": {}, "contactId": ghl_ids[1], "message": "Thanks!", "status": "delivered"}
    ghl_http(world, "POST", "/conversations/messages", body=reply)
    read = poll_here(automation)
    assert (read.new, read.handled, read.skipped) == (1, 0, 1), read.error
    _inbound(world, ghl_ids[1], "One more question")
    again = poll_here(automation)
    assert (again.new, again.handled) == (1, 1), again.error
    assert poll_here(automation).handled == 0
    assert _activity_texts() == ["Are you open on Sunday?", "Hello", "One more question"]

    # The action sent again (a lost answer): the contract records it once per source event.
    run = AutomationActionRun.objects.filter(state="done").first()
    assert run is not None
    client = streettext_client_for(world.streettext)
    body = {k: v for k, v in run.payload.items() if k != "contact_id"}
    _, created = client.create_activity(run.payload["contact_id"], body)
    assert not created
    assert len(records("streettext", "activity")) == 3


def test_every_reply_between_two_polls_becomes_its_own_activity(world: World) -> None:
    """Two, then three replies in one conversation between polls (and an answer from the business after them, which
    takes the conversation out of an inbound-only search): each reply is one activity, once."""
    made = _new_people(world, "many", 2, in_ghl=2)
    ghl_ids = [str(ghl_id) for ghl_id, _ in made]
    st_ids = [person["id"] for _, person in made]
    automation = automation_create_from_preset(
        key="inbound_message_activity", ghl=world.ghl, streettext=world.streettext
    )
    assert poll_here(automation).handled == 0

    _inbound(world, ghl_ids[0], "First question")
    _inbound(world, ghl_ids[0], "Second question")
    assert poll_here(automation).handled == 2
    assert _activity_texts(st_ids[0]) == ["First question", "Second question"]

    for text in ("One", "Two", "Three"):
        _inbound(world, ghl_ids[0], text)
    _inbound(world, ghl_ids[1], "Other customer")
    answer = {"type": "SMS", "subType": {}, "contactId": ghl_ids[0], "message": "We reply", "status": "delivered"}
    ghl_http(world, "POST", "/conversations/messages", body=answer)
    third = poll_here(automation)
    assert (third.handled, third.status) == (4, "succeeded"), third.error
    assert _activity_texts(st_ids[0]) == ["First question", "One", "Second question", "Three", "Two"]
    assert _activity_texts(st_ids[1]) == ["Other customer"]
    # In the order they came.
    order = [a["text"] for a in records("streettext", "activity") if a["contact_id"] == st_ids[0]]
    assert order == ["First question", "Second question", "One", "Two", "Three"]
    assert poll_here(automation).handled == 0
    assert len(_message_items(automation)) == 6


def test_a_reply_while_a_poll_pages_is_recorded_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The customer writes while the poll is reading the conversation's messages (pages of two): the reply is not on
    the pages after the one read (they run older), so the next poll reads it, once; nothing is read twice."""
    from automations import messages

    monkeypatch.setattr(messages, "MESSAGES_PAGE_SIZE", 2)
    made = _new_people(world, "paging", 1, in_ghl=1)
    ghl_id, st_id = str(made[0][0]), made[0][1]["id"]
    automation = automation_create_from_preset(
        key="inbound_message_activity", ghl=world.ghl, streettext=world.streettext
    )
    poll_here(automation)
    for n in range(5):
        _inbound(world, ghl_id, f"Message {n}")

    real_page = messages.ConversationMessages._page
    calls: list[str] = []

    def page_then_reply(self: Any, conversation_id: str, values: Any) -> Any:
        answer = real_page(self, conversation_id, values)
        calls.append(conversation_id)
        if len(calls) == 1:
            _inbound(world, ghl_id, "Written while the poll pages")
        return answer

    monkeypatch.setattr(messages.ConversationMessages, "_page", page_then_reply)
    first = poll_here(automation)
    assert len(calls) == 3  # five messages, pages of two
    assert (first.handled, first.status) == (5, "succeeded"), first.error
    assert _activity_texts(st_id) == [f"Message {n}" for n in range(5)]
    second = poll_here(automation)
    assert second.handled == 1, second.error
    assert _activity_texts(st_id) == [*(f"Message {n}" for n in range(5)), "Written while the poll pages"]
    assert poll_here(automation).handled == 0
    assert len(_message_items(automation)) == 6


def test_a_streettext_tag_adds_the_contact_to_a_ghl_workflow_once(world: World) -> None:
    workflow = next(w for w in records("ghl", "workflows") if w["name"] == "Appointment reminder")
    client = streettext_client_for(world.streettext)
    made = _new_people(world, "flow", 3, in_ghl=2)  # the third has no GoHighLevel contact yet
    people = [person for _, person in made]
    ghl_ids = {person["id"]: ghl_id for ghl_id, person in made if ghl_id}
    automation = automation_create_from_preset(
        key="tag_to_workflow",
        ghl=world.ghl,
        streettext=world.streettext,
        inputs={"tag": "nurture", "workflow_id": workflow["id"]},
    )
    assert automation.trigger_system == System.STREETTEXT
    first = poll_here(automation)
    assert (first.status, first.handled) == ("succeeded", 0), first.error

    def enrolled() -> list[str]:
        answer = sandbox_control(world, "GET", "memberships", params={"locationId": LOCATION})
        return [m["contactId"] for m in answer["workflows"] if m["workflowId"] == workflow["id"]]

    before = enrolled()
    for person in people[:2]:
        client.update_contact(person["id"], {"tags": [*person["tags"], "nurture"]})
    client.update_contact(people[2]["id"], {"tags": ["newsletter"]})  # another tag: not this automation's
    second = poll_here(automation)
    assert (second.handled, second.status) == (2, "succeeded"), second.error
    assert enrolled() == [*before, ghl_ids[people[0]["id"]], ghl_ids[people[1]["id"]]]

    client.update_contact(people[0]["id"], {"city": "Leeds"})  # still tagged: not enrolled again
    assert poll_here(automation).handled == 0
    assert len(enrolled()) == len(before) + 2

    # Tagged without a GoHighLevel contact: one is made (by its email) and enrolled, once.
    client.update_contact(people[2]["id"], {"tags": ["newsletter", "nurture"]})
    third = poll_here(automation)
    assert (third.handled, third.status) == (1, "succeeded"), third.error
    created = [c for c in records("ghl", "contact") if (c.get("email") or "").lower() == "flow2@example.com"]
    assert len(created) == 1
    assert enrolled()[len(before) :] == [*ghl_ids.values(), created[0]["id"]]
    assert poll_here(automation).handled == 0
    assert len(enrolled()) == len(before) + 3


def test_the_demo_automations_handle_what_the_seed_made_on_their_first_poll_and_nothing_on_the_second(
    live_server: Any, fast: None
) -> None:
    """`manage.py seed_demo` makes two automations, on and scheduled, starting at the seed, and things for their first
    poll: three appointments booked (three notes) and two opportunities won (their contacts tagged "customer")."""
    from django.core.management import call_command

    from automations.models import Automation

    call_command("seed_demo", base_url=live_server.url, size=60, stdout=open("/dev/null", "w"))  # noqa: SIM115
    note, won = list(Automation.objects.order_by("name"))
    assert [note.preset, won.preset] == ["new_appointment_note", "opportunity_won"]
    assert all(a.enabled and a.periodic_task and a.periodic_task.enabled for a in (note, won))
    assert [note.schedule_minutes, won.schedule_minutes] == [2, 5]
    notes_before = len(records("streettext", "note"))
    customers_before = {c["id"] for c in records("streettext", "contact") if "customer" in (c.get("tags") or [])}

    first_note, first_won = poll_here(note), poll_here(won)
    assert (first_note.status, first_note.new, first_note.handled, first_note.failed) == ("succeeded", 3, 3, 0), (
        first_note.error
    )
    assert (first_won.status, first_won.handled, first_won.failed) == ("succeeded", 2, 0), first_won.error
    notes = records("streettext", "note")[notes_before:]
    assert sorted(n["title"] for n in notes) == [
        "Appointment: Intro call",
        "Appointment: Pricing review",
        "Appointment: Product demo",
    ]
    customers = {c["id"] for c in records("streettext", "contact") if "customer" in (c.get("tags") or [])}
    won_items = AutomationItem.objects.filter(automation=won, status="done")
    assert len(customers - customers_before) == won_items.count() == 2
    assert {i.item["status"] for i in won_items} == {"won"}

    # Nothing new since: the second polls handle nothing and make nothing.
    second_note, second_won = poll_here(note), poll_here(won)
    assert (second_note.handled, second_note.new, second_won.handled, second_won.updated) == (0, 0, 0, 0)
    assert len(records("streettext", "note")) == notes_before + 3
    # Seeding again keeps one of each (the old ones are replaced).
    call_command("seed_demo", base_url=live_server.url, size=60, reset=True, stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert Automation.objects.count() == 2
