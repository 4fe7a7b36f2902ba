"""The poll engine against the sandbox over real HTTP, run in this process: pages, new and updated items, the
history, actions with their results."""

from __future__ import annotations

from typing import Any

import pytest

from automations.models import AutomationActionRun, AutomationItem, AutomationPoll
from integrations.models import System
from tests.automations.support import build_world, field, ghl_contact_edit, make_automation, poll_here, records

pytestmark = pytest.mark.django_db(transaction=True)

TASK_FIELDS = [
    field("ghl_contact_id", "id"),
    field("title", "Call {firstName} {lastName}", "template"),
    field("body", "GHL {id} at {dateUpdated}", "template"),
]


def test_a_poll_reads_every_page_and_runs_the_actions_once_per_item(live_server: Any) -> None:
    world = build_world(live_server.url, size=30)
    automation = make_automation(
        world,
        body={"pageLimit": 7},
        record_filter={"field": "email", "op": "exists"},
        actions=[(System.STREETTEXT, "task.create", TASK_FIELDS)],
    )
    poll = poll_here(automation)
    assert poll.status == AutomationPoll.Status.SUCCEEDED, poll.error
    ghl_contacts = records("ghl", "contact")
    with_email = [c for c in ghl_contacts if c.get("email")]
    assert poll.pages >= 4
    assert poll.seen == len(ghl_contacts)
    assert poll.new == len(ghl_contacts)
    assert poll.handled == len(with_email)
    tasks = records("streettext", "task")
    assert len(tasks) == len(with_email)
    assert sorted(t["body"].split()[1] for t in tasks) == sorted(c["id"] for c in with_email)
    assert AutomationActionRun.objects.filter(state=AutomationActionRun.State.DONE).count() == len(with_email)

    # Nothing changed: the next poll reads everything again and does nothing.
    again = poll_here(automation)
    assert (again.seen, again.new, again.updated, again.handled) == (len(ghl_contacts), 0, 0, 0)
    assert len(records("streettext", "task")) == len(with_email)

    # Two edits: exactly those two fire again, as updated.
    edited = [with_email[0]["id"], with_email[5]["id"]]
    for contact_id in edited:
        ghl_contact_edit(contact_id, lastName="Changed")
    third = poll_here(automation)
    assert (third.new, third.updated, third.handled) == (0, 2, 2)
    updated = AutomationItem.objects.filter(change=AutomationItem.Change.UPDATED)
    assert sorted(updated.values_list("item_id", flat=True)) == sorted(edited)
    assert all(row.changes["lastName"]["after"] == "Changed" for row in updated)
    assert len(records("streettext", "task")) == len(with_email) + 2


def test_a_changed_trigger_reads_from_the_top_again_and_handles_nothing_twice(live_server: Any) -> None:
    from automations.models import AutomationCursor
    from automations.services.automations import automation_save

    world = build_world(live_server.url, size=20)
    automation = make_automation(
        world,
        body={"pageLimit": 5},
        record_filter={"field": "email", "op": "exists"},
        actions=[(System.STREETTEXT, "task.create", TASK_FIELDS)],
    )
    with_email = [c for c in records("ghl", "contact") if c.get("email")]
    automation.trigger_body = {"pageLimit": 5}
    automation_save(automation=automation)  # unchanged: the cursor stays
    poll_here(automation)
    assert AutomationCursor.objects.get(automation=automation).scans_completed == 1
    automation.trigger_body = {"pageLimit": 7}
    automation_save(automation=automation)
    cursor = AutomationCursor.objects.get(automation=automation)
    assert (cursor.position, cursor.watermark, cursor.scans_completed) == (None, "", 0)
    again = poll_here(automation)
    assert (again.seen, again.handled) == (len(records("ghl", "contact")), 0)
    assert len(records("streettext", "task")) == len(with_email)


def test_a_poll_stops_after_the_page_limit_and_the_next_poll_continues_where_it_stopped(
    live_server: Any, settings: Any
) -> None:
    from automations.models import AutomationCursor
    from automations.services.engine import NOTE_PAGE_LIMIT

    settings.AUTOMATION_MAX_PAGES_PER_POLL = 2
    world = build_world(live_server.url, size=20)
    ghl_contacts = records("ghl", "contact")
    with_email = [c for c in ghl_contacts if c.get("email")]
    size = 4
    assert len(ghl_contacts) > 2 * 2 * size  # the scan needs more than two polls' worth of pages
    automation = make_automation(
        world,
        body={"pageLimit": size},
        record_filter={"field": "email", "op": "exists"},
        actions=[(System.STREETTEXT, "task.create", TASK_FIELDS)],
    )

    first = poll_here(automation)
    assert (first.status, first.pages, first.seen) == ("succeeded", 2, 2 * size), first.error
    assert first.note == NOTE_PAGE_LIMIT.format(pages=2)
    assert AutomationCursor.objects.get(automation=automation).scans_completed == 0

    polls = [first]
    while AutomationCursor.objects.get(automation=automation).scans_completed == 0:
        polls.append(poll_here(automation))
        assert polls[-1].pages <= 2
        assert len(polls) < 20
    # Every page read once across the polls: each contact seen once, each one with an email handled once.
    assert sum(p.seen for p in polls) == len(ghl_contacts)
    assert sum(p.new for p in polls) == len(ghl_contacts)
    assert sum(p.handled for p in polls) == len(with_email)
    items = AutomationItem.objects.filter(automation=automation)
    assert sorted(items.values_list("item_id", flat=True)) == sorted(c["id"] for c in ghl_contacts)
    tasks = records("streettext", "task")
    assert sorted(t["body"].split()[1] for t in tasks) == sorted(c["id"] for c in with_email)
    assert polls[-1].note == ""
