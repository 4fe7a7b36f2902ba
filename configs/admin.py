"""Admin: every version of every mapping and automation (compare any two, roll back); the import and export pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from automations.models import Automation
from configs import documents, services, template_services
from configs.models import ConfigVersion, Template
from integrations.middleware import bad_input_response
from integrations.models import Connection, System
from mappings.models import Mapping

MSG_ROLLED_BACK = "{name} is as it was in version {number} again (saved as version {new})."
MSG_ROLLBACK_SAME = "{name} already is as it was in version {number}: nothing to roll back."
MAX_IMPORT_BYTES = 2 * 1024 * 1024
MSG_FILE_TOO_BIG = "The file is larger than 2 MB; a configuration file is far smaller."
MSG_NOT_TEXT = "The file is not UTF-8 text."
MSG_NOTHING_CHOSEN = "Choose at least one mapping or automation to export."


def _change_permission(request: HttpRequest, kind: str) -> bool:
    model = Mapping if kind == ConfigVersion.Kind.MAPPING else Automation
    return bool(request.user.has_perm(f"{model._meta.app_label}.change_{model._meta.model_name}"))


class ImportForm(forms.Form):
    file = forms.FileField(required=False, help_text="A .yaml, .yml or .json file made by Export (or by hand).")
    text = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 12, "cols": 100}), label="…or paste it here"
    )
    dry_run = forms.BooleanField(
        required=False, initial=True, label="Dry run: check and show what would change, write nothing"
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        upload = cleaned.get("file")
        if upload is not None:
            if upload.size > MAX_IMPORT_BYTES:
                raise forms.ValidationError(MSG_FILE_TOO_BIG)
            try:
                cleaned["content"] = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                raise forms.ValidationError(MSG_NOT_TEXT) from None
        else:
            cleaned["content"] = cleaned.get("text") or ""
        if not cleaned["content"].strip():
            raise forms.ValidationError("Choose a file or paste its text.")
        if "\x00" in cleaned["content"]:
            raise forms.ValidationError(MSG_NOT_TEXT)
        return cleaned


class ChooseObjectsForm(forms.Form):
    """Mappings and automations ticked in two lists (the export page; “Save as template”)."""

    mappings = forms.ModelMultipleChoiceField(
        queryset=Mapping.objects.order_by("name"), required=False, widget=forms.CheckboxSelectMultiple
    )
    automations = forms.ModelMultipleChoiceField(
        queryset=Automation.objects.order_by("name"), required=False, widget=forms.CheckboxSelectMultiple
    )


class ExportForm(ChooseObjectsForm):
    fmt = forms.ChoiceField(label="Format", choices=[("yaml", "YAML"), ("json", "JSON")], initial="yaml")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("mappings") and not cleaned.get("automations"):
            raise forms.ValidationError(MSG_NOTHING_CHOSEN)
        return cleaned


@admin.register(ConfigVersion)
class ConfigVersionAdmin(admin.ModelAdmin):
    list_display = ["version", "kind", "note", "author", "created_at"]
    list_display_links = ["version"]
    list_filter = ["kind"]
    search_fields = ["name"]
    list_select_related = ["author"]
    # The document is shown below as YAML with what changed, not as one long line of JSON.
    fields = readonly_fields = ("kind", "name", "number", "note", "author", "created_at")
    change_form_template = "admin/configs/configversion/change_form.html"
    change_list_template = "admin/configs/configversion/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        # A mapping's or automation's page links to its own versions.
        return lookup == "object_id" or super().lookup_allowed(lookup, value, request)

    @admin.display(description="Version", ordering="number")
    def version(self, obj: ConfigVersion) -> str:
        return format_html("{} “{}” <strong>v{}</strong>", obj.get_kind_display(), obj.name, obj.number)

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(self.import_view), name="configs_import"),
            path("export/", wrap(self.export_view), name="configs_export"),
            path("<int:pk>/rollback/", wrap(require_POST(self.rollback_view)), name="configs_rollback"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        version = get_object_or_404(ConfigVersion, pk=object_id) if object_id.isdigit() else None
        context = dict(extra_context or {})
        if version is not None:
            siblings = list(
                ConfigVersion.objects.filter(kind=version.kind, object_id=version.object_id)
                .exclude(pk=version.pk)
                .order_by("-number")
            )
            compare_to = _pick(siblings, request.GET.get("compare"), default_below=version.number)
            context.update(
                {
                    "version": version,
                    "siblings": siblings,
                    "compare_to": compare_to,
                    "changes": documents.diff(compare_to.document, version.document) if compare_to else [],
                    "text": documents.dump(version.document),
                    "may_roll_back": _change_permission(request, version.kind),
                    "object_url": _object_url(version),
                }
            )
        return super().change_view(request, object_id, form_url, context)

    def rollback_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = get_object_or_404(ConfigVersion, pk=pk)
        if not _change_permission(request, version.kind):
            raise PermissionDenied
        report = services.config_rollback(version=version, author=request.user)
        back = reverse("admin:configs_configversion_change", args=[pk])
        if not report.ok:
            for error in report.errors:
                self.message_user(request, error, messages.ERROR)
            return HttpResponseRedirect(back)
        latest = ConfigVersion.objects.filter(kind=version.kind, object_id=version.object_id).order_by("-number")[0]
        if report.lines and report.lines[0].action == "unchanged":
            self.message_user(request, MSG_ROLLBACK_SAME.format(name=version.name, number=version.number))
            return HttpResponseRedirect(back)
        self.message_user(
            request,
            MSG_ROLLED_BACK.format(name=latest.name, number=version.number, new=latest.number),
            messages.SUCCESS,
        )
        return HttpResponseRedirect(_object_url(version) or back)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not all(_change_permission(request, kind) for kind in ConfigVersion.Kind.values):
            raise PermissionDenied
        report = None
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            report = services.config_import(
                text=form.cleaned_data["content"], dry_run=form.cleaned_data["dry_run"], author=request.user
            )
        context = {**self.admin_site.each_context(request), "title": "Import configuration", "form": form}
        context["report"] = report
        return TemplateResponse(request, "admin/configs/configversion/import.html", context)

    def export_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = ExportForm(request.POST or None, initial=_initial_choice(request))
        # Only what this person may read is offered.
        for name, perm in (("mappings", "mappings.view_mapping"), ("automations", "automations.view_automation")):
            field = form.fields[name]
            if not request.user.has_perm(perm) and isinstance(field, forms.ModelMultipleChoiceField):
                field.queryset = field.queryset.none() if field.queryset is not None else None
        if request.method == "POST" and form.is_valid():
            fmt = form.cleaned_data["fmt"]
            text = services.config_export(
                mappings=list(form.cleaned_data["mappings"]),
                automations=list(form.cleaned_data["automations"]),
                fmt=fmt,
            )
            stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
            response = HttpResponse(text, content_type="application/json" if fmt == "json" else "application/yaml")
            response["Content-Disposition"] = f'attachment; filename="streetsync-config-{stamp}.{fmt}"'
            return response
        context = {**self.admin_site.each_context(request), "title": "Export configuration", "form": form}
        return TemplateResponse(request, "admin/configs/configversion/export.html", context)


def _pick(siblings: list[ConfigVersion], wanted: str | None, *, default_below: int) -> ConfigVersion | None:
    if wanted and wanted.isdigit():
        for other in siblings:
            if other.pk == int(wanted):
                return other
    below = [other for other in siblings if other.number < default_below]
    return below[0] if below else None


def _initial_choice(request: HttpRequest) -> dict[str, Any]:
    """The export page opened from a mapping's or an automation's page starts with that one ticked."""
    initial: dict[str, Any] = {}
    for key in ("mappings", "automations"):
        ids = [value for value in request.GET.getlist(key) if value.isdigit()]
        if ids:
            initial[key] = ids
    return initial


def _object_url(version: ConfigVersion) -> str:
    model = Mapping if version.kind == ConfigVersion.Kind.MAPPING else Automation
    if not model._default_manager.filter(pk=version.object_id).exists():
        return ""
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[version.object_id])


# -- templates ---------------------------------------------------------------------------------------------------------
MSG_TEMPLATE_UPDATED = "{name} is at version {version} now: {outdated} location(s) use an older one."
MSG_BAD_LOCATION = "Location {value!r} is not a GoHighLevel connection"
MSG_BAD_STREETTEXT = "{value!r} is not a StreetText connection"
MSG_NOTHING_TO_UPDATE = "Every location uses version {version} already: nothing to update."


class TemplateAddForm(forms.ModelForm, ChooseObjectsForm):
    """“Save as template”: a name and the mappings and automations to save."""

    class Meta:
        model = Template
        fields = ["name", "description"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("mappings") and not cleaned.get("automations"):
            raise forms.ValidationError(template_services.MSG_NOTHING_CHOSEN)
        self.instance.document = template_services.template_document(
            mappings=cleaned["mappings"], automations=cleaned["automations"]
        )
        for error in template_services.template_check_document(self.instance.document):
            self.add_error(None, error)
        return cleaned


class TemplateChangeForm(forms.ModelForm):
    """A template's name, description and document (YAML, as a configuration file has it)."""

    text = forms.CharField(
        label="Document",
        widget=forms.Textarea(attrs={"rows": 30, "cols": 110, "spellcheck": "false", "class": "ss-mono"}),
        help_text="Mappings and automations as a configuration file has them; connections are {{ghl}} and "
        "{{streettext}}, filled in for each location. Saving a change makes a new version.",
    )

    class Meta:
        model = Template
        fields = ["name", "description"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.fields["text"].initial = documents.dump(self.instance.document)

    def clean_text(self) -> dict[str, Any]:
        text = self.cleaned_data["text"]
        if len(text) > MAX_IMPORT_BYTES:
            raise forms.ValidationError(MSG_FILE_TOO_BIG)
        errors = template_services.template_check_document(text)
        if errors:
            raise forms.ValidationError(errors)
        return documents.load(text)


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "location_count", "updated_at"]
    search_fields = ["name"]
    readonly_fields = ["version"]
    change_form_template = "admin/configs/template/change_form.html"

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        kwargs["form"] = TemplateChangeForm if obj is not None else TemplateAddForm
        kwargs["fields"] = None
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["name", "description", "mappings", "automations"]
        return ["name", "version", "description", "text"]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {**super().get_changeform_initial_data(request), **_initial_choice(request)}

    def save_model(self, request: HttpRequest, obj: Template, form: Any, change: bool) -> None:
        if change:
            template_services.template_save(template=obj, document=form.cleaned_data["text"])
        else:
            obj.save()

    def get_queryset(self, request: HttpRequest) -> QuerySet[Template]:
        return super().get_queryset(request).annotate(location_total=Count("uses__ghl_connection", distinct=True))

    @admin.display(description="Locations", ordering="location_total")
    def location_count(self, obj: Template) -> int:
        return int(getattr(obj, "location_total", 0))

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/apply/", wrap(self.apply_view), name="configs_template_apply"),
            path("<int:pk>/update/", wrap(require_POST(self.update_view)), name="configs_template_update"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        template = Template.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        context = dict(extra_context or {})
        if template is not None:
            uses = template_services.template_locations(template=template)
            context["template_uses"] = uses
            context["outdated"] = [u for u in uses if u.version < template.version]
        return super().change_view(request, object_id, form_url, context)

    def response_change(self, request: HttpRequest, obj: Template) -> HttpResponse:
        outdated = template_services.template_outdated(template=obj)
        if outdated and "_continue" not in request.POST:
            self.message_user(
                request,
                MSG_TEMPLATE_UPDATED.format(name=obj.name, version=obj.version, outdated=len(outdated)),
                messages.WARNING,
            )
            return HttpResponseRedirect(reverse("admin:configs_template_change", args=[obj.pk]))
        return super().response_change(request, obj)

    def _report_page(
        self, request: HttpRequest, template: Template, context: dict[str, Any], status: int = 200
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "template": template,
            **context,
        }
        return TemplateResponse(request, "admin/configs/template/apply.html", context, status=status)

    def apply_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """GET: the GHL connections to choose, each with a StreetText connection or the shared one; POST “preview”
        shows what would be created, “apply” creates it (each location all or nothing)."""
        template = get_object_or_404(Template, pk=pk)
        if not self.has_change_permission(request, template) or not all(
            _change_permission(request, kind) for kind in ConfigVersion.Kind.values
        ):
            raise PermissionDenied
        ghl = list(Connection.objects.filter(system=System.GHL).select_related("agency").order_by("name"))
        streettext = list(Connection.objects.filter(system=System.STREETTEXT).order_by("name"))
        context: dict[str, Any] = {
            "title": f"Apply “{template.name}” to locations",
            "locations": ghl,
            "streettexts": streettext,
            # Opened from an agency's page: its locations come ticked.
            "chosen": {c.pk for c in ghl if str(c.agency_id) == request.GET.get("agency")},
            "picked": {},
            "shared": None,
        }
        status = 200
        if request.method == "POST":
            parsed = _parse_choice(request, ghl, streettext)
            if isinstance(parsed, str):
                return bad_input_response(request, parsed)
            chosen, picked, shared = parsed
            context.update(chosen={c.pk for c in chosen}, picked={k: v.pk for k, v in picked.items()}, shared=shared)
            report = template_services.template_apply(
                template=template,
                locations=chosen,
                streettext=dict(picked),
                shared_streettext=shared,
                dry_run="apply" not in request.POST,
                author=request.user,
            )
            context["report"] = report
            if report.errors:
                status = 400
            elif not report.dry_run:
                self.message_user(request, report.summary(), messages.SUCCESS if report.ok else messages.WARNING)
        return self._report_page(request, template, context, status)

    def update_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """POST “preview”: what updating every location on an older version would change; “update”: do it."""
        template = get_object_or_404(Template, pk=pk)
        if not self.has_change_permission(request, template) or not all(
            _change_permission(request, kind) for kind in ConfigVersion.Kind.values
        ):
            raise PermissionDenied
        if not template_services.template_outdated(template=template):
            self.message_user(request, MSG_NOTHING_TO_UPDATE.format(version=template.version))
            return HttpResponseRedirect(reverse("admin:configs_template_change", args=[pk]))
        report = template_services.template_update_locations(
            template=template, dry_run="update" not in request.POST, author=request.user
        )
        if not report.dry_run:
            self.message_user(request, report.summary(), messages.SUCCESS if report.ok else messages.WARNING)
        title = f"Update the locations of “{template.name}” to version {template.version}"
        return self._report_page(request, template, {"title": title, "report": report, "updating": True})


def _parse_choice(
    request: HttpRequest, ghl: list[Connection], streettext: list[Connection]
) -> tuple[list[Connection], dict[int, Connection], Connection | None] | str:
    """The chosen locations, their own StreetText connections and the shared one, or what was wrong (a 400)."""
    by_id = {str(c.pk): c for c in ghl}
    st_by_id = {str(c.pk): c for c in streettext}
    chosen = []
    for value in request.POST.getlist("location"):
        if value not in by_id:
            return MSG_BAD_LOCATION.format(value=value[:40])
        chosen.append(by_id[value])
    shared_value = request.POST.get("shared_streettext", "")
    if shared_value and shared_value not in st_by_id:
        return MSG_BAD_STREETTEXT.format(value=shared_value[:40])
    picked = {}
    for location in chosen:
        value = request.POST.get(f"streettext_{location.pk}", "")
        if value and value not in st_by_id:
            return MSG_BAD_STREETTEXT.format(value=value[:40])
        if value:
            picked[location.pk] = st_by_id[value]
    return chosen, picked, st_by_id.get(shared_value)
