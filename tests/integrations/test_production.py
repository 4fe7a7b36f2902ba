"""/healthz, /metrics and JSON logs in-process (tests/test_deploy.py runs them under gunicorn with real processes)."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from kombu import Connection as BrokerConnection

from integrations import health, ratelimit
from integrations.heartbeats import heartbeat_write
from integrations.logging import JsonFormatter, RedactingFilter, remember_secret
from integrations.models import Connection, ProcessHeartbeat, SyncRun
from integrations.ops_views import METRICS_UNAUTHORIZED
from mappings.models import Mapping
from tests.conftest import _purge_broker

pytestmark = pytest.mark.django_db

Kind = ProcessHeartbeat.Kind


@pytest.fixture(autouse=True)
def _no_other_heartbeats() -> None:
    """The session's Celery worker (tests/conftest.py) writes its heartbeat to the test database too; these tests
    decide which processes are alive themselves (the delete is rolled back with the test)."""
    ProcessHeartbeat.objects.all().delete()


def beat_now(kind: str, name: str, *, ago: float = 0.0) -> None:
    heartbeat_write(kind=kind, name=name, started_at=timezone.now())
    if ago:
        ProcessHeartbeat.objects.filter(kind=kind, name=name).update(seen_at=timezone.now() - timedelta(seconds=ago))


def test_healthz_is_503_naming_worker_and_beat_when_none_has_written_a_heartbeat(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["down"] == ["worker", "beat"]
    assert body["checks"]["worker"]["detail"] == health.WORKER_DOWN.format(seconds=60)
    assert body["checks"]["beat"]["detail"] == health.BEAT_DOWN.format(seconds=60)
    assert response["Cache-Control"] == "no-store"


def test_healthz_is_200_with_fresh_heartbeats_and_503_when_the_worker_went_silent(client: Client) -> None:
    beat_now(Kind.WORKER, "celery@a")
    beat_now(Kind.BEAT, "a:1")
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["worker"]["alive"] == 1

    beat_now(Kind.WORKER, "celery@a", ago=61)  # killed (SIGKILL): its row stays and grows old
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["down"] == ["worker"]
    assert response.json()["checks"]["worker"]["last_seen_seconds_ago"] >= 61


def test_healthz_names_the_broker_when_it_is_unreachable(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    beat_now(Kind.WORKER, "celery@a")
    beat_now(Kind.BEAT, "a:1")
    # A Redis broker on a port nothing listens on (port 9: discard, never open here).
    monkeypatch.setattr(
        health, "_broker_connection", lambda: BrokerConnection("redis://127.0.0.1:9/0", connect_timeout=1)
    )
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["down"] == ["broker"]
    assert response.json()["checks"]["broker"] == {"ok": False, "detail": health.BROKER_DOWN}


def test_healthz_answers_any_host_and_plain_http(client: Client, settings: Any) -> None:
    """A load balancer asks by address and over HTTP: no DisallowedHost (400), no redirect to https."""
    settings.ALLOWED_HOSTS = ["sync.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/healthz", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 503
    assert response.json()["down"] == ["worker", "beat"]
    # Any other page still gets both guards.
    assert client.get("/admin/login/", HTTP_HOST="10.0.0.7:8000").status_code == 400


def test_healthz_never_500s_when_a_check_breaks(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**kwargs: Any) -> list[ProcessHeartbeat]:
        raise RuntimeError("table missing")

    monkeypatch.setattr(health, "heartbeats", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == {"ok": False, "detail": health.CHECK_FAILED}


# ------------------------------------------------------------------------------
# /metrics
# ------------------------------------------------------------------------------
TOKEN = "metrics-token-for-tests"


def test_metrics_is_404_without_a_token_configured_and_401_with_a_wrong_one(client: Client, settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404
    settings.METRICS_TOKEN = TOKEN
    for header in ("", "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x"):
        response = client.get("/metrics", HTTP_AUTHORIZATION=header)
        assert response.status_code == 401, header
        assert response.json() == {"error": METRICS_UNAUTHORIZED}
        assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'


def test_metrics_for_a_staff_login_without_a_token(client: Client, settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    viewer = User.objects.create_user("viewer", password="pw-123456!")
    client.force_login(viewer)
    assert client.get("/metrics").status_code == 404  # logged in, but not staff
    viewer.is_staff = True
    viewer.save()
    assert client.get("/metrics").status_code == 200


def test_metrics_report_runs_records_budget_queue_and_workers(
    client: Client, settings: Any, ghl_connection: Connection, st_connection: Connection
) -> None:
    settings.METRICS_TOKEN = TOKEN
    settings.RATE_LIMIT_BACKEND = "db"  # the daily budget is kept in the database (the start page reads it too)
    _purge_broker()  # an earlier test may have left a message in the shared queue: the depth is counted from empty
    mapping = Mapping.objects.create(
        name="m", object_type="contact", ghl_connection=ghl_connection, streettext_connection=st_connection
    )
    SyncRun.objects.create(mapping=mapping, trigger="manual", status="succeeded", processed=40, failed=2)
    SyncRun.objects.create(mapping=mapping, trigger="manual", status="failed", processed=5, failed=5)
    ratelimit.record_daily_budget("ghl:loc1", limit=200_000, remaining=199_000)
    beat_now(Kind.WORKER, "celery@a")
    beat_now(Kind.WORKER, "celery@b", ago=600)
    beat_now(Kind.BEAT, "a:1")

    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    lines = set(response.content.decode().splitlines())
    assert 'streetsync_sync_runs{status="succeeded"} 1.0' in lines
    assert 'streetsync_sync_runs{status="failed"} 1.0' in lines
    assert 'streetsync_sync_runs{status="running"} 0.0' in lines
    assert "streetsync_records_processed 45.0" in lines
    assert "streetsync_records_failed 7.0" in lines
    assert 'streetsync_ghl_daily_requests_used{connection="GHL",location_id="loc1"} 1000.0' in lines
    assert 'streetsync_ghl_daily_requests_limit{connection="GHL",location_id="loc1"} 200000.0' in lines
    assert 'streetsync_queue_depth{queue="celery"} 0.0' in lines
    assert "streetsync_workers_alive 1.0" in lines
    assert any(line.startswith('streetsync_worker_heartbeat_age_seconds{worker="celery@b"} 6') for line in lines)
    assert any(line.startswith("streetsync_beat_heartbeat_age_seconds ") for line in lines)


# ------------------------------------------------------------------------------
# JSON logs
# ------------------------------------------------------------------------------
def test_json_log_lines_are_objects_with_the_secrets_redacted() -> None:
    remember_secret("sk-live-abcdef123456")
    record = logging.LogRecord(
        "integrations.x", logging.ERROR, __file__, 1, "token %s failed", ("sk-live-abcdef123456",), None
    )
    try:
        raise ValueError("with sk-live-abcdef123456 inside")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "integrations.x"
    assert entry["message"] == "token [redacted] failed"
    assert "ValueError: with [redacted] inside" in entry["exception"]
    assert "sk-live" not in line
    assert "\n" not in line  # one line per record


def test_json_format_is_the_console_formatter_when_log_format_is_json(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import config.settings.base as base

    monkeypatch.setenv("LOG_FORMAT", "json")
    try:
        reloaded = importlib.reload(base)
        assert reloaded.LOGGING["handlers"]["console"]["formatter"] == "json"
    finally:
        monkeypatch.delenv("LOG_FORMAT")
        importlib.reload(base)


def test_healthz_names_the_database_and_leaves_worker_and_beat_unknown_when_it_is_down(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import OperationalError

    def unreachable() -> Any:
        raise OperationalError("could not connect to server")

    class Unreachable:
        def cursor(self) -> Any:
            return unreachable()

    monkeypatch.setattr(health, "db_connection", Unreachable())  # SELECT 1 fails as with the server gone
    monkeypatch.setattr(health, "heartbeats", lambda **kwargs: unreachable())
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["database", "worker", "beat"]
    assert body["checks"]["database"] == {"ok": False, "detail": health.DATABASE_DOWN}
    assert body["checks"]["worker"] == {"ok": False, "detail": health.DATABASE_DOWN}
