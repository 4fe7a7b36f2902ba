"""What every admin page gets, whoever registered it: no 500 on input a person or a script can type.

Applied once the admin has discovered every app (integrations/admin_apps.py), to every registered ModelAdmin, ours
and third parties' (Celery beat's, auth's):

- JSON form fields parse with the shared checks (integrations/input_checks.py): Django's `forms.JSONField` took
  JSON nested 100,000 deep or holding `"\\u0000"` / a lone `"\\ud800"` (a 500 when PostgreSQL stored it, or when the
  page shown again could not be encoded);
- the change list's date drill-down refuses a year it cannot compute (`?created_at__year=9999` or a 25-digit year
  raised ValueError/OverflowError outside Django's own check) as it refuses any bad filter: the list with a note;
- Celery beat's crontab page shows an entry that does not parse as "—" instead of raising celery's ParseException
  while the form is shown again with its errors; its periodic task form checks args/kwargs JSON with the shared checks
  before its own parser (which raised RecursionError on deep JSON).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.db import models
from django.forms.fields import InvalidJSONInput

from integrations.input_checks import InputRefused, json_parse, json_problem

UNREADABLE = "—"


class CheckedJSONField(forms.JSONField):
    """Django's JSON form field, parsing with the shared depth, NUL and surrogate checks."""

    def to_python(self, value: Any) -> Any:
        if not self.disabled and isinstance(value, str) and value not in self.empty_values:
            try:
                json_parse(value)
            except InputRefused as e:
                raise forms.ValidationError(str(e), code="invalid") from None
        elif isinstance(value, dict | list):
            problem = json_problem(value)
            if problem:
                raise forms.ValidationError(problem, code="invalid")
        return super().to_python(value)

    def bound_data(self, data: Any, initial: Any) -> Any:
        if self.disabled or not isinstance(data, str):
            return super().bound_data(data, initial)
        try:
            json_parse(data)
        except InputRefused:
            return InvalidJSONInput(data)  # shown again as typed, with the error
        return super().bound_data(data, initial)


class SafeChangeList(ChangeList):
    def get_filters(self, request: Any) -> Any:
        try:
            return super().get_filters(request)
        except (ValueError, OverflowError) as e:
            raise IncorrectLookupParameters(e) from e


def _safe_changelist(model_admin: admin.ModelAdmin[Any]) -> None:
    original = model_admin.get_changelist

    def get_changelist(request: Any, **kwargs: Any) -> type[ChangeList]:
        changelist = original(request, **kwargs)
        if changelist is ChangeList:
            return SafeChangeList
        return changelist

    model_admin.get_changelist = get_changelist  # type: ignore[method-assign]


def _safe_crontab(site: admin.AdminSite) -> None:
    from django_celery_beat.admin import CrontabScheduleAdmin
    from django_celery_beat.models import CrontabSchedule

    class SafeCrontabScheduleAdmin(CrontabScheduleAdmin):
        fields = ("readable", "minute", "hour", "day_of_month", "month_of_year", "day_of_week", "timezone")
        readonly_fields = ("readable",)
        list_display = ("__str__", "readable")

        @admin.display(description="Human readable")
        def readable(self, obj: CrontabSchedule) -> str:
            try:
                return str(obj.human_readable)
            except Exception:  # noqa: BLE001 - celery's parser raises its own ParseException (and others)
                return UNREADABLE

    if site.is_registered(CrontabSchedule):
        site.unregister(CrontabSchedule)
        site.register(CrontabSchedule, SafeCrontabScheduleAdmin)


def _safe_periodic_task(site: admin.AdminSite) -> None:
    from django_celery_beat.admin import PeriodicTaskAdmin, PeriodicTaskForm
    from django_celery_beat.models import PeriodicTask

    class SafePeriodicTaskForm(PeriodicTaskForm):
        def _clean_json(self, field: str) -> Any:
            value = self.cleaned_data[field]
            if value:
                try:
                    json_parse(value)
                except InputRefused as e:
                    raise forms.ValidationError(str(e)) from None
            return super()._clean_json(field)

    class SafePeriodicTaskAdmin(PeriodicTaskAdmin):
        form = SafePeriodicTaskForm

    if site.is_registered(PeriodicTask):
        site.unregister(PeriodicTask)
        site.register(PeriodicTask, SafePeriodicTaskAdmin)


def admin_site_harden(site: admin.AdminSite) -> None:
    _safe_crontab(site)
    _safe_periodic_task(site)
    for model_admin in site._registry.values():
        # An instance's own dict (ModelAdmin.__init__ merges the defaults into a copy): safe to extend in place.
        overrides: dict[Any, dict[str, Any]] = model_admin.formfield_overrides  # type: ignore[assignment]
        overrides.setdefault(models.JSONField, {}).setdefault("form_class", CheckedJSONField)
        _safe_changelist(model_admin)
