"""Reads: the install's alert settings, a mapping's or automation's rule, recipients, the start page's inbox."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from alerts.models import Alert, AlertRule, AlertSettings

INBOX_SIZE = 20


def alert_settings() -> AlertSettings:
    """The install's settings: the one row, or (before anyone saved it) the defaults, unsaved. A read never writes;
    the admin makes the row when a person opens it (`alerts.services.alert_settings_row`)."""
    row = AlertSettings.objects.filter(pk=AlertSettings.SINGLETON_ID).first()
    return row if row is not None else AlertSettings(pk=AlertSettings.SINGLETON_ID)


def alert_rule_for(*, mapping_id: int | None = None, automation_id: int | None = None) -> AlertRule | None:
    if mapping_id is not None:
        return AlertRule.objects.filter(mapping_id=mapping_id).first()
    if automation_id is not None:
        return AlertRule.objects.filter(automation_id=automation_id).first()
    return None


def failing_runs_threshold(*, rule: AlertRule | None, install: AlertSettings) -> int:
    """Runs (polls) in a row before an alert: the subject's own, else the install's, else ALERT_FAILED_RUNS."""
    for value in (rule.failing_runs if rule else None, install.failing_runs, settings.ALERT_FAILED_RUNS):
        if value:
            return max(1, int(value))
    return 1


def alert_recipients(*, install: AlertSettings | None = None) -> list[str]:
    """The addresses set in the admin, else ADMINS (DJANGO_ADMIN_EMAILS), else the active superusers' addresses."""
    install = install or alert_settings()
    typed = [part.strip() for part in re.split(r"[\s,;]+", install.recipients or "") if part.strip()]
    if typed:
        return typed
    configured = [email for _, email in getattr(settings, "ADMINS", [])]
    if configured:
        return configured
    users = get_user_model().objects.filter(is_active=True, is_superuser=True).exclude(email="")
    return list(users.values_list("email", flat=True))


@dataclass
class Inbox:
    alerts: list[Alert]
    more: int  # open, not acknowledged, beyond the ones shown
    acknowledged: int  # open and acknowledged (still happening)


def alert_inbox() -> Inbox:
    """Open alerts nobody has acknowledged, newest first (one row per cause)."""
    waiting: QuerySet[Alert] = Alert.objects.filter(status=Alert.Status.OPEN, acknowledged_at__isnull=True)
    shown = list(
        waiting.select_related("mapping", "automation", "connection").order_by("-last_seen_at", "-id")[:INBOX_SIZE]
    )
    total = waiting.count() if len(shown) == INBOX_SIZE else len(shown)
    acknowledged = Alert.objects.filter(status=Alert.Status.OPEN, acknowledged_at__isnull=False).count()
    return Inbox(alerts=shown, more=max(0, total - len(shown)), acknowledged=acknowledged)
