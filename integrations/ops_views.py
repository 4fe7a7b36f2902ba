"""/healthz for load balancers and orchestrators, /metrics for Prometheus (docs/deploy.md)."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from integrations import health

logger = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
METRICS_UNAUTHORIZED = "Metrics need a bearer token (METRICS_TOKEN) or a staff login."


class HealthCheckMiddleware:
    """Answers GET/HEAD /healthz before any other middleware.

    First in MIDDLEWARE on purpose: a load balancer asks with its own address as Host (not in ALLOWED_HOSTS) and over
    plain HTTP (SECURE_SSL_REDIRECT would send it a 301); the answer depends on neither, so neither is consulted.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.rstrip("/") == HEALTH_PATH and request.method in ("GET", "HEAD"):
            return healthz(request)
        return self.get_response(request)


def healthz(request: HttpRequest) -> HttpResponse:
    """200 {"status": "ok", …} when the database, the broker, a worker and beat are up; else 503 naming what is down."""
    report = health.health_report()
    response = JsonResponse(report.as_json(), status=200 if report.ok else 503)
    response["Cache-Control"] = "no-store"
    if not report.ok:
        logger.warning("Health check: down: %s", ", ".join(report.down))
        # Django would log every 503 as an ERROR "Service Unavailable" with the request (each probe, every few
        # seconds); the line above says what is down instead.
        response._has_been_logged = True  # type: ignore[attr-defined]
    return response


# ------------------------------------------------------------------------------
# Prometheus
# ------------------------------------------------------------------------------
class StreetSyncCollector(Collector):
    """Figures read from the database at scrape time: the same on whichever web process Prometheus asks."""

    def collect(self) -> Iterator[Metric]:
        f = health.figures()
        runs = GaugeMetricFamily("streetsync_sync_runs", "Sync runs by status (all kept runs).", labels=["status"])
        for status, count in sorted(f.runs_by_status.items()):
            runs.add_metric([status], count)
        yield runs
        yield GaugeMetricFamily(
            "streetsync_records_processed", "Records processed by all kept sync runs.", value=f.records_processed
        )
        yield GaugeMetricFamily(
            "streetsync_records_failed", "Records that failed in all kept sync runs.", value=f.records_failed
        )
        used = GaugeMetricFamily(
            "streetsync_ghl_daily_requests_used",
            "GoHighLevel requests used today per connection, as GHL last reported it (X-RateLimit-Daily-Remaining).",
            labels=["connection", "location_id"],
        )
        limit = GaugeMetricFamily(
            "streetsync_ghl_daily_requests_limit",
            "GoHighLevel's daily request limit per connection (X-RateLimit-Limit-Daily).",
            labels=["connection", "location_id"],
        )
        for budget in f.budgets:
            used.add_metric([budget.connection, budget.location_id], budget.used)
            limit.add_metric([budget.connection, budget.location_id], budget.limit)
        yield used
        yield limit
        depth = GaugeMetricFamily("streetsync_queue_depth", "Messages waiting in a worker queue.", labels=["queue"])
        for queue, count in sorted(f.queue_depth.items()):
            depth.add_metric([queue], count)
        yield depth
        max_age = settings.HEALTH_WORKER_MAX_AGE_SECONDS
        yield GaugeMetricFamily(
            "streetsync_workers_alive",
            f"Celery workers whose heartbeat is at most {max_age} s old.",
            value=sum(1 for _, age in f.workers if age <= max_age),
        )
        ages = GaugeMetricFamily(
            "streetsync_worker_heartbeat_age_seconds", "Seconds since each worker's heartbeat.", labels=["worker"]
        )
        for name, age in f.workers:
            ages.add_metric([name], age)
        yield ages
        if f.beat_age is not None:
            yield GaugeMetricFamily(
                "streetsync_beat_heartbeat_age_seconds", "Seconds since Celery beat's heartbeat.", value=f.beat_age
            )
        yield GaugeMetricFamily(
            "streetsync_metrics_scrape_seconds", "Time taken to gather these figures.", value=f.scrape_seconds
        )


def _bearer_ok(request: HttpRequest) -> bool:
    expected = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if not expected or header[:7].lower() != "bearer ":
        return False
    return hmac.compare_digest(header[7:].strip().encode(), expected.encode())


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for a bearer token equal to METRICS_TOKEN or a logged-in staff user.

    Without METRICS_TOKEN the endpoint does not exist for anyone else (404); with it, a missing or wrong token gets
    401 and a WWW-Authenticate challenge.
    """
    user: Any = getattr(request, "user", None)
    if not (_bearer_ok(request) or (user is not None and user.is_active and user.is_staff)):
        if not settings.METRICS_TOKEN:
            return HttpResponseNotFound()
        response = HttpResponse(
            json.dumps({"error": METRICS_UNAUTHORIZED}), status=401, content_type="application/json"
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StreetSyncCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
