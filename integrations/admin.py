"""Admin for connections, sync runs, record history and record links: declarative, actions call services."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import display_for_field
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from integrations import selectors
from integrations.admin_export import CsvExportMixin
from integrations.admin_lists import CappedCountPaginator
from integrations.agency_admin import GhlAgencyAdmin  # noqa: F401 - registers the GoHighLevel agency admin
from integrations.catalog import admin as catalog_admin  # noqa: F401 - registers the catalog's log admin
from integrations.forms import ConnectionForm
from integrations.input_checks import row_id
from integrations.models import Connection, RecordHistory, RecordLink, SyncRun, System
from integrations.object_types import OBJECT_TYPES
from integrations.record_selectors import history_search_condition, link_search_condition
from integrations.services import budget
from integrations.services import connections as connection_services
from integrations.services import runs as run_services
from integrations.templatetags.streetsync import badge, progress_bar, run_status_badge
from integrations.webhooks import admin as webhook_admin
from integrations.webhooks.services import connection_set_webhook_secret

SAVED_AND_TESTED = "Saved. Connection test: {message}"
OAUTH_NOT_CONNECTED = "Saved. Now press “Connect with GoHighLevel” at the top of the page to authorise the connection."
CANCEL_ASKED = "Cancel requested: run #{run_id} stops after the page it is on is stored."
CANCELLED_AT_ONCE = "Run #{run_id} is cancelled (it had not started)."

DIRECTION_LABELS = {"to_streettext": "GoHighLevel → StreetText", "to_ghl": "StreetText → GoHighLevel"}
ACTION_TONES = {"created": "ok", "updated": "info", "skipped": "muted", "failed": "bad", "deleted": "warn"}
# Record links of follow-up tasks are stored under this type (integrations/services/sync.py FOLLOWUP_LINK_TYPE).
LINK_TYPE_LABELS = {key: ot.label for key, ot in OBJECT_TYPES.items()}
DIFF_ROW = '<div><span class="field">{}</span> <del>{}</del> → <ins>{}</ins></div>'
ONLY_IDS_SHOWN = 20
HISTORY_SEARCH_HELP = (
    "Exact: an email (any letter case), a phone (any format), a GoHighLevel or StreetText id, or a run number (#123)."
)
LINK_SEARCH_HELP = "Exact: an email (any letter case) or a GoHighLevel or StreetText id; or a label's first letters."


class ReadOnlyAdminMixin:
    """Logs are written by the engine only."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _may_view(request: HttpRequest, app_label: str, model_name: str) -> bool:
    user = request.user
    return bool(user.has_perm(f"{app_label}.view_{model_name}") or user.has_perm(f"{app_label}.change_{model_name}"))


def _swap_fields(fields: Any, swaps: dict[str, str]) -> list[Any]:
    return [swaps.get(name, name) if isinstance(name, str) else name for name in fields]


def _mapping_link(mapping: Any) -> str:
    return format_html('<a href="{}">{}</a>', reverse("admin:mappings_mapping_change", args=[mapping.pk]), mapping)


def _connection_link(connection: Connection) -> str:
    url = reverse("admin:integrations_connection_change", args=[connection.pk])
    return format_html('<a href="{}">{}</a>', url, connection.name)


def _run_link(run_id: int) -> str:
    return format_html('<a href="{}">#{}</a>', reverse("admin:integrations_syncrun_change", args=[run_id]), run_id)


def _record_url(system: str, record_id: str) -> str:
    return reverse("admin:record", args=[system]) + "?" + urlencode({"id": record_id})


HISTORY_QUIET_NOTE = (
    '{} <span class="ss-small">of {} record(s) looked at; {} unchanged ones are counted, not kept</span>'
)


def _failed_records_url(run: SyncRun) -> str:
    return reverse("admin:integrations_recordhistory_changelist") + f"?run__id__exact={run.pk}&action__exact=failed"


# ------------------------------------------------------------------------------
# Connections
# ------------------------------------------------------------------------------
@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionForm
    list_display = ["name", "system", "location_id", "health", "status_checked_at"]
    list_filter = ["system", "status"]
    search_fields = ["name", "location_id"]
    readonly_fields = [
        "secret_stored",
        "health",
        "last_result",
        "status_checked_at",
        "oauth_expiry",
        "webhook_url",
        "budget_today",
    ]
    actions = ["test_connections"]
    fieldsets = [
        (None, {"fields": ["name", "system", "base_url", "location_id"]}),
        ("Credentials", {"fields": ["auth_type", "secret", "secret_stored"]}),
        ("Status", {"fields": ["health", "last_result", "status_checked_at"]}),
        ("Webhooks", {"fields": ["webhook_url", "webhook_secret"]}),
        ("Daily budget", {"fields": ["daily_budget_percent", "budget_today"]}),
    ]
    change_form_template = "admin/integrations/connection/change_form.html"

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        from django.conf import settings

        return {"base_url": settings.GHL_DEFAULT_BASE_URL, **super().get_changeform_initial_data(request)}

    @admin.display(description="Secret")
    def secret_stored(self, obj: Connection) -> str:
        return "stored (encrypted)" if obj.has_secret else "none"

    @admin.display(description="Today")
    def budget_today(self, obj: Connection) -> str:
        if obj.pk is None or obj.system != System.GHL:
            return "—"
        usage = budget.usage_today(obj)
        total = budget.budget_requests(obj, usage.limit)
        used = f"{usage.used:,}" if usage.reported else "0 (no GHL answer yet today)"
        return f"{used} of a {total:,} request budget used today ({obj.daily_budget_percent} % of {usage.limit:,})"

    @admin.display(description="Health", ordering="status")
    def health(self, obj: Connection) -> str:
        tone, label = selectors.connection_health(connection=obj)
        return badge(tone, label)

    def save_model(self, request: HttpRequest, obj: Connection, form: Any, change: bool) -> None:
        connection_services.connection_set_secret(connection=obj, secret=form.cleaned_data.get("secret", ""))
        connection_set_webhook_secret(connection=obj, secret=form.cleaned_data.get("webhook_secret", ""))
        super().save_model(request, obj, form, change)
        # The test calls the API: it runs once the save is committed, outside the admin's transaction.
        transaction.on_commit(partial(self._test_after_save, request, obj))

    def _test_after_save(self, request: HttpRequest, obj: Connection) -> None:
        if obj.auth_type == Connection.AuthType.OAUTH and not obj.oauth_access_token_encrypted:
            self.message_user(request, OAUTH_NOT_CONNECTED, messages.INFO)
            return
        result = connection_services.connection_test(connection=obj)
        self.message_user(
            request, SAVED_AND_TESTED.format(message=result.message), messages.SUCCESS if result.ok else messages.ERROR
        )

    def response_add(self, request: HttpRequest, obj: Connection, post_url_continue: str | None = None) -> Any:
        # A new connection's page shows its test result, its webhook URL and (OAuth) the Connect button.
        if "_addanother" not in request.POST and "_popup" not in request.POST:
            return HttpResponseRedirect(reverse("admin:integrations_connection_change", args=[obj.pk]))
        return super().response_add(request, obj, post_url_continue)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        webhook_admin.remember_admin_base_url(request)
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:  # nothing to report before the first save and test
            return [fs for fs in fieldsets if fs[0] != "Status"]
        if obj.system != System.GHL:  # the daily budget is GoHighLevel's
            fieldsets = [fs for fs in fieldsets if fs[0] != "Daily budget"]
        if obj.system == System.GHL:  # GHL signs its webhooks with its own key: no shared secret to enter
            fieldsets = [
                (name, {**opts, "fields": [f for f in opts["fields"] if f != "webhook_secret"]})
                for name, opts in fieldsets
            ]
        if obj.auth_type == Connection.AuthType.OAUTH:
            return [
                (name, {**opts, "fields": [*opts["fields"], "oauth_expiry"]}) if name == "Status" else (name, opts)
                for name, opts in fieldsets
            ]
        return fieldsets

    @admin.display(description="Last test or run")
    def last_result(self, obj: Connection) -> str:
        return obj.status_detail or "—"

    @admin.display(description="OAuth token expires")
    def oauth_expiry(self, obj: Connection) -> str:
        if not obj.oauth_expires_at:
            return "Not connected yet: press “Connect with GoHighLevel” at the top of the page."
        return f"{timezone.localtime(obj.oauth_expires_at):%d %b %Y %H:%M} (renewed automatically)"

    @admin.display(description="Webhook URL")
    def webhook_url(self, obj: Connection) -> str:
        return webhook_admin.webhook_url_html(obj)

    def get_urls(self) -> list[Any]:
        from integrations.oauth_views import ghl_oauth_connect

        wrap = self.admin_site.admin_view
        return [
            # "Connect with GoHighLevel" (OAuth) and "Test connection": buttons in connection/change_form.html.
            path("<int:pk>/oauth/connect/", wrap(ghl_oauth_connect), name="integrations_connection_oauth_connect"),
            path("<int:pk>/test/", wrap(require_POST(self.test_view)), name="integrations_connection_test"),
            *super().get_urls(),
        ]

    def test_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        connection = get_object_or_404(Connection, pk=pk)
        if not self.has_change_permission(request, connection):
            raise PermissionDenied
        result = connection_services.connection_test(connection=connection)
        self.message_user(request, result.message, messages.SUCCESS if result.ok else messages.ERROR)
        return HttpResponseRedirect(reverse("admin:integrations_connection_change", args=[pk]))

    @admin.action(description="Test connection", permissions=["change"])
    def test_connections(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        for connection in queryset:
            result = connection_services.connection_test(connection=connection)
            level = messages.SUCCESS if result.ok else messages.ERROR
            self.message_user(request, f"{connection.name}: {result.message}", level)


# ------------------------------------------------------------------------------
# Sync runs
# ------------------------------------------------------------------------------
RUN_FIELDS = (
    "mapping_link",
    "trigger",
    "scope",
    "dry_run_display",
    "requested_by",
    "rerun_of",
    "only_records",
    "history_link",
    "created_at",
    "started_at",
    "heartbeat_at",
    "finished_at",
    "error_display",
    "cancelled_by",
)


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "run_number",
        "mapping",
        "trigger",
        "status_badge",
        "progress_column",
        "results",
        "duration_display",
        "started",
    ]
    list_display_links = ["run_number"]
    list_filter = ["status", "trigger", "dry_run", "mapping"]
    list_select_related = ["mapping"]
    search_fields = ["=id", "mapping__name", "error"]
    date_hierarchy = "created_at"
    # Webhook and scheduled runs add up: no COUNT(*) of every run on each page, counts capped at 10,000.
    show_full_result_count = False
    paginator = CappedCountPaginator
    actions = ["rerun_failed"]
    fields = RUN_FIELDS
    readonly_fields = [*RUN_FIELDS, "mapping_name"]
    change_form_template = "admin/integrations/syncrun/change_form.html"
    change_list_template = "admin/integrations/syncrun/change_list.html"

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields: list[Any] = list(super().get_fields(request, obj))
        if not _may_view(request, "mappings", "mapping"):
            fields = _swap_fields(fields, {"mapping_link": "mapping_name"})
        if obj is not None and not obj.cancel_requested_at:
            fields.remove("cancelled_by")
        if obj is not None and not obj.only_ids:
            fields.remove("only_records")
        return fields

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        # The list refreshes itself only while some run is going, so progress is visible without reloading.
        active = SyncRun.objects.filter(status__in=SyncRun.ACTIVE_STATUSES).exists()
        return super().changelist_view(request, {**(extra_context or {}), "has_active_runs": active})

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> Any:
        run = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if run is not None:
            context.update(self._progress_context(request, run))
        return super().change_view(request, object_id, form_url, context)

    def _progress_context(self, request: HttpRequest, run: SyncRun) -> dict[str, Any]:
        return {
            "run": run,
            "progress": selectors.sync_run_progress(run=run),
            "can_cancel": run.status in SyncRun.ACTIVE_STATUSES and self.has_rerun_permission(request),
            "can_rerun": run.failed > 0 and not run.dry_run and self.has_rerun_permission(request),
            "failed_url": _failed_records_url(run),
            "progress_url": reverse("admin:integrations_syncrun_progress", args=[run.pk]),
        }

    # -- columns and fields ---------------------------------------------------------------------------------------
    @admin.display(description="Run", ordering="id")
    def run_number(self, obj: SyncRun) -> str:
        return f"#{obj.pk}"

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: SyncRun) -> str:
        html = run_status_badge(obj.status, short=True)
        if obj.dry_run:
            return format_html('{} <span class="ss-small">dry run</span>', html)
        return html

    @admin.display(description="Progress")
    def progress_column(self, obj: SyncRun) -> str:
        progress = selectors.sync_run_progress(run=obj)
        count = f"{obj.processed} / {obj.total}" if obj.total else f"{obj.processed}"
        percent = f"{progress.percent} % · " if progress.percent is not None else ""
        return format_html(
            '{}<br><span class="ss-small">{}{}</span>', progress_bar(progress.percent, progress.tone), percent, count
        )

    @admin.display(description="Results")
    def results(self, obj: SyncRun) -> str:
        parts = (
            ("c-created", obj.created, "created"),
            ("c-updated", obj.updated, "updated"),
            ("", obj.skipped, "skipped"),
            ("c-failed", obj.failed, "failed"),
        )
        cells = [
            format_html('<span class="{}">{} {}</span>', css if value else "c-zero", value, label)
            for css, value, label in parts
        ]
        return format_html('<span class="ss-counts">{} {}<br>{} {}</span>', *cells)

    @admin.display(description="Started", ordering="created_at")
    def started(self, obj: SyncRun) -> str:
        return format_html('<span class="ss-nowrap">{}</span>', f"{timezone.localtime(obj.created_at):%d %b %H:%M}")

    @admin.display(description="Duration")
    def duration_display(self, obj: SyncRun) -> str:
        return format_html('<span class="ss-nowrap">{}</span>', selectors.sync_run_progress(run=obj).elapsed_display)

    @admin.display(description="Mapping")
    def mapping_link(self, obj: SyncRun) -> str:
        return _mapping_link(obj.mapping)

    @admin.display(description="Mapping")
    def mapping_name(self, obj: SyncRun) -> str:
        return str(obj.mapping)

    @admin.display(description="Records asked for")
    def only_records(self, obj: SyncRun) -> str:
        parts = []
        for system, label in ((System.GHL, "GoHighLevel"), (System.STREETTEXT, "StreetText")):
            ids = list(obj.only_ids.get(system, []) or [])
            if ids:
                more = f" and {len(ids) - ONLY_IDS_SHOWN} more" if len(ids) > ONLY_IDS_SHOWN else ""
                parts.append(f"{label}: {', '.join(map(str, ids[:ONLY_IDS_SHOWN]))}{more}")
        return "; ".join(parts) or "—"

    @admin.display(description="Dry run")
    def dry_run_display(self, obj: SyncRun) -> str:
        # Words, not the admin's red ✕ for False: a real run is not an error.
        return "Yes: writes nothing, records what it would do" if obj.dry_run else "No: writes as it goes"

    # Fields below the live box that change while the run goes: the progress answer carries them for the page.
    LIVE_FIELDS = ("started_at", "heartbeat_at", "finished_at")

    def live_fields(self, run: SyncRun) -> dict[str, str]:
        values = {}
        for name in self.LIVE_FIELDS:
            model_field: Any = SyncRun._meta.get_field(name)
            values[name] = str(conditional_escape(display_for_field(getattr(run, name), model_field, "-")))
        values["history_link"] = str(self.history_link(run))
        return values

    @admin.display(description="Record history")
    def history_link(self, obj: SyncRun) -> str:
        # The link's figure is what the link opens: the rows kept. Unchanged records are counted on the run, not
        # written (SYNC_HISTORY_KEEP_UNCHANGED), so "300 record(s)" opened 78 rows.
        url = reverse("admin:integrations_recordhistory_changelist") + f"?run__id__exact={obj.pk}"
        kept = selectors.sync_run_history_count(run=obj)
        shown = f"{kept.count}+" if kept.capped else str(kept.count)
        link = format_html('<a href="{}">{} row(s)</a>', url, shown)
        quiet = obj.processed - kept.count
        if quiet > 0 and not kept.capped:
            return format_html(HISTORY_QUIET_NOTE, link, obj.processed, quiet)
        return link

    @admin.display(description="Error or note")
    def error_display(self, obj: SyncRun) -> str:
        if obj.error and obj.status == SyncRun.Status.CANCELLED:
            return obj.error
        if obj.error:
            return format_html('<span class="ss-error-text">{}</span>', obj.error)
        if obj.failed:
            return format_html(
                'No run error; {} record(s) failed: <a href="{}">see why</a>.', obj.failed, _failed_records_url(obj)
            )
        return "None"

    @admin.display(description="Cancel")
    def cancelled_by(self, obj: SyncRun) -> str:
        when = timezone.localtime(obj.cancel_requested_at) if obj.cancel_requested_at else None
        return f"Asked by {obj.cancel_requested_by or 'a user'} at {when:%d %b %H:%M:%S}" if when else "—"

    # -- live progress and Cancel -----------------------------------------------------------------------------------
    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/progress/", wrap(self.progress_view), name="integrations_syncrun_progress"),
            path("<int:pk>/cancel/", wrap(require_POST(self.cancel_view)), name="integrations_syncrun_cancel"),
            path("<int:pk>/rerun/", wrap(require_POST(self.rerun_view)), name="integrations_syncrun_rerun"),
            *super().get_urls(),
        ]

    def progress_view(self, request: HttpRequest, pk: int) -> JsonResponse:
        """The run's counters for the page's progress bar (polled while the run is active)."""
        run = get_object_or_404(SyncRun, pk=pk)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        progress = selectors.sync_run_progress(run=run)
        return JsonResponse(
            {
                "status": run.status,
                "status_label": run.get_status_display(),
                "tone": progress.tone,
                "active": progress.active,
                "cancel_requested": run.cancel_requested_at is not None,
                "processed": run.processed,
                "total": run.total,
                "percent": progress.percent,
                "contacts": progress.scan_display,
                "rate": progress.rate_display,
                "eta": progress.eta_display,
                "elapsed": progress.elapsed_display,
                "created": run.created,
                "updated": run.updated,
                "skipped": run.skipped,
                "failed": run.failed,
                "deleted": run.deleted,
                "fields": self.live_fields(run),
            }
        )

    def cancel_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        run = get_object_or_404(SyncRun, pk=pk)
        if not self.has_rerun_permission(request):
            raise PermissionDenied
        try:
            run = run_services.sync_run_cancel(run=run, requested_by=request.user.get_username())
        except run_services.SyncRequestRefused as e:
            self.message_user(request, str(e), messages.WARNING)
        else:
            done = run.status == SyncRun.Status.CANCELLED
            self.message_user(
                request, (CANCELLED_AT_ONCE if done else CANCEL_ASKED).format(run_id=run.pk), messages.SUCCESS
            )
        return HttpResponseRedirect(reverse("admin:integrations_syncrun_change", args=[pk]))

    def rerun_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        run = get_object_or_404(SyncRun.objects.select_related("mapping"), pk=pk)
        if not self.has_rerun_permission(request):
            raise PermissionDenied
        try:
            new = run_services.sync_run_rerun_failed(run=run, requested_by=request.user.get_username())
        except run_services.SyncRequestRefused as e:
            self.message_user(request, str(e), messages.WARNING)
            return HttpResponseRedirect(reverse("admin:integrations_syncrun_change", args=[pk]))
        self.message_user(request, f"Re-run of the failed records queued as run #{new.pk}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:integrations_syncrun_change", args=[new.pk]))

    def has_rerun_permission(self, request: HttpRequest) -> bool:
        """Starting and stopping runs is for people who may change mappings, not for viewers."""
        return bool(request.user.has_perm("mappings.change_mapping"))

    @admin.action(description="Re-run failed records", permissions=["rerun"])
    def rerun_failed(self, request: HttpRequest, queryset: QuerySet[SyncRun]) -> None:
        started = 0
        for run in queryset.select_related("mapping"):
            try:
                run_services.sync_run_rerun_failed(run=run, requested_by=request.user.get_username())
                started += 1
            except run_services.SyncRequestRefused as e:
                self.message_user(request, str(e), messages.WARNING)
        if started:
            self.message_user(
                request, ngettext("%d re-run queued.", "%d re-runs queued.", started) % started, messages.SUCCESS
            )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)


# ------------------------------------------------------------------------------
# Record history
# ------------------------------------------------------------------------------
HISTORY_FIELDS = (
    "run",
    "mapping_link",
    "created_at",
    "direction_arrow",
    "action_badge",
    "reason",
    "ghl_id",
    "streettext_id",
    "email",
    "phone",
    "diff",
    "error",
    "dry_run",
)


class DirectionFilter(admin.SimpleListFilter):
    """Fixed choices: the default filter would read `SELECT DISTINCT direction` over the whole history."""

    title = "direction"
    parameter_name = "direction"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(DIRECTION_LABELS.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(direction=self.value()) if self.value() else queryset


@admin.register(RecordHistory)
class RecordHistoryAdmin(CsvExportMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    csv_filename = "record-history"
    csv_columns = (
        ("when", "created_at"),
        ("run", "run_id"),
        ("mapping", "mapping__name"),
        ("direction", "direction"),
        ("action", "action"),
        ("dry_run", "dry_run"),
        ("ghl_id", "ghl_id"),
        ("streettext_id", "streettext_id"),
        ("email", "email"),
        ("phone", "phone"),
        ("reason", "reason"),
        ("error", "error"),
        ("changes", "changes"),
    )
    # The record and the reason come before the diff, so they stay on screen however long the diff is.
    list_display = ["when", "run_link", "action_badge", "direction_arrow", "record", "note", "diff"]
    list_display_links = ["when"]
    list_filter = ["action", DirectionFilter, "dry_run", "run__status", "mapping"]
    # The run column needs only the run's id; the mapping's name is one join (no query per row).
    list_select_related = ["mapping"]
    # Searched by get_search_results (exact, indexed lookups); listed here so the search box shows.
    search_fields = ["=ghl_id", "=streettext_id", "email", "phone", "=run__id"]
    search_help_text = HISTORY_SEARCH_HELP
    fields = HISTORY_FIELDS
    readonly_fields = [*HISTORY_FIELDS, "mapping_name"]
    # At millions of rows: no COUNT(*) of the whole table, counts capped at 10,000, no facet counts.
    show_full_result_count = False
    paginator = CappedCountPaginator
    show_facets = admin.ShowFacets.NEVER

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[RecordHistory], search_term: str
    ) -> tuple[QuerySet[RecordHistory], bool]:
        # Django's own search would compare UPPER(column) or LIKE '%…%' on every row: no index could serve it.
        condition = history_search_condition(search_term)
        if condition is None:
            return queryset, False
        return queryset.alias(email_lower=Lower("email")).filter(condition), False

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields: list[Any] = list(super().get_fields(request, obj))
        if not _may_view(request, "mappings", "mapping"):
            fields = _swap_fields(fields, {"mapping_link": "mapping_name"})
        return fields

    # By the run's id (its index), not by the run's own ordering (a join and a sort of the whole table).
    @admin.display(description="Run", ordering="run_id")
    def run_link(self, obj: RecordHistory) -> str:
        return _run_link(obj.run_id)

    @admin.display(description="Mapping")
    def mapping_link(self, obj: RecordHistory) -> str:
        return _mapping_link(obj.mapping)

    @admin.display(description="Mapping")
    def mapping_name(self, obj: RecordHistory) -> str:
        return str(obj.mapping)

    # Action and direction are filters, not sort orders: a sort by a column of five values would sort the whole table.
    @admin.display(description="Action")
    def action_badge(self, obj: RecordHistory) -> str:
        html = badge(ACTION_TONES.get(obj.action, "muted"), obj.get_action_display())
        return format_html('{} <span class="ss-small">dry run</span>', html) if obj.dry_run else html

    @admin.display(description="Direction")
    def direction_arrow(self, obj: RecordHistory) -> str:
        return DIRECTION_LABELS.get(obj.direction, obj.direction)

    @admin.display(description="When", ordering="created_at")
    def when(self, obj: RecordHistory) -> str:
        return format_html('<span class="ss-nowrap">{}</span>', f"{timezone.localtime(obj.created_at):%d %b %H:%M:%S}")

    @admin.display(description="Record")
    def record(self, obj: RecordHistory) -> str:
        ids = [
            f"GHL {obj.ghl_id}" if obj.ghl_id else "",
            f"StreetText {obj.streettext_id}" if obj.streettext_id else "",
        ]
        system, record_id = (System.GHL, obj.ghl_id) if obj.ghl_id else (System.STREETTEXT, obj.streettext_id)
        shown = obj.email or obj.phone or "—"
        if record_id:  # the record's own page: its pair and its whole story across runs
            shown = format_html('<a href="{}">{}</a>', _record_url(system, record_id), shown)
        return format_html(
            '{}<br><span class="ss-small">{}</span>',
            shown,
            format_html_join(mark_safe("<br>"), "{}", ((i,) for i in ids if i)) or "no id yet",
        )

    @admin.display(description="Why / error")
    def note(self, obj: RecordHistory) -> str:
        if obj.error:
            return format_html('<span class="ss-error-text">{}</span>', self.error_short(obj))
        return obj.reason

    @admin.display(description="Changes (before → after)")
    def diff(self, obj: RecordHistory) -> str:
        if not obj.changes:
            return "—"
        return format_html(
            '<div class="diff">{}</div>',
            format_html_join(
                "",
                DIFF_ROW,
                (
                    (name, _show(change.get("before")), _show(change.get("after")))
                    for name, change in sorted(obj.changes.items())
                ),
            ),
        )

    @admin.display(description="Error")
    def error_short(self, obj: RecordHistory) -> str:
        return obj.error[:160] + ("…" if len(obj.error) > 160 else "")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _show(value: Any) -> str:
    if value is None or value == "":
        return "∅"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "∅"
    return str(value)


# ------------------------------------------------------------------------------
# Record links
# ------------------------------------------------------------------------------
LINK_FIELDS = (
    "type_label",
    "ghl_id",
    "streettext_id",
    "ghl_connection_link",
    "streettext_connection_link",
    "label",
    "email",
    "origin_label",
    "last_synced_at",
    "created_at",
)


class LinkTypeFilter(admin.SimpleListFilter):
    title = "object type"
    parameter_name = "object_type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(LINK_TYPE_LABELS.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(object_type=self.value()) if self.value() else queryset


class _ConnectionFilter(admin.SimpleListFilter):
    system: str = ""
    field: str = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(pk), name) for pk, name in Connection.objects.filter(system=self.system).values_list("pk", "name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if not self.value():
            return queryset
        pk = row_id(self.value())
        if pk is None:
            # The admin answers this as any bad filter (the list, unfiltered, with a note): not a 500.
            raise IncorrectLookupParameters(f"{self.parameter_name} is not a connection id")
        return queryset.filter(**{f"{self.field}_id": pk})


class GhlConnectionFilter(_ConnectionFilter):
    title = "GoHighLevel connection"
    parameter_name = "ghl_connection"
    system, field = System.GHL, "ghl_connection"


class StreetTextConnectionFilter(_ConnectionFilter):
    title = "StreetText connection"
    parameter_name = "streettext_connection"
    system, field = System.STREETTEXT, "streettext_connection"


@admin.register(RecordLink)
class RecordLinkAdmin(admin.ModelAdmin):
    # Sortable only where an index serves the sort (label, either id): a million links sorted by anything else would
    # be sorted whole for each page.
    list_display = ["type_label", "record_page", "email_shown", "ghl_id", "streettext_id", "connections", "synced"]
    list_filter = [LinkTypeFilter, GhlConnectionFilter, StreetTextConnectionFilter]
    list_select_related = ["ghl_connection", "streettext_connection"]
    # Searched by get_search_results (indexed lookups); listed here so the search box shows.
    search_fields = ["=ghl_id", "=streettext_id", "^email", "label"]
    search_help_text = LINK_SEARCH_HELP
    fields = LINK_FIELDS
    readonly_fields = [*LINK_FIELDS, "ghl_account", "streettext_account"]
    show_full_result_count = False
    paginator = CappedCountPaginator
    show_facets = admin.ShowFacets.NEVER

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[RecordLink], search_term: str
    ) -> tuple[QuerySet[RecordLink], bool]:
        condition = link_search_condition(search_term)
        if condition is None:
            return queryset, False
        return queryset.alias(email_lower=Lower("email"), label_lower=Lower("label")).filter(condition), False

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields: list[Any] = list(super().get_fields(request, obj))
        if not _may_view(request, "integrations", "connection"):
            fields = _swap_fields(
                fields, {"ghl_connection_link": "ghl_account", "streettext_connection_link": "streettext_account"}
            )
        return fields

    @admin.display(description="Label", ordering=Lower("label"))  # the index link_label_lower
    def record_page(self, obj: RecordLink) -> str:
        """The pair's name, linking to the record page (its whole story and "Sync this record now")."""
        return format_html('<a href="{}">{}</a>', _record_url(System.GHL, obj.ghl_id), obj.label or obj.ghl_id)

    @admin.display(description="Object type")
    def type_label(self, obj: RecordLink) -> str:
        return LINK_TYPE_LABELS.get(obj.object_type, obj.object_type)

    @admin.display(description="GoHighLevel connection")
    def ghl_account(self, obj: RecordLink) -> str:
        return obj.ghl_connection.name

    @admin.display(description="StreetText connection")
    def streettext_account(self, obj: RecordLink) -> str:
        return obj.streettext_connection.name

    @admin.display(description="Email")
    def email_shown(self, obj: RecordLink) -> str:
        return obj.email

    @admin.display(description="Connections")
    def connections(self, obj: RecordLink) -> str:
        # One narrow column for the pair (as on the mapping list): the last columns stay on screen at 1,400 px.
        return format_html(
            '<span class="ss-small">{}<br>{}</span>', obj.ghl_connection.name, obj.streettext_connection.name
        )

    @admin.display(description="Last synced")
    def synced(self, obj: RecordLink) -> Any:
        if obj.last_synced_at is None:
            return "—"
        return f"{timezone.localtime(obj.last_synced_at):%d %b %Y %H:%M}"

    @admin.display(description="GoHighLevel connection")
    def ghl_connection_link(self, obj: RecordLink) -> str:
        return _connection_link(obj.ghl_connection)

    @admin.display(description="StreetText connection")
    def streettext_connection_link(self, obj: RecordLink) -> str:
        return _connection_link(obj.streettext_connection)

    @admin.display(description="Where it was first", ordering="origin")
    def origin_label(self, obj: RecordLink) -> str:
        return obj.get_origin_display()

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Every field is kept by the engine; the page is for reading (deleting a link is still possible).
        return False
