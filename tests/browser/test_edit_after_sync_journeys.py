"""What people do after a first sync, twice: edit the mapping (a transform, the filter, the direction, the conflict
policy), save, see the re-sync notice, dry-run the re-sync, re-sync, edit again and save again; the same for an
automation and a connection. Each save is checked in the database and on the page it lands on.

The runs these journeys start are executed in the test's own process (`sync_run_execute`): the pages are what is
under test here; the worker's part is covered by the other journeys (whose worker, when one is still running in the
session, may take a run first)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from automations.models import Automation, AutomationPoll
from automations.presets import automation_create_from_preset
from automations.services.engine import automation_poll_execute
from integrations.models import Connection, SyncRun
from integrations.services import sync
from mappings.admin import MSG_OUTDATED
from mappings.models import Direction, FieldMapping, Mapping
from sandbox.models import SandboxRecord
from tests.browser.conftest import ADMIN_PASSWORD, log_in, messages, shot, submit
from tests.integrations.support import build_world, wait_finished

pytestmark = pytest.mark.django_db(transaction=True)

NOTICE_START = MSG_OUTDATED.split("{outdated}")[1].split(".")[0].strip()  # "records were synced by this mapping …"


def _execute(run: SyncRun) -> SyncRun:
    # A worker left running by an earlier test of the session may have claimed the run: then it finishes it.
    sync.sync_run_execute(run_id=run.pk)
    wait_finished(run)
    run.refresh_from_db()
    return run


def _row(mapping: Mapping, target: str) -> int:
    """The inline row index of a field mapping (the inline orders rows by direction, position, id)."""
    rows = list(FieldMapping.objects.filter(mapping=mapping).order_by("direction", "position", "id"))
    return next(i for i, fm in enumerate(rows) if fm.target_field == target)


def _saved(page: Any) -> None:
    shown = messages(page)
    assert any("was changed successfully" in m for m in shown), (shown, page.locator(".errorlist").all_inner_texts())


def _wide_enough(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400


def test_edit_a_synced_mapping_resync_it_and_edit_it_again(
    page: Any, live_server: Any, admin_user: Any, page_errors: list[str], settings: Any
) -> None:
    settings.SANDBOX_RATE_LIMIT = 10_000
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT, size=16)
    mapping = world.mapping
    first = _execute(SyncRun.objects.create(mapping=mapping, trigger=SyncRun.Trigger.MANUAL))
    assert first.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL), first.error  # demo: bad phones
    log_in(page, "admin", ADMIN_PASSWORD)
    url = reverse("admin:mappings_mapping_change", args=[mapping.pk])

    # Synced and not edited: no notice.
    page.goto(url)
    assert page.locator("#resync-notice").count() == 0

    # Edit 1: first names upper-cased, both ways, StreetText wins.
    first_name = _row(mapping, "first_name")
    page.locator(f"#field_mappings-{first_name} td.field-transforms").get_by_role("button", name="Edit").click()
    page.locator("#ss-chain-dialog select.ss-add-step").select_option("upper")
    page.locator("#ss-chain-dialog").get_by_role("button", name="Done").click()
    page.select_option("#id_direction", Direction.BOTH)
    page.select_option("#id_conflict_policy", Mapping.ConflictPolicy.STREETTEXT_WINS)
    submit(page, page.get_by_role("button", name="Save and continue editing"))
    _saved(page)
    mapping.refresh_from_db()
    assert (mapping.direction, mapping.conflict_policy) == (Direction.BOTH, Mapping.ConflictPolicy.STREETTEXT_WINS)
    rule = FieldMapping.objects.get(mapping=mapping, direction=Direction.TO_STREETTEXT, target_field="first_name")
    assert [step["name"] for step in rule.transforms] == ["trim", "upper"]
    # … and the page shows what was saved.
    assert page.locator("#id_direction").input_value() == Direction.BOTH
    assert page.locator("#id_conflict_policy").input_value() == Mapping.ConflictPolicy.STREETTEXT_WINS
    chain = page.locator(f"#field_mappings-{_row(mapping, 'first_name')} td.field-transforms .ss-chain-summary")
    assert chain.inner_text() == "trim → upper"

    # The notice: what this mapping synced before the change, with its own buttons.
    notice = page.locator("#resync-notice")
    assert NOTICE_START in notice.inner_text()
    _wide_enough(page)
    shot(page, "30-mapping-edited-after-sync")

    # Dry run of the re-sync: a run page, nothing written, the mapping untouched.
    submit(page, notice.get_by_role("button", name=re.compile("Dry run of a re-sync")))
    assert re.search(r"/syncrun/\d+/change/$", page.url)
    dry = SyncRun.objects.get(mapping=mapping, dry_run=True)
    assert dry.scope == SyncRun.Scope.LINKED
    assert _execute(dry).updated > 0
    page.wait_for_selector("#ss-run:not([data-progress-url])")  # the run page reloads itself once the run ends
    uppercase = [
        r.data.get("first_name")
        for r in SandboxRecord.objects.filter(account__system="streettext", object_type="contact", deleted=False)
        if (r.data.get("first_name") or "").isupper()
    ]
    assert uppercase == []
    mapping.refresh_from_db()
    assert mapping.direction == Direction.BOTH  # nothing posted the mapping form

    # The re-sync itself, then no notice.
    page.goto(url)
    submit(page, page.locator("#resync-notice").get_by_role("button", name="Re-sync linked records now"))
    resync = SyncRun.objects.get(mapping=mapping, dry_run=False, scope=SyncRun.Scope.LINKED)
    assert _execute(resync).updated == dry.updated
    page.wait_for_selector("#ss-run:not([data-progress-url])")
    page.goto(url)
    assert page.locator("#resync-notice").count() == 0

    # Edit 2: one way again, newest wins, only contacts with an email, the upper-casing removed; plain "Save".
    page.select_option("#id_direction", Direction.TO_STREETTEXT)
    page.select_option("#id_conflict_policy", Mapping.ConflictPolicy.NEWEST_WINS)
    filter_editor = page.locator("[data-ss-editor=filter]")
    filter_editor.get_by_role("button", name="+ Add a condition").click()
    filter_editor.locator("select.ss-picker").first.select_option(label="Email")
    filter_editor.locator("select.ss-op").select_option("exists")
    page.locator(f"#field_mappings-{first_name} td.field-transforms").get_by_role("button", name="Edit").click()
    page.locator("#ss-chain-dialog li", has_text="upper").get_by_role("button", name=re.compile("Remove|✕")).click()
    page.locator("#ss-chain-dialog").get_by_role("button", name="Done").click()
    # The to_ghl rows the default mapping never had: none were added, so one way is valid again.
    submit(page, page.get_by_role("button", name="Save", exact=True))
    _saved(page)
    mapping.refresh_from_db()
    assert (mapping.direction, mapping.conflict_policy) == (Direction.TO_STREETTEXT, Mapping.ConflictPolicy.NEWEST_WINS)
    assert mapping.record_filter == {"field": "email", "op": "exists"}
    rule.refresh_from_db()
    assert [step["name"] for step in rule.transforms] == ["trim"]
    # The change list it landed on says the re-synced records are out of date again.
    assert any(NOTICE_START in m for m in messages(page)), messages(page)
    page.goto(url)
    assert page.locator("#id_direction").input_value() == Direction.TO_STREETTEXT
    assert NOTICE_START in page.locator("#resync-notice").inner_text()
    # Saved once more unchanged, with the notice on the page: it still saves.
    submit(page, page.get_by_role("button", name="Save and continue editing"))
    _saved(page)
    _wide_enough(page)
    shot(page, "31-mapping-edited-again")
    assert page_errors == []


def test_edit_an_automation_after_a_poll_and_again(
    page: Any, live_server: Any, admin_user: Any, page_errors: list[str], settings: Any
) -> None:
    settings.SANDBOX_RATE_LIMIT = 10_000
    world = build_world(live_server.url, size=10)
    automation = automation_create_from_preset(
        key="new_appointment_note", ghl=world.ghl, streettext=world.streettext, inputs={"calendar_id": "cal-1"}
    )
    poll = AutomationPoll.objects.create(automation=automation, trigger=AutomationPoll.Trigger.MANUAL)
    automation_poll_execute(poll_id=poll.pk)
    log_in(page, "admin", ADMIN_PASSWORD)
    url = reverse("admin:automations_automation_change", args=[automation.pk])

    for round_number, (name, minutes) in enumerate((("Appointments → notes", "5"), ("Appointment notes", "0")), 1):
        page.goto(url)
        page.fill("#id_name", name)
        page.fill("#id_schedule_minutes", minutes)
        submit(page, page.get_by_role("button", name="Save and continue editing"))
        _saved(page)
        automation.refresh_from_db()
        assert (automation.name, automation.schedule_minutes) == (name, int(minutes)), round_number
        assert page.locator("#id_name").input_value() == name
        assert page.locator("#id_schedule_minutes").input_value() == minutes
        assert (automation.periodic_task_id is not None) == (minutes != "0")
        if round_number == 1:
            poll = AutomationPoll.objects.create(automation=automation, trigger=AutomationPoll.Trigger.MANUAL)
            automation_poll_execute(poll_id=poll.pk)
    _wide_enough(page)
    shot(page, "32-automation-edited-twice")
    assert Automation.objects.count() == 1
    assert page_errors == []


def test_edit_a_connection_after_a_sync_and_again(
    page: Any, live_server: Any, admin_user: Any, page_errors: list[str], settings: Any
) -> None:
    settings.SANDBOX_RATE_LIMIT = 10_000
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT, size=10)
    _execute(SyncRun.objects.create(mapping=world.mapping, trigger=SyncRun.Trigger.MANUAL))
    log_in(page, "admin", ADMIN_PASSWORD)
    url = reverse("admin:integrations_connection_change", args=[world.ghl.pk])

    for round_number, name in enumerate(("GHL main account", "GHL sub-account"), 1):
        page.goto(url)
        page.fill("#id_name", name)
        submit(page, page.get_by_role("button", name="Save and continue editing"))
        _saved(page)
        connection = Connection.objects.get(pk=world.ghl.pk)
        assert connection.name == name, round_number
        assert connection.api_secret == world.ghl.api_secret  # a blank secret keeps the stored one
        assert connection.status == Connection.Status.OK  # saved, then tested against the sandbox
        assert page.locator("#id_name").input_value() == name
        assert _execute(SyncRun.objects.create(mapping=world.mapping, trigger=SyncRun.Trigger.MANUAL)).status in (
            SyncRun.Status.SUCCEEDED,
            SyncRun.Status.PARTIAL,
        )
    _wide_enough(page)
    shot(page, "33-connection-edited-twice")
    assert page_errors == []


def test_the_runs_and_links_lists_show_every_column_at_1400_px(
    page: Any, live_server: Any, admin_user: Any, page_errors: list[str], settings: Any
) -> None:
    settings.SANDBOX_RATE_LIMIT = 10_000
    world = build_world(live_server.url, direction=Direction.BOTH, size=16)
    Mapping.objects.filter(pk=world.mapping.pk).update(name="Idea · Automated follow-ups from notes and appointments")
    world.mapping.refresh_from_db()
    _execute(SyncRun.objects.create(mapping=world.mapping, trigger=SyncRun.Trigger.MANUAL))
    SyncRun.objects.create(
        mapping=world.mapping,
        trigger=SyncRun.Trigger.RERUN,
        dry_run=True,
        status=SyncRun.Status.PARTIAL,
        processed=12345,
        total=12345,
        created=10000,
        updated=2000,
        skipped=300,
        failed=45,
    )
    log_in(page, "admin", ADMIN_PASSWORD)
    for name in ("syncrun", "recordlink"):
        page.goto(reverse(f"admin:integrations_{name}_changelist"))
        # The table fits its box (nothing scrolled out of sight) and no cell's content spills over the next one.
        box = page.evaluate(
            "(() => { const r = document.querySelector('#changelist .results'); "
            "return [r.scrollWidth, r.clientWidth]; })()"
        )
        assert box[0] <= box[1], (name, box)
        spilled = page.evaluate(
            "[...document.querySelectorAll('#result_list td')].filter(td => td.scrollWidth > td.clientWidth + 1)"
            ".map(td => td.className)"
        )
        assert spilled == [], (name, spilled)
        _wide_enough(page)
        shot(page, f"34-{name}-list")
    # Preview shows fields by their labels.
    page.goto(reverse("admin:mappings_mapping_preview", args=[world.mapping.pk]))
    assert "Source field: First name" in page.locator("#preview").inner_text()
    shot(page, "35-preview-labels")
    # A help text's guide opens in the browser.
    page.goto(reverse("admin:mappings_mapping_change", args=[world.mapping.pk]))
    page.get_by_role("link", name="docs/architecture.md").click()
    page.wait_for_url(re.compile(r".*/admin/docs/architecture/$"))
    assert page.locator("#ss-docs h1").inner_text()
    _wide_enough(page)
    shot(page, "36-guide-page")
    assert page_errors == []
