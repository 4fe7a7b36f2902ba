"""Paths and waits in a real browser: build "New opportunity → if monetaryValue > 1000 then add to a workflow, else
wait 1 day then create a task" on the automation's page, test it on a sample, run it against the sandbox, see each
path in the item history, move the clock so the wait ends, cancel another wait, then export the automation and import
it into an empty database, identical. Polls run in this process (their messages kept from any worker)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from automations.models import Automation, AutomationAction, AutomationItem, AutomationPath, AutomationPoll
from automations.services.engine import automation_poll_execute
from automations.services.waits import automation_waits_resume
from config.celery import app
from configs.services import config_document
from tests.automations.support import build_catalog_world, ghl_run, records
from tests.browser.conftest import ADMIN_PASSWORD, WIDTH, log_in, messages, shot, submit

pytestmark = pytest.mark.django_db(transaction=True)
NAME = "New opportunity by value"


@pytest.fixture(autouse=True)
def no_broker() -> Iterator[None]:
    with mock.patch.object(app, "send_task"):
        yield


def _fits(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH, page.url


def _save(page: Any, what: str) -> None:
    submit(page, page.get_by_role("button", name="Save and continue editing"))
    if not any("successfully" in m for m in messages(page)):
        shot(page, f"paths-error-{what}")
        raise AssertionError(page.locator(".errorlist, .errornote").all_inner_texts())


def _step(page: Any, row: int, **values: str) -> None:
    """Fill row `row` of the steps inline (a new row is added first when it does not exist yet)."""
    prefix = f"#id_actions-{row}-"
    if not page.locator(f"{prefix}what").count():
        page.locator("#actions-group .add-row a").click()
    for name, value in values.items():
        locator = page.locator(f"{prefix}{name}")
        if locator.evaluate("e => e.tagName") == "SELECT":
            if name == "path":
                locator.select_option(label=value)
            else:
                locator.select_option(value)
        else:
            locator.fill(value)


def _fields(page: Any, step: AutomationAction, rows: list[tuple[str, str, str]]) -> None:
    """Map a step's fields on its own page: (target, source kind, source)."""
    page.goto(reverse("admin:automations_automationaction_change", args=[step.pk]))
    for index, (target, kind, source) in enumerate(rows):
        if not page.locator(f"#id_field_mappings-{index}-source_kind").count():
            page.locator(".add-row a").click()
        page.locator(f"#id_field_mappings-{index}-target_field").evaluate(
            "(e, v) => { e.value = v; e.dispatchEvent(new Event('change')); }", target
        )
        page.locator(f"#id_field_mappings-{index}-source_kind").select_option(kind)
        page.locator(f"#id_field_mappings-{index}-source").evaluate(
            "(e, v) => { e.value = v; e.dispatchEvent(new Event('change')); }", source
        )
    _fits(page)
    submit(page, page.get_by_role("button", name="Save and continue editing"))
    assert any("successfully" in m for m in messages(page)), page.locator(".errorlist").all_inner_texts()


def _run_poll(page: Any, automation: Automation, trigger: str = AutomationPoll.Trigger.MANUAL) -> AutomationPoll:
    poll = AutomationPoll.objects.filter(automation=automation, trigger=trigger).order_by("-pk").first()
    assert poll is not None
    assert poll.status == AutomationPoll.Status.PENDING
    automation_poll_execute(poll_id=poll.pk)
    poll.refresh_from_db()
    assert poll.status == AutomationPoll.Status.SUCCEEDED, poll.error
    return poll


def test_build_paths_and_a_wait_run_them_see_each_path_resume_cancel_export_and_import(
    page: Any, live_server: Any, admin_user: Any, page_errors: list[str], settings: Any, tmp_path: Path
) -> None:
    settings.SANDBOX_RATE_LIMIT = 10_000
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000
    world = build_catalog_world(live_server.url, size=10)
    workflow = records("ghl", "workflows")[0]["id"]
    log_in(page, "admin", ADMIN_PASSWORD)

    # The automation: new opportunities (a polling trigger for now), one "Paths" step.
    page.goto(reverse("admin:automations_automation_add"))
    page.fill("#id_name", NAME)
    page.select_option("#id_ghl_connection", label=str(world.ghl))
    page.select_option("#id_streettext_connection", label=str(world.streettext))
    page.select_option("#id_trigger_key", "search-opportunities")
    page.fill("#id_trigger_params", '{"limit": 100}')
    page.uncheck("#id_on_updated")
    page.fill("#id_schedule_minutes", "0")
    _step(page, 0, position="1", what="step:router", name="By value")
    _save(page, "router")
    automation = Automation.objects.get(name=NAME)
    router = automation.actions.get()

    # Its two paths: value over 1000, and otherwise.
    for row, (name, condition, otherwise) in enumerate(
        [("High value", '{"field": "monetaryValue", "op": "gt", "value": 1000}', False), ("Otherwise", "", True)]
    ):
        page.locator("#paths-group .add-row a").click()
        page.select_option(f"#id_paths-{row}-router", str(router.pk))
        page.fill(f"#id_paths-{row}-position", str(row + 1))
        page.fill(f"#id_paths-{row}-name", name)
        page.fill(f"#id_paths-{row}-condition", condition)
        if otherwise:
            page.check(f"#id_paths-{row}-otherwise")
    _save(page, "paths")

    # The paths' steps: the workflow on the first; a wait of a day, then a task, on the other.
    _step(page, 1, position="1", path="By value → High value", what="ghl:add-contact-to-workflow", name="Workflow")
    _step(page, 2, position="1", path="By value → Otherwise", what="step:wait", wait="1d")
    _step(page, 3, position="2", path="By value → Otherwise", what="streettext:task.create", name="Follow-up task")
    shot(page, "paths-automation-page")
    _fits(page)
    page.locator("#paths-group").scroll_into_view_if_needed()
    shot(page, "paths-paths-inline")
    _save(page, "steps")
    flow = AutomationAction.objects.get(automation=automation, name="Workflow")
    task = AutomationAction.objects.get(automation=automation, name="Follow-up task")
    assert AutomationAction.objects.get(automation=automation, kind="wait").wait_minutes == 1440
    assert flow.path == AutomationPath.objects.get(name="High value")
    _fields(page, flow, [("contactId", "field", "contactId"), ("workflowId", "constant", workflow)])
    _fields(
        page,
        task,
        [("ghl_contact_id", "field", "contactId"), ("title", "template", "Follow up {name}")],
    )

    # Two new opportunities: one over 1000, one under.
    pipeline = records("ghl", "opportunities.pipelines")[0]["id"]
    contacts = [c["id"] for c in records("ghl", "contact")]
    for contact, (name, value) in zip(
        contacts, [("Big deal", 5000), ("Small deal", 200), ("Later deal", 10)], strict=False
    ):
        body = {"pipelineId": pipeline, "name": name, "status": "open", "contactId": contact, "monetaryValue": value}
        ghl_run(world, "create-opportunity", body=body)

    # Test trigger: the newest sample and the path it would take.
    page.goto(reverse("admin:automations_automation_change", args=[automation.pk]))
    page.locator("#ss-test-trigger").click()
    steps = page.locator(".ss-test-step").all_inner_texts()
    assert any("Took path “Otherwise”" in s for s in steps), steps
    assert any("On a path this item would not take" in s for s in steps), steps
    _fits(page)
    shot(page, "paths-test-trigger")
    page.get_by_role("link", name="Back to the automation").click()

    # Run now (the poll runs here): the big deal took the workflow path; the two small ones wait.
    submit(page, page.locator("#ss-run-now"))
    poll = _run_poll(page, automation)
    assert (poll.new, poll.handled) == (3, 3)
    page.goto(reverse("admin:automations_automationitem_changelist") + f"?automation__id__exact={automation.pk}")
    statuses = {
        row.locator("td.field-item_column").inner_text().split("\n")[0]: row.locator(
            "td.field-status_badge"
        ).inner_text()
        for row in page.locator("#result_list tbody tr").all()
    }
    assert statuses["Big deal"].startswith("Done"), statuses
    assert statuses["Small deal"].startswith("Waiting"), statuses
    assert "until" in statuses["Small deal"], statuses
    _fits(page)
    shot(page, "paths-items-history")
    big = AutomationItem.objects.get(automation=automation, label="Big deal")
    page.goto(reverse("admin:automations_automationitem_change", args=[big.pk]))
    history = page.locator("#ss-item-actions").inner_text()
    assert "Took path “High value”" in history
    assert "Workflow" in history
    assert "Wait" not in history  # the other path's steps have no row

    # A waiting item's page: until when, and Cancel (the later deal: it never resumes).
    later = AutomationItem.objects.get(automation=automation, label="Later deal")
    page.goto(reverse("admin:automations_automationitem_change", args=[later.pk]))
    assert "Waiting until" in page.locator("#ss-item-waiting").inner_text()
    _fits(page)
    shot(page, "paths-item-waiting")
    submit(page, page.locator("#ss-cancel-item"))
    assert any("Cancelled" in m for m in messages(page))
    assert "Cancelled" in page.locator("#ss-item-actions").inner_text()

    # A day later: the resume (beat's every-minute service, the clock moved) runs the small deal's task, once.
    assert automation_waits_resume(now=timezone.now() + timedelta(days=1, minutes=1))["resumed"] == 1
    _run_poll(page, automation, AutomationPoll.Trigger.RESUME)
    small = AutomationItem.objects.get(automation=automation, label="Small deal")
    page.goto(reverse("admin:automations_automationitem_change", args=[small.pk]))
    history = page.locator("#ss-item-actions").inner_text()
    assert "Took path “Otherwise”" in history
    assert "resumed" in history
    assert "Follow-up task" in history
    _fits(page)
    shot(page, "paths-item-resumed")
    titles = [t["title"] for t in records("streettext", "task") if t["title"].startswith("Follow up")]
    assert titles == ["Follow up Small deal"]
    assert AutomationItem.objects.get(pk=later.pk).status == AutomationItem.Status.CANCELLED

    # Export, delete, import into the emptied database: the same automation, paths and waits included.
    expected = config_document(automation)
    page.goto(reverse("admin:configs_export"))
    page.check(f"#ss-export input[name=automations][value='{automation.pk}']")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download").click()
    path = tmp_path / "config.yaml"
    download.value.save_as(path)
    Automation.objects.all().delete()
    assert not AutomationPath.objects.exists()
    page.goto(reverse("admin:configs_import"))
    page.set_input_files("#id_file", str(path))
    page.uncheck("#id_dry_run")
    submit(page, page.get_by_role("button", name="Import"))
    assert "1 created" in page.locator("#ss-import-report").inner_text()
    assert config_document(Automation.objects.get(name=NAME)) == expected
    assert page_errors == []
