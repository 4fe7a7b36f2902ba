"""Automations in the admin: the list with last poll and status, an automation's page (trigger, which items, actions
inline, Run now, Test trigger), an action's page (its fields with the mapping page's pickers), presets, and the
read-only polls and items history. Views delegate to services; viewers read and run nothing."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F, Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from automations import selectors
from automations.forms import (
    ActionInlineForm,
    ActionInlineFormSet,
    AutomationForm,
    FieldRowForm,
    FieldRowFormSet,
    PathInlineForm,
    PathInlineFormSet,
    PresetForm,
    action_choices,
    wait_text,
)
from automations.models import (
    Automation,
    AutomationAction,
    AutomationActionRun,
    AutomationFieldMapping,
    AutomationItem,
    AutomationPath,
    AutomationPoll,
)
from automations.presets import PRESETS, automation_create_from_preset
from automations.services import automations as services
from automations.services import polls, waits
from automations.steps import StepTree
from configs.models import ConfigVersion
from configs.services import config_version_baseline, config_version_record
from integrations.admin_export import CsvExportMixin
from integrations.catalog.services import catalog_picker_options
from integrations.templatetags.streetsync import badge, run_status_badge

PERM_RUN = "automations.run_automation"
MSG_CANNOT_RUN = "Running automations needs the “Can run automations” permission."
CHANGE_TONES = {"new": "info", "updated": "warn", "baseline": "muted"}
STATUS_TONES = {
    "pending": "info",
    "done": "ok",
    "failed": "bad",
    "skipped": "muted",
    "waiting": "warn",
    "cancelled": "muted",
}
STATE_TONES = {
    "pending": "muted",
    "sending": "warn",
    "done": "ok",
    "failed": "bad",
    "skipped": "muted",
    "not_met": "muted",
    "waiting": "warn",
    "cancelled": "muted",
}
DIFF_ROW = '<div><span class="field">{}</span> <del>{}</del> → <ins>{}</ins></div>'
DIFF_SHOWN = 6


def may_run(request: HttpRequest) -> bool:
    return bool(request.user.has_perm(PERM_RUN))


def _show(value: Any) -> str:
    if value is None or value == "":
        return "∅"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "∅"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def action_label(action: AutomationAction) -> str:
    """ "StreetText: Create a task", "GoHighLevel: Add Contact to Workflow", "Paths (first matching)", "Wait 1d"."""
    if action.kind == AutomationAction.Kind.ROUTER:
        return f"Paths ({action.get_router_mode_display().lower()})"
    if action.kind == AutomationAction.Kind.WAIT:
        return f"Wait {wait_text(action)}"
    names = dict(choice for _, group in action_choices() for choice in group)
    return f"{action.get_system_display()}: {names.get(f'{action.system}:{action.operation}', action.operation)}"


def _ago(moment: Any) -> str:
    return f"{timezone.localtime(moment):%d %b %H:%M}" if moment else ""


# ------------------------------------------------------------------------------
# Automations
# ------------------------------------------------------------------------------
class ActionInline(admin.TabularInline):
    model = AutomationAction
    form = ActionInlineForm
    formset = ActionInlineFormSet
    extra = 0
    fields = [
        "position",
        "path",
        "what",
        "name",
        "condition",
        "wait",
        "router_mode",
        "create_missing_contact",
        "fields_link",
    ]
    readonly_fields = ["fields_link"]
    ordering = [F("path").asc(nulls_first=True), "position", "id"]
    verbose_name = "step"
    verbose_name_plural = "Steps (in this order for each item; a path's steps run when its router takes the path)"

    @admin.display(description="Action")
    def what(self, obj: AutomationAction) -> str:
        """What the action does, for those who may only read it."""
        return action_label(obj)

    @admin.display(description="Fields")
    def fields_link(self, obj: AutomationAction) -> str:
        if not obj.pk:
            return "Save first"
        if obj.kind != AutomationAction.Kind.ACTION:
            return "—"
        count = len(obj.field_mappings.all())
        url = reverse("admin:automations_automationaction_change", args=[obj.pk])
        return format_html('<a href="{}">{} field(s): edit</a>', url, count)

    def get_queryset(self, request: HttpRequest) -> QuerySet[AutomationAction]:
        return super().get_queryset(request).prefetch_related("field_mappings")


class PathInline(admin.TabularInline):
    """A router's paths: add a "Paths" step, save, then its paths here, save, then put steps in them above."""

    model = AutomationPath
    fk_name = "automation"
    form = PathInlineForm
    formset = PathInlineFormSet
    extra = 0
    fields = ["router", "position", "name", "condition", "otherwise"]
    ordering = ["router", "position", "id"]
    verbose_name_plural = "Paths (of the “Paths” steps above: each path's condition, tried in order)"


@admin.register(Automation)
class AutomationAdmin(admin.ModelAdmin):
    form = AutomationForm
    inlines = [ActionInline, PathInline]
    list_display = ["name_and_trigger", "actions_count", "schedule", "on", "last_poll"]
    list_display_links = ["name_and_trigger"]
    list_filter = ["enabled", "trigger_system"]
    search_fields = ["name", "trigger_key"]
    actions = ["run_now"]
    change_form_template = "admin/automations/automation/change_form.html"
    change_list_template = "admin/automations/automation/change_list.html"
    fieldsets = [
        (None, {"fields": ["name", "description", "enabled"]}),
        (
            "Trigger",
            {
                "fields": [
                    "ghl_connection",
                    "streettext_connection",
                    "trigger_key",
                    "trigger_params",
                    "trigger_body",
                    "each_message",
                ]
            },
        ),
        (
            "Which items",
            {"fields": ["on_new", "on_updated", "watch_fields", "record_filter", "filter_entered", "start_from"]},
        ),
        ("Schedule", {"fields": ["schedule_minutes", "phone_region"]}),
    ]

    # What a reader without the right to edit sees instead of the raw fields: names, not links to connection pages
    # they may not open, and the trigger's name, not the catalog's key.
    READER_FIELDS = {
        "ghl_connection": "ghl_connection_name",
        "streettext_connection": "streettext_connection_name",
        "trigger_key": "trigger",
    }

    def get_queryset(self, request: HttpRequest) -> QuerySet[Automation]:
        return selectors.automation_list_with_last_poll()

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        return [
            (
                name,
                {
                    **options,
                    "fields": [self.READER_FIELDS.get(f, f) if isinstance(f, str) else f for f in options["fields"]],
                },
            )
            for name, options in fieldsets
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and not self.has_change_permission(request, obj):
            readonly += list(self.READER_FIELDS.values())
        return readonly

    @admin.display(description="GHL connection")
    def ghl_connection_name(self, obj: Automation) -> str:
        return obj.ghl_connection.name if obj.ghl_connection is not None else "—"

    @admin.display(description="StreetText connection")
    def streettext_connection_name(self, obj: Automation) -> str:
        return obj.streettext_connection.name if obj.streettext_connection is not None else "—"

    @admin.display(description="Trigger")
    def trigger(self, obj: Automation) -> str:
        return selectors.trigger_label(obj)

    @admin.display(description="Automation", ordering="name")
    def name_and_trigger(self, obj: Automation) -> str:
        return format_html('{}<br><span class="ss-small">{}</span>', obj.name, selectors.trigger_label(obj))

    @admin.display(description="Actions")
    def actions_count(self, obj: Automation) -> int:
        return getattr(obj, "action_count", 0)

    @admin.display(description="Schedule")
    def schedule(self, obj: Automation) -> str:
        return f"every {obj.schedule_minutes} min" if obj.schedule_minutes else "Run now only"

    @admin.display(description="On", ordering="enabled")
    def on(self, obj: Automation) -> str:
        return badge("ok", "On") if obj.enabled else badge("muted", "Off")

    @admin.display(description="Last poll")
    def last_poll(self, obj: Automation) -> str:
        poll_id = getattr(obj, "last_poll_id", None)
        if poll_id is None:
            return format_html('<span class="ss-small">{}</span>', "Never run")
        url = reverse("admin:automations_automationpoll_change", args=[poll_id])
        failed = getattr(obj, "last_poll_failed", 0) or 0
        detail = f"{_ago(getattr(obj, 'last_poll_at', None))} · {getattr(obj, 'last_poll_handled', 0)} handled"
        if failed:
            detail += f" · {failed} failed"
        return format_html(
            '<a href="{}">{}</a><br><span class="ss-small">{}</span>',
            url,
            run_status_badge(getattr(obj, "last_poll_status", ""), short=True),
            detail,
        )

    # Saving goes through the service so the beat schedule follows the automation.
    def save_model(self, request: HttpRequest, obj: Automation, form: Any, change: bool) -> None:
        config_version_baseline(kind=ConfigVersion.Kind.AUTOMATION, object_id=obj.pk)
        services.automation_save(automation=obj)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # With its actions and their fields saved: the version history keeps the automation as it is now.
        config_version_record(obj=form.instance, author=request.user)

    def delete_model(self, request: HttpRequest, obj: Automation) -> None:
        services.automation_delete(automation=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Automation]) -> None:
        for automation in queryset:
            services.automation_delete(automation=automation)

    def _picker_context(self, automation: Automation | None) -> dict[str, Any]:
        return {"catalog": selectors.editor_catalog(automation=automation)}

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None) -> Any:
        return super().add_view(request, form_url, {**(extra_context or {}), **self._picker_context(None)})

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        automation = Automation.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        context = {**(extra_context or {}), **self._picker_context(automation), "may_run": may_run(request)}
        if automation is not None:
            context["recent_polls"] = list(automation.polls.order_by("-created_at", "-pk")[:5])
            context["trigger_label"] = selectors.trigger_label(automation)
            context["recent_items"] = [
                (item, CHANGE_TONES.get(item.change, "muted"), STATUS_TONES.get(item.status, "muted"))
                for item in selectors.automation_items_recent(automation=automation)
            ]
        return super().change_view(request, object_id, form_url, context)

    # -- running ----------------------------------------------------------------------------------------------
    def _request(self, request: HttpRequest, automations: Any) -> list[AutomationPoll]:
        if not may_run(request):
            raise PermissionDenied(MSG_CANNOT_RUN)
        started = []
        for automation in automations:
            try:
                started.append(
                    polls.automation_poll_request(
                        automation=automation,
                        trigger=AutomationPoll.Trigger.MANUAL,
                        requested_by=request.user.get_username(),
                    )
                )
            except polls.PollRefused as e:
                self.message_user(request, str(e), messages.WARNING)
        if started:
            self.message_user(
                request,
                ngettext("%(n)d poll queued.", "%(n)d polls queued.", len(started)) % {"n": len(started)},
                messages.SUCCESS,
            )
        return started

    @admin.action(description="Run now", permissions=["run"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[Automation]) -> None:
        self._request(request, queryset)

    def has_run_permission(self, request: HttpRequest) -> bool:
        return may_run(request)

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/run/", wrap(require_POST(self.run_view)), name="automations_automation_run"),
            path("<int:pk>/test/", wrap(self.test_view), name="automations_automation_test"),
            path("presets/", wrap(self.presets_view), name="automations_automation_presets"),
            *super().get_urls(),
        ]

    def run_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        automation = get_object_or_404(
            Automation.objects.select_related("ghl_connection", "streettext_connection"), pk=pk
        )
        started = self._request(request, [automation])
        if started:
            return HttpResponseRedirect(reverse("admin:automations_automationpoll_change", args=[started[0].pk]))
        return HttpResponseRedirect(reverse("admin:automations_automation_change", args=[pk]))

    def test_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Test trigger: a real sample item and what each action would receive. Writes nothing."""
        automation = get_object_or_404(
            Automation.objects.select_related("ghl_connection", "streettext_connection"), pk=pk
        )
        if not may_run(request):
            raise PermissionDenied(MSG_CANNOT_RUN)
        test = services.automation_test_trigger(automation=automation)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "automation": automation,
            "test": test,
            "trigger_label": selectors.trigger_label(automation),
            "title": f"Test trigger: {automation.name}",
        }
        return TemplateResponse(request, "admin/automations/automation/test.html", context)

    def presets_view(self, request: HttpRequest) -> HttpResponse:
        """Create an automation from a preset: pick it, then its connections and inputs (with pickers)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        key = request.POST.get("preset") or request.GET.get("preset") or ""
        preset = PRESETS.get(key)
        form = PresetForm(request.POST or None, preset=preset)
        if request.method == "POST" and preset is not None and request.POST.get("create") and form.is_valid():
            try:
                automation = automation_create_from_preset(
                    key=preset.key,
                    ghl=form.cleaned_data["ghl_connection"],
                    streettext=form.cleaned_data["streettext_connection"],
                    inputs=form.inputs(),
                )
            except ValueError as e:
                form.add_error(None, str(e))
            else:
                self.message_user(request, f"Created “{automation.name}”: it polls from now on.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:automations_automation_change", args=[automation.pk]))
        if request.method == "POST" and preset is not None and not request.POST.get("create"):
            form = PresetForm(initial=request.POST.dict(), preset=preset)
        choices = self._input_choices(form, preset)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "preset": preset,
            "presets": PRESETS.values(),
            "choices": choices,
            "title": f"New automation: {preset.label}" if preset else "New automation from a preset",
        }
        return TemplateResponse(request, "admin/automations/automation/presets.html", context)

    def _input_choices(self, form: PresetForm, preset: Any) -> dict[str, list[tuple[str, str]]]:
        """Choices for the preset's inputs from the GoHighLevel connection chosen (or the only one): offered as a
        list beside each text box (the box still takes an id typed by hand when a list cannot be loaded)."""
        if preset is None or not any(i.picker for i in preset.inputs):
            return {}
        field = form.fields["ghl_connection"]
        connection_id = form.data.get("ghl_connection") or form.initial.get("ghl_connection")
        connections = list(field.queryset)  # type: ignore[attr-defined]
        connection = next((c for c in connections if str(c.pk) == str(connection_id)), None)
        if connection is None and len(connections) == 1:
            connection = connections[0]
        if connection is None:
            return {}
        found = {}
        for spec in preset.inputs:
            if spec.picker:
                found[f"input_{spec.name}"] = catalog_picker_options(connection=connection, key=spec.picker).options
        return found


# ------------------------------------------------------------------------------
# An action's page: its fields
# ------------------------------------------------------------------------------
class FieldRowInline(admin.TabularInline):
    model = AutomationFieldMapping
    form = FieldRowForm
    formset = FieldRowFormSet
    extra = 1
    fields = ["position", "target_field", "source_kind", "source", "transforms"]
    ordering = ["position", "id"]
    classes = ["ss-field-mappings"]
    verbose_name_plural = "Fields (each from the trigger item, through transforms)"


@admin.register(AutomationAction)
class AutomationActionAdmin(admin.ModelAdmin):
    form = ActionInlineForm
    inlines = [FieldRowInline]
    fields = [
        "automation_link",
        "position",
        "path",
        "what",
        "name",
        "condition",
        "wait",
        "router_mode",
        "create_missing_contact",
    ]
    readonly_fields = ["automation_link"]
    change_form_template = "admin/automations/automationaction/change_form.html"

    def get_model_perms(self, request: HttpRequest) -> dict[str, bool]:
        # Reached from its automation's page, not listed on its own.
        return {}

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Automation")
    def automation_link(self, obj: AutomationAction) -> str:
        url = reverse("admin:automations_automation_change", args=[obj.automation_id])
        return format_html('<a href="{}">{}</a>', url, obj.automation)

    @admin.display(description="Action")
    def what(self, obj: AutomationAction) -> str:
        return action_label(obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet[AutomationAction]:
        return super().get_queryset(request).select_related("automation")

    def save_model(self, request: HttpRequest, obj: AutomationAction, form: Any, change: bool) -> None:
        config_version_baseline(kind=ConfigVersion.Kind.AUTOMATION, object_id=obj.automation_id)
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # An action's fields are part of its automation's configuration: a new version of the automation.
        config_version_record(obj=form.instance.automation, author=request.user)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        action = AutomationAction.objects.select_related("automation").filter(pk=object_id).first()
        context = dict(extra_context or {})
        if action is not None:
            context["catalog"] = selectors.editor_catalog(automation=action.automation, action=action)
            context["automation"] = action.automation
        return super().change_view(request, object_id, form_url, context)

    def response_change(self, request: HttpRequest, obj: AutomationAction) -> HttpResponse:
        if "_continue" in request.POST:
            return super().response_change(request, obj)
        self.message_user(request, f"Saved “{obj}”.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:automations_automation_change", args=[obj.automation_id]))

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: Any) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:automations_automation_changelist"))


# ------------------------------------------------------------------------------
# Polls and items history (written by the engine only)
# ------------------------------------------------------------------------------
class ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


POLL_FIELDS = (
    "automation_link",
    "trigger",
    "status_badge",
    "requested_by",
    "created_at",
    "started_at",
    "finished_at",
    "counts",
    "items_link",
    "error",
    "note",
    "attempts",
)


@admin.register(AutomationPoll)
class AutomationPollAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["poll_number", "automation", "trigger", "status_badge", "counts", "started"]
    list_display_links = ["poll_number"]
    list_filter = ["status", "trigger", "automation"]
    list_select_related = ["automation"]
    search_fields = ["=id", "automation__name", "error"]
    date_hierarchy = "created_at"
    fields = POLL_FIELDS
    readonly_fields = POLL_FIELDS
    # Reloads itself every 2 s while the poll is pending or running.
    change_form_template = "admin/automations/automationpoll/change_form.html"

    @admin.display(description="Poll", ordering="id")
    def poll_number(self, obj: AutomationPoll) -> str:
        return f"#{obj.pk}"

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: AutomationPoll) -> str:
        return run_status_badge(obj.status, short=True)

    @admin.display(description="Items")
    def counts(self, obj: AutomationPoll) -> str:
        return format_html(
            '<span class="ss-counts">{} new · {} updated · {} handled<br>{} skipped · {} failed · {} read in {} '
            "page(s)</span>",
            obj.new,
            obj.updated,
            obj.handled,
            obj.skipped,
            obj.failed,
            obj.seen,
            obj.pages,
        )

    @admin.display(description="Started", ordering="created_at")
    def started(self, obj: AutomationPoll) -> str:
        return format_html('<span class="ss-nowrap">{}</span>', _ago(obj.created_at))

    @admin.display(description="Automation")
    def automation_link(self, obj: AutomationPoll) -> str:
        url = reverse("admin:automations_automation_change", args=[obj.automation_id])
        return format_html('<a href="{}">{}</a>', url, obj.automation)

    @admin.display(description="Items history")
    def items_link(self, obj: AutomationPoll) -> str:
        url = reverse("admin:automations_automationitem_changelist") + f"?poll__id__exact={obj.pk}"
        return format_html('<a href="{}">The items this poll recorded</a>', url)


class HandledFilter(admin.SimpleListFilter):
    """Existing items (recorded at the start) are hidden unless asked for: the history is about what happened."""

    title = "kind"
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("all", "Everything, existing items too"), ("baseline", "Existing at the start only")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AutomationItem]) -> QuerySet[AutomationItem]:
        if self.value() == "all":
            return queryset
        if self.value() == "baseline":
            return queryset.filter(change=AutomationItem.Change.BASELINE)
        return queryset.exclude(change=AutomationItem.Change.BASELINE)

    def choices(self, changelist: Any) -> Any:
        choices = list(super().choices(changelist))
        choices[0]["display"] = "New and updated"  # what "All" shows here
        return choices


ITEM_FIELDS = ("automation_link", "poll_link", "item_label", "change_badge", "status_line", "reason", "error")


@admin.register(AutomationItem)
class AutomationItemAdmin(CsvExportMixin, ReadOnly, admin.ModelAdmin):
    csv_filename = "automation-items"
    csv_columns = (
        ("when", "created_at"),
        ("automation", "automation__name"),
        ("item_id", "item_id"),
        ("version", "version"),
        ("label", "label"),
        ("change", "change"),
        ("status", "status"),
        ("reason", "reason"),
        ("error", "error"),
        ("finished_at", "finished_at"),
        ("changes", "changes"),
    )
    change_list_template = "admin/automations/automationitem/change_list.html"
    list_display = ["when", "item_column", "change_badge", "status_badge", "actions_column", "diff"]
    list_display_links = ["when"]
    list_filter = [HandledFilter, "status", "change", "automation"]
    list_select_related = ["automation"]
    search_fields = ["=item_id", "label"]
    date_hierarchy = "created_at"
    actions = ["retry_items", "cancel_items"]
    fields = ITEM_FIELDS
    readonly_fields = ITEM_FIELDS
    change_form_template = "admin/automations/automationitem/change_form.html"
    list_per_page = 50

    def get_queryset(self, request: HttpRequest) -> QuerySet[AutomationItem]:
        runs = AutomationActionRun.objects.order_by("position", "id")
        return super().get_queryset(request).prefetch_related(Prefetch("action_runs", queryset=runs))

    @admin.display(description="When", ordering="created_at")
    def when(self, obj: AutomationItem) -> str:
        return format_html('<span class="ss-nowrap">{}</span>', _ago(obj.created_at))

    @admin.display(description="Item")
    def item_column(self, obj: AutomationItem) -> str:
        return format_html(
            '{}<br><span class="ss-small">{} · {}</span>', obj.label or obj.item_id, obj.item_id, obj.automation
        )

    @admin.display(description="Item")
    def item_label(self, obj: AutomationItem) -> str:
        return f"{obj.label or '—'} (id {obj.item_id}, version {obj.version})"

    @admin.display(description="Change", ordering="change")
    def change_badge(self, obj: AutomationItem) -> str:
        return badge(CHANGE_TONES.get(obj.change, "muted"), obj.get_change_display())

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: AutomationItem) -> str:
        html = badge(STATUS_TONES.get(obj.status, "muted"), obj.get_status_display())
        note = obj.error[:120] if obj.error else obj.reason
        if obj.status == AutomationItem.Status.WAITING and obj.resume_at:
            note = f"until {_ago(obj.resume_at)}"
        return format_html('{}<br><span class="ss-small">{}</span>', html, note) if note else html

    @admin.display(description="Status")
    def status_line(self, obj: AutomationItem) -> str:
        html = badge(STATUS_TONES.get(obj.status, "muted"), obj.get_status_display())
        if obj.status == AutomationItem.Status.WAITING and obj.resume_at:
            return format_html("{} until {}", html, _ago(obj.resume_at))
        return html

    @admin.display(description="Steps")
    def actions_column(self, obj: AutomationItem) -> str:
        runs = list(obj.action_runs.all())
        if not runs:
            return "—"
        return format_html_join(
            "<br>",
            '<span class="ss-small">{}.</span> {} <span class="ss-small">{}</span>',
            (
                (
                    run.position,
                    badge(STATE_TONES.get(run.state, "muted"), run.get_state_display()),
                    f"{run.label} {run.result_ids.get('id', '') if run.result_ids else ''}".strip(),
                )
                for run in runs
            ),
        )

    @admin.display(description="Changes (before → after)")
    def diff(self, obj: AutomationItem) -> str:
        if not obj.changes:
            return "—"
        rows = sorted(obj.changes.items())
        more = len(rows) - DIFF_SHOWN
        html = format_html(
            '<div class="diff">{}</div>',
            format_html_join(
                "",
                DIFF_ROW,
                ((name, _show(c.get("before"))[:60], _show(c.get("after"))[:60]) for name, c in rows[:DIFF_SHOWN]),
            ),
        )
        return format_html('{}<span class="ss-small">and {} more</span>', html, more) if more > 0 else html

    @admin.display(description="Automation")
    def automation_link(self, obj: AutomationItem) -> str:
        url = reverse("admin:automations_automation_change", args=[obj.automation_id])
        return format_html('<a href="{}">{}</a>', url, obj.automation)

    @admin.display(description="Poll")
    def poll_link(self, obj: AutomationItem) -> str:
        if obj.poll_id is None:
            return "—"
        return format_html(
            '<a href="{}">#{}</a>', reverse("admin:automations_automationpoll_change", args=[obj.poll_id]), obj.poll_id
        )

    @admin.action(description="Retry the failed actions of the selected items", permissions=["run"])
    def retry_items(self, request: HttpRequest, queryset: QuerySet[AutomationItem]) -> None:
        by_automation: dict[int, list[int]] = {}
        for automation_id, item_id in queryset.filter(status=AutomationItem.Status.FAILED).values_list(
            "automation_id", "pk"
        ):
            by_automation.setdefault(automation_id, []).append(item_id)
        if not by_automation:
            self.message_user(request, polls.NOTHING_TO_RETRY, messages.WARNING)
            return
        for automation in Automation.objects.filter(pk__in=by_automation).select_related(
            "ghl_connection", "streettext_connection"
        ):
            try:
                polls.automation_items_retry(
                    automation=automation,
                    item_ids=by_automation[automation.pk],
                    requested_by=request.user.get_username(),
                )
            except polls.PollRefused as e:
                self.message_user(request, str(e), messages.WARNING)
            else:
                count = len(by_automation[automation.pk])
                self.message_user(
                    request,
                    ngettext("%(n)d item queued again.", "%(n)d items queued again.", count) % {"n": count},
                    messages.SUCCESS,
                )

    @admin.action(description="Cancel the selected waiting items (they never resume)", permissions=["run"])
    def cancel_items(self, request: HttpRequest, queryset: QuerySet[AutomationItem]) -> None:
        count = 0
        for item in queryset.filter(status=AutomationItem.Status.WAITING):
            try:
                waits.automation_item_cancel(item=item, by=request.user.get_username())
            except waits.NotWaiting:
                continue
            count += 1
        if not count:
            self.message_user(request, waits.MSG_NOT_WAITING, messages.WARNING)
            return
        self.message_user(
            request,
            ngettext("%(n)d waiting item cancelled.", "%(n)d waiting items cancelled.", count) % {"n": count},
            messages.SUCCESS,
        )

    def has_run_permission(self, request: HttpRequest) -> bool:
        return may_run(request)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        item = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if item is not None:
            runs = list(item.action_runs.all())
            tree = StepTree.of(item.automation)
            steps = {step.pk: step for step in tree.walk()}
            context.update(
                {
                    "item": item,
                    "runs": [
                        (
                            run,
                            STATE_TONES.get(run.state, "muted"),
                            tree.depth(steps[run.action_id]) * 22 if run.action_id in steps else 0,
                            # A router's row names the paths it took (its note); their ids say nothing more.
                            {k: v for k, v in (run.result_ids or {}).items() if k not in ("paths", "names")},
                        )
                        for run in runs
                    ],
                    "fields": sorted(selectors.v.flatten(item.item or {}).items()),
                    "changes": sorted((item.changes or {}).items()),
                    "may_retry": item.status == AutomationItem.Status.FAILED and may_run(request),
                    "retry_url": reverse("admin:automations_automationitem_retry", args=[item.pk]),
                    "may_cancel": item.status == AutomationItem.Status.WAITING and may_run(request),
                    "cancel_url": reverse("admin:automations_automationitem_cancel", args=[item.pk]),
                }
            )
        return super().change_view(request, object_id, form_url, context)

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/retry/", wrap(require_POST(self.retry_view)), name="automations_automationitem_retry"),
            path("<int:pk>/cancel/", wrap(require_POST(self.cancel_view)), name="automations_automationitem_cancel"),
            *super().get_urls(),
        ]

    def retry_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        item = get_object_or_404(AutomationItem.objects.select_related("automation"), pk=pk)
        if not may_run(request):
            raise PermissionDenied(MSG_CANNOT_RUN)
        try:
            poll = polls.automation_items_retry(
                automation=item.automation, item_ids=[item.pk], requested_by=request.user.get_username()
            )
        except polls.PollRefused as e:
            self.message_user(request, str(e), messages.WARNING)
            return HttpResponseRedirect(reverse("admin:automations_automationitem_change", args=[pk]))
        self.message_user(request, "Queued again: its failed action and the ones after it.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:automations_automationpoll_change", args=[poll.pk]))

    def cancel_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """A waiting item is cancelled: it never resumes."""
        item = get_object_or_404(AutomationItem, pk=pk)
        if not may_run(request):
            raise PermissionDenied(MSG_CANNOT_RUN)
        try:
            waits.automation_item_cancel(item=item, by=request.user.get_username())
        except waits.NotWaiting as e:
            self.message_user(request, str(e), messages.WARNING)
        else:
            self.message_user(request, "Cancelled: it will not resume.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:automations_automationitem_change", args=[pk]))
