"""Journeys in a real browser: first run, a sync watched to 100 %, cancelling a long run, a viewer who cannot write."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from integrations.models import Connection, RecordHistory, SyncCursor, SyncRun
from mappings.models import Direction
from sandbox import services as sandbox
from tests.browser.conftest import ADMIN_PASSWORD, VIEWER_PASSWORD, log_in, messages, shot, submit
from tests.integrations.support import GHL_TOKEN, LOCATION, ST_KEY, build_world

pytestmark = pytest.mark.django_db(transaction=True)


def test_first_run_log_in_start_page_connect_and_test(
    page: Any, live_server: Any, admin_user: Any, page_errors: list[str]
) -> None:
    sandbox.sandbox_account_create(system="ghl", account_id=LOCATION, secret=GHL_TOKEN, name="Acme location")
    sandbox.sandbox_account_create(system="streettext", account_id="ws-1", secret=ST_KEY, name="Acme workspace")

    log_in(page, "admin", ADMIN_PASSWORD)
    # A fresh install: the start page says what to do first, and Celery beat's screens wait under Advanced.
    guide = page.locator("#ss-guide")
    assert guide.is_visible()
    assert "connect → map → preview → sync" in guide.inner_text()
    assert page.get_by_role("link", name="Periodic tasks").is_hidden()
    page.locator("summary", has_text="Advanced").click()
    assert page.get_by_role("link", name="Periodic tasks").is_visible()
    shot(page, "01-start-fresh")

    guide.get_by_role("link", name="Add a connection").click()
    page.fill("#id_name", "Acme GHL")
    page.select_option("#id_system", "ghl")
    page.fill("#id_base_url", f"{live_server.url}/sandbox/ghl")
    page.fill("#id_location_id", LOCATION)
    page.select_option("#id_auth_type", "pit")
    page.fill("#id_secret", GHL_TOKEN)
    submit(page, page.get_by_role("button", name="Save", exact=True))

    # Saving tested the connection and landed on its page: the result, the health and the webhook URL are there.
    page.wait_for_url(re.compile(r".*/connection/\d+/change/$"))
    assert any("Saved. Connection test: OK" in m for m in messages(page)), messages(page)
    assert page.locator(".field-health .ss-badge").inner_text() == "OK"
    assert page.get_by_role("button", name="Copy").is_visible()
    shot(page, "02-connection-saved-and-tested")

    # Test connection on the page, after the token was replaced by a wrong one.
    connection = Connection.objects.get(name="Acme GHL")
    connection.api_secret = "wrong-token"
    connection.save()
    submit(page, page.get_by_role("button", name="Test connection"))
    assert any("Token rejected" in m for m in messages(page)), messages(page)
    assert page.locator(".field-health .ss-badge").inner_text() == "Needs re-authentication"
    page.fill("#id_secret", GHL_TOKEN)
    submit(page, page.get_by_role("button", name="Save and continue editing"))
    assert any("Saved. Connection test: OK" in m for m in messages(page)), messages(page)

    page.goto("/admin/")
    connections = page.locator("#ss-connections")
    assert "Acme GHL" in connections.inner_text()
    assert connections.locator(".ss-badge", has_text="OK").count() == 1
    # GHL reported its daily budget on those answers: the start page shows the day's use.
    assert re.search(r"\d+ of 200,000 requests used", connections.inner_text()), connections.inner_text()
    shot(page, "03-start-after-connect")
    assert page_errors == []


def _open_run(page: Any, run: SyncRun) -> None:
    page.goto(reverse("admin:integrations_syncrun_change", args=[run.pk]))


@pytest.mark.worker
def test_sync_now_and_watch_the_bar_reach_100(
    page: Any, live_server: Any, admin_user: Any, worker: Any, page_errors: list[str]
) -> None:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT, size=60)
    log_in(page, "admin", ADMIN_PASSWORD)
    page.goto(reverse("admin:mappings_mapping_change", args=[world.mapping.pk]))
    page.get_by_role("button", name="Sync now").click()

    page.wait_for_url(re.compile(r".*/syncrun/\d+/change/$"))
    run = SyncRun.objects.get()
    # The page follows the run by itself (no reload by the test) until it ends, then shows the final state.
    page.wait_for_function(
        "document.querySelector('[data-run=percent]').textContent.trim() === '100 %'", timeout=120_000
    )
    page.wait_for_selector("#ss-run:not([data-progress-url])", timeout=30_000)
    run.refresh_from_db()
    assert run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL)
    assert page.locator("#ss-run .ss-bar").get_attribute("aria-valuenow") == "100"
    assert page.locator("[data-run=status] .ss-badge").inner_text() == run.get_status_display()
    assert "records/s" in page.locator("[data-run=rate]").inner_text()
    if run.failed:
        # Straight to the failed records: the history filtered to this run's failures.
        page.locator("[data-run=failed-link]").click()
        page.wait_for_url(re.compile(rf".*run__id__exact={run.pk}.*action__exact=failed"))
        assert page.locator("#result_list tbody tr").count() == run.failed
        _open_run(page, run)
    shot(page, "04-run-finished")
    assert page_errors == []


@pytest.mark.worker
def test_cancel_a_long_run_stops_at_a_page_boundary(
    page: Any, live_server: Any, admin_user: Any, worker: Any, page_errors: list[str]
) -> None:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT, size=120)
    # Every GHL listing call answers slowly: the run takes many seconds, page by page (the worker's pages are 20).
    sandbox.sandbox_fault_add(system="ghl", kind="slow", delay=1.5, count=50, path_contains="/contacts")
    log_in(page, "admin", ADMIN_PASSWORD)
    page.goto(reverse("admin:mappings_mapping_change", args=[world.mapping.pk]))
    page.get_by_role("button", name="Sync now").click()
    page.wait_for_url(re.compile(r".*/syncrun/\d+/change/$"))
    run = SyncRun.objects.get()

    # The bar moves while the run goes: wait for the first stored page, then press Cancel.
    page.wait_for_function(
        "parseInt(document.querySelector('[data-run=processed]').textContent, 10) > 0", timeout=120_000
    )
    # The fields below the box move with it (the page loaded while the run was still pending).
    page.wait_for_function(
        "document.querySelector('.field-started_at .readonly').textContent.trim() !== '-'"
        " && document.querySelector('.field-heartbeat_at .readonly').textContent.trim() !== '-'"
        " && !/^0 record/.test(document.querySelector('.field-history_link .readonly').textContent.trim())",
        timeout=30_000,
    )
    shot(page, "05-run-in-progress")
    submit(page, page.get_by_role("button", name="Cancel run"))
    assert any("Cancel requested" in m for m in messages(page)), messages(page)
    page.wait_for_function(
        "document.querySelector('[data-run=status]').textContent.includes('Cancelled')", timeout=120_000
    )
    shot(page, "06-run-cancelled")

    run.refresh_from_db()
    assert run.status == SyncRun.Status.CANCELLED
    assert run.cancel_requested_by == "admin"
    assert run.processed < world.seeded["ghl_total"]
    # History and cursor agree: one history row per processed record, and the cursor moved past them.
    assert RecordHistory.objects.filter(run=run).count() == run.processed
    assert SyncCursor.objects.filter(mapping=world.mapping).exclude(position={}).exists()
    assert "Cancelled by admin" in page.locator(".ss-run-message").inner_text()
    assert page.get_by_role("button", name="Cancel run").count() == 0
    sandbox.sandbox_fault_clear()
    assert page_errors == []


def test_a_viewer_reads_but_cannot_write(page: Any, live_server: Any, viewer_user: Any, page_errors: list[str]) -> None:
    world = build_world(live_server.url, size=10)
    run = SyncRun.objects.create(mapping=world.mapping, trigger="manual", status="running", processed=4, total=10)
    RecordHistory.objects.create(
        run=run, mapping=world.mapping, direction="to_streettext", action="failed", ghl_id="g1", error="bad phone"
    )
    log_in(page, "viewer", VIEWER_PASSWORD)

    start = page.locator("#content-main").inner_text()
    assert "Failures by cause" in start
    assert "bad phone" in start
    for hidden in ("Connections", "Mappings", "Get started"):
        assert page.locator("h2", has_text=hidden).count() == 0, hidden
    shot(page, "07-viewer-start")

    _open_run(page, run)
    assert page.locator("[data-run=status]").is_visible()
    assert page.get_by_role("button", name="Cancel run").count() == 0
    assert page.locator("a[href*='/mappings/mapping/']").count() == 0
    # Even a hand-made POST is refused, and the run goes on.
    url = reverse("admin:integrations_syncrun_cancel", args=[run.pk])
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(url, headers={"X-CSRFToken": csrf, "Referer": page.url})
    assert response.status == 403
    run.refresh_from_db()
    assert run.cancel_requested_at is None
    shot(page, "08-viewer-run")
    assert page_errors == []
