"""Admin for webhooks: the read-only delivery list, and the webhook URL shown on each connection."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from integrations.docs_admin import docs_linked
from integrations.models import Connection, System, WebhookDelivery
from integrations.webhooks.services import webhook_url

URL_HINTS = {
    System.GHL: "Enter it as the webhook URL of your GoHighLevel Marketplace app (see docs/webhooks.md).",
    System.STREETTEXT: "Enter it, with the webhook secret below, in StreetText's webhook settings.",
}
URL_AFTER_SAVE = "Shown once the connection is saved."

# The admin's own address, for when WEBHOOK_PUBLIC_BASE_URL is not set. Readonly-field callables get no request,
# so the change view stores it here first (a context variable is per thread / per task, never shared).
_admin_base_url: ContextVar[str] = ContextVar("webhook_admin_base_url", default="")


def remember_admin_base_url(request: HttpRequest) -> None:
    _admin_base_url.set(request.build_absolute_uri("/"))


def webhook_url_html(connection: Connection) -> str:
    if connection.pk is None:
        return URL_AFTER_SAVE
    base = settings.WEBHOOK_PUBLIC_BASE_URL or _admin_base_url.get()
    # The Copy button is wired by integrations/static/integrations/copy.js; without JS the URL can be selected.
    return format_html(
        '<code id="webhook-url-{}">{}</code>'
        '<button type="button" class="button ss-copy" data-copy="webhook-url-{}">Copy</button>'
        '<p class="ss-small">{}</p>',
        connection.pk,
        webhook_url(connection, base_url=base),
        connection.pk,
        docs_linked(URL_HINTS.get(System(connection.system), "")),
    )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "received_at",
        "source",
        "event_type",
        "connection",
        "record_id",
        "status",
        "payload_size",
        "error_short",
    ]
    list_filter = ["status", "source", "event_type", "connection"]
    list_select_related = ["connection"]
    search_fields = ["=webhook_id", "=record_id", "=contact_id"]
    date_hierarchy = "received_at"
    readonly_fields = [
        "connection",
        "source",
        "webhook_id",
        "event_type",
        "status",
        "error",
        "received_at",
        "signed_at",
        "processed_at",
        "payload_size",
        "object_type",
        "record_id",
        "contact_id",
        "pending_mapping_ids",
        "runs",
    ]
    fields = tuple(readonly_fields)
    show_full_result_count = False

    @admin.display(description="Error")
    def error_short(self, obj: WebhookDelivery) -> str:
        return obj.error[:120] + ("…" if len(obj.error) > 120 else "")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)
