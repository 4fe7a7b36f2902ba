"""Celery beat's crontab page, made safe for a schedule that does not parse.

django-celery-beat's admin shows `human_readable` on the crontab form; for an invalid entry (a minute of "-1") the
form is shown again with its errors, and rendering `human_readable` of the unsaved entry raised celery's
ParseException: a 500 instead of the form's own message. Registered once the admin has discovered every app.
"""

from __future__ import annotations

from django.contrib import admin
from django_celery_beat.admin import CrontabScheduleAdmin
from django_celery_beat.models import CrontabSchedule

UNREADABLE = "—"


class SafeCrontabScheduleAdmin(CrontabScheduleAdmin):
    fields = ("readable", "minute", "hour", "day_of_month", "month_of_year", "day_of_week", "timezone")
    readonly_fields = ("readable",)
    list_display = ("__str__", "readable")

    @admin.display(description="Human readable")
    def readable(self, obj: CrontabSchedule) -> str:
        try:
            return str(obj.human_readable)
        except Exception:  # noqa: BLE001 - celery's parser raises its own ParseException (and others) for bad entries
            return UNREADABLE


def register(site: admin.AdminSite) -> None:
    if site.is_registered(CrontabSchedule):
        site.unregister(CrontabSchedule)
    site.register(CrontabSchedule, SafeCrontabScheduleAdmin)
