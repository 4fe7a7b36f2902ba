"""Automations end to end through the real Celery worker: 150+ trigger items over several pages, edits between
polls, the worker killed (SIGKILL) in the middle of a poll; each action fires exactly once per new or updated item."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from automations.models import AutomationActionRun, AutomationItem, AutomationPoll
from automations.services.polls import automation_poll_request
from automations.services.runner import MSG_FOUND, MSG_RESENT
from integrations.models import System
from sandbox import services as sandbox
from tests.automations.support import (
    account,
    build_world,
    field,
    ghl_contact_edit,
    make_automation,
    records,
    wait_poll,
)
from tests.conftest import WorkerProcess, wait_for
from tests.integrations.test_crash import send_scheduled, stale_check_results

pytestmark = pytest.mark.worker
# This app's own every-minute recovery of its polls (automations/apps.py).
POLL_RECOVERY = "Recover automation polls"

# The three actions each handled item gets: a StreetText contact (created or updated by email), a StreetText task on
# it, and a note on the GoHighLevel contact (a catalog action). The task's and the note's text name the item and its
# version, so every firing can be counted in the sandbox afterwards.
ACTIONS = [
    (
        System.STREETTEXT,
        "contact.upsert",
        [
            field("email", "email", transforms=[{"name": "trim", "params": {}}]),
            field("first_name", "firstName"),
            field("last_name", "lastName"),
        ],
    ),
    (
        System.STREETTEXT,
        "task.create",
        [
            field("contact_id", "{actions.1.id}", "template"),
            field("title", "Follow up {firstName} {lastName}", "template"),
            field("body", "GHL {id} at {dateUpdated}", "template"),
        ],
    ),
    (
        System.GHL,
        "create-contact-note",
        [field("contactId", "id"), field("body", "Automation saw {id} at {dateUpdated}", "template")],
    ),
]
# Fast everything in the worker: no client-side rate limiting (the sandbox's limits are raised too), quick retries,
# a short wait before an in-doubt create is sent again, and polls declared stale after 3 s without a heartbeat.
WORKER_ENV = {
    "RATE_LIMIT_BACKEND": "off",
    "SYNC_RETRY_BACKOFF_SECONDS": "1",
    "SYNC_RETRY_JITTER": "false",
    "SYNC_CREATE_IN_DOUBT_WAIT_SECONDS": "2",
    "SYNC_STALE_AFTER_SECONDS": "3",
}


def _new_ghl_contacts(count: int, start: int) -> list[str]:
    ghl = account("ghl")
    ids = []
    for n in range(start, start + count):
        row = sandbox.sandbox_record_put(
            account=ghl,
            object_type="contact",
            record_id=f"newcontact{n:05d}",
            data={"firstName": "New", "lastName": f"Person{n}", "email": f"new.person{n}@example.com", "tags": []},
        )
        ids.append(row.record_id)
    return ids


def _assert_each_action_fired_exactly_once() -> int:
    """Every handled (item, version) has exactly one StreetText task and one GHL note naming it, and nothing else was
    made; every GHL contact with an email is handled at its current version. Returns the handled count."""
    handled = list(
        AutomationItem.objects.filter(
            status=AutomationItem.Status.DONE,
            change__in=[AutomationItem.Change.NEW, AutomationItem.Change.UPDATED],
        ).values_list("item_id", "item")
    )
    expected = Counter(f"{item_id} at {item['dateUpdated']}" for item_id, item in handled)
    assert max(expected.values()) == 1  # one history row per item version
    tasks = Counter(t["body"].removeprefix("GHL ") for t in records("streettext", "task"))
    notes = Counter(
        n["body"].removeprefix("Automation saw ")
        for n in records("ghl", "note")
        if str(n.get("body", "")).startswith("Automation saw ")
    )
    assert tasks == expected, (tasks - expected, expected - tasks)
    assert notes == expected, (notes - expected, expected - notes)
    # Nothing lost: each contact with an email is handled at the version GHL has now.
    current = {c["id"] for c in records("ghl", "contact") if c.get("email")}
    latest = {item_id for item_id, item in handled}
    assert current <= latest
    assert not AutomationItem.objects.filter(status__in=[AutomationItem.Status.PENDING, AutomationItem.Status.FAILED])
    assert not AutomationActionRun.objects.exclude(state=AutomationActionRun.State.DONE).exists()
    return len(handled)


def test_every_action_fires_exactly_once_across_pages_edits_and_a_killed_worker(
    live_server: Any, worker: WorkerProcess, settings: Any
) -> None:
    settings.SANDBOX_RATE_LIMIT = 100_000
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 100_000
    world = build_world(live_server.url, size=150)
    with_email = [c for c in records("ghl", "contact") if c.get("email")]
    assert len(records("ghl", "contact")) >= 150
    assert len(with_email) >= 130
    automation = make_automation(
        world,
        body={"pageLimit": 50},
        record_filter={"field": "email", "op": "exists"},
        actions=ACTIONS,
    )

    with worker.reconfigured(**WORKER_ENV):
        # 1. Every contact over several pages; the shared timestamps of the demo data test the paging's ties.
        first = wait_poll(automation_poll_request(automation=automation, trigger=AutomationPoll.Trigger.MANUAL))
        assert first.status == AutomationPoll.Status.SUCCEEDED, first.error
        assert first.pages >= 3
        assert (first.new, first.handled) == (len(records("ghl", "contact")), len(with_email))
        assert _assert_each_action_fired_exactly_once() == len(with_email)

        # 2. Edits between polls: 20 changed, 8 added. Exactly those fire, as updated and new.
        edited = [c["id"] for c in with_email[::5][:20]]
        for contact_id in edited:
            ghl_contact_edit(contact_id, lastName="Edited")
        added = _new_ghl_contacts(8, start=1)
        # Two creates are carried out but answered 504 (a gateway gave up waiting): in doubt, looked for, found.
        sandbox.sandbox_fault_add(
            system="streettext", kind="status_after", status=504, method="POST", path_contains="/v1/tasks", skip=3
        )
        sandbox.sandbox_fault_add(
            system="ghl", kind="status_after", status=504, method="POST", path_contains="/notes", skip=7
        )
        second = wait_poll(automation_poll_request(automation=automation, trigger=AutomationPoll.Trigger.MANUAL))
        assert second.status == AutomationPoll.Status.SUCCEEDED, second.error
        assert (second.updated, second.new, second.handled) == (20, 8, 28)
        assert _assert_each_action_fired_exactly_once() == len(with_email) + 28
        found = AutomationActionRun.objects.filter(note=MSG_FOUND)
        assert sorted(found.values_list("position", flat=True)) == [2, 3]
        assert len(added) == 8

        # 3. 80 more edits; StreetText and GHL writes slowed down; the worker is killed mid-poll.
        for contact_id in [c["id"] for c in with_email[50:130]]:
            ghl_contact_edit(contact_id, lastName="Again")
        sandbox.sandbox_fault_add(system="streettext", kind="slow", delay=0.05, count=100_000, method="POST")
        sandbox.sandbox_fault_add(system="ghl", kind="slow", delay=0.05, count=100_000, method="POST")
        third = automation_poll_request(automation=automation, trigger=AutomationPoll.Trigger.MANUAL)
        wait_for(
            lambda: AutomationActionRun.objects.filter(poll=third, state=AutomationActionRun.State.DONE).count() >= 40,
            timeout=120,
            message="the third poll made no progress",
        )
        worker.kill()  # SIGKILL: no cleanup, no final status
        sandbox.sandbox_fault_clear()
        killed = AutomationPoll.objects.get(pk=third.pk)
        assert killed.status == AutomationPoll.Status.RUNNING
        done_when_killed = AutomationItem.objects.filter(poll=third, status=AutomationItem.Status.DONE).count()
        assert 0 < done_when_killed < 80

        # The app's every-minute recovery (sent as beat sends it) ends the dead poll, so the automation can run again.
        worker.start()
        since = len(worker.log())
        time.sleep(3.5)
        send_scheduled(POLL_RECOVERY)
        recovered = wait_for(
            lambda: stale_check_results(worker, since, task="recover_polls_task"),
            timeout=60,
            message="the poll recovery did not run",
        )
        assert recovered[0]["stale"] == 1
        stale = AutomationPoll.objects.get(pk=third.pk)
        assert stale.status == AutomationPoll.Status.STALE, stale.status
        assert stale.error.startswith("The worker stopped sending progress")

        # 4. The next poll resumes the items the dead one stored, and reads on from its cursor.
        fourth = wait_poll(automation_poll_request(automation=automation, trigger=AutomationPoll.Trigger.MANUAL))
        assert fourth.status == AutomationPoll.Status.SUCCEEDED, fourth.error

    # An action the kill caught without its answer (when it did: timing) was found, or sent again only after it was
    # looked for and not found; never sent blindly.
    resumed = set(AutomationActionRun.objects.filter(item__poll=third).exclude(note="").values_list("note", flat=True))
    assert resumed <= {MSG_FOUND, MSG_RESENT}, resumed
    total = _assert_each_action_fired_exactly_once()
    assert total == len(with_email) + 28 + 80
    assert AutomationItem.objects.filter(change=AutomationItem.Change.UPDATED).count() == 20 + 80
