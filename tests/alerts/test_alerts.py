"""Alerts, one per cause: raised by real runs and polls (against the sandbox over HTTP where the failure comes from an
API), updated while the cause persists, resolved when it stops, acknowledged by a person in the admin, emailed once
and posted once to the alert webhook (a local HTTP server) under the connections' address rules."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from alerts import notify, tasks
from alerts.models import Alert, AlertRule, AlertSettings
from alerts.services import TITLE_RECORDS, TITLE_RUNS
from automations.models import AutomationItem, AutomationPoll
from automations.services.polls import automation_poll_finish
from integrations.models import Connection, RecordHistory, SyncRun
from integrations.services.runs import sync_run_finish, sync_run_request
from integrations.services.sync import sync_run_execute
from mappings.models import Direction, Mapping

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mapping(settings: Any) -> Mapping:
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.ALERT_FAILED_RUNS = 3
    ghl = Connection.objects.create(name="G", system="ghl", base_url="http://x", location_id="l", auth_type="pit")
    st = Connection.objects.create(name="S", system="streettext", base_url="http://x", auth_type="api_key")
    return Mapping.objects.create(name="Contacts", ghl_connection=ghl, streettext_connection=st)


def _run(mapping: Mapping, *, failing: int = 0, ok: int = 5, error: str = "", cause: str = "") -> SyncRun:
    """A finished scheduled run: `failing` records failed with `cause` (each with its own value in the message)."""
    run = SyncRun.objects.create(mapping=mapping, trigger="schedule", status="running", failed=failing, updated=ok)
    RecordHistory.objects.bulk_create(
        RecordHistory(
            run=run,
            mapping=mapping,
            direction="ghl_to_streettext",
            action="failed",
            ghl_id=f"c{n:05d}x",
            email=f"person{n}@example.com",
            error=f"StreetText rejected the record (422): {cause} (“{n:04d}-{n}”)",
        )
        for n in range(failing)
    )
    return sync_run_finish(run=run, error=error)


# ------------------------------------------------------------------------------
# Grouping, persisting, resolution
# ------------------------------------------------------------------------------
def test_a_hundred_records_failing_for_one_reason_are_one_alert(
    mapping: Mapping, alert_tasks: list[Any], mailoutbox: list[Any]
) -> None:
    _run(mapping, failing=100, cause="phone: invalid")
    _run(mapping, failing=100, cause="phone: invalid")
    assert not Alert.objects.exists()  # two partial runs: not yet
    _run(mapping, failing=100, cause="phone: invalid")
    alert = Alert.objects.get()
    assert alert.kind == Alert.Kind.RECORDS_FAILING
    assert alert.count == 100
    assert alert.cause == "StreetText rejected the record (422): phone: invalid (“…”)"
    assert alert.title == TITLE_RECORDS.format(name="Contacts", count=100, s="s", cause=alert.cause)
    assert "person99@example.com" in alert.example  # the newest example
    assert len(mailoutbox) == 1
    assert mailoutbox[0].subject.endswith(alert.title)
    assert mailoutbox[0].to == ["ops@example.com"]


def test_two_causes_are_two_alerts_and_an_alert_follows_its_cause_until_it_stops(
    mapping: Mapping, alert_tasks: list[Any], mailoutbox: list[Any]
) -> None:
    def both(phone: int, email: int) -> SyncRun:
        run = _run(mapping, failing=phone, cause="phone: invalid")
        RecordHistory.objects.bulk_create(
            RecordHistory(run=run, mapping=mapping, direction="x", action="failed", error=f"email: taken ({n})")
            for n in range(email)
        )
        return run

    for _ in range(3):
        _run(mapping, failing=4, cause="phone: invalid")
    first = Alert.objects.get()
    # Still failing: the same alert, updated (count of the latest run, last seen, newest example), emailed once.
    _run(mapping, failing=7, cause="phone: invalid")
    _run(mapping, failing=2, cause="phone: invalid")
    alert = Alert.objects.get()
    assert (alert.pk, alert.count, alert.occurrences, alert.status) == (first.pk, 2, 3, "open")
    assert alert.last_seen_at > first.last_seen_at
    assert len(mailoutbox) == 1

    # Fixed: the next full run without that failure resolves it; it leaves the inbox.
    _run(mapping, failing=0)
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_at is not None) == ("resolved", True)

    # It comes back for three runs: the same row opens again, and is emailed again (a new incident).
    for _ in range(3):
        _run(mapping, failing=3, cause="phone: invalid")
    alert.refresh_from_db()
    assert (alert.status, alert.times_opened, alert.count) == ("open", 2, 3)
    assert len(mailoutbox) == 2
    assert Alert.objects.count() == 1


def test_a_webhook_or_rerun_run_neither_raises_nor_resolves_a_records_alert(
    mapping: Mapping, alert_tasks: list[Any]
) -> None:
    for _ in range(3):
        _run(mapping, failing=5, cause="phone: invalid")
    run = SyncRun.objects.create(mapping=mapping, trigger="webhook", status="running", scope="ids", updated=1)
    sync_run_finish(run=run)
    assert Alert.objects.get().status == "open"


def test_runs_failing_in_a_row_are_one_alert_resolved_by_a_good_run(
    mapping: Mapping, alert_tasks: list[Any], mailoutbox: list[Any]
) -> None:
    for n in range(5):
        _run(mapping, ok=0, error=f"StreetText server error (503) at attempt {n}")
    alert = Alert.objects.get()
    assert (alert.kind, alert.count, alert.occurrences) == ("runs_failing", 5, 3)
    assert alert.title == TITLE_RUNS.format(name="Contacts", count=5)
    assert alert.cause == "StreetText server error (503) at attempt #" or alert.cause.startswith("StreetText server")
    assert len(mailoutbox) == 1
    _run(mapping, ok=3)
    alert.refresh_from_db()
    assert alert.status == "resolved"


def test_per_mapping_settings_threshold_and_off(
    mapping: Mapping, alert_tasks: list[Any], mailoutbox: list[Any]
) -> None:
    rule = AlertRule.objects.create(mapping=mapping, failing_runs=1, email=False)
    _run(mapping, failing=2, cause="phone: invalid")
    assert Alert.objects.count() == 1  # after 1 run, as this mapping asks
    assert mailoutbox == []  # its email is off
    rule.enabled = False
    rule.save()
    _run(mapping, failing=2, cause="name: missing")
    assert Alert.objects.count() == 1


def test_a_run_the_stale_check_ends_raises_its_alert_at_once(
    mapping: Mapping, automation: Any, alert_tasks: list[Any], mailoutbox: list[Any]
) -> None:
    """The third failure in a row is a run (and a poll) whose worker died: the stale check that ends it raises the
    alert, without waiting for the next run or poll to end."""
    from datetime import timedelta

    from django.utils import timezone

    from integrations.housekeeping import stale_check

    for _ in range(2):
        _run(mapping, ok=0, error="StreetText server error (503)")
        _poll(automation, error="Reading the trigger failed: GoHighLevel refused the token (401)")
    assert not Alert.objects.exists()
    long_ago = timezone.now() - timedelta(hours=1)
    SyncRun.objects.create(mapping=mapping, trigger="schedule", status="running", heartbeat_at=long_ago)
    AutomationPoll.objects.create(automation=automation, trigger="schedule", status="running", heartbeat_at=long_ago)
    stale_check()
    alerts = {alert.kind: alert for alert in Alert.objects.all()}
    assert set(alerts) == {"runs_failing", "polls_failing"}
    assert (alerts["runs_failing"].count, alerts["polls_failing"].count) == (3, 3)
    assert "stopped sending progress" in alerts["runs_failing"].example
    assert len(mailoutbox) == 2
    stale_check()  # nothing new ended: the alerts are not touched again
    assert sorted(Alert.objects.values_list("occurrences", flat=True)) == [1, 1]


def test_reading_the_alert_settings_writes_nothing(admin_client: Client) -> None:
    from alerts.selectors import alert_recipients, alert_settings

    assert alert_settings().email_enabled is True
    alert_recipients()
    assert not AlertSettings.objects.exists()  # a read never writes
    admin_client.get(reverse("admin:alerts_alertsettings_changelist"))
    assert AlertSettings.objects.count() == 1  # a person opening it in the admin makes the row


# ------------------------------------------------------------------------------
# A real mapping against the sandbox: records that fail on every run
# ------------------------------------------------------------------------------
def test_records_that_fail_on_every_real_run_raise_one_alert(live_server: Any, alert_tasks: list[Any]) -> None:
    from sandbox import services as sandbox
    from sandbox.models import SandboxRecord
    from tests.integrations.support import build_world

    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT, size=30)
    AlertRule.objects.create(mapping=world.mapping, failing_runs=2)
    statuses = []
    for n in range(2):
        if n:
            # Someone edits the contacts again, the phone still unusable: the next run tries them again.
            for row in SandboxRecord.objects.filter(account__system="ghl", object_type="contact", deleted=False):
                if row.data.get("phone") in ("12", "call me"):
                    data = {**row.data, "city": f"Leeds {n}"}
                    sandbox.sandbox_record_put(
                        account=row.account, object_type="contact", record_id=row.record_id, data=data
                    )
        run = sync_run_request(mapping=world.mapping, trigger=SyncRun.Trigger.MANUAL)
        sync_run_execute(run_id=run.pk)
        run.refresh_from_db()
        statuses.append((run.status, run.failed))
    # The second run reads only the edited contacts, and every one fails: "failed", not partial; same records.
    assert statuses == [("partial", world.seeded["bad_phone"]), ("failed", world.seeded["bad_phone"])]
    alert = Alert.objects.get()
    assert alert.kind == Alert.Kind.RECORDS_FAILING
    assert alert.count == world.seeded["bad_phone"]
    assert alert.mapping == world.mapping


# ------------------------------------------------------------------------------
# Automations: failed items, failed polls
# ------------------------------------------------------------------------------
@pytest.fixture
def automation(mapping: Mapping) -> Any:
    from automations.models import Automation

    return Automation.objects.create(
        name="Notes", ghl_connection=mapping.ghl_connection, trigger_key="search-contacts", schedule_minutes=0
    )


def _poll(automation: Any, *, failed_items: int = 0, handled: int = 0, error: str = "", cause: str = "") -> Any:
    poll = AutomationPoll.objects.create(automation=automation, trigger="schedule", status="running")
    AutomationPoll.objects.filter(pk=poll.pk).update(started_at=poll.created_at, failed=failed_items, handled=handled)
    AutomationItem.objects.bulk_create(
        AutomationItem(
            automation=automation,
            poll=poll,
            item_id=f"i{poll.pk}-{n}",
            version="1",
            change="new",
            status="failed",
            label=f"Item {n}",
            error=f"Action 1 (StreetText: note.create): {cause} (contact Xq{poll.pk}x{n:04d}yz12LmNoPq)",
            finished_at=poll.created_at,
        )
        for n in range(failed_items)
    )
    return automation_poll_finish(poll=poll, error=error)


def test_failed_automation_items_are_one_alert_per_cause(
    automation: Any, alert_tasks: list[Any], mailoutbox: list[Any]
) -> None:
    _poll(automation, failed_items=3, handled=2, cause="contact not found")
    alert = Alert.objects.get()
    assert (alert.kind, alert.count, alert.automation) == ("items_failing", 3, automation)
    assert "3 items failed with" in alert.title
    _poll(automation, failed_items=2, handled=1, cause="contact not found")
    alert.refresh_from_db()
    assert alert.count == 5
    assert "5 items failed" in alert.title
    assert len(mailoutbox) == 1
    _poll(automation, handled=4)
    alert.refresh_from_db()
    assert alert.status == "resolved"


def test_failed_polls_in_a_row_are_one_alert(automation: Any, alert_tasks: list[Any], mailoutbox: list[Any]) -> None:
    for _ in range(2):
        _poll(automation, error="Reading the trigger failed: GoHighLevel refused the token (401)")
    assert not Alert.objects.exists()
    _poll(automation, error="Reading the trigger failed: GoHighLevel refused the token (401)")
    alert = Alert.objects.get()
    assert (alert.kind, alert.count) == ("polls_failing", 3)
    assert len(mailoutbox) == 1
    _poll(automation, handled=1)
    alert.refresh_from_db()
    assert alert.status == "resolved"


def test_a_real_poll_whose_actions_fail_raises_an_items_alert(live_server: Any, alert_tasks: list[Any]) -> None:
    """A StreetText note for GHL contacts that have no StreetText counterpart, with creating it switched off: each
    item fails for the same reason; one alert."""
    from automations.models import AutomationAction
    from tests.automations.support import build_world, field, make_automation, poll_here

    world = build_world(live_server.url, size=10)
    automation = make_automation(
        world,
        trigger="search-contacts",
        actions=[("streettext", "note.create", [field("ghl_contact_id", "id"), field("title", "Hello", "constant")])],
    )
    AutomationAction.objects.filter(automation=automation).update(create_missing_contact=False)
    poll = poll_here(automation)
    assert poll.failed > 1, (poll.status, poll.error, poll.handled)
    alerts = list(Alert.objects.filter(kind=Alert.Kind.ITEMS_FAILING))
    assert len(alerts) == 1, [a.cause for a in alerts]
    assert alerts[0].count == poll.failed


# ------------------------------------------------------------------------------
# Where people look: the start page's inbox, acknowledging, the list
# ------------------------------------------------------------------------------
def test_the_inbox_shows_an_alert_until_a_person_acknowledges_it(
    mapping: Mapping, alert_tasks: list[Any], admin_client: Client, admin_user: Any
) -> None:
    for _ in range(3):
        _run(mapping, failing=12, cause="phone: invalid")
    alert = Alert.objects.get()
    start = admin_client.get(reverse("admin:index"))
    assert start.status_code == 200
    page = start.content.decode()
    assert 'id="ss-alerts-inbox"' in page
    assert f'data-alert="{alert.pk}"' in page
    assert "12 records keep failing with" in page

    answer = admin_client.post(
        reverse("admin:alerts_alert_acknowledge", args=[alert.pk]), {"next": reverse("admin:index")}
    )
    assert answer.status_code == 302
    assert answer["Location"] == reverse("admin:index")
    alert.refresh_from_db()
    assert alert.acknowledged_by == admin_user
    assert alert.acknowledged_at is not None
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert f'data-alert="{alert.pk}"' not in page
    assert "1 acknowledged alert still open" in page
    # Acknowledged, not resolved: still listed as open, with who and when.
    listing = admin_client.get(reverse("admin:alerts_alert_changelist") + "?status__exact=open").content.decode()
    assert "12 records keep failing" in listing
    assert admin_user.get_username() in listing
    # A GET does not acknowledge; an outside "next" is not followed.
    assert admin_client.get(reverse("admin:alerts_alert_acknowledge", args=[alert.pk])).status_code == 405
    away = admin_client.post(
        reverse("admin:alerts_alert_acknowledge", args=[alert.pk]), {"next": "https://evil.example/"}
    )
    assert away["Location"] == reverse("admin:alerts_alert_changelist")


def test_a_viewer_sees_the_inbox_but_cannot_acknowledge(
    mapping: Mapping, alert_tasks: list[Any], client: Client
) -> None:
    from django.contrib.auth import get_user_model

    from integrations.services.roles import role_viewer_grant

    for _ in range(3):
        _run(mapping, failing=2, cause="phone: invalid")
    alert = Alert.objects.get()
    viewer = get_user_model().objects.create_user("viewer", password="pw-viewer-123")
    role_viewer_grant(user=viewer)
    client.force_login(viewer)
    page = client.get(reverse("admin:index")).content.decode()
    assert f'data-alert="{alert.pk}"' in page
    assert "Acknowledge" not in page
    assert client.post(reverse("admin:alerts_alert_acknowledge", args=[alert.pk])).status_code == 403
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_alert_settings_are_one_row_edited_in_the_admin(admin_client: Client) -> None:
    answer = admin_client.get(reverse("admin:alerts_alertsettings_changelist"))
    assert answer.status_code == 302
    row = AlertSettings.objects.get()
    refused = admin_client.post(
        reverse("admin:alerts_alertsettings_change", args=[row.pk]),
        {
            "email_enabled": "on",
            "recipients": "a@example.com",
            "webhook_url": "https://10.1.2.3/hook",
            "failing_runs": 2,
        },
    )
    assert refused.status_code == 200
    assert "private network address" in refused.content.decode()
    row.refresh_from_db()
    assert row.webhook_url == ""


# ------------------------------------------------------------------------------
# The webhook: Slack-compatible JSON, once, with retries, under the address rules
# ------------------------------------------------------------------------------
class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    fail_first = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if _Hook.fail_first > 0:
            _Hook.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        _Hook.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook_server() -> Iterator[str]:
    _Hook.received = []
    _Hook.fail_first = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_a_new_alert_is_posted_to_the_webhook_once_after_a_retry(
    mapping: Mapping, alert_tasks: list[Any], hook_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(tasks.alert_webhook_task.__dict__, "default_retry_delay", 0)
    AlertSettings.objects.update_or_create(pk=1, defaults={"webhook_url": hook_server, "email_enabled": False})
    _Hook.fail_first = 1  # the first try meets a 503: the task retries
    for _ in range(4):
        _run(mapping, failing=3, cause="phone: invalid")
    alert = Alert.objects.get()
    assert len(_Hook.received) == 1
    assert set(_Hook.received[0]) == {"text"}
    assert _Hook.received[0]["text"].startswith(alert.title)
    assert alert.webhook_sent_at is not None
    assert alert.webhook_error == ""
    assert [kind for kind, _ in alert_tasks] == ["webhook"]


def test_the_webhook_is_not_posted_to_a_private_host(
    mapping: Mapping, alert_tasks: list[Any], settings: Any, hook_server: str
) -> None:
    # The test settings allow the loopback (for test servers); without that allowance the same URL is refused.
    settings.CONNECTION_ALLOW_HTTP_HOSTS = ["127.0.0.1"]
    settings.CONNECTION_ALLOW_PRIVATE_HOSTS = []
    AlertSettings.objects.update_or_create(pk=1, defaults={"webhook_url": hook_server, "email_enabled": False})
    for _ in range(3):
        _run(mapping, failing=3, cause="phone: invalid")
    alert = Alert.objects.get()
    assert _Hook.received == []
    assert alert.webhook_sent_at is None
    assert alert.webhook_error.startswith(notify.MSG_WEBHOOK_REFUSED.split("{")[0])
    assert "private network address" in alert.webhook_error


@pytest.mark.worker
def test_the_worker_posts_a_new_alert_to_the_webhook(mapping: Mapping, hook_server: str, worker: Any) -> None:
    """Through the broker and the real worker: the alert's webhook task is sent when the run's alert commits."""
    from tests.conftest import wait_for

    AlertSettings.objects.update_or_create(pk=1, defaults={"webhook_url": hook_server, "email_enabled": False})
    AlertRule.objects.create(mapping=mapping, failing_runs=1)
    _run(mapping, failing=5, cause="phone: invalid")
    wait_for(lambda: _Hook.received, timeout=60, message="the worker did not post the alert")
    alert = Alert.objects.get()
    assert _Hook.received == [{"text": notify.alert_text(alert)}]
    wait_for(lambda: Alert.objects.filter(pk=alert.pk, webhook_sent_at__isnull=False).exists(), timeout=10)


def test_per_mapping_settings_need_one_mapping_or_automation(admin_client: Client, mapping: Mapping) -> None:
    url = reverse("admin:alerts_alertrule_add")
    neither = admin_client.post(url, {"enabled": "on", "email": "on", "webhook": "on"})
    assert neither.status_code == 200
    assert "Choose a mapping or an automation (one of them)." in neither.content.decode()
    made = admin_client.post(url, {"mapping": mapping.pk, "enabled": "on", "failing_runs": "1"})
    assert made.status_code == 302
    rule = AlertRule.objects.get()
    assert (rule.mapping, rule.failing_runs, rule.email, rule.webhook) == (mapping, 1, False, False)


def test_per_automation_settings(automation: Any, alert_tasks: list[Any], mailoutbox: list[Any]) -> None:
    AlertRule.objects.create(automation=automation, failing_runs=1, email=False)
    _poll(automation, error="Reading the trigger failed: GoHighLevel refused the token (401)")
    assert Alert.objects.get().kind == Alert.Kind.POLLS_FAILING  # after one poll, as this automation asks
    assert mailoutbox == []


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("phone: invalid (“+44 20 7946 0018”)", "phone: invalid (“12”)", True),
        ("GHL contact 5f2b9c1d8e7a6b5c4d3e: email taken", "GHL contact Zx81kq0PLm22aa0b9c1d: email taken", True),
        ("email ann@example.com is taken", "email bob@example.org is taken", True),
        ("StreetText server error (503)", "StreetText rejected the record (422)", False),
        ("StreetText server error (503)\nTraceback: line 1", "StreetText server error (503)\nother detail", True),
    ],
)
def test_a_cause_leaves_out_what_differs_per_record(one: str, other: str, same: bool) -> None:
    from alerts.causes import cause_of

    assert (cause_of(one) == cause_of(other)) is same
