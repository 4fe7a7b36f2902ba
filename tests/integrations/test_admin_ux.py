"""The admin made for this job: start page, live runs with Cancel, connections tested on the page and on save,
plain words, no dead links for viewers, and a bounded number of queries per page on the demo data."""

from __future__ import annotations

import re
import time
from collections import deque
from datetime import timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from automations.presets import automation_create_from_preset
from integrations import ratelimit, selectors
from integrations.admin import CANCEL_ASKED, CANCELLED_AT_ONCE, SAVED_AND_TESTED
from integrations.catalog.models import CatalogExecution
from integrations.models import Connection, RateLimitWindow, RecordHistory, RecordLink, SyncRun, System
from integrations.services.connections import TEST_OK_GHL, TEST_TOKEN_REJECTED
from integrations.services.roles import HOW_TO_ADD_VIEWER, VIEWER_GROUP, role_viewer_grant
from mappings.models import Mapping
from tests.integrations.support import GHL_TOKEN, build_world

pytestmark = pytest.mark.django_db(transaction=True)


def _messages(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def _viewer_client() -> Client:
    user = get_user_model().objects.create_user(username="viewer", password="pw-viewer-123")
    role_viewer_grant(user=user)
    client = Client()
    client.force_login(user)
    return client


def _run(mapping: Mapping, *, days_ago: int = 0, **fields: Any) -> SyncRun:
    run = SyncRun.objects.create(mapping=mapping, **{"trigger": "manual", **fields})
    SyncRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    run.refresh_from_db()
    return run


# -- the start page --


def test_a_fresh_install_gets_the_four_step_guide_and_beat_under_advanced(admin_client: Client) -> None:
    page = admin_client.get(reverse("admin:index"))
    html = page.content.decode()

    assert "Get started: connect → map → preview → sync" in html
    steps = page.context["setup_steps"]
    assert [s.title for s in steps] == ["Connect", "Map", "Preview", "Sync"]
    assert not any(s.done for s in steps)
    assert page.context["next_step"].url == reverse("admin:integrations_connection_add")
    # Celery beat's screens are listed only inside the Advanced section, after the product's own.
    advanced = html.index("<summary>Advanced</summary>")
    assert html.index(reverse("admin:django_celery_beat_periodictask_changelist")) > advanced
    assert html.index(reverse("admin:integrations_connection_changelist")) < advanced
    assert "Django administration" not in html


def test_the_guide_calls_connect_done_only_once_both_sides_passed_a_test(admin_client: Client) -> None:
    ghl = Connection(name="G", system=System.GHL, base_url="https://services.leadconnectorhq.com", location_id="l")
    ghl.api_secret = "t"
    ghl.save()
    st = Connection(name="S", system=System.STREETTEXT, base_url="https://api.streettext.example")
    st.api_secret = "k"
    st.save()

    def connect_done() -> bool:
        return bool(admin_client.get(reverse("admin:index")).context["setup_steps"][0].done)

    assert not connect_done()  # both added, neither tested
    Connection.objects.filter(pk=ghl.pk).update(status=Connection.Status.OK)
    assert not connect_done()
    Connection.objects.filter(pk=st.pk).update(status=Connection.Status.OK)
    assert connect_done()


def test_the_start_page_shows_health_budget_last_runs_daily_figures_and_failures(
    admin_client: Client, live_server: Any, settings: Any
) -> None:
    settings.RATE_LIMIT_BACKEND = "db"
    world = build_world(live_server.url)
    ok = _run(world.mapping, days_ago=2, status="succeeded", processed=10, created=6, updated=4)
    _run(world.mapping, days_ago=1, status="failed", processed=4, failed=4, error="boom")
    today = _run(world.mapping, status="partial", processed=20, created=15, updated=3, failed=2)
    failure = RecordHistory.objects.create(
        run=today,
        mapping=world.mapping,
        direction="to_ghl",
        action="failed",
        email="ann@example.com",
        error="bad phone",
    )
    # StreetText worked (as its runs would record), then its daily quota ran out.
    Connection.objects.filter(pk=world.streettext.pk).update(
        status=Connection.Status.OK, paused_until=timezone.now() + timedelta(hours=3)
    )
    # A real answer from the (sandbox) GHL API carries the daily budget headers.
    assert admin_client.post(reverse("admin:integrations_connection_test", args=[world.ghl.pk])).status_code == 302

    page = admin_client.get(reverse("admin:index"))
    html = page.content.decode()

    health = {h.connection.pk: h for h in page.context["connections"]}
    assert (health[world.ghl.pk].tone, health[world.ghl.pk].label) == ("ok", "OK")
    assert health[world.streettext.pk].tone == "warn"
    assert health[world.streettext.pk].label.startswith("Paused until")
    budget = health[world.ghl.pk].budget
    assert budget is not None
    assert health[world.ghl.pk].budget_today
    assert budget.limit == 200_000
    assert 0 < budget.used < 100
    assert f"{budget.used} of 200,000 requests used" in html
    # Mappings with their last run as a colour-coded badge.
    assert f'href="{reverse("admin:integrations_syncrun_change", args=[today.pk])}"' in html
    assert '<span class="ss-badge ss-warn">Partial (some failed)</span>' in html
    # Per-day figures: today, and the two days before.
    days = page.context["days"]
    assert len(days) == selectors.DASHBOARD_DAYS
    assert (days[-1].created, days[-1].updated, days[-1].failed, days[-1].runs) == (15, 3, 2, 1)
    assert (days[-2].failed_runs, days[-2].error_rate) == (1, 100.0)
    assert (days[-3].created, days[-3].runs, days[-3].failed_runs) == (6, 1, 0)
    assert page.context["chart"]["created"][-3:] == [6, 0, 15]
    totals = page.context["totals"]
    assert (totals.synced_today, totals.failed_today, totals.runs, totals.failed_runs) == (18, 2, 3, 1)
    assert totals.error_rate == round(100 * 6 / 34, 1)
    # The charts' library is served by the app itself, and every figure is also in a table that reads without JS.
    assert "/static/integrations/vendor/chartjs/chart.umd.min.js" in html
    assert 'id="ss-chart-data"' in html
    assert html.count('<details class="ss-chart-table" open>') == 3
    # The latest failures, each with a link to it; no guide once everything is set up and has run.
    assert reverse("admin:integrations_recordhistory_change", args=[failure.pk]) in html
    assert "bad phone" in html
    assert "ann@example.com" in html
    assert ok.pk
    assert "Get started" not in html


def test_the_start_page_lists_automations_only_once_they_exist(admin_client: Client, monkeypatch: Any) -> None:
    # With the automations app (tests/automations/test_admin.py has the listing itself).
    page = admin_client.get(reverse("admin:index"))
    assert page.context["automations"] == []
    assert "No automation yet." in page.content.decode()
    # Without it, the slot is left out.
    monkeypatch.setattr(selectors, "AUTOMATION_MODEL", "missing.Model")
    assert admin_client.get(reverse("admin:index")).context["automations"] is None
    assert 'id="ss-automations-title"' not in admin_client.get(reverse("admin:index")).content.decode()


def test_the_daily_budget_is_written_at_most_every_few_seconds_per_key(settings: Any) -> None:
    settings.RATE_LIMIT_BACKEND = "db"
    ratelimit.record_daily_budget("ghl:loc-b", limit=1000, remaining=900)
    ratelimit.record_daily_budget("ghl:loc-b", limit=1000, remaining=899)  # within the interval: not written
    assert ratelimit.daily_budgets(["ghl:loc-b"])["ghl:loc-b"].remaining == 900
    ratelimit.record_daily_budget("ghl:loc-b", limit=1000, remaining=0)  # used up: always written
    budget = ratelimit.daily_budgets(["ghl:loc-b"])["ghl:loc-b"]
    assert (budget.used, budget.percent_used) == (1000, 100)
    assert RateLimitWindow.objects.filter(key__endswith="ghl:loc-b").count() == 1


# -- runs: progress, Cancel, failed records --


def test_run_progress_gives_percentage_rate_and_time_left() -> None:
    now = timezone.now()
    run = SyncRun(status="running", processed=50, total=200, started_at=now - timedelta(seconds=10))
    progress = selectors.sync_run_progress(run=run, now=now)
    assert (progress.percent, progress.rate, progress.eta_seconds) == (25, 5.0, 30)
    assert (progress.rate_display, progress.eta_display, progress.tone) == ("5.0 records/s", "30 s", "info")
    unknown = selectors.sync_run_progress(run=SyncRun(status="pending", processed=0), now=now)
    assert (unknown.percent, unknown.rate, unknown.eta_seconds) == (None, None, None)
    done = SyncRun(status="partial", processed=180, total=200, started_at=now - timedelta(seconds=90), finished_at=now)
    assert selectors.sync_run_progress(run=done, now=now).percent == 100
    assert selectors.sync_run_progress(run=done, now=now).eta_seconds is None
    assert selectors.duration_display(3725) == "1 h 02 min"


def test_the_run_page_shows_the_bar_and_links_straight_to_failed_records(
    admin_client: Client, live_server: Any
) -> None:
    world = build_world(live_server.url)
    run = _run(world.mapping, status="partial", processed=5, total=5, created=3, failed=2, started_at=timezone.now())
    html = admin_client.get(reverse("admin:integrations_syncrun_change", args=[run.pk])).content.decode()

    failed_url = (
        reverse("admin:integrations_recordhistory_changelist") + f"?run__id__exact={run.pk}&amp;action__exact=failed"
    )
    assert f'href="{failed_url}"' in html
    assert "See the 2 failed records" in html
    assert 'aria-valuenow="100"' in html
    assert "No run error; 2 record(s) failed" in html
    assert 'http-equiv="refresh"' not in html  # finished: nothing polls
    assert "Re-run the failed records" in html


def test_the_progress_endpoint_reports_the_counters(admin_client: Client, live_server: Any) -> None:
    world = build_world(live_server.url)
    run = _run(
        world.mapping,
        status="running",
        processed=30,
        total=120,
        created=20,
        failed=1,
        started_at=timezone.now() - timedelta(seconds=15),
    )
    data = admin_client.get(reverse("admin:integrations_syncrun_progress", args=[run.pk])).json()
    assert data["active"] is True
    assert (data["percent"], data["processed"], data["total"], data["failed"]) == (25, 30, 120, 1)
    assert data["rate"].endswith("records/s")
    assert data["status_label"] == "Running"
    page = admin_client.get(reverse("admin:integrations_syncrun_change", args=[run.pk])).content.decode()
    assert 'data-progress-url="' in page
    assert "Cancel run" in page
    # The fields below the box that move while the run goes come with the counters (run_progress.js puts each in
    # its `.field-<name> .readonly` cell), rendered as the page renders them.
    SyncRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now(), processed=31)
    fields = admin_client.get(reverse("admin:integrations_syncrun_progress", args=[run.pk])).json()["fields"]
    assert fields["started_at"] != "-"
    assert fields["heartbeat_at"] != "-"
    assert "of 31 record(s) looked at" in fields["history_link"]
    for name in fields:
        assert f'class="form-row field-{name}' in page or f"field-{name}" in page, name
    # "Dry run: No" is a word, not the admin's red ✕.
    assert "icon-no.svg" not in page
    assert "No: writes as it goes" in page


def test_cancel_ends_a_pending_run_at_once_and_asks_a_running_one_to_stop(
    admin_client: Client, live_server: Any
) -> None:
    world = build_world(live_server.url)
    pending = _run(world.mapping, status="pending")
    response = admin_client.post(reverse("admin:integrations_syncrun_cancel", args=[pending.pk]), follow=True)
    assert CANCELLED_AT_ONCE.format(run_id=pending.pk) in _messages(response)
    pending.refresh_from_db()
    assert pending.status == SyncRun.Status.CANCELLED
    assert pending.cancel_requested_by == "admin"

    running = _run(world.mapping, status="running", started_at=timezone.now())
    response = admin_client.post(reverse("admin:integrations_syncrun_cancel", args=[running.pk]), follow=True)
    assert CANCEL_ASKED.format(run_id=running.pk) in _messages(response)
    running.refresh_from_db()
    assert running.status == SyncRun.Status.RUNNING  # the engine stops it at its next page boundary
    assert running.cancel_requested_at is not None

    SyncRun.objects.filter(pk=running.pk).update(status="succeeded")
    response = admin_client.post(reverse("admin:integrations_syncrun_cancel", args=[running.pk]), follow=True)
    assert any("nothing to cancel" in m for m in _messages(response))
    # Only by POST (a link cannot cancel a run).
    assert admin_client.get(reverse("admin:integrations_syncrun_cancel", args=[running.pk])).status_code == 405


def test_a_viewer_cannot_cancel_and_sees_no_cancel_button(admin_client: Client, live_server: Any) -> None:
    world = build_world(live_server.url)
    run = _run(world.mapping, status="running", started_at=timezone.now())
    viewer = _viewer_client()
    assert "Cancel run" not in viewer.get(reverse("admin:integrations_syncrun_change", args=[run.pk])).content.decode()
    assert viewer.post(reverse("admin:integrations_syncrun_cancel", args=[run.pk])).status_code == 403
    assert viewer.post(reverse("admin:integrations_syncrun_rerun", args=[run.pk])).status_code == 403
    run.refresh_from_db()
    assert run.cancel_requested_at is None
    # The CSRF check applies too: a forged cross-site POST is refused before anything happens.
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(get_user_model().objects.get(username="admin"))
    assert csrf_client.post(reverse("admin:integrations_syncrun_cancel", args=[run.pk])).status_code == 403
    run.refresh_from_db()
    assert run.cancel_requested_at is None


# -- connections: test on the page and on save, webhook URL ------------------------------------------------------------


def test_test_connection_button_on_the_page(admin_client: Client, live_server: Any) -> None:
    world = build_world(live_server.url)
    page = admin_client.get(reverse("admin:integrations_connection_change", args=[world.ghl.pk])).content.decode()
    assert reverse("admin:integrations_connection_test", args=[world.ghl.pk]) in page

    response = admin_client.post(reverse("admin:integrations_connection_test", args=[world.ghl.pk]), follow=True)
    assert [m.split(" location ")[0] for m in _messages(response)] == [TEST_OK_GHL.split(" location ")[0]]
    world.ghl.refresh_from_db()
    assert world.ghl.status == Connection.Status.OK
    assert admin_client.get(reverse("admin:integrations_connection_test", args=[world.ghl.pk])).status_code == 405


def _connection_form(connection: Connection, **changes: str) -> dict[str, str]:
    return {
        "name": connection.name,
        "system": connection.system,
        "base_url": connection.base_url,
        "location_id": connection.location_id,
        "auth_type": connection.auth_type,
        "secret": "",
        "webhook_secret": "",
        **changes,
    }


def test_saving_a_connection_tests_it_and_shows_the_result(admin_client: Client, live_server: Any) -> None:
    world = build_world(live_server.url)
    url = reverse("admin:integrations_connection_change", args=[world.ghl.pk])

    response = admin_client.post(url, _connection_form(world.ghl, secret="a-wrong-token"), follow=True)
    assert SAVED_AND_TESTED.format(message=TEST_TOKEN_REJECTED) in _messages(response)
    world.ghl.refresh_from_db()
    assert world.ghl.status == Connection.Status.NEEDS_REAUTH

    response = admin_client.post(url, _connection_form(world.ghl, secret=GHL_TOKEN), follow=True)
    assert any(m.startswith("Saved. Connection test: OK") for m in _messages(response)), _messages(response)
    world.ghl.refresh_from_db()
    assert world.ghl.status == Connection.Status.OK

    # A new connection lands on its own page (test result, webhook URL with a Copy button), not on the list.
    response = admin_client.post(
        reverse("admin:integrations_connection_add"),
        _connection_form(world.ghl, name="Second GHL", secret=GHL_TOKEN),
    )
    created = Connection.objects.get(name="Second GHL")
    assert response["Location"] == reverse("admin:integrations_connection_change", args=[created.pk])
    created.refresh_from_db()
    assert created.status == Connection.Status.OK
    page = admin_client.get(response["Location"]).content.decode()
    assert f'data-copy="webhook-url-{created.pk}"' in page
    assert f'id="webhook-url-{created.pk}">http://testserver/webhooks/ghl/{created.webhook_token}/<' in page


def test_a_new_oauth_connection_is_told_to_connect_instead_of_tested(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("admin:integrations_connection_add"),
        {
            "name": "OAuth GHL",
            "system": "ghl",
            "base_url": "http://127.0.0.1:9/sandbox/ghl",
            "location_id": "loc-o",
            "auth_type": "oauth",
        },
        follow=True,
    )
    assert any("Connect with GoHighLevel" in m for m in _messages(response))
    assert "Connect with GoHighLevel" in response.content.decode()
    assert Connection.objects.get(name="OAuth GHL").status == Connection.Status.UNTESTED


# -- plain words, favicon, roles --

INTERNAL_CODES = ("to_ghl", "to_streettext", '{"ghl"', "Ghl connection", "Streettext connection", "Ghl fingerprint")


def test_pages_a_user_reads_show_no_internal_codes(admin_client: Client, live_server: Any) -> None:
    world = build_world(live_server.url)
    run = _run(world.mapping, status="succeeded", only_ids={"ghl": ["g-1", "g-2"]}, trigger="rerun")
    RecordHistory.objects.create(run=run, mapping=world.mapping, direction="to_ghl", action="updated", ghl_id="g-1")
    link = RecordLink.objects.create(
        ghl_connection=world.ghl,
        streettext_connection=world.streettext,
        object_type="task",
        ghl_id="t-1",
        streettext_id="r-1",
        origin="ghl",
    )
    pages = {
        "run": reverse("admin:integrations_syncrun_change", args=[run.pk]),
        "history": reverse("admin:integrations_recordhistory_changelist"),
        "history row": reverse("admin:integrations_recordhistory_change", args=[run.history.get().pk]),
        "links": reverse("admin:integrations_recordlink_changelist"),
        "link": reverse("admin:integrations_recordlink_change", args=[link.pk]),
        "start": reverse("admin:index"),
    }
    for name, url in pages.items():
        response = admin_client.get(url)
        assert response.status_code == 200, name
        # Only what a person reads: the visible text, not attributes or query strings.
        text = re.sub(r"<[^>]+>", " ", response.content.decode())
        for code in INTERNAL_CODES:
            assert code not in text, (name, code)
        assert ">followup<" not in response.content.decode(), name
    run_page = admin_client.get(pages["run"]).content.decode()
    assert "GoHighLevel: g-1, g-2" in run_page
    assert "Tasks" in admin_client.get(pages["link"]).content.decode()


def test_the_favicon_is_served_and_linked(admin_client: Client) -> None:
    response = Client().get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert response.getvalue()[:4] == b"\x00\x00\x01\x00"
    assert 'rel="icon"' in admin_client.get(reverse("admin:index")).content.decode()
    assert 'rel="icon"' in Client().get(reverse("admin:login")).content.decode()


def test_setup_roles_explains_the_real_steps_and_can_make_a_viewer(capsys: Any) -> None:
    user = get_user_model().objects.create_user(username="vera", password="pw-vera-123")
    call_command("setup_roles", viewer=["vera"])
    out = capsys.readouterr().out
    assert "Staff status" in out
    assert "Authentication → Groups" not in out
    assert HOW_TO_ADD_VIEWER in out
    user.refresh_from_db()
    assert user.is_staff
    assert user.groups.filter(name=VIEWER_GROUP).exists()
    assert Client().login(username="vera", password="pw-vera-123")


def test_ensure_admin_closing_block_has_url_user_and_password(tmp_path: Any, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("DJANGO_ADMIN_PASSWORD", raising=False)
    remember = tmp_path / "admin-login.json"
    call_command("ensure_admin", remember=str(remember))
    generated = re.search(r"with password: (\S+)", capsys.readouterr().out).group(1)  # type: ignore[union-attr]
    call_command("ensure_admin", show_login="http://127.0.0.1:8000/admin/", remember=str(remember))
    block = capsys.readouterr().out
    assert "http://127.0.0.1:8000/admin/" in block
    assert "User name  admin" in block
    assert f"Password   {generated}" in block
    assert oct(remember.stat().st_mode & 0o777) == "0o600"
    # Changed since: the stale password is not shown.
    admin = get_user_model().objects.get(username="admin")
    admin.set_password("another-pass-1")
    admin.save()
    call_command("ensure_admin", show_login="http://127.0.0.1:8000/admin/", remember=str(remember))
    assert generated not in capsys.readouterr().out


# -- viewers: every link they see opens --


def test_a_viewer_sees_no_link_that_answers_403(live_server: Any) -> None:
    world = build_world(live_server.url)
    run = _run(world.mapping, status="partial", processed=2, failed=1, rerun_of=None)
    _run(world.mapping, status="succeeded", rerun_of=run, trigger="rerun")
    RecordHistory.objects.create(
        run=run, mapping=world.mapping, direction="to_ghl", action="failed", ghl_id="g-9", error="x"
    )
    RecordLink.objects.create(
        ghl_connection=world.ghl,
        streettext_connection=world.streettext,
        object_type="contact",
        ghl_id="g",
        streettext_id="s",
    )
    # An automation (with its connections and a trigger key) and an execution-log entry with its "Who".
    automation = automation_create_from_preset(
        key="new_appointment_note", ghl=world.ghl, streettext=world.streettext, inputs={"calendar_id": "cal-1"}
    )
    admin_user = get_user_model().objects.create_superuser(username="boss", password="pw-boss-123")
    execution = CatalogExecution.objects.create(
        operation_key="get-contact", connection=world.ghl, user=admin_user, outcome="succeeded", method="GET"
    )
    viewer = _viewer_client()
    automation_page = viewer.get(reverse("admin:automations_automation_change", args=[automation.pk]))
    assert automation.trigger_key not in automation_page.content.decode()  # its name, not the catalog's raw key
    status_of: dict[str, int] = {}
    crawled: list[str] = []
    variants: dict[str, int] = {}  # pages per path: sort and filter links vary only the query string
    queue = deque(
        [
            reverse("admin:index"),
            reverse("admin:automations_automation_change", args=[automation.pk]),
            reverse("admin:integrations_catalogexecution_change", args=[execution.pk]),
        ]
    )
    refused: list[tuple[str, str]] = []
    while queue and len(crawled) < 80:
        url = queue.popleft()
        response = viewer.get(url)
        crawled.append(url)
        assert response.status_code == 200, url
        if not response.get("Content-Type", "").startswith("text/html"):
            continue
        for href in re.findall(r'href="([^"#]+)"', response.content.decode()):
            target = urljoin(url, href.replace("&amp;", "&"))
            parts = urlsplit(target)
            if parts.netloc or not parts.path.startswith("/admin/") or "logout" in parts.path:
                continue
            if target not in status_of:
                status_of[target] = viewer.get(target).status_code
                if status_of[target] == 200 and variants.get(parts.path, 0) < 3:
                    variants[parts.path] = variants.get(parts.path, 0) + 1
                    queue.append(target)
            if status_of[target] == 403:
                refused.append((url, target))
    assert refused == []
    assert {code for code in status_of.values()} <= {200, 302}
    # The crawl reached the run, history and link pages (and their links were all checked).
    for name in ("syncrun", "recordhistory", "recordlink", "automation", "catalogexecution"):
        assert any(re.search(rf"/{name}/\d+/change/", u) for u in crawled), name


# -- every page touched: a bounded number of queries on the demo data --


@pytest.fixture
def demo(live_server: Any) -> dict[str, Any]:
    """`manage.py seed_demo` plus a month of runs, history and links, as the demo has after some use."""
    call_command("seed_demo", base_url=live_server.url, size=120)
    mappings = list(Mapping.objects.all())
    ghl = Connection.objects.get(system=System.GHL)
    st = Connection.objects.get(system=System.STREETTEXT)
    runs = []
    for day in range(30):
        for mapping in mappings:
            runs.append(
                _run(mapping, days_ago=day, status="partial", processed=40, created=20, updated=10, skipped=8, failed=2)
            )
    history = [
        RecordHistory(
            run=run,
            mapping_id=run.mapping_id,
            direction="to_streettext" if i % 2 else "to_ghl",
            action="failed" if i % 10 == 0 else "updated",
            ghl_id=f"g-{run.pk}-{i}",
            streettext_id=f"s-{run.pk}-{i}",
            email=f"p{run.pk}.{i}@example.com",
            changes={"last_name": {"before": "A", "after": "B"}},
            error="bad phone" if i % 10 == 0 else "",
        )
        for run in runs[:60]
        for i in range(10)
    ]
    RecordHistory.objects.bulk_create(history)
    RecordLink.objects.bulk_create(
        RecordLink(
            ghl_connection=ghl, streettext_connection=st, object_type="contact", ghl_id=f"g{i}", streettext_id=f"s{i}"
        )
        for i in range(300)
    )
    return {"run": runs[0], "history": RecordHistory.objects.first(), "link": RecordLink.objects.first(), "ghl": ghl}


# Measured on this data (start 8, connections 5, connection 3, mappings 5, runs 9, run 5, progress 3, history 5,
# history row 6, links 7, link 5) plus a small margin; a per-row query would add dozens.
PAGE_QUERY_LIMITS = {
    # with the alerts inbox (its alerts, the acknowledged count), the failures grouped by cause, the backlogs and each
    # GHL location's budget (its scanning mappings, their cursors, today's automation polls)
    "start": 17,
    "connections": 8,
    "connection": 7,  # today's GHL request use beside the daily budget
    "mappings": 8,
    "runs": 12,
    "run": 8,
    "run progress": 4,
    "history": 8,
    "history row": 9,
    "links": 10,
    "link": 8,
}


def test_every_admin_page_touched_stays_within_its_query_budget(
    admin_client: Client, demo: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    urls = {
        "start": reverse("admin:index"),
        "connections": reverse("admin:integrations_connection_changelist"),
        "connection": reverse("admin:integrations_connection_change", args=[demo["ghl"].pk]),
        "mappings": reverse("admin:mappings_mapping_changelist"),
        "runs": reverse("admin:integrations_syncrun_changelist"),
        "run": reverse("admin:integrations_syncrun_change", args=[demo["run"].pk]),
        "run progress": reverse("admin:integrations_syncrun_progress", args=[demo["run"].pk]),
        "history": reverse("admin:integrations_recordhistory_changelist"),
        "history row": reverse("admin:integrations_recordhistory_change", args=[demo["history"].pk]),
        "links": reverse("admin:integrations_recordlink_changelist"),
        "link": reverse("admin:integrations_recordlink_change", args=[demo["link"].pk]),
    }
    timings = {}
    for name, url in urls.items():
        admin_client.get(url)  # warm: templates compiled, sessions read
        with django_assert_max_num_queries(PAGE_QUERY_LIMITS[name]):
            started = time.perf_counter()
            response = admin_client.get(url)
            timings[name] = time.perf_counter() - started
        assert response.status_code == 200, name
    # A coarse guard only (shared CI machines vary); the goal, under 300 ms each, is measured in the report.
    slow = {name: f"{seconds * 1000:.0f} ms" for name, seconds in timings.items() if seconds > 1.5}
    assert slow == {}
