"""CSV export of an admin list as it is filtered on screen: record history (and its failures), automation items,
the catalog's execution log. Streamed a chunk of rows at a time, so a million rows never sit in memory."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import path
from django.utils import timezone

EXPORT_CHUNK = 2000
# A cell a spreadsheet would read as a formula (CSV injection): prefixed with a quote so it stays text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file-like object whose write() hands the line back, for csv.writer inside a streamed response."""

    def write(self, value: str) -> str:
        return value


def csv_cell(value: Any) -> str:
    """One value as a spreadsheet-safe text cell: datetimes in ISO 8601 (UTC), JSON for dicts and lists."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if timezone.is_aware(value) else value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_lines(header: list[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([csv_cell(v) for v in row])


class CsvExportMixin:
    """Adds `<changelist>/export.csv`: the rows the list shows with its current filters, search and order.

    `csv_columns` lists (header, field path for values_list); a person who may view the list may export it."""

    csv_columns: tuple[tuple[str, str], ...] = ()
    csv_filename = "export"

    def get_urls(self) -> list[Any]:
        model_admin: Any = self
        opts = model_admin.model._meta
        view: Callable[..., Any] = model_admin.admin_site.admin_view(self.export_csv_view)
        name = f"{opts.app_label}_{opts.model_name}_export_csv"
        return [path("export.csv", view, name=name), *super().get_urls()]  # type: ignore[misc]

    def export_csv_view(self, request: HttpRequest) -> StreamingHttpResponse:
        model_admin: Any = self
        if not model_admin.has_view_permission(request):
            raise PermissionDenied
        # The changelist's own queryset: its filters, search and ordering, without the page's LIMIT.
        queryset = model_admin.get_changelist_instance(request).queryset
        fields = [field for _, field in self.csv_columns]
        rows = queryset.values_list(*fields).iterator(chunk_size=EXPORT_CHUNK)
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response = StreamingHttpResponse(
            csv_lines([header for header, _ in self.csv_columns], rows), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{self.csv_filename}-{stamp}.csv"'
        return response


def export_url_name(model_admin: admin.ModelAdmin[Any]) -> str:
    opts = model_admin.model._meta
    return f"admin:{opts.app_label}_{opts.model_name}_export_csv"
