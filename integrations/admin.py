"""Admin for connections, sync runs, record history and record links: declarative, actions call services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import ngettext

from integrations.forms import ConnectionForm
from integrations.models import Connection, RecordHistory, RecordLink, SyncRun
from integrations.services import connections as connection_services
from integrations.services import runs as run_services
from integrations.webhooks import admin as webhook_admin
from integrations.webhooks.services import connection_set_webhook_secret


class ReadOnlyAdminMixin:
    """Logs are written by the engine only."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionForm
    list_display = ["name", "system", "location_id", "auth_type", "status_badge", "status_checked_at", "paused_until"]
    list_filter = ["system", "status"]
    search_fields = ["name", "location_id"]
    readonly_fields = [
        "secret_stored",
        "status",
        "status_detail",
        "status_checked_at",
        "oauth_expires_at",
        "webhook_url",
        "paused_until",
    ]
    actions = ["test_connections"]
    fieldsets = [
        (None, {"fields": ["name", "system", "base_url", "location_id"]}),
        ("Credentials", {"fields": ["auth_type", "secret", "secret_stored"]}),
        ("Status", {"fields": ["status", "status_detail", "status_checked_at", "oauth_expires_at", "paused_until"]}),
        ("Webhooks", {"fields": ["webhook_url", "webhook_secret"]}),
    ]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        from django.conf import settings

        return {"base_url": settings.GHL_DEFAULT_BASE_URL, **super().get_changeform_initial_data(request)}

    @admin.display(description="Secret")
    def secret_stored(self, obj: Connection) -> str:
        return "stored (encrypted)" if obj.has_secret else "none"

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: Connection) -> str:
        colour = {"ok": "green", "needs_reauth": "#b00", "error": "#b00"}.get(obj.status, "#666")
        return format_html('<b style="color:{}">{}</b>', colour, obj.get_status_display())

    def save_model(self, request: HttpRequest, obj: Connection, form: Any, change: bool) -> None:
        connection_services.connection_set_secret(connection=obj, secret=form.cleaned_data.get("secret", ""))
        connection_set_webhook_secret(connection=obj, secret=form.cleaned_data.get("webhook_secret", ""))
        super().save_model(request, obj, form, change)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        webhook_admin.remember_admin_base_url(request)
        return super().get_fieldsets(request, obj)

    @admin.display(description="Webhook URL")
    def webhook_url(self, obj: Connection) -> str:
        return webhook_admin.webhook_url_html(obj)

    # "Connect with GoHighLevel" (OAuth): the button is in templates/admin/integrations/connection/change_form.html.
    def get_urls(self) -> list[Any]:
        from django.urls import path

        from integrations.oauth_views import ghl_oauth_connect

        connect = self.admin_site.admin_view(ghl_oauth_connect)
        return [
            path("<int:pk>/oauth/connect/", connect, name="integrations_connection_oauth_connect"),
            *super().get_urls(),
        ]

    @admin.action(description="Test connection")
    def test_connections(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        for connection in queryset:
            result = connection_services.connection_test(connection=connection)
            level = messages.SUCCESS if result.ok else messages.ERROR
            self.message_user(request, f"{connection.name}: {result.message}", level)


ACTION_COLOURS = {"created": "#060", "updated": "#05a", "skipped": "#777", "failed": "#b00", "deleted": "#a50"}
DIRECTION_ARROWS = {"to_streettext": "GHL → StreetText", "to_ghl": "StreetText → GHL"}
DIFF_ROW = '<div><span class="field">{}</span> <del>{}</del> → <ins>{}</ins></div>'


def _run_link(run: SyncRun) -> str:
    return format_html('<a href="{}">#{}</a>', reverse("admin:integrations_syncrun_change", args=[run.pk]), run.pk)


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "mapping",
        "trigger",
        "status",
        "dry_run",
        "progress",
        "created",
        "updated",
        "skipped",
        "failed",
        "duration_display",
        "created_at",
    ]
    list_filter = ["status", "trigger", "dry_run", "mapping"]
    list_select_related = ["mapping"]
    search_fields = ["=id", "mapping__name", "error"]
    date_hierarchy = "created_at"
    actions = ["rerun_failed"]
    readonly_fields = [
        "mapping",
        "trigger",
        "status",
        "dry_run",
        "progress",
        "created",
        "updated",
        "skipped",
        "failed",
        "deleted",
        "history_link",
        "requested_by",
        "rerun_of",
        "only_ids",
        "created_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
        "duration_display",
        "error",
    ]
    fields = tuple(readonly_fields)
    change_form_template = "admin/integrations/syncrun/change_form.html"
    change_list_template = "admin/integrations/syncrun/change_list.html"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        # The list refreshes itself only while some run is going, so progress is visible without reloading.
        active = SyncRun.objects.filter(status__in=SyncRun.ACTIVE_STATUSES).exists()
        return super().changelist_view(request, {**(extra_context or {}), "has_active_runs": active})

    @admin.display(description="Progress")
    def progress(self, obj: SyncRun) -> str:
        if obj.total:
            return f"{obj.processed} / {obj.total}"
        return f"{obj.processed}"

    @admin.display(description="Duration")
    def duration_display(self, obj: SyncRun) -> str:
        duration = obj.duration
        return f"{duration.total_seconds():.1f} s" if duration is not None else "—"

    @admin.display(description="Record history")
    def history_link(self, obj: SyncRun) -> str:
        url = reverse("admin:integrations_recordhistory_changelist") + f"?run__id__exact={obj.pk}"
        return format_html('<a href="{}">{} record(s)</a>', url, obj.processed)

    def has_rerun_permission(self, request: HttpRequest) -> bool:
        """Starting runs is for people who may change mappings, not for viewers."""
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


@admin.register(RecordHistory)
class RecordHistoryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # The diff comes early so it is on screen without scrolling; the mapping is a filter, not a column.
    list_display = ["created_at", "run_link", "action_badge", "direction_arrow", "diff", "record", "note"]
    list_filter = ["action", "direction", "dry_run", "run__status", "mapping"]
    list_select_related = ["run", "mapping"]
    search_fields = ["=ghl_id", "=streettext_id", "email", "phone", "=run__id"]
    readonly_fields = [
        "run",
        "mapping",
        "created_at",
        "direction",
        "action",
        "reason",
        "ghl_id",
        "streettext_id",
        "email",
        "phone",
        "diff",
        "error",
        "dry_run",
    ]
    fields = tuple(readonly_fields)
    show_full_result_count = False

    @admin.display(description="Run", ordering="run")
    def run_link(self, obj: RecordHistory) -> str:
        return _run_link(obj.run)

    @admin.display(description="Action", ordering="action")
    def action_badge(self, obj: RecordHistory) -> str:
        colour = ACTION_COLOURS.get(obj.action, "#444")
        dry = " (dry run)" if obj.dry_run else ""
        return format_html('<b style="color:{}">{}</b>{}', colour, obj.get_action_display(), dry)

    @admin.display(description="Direction", ordering="direction")
    def direction_arrow(self, obj: RecordHistory) -> str:
        return DIRECTION_ARROWS.get(obj.direction, obj.direction)

    @admin.display(description="Record (GHL / StreetText)")
    def record(self, obj: RecordHistory) -> str:
        return format_html(
            "{}<br>{}<br><small>{}</small>", obj.ghl_id or "—", obj.streettext_id or "—", obj.email or obj.phone
        )

    @admin.display(description="Why / error")
    def note(self, obj: RecordHistory) -> str:
        if obj.error:
            return format_html('<span style="color:#b00">{}</span>', self.error_short(obj))
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


@admin.register(RecordLink)
class RecordLinkAdmin(admin.ModelAdmin):
    list_display = [
        "object_type",
        "ghl_id",
        "streettext_id",
        "ghl_connection",
        "streettext_connection",
        "last_synced_at",
    ]
    list_filter = ["object_type", "ghl_connection", "streettext_connection"]
    list_select_related = ["ghl_connection", "streettext_connection"]
    search_fields = ["=ghl_id", "=streettext_id"]
    readonly_fields = [
        "ghl_connection",
        "streettext_connection",
        "object_type",
        "ghl_id",
        "streettext_id",
        "origin",
        "label",
        "email",
        "last_synced_at",
        "created_at",
    ]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
