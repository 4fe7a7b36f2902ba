"""The admin site: a start page made for this product, and its screens grouped with Celery beat's under Advanced."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse

from integrations import selectors

# Order and headings of the screens; apps not named here follow in alphabetical order.
APP_ORDER = ["mappings", "integrations", "auth", "django_celery_beat"]
APP_NAMES = {
    "integrations": "Connections and runs",
    "auth": "Users and roles",
    "django_celery_beat": "Advanced: Celery beat schedules",
}
ADVANCED_APPS = {"django_celery_beat"}
MODEL_ORDER = {
    "integrations": ["Connection", "SyncRun", "RecordHistory", "RecordLink", "WebhookDelivery"],
}


def _url(name: str, *args: Any) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


class StreetSyncAdminSite(admin.AdminSite):
    site_header = "StreetSync"
    site_title = "StreetSync"
    index_title = "Start"
    index_template = "admin/start.html"
    # The side navigation repeats the start page's list and costs every table ~280 px of width.
    enable_nav_sidebar = False

    def get_urls(self) -> list[Any]:
        # "Find a record" and the record page (integrations/records_admin.py), imported here: it needs the admins.
        from integrations.records_admin import RecordPages

        return [*RecordPages(self).urls(), *super().get_urls()]

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        app_list = super().get_app_list(request, app_label)
        for app in app_list:
            label = app["app_label"]
            app["name"] = APP_NAMES.get(label, app["name"])
            app["advanced"] = label in ADVANCED_APPS
            order = MODEL_ORDER.get(label)
            if order:
                app["models"].sort(
                    key=lambda m: order.index(m["object_name"]) if m["object_name"] in order else len(order)
                )
        rank = {label: i for i, label in enumerate(APP_ORDER)}
        return sorted(app_list, key=lambda a: (rank.get(a["app_label"], len(APP_ORDER)), a["name"].lower()))

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        return super().index(request, {**self.start_context(request), **(extra_context or {})})

    def start_context(self, request: HttpRequest) -> dict[str, Any]:
        """What the start page shows, limited to what the user may see."""
        user = request.user
        can = {
            "connections": user.has_perm("integrations.view_connection"),
            "mappings": user.has_perm("mappings.view_mapping"),
            "change_mappings": user.has_perm("mappings.change_mapping"),
            "add_connection": user.has_perm("integrations.add_connection"),
            "runs": user.has_perm("integrations.view_syncrun"),
            "history": user.has_perm("integrations.view_recordhistory"),
        }
        connections = selectors.connection_health_list() if can["connections"] else []
        mappings = list(selectors.mapping_list_with_last_run()) if can["mappings"] else []
        days = selectors.run_daily_stats() if can["runs"] else []
        totals = selectors.totals_from(days) if days else None
        steps: list[selectors.SetupStep] = []
        if can["add_connection"] and can["change_mappings"]:
            has_runs = bool(totals and totals.runs) or any(m.last_run_id for m in mappings)  # type: ignore[attr-defined]
            urls = {
                "connection_add": _url("admin:integrations_connection_add"),
                "presets": _url("admin:mappings_mapping_presets"),
                "preview": _url("admin:mappings_mapping_preview", mappings[0].pk) if mappings else "",
                "mappings": _url("admin:mappings_mapping_changelist"),
            }
            steps = selectors.setup_steps(connections=connections, mappings=mappings, has_runs=has_runs, urls=urls)
        return {
            "can": can,
            "connections": connections,
            "mappings": mappings,
            "automations": selectors.automation_list() if can["mappings"] else None,
            "days": days,
            "totals": totals,
            "chart": selectors.chart_data(days) if days else None,
            "failures": selectors.record_failure_latest_list() if can["history"] else [],
            "active_runs": list(selectors.sync_run_recent_active()) if can["runs"] else [],
            "setup_steps": steps,
            "setup_done": all(step.done for step in steps),
            "next_step": next((step for step in steps if not step.done), None),
            "dashboard_days": selectors.DASHBOARD_DAYS,
        }
