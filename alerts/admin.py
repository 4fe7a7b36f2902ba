"""Alerts in the admin: the list (one row per cause, acknowledged by a person), the install's alert settings (one
row: recipients, webhook, threshold) and each mapping's or automation's own settings."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from alerts.models import Alert, AlertRule, AlertSettings
from alerts.services import MSG_ACKNOWLEDGED, MSG_ALREADY_ACKNOWLEDGED, alert_settings_row, alerts_acknowledge

ALERT_FIELDS = (
    "title",
    "kind",
    "status",
    "cause",
    "subject_link",
    "count",
    "occurrences",
    "first_seen_at",
    "last_seen_at",
    "example",
    "example_link",
    "times_opened",
    "resolved_at",
    "acknowledged_by",
    "acknowledged_at",
    "emailed_at",
    "webhook_sent_at",
    "webhook_error",
)


class AcknowledgedFilter(admin.SimpleListFilter):
    title = "acknowledged"
    parameter_name = "acknowledged"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "Not yet"), ("yes", "Acknowledged")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Alert]) -> QuerySet[Alert]:
        if self.value() == "no":
            return queryset.filter(acknowledged_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(acknowledged_at__isnull=False)
        return queryset


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "status_badge", "count", "last_seen_at", "first_seen_at", "acknowledged"]
    list_filter = ["status", AcknowledgedFilter, "kind"]
    search_fields = ["title", "cause"]
    date_hierarchy = "last_seen_at"
    fields = ALERT_FIELDS
    readonly_fields = ALERT_FIELDS
    actions = ["acknowledge_selected"]
    list_select_related = ["acknowledged_by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:alert_id>/acknowledge/",
                self.admin_site.admin_view(self.acknowledge_view),
                name="alerts_alert_acknowledge",
            )
        ]
        return [*own, *super().get_urls()]

    def acknowledge_view(self, request: HttpRequest, alert_id: int) -> HttpResponse:
        """POST from the start page's inbox or the alert's page: this person has seen it."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        alert = get_object_or_404(Alert, pk=alert_id)
        if not self.has_change_permission(request, alert):
            raise PermissionDenied
        done = alerts_acknowledge(alert_ids=[alert.pk], user=request.user)
        if done:
            self.message_user(request, MSG_ACKNOWLEDGED.format(count=done), messages.SUCCESS)
        else:
            self.message_user(request, MSG_ALREADY_ACKNOWLEDGED, messages.INFO)
        target = request.POST.get("next") or ""
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
            target = reverse("admin:alerts_alert_changelist")
        return HttpResponseRedirect(target)

    @admin.action(description="Acknowledge the selected alerts", permissions=["change"])
    def acknowledge_selected(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        done = alerts_acknowledge(alert_ids=list(queryset.values_list("pk", flat=True)), user=request.user)
        self.message_user(request, MSG_ACKNOWLEDGED.format(count=done), messages.SUCCESS)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Alert) -> str:
        tone = "bad" if obj.status == Alert.Status.OPEN else "ok"
        return format_html('<span class="ss-badge ss-{}">{}</span>', tone, obj.get_status_display())

    @admin.display(description="acknowledged", ordering="acknowledged_at")
    def acknowledged(self, obj: Alert) -> str:
        if obj.acknowledged_at is None:
            return "—"
        who = obj.acknowledged_by.get_username() if obj.acknowledged_by else "someone"
        return f"{who}, {obj.acknowledged_at:%Y-%m-%d %H:%M}"

    @admin.display(description="about")
    def subject_link(self, obj: Alert) -> str:
        if obj.mapping_id:
            url = reverse("admin:mappings_mapping_change", args=[obj.mapping_id])
            return format_html('Mapping <a href="{}">{}</a>', url, obj.mapping)
        if obj.automation_id:
            url = reverse("admin:automations_automation_change", args=[obj.automation_id])
            return format_html('Automation <a href="{}">{}</a>', url, obj.automation)
        return str(obj.connection or "—")

    @admin.display(description="example's page")
    def example_link(self, obj: Alert) -> str:
        return format_html('<a href="{}">Open</a>', obj.example_url) if obj.example_url else "—"


@admin.register(AlertSettings)
class AlertSettingsAdmin(admin.ModelAdmin):
    """One row: the list opens it."""

    fields = ["email_enabled", "recipients", "webhook_url", "failing_runs"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        row = alert_settings_row()
        return HttpResponseRedirect(reverse("admin:alerts_alertsettings_change", args=[row.pk]))


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ["__str__", "enabled", "failing_runs", "email", "webhook"]
    list_filter = ["enabled", "email", "webhook"]
    fields = ["mapping", "automation", "enabled", "failing_runs", "email", "webhook"]
