"""The catalog in the admin: browse and search the operations, run one (a form built from the spec, pickers for ids),
send a raw request, and read the execution log. Views delegate to services; the log is read-only."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_GET

from integrations.admin_export import CsvExportMixin
from integrations.catalog import selectors
from integrations.catalog.forms import OperationForm, RawRequestForm, ghl_connections
from integrations.catalog.loader import KINDS, CatalogOperation, UnknownCatalogOperation, get_catalog
from integrations.catalog.models import RAW_REQUEST_KEY, CatalogExecution
from integrations.catalog.services import (
    Execution,
    catalog_execute,
    catalog_picker_options,
    catalog_raw_request,
    raw_request_split,
)
from integrations.input_checks import row_id
from integrations.templatetags.streetsync import badge

PERM_VIEW = "integrations.view_catalogexecution"
PERM_RUN = "integrations.run_catalog_operation"
PERM_RAW = "integrations.send_catalog_raw_request"
OUTCOME_TONES: dict[str, str] = {
    CatalogExecution.Outcome.SUCCEEDED.value: "ok",
    CatalogExecution.Outcome.FAILED.value: "bad",
    CatalogExecution.Outcome.NOT_SENT.value: "warn",
}
MSG_CANNOT_RUN = (
    "You can read the catalog and its log; running operations needs the “Can run catalog operations” permission."
)
MSG_NO_CONNECTION = "Add a GoHighLevel connection first: operations run on one."
ITEMS_SHOWN = 20
TITLE_FIELDS = ("name", "title", "fullName", "contactName", "subject", "email", "key", "slug")


def may_view(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.has_perm(PERM_VIEW) or user.has_perm(PERM_RUN))


def may_run(request: HttpRequest) -> bool:
    return bool(request.user.has_perm(PERM_RUN))


def may_send_raw(request: HttpRequest) -> bool:
    return bool(request.user.has_perm(PERM_RAW))


def _outcome_badge(outcome: str) -> str:
    try:
        label = CatalogExecution.Outcome(outcome).label
    except ValueError:
        label = outcome
    return badge(OUTCOME_TONES.get(outcome, "muted"), str(label))


def _title(item: dict[str, Any]) -> str:
    for name in TITLE_FIELDS:
        if item.get(name):
            return str(item[name])
    first, last = item.get("firstName") or "", item.get("lastName") or ""
    return f"{first} {last}".strip()


def result_context(execution: Execution | None) -> dict[str, Any]:
    """What the result panel shows: outcome, status, time, messages, items (triggers) and the answer, readably."""
    if execution is None:
        return {}
    response = execution.response
    if response is not None and response.is_json:
        shown = json.dumps(response.data, indent=2, ensure_ascii=False)
    elif response is not None and response.text:
        shown = response.text
    elif response is not None and response.size:
        shown = f"({response.size} bytes of {response.content_type or 'unknown type'})"
    else:
        shown = ""
    operation = execution.operation
    items_info = operation.items if operation is not None and operation.is_trigger else None
    items = execution.items if items_info is not None else []
    rows = [
        {
            "id": item.get(items_info.id_field) if items_info and items_info.id_field else "",
            "title": _title(item),
            "updated": item.get(items_info.updated_field) if items_info and items_info.updated_field else "",
        }
        for item in items[:ITEMS_SHOWN]
    ]
    log = execution.log
    return {
        "execution": execution,
        "outcome_badge": _outcome_badge(execution.outcome),
        "response_shown": shown,
        "items_info": items_info,
        "item_count": len(items),
        "item_rows": rows,
        "result_log_url": reverse("admin:integrations_catalogexecution_change", args=[log.pk]) if log else "",
    }


# ------------------------------------------------------------------------------
# Pages
# ------------------------------------------------------------------------------
def _page(request: HttpRequest, site: admin.AdminSite, template: str, title: str, **context: Any) -> TemplateResponse:
    return TemplateResponse(
        request,
        template,
        {
            **site.each_context(request),
            "title": title,
            "can_run": may_run(request),
            "can_raw": may_send_raw(request),
            **context,
        },
    )


def index_view(request: HttpRequest, site: admin.AdminSite) -> TemplateResponse:
    """Browse and search the catalog by category and kind."""
    if not may_view(request):
        raise PermissionDenied
    search = request.GET.get("q", "").strip()
    kind = request.GET.get("kind") or None
    category = request.GET.get("category") or None
    if kind not in (None, *KINDS):
        kind = None
    categories = selectors.catalog_categories()
    if category not in {c.category.key for c in categories}:
        category = None
    operations = selectors.catalog_operations(kind=kind, category=category, search=search)
    sections = [
        (count, [op for op in operations if op.category == count.category.key])
        for count in categories
        if any(op.category == count.category.key for op in operations)
    ]
    catalog = get_catalog()
    return _page(
        request,
        site,
        "admin/catalog/index.html",
        "Operations catalog",
        categories=categories,
        sections=sections,
        found=len(operations),
        total=len(catalog.operations),
        search=search,
        kind=kind or "",
        category=category or "",
        not_built=catalog.not_built,
        log_url=reverse("admin:integrations_catalogexecution_changelist"),
    )


def _operation(key: str) -> CatalogOperation:
    try:
        return selectors.catalog_operation(key)
    except UnknownCatalogOperation as e:
        raise Http404(str(e)) from e


def operation_view(request: HttpRequest, site: admin.AdminSite, key: str) -> TemplateResponse:
    """One operation: what the spec says about it, its form, Run, and the answer."""
    if not may_view(request):
        raise PermissionDenied
    operation = _operation(key)
    execution: Execution | None = None
    if request.method == "POST":
        if not may_run(request):
            raise PermissionDenied
        form = OperationForm(request.POST, operation=operation)
        if form.is_valid():
            execution = catalog_execute(
                connection=form.cleaned_data["connection"],
                key=operation.key,
                params=form.params,
                body=form.body,
                user=request.user,
                origin=CatalogExecution.Origin.ADMIN,
            )
    else:
        initial = {}
        if request.GET.get("connection"):
            initial["connection"] = request.GET["connection"]
        form = OperationForm(initial=initial, operation=operation)
    category = get_catalog().category(operation.category)
    return _page(
        request,
        site,
        "admin/catalog/operation.html",
        operation.name,
        operation=operation,
        category=category,
        form=form,
        has_connections=ghl_connections().exists(),
        picker_url=reverse("admin:catalog_picker", args=["PICKER"]),
        recent=list(selectors.catalog_execution_recent(key=operation.key, limit=5)),
        log_url=reverse("admin:integrations_catalogexecution_changelist") + f"?operation_key={operation.key}",
        msg_cannot_run=MSG_CANNOT_RUN,
        msg_no_connection=MSG_NO_CONNECTION,
        **result_context(execution),
    )


def raw_view(request: HttpRequest, site: admin.AdminSite) -> TemplateResponse:
    """A request the catalog lacks, through the same client, governor and log."""
    if not may_send_raw(request):
        raise PermissionDenied
    execution: Execution | None = None
    if request.method == "POST":
        form = RawRequestForm(request.POST)
        if form.is_valid():
            path_only, query = raw_request_split(form.cleaned_data["path"])
            execution = catalog_raw_request(
                connection=form.cleaned_data["connection"],
                method=form.cleaned_data["method"],
                path=path_only,
                query=query,
                body=form.cleaned_data["body"],
                version=form.cleaned_data["version"],
                user=request.user,
            )
    else:
        form = RawRequestForm()
    return _page(
        request,
        site,
        "admin/catalog/raw.html",
        "Raw API request",
        form=form,
        has_connections=ghl_connections().exists(),
        recent=list(selectors.catalog_execution_recent(key=RAW_REQUEST_KEY, limit=5)),
        msg_no_connection=MSG_NO_CONNECTION,
        **result_context(execution),
    )


@require_GET
def picker_view(request: HttpRequest, site: admin.AdminSite, key: str) -> JsonResponse:
    """The choices of one picker on one connection, as JSON ({options: [{value, text}], error})."""
    if not may_run(request):
        raise PermissionDenied
    connection = get_object_or_404(ghl_connections(), pk=row_id(request.GET.get("connection")) or 0)
    result = catalog_picker_options(connection=connection, key=key, search=request.GET.get("search", ""))
    if result.picker is None:
        raise Http404(result.error)
    return JsonResponse(
        {
            "picker": key,
            "label": result.picker.label,
            "searchable": result.picker.searchable,
            "options": [{"value": value, "text": text} for value, text in result.options],
            "error": result.error,
        }
    )


def catalog_urls(site: admin.AdminSite) -> list[URLPattern]:
    """The catalog's pages under /admin/catalog/, behind the admin's login."""

    def wrap(view: Any) -> Any:
        def bound(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            return view(request, site, *args, **kwargs)  # type: ignore[no-any-return]

        return site.admin_view(bound)

    return [
        path("catalog/", wrap(index_view), name="catalog_index"),
        path("catalog/raw/", wrap(raw_view), name="catalog_raw"),
        path("catalog/pickers/<slug:key>/", wrap(picker_view), name="catalog_picker"),
        path("catalog/<slug:key>/", wrap(operation_view), name="catalog_operation"),
    ]


# ------------------------------------------------------------------------------
# The execution log
# ------------------------------------------------------------------------------
LOG_FIELDS = (
    "operation_display",
    "origin",
    "connection_display",
    "who",
    "started_at",
    "duration_ms",
    "outcome_display",
    "status_code",
    "request_display",
    "request_body_display",
    "response_display",
    "error_display",
    "truncated",
)


@admin.register(CatalogExecution)
class CatalogExecutionAdmin(CsvExportMixin, admin.ModelAdmin):
    csv_filename = "execution-log"
    csv_columns = (
        ("started_at", "started_at"),
        ("operation", "operation_key"),
        ("operation_name", "operation_name"),
        ("connection", "connection_name"),
        ("user", "user__username"),
        ("origin", "origin"),
        ("outcome", "outcome"),
        ("status_code", "status_code"),
        ("duration_ms", "duration_ms"),
        ("method", "method"),
        ("path", "path"),
        ("error", "error"),
    )
    list_display = ["when", "operation_name", "connection_name", "user", "outcome_column", "status_code", "duration"]
    list_display_links = ["when", "operation_name"]
    list_filter = ["outcome", "origin", "operation_name", "connection_name"]
    list_select_related = ["user"]
    search_fields = ["operation_key", "operation_name", "path", "error", "connection_name"]
    date_hierarchy = "started_at"
    fields = LOG_FIELDS
    readonly_fields = LOG_FIELDS
    change_list_template = "admin/catalog/log_change_list.html"
    change_form_template = "admin/catalog/log_change_form.html"

    # The log is written by catalog_execute() only and pruned by its retention task.
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="When", ordering="started_at")
    def when(self, obj: CatalogExecution) -> str:
        return format_html('<span class="ss-nowrap">{}</span>', f"{timezone.localtime(obj.started_at):%d %b %H:%M:%S}")

    @admin.display(description="Outcome", ordering="outcome")
    def outcome_column(self, obj: CatalogExecution) -> str:
        return _outcome_badge(obj.outcome)

    @admin.display(description="Outcome")
    def outcome_display(self, obj: CatalogExecution) -> str:
        return _outcome_badge(obj.outcome)

    @admin.display(description="Duration", ordering="duration_ms")
    def duration(self, obj: CatalogExecution) -> str:
        return format_html('<span class="ss-nowrap">{} ms</span>', obj.duration_ms)

    @admin.display(description="Operation")
    def operation_display(self, obj: CatalogExecution) -> str:
        if obj.operation_key == RAW_REQUEST_KEY:
            return obj.operation_name or "Raw request"
        try:
            selectors.catalog_operation(obj.operation_key)
        except UnknownCatalogOperation:
            return obj.operation_name or obj.operation_key
        url = reverse("admin:catalog_operation", args=[obj.operation_key])
        if obj.connection_id:
            url += f"?connection={obj.connection_id}"
        return format_html('<a href="{}">{}</a> <span class="ss-small">(run it again)</span>', url, obj.operation_name)

    @admin.display(description="Who")
    def who(self, obj: CatalogExecution) -> str:
        # The name only: a link would open the user's page, which only user admins may see.
        return obj.user.get_username() if obj.user is not None else "—"

    @admin.display(description="Connection")
    def connection_display(self, obj: CatalogExecution) -> str:
        return obj.connection_name or "—"

    @admin.display(description="Request")
    def request_display(self, obj: CatalogExecution) -> str:
        query = "&".join(
            f"{k}={v}" for k, values in obj.query.items() for v in (values if isinstance(values, list) else [values])
        )
        return format_html("<code>{} {}{}{}</code>", obj.method, obj.path, "?" if query else "", query)

    @admin.display(description="Request body")
    def request_body_display(self, obj: CatalogExecution) -> str:
        return format_html('<pre class="ss-pre">{}</pre>', obj.request_body) if obj.request_body else "—"

    @admin.display(description="Response")
    def response_display(self, obj: CatalogExecution) -> str:
        return format_html('<pre class="ss-pre">{}</pre>', obj.response_body) if obj.response_body else "—"

    @admin.display(description="Error")
    def error_display(self, obj: CatalogExecution) -> str:
        return format_html('<pre class="ss-pre">{}</pre>', obj.error) if obj.error else "—"
