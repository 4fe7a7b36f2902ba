"""Mapping admin: field mappings inline, Sync now / Dry run / Preview buttons, list actions."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from configs.models import ConfigVersion
from configs.services import config_version_baseline, config_version_record
from integrations.custom_fields import CustomFieldList, FieldUse, custom_field_drift, custom_fields_for
from integrations.models import Connection, SyncRun, System
from integrations.selectors import mapping_state_runs
from integrations.services import runs as run_services
from integrations.templatetags.streetsync import run_status_badge
from mappings import services
from mappings.forms import FieldMappingForm, FieldMappingInlineFormSet, MappingForm, PresetForm
from mappings.models import Direction, FieldMapping, Mapping, target_system
from mappings.presets import PRESETS, preset_create
from mappings.rules import condition_fields
from mappings.selectors import mapping_resync_summary, mapping_scan_summary
from mappings.widgets import mapping_catalog

MSG_OUTDATED = (
    "{outdated} records were synced by this mapping before its last change. Sync now only reads records that changed "
    "since the last run, so these keep the old values until they change: use “Re-sync linked records” (a dry run "
    "first if you like) to bring them up to date."
)


def outdated_message(outdated: Any) -> str:
    return capfirst(MSG_OUTDATED.format(outdated=outdated))


class FieldMappingInline(admin.TabularInline):
    model = FieldMapping
    form = FieldMappingForm
    formset = FieldMappingInlineFormSet
    extra = 1
    fields = ["position", "direction", "target_field", "source_kind", "source", "transforms"]
    ordering = ["direction", "position", "id"]
    classes = ["ss-field-mappings"]


def _custom_lists(request: HttpRequest, mapping: Mapping | None) -> dict[str, CustomFieldList]:
    """The live custom fields of the mapping's two connections (on the add page: the ones posted), read once per
    request for each pair of connections (cached, never a long wait)."""
    ids = (getattr(mapping, "ghl_connection_id", None), getattr(mapping, "streettext_connection_id", None))
    object_type = getattr(mapping, "object_type", None) or "contact"
    memo: dict[Any, dict[str, CustomFieldList]] = request.__dict__.setdefault("_ss_custom_fields", {})
    if (ids, object_type) in memo:
        return memo[(ids, object_type)]
    refresh = request.GET.get("refresh_fields") == "1"
    lists: dict[str, CustomFieldList] = {}
    for system, connection_id in zip((System.GHL, System.STREETTEXT), ids, strict=True):
        if connection_id is None or mapping is None:
            # Nothing chosen yet: unknown, so no custom field is called missing (the page asks once one is chosen).
            lists[system] = CustomFieldList(known=False)
            continue
        connection = mapping.ghl_connection if system == System.GHL else mapping.streettext_connection
        lists[system] = custom_fields_for(connection=connection, object_type=object_type, refresh=refresh)
    memo[(ids, object_type)] = lists
    return lists


def _with_posted_connections(request: HttpRequest, obj: Mapping | None) -> Mapping | None:
    """The admin builds the inline before it reads the posted mapping: a new mapping's rows are checked against the
    custom fields of the connections chosen in the same post."""
    if obj is not None and obj.pk is not None:
        return obj
    if request.method != "POST":
        return None
    chosen = {str(c.pk): c for c in Connection.objects.filter(pk__in=_posted_ids(request))}
    ghl = chosen.get(request.POST.get("ghl_connection", ""))
    st = chosen.get(request.POST.get("streettext_connection", ""))
    if ghl is None or st is None or ghl.system != System.GHL or st.system != System.STREETTEXT:
        return None
    return Mapping(ghl_connection=ghl, streettext_connection=st, object_type=request.POST.get("object_type", ""))


def _posted_ids(request: HttpRequest) -> list[int]:
    values = (request.POST.get("ghl_connection", ""), request.POST.get("streettext_connection", ""))
    return [int(v) for v in values if v.isdigit()]


def _field_uses(mapping: Mapping, rows: list[FieldMapping]) -> list[FieldUse]:
    """Every GHL custom field the mapping reads or writes, and where, for the drift notices."""
    uses = []
    for row in rows:
        direction = Direction(row.direction).label
        if target_system(row.direction) == System.GHL:
            where = f"The field mapping {direction} writing it"
            uses.append(FieldUse(field=row.target_field, where=where, label=row.target_label, written=True))
        elif row.source_kind == FieldMapping.SourceKind.FIELD:
            where = f"The field mapping {direction} to {row.target_field}"
            uses.append(FieldUse(field=row.source, where=where, label=row.source_label))
    for name in condition_fields(mapping.record_filter or {}) if mapping.record_filter else set():
        uses.append(FieldUse(field=name, where="The filter “only records where”"))
    for rule in mapping.followup_rules or []:
        for name in condition_fields(rule.get("when") or {}) if isinstance(rule, dict) else set():
            uses.append(FieldUse(field=name, where=f"The follow-up rule “{rule.get('name') or rule.get('title')}”"))
    return uses


@admin.register(Mapping)
class MappingAdmin(admin.ModelAdmin):
    form = MappingForm
    inlines = [FieldMappingInline]
    # Key columns first; the two connections share one narrow column so Schedule, On and Last run stay on screen.
    list_display = ["name", "object_type", "direction", "schedule", "enabled", "last_run", "connections"]
    list_filter = ["enabled", "object_type", "direction"]
    list_select_related = ["ghl_connection", "streettext_connection"]
    search_fields = ["name"]
    actions = ["sync_now", "dry_run"]
    change_form_template = "admin/mappings/mapping/change_form.html"
    change_list_template = "admin/mappings/mapping/change_list.html"
    fieldsets = [
        (None, {"fields": ["name", "object_type", "ghl_connection", "streettext_connection", "direction", "enabled"]}),
        (
            "Matching",
            {"fields": ["match_rules", "phone_region", "ghl_external_id_field", "streettext_external_id_field"]},
        ),
        (
            "Behaviour",
            {
                "fields": [
                    "mode",
                    "record_filter",
                    "create_missing",
                    "conflict_policy",
                    "delete_policy",
                    "deletion_check_minutes",
                    "overwrite_tags",
                ]
            },
        ),
        ("Follow-up tasks", {"classes": ["collapse"], "fields": ["followup_rules"]}),
        ("Schedule", {"fields": ["schedule_minutes", "start_from"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Mapping]:
        # The last run's id and status in the same query: no per-row lookups, however many runs there are. The run that
        # gives the mapping's state, as on the start page: a one-record retry does not repaint it.
        last = mapping_state_runs().filter(mapping=OuterRef("pk")).order_by("-created_at", "-pk")
        return (
            super()
            .get_queryset(request)
            .annotate(last_run_id=Subquery(last.values("pk")[:1]), last_run_status=Subquery(last.values("status")[:1]))
        )

    @admin.display(description="Schedule")
    def schedule(self, obj: Mapping) -> str:
        return f"every {obj.schedule_minutes} min" if obj.schedule_minutes else "off"

    @admin.display(description="Last run")
    def last_run(self, obj: Mapping) -> str:
        run_id = getattr(obj, "last_run_id", None)
        if run_id is None:
            return "—"
        url = reverse("admin:integrations_syncrun_change", args=[run_id])
        return format_html('<a href="{}">#{}</a> {}', url, run_id, run_status_badge(obj.last_run_status))  # type: ignore[attr-defined]

    @admin.display(description="Connections")
    def connections(self, obj: Mapping) -> str:
        return format_html(
            '<span class="ss-small">{}<br>{}</span>', obj.ghl_connection.name, obj.streettext_connection.name
        )

    # Saving goes through the service so the beat schedule follows the mapping.
    def save_model(self, request: HttpRequest, obj: Mapping, form: Any, change: bool) -> None:
        config_version_baseline(kind=ConfigVersion.Kind.MAPPING, object_id=obj.pk)
        services.mapping_save(mapping=obj)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # With its field mappings saved: the version history keeps the mapping as it is now.
        config_version_record(obj=form.instance, author=request.user)
        if change:
            summary = mapping_resync_summary(mapping=form.instance)
            # "Save and continue editing" lands on the page, which shows the notice with its buttons already.
            if summary.outdated and "_continue" not in request.POST:
                self.message_user(request, outdated_message(summary.outdated), messages.WARNING)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Mapping | None:
        # The page reads the mapping with its connections once (the pickers and the drift notices need them).
        cached = getattr(request, "_ss_mapping", None)
        if cached is not None and str(cached.pk) == str(object_id):
            return cached  # type: ignore[no-any-return]
        obj = super().get_object(request, object_id, from_field)
        request._ss_mapping = obj  # type: ignore[attr-defined]
        return obj

    def get_formset_kwargs(self, request: HttpRequest, obj: Any, inline: Any, prefix: str) -> dict[str, Any]:
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, FieldMappingInline):
            kwargs["form_kwargs"] = {"custom_fields": _custom_lists(request, _with_posted_connections(request, obj))}
        return kwargs

    def _picker_context(self, request: HttpRequest, mapping: Mapping | None) -> dict[str, Any]:
        lists = _custom_lists(request, mapping)
        drift = []
        if mapping is not None and mapping.pk is not None:
            rows = list(mapping.field_mappings.all())
            drift = custom_field_drift(fields=lists[System.GHL], uses=_field_uses(mapping, rows))
        connections: dict[str, Any] = (
            {"ghl": str(mapping.ghl_connection_id), "streettext": str(mapping.streettext_connection_id)}
            if mapping is not None
            else {}
        )
        catalog = mapping_catalog(
            ghl_fields=lists[System.GHL],
            streettext_fields=lists[System.STREETTEXT],
            drift={d.field: {"state": d.state, "was": d.was, "now": d.now} for d in drift},
            connections=connections,
        )
        notes = [lists[s].note for s in (System.GHL, System.STREETTEXT) if not lists[s].known and lists[s].note]
        return {"catalog": catalog, "drift": drift, "custom_field_notes": notes}

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None) -> Any:
        # Read before the admin opens its transaction (the custom fields may need an API call; SQLite would lock).
        chosen = _with_posted_connections(request, None)
        _custom_lists(request, chosen)
        context = {**(extra_context or {}), **self._picker_context(request, chosen)}
        return super().add_view(request, form_url, extra_context=context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        mapping = (
            Mapping.objects.select_related("ghl_connection", "streettext_connection").filter(pk=object_id).first()
            if object_id.isdigit()
            else None
        )
        context = dict(extra_context or {})
        if mapping is not None:
            request._ss_mapping = mapping  # type: ignore[attr-defined]
            context["resync"] = resync = mapping_resync_summary(mapping=mapping)
            context["resync_notice"] = outdated_message(resync.outdated) if resync.outdated else ""
            context["scan_summary"] = mapping_scan_summary(mapping=mapping)
            context.update(self._picker_context(request, mapping))
        return super().change_view(request, object_id, form_url, extra_context=context)

    def custom_fields_view(self, request: HttpRequest, connection_pk: int) -> JsonResponse:
        """A connection's custom fields for the pickers, when the connection is chosen on the page."""
        if not self.has_change_permission(request) and not self.has_add_permission(request):
            raise PermissionDenied
        connection = get_object_or_404(Connection, pk=connection_pk)
        object_type = request.GET.get("object_type") or "contact"
        fields = custom_fields_for(connection=connection, object_type=object_type)
        return JsonResponse(
            {
                "system": connection.system,
                "known": fields.known,
                "note": fields.note,
                "fields": [
                    {"value": f.value, "label": f.name, "kind": f.kind, "options": list(f.options)}
                    for f in fields.fields
                ],
            }
        )

    def delete_model(self, request: HttpRequest, obj: Mapping) -> None:
        services.mapping_delete(mapping=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Mapping]) -> None:
        for mapping in queryset:
            services.mapping_delete(mapping=mapping)

    # -- runs -----------------------------------------------------------------------------------------------------
    def _request_runs(self, request: HttpRequest, mappings: Any, *, dry_run: bool) -> list[SyncRun]:
        started = []
        for mapping in mappings:
            try:
                started.append(
                    run_services.sync_run_request(
                        mapping=mapping,
                        trigger=SyncRun.Trigger.MANUAL,
                        dry_run=dry_run,
                        requested_by=request.user.get_username(),
                    )
                )
            except run_services.SyncRequestRefused as e:
                self.message_user(request, str(e), messages.WARNING)
        if started:
            kind = "dry run" if dry_run else "sync"
            self.message_user(
                request,
                ngettext("%(n)d %(kind)s queued.", "%(n)d %(kind)ss queued.", len(started))
                % {"n": len(started), "kind": kind},
                messages.SUCCESS,
            )
        return started

    @admin.action(description="Sync now")
    def sync_now(self, request: HttpRequest, queryset: QuerySet[Mapping]) -> None:
        self._request_runs(request, queryset, dry_run=False)

    @admin.action(description="Dry run (history only, writes nothing)")
    def dry_run(self, request: HttpRequest, queryset: QuerySet[Mapping]) -> None:
        self._request_runs(request, queryset, dry_run=True)

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/sync/", wrap(require_POST(self.sync_view)), name="mappings_mapping_sync"),
            path("<int:pk>/preview/", wrap(self.preview_view), name="mappings_mapping_preview"),
            path("presets/", wrap(self.presets_view), name="mappings_mapping_presets"),
            path(
                "custom-fields/<int:connection_pk>/",
                wrap(self.custom_fields_view),
                name="mappings_mapping_custom_fields",
            ),
            *super().get_urls(),
        ]

    def sync_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        mapping = get_object_or_404(Mapping, pk=pk)
        if not self.has_change_permission(request, mapping):
            raise PermissionDenied
        dry_run = request.POST.get("dry_run") == "1"
        if request.POST.get("scope") == SyncRun.Scope.LINKED:
            try:
                started = [
                    run_services.sync_run_request_resync(
                        mapping=mapping, dry_run=dry_run, requested_by=request.user.get_username()
                    )
                ]
            except run_services.SyncRequestRefused as e:
                self.message_user(request, str(e), messages.WARNING)
                started = []
        else:
            started = self._request_runs(request, [mapping], dry_run=dry_run)
        if started:
            return HttpResponseRedirect(reverse("admin:integrations_syncrun_change", args=[started[0].pk]))
        return HttpResponseRedirect(reverse("admin:mappings_mapping_change", args=[pk]))

    def presets_view(self, request: HttpRequest) -> HttpResponse:
        """One click: a working mapping (or a few) with default field mappings for a pattern."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = PresetForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            created = preset_create(
                key=form.cleaned_data["preset"],
                ghl=form.cleaned_data["ghl_connection"],
                streettext=form.cleaned_data["streettext_connection"],
                **(
                    {"followup": form.cleaned_data["followup"]}
                    if form.cleaned_data["preset"] == "contact_data_sync"
                    else {}
                ),
            )
            self.message_user(request, f"Created: {', '.join(m.name for m in created)}.", messages.SUCCESS)
            if len(created) == 1:
                return HttpResponseRedirect(reverse("admin:mappings_mapping_change", args=[created[0].pk]))
            return HttpResponseRedirect(reverse("admin:mappings_mapping_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "presets": PRESETS.values(),
            "title": "Add a mapping from a pattern",
        }
        return TemplateResponse(request, "admin/mappings/mapping/presets.html", context)

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        mapping = get_object_or_404(Mapping.objects.select_related("ghl_connection", "streettext_connection"), pk=pk)
        if not self.has_change_permission(request, mapping):
            raise PermissionDenied
        direction = request.GET.get("direction") or mapping.directions[0]
        if direction not in mapping.directions:
            direction = mapping.directions[0]
        preview = services.mapping_preview(mapping=mapping, direction=direction, record_id=request.GET.get("id", ""))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "mapping": mapping,
            "preview": preview,
            "directions": [(d, Direction(d).label) for d in mapping.directions],
            "title": f"Preview: {mapping.name}",
        }
        return TemplateResponse(request, "admin/mappings/mapping/preview.html", context)
