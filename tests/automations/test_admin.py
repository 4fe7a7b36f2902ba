"""Automations in the admin: list with last poll and badges, the automation's and an action's pages (checked input,
the mapping page's pickers), Run now, Test trigger (writes nothing), presets, polls and the items history with Retry;
viewers read and run nothing; a bounded number of queries per page."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.db import connection as db_connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from automations import forms as automation_forms
from automations.models import (
    Automation,
    AutomationAction,
    AutomationActionRun,
    AutomationFieldMapping,
    AutomationItem,
    AutomationPoll,
)
from automations.presets import automation_create_from_preset
from integrations import selectors as start_selectors
from integrations.catalog.models import CatalogExecution
from integrations.models import System
from integrations.services.roles import role_viewer_grant
from tests.automations.support import automation_form_data as _form_data
from tests.automations.support import build_world, field, make_automation, poll_here

pytestmark = pytest.mark.django_db(transaction=True)

TASK = [
    (
        System.STREETTEXT,
        "task.create",
        [field("ghl_contact_id", "id"), field("title", "Call {firstName}", "template")],
    )
]


def _viewer() -> Client:
    user = get_user_model().objects.create_user(username="viewer", password="pw-viewer-123")
    role_viewer_grant(user=user)
    client = Client()
    client.force_login(user)
    return client


def _messages(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_an_automation_is_created_checked_and_scheduled_from_its_page(admin_client: Client, live_server: Any) -> None:
    world = build_world(live_server.url, size=10)
    add = reverse("admin:automations_automation_add")
    page = admin_client.get(add)
    assert page.status_code == 200
    assert 'id="ss-mapping-catalog"' in page.content.decode()

    # Bad input: every problem said in plain words, nothing saved.
    bad = admin_client.post(
        add,
        _form_data(
            ghl_connection=world.streettext.pk,
            trigger_key="contacts",
            trigger_params='{"nope": 1}',
            record_filter='{"field": "tags", "op": "has"}',
            schedule_minutes="20",
            on_new="",
            on_updated="",
        ),
    )
    errors = bad.context["adminform"].form.errors
    assert automation_forms.MSG_SCHEDULE_RANGE in errors["schedule_minutes"]
    assert automation_forms.MSG_NOTHING_HANDLED in errors["on_new"]
    assert automation_forms.MSG_NEEDS_STREETTEXT in errors["streettext_connection"]
    assert automation_forms.MSG_STREETTEXT_PARAMS in errors["trigger_params"]
    assert any("unknown operator" in e for e in errors["record_filter"])
    assert any("is not one" in e for e in errors["ghl_connection"])
    assert not Automation.objects.exists()

    unknown_param = admin_client.post(
        add,
        _form_data(
            ghl_connection=world.ghl.pk,
            trigger_key="search-opportunities",
            trigger_params='{"pipeline": "x"}',
            trigger_body="",
        ),
    )
    assert any(
        "has no parameter pipeline" in e for e in unknown_param.context["adminform"].form.errors["trigger_params"]
    )

    made = admin_client.post(
        add,
        _form_data(
            ghl_connection=world.ghl.pk,
            streettext_connection=world.streettext.pk,
            watch_fields="email, tags",
            record_filter='{"field": "email", "op": "exists"}',
            **{
                "actions-TOTAL_FORMS": "1",
                "actions-0-position": "1",
                "actions-0-what": "streettext:task.create",
                "actions-0-name": "A task",
                "actions-0-create_missing_contact": "on",
            },
        ),
    )
    assert made.status_code == 302, made.context["adminform"].form.errors if made.context else made
    automation = Automation.objects.get()
    assert (automation.trigger_system, automation.trigger_key, automation.watch_fields) == (
        "ghl",
        "search-contacts",
        ["email", "tags"],
    )
    assert automation.periodic_task is not None
    assert automation.periodic_task.task == "automations.tasks.scheduled_poll_task"
    assert (automation.periodic_task.interval.every, automation.periodic_task.enabled) == (5, True)
    action = automation.actions.get()
    assert (action.system, action.operation) == ("streettext", "task.create")

    # Same name again: refused with a free one suggested.
    again = admin_client.post(add, _form_data(ghl_connection=world.ghl.pk, name="contacts TO tasks"))
    assert "“contacts TO tasks (2)” is free" in " ".join(again.context["adminform"].form.errors["name"])


def test_an_actions_fields_are_edited_with_the_mapping_pickers_and_checked(
    admin_client: Client, live_server: Any
) -> None:
    world = build_world(live_server.url, size=10)
    automation = make_automation(world, actions=TASK)
    poll_here(automation)  # a real item recorded: its fields join the picker's list
    action = automation.actions.get()
    url = reverse("admin:automations_automationaction_change", args=[action.pk])
    page = admin_client.get(url)
    html = page.content.decode()
    catalog = page.context["catalog"]
    sources = [entry["value"] for entry in catalog["objectTypes"]["contact"]["trigger"]]
    targets = [entry["value"] for entry in catalog["objectTypes"]["contact"]["action"]]
    assert {"id", "email", "firstName", "trigger.change"} <= set(sources)
    assert targets[:3] == ["contact_id", "ghl_contact_id", "contact_email"]
    assert "title" in targets
    assert 'data-ss-picker="target"' in html
    assert 'data-ss-chain="1"' in html

    rows = list(action.field_mappings.all())
    data: dict[str, Any] = {
        "position": "1",
        "what": "streettext:task.create",
        "name": "",
        "create_missing_contact": "on",
        "field_mappings-TOTAL_FORMS": str(len(rows) + 1),
        "field_mappings-INITIAL_FORMS": str(len(rows)),
        "field_mappings-MIN_NUM_FORMS": "0",
        "field_mappings-MAX_NUM_FORMS": "1000",
        "_continue": "1",
    }
    for index, row in enumerate(rows):
        data.update(
            {
                f"field_mappings-{index}-id": str(row.pk),
                f"field_mappings-{index}-action": str(action.pk),
                f"field_mappings-{index}-position": str(index),
                f"field_mappings-{index}-target_field": row.target_field,
                f"field_mappings-{index}-source_kind": row.source_kind,
                f"field_mappings-{index}-source": row.source,
                f"field_mappings-{index}-transforms": "",
            }
        )
    new = len(rows)
    data.update(
        {
            f"field_mappings-{new}-action": str(action.pk),
            f"field_mappings-{new}-position": "5",
            f"field_mappings-{new}-target_field": "due_date",
            f"field_mappings-{new}-source_kind": "field",
            f"field_mappings-{new}-source": "dateAdded",
            f"field_mappings-{new}-transforms": "datetime_format(tz=Mars)",
        }
    )
    refused = admin_client.post(url, data)
    assert refused.status_code == 200
    text = refused.content.decode()
    assert "“due_date” is not a field of this action" in text
    assert "is not a known time zone" in text

    data[f"field_mappings-{new}-target_field"] = "due_at"
    data[f"field_mappings-{new}-transforms"] = json.dumps([{"name": "trim", "params": {}}])
    saved = admin_client.post(url, data)
    assert saved.status_code == 302
    added = AutomationFieldMapping.objects.get(action=action, target_field="due_at")
    assert (added.source, added.transforms) == ("dateAdded", [{"name": "trim", "params": {}}])


def test_run_now_queues_a_poll_and_a_second_one_is_refused(admin_client: Client, live_server: Any) -> None:
    world = build_world(live_server.url, size=10)
    automation = make_automation(world, actions=TASK)
    run = reverse("admin:automations_automation_run", args=[automation.pk])
    # The message is kept from the broker: a worker of the test session must not run the poll before it is looked at.
    with mock.patch("automations.services.polls.enqueue.run_poll", autospec=True) as queued:
        first = admin_client.post(run)
    poll = AutomationPoll.objects.get()
    queued.assert_called_once_with(poll.pk)
    assert first.status_code == 302
    assert first["Location"] == reverse("admin:automations_automationpoll_change", args=[poll.pk])
    assert (poll.trigger, poll.status, poll.requested_by) == ("manual", "pending", "admin")
    second = admin_client.post(run, follow=True)
    assert any("is already pending" in m for m in _messages(second))
    assert AutomationPoll.objects.count() == 1
    assert admin_client.get(run).status_code == 405  # a GET never starts anything


def test_test_trigger_shows_a_real_item_and_each_actions_fields_and_writes_nothing(
    admin_client: Client, live_server: Any
) -> None:
    world = build_world(live_server.url, size=10)
    automation = make_automation(
        world,
        record_filter={"field": "email", "op": "exists"},
        actions=[
            (System.STREETTEXT, "contact.upsert", [field("email", "email"), field("first_name", "firstName")]),
            (
                System.STREETTEXT,
                "task.create",
                [field("contact_id", "{actions.1.id}", "template"), field("title", "Call {firstName}", "template")],
            ),
        ],
    )
    logged = CatalogExecution.objects.count()
    page = admin_client.get(reverse("admin:automations_automation_test", args=[automation.pk]))
    assert page.status_code == 200
    test = page.context["test"]
    assert not test.error
    item = test.item
    fields = dict(test.actions[0].fields)
    assert fields["email"] == item["email"]
    second = dict(test.actions[1].fields)
    assert second["title"] == f"Call {item['firstName']}"
    assert second["contact_id"] == "(the result of action 1, once it has run)"
    assert test.handled == bool(item.get("email"))
    html = page.content.decode()
    assert "Sample item" in html
    assert "Would run" in html or "Would be skipped" in html
    # Nothing written: no history, no cursor moved, no poll, no log row, nothing sent to StreetText.
    assert not AutomationItem.objects.exists()
    assert not AutomationPoll.objects.exists()
    assert CatalogExecution.objects.count() == logged
    assert not hasattr(automation, "cursor") or not Automation.objects.get(pk=automation.pk).cursor.position


def test_a_preset_is_created_from_its_page_with_choices_from_the_connection(
    admin_client: Client, live_server: Any
) -> None:
    world = build_world(live_server.url, size=10)
    url = reverse("admin:automations_automation_presets")
    listing = admin_client.get(url)
    assert "Opportunity won → StreetText tag" in listing.content.decode()
    form = admin_client.get(url + "?preset=tag_to_workflow")
    assert form.status_code == 200
    assert "StreetText tag" in form.content.decode()
    refused = admin_client.post(
        url,
        {
            "preset": "tag_to_workflow",
            "ghl_connection": world.ghl.pk,
            "streettext_connection": world.streettext.pk,
            "input_tag": "",
            "input_workflow_id": "wf_1",
            "create": "1",
        },
    )
    assert refused.status_code == 200
    assert not Automation.objects.exists()
    made = admin_client.post(
        url,
        {
            "preset": "tag_to_workflow",
            "ghl_connection": world.ghl.pk,
            "streettext_connection": world.streettext.pk,
            "input_tag": "nurture",
            "input_workflow_id": "wf_1",
            "create": "1",
        },
    )
    automation = Automation.objects.get()
    assert made["Location"] == reverse("admin:automations_automation_change", args=[automation.pk])
    assert automation.preset == "tag_to_workflow"
    assert automation.enabled
    assert automation.periodic_task is not None


def test_the_items_history_shows_each_actions_result_and_failed_items_can_be_retried(
    admin_client: Client, live_server: Any
) -> None:
    world = build_world(live_server.url, size=10)
    # The title is missing for every item: each fails with the reason, nothing is sent.
    automation = make_automation(
        world,
        record_filter={"field": "email", "op": "exists"},
        actions=[(System.STREETTEXT, "task.create", [field("ghl_contact_id", "id")])],
    )
    poll = poll_here(automation)
    assert poll.failed > 0
    failed = AutomationItem.objects.filter(status=AutomationItem.Status.FAILED).first()
    assert failed is not None
    assert "Create a task needs title" in failed.error

    listing = admin_client.get(
        reverse("admin:automations_automationitem_changelist") + f"?automation__id__exact={automation.pk}"
    )
    html = listing.content.decode()
    assert listing.status_code == 200
    assert "Failed" in html
    assert "Create a task needs title" in html
    # The automation's page shows its latest items with their status and why.
    own_page = admin_client.get(reverse("admin:automations_automation_change", args=[automation.pk])).content.decode()
    assert 'id="ss-recent-items"' in own_page
    assert "Create a task needs title" in own_page
    detail = admin_client.get(reverse("admin:automations_automationitem_change", args=[failed.pk]))
    assert detail.status_code == 200
    assert 'id="ss-item-actions"' in detail.content.decode()
    assert detail.context["may_retry"]

    # Fixed, then retried: only the failed action runs again, now successfully.
    action = automation.actions.get()
    AutomationFieldMapping.objects.create(
        action=action, target_field="title", source="Call {firstName}", source_kind="template"
    )
    retried = admin_client.post(reverse("admin:automations_automationitem_retry", args=[failed.pk]))
    retry_poll = AutomationPoll.objects.filter(trigger="retry").get()
    assert retried["Location"] == reverse("admin:automations_automationpoll_change", args=[retry_poll.pk])
    assert retry_poll.only_items == [failed.pk]
    from automations.services.engine import automation_poll_execute

    automation_poll_execute(poll_id=retry_poll.pk)
    failed.refresh_from_db()
    assert failed.status == AutomationItem.Status.DONE
    run = AutomationActionRun.objects.get(item=failed)
    assert (run.state, run.attempts) == ("done", 1)
    assert run.result_ids["id"].startswith("tsk_")


def test_viewers_read_automations_polls_and_history_but_run_and_edit_nothing(
    admin_client: Client, live_server: Any
) -> None:
    world = build_world(live_server.url, size=10)
    automation = make_automation(world, actions=TASK)
    poll_here(automation)
    item = AutomationItem.objects.first()
    assert item is not None
    viewer = _viewer()
    for url in (
        reverse("admin:automations_automation_changelist"),
        reverse("admin:automations_automation_change", args=[automation.pk]),
        reverse("admin:automations_automationpoll_changelist"),
        reverse("admin:automations_automationitem_changelist"),
        reverse("admin:automations_automationitem_change", args=[item.pk]),
    ):
        response = viewer.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert 'id="ss-run-now"' not in html
        assert 'id="ss-test-trigger"' not in html
        assert "Retry" not in html or 'id="ss-retry-item"' not in html
    # The actions and their fields are shown, read-only.
    page = viewer.get(reverse("admin:automations_automation_change", args=[automation.pk])).content.decode()
    assert "StreetText: Create a task" in page
    fields_page = viewer.get(reverse("admin:automations_automationaction_change", args=[automation.actions.get().pk]))
    assert fields_page.status_code == 200
    assert "Call {firstName}" in fields_page.content.decode()
    assert viewer.post(reverse("admin:automations_automation_run", args=[automation.pk])).status_code == 403
    assert viewer.get(reverse("admin:automations_automation_test", args=[automation.pk])).status_code == 403
    assert viewer.post(reverse("admin:automations_automationitem_retry", args=[item.pk])).status_code == 403
    assert viewer.get(reverse("admin:automations_automation_presets")).status_code == 403
    action = automation.actions.get()
    edit = viewer.post(reverse("admin:automations_automationaction_change", args=[action.pk]), {"name": "x"})
    assert edit.status_code == 403
    assert AutomationPoll.objects.count() == 1
    index = viewer.get(reverse("admin:index"))
    assert index.context["automations"] is not None


def test_the_start_page_lists_automations_with_their_last_poll(admin_client: Client, live_server: Any) -> None:
    world = build_world(live_server.url, size=10)
    automation = make_automation(world, actions=TASK)
    make_automation(world, name="Never run yet", actions=TASK)
    poll = poll_here(automation)
    page = admin_client.get(reverse("admin:index"))
    html = page.content.decode()
    listed = {a.name: a for a in page.context["automations"]}
    assert listed[automation.name].last_poll_id == poll.pk
    assert listed[automation.name].last_poll_status == "succeeded"
    assert listed["Never run yet"].last_poll_id is None
    assert 'id="ss-automations"' in html
    assert reverse("admin:automations_automationpoll_change", args=[poll.pk]) in html
    assert "Never run" in html
    # In the app list too, as a group of its own.
    group = next(app for app in page.context["app_list"] if app["app_label"] == "automations")
    assert group["name"] == "Automations"
    assert [m["object_name"] for m in group["models"]] == ["Automation", "AutomationPoll", "AutomationItem"]


def test_without_the_automations_model_the_start_page_leaves_the_slot_out(
    admin_client: Client, monkeypatch: Any
) -> None:
    monkeypatch.setattr(start_selectors, "AUTOMATION_MODEL", "missing.Model")
    page = admin_client.get(reverse("admin:index"))
    assert page.context["automations"] is None
    assert 'id="ss-automations-title"' not in page.content.decode()


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(db_connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries)


def test_each_page_costs_a_fixed_number_of_queries_however_many_rows(
    admin_client: Client, live_server: Any, settings: Any
) -> None:
    # The polls make a few hundred StreetText tasks: no rate limit on either side (what is counted is queries).
    settings.RATE_LIMIT_BACKEND = "off"
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 100_000
    settings.SANDBOX_RATE_LIMIT = 100_000
    world = build_world(live_server.url, size=15)
    first = make_automation(world, name="One", actions=TASK)
    poll_here(first)
    urls = {
        "list": reverse("admin:automations_automation_changelist"),
        "change": reverse("admin:automations_automation_change", args=[first.pk]),
        "action": reverse("admin:automations_automationaction_change", args=[first.actions.get().pk]),
        "polls": reverse("admin:automations_automationpoll_changelist"),
        "poll": reverse("admin:automations_automationpoll_change", args=[first.polls.get().pk]),
        "items": reverse("admin:automations_automationitem_changelist") + "?kind=all",
        "item": reverse("admin:automations_automationitem_change", args=[AutomationItem.objects.first().pk]),  # type: ignore[union-attr]
        "start": reverse("admin:index"),
        "test trigger": reverse("admin:automations_automation_test", args=[first.pk]),
        "presets": reverse("admin:automations_automation_presets"),
    }
    before = {name: _queries(admin_client, url) for name, url in urls.items()}
    # More of everything: automations, actions, polls, items.
    for n in range(3):
        other = make_automation(world, name=f"More {n}", actions=TASK * 2)
        poll_here(other)
    AutomationAction.objects.create(automation=first, position=9, system="streettext", operation="note.create")
    after = {name: _queries(admin_client, url) for name, url in urls.items()}
    for name in urls:
        assert after[name] <= before[name] + 1, (name, before[name], after[name])
    assert max(after.values()) <= 40, after


def test_presets_are_created_by_the_service_with_their_inputs(live_server: Any) -> None:
    world = build_world(live_server.url, size=10)
    automation = automation_create_from_preset(
        key="new_appointment_note", ghl=world.ghl, streettext=world.streettext, inputs={"calendar_id": "cal_1"}
    )
    assert automation.trigger_key == "list-calendar-events"
    assert automation.trigger_params["calendarId"] == "cal_1"
    with pytest.raises(ValueError, match="Calendar is needed"):
        automation_create_from_preset(key="new_appointment_note", ghl=world.ghl, streettext=world.streettext)
    twice = automation_create_from_preset(
        key="new_appointment_note", ghl=world.ghl, streettext=world.streettext, inputs={"calendar_id": "cal_1"}
    )
    assert twice.name == f"{automation.name} (2)"
