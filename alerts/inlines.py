"""A mapping's and an automation's own alert settings, on their pages (inlines the two admins list)."""

from __future__ import annotations

from django.contrib import admin

from alerts.models import AlertRule

RULE_FIELDS = ("enabled", "failing_runs", "email", "webhook")


class MappingAlertRuleInline(admin.StackedInline):
    model = AlertRule
    fk_name = "mapping"
    fields = RULE_FIELDS
    extra = 1
    max_num = 1
    can_delete = False
    verbose_name = "alert settings"
    verbose_name_plural = "Alerts (without a change here, the install's Alert settings apply)"


class AutomationAlertRuleInline(admin.StackedInline):
    model = AlertRule
    fk_name = "automation"
    fields = RULE_FIELDS
    extra = 1
    max_num = 1
    can_delete = False
    verbose_name = "alert settings"
    verbose_name_plural = "Alerts (without a change here, the install's Alert settings apply)"
