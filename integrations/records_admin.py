"""Admin pages for one record: "Find a record" (email, phone, name or either id) and the record page (its linked
pair, its whole story across runs with diffs, and "Sync this record now" / "Retry" for people who may run syncs)."""

from __future__ import annotations

from typing import Any

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Field, Layout, Submit
from django import forms
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from integrations.admin import ACTION_TONES, DIRECTION_LABELS, LINK_TYPE_LABELS
from integrations.middleware import bad_input_response
from integrations.models import RecordHistory, System
from integrations.record_selectors import SYSTEM_LABELS, record_search, record_story
from integrations.services.records import record_retry_request, record_sync_request
from integrations.services.runs import SyncRequestRefused
from mappings.models import Mapping

VIEW_PERMISSION = "integrations.view_recordhistory"
RUN_PERMISSION = "mappings.change_mapping"
RUN_QUEUED = (
    "Run #{run_id} queued for this record ({mapping}). What it changes shows below once it has run; a record with "
    "nothing new is counted as skipped on the run."
)
RETRY_QUEUED = "Retry queued as run #{run_id} ({mapping}); its row appears below once it has run."
MSG_NO_SUCH_FAILURE = "There is no such failed row for this record to retry; reload the record page"
SEARCH_HELP = "An email, a phone number, a name (its first letters) or a GoHighLevel or StreetText id."


class RecordSearchForm(forms.Form):
    q = forms.CharField(label="Find a record", max_length=200, required=False, help_text=SEARCH_HELP)

    def __init__(self, *args: Any, autofocus: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_method = "get"
        self.helper.form_action = reverse("admin:records")
        self.helper.form_class = "ss-crispy ss-record-search"
        self.helper.layout = Layout(
            Field("q", autofocus=autofocus, css_class="vTextField"),
            Submit("", "Search", css_class="default"),
        )


class RecordSyncForm(forms.Form):
    mapping = forms.ModelChoiceField(queryset=Mapping.objects.none(), empty_label=None, label="With the mapping")

    def __init__(self, *args: Any, mappings: list[Mapping], action: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["mapping"]
        field.queryset = Mapping.objects.filter(pk__in=[m.pk for m in mappings])
        field.choices = [(m.pk, m.name if m.enabled else f"{m.name} (switched off)") for m in mappings]
        field.initial = mappings[0].pk if mappings else None  # the mapping of the record's latest row comes first
        self.helper = FormHelper()
        self.helper.form_action = action
        self.helper.form_class = "ss-crispy ss-inline-form"
        self.helper.layout = Layout(
            Field("mapping", type="hidden") if len(mappings) == 1 else Field("mapping"),
            Submit("sync", "Sync this record now", css_class="default"),
        )


def _may_run(request: HttpRequest) -> bool:
    return bool(request.user.has_perm(RUN_PERMISSION))


def _check_view(request: HttpRequest) -> None:
    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied


def record_url(system: str, record_id: str) -> str:
    return reverse("admin:record", args=[system]) + "?" + urlencode({"id": record_id})


class RecordPages:
    """The views, bound to the admin site (its each_context, login and permissions)."""

    def __init__(self, site: AdminSite) -> None:
        self.site = site

    def urls(self) -> list[URLPattern]:
        wrap = self.site.admin_view
        return [
            path("records/", wrap(self.search_view), name="records"),
            path("records/<str:system>/", wrap(self.record_view), name="record"),
            path("records/<str:system>/sync/", wrap(require_POST(self.sync_view)), name="record_sync"),
        ]

    def _context(self, request: HttpRequest, title: str) -> dict[str, Any]:
        return {**self.site.each_context(request), "title": title}

    def search_view(self, request: HttpRequest) -> HttpResponse:
        _check_view(request)
        form = RecordSearchForm(request.GET or None)
        query: Any = None
        found: list[Any] = []
        if form.is_valid() and form.cleaned_data["q"]:
            query, found = record_search(text=form.cleaned_data["q"])
            if len(found) == 1:
                only = found[0]
                return HttpResponseRedirect(record_url(only.system, only.record_id))
        results = [
            {
                "found": f,
                "url": record_url(f.system, f.record_id),
                "type": LINK_TYPE_LABELS.get(f.object_type, f.object_type),
            }
            for f in found
        ]
        context = {**self._context(request, "Find a record"), "form": form, "query": query, "results": results}
        return TemplateResponse(request, "admin/records/search.html", context)

    def record_view(self, request: HttpRequest, system: str) -> HttpResponse:
        _check_view(request)
        record_id = (request.GET.get("id") or "").strip()
        if system not in SYSTEM_LABELS or not record_id:
            raise Http404("No such record")
        story = record_story(system=system, record_id=record_id, page=request.GET.get("page") or 1)
        if story.latest is None and not story.links:
            raise Http404("No history and no link for this record")
        user = request.user
        can_run = _may_run(request)
        action = reverse("admin:record_sync", args=[system]) + "?" + urlencode({"id": record_id})
        may_see_mappings = user.has_perm("mappings.view_mapping") or user.has_perm("mappings.change_mapping")
        context = {
            **self._context(request, story.label),
            "story": story,
            "system": system,
            "record_id": record_id,
            "system_label": SYSTEM_LABELS[system],
            "type_label": LINK_TYPE_LABELS.get(
                story.link.object_type if story.link else (story.latest.mapping.object_type if story.latest else ""),
                "",
            ),
            "rows": [_row(r, may_see_mappings) for r in story.timeline.object_list] if story.timeline else [],
            "can_run": can_run,
            "sync_form": RecordSyncForm(mappings=story.mappings, action=action) if can_run and story.mappings else None,
            "retry_action": action,
            "search_form": RecordSearchForm(autofocus=False),
            "may_see_connections": user.has_perm("integrations.view_connection"),
        }
        return TemplateResponse(request, "admin/records/record.html", context)

    def sync_view(self, request: HttpRequest, system: str) -> HttpResponse:
        _check_view(request)
        if not _may_run(request):
            raise PermissionDenied
        record_id = (request.GET.get("id") or "").strip()
        if system not in SYSTEM_LABELS or not record_id:
            raise Http404("No such record")
        back = HttpResponseRedirect(record_url(system, record_id))
        story = record_story(system=system, record_id=record_id)
        try:
            retry = request.POST.get("retry", "").strip()
            if retry:
                # Matched as text among this record's failures: no query with what was typed (a non-number was a 500).
                failed = next((r for r in story.failed if str(r.pk) == retry), None)
                if failed is None:
                    return bad_input_response(request, MSG_NO_SUCH_FAILURE)
                run = record_retry_request(failed=failed, requested_by=user_name(request))
                text = RETRY_QUEUED
            else:
                form = RecordSyncForm(request.POST, mappings=story.mappings, action="")
                if not form.is_valid():
                    messages.error(request, "Choose one of the mappings offered for this record.")
                    return back
                run = record_sync_request(
                    mapping=form.cleaned_data["mapping"],
                    ghl_id=story.ghl_id,
                    streettext_id=story.streettext_id,
                    requested_by=user_name(request),
                )
                text = RUN_QUEUED
        except SyncRequestRefused as e:
            messages.warning(request, str(e))
            return back
        url = reverse("admin:integrations_syncrun_change", args=[run.pk])
        messages.success(
            request,
            format_html('{} <a href="{}">Watch the run</a>.', text.format(run_id=run.pk, mapping=run.mapping), url),
        )
        return back


def user_name(request: HttpRequest) -> str:
    return str(request.user.get_username())


def _row(row: RecordHistory, may_see_mappings: bool) -> dict[str, Any]:
    changes = [
        (name, _show(change.get("before")), _show(change.get("after")))
        for name, change in sorted((row.changes or {}).items())
    ]
    return {
        "row": row,
        "tone": ACTION_TONES.get(row.action, "muted"),
        "direction": DIRECTION_LABELS.get(row.direction, row.direction),
        "changes": changes,
        "mapping_url": reverse("admin:mappings_mapping_change", args=[row.mapping_id]) if may_see_mappings else "",
        "system_ids": [(SYSTEM_LABELS[System.GHL], row.ghl_id), (SYSTEM_LABELS[System.STREETTEXT], row.streettext_id)],
    }


def _show(value: Any) -> str:
    if value is None or value == "":
        return "∅"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "∅"
    return str(value)
