"""The admin site: a start page made for this product, its screens grouped (the operations catalog in its own group),
and Celery beat's under Advanced."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, URLResolver, path, reverse

from integrations import failure_selectors, selectors

# Order and headings of the screens; apps not named here follow in alphabetical order.
APP_ORDER = ["mappings", "automations", "alerts", "integrations", "catalog", "auth", "django_celery_beat"]
APP_NAMES = {
    "automations": "Automations",
    "integrations": "Connections and runs",
    "auth": "Users and roles",
    "django_celery_beat": "Advanced: Celery beat schedules",
}
ADVANCED_APPS = {"django_celery_beat"}
MODEL_ORDER = {
    "integrations": ["Connection", "SyncRun", "RecordHistory", "RecordLink", "WebhookDelivery"],
    "automations": ["Automation", "AutomationPoll", "AutomationItem"],
    "alerts": ["Alert", "AlertSettings", "AlertRule"],
}
# The operations catalog's group: its pages (integrations/catalog/admin.py) and its log, a model of `integrations`.
CATALOG_GROUP = "Catalog"
CATALOG_MODELS = {"CatalogExecution"}


def _url(name: str, *args: Any) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _page_entry(name: str, object_name: str, url: str) -> dict[str, Any]:
    """An app-list row for an admin page that is not a model's changelist."""
    return {"name": name, "object_name": object_name, "admin_url": url, "add_url": None, "view_only": True}


class StreetSyncAdminSite(admin.AdminSite):
    site_header = "StreetSync"
    site_title = "StreetSync"
    index_title = "Start"
    index_template = "admin/start.html"
    # The side navigation repeats the start page's list and costs every table ~280 px of width.
    enable_nav_sidebar = False

    def get_urls(self) -> list[URLResolver | URLPattern]:
        # "Find a record" and the record page (integrations/records_admin.py), and the catalog's pages; imported here:
        # they need the admins.
        from integrations.catalog.admin import catalog_urls
        from integrations.records_admin import RecordPages

        docs = path("docs/<str:name>/", self.admin_view(self.docs_page), name="docs_page")
        return [docs, *RecordPages(self).urls(), *catalog_urls(self), *super().get_urls()]

    def docs_page(self, request: HttpRequest, name: str) -> HttpResponse:
        from integrations.docs_admin import docs_view

        return docs_view(request, name, self.each_context(request))

    def catalog_group(self, request: HttpRequest, log_models: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The "Catalog" group of the app list: browse and run, the raw request, the execution log — as permitted."""
        from integrations.catalog.admin import may_send_raw, may_view

        entries: list[dict[str, Any]] = []
        if may_view(request):
            entries.append(_page_entry("Operations", "CatalogOperations", _url("admin:catalog_index")))
        if may_send_raw(request):
            entries.append(_page_entry("Raw API request", "CatalogRawRequest", _url("admin:catalog_raw")))
        for model in log_models:
            entries.append({**model, "name": "Execution log", "add_url": None})
        if not entries:
            return None
        return {
            "name": CATALOG_GROUP,
            "app_label": "catalog",
            "app_url": _url("admin:catalog_index") if may_view(request) else entries[0]["admin_url"],
            "has_module_perms": True,
            "models": entries,
        }

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        app_list = super().get_app_list(request, app_label)
        log_models: list[dict[str, Any]] = []
        for app in app_list:
            if app["app_label"] == "integrations":
                log_models = [m for m in app["models"] if m["object_name"] in CATALOG_MODELS]
                app["models"] = [m for m in app["models"] if m["object_name"] not in CATALOG_MODELS]
        app_list = [app for app in app_list if app["models"]]
        if app_label is None:
            group = self.catalog_group(request, log_models)
            if group is not None:
                app_list.append(group)
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
            "automations": user.has_perm("automations.view_automation"),
            "add_automation": user.has_perm("automations.add_automation"),
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
            "automations": selectors.automation_list() if can["automations"] else None,
            "days": days,
            "totals": totals,
            "chart": selectors.chart_data(days) if days else None,
            "failure_causes": failure_selectors.record_failure_cause_list() if can["history"] else [],
            "failure_days": failure_selectors.FAILURE_DAYS,
            "active_runs": list(selectors.sync_run_recent_active()) if can["runs"] else [],
            "setup_steps": steps,
            "setup_done": all(step.done for step in steps),
            "next_step": next((step for step in steps if not step.done), None),
            "dashboard_days": selectors.DASHBOARD_DAYS,
        }
