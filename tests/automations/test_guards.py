"""Each guard that makes an action fire exactly once, tested on its own against the sandbox (in this process):
one active poll per automation, the claim, one row per item version, per-action state (a done action is never sent
again), lost answers looked for before anything is sent again, the cursor moving with its page's items, the heartbeat
that stops a poll the stale check ended, and the every-minute recovery."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from automations.actions import ActionFailed
from automations.models import AutomationActionRun, AutomationCursor, AutomationItem, AutomationPoll
from automations.services import polls
from automations.services.engine import PollEngine, automation_poll_execute
from automations.services.runner import MSG_FOUND, MSG_IN_DOUBT, MSG_RESENT, ItemRunner
from automations.triggers import trigger_for
from config.celery import app
from integrations.clients import exceptions as exc
from integrations.models import System
from sandbox import services as sandbox
from tests.automations.support import build_world, field, ghl_contact_edit, make_automation, poll_here, records

pytestmark = pytest.mark.django_db(transaction=True)

NOTE = (
    System.STREETTEXT,
    "note.create",
    [field("ghl_contact_id", "id"), field("body", "Seen {id} at {dateUpdated}", "template")],
)
TASK = (
    System.STREETTEXT,
    "task.create",
    [field("ghl_contact_id", "id"), field("title", "Call {firstName} ({id} at {dateUpdated})", "template")],
)
ONLY_EMAIL = {"field": "email", "op": "exists"}


@pytest.fixture(autouse=True)
def no_broker() -> Iterator[mock.MagicMock]:
    """Polls are run here; their messages never reach a session worker (on PostgreSQL one that ran a poll this test
    queued held its rows while the test's tables were flushed: deadlock)."""
    with mock.patch.object(app, "send_task") as sent:
        yield sent


@pytest.fixture
def fast(settings: Any) -> None:
    settings.API_TRANSPORT_RETRIES = 0
    settings.SANDBOX_RATE_LIMIT = 100_000
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 100_000


def _request(automation: Any) -> AutomationPoll:
    return polls.automation_poll_request(automation=automation, trigger=AutomationPoll.Trigger.MANUAL)


# ------------------------------------------------------------------------------
# One active poll, claimed once
# ------------------------------------------------------------------------------
def test_a_second_poll_is_refused_while_one_is_active(live_server: Any) -> None:
    world = build_world(live_server.url, size=10)
    automation = make_automation(world, actions=[NOTE])
    first = _request(automation)
    with pytest.raises(polls.PollRefused, match="is already pending"):
        _request(automation)
    # The database itself refuses a second active poll, whoever asks.
    with pytest.raises(IntegrityError), transaction.atomic():
        AutomationPoll.objects.create(automation=automation, trigger="schedule", status="running")
    AutomationPoll.objects.filter(pk=first.pk).update(status="succeeded")
    assert _request(automation).pk != first.pk


def test_a_poll_is_claimed_by_one_worker_only(live_server: Any) -> None:
    world = build_world(live_server.url, size=10)
    poll = _request(make_automation(world, actions=[NOTE]))
    assert polls.automation_poll_claim(poll_id=poll.pk) is not None
    assert polls.automation_poll_claim(poll_id=poll.pk) is None
    # A second delivery of the task does nothing.
    assert automation_poll_execute(poll_id=poll.pk) is None


# ------------------------------------------------------------------------------
# One row per item version
# ------------------------------------------------------------------------------
def test_an_item_version_is_recorded_once_even_when_two_polls_store_the_same_page(live_server: Any, fast: None) -> None:
    world = build_world(live_server.url, size=10)
    automation = make_automation(world, record_filter=ONLY_EMAIL, actions=[NOTE])
    poll_here(automation)
    notes = len(records("streettext", "note"))
    recorded = AutomationItem.objects.count()
    # A poll that lost its claim stores a page another poll already stored: nothing new, no action for it.
    late = AutomationPoll.objects.create(automation=automation, trigger="manual", status="running")
    engine = PollEngine(late)
    copies = [
        AutomationItem(automation=automation, item_id=row.item_id, version=row.version, change="new", item=row.item)
        for row in AutomationItem.objects.all()
    ]
    assert engine._insert(copies) == []
    assert AutomationItem.objects.count() == recorded
    assert len(records("streettext", "note")) == notes


# ------------------------------------------------------------------------------
# Per-action state
# ------------------------------------------------------------------------------
def test_a_done_action_is_never_sent_again_when_its_item_resumes(live_server: Any, fast: None) -> None:
    world = build_world(live_server.url, size=10)
    automation = make_automation(
        world, record_filter={"field": "id", "op": "eq", "value": "none"}, actions=[NOTE, TASK]
    )
    poll_here(automation)  # the existing contacts are recorded; nothing handled
    contact = next(c for c in records("ghl", "contact") if c.get("email"))
    automation.record_filter = {"field": "id", "op": "eq", "value": contact["id"]}
    automation.save()
    ghl_contact_edit(contact["id"], lastName="Changed")
    # The task's create is refused with a 503 once: a transient error, not carried out.
    sandbox.sandbox_fault_add(system="streettext", kind="status", status=503, method="POST", path_contains="/v1/tasks")

    poll = _request(automation)
    with pytest.raises(exc.ApiServerError):
        automation_poll_execute(poll_id=poll.pk)
    item = AutomationItem.objects.get(item_id=contact["id"], change="updated")
    states = dict(AutomationActionRun.objects.filter(item=item).values_list("position", "state"))
    assert (item.status, states) == ("pending", {1: "done", 2: "pending"})
    assert AutomationPoll.objects.get(pk=poll.pk).status == "pending"  # given back for the task's retry

    automation_poll_execute(poll_id=poll.pk)  # the retry
    item.refresh_from_db()
    runs = {r.position: r for r in AutomationActionRun.objects.filter(item=item)}
    assert item.status == "done"
    assert (runs[1].attempts, runs[2].attempts) == (1, 2)
    assert len([n for n in records("streettext", "note") if contact["id"] in n["body"]]) == 1
    assert len(records("streettext", "task")) == 1


def test_an_action_another_poll_has_claimed_is_not_sent_from_here_as_well(live_server: Any, fast: None) -> None:
    world = build_world(live_server.url, size=10)
    automation = make_automation(world, record_filter=ONLY_EMAIL, actions=[TASK])
    first = _request(automation)
    polls.automation_poll_claim(poll_id=first.pk)
    engine = PollEngine(AutomationPoll.objects.get(pk=first.pk))
    # The first page stored: its items and their actions' rows, not run yet.
    trigger = trigger_for(automation)
    cursor = AutomationCursor.objects.create(automation=automation)
    pending = engine._store_page(trigger, cursor, trigger.page(trigger.start()), first_scan=False)
    item = pending[0]
    stale_copy = AutomationActionRun.objects.get(item=item)  # what a second, late runner read: not run yet
    assert engine.runner.run(item) == "done"
    late = ItemRunner(automation=automation, poll=None)
    action = automation.actions.get()
    with pytest.raises(ActionFailed, match="Another poll is running this action"):
        late._execute(action, stale_copy, {"id": item.item_id, "firstName": "X", "dateUpdated": "x"})
    assert len(records("streettext", "task")) == 1


def test_a_create_whose_answer_was_lost_is_looked_for_and_not_sent_again(live_server: Any, fast: None) -> None:
    world = build_world(live_server.url, size=10)
    automation = make_automation(world, record_filter=ONLY_EMAIL, actions=[TASK])
    # The second task is made, but its answer is a 504 (a gateway gave up waiting).
    sandbox.sandbox_fault_add(
        system="streettext", kind="status_after", status=504, method="POST", path_contains="/v1/tasks", skip=1
    )
    poll = _request(automation)
    with pytest.raises(exc.ApiServerError):
        automation_poll_execute(poll_id=poll.pk)
    in_doubt = AutomationActionRun.objects.get(state=AutomationActionRun.State.SENDING)
    assert in_doubt.error.startswith("No answer")
    automation_poll_execute(poll_id=poll.pk)
    in_doubt.refresh_from_db()
    assert (in_doubt.state, in_doubt.note, in_doubt.attempts) == ("done", MSG_FOUND, 1)
    with_email = [c for c in records("ghl", "contact") if c.get("email")]
    titles = [t["title"] for t in records("streettext", "task")]
    assert len(titles) == len(set(titles)) == len(with_email)


def test_a_lost_create_that_cannot_be_found_is_sent_again_only_after_the_wait(
    live_server: Any, fast: None, settings: Any
) -> None:
    world = build_world(live_server.url, size=10)
    automation = make_automation(world, record_filter=ONLY_EMAIL, actions=[TASK])
    # Answered 504 without being carried out: nothing to find.
    sandbox.sandbox_fault_add(system="streettext", kind="status", status=504, method="POST", path_contains="/v1/tasks")
    poll = _request(automation)
    with pytest.raises(exc.ApiServerError):
        automation_poll_execute(poll_id=poll.pk)
    settings.SYNC_CREATE_IN_DOUBT_WAIT_SECONDS = 600
    with pytest.raises(exc.TransientApiError, match="looking for what it made"):
        automation_poll_execute(poll_id=poll.pk)
    settings.SYNC_CREATE_IN_DOUBT_WAIT_SECONDS = 0
    automation_poll_execute(poll_id=poll.pk)
    resent = AutomationActionRun.objects.get(attempts=2)
    assert (resent.state, resent.note) == ("done", MSG_RESENT)
    with_email = [c for c in records("ghl", "contact") if c.get("email")]
    assert len(records("streettext", "task")) == len(with_email)


def test_an_action_that_cannot_be_looked_up_is_not_repeated_after_a_lost_answer(live_server: Any, fast: None) -> None:
    world = build_world(live_server.url, size=10)
    business = (System.GHL, "create-business", [field("name", "Shop of {id}", "template")])
    automation = make_automation(world, record_filter=ONLY_EMAIL, actions=[business])
    sandbox.sandbox_fault_add(system="ghl", kind="status_after", status=504, method="POST", path_contains="/businesses")
    poll = _request(automation)
    with pytest.raises(exc.ApiServerError):
        automation_poll_execute(poll_id=poll.pk)
    automation_poll_execute(poll_id=poll.pk)
    failed = AutomationItem.objects.get(status=AutomationItem.Status.FAILED)
    run = AutomationActionRun.objects.get(item=failed)
    assert run.error == MSG_IN_DOUBT.format(system="GoHighLevel")
    assert run.attempts == 1
    mine = [b for b in records("ghl", "business") if b["name"] == f"Shop of {failed.item_id}"]
    assert len(mine) == 1  # it had been made: not made again
    # Retry sends it again, because a person asked.
    retry = polls.automation_items_retry(automation=automation, item_ids=[failed.pk])
    automation_poll_execute(poll_id=retry.pk)
    assert len([b for b in records("ghl", "business") if b["name"] == f"Shop of {failed.item_id}"]) == 2


def test_a_new_poll_resumes_the_items_a_dead_poll_left_and_sends_each_action_once(live_server: Any, fast: None) -> None:
    world = build_world(live_server.url, size=10)
    automation = make_automation(world, record_filter=ONLY_EMAIL, actions=[NOTE, TASK])
    # The first poll dies after its third item (as a SIGKILL would leave it: running, items stored, pending).
    calls = {"n": 0}
    original = ItemRunner.run

    def dying(self: ItemRunner, item: AutomationItem) -> str:
        calls["n"] += 1
        if calls["n"] > 3:
            raise SystemExit("killed")
        return original(self, item)

    first = _request(automation)
    ItemRunner.run = dying  # type: ignore[method-assign]
    try:
        with pytest.raises(SystemExit):
            automation_poll_execute(poll_id=first.pk)
    finally:
        ItemRunner.run = original  # type: ignore[method-assign]
    pending = AutomationItem.objects.filter(status="pending").count()
    assert pending > 0
    AutomationPoll.objects.filter(pk=first.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert polls.POLLS.recover()["stale"] == 1

    second = poll_here(automation)
    assert second.status == "succeeded", second.error
    assert second.handled == pending
    with_email = [c for c in records("ghl", "contact") if c.get("email")]
    assert len(records("streettext", "note")) == len(records("streettext", "task")) == len(with_email)
    assert set(AutomationActionRun.objects.values_list("attempts", flat=True)) == {1}


# ------------------------------------------------------------------------------
# The cursor and the heartbeat
# ------------------------------------------------------------------------------
def test_the_cursor_moves_only_with_its_pages_items(live_server: Any, fast: None, monkeypatch: Any) -> None:
    world = build_world(live_server.url, size=30)
    automation = make_automation(world, body={"pageLimit": 10}, record_filter=ONLY_EMAIL, actions=[NOTE])
    pages = {"n": 0}
    original = PollEngine._insert

    def failing_second_page(self: PollEngine, rows: list[AutomationItem]) -> list[AutomationItem]:
        pages["n"] += 1
        if pages["n"] == 2:
            raise RuntimeError("the database went away")
        return original(self, rows)

    monkeypatch.setattr(PollEngine, "_insert", failing_second_page)
    first = _request(automation)
    with pytest.raises(RuntimeError):
        automation_poll_execute(poll_id=first.pk)
    cursor = AutomationCursor.objects.get(automation=automation)
    assert AutomationItem.objects.count() == 10  # the first page only
    position: dict[str, Any] = cursor.position or {}
    stored = max(AutomationItem.objects.values_list("item_time", "item_id"))
    assert position["values"]["searchAfter"][1] == stored[1]  # after the first page's last item, not the second's
    monkeypatch.setattr(PollEngine, "_insert", original)
    polls.POLLS.fail(first.pk, error="crashed")

    second = poll_here(automation)
    assert second.status == "succeeded", second.error
    contacts = records("ghl", "contact")
    assert AutomationItem.objects.count() == len(contacts)
    assert len({(i, v) for i, v in AutomationItem.objects.values_list("item_id", "version")}) == len(contacts)
    assert len(records("streettext", "note")) == len([c for c in contacts if c.get("email")])


def test_a_poll_ended_by_the_stale_check_stops_at_its_next_heartbeat(
    live_server: Any, fast: None, monkeypatch: Any
) -> None:
    world = build_world(live_server.url, size=20)
    automation = make_automation(world, record_filter=ONLY_EMAIL, actions=[NOTE])
    poll = _request(automation)
    original = ItemRunner.run

    def slow_worker(self: ItemRunner, item: AutomationItem) -> str:
        status = original(self, item)
        # Meanwhile the stale check decided this worker was dead and ended the poll.
        AutomationPoll.objects.filter(pk=poll.pk).update(status=AutomationPoll.Status.STALE)
        return status

    monkeypatch.setattr(ItemRunner, "run", slow_worker)
    assert automation_poll_execute(poll_id=poll.pk) is None
    assert AutomationItem.objects.filter(status="done").count() == 1
    assert AutomationPoll.objects.get(pk=poll.pk).status == "stale"


def test_the_recovery_ends_dead_polls_and_sends_lost_ones_again(
    live_server: Any, settings: Any, monkeypatch: Any
) -> None:
    world = build_world(live_server.url, size=10)
    automation = make_automation(world, actions=[NOTE])
    other = make_automation(world, name="Other", actions=[NOTE])
    dead = AutomationPoll.objects.create(
        automation=automation, trigger="manual", status="running", heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    lost = AutomationPoll.objects.create(automation=other, trigger="manual")
    AutomationPoll.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(hours=1))
    sent: list[int] = []
    monkeypatch.setattr("automations.enqueue.run_poll", lambda poll_id, **kw: sent.append(poll_id))
    result = polls.POLLS.recover()
    assert result == {"stale": 1, "requeued": 1, "lost": 0}
    assert AutomationPoll.objects.get(pk=dead.pk).status == "stale"
    assert sent == [lost.pk]
    # After SYNC_PENDING_MAX_REQUEUES times it is given up, stale, so the automation can run again.
    AutomationPoll.objects.filter(pk=lost.pk).update(
        requeued=settings.SYNC_PENDING_MAX_REQUEUES, next_attempt_at=timezone.now() - timedelta(hours=1)
    )
    assert polls.POLLS.recover()["lost"] == 1
    assert AutomationPoll.objects.get(pk=lost.pk).status == "stale"
