"""Paths and waits against the sandbox over real HTTP, run in this process: a router in both modes, per-step
conditions, a wait stored as a row and resumed exactly once (even when two resumers meet), and a waiting item
cancelled for good. Invariant checked throughout: every step of an item has at most one result row, and an action
that is done is never sent again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.db.models import Count
from django.utils import timezone

from automations.models import AutomationAction, AutomationActionRun, AutomationItem, AutomationPoll
from automations.services.engine import automation_poll_execute
from automations.services.waits import (
    MSG_NOT_WAITING as NOT_WAITING,
)
from automations.services.waits import (
    NotWaiting,
    _claim,
    automation_item_cancel,
    automation_waits_resume,
)
from config.celery import app
from integrations.models import System
from tests.automations.support import (
    World,
    add_path,
    add_step,
    build_catalog_world,
    field,
    ghl_run,
    make_automation,
    poll_here,
    records,
    sandbox_control,
)

pytestmark = pytest.mark.django_db(transaction=True)

DAY = timedelta(days=1)
OVER_1000 = {"field": "monetaryValue", "op": "gt", "value": 1000}


@pytest.fixture(autouse=True)
def no_broker() -> Iterator[mock.MagicMock]:
    """Polls are run here; their messages never reach a session worker."""
    with mock.patch.object(app, "send_task") as sent:
        yield sent


@pytest.fixture
def world(live_server: Any, settings: Any) -> World:
    settings.API_TRANSPORT_RETRIES = 0
    settings.SANDBOX_RATE_LIMIT = 100_000
    return build_catalog_world(live_server.url, size=10)


def _task(title: str) -> tuple[str, str, list[dict[str, Any]]]:
    return (
        System.STREETTEXT,
        "task.create",
        [field("ghl_contact_id", "contactId"), field("title", f"{title} {{name}}", "template")],
    )


def _opportunities(world: World, values: dict[str, float], avoid: tuple[str, ...] = ()) -> dict[str, str]:
    """New opportunities (name → id) with these values, on the demo's first pipeline, for contacts not in `avoid`."""
    pipeline = records("ghl", "opportunities.pipelines")[0]["id"]
    contacts = [c["id"] for c in records("ghl", "contact") if c["id"] not in avoid]
    made = {}
    for index, (name, value) in enumerate(values.items()):
        body = {"pipelineId": pipeline, "name": name, "status": "open", "contactId": contacts[index]}
        body["monetaryValue"] = value
        made[name] = str(ghl_run(world, "create-opportunity", body=body)["opportunity"]["id"])
    return made


def _automation(world: World, **options: Any) -> Any:
    return _automation_named(world, "Test automation")


def _automation_named(world: World, name: str) -> Any:
    automation = make_automation(
        world,
        name=name,
        trigger="search-opportunities",
        params={"limit": 100},
        on_updated=False,
        start_from=timezone.now(),
    )
    time.sleep(0.01)
    return automation


def _item(automation: Any, name: str) -> AutomationItem:
    return AutomationItem.objects.get(automation=automation, label=name)


def _history(item: AutomationItem) -> list[tuple[str, str]]:
    return [(run.label, run.state) for run in item.action_runs.order_by("position")]


def _once_per_step() -> None:
    repeated = AutomationActionRun.objects.values("item", "action").annotate(n=Count("id")).filter(n__gt=1)
    assert not repeated.exists()


def _enrolled(world: World, workflow_id: str) -> list[str]:
    answer = sandbox_control(world, "GET", "memberships", params={"locationId": "loc-auto"})
    return [m["contactId"] for m in answer["workflows"] if m["workflowId"] == workflow_id]


def _resume_poll(automation: Any) -> AutomationPoll:
    poll = AutomationPoll.objects.get(automation=automation, trigger=AutomationPoll.Trigger.RESUME, status="pending")
    automation_poll_execute(poll_id=poll.pk)
    poll.refresh_from_db()
    return poll


def test_if_value_over_1000_workflow_else_wait_a_day_then_task_each_exactly_once(world: World) -> None:
    workflow = records("ghl", "workflows")[0]["id"]
    automation = _automation(world)
    router = add_step(automation, 1, kind=AutomationAction.Kind.ROUTER, name="By value")
    high = add_path(router, 1, "High value", condition={"field": "monetaryValue", "op": "gt", "value": 1000})
    low = add_path(router, 2, "Otherwise", otherwise=True)
    add_step(
        automation,
        1,
        path=high,
        action=(
            System.GHL,
            "add-contact-to-workflow",
            [field("contactId", "contactId"), field("workflowId", workflow, "constant")],
        ),
    )
    add_step(automation, 1, path=low, kind=AutomationAction.Kind.WAIT, wait_minutes=1440)
    add_step(automation, 2, path=low, action=_task("Follow up"))
    enrolled = _enrolled(world, workflow)
    before = len(enrolled)
    made = _opportunities(world, {"Big deal": 5000, "Small deal": 200}, avoid=tuple(enrolled))

    poll = poll_here(automation)
    assert (poll.status, poll.new, poll.handled, poll.failed) == ("succeeded", 2, 2, 0), poll.error
    big, small = _item(automation, "Big deal"), _item(automation, "Small deal")
    assert big.status == AutomationItem.Status.DONE
    assert len(_enrolled(world, workflow)) == before + 1
    assert _history(big) == [("By value", "done"), ("GoHighLevel: add-contact-to-workflow", "done")]
    assert big.action_runs.get(action=router).note == "Took path “High value”."
    # The small one waits: stored, with its resume time a day away; its task not sent.
    assert small.status == AutomationItem.Status.WAITING
    assert small.resume_at is not None
    assert abs(small.resume_at - (timezone.now() + DAY)) < timedelta(minutes=1)
    assert _history(small) == [("By value", "done"), ("Wait 1d", "waiting"), ("StreetText: task.create", "pending")]
    assert not [t for t in records("streettext", "task") if t["title"].startswith("Follow up")]

    # Not due yet: nothing resumes; a later poll does not touch the waiting item either.
    assert automation_waits_resume()["resumed"] == 0
    assert poll_here(automation).handled == 0
    # A day later (the clock moved): resumed once, the remaining step runs once.
    later = timezone.now() + DAY + timedelta(minutes=1)
    assert automation_waits_resume(now=later) == {"resumed": 1, "refused": 0}
    assert automation_waits_resume(now=later)["resumed"] == 0
    resumed = _resume_poll(automation)
    assert (resumed.status, resumed.handled) == ("succeeded", 1), resumed.error
    small.refresh_from_db()
    assert small.status == AutomationItem.Status.DONE
    assert _history(small) == [("By value", "done"), ("Wait 1d", "done"), ("StreetText: task.create", "done")]
    assert "resumed" in small.action_runs.get(label="Wait 1d").note
    tasks = [t for t in records("streettext", "task") if t["title"] == "Follow up Small deal"]
    assert len(tasks) == 1
    # Nothing runs twice: another resume, a second delivery of the resume poll, another poll.
    assert automation_waits_resume(now=later + DAY)["resumed"] == 0
    assert automation_poll_execute(poll_id=resumed.pk) is None
    poll_here(automation)
    assert len([t for t in records("streettext", "task") if t["title"] == "Follow up Small deal"]) == 1
    assert len(_enrolled(world, workflow)) == before + 1
    assert set(made) == {"Big deal", "Small deal"}
    _once_per_step()


def test_two_resumers_claim_a_due_item_once_and_a_busy_automation_keeps_it_waiting(world: World) -> None:
    automation = _automation(world)
    add_step(automation, 1, action=_task("Before the wait"))
    add_step(automation, 2, kind=AutomationAction.Kind.WAIT, wait_minutes=60)
    add_step(automation, 3, action=_task("After the wait"))
    _opportunities(world, {"Deal": 10})
    poll_here(automation)
    item = _item(automation, "Deal")
    assert item.status == AutomationItem.Status.WAITING
    assert len([t for t in records("streettext", "task") if t["title"] == "Before the wait Deal"]) == 1
    later = timezone.now() + timedelta(hours=2)
    # Two workers hold the same row: the conditional UPDATE lets exactly one through.
    assert [_claim(item, later), _claim(item, later)] == [True, False]
    AutomationItem.objects.filter(pk=item.pk).update(status="waiting", resume_at=item.resume_at)
    AutomationActionRun.objects.filter(item=item, label="Wait 1h").update(state="waiting")
    item.refresh_from_db()
    # An active poll refuses the resume: the claim rolls back, the item still waits, and the next minute takes it.
    busy = AutomationPoll.objects.create(automation=automation, trigger=AutomationPoll.Trigger.MANUAL)
    assert automation_waits_resume(now=later) == {"resumed": 0, "refused": 1}
    assert AutomationItem.objects.get(pk=item.pk).status == AutomationItem.Status.WAITING
    AutomationPoll.objects.filter(pk=busy.pk).update(status="succeeded")
    assert automation_waits_resume(now=later)["resumed"] == 1
    assert _resume_poll(automation).handled == 1
    # The step before the wait was done before it: not sent again; the one after it, once.
    assert len([t for t in records("streettext", "task") if t["title"] == "Before the wait Deal"]) == 1
    assert len([t for t in records("streettext", "task") if t["title"] == "After the wait Deal"]) == 1
    assert AutomationItem.objects.get(pk=item.pk).status == AutomationItem.Status.DONE
    _once_per_step()


def test_a_cancelled_wait_never_resumes(world: World) -> None:
    automation = _automation(world)
    add_step(automation, 1, kind=AutomationAction.Kind.WAIT, wait_minutes=30)
    add_step(automation, 2, action=_task("Never"))
    _opportunities(world, {"Deal": 10})
    poll_here(automation)
    item = _item(automation, "Deal")
    cancelled = automation_item_cancel(item=item, by="admin")
    assert (cancelled.status, cancelled.resume_at) == (AutomationItem.Status.CANCELLED, None)
    assert _history(item) == [("Wait 30m", "cancelled"), ("StreetText: task.create", "skipped")]
    assert automation_waits_resume(now=timezone.now() + DAY) == {"resumed": 0, "refused": 0}
    with pytest.raises(NotWaiting):
        automation_item_cancel(item=item)
    poll_here(automation)
    assert not [t for t in records("streettext", "task") if t["title"].startswith("Never")]
    assert AutomationItem.objects.get(pk=item.pk).status == AutomationItem.Status.CANCELLED


@pytest.mark.parametrize("mode", ["first", "all"])
def test_a_router_takes_the_first_or_every_matching_path_and_otherwise_when_none(world: World, mode: str) -> None:
    automation = _automation(world)
    router = add_step(automation, 1, kind=AutomationAction.Kind.ROUTER, router_mode=mode, name="Route")
    over_100 = add_path(router, 1, "Over 100", condition={"field": "monetaryValue", "op": "gt", "value": 100})
    over_1000 = add_path(router, 2, "Over 1000", condition={"field": "monetaryValue", "op": "gt", "value": 1000})
    other = add_path(router, 3, "Otherwise", otherwise=True)
    add_step(automation, 1, path=over_100, action=_task("A"))
    add_step(automation, 1, path=over_1000, action=_task("B"))
    add_step(automation, 1, path=other, action=_task("C"))
    # After the router, on the main line: only when the value is odd-sized (a per-step condition).
    add_step(automation, 2, action=_task("Tail"), condition={"field": "monetaryValue", "op": "lt", "value": 50})
    _opportunities(world, {"Huge": 5000, "Tiny": 10})
    poll = poll_here(automation)
    assert (poll.handled, poll.failed) == (2, 0), poll.error
    titles = sorted(t["title"] for t in records("streettext", "task") if t["title"].split()[0] in "ABC Tail")
    if mode == "first":
        assert titles == ["A Huge", "C Tiny", "Tail Tiny"]
        assert _item(automation, "Huge").action_runs.get(action=router).note == "Took path “Over 100”."
    else:
        assert titles == ["A Huge", "B Huge", "C Tiny", "Tail Tiny"]
        note = _item(automation, "Huge").action_runs.get(action=router).note
        assert note == "Took path “Over 100”, path “Over 1000”."
    huge = _item(automation, "Huge")
    # Steps of paths not taken have no row; the tail's condition did not hold.
    assert huge.action_runs.filter(label="StreetText: task.create", state="not_met").count() == 1
    assert huge.action_runs.count() == (3 if mode == "first" else 4)
    _once_per_step()


def _admin_form(automation: Any, steps: list[dict[str, str]], paths: list[dict[str, str]]) -> dict[str, str]:
    """The automation's page posted back with these step and path rows (existing rows carry their id)."""
    data = {
        "name": automation.name,
        "enabled": "on",
        "ghl_connection": str(automation.ghl_connection_id),
        "streettext_connection": str(automation.streettext_connection_id),
        "trigger_key": automation.trigger_key,
        "trigger_params": '{"limit": 100}',
        "on_new": "on",
        "start_from_0": "2020-01-01",
        "start_from_1": "00:00:00",
        "schedule_minutes": "0",
        "phone_region": "US",
    }
    for prefix, rows, initial in (
        ("actions", steps, automation.actions.count()),
        ("paths", paths, automation.paths.count()),
    ):
        data.update({f"{prefix}-TOTAL_FORMS": str(len(rows)), f"{prefix}-INITIAL_FORMS": str(initial)})
        data.update({f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"})
        for index, row in enumerate(rows):
            data.update({f"{prefix}-{index}-{key}": value for key, value in row.items()})
    return data


def test_the_admin_refuses_bad_steps_and_paths_clearly_and_stores_nothing(world: World, admin_client: Any) -> None:
    from django.urls import reverse

    from automations import forms as f

    automation = _automation(world)
    router = add_step(automation, 1, kind=AutomationAction.Kind.ROUTER, name="Route")
    other = _automation_named(world, "Another")
    foreign = add_path(add_step(other, 1, kind=AutomationAction.Kind.ROUTER), 1, "Theirs", condition=OVER_1000)
    url = reverse("admin:automations_automation_change", args=[automation.pk])
    router_row = {"id": str(router.pk), "automation": str(automation.pk), "position": "1", "what": "step:router"}
    bad = admin_client.post(
        url,
        _admin_form(
            automation,
            [
                router_row,
                {"automation": str(automation.pk), "position": "2", "what": "step:wait"},  # how long?
                {"automation": str(automation.pk), "position": "3", "what": "step:wait", "wait": "1w"},
                {"automation": str(automation.pk), "position": "4", "what": "step:wait", "wait": "400d"},
                {"automation": str(automation.pk), "position": "5", "what": "streettext:task.create", "wait": "1d"},
                {
                    "automation": str(automation.pk),
                    "position": "6",
                    "what": "step:wait",
                    "wait": "1d",
                    "path": str(foreign.pk),
                },
                {
                    "automation": str(automation.pk),
                    "position": "7",
                    "what": "step:wait",
                    "wait": "1d",
                    "condition": "{",
                },
            ],
            [
                {
                    "automation": str(automation.pk),
                    "router": str(router.pk),
                    "name": "A",
                    "otherwise": "on",
                    "condition": '{"field": "x", "op": "exists"}',
                },
                {"automation": str(automation.pk), "router": str(router.pk), "name": "B"},
                {"automation": str(automation.pk), "router": str(router.pk), "name": "C", "otherwise": "on"},
                {"automation": str(automation.pk), "router": str(router.pk), "name": "D", "otherwise": "on"},
            ],
        ),
    )
    assert bad.status_code == 200
    step_errors = [form.errors for form in bad.context["inline_admin_formsets"][0].formset.forms]
    path_errors = [form.errors for form in bad.context["inline_admin_formsets"][1].formset.forms]
    assert step_errors[1]["wait"] == [f.MSG_WAIT_NEEDS]
    assert step_errors[2]["wait"] == [f.MSG_WAIT_TEXT]
    assert step_errors[3]["wait"] == [f.MSG_WAIT_CAP.format(days=365)]
    assert step_errors[4]["wait"] == [f.MSG_WAIT_UNUSED]
    assert "path" in step_errors[5]  # another automation's path is not a choice
    assert "condition" in step_errors[6]
    assert path_errors[0]["condition"] == [f.MSG_OTHERWISE_CONDITION]
    assert path_errors[1]["condition"] == [f.MSG_PATH_NEEDS_CONDITION]
    assert path_errors[3]["otherwise"] == [f.MSG_ONE_OTHERWISE]
    assert automation.actions.count() == 1
    assert not automation.paths.exists()

    good = admin_client.post(
        url,
        _admin_form(
            automation,
            [router_row],
            [
                {
                    "automation": str(automation.pk),
                    "router": str(router.pk),
                    "position": "1",
                    "name": "Big",
                    "condition": '{"field": "monetaryValue", "op": "gt", "value": 1000}',
                }
            ],
        ),
    )
    assert good.status_code == 302
    assert automation.paths.get().router == router


def test_a_waiting_item_is_cancelled_from_its_page_and_a_viewer_cannot(world: World, admin_client: Any) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from integrations.services.roles import role_viewer_grant

    automation = _automation(world)
    add_step(automation, 1, kind=AutomationAction.Kind.WAIT, wait_minutes=60)
    add_step(automation, 2, action=_task("Never"))
    _opportunities(world, {"Deal": 10})
    poll_here(automation)
    item = _item(automation, "Deal")
    page = admin_client.get(reverse("admin:automations_automationitem_change", args=[item.pk])).content.decode()
    assert 'id="ss-cancel-item"' in page
    assert "Waiting until" in page
    cancel = reverse("admin:automations_automationitem_cancel", args=[item.pk])
    viewer = Client()
    user = get_user_model().objects.create_user(username="viewer", password="pw-viewer-123")
    role_viewer_grant(user=user)
    viewer.force_login(user)
    assert viewer.post(cancel).status_code == 403
    assert admin_client.get(cancel).status_code == 405
    assert AutomationItem.objects.get(pk=item.pk).status == AutomationItem.Status.WAITING
    assert admin_client.post(cancel).status_code == 302
    assert AutomationItem.objects.get(pk=item.pk).status == AutomationItem.Status.CANCELLED
    again = admin_client.post(cancel, follow=True)
    assert any(NOT_WAITING in str(m) for m in again.context["messages"])


def test_two_resumers_at_the_same_moment_resume_a_due_item_once(world: World) -> None:
    import threading

    from django.db import connection

    automation = _automation(world)
    add_step(automation, 1, kind=AutomationAction.Kind.WAIT, wait_minutes=60)
    add_step(automation, 2, action=_task("Once"))
    _opportunities(world, {"Deal": 10, "Other deal": 20})
    poll_here(automation)
    assert AutomationItem.objects.filter(status=AutomationItem.Status.WAITING).count() == 2
    later = timezone.now() + timedelta(hours=2)
    barrier = threading.Barrier(2)
    results: list[dict[str, int]] = []

    def resume() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(automation_waits_resume(now=later))
        finally:
            connection.close()

    threads = [threading.Thread(target=resume) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 2
    assert sum(r["resumed"] for r in results) == 2  # each item claimed by one of them, never by both
    resumes = AutomationPoll.objects.filter(automation=automation, trigger=AutomationPoll.Trigger.RESUME)
    assert sum(len(p.only_items) for p in resumes) == 2
    for poll in resumes:
        automation_poll_execute(poll_id=poll.pk)
    assert sorted(t["title"] for t in records("streettext", "task") if t["title"].startswith("Once")) == [
        "Once Deal",
        "Once Other deal",
    ]
    _once_per_step()
