"""Alerts: one row per *cause* (a mapping whose runs keep failing the same records for the same reason, a mapping's
runs failing in a row, an automation's items failing for one reason, its polls failing in a row), not one per record
or per run; where they go (the start page's inbox, email, an outgoing webhook) and when (docs/alerts.md)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from integrations.clients.addresses import validate_base_url

MSG_ONE_SUBJECT = "Choose a mapping or an automation (one of them)."


class AlertSettings(models.Model):
    """Where alerts go, for the whole install (one row). Empty recipients: DJANGO_ADMIN_EMAILS, else the active
    superusers' addresses (as before this was set in the admin)."""

    SINGLETON_ID = 1

    email_enabled = models.BooleanField("email alerts", default=True, help_text="Email each new alert, once.")
    recipients = models.TextField(
        blank=True,
        help_text="Addresses, one a line or separated by commas. Empty: DJANGO_ADMIN_EMAILS, else the superusers' "
        "addresses.",
    )
    webhook_url = models.CharField(
        "alert webhook URL",
        max_length=500,
        blank=True,
        validators=[validate_base_url],
        help_text='Each new alert is posted here as Slack-compatible JSON ({"text": …}): a Slack or Mattermost '
        "incoming webhook, or your own endpoint. The address follows the connections' rules (https; no private "
        "or metadata addresses unless allowed). Empty: off.",
    )
    failing_runs = models.PositiveSmallIntegerField(
        "alert after failing runs",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="How many runs or polls in a row must fail (or fail the same records) before an alert. Empty: "
        "ALERT_FAILED_RUNS (3).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "alert settings"
        verbose_name_plural = "alert settings"

    def __str__(self) -> str:
        return "Alert settings"


class AlertRule(models.Model):
    """One mapping's or automation's own alert settings (without one, the install's settings apply)."""

    mapping = models.OneToOneField(
        "mappings.Mapping", null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rule"
    )
    automation = models.OneToOneField(
        "automations.Automation", null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rule"
    )
    enabled = models.BooleanField("alerts on", default=True, help_text="Off: no alert is raised for it.")
    failing_runs = models.PositiveSmallIntegerField(
        "alert after failing runs",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Runs (polls) in a row that fail, or fail the same records, before an alert. Empty: the install's "
        "setting.",
    )
    email = models.BooleanField("email", default=True, help_text="Email its new alerts (when email alerts are on).")
    webhook = models.BooleanField(
        "webhook", default=True, help_text="Post its new alerts to the alert webhook (when one is set)."
    )

    class Meta:
        verbose_name = "alert settings"
        verbose_name_plural = "alert settings per mapping or automation"
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(mapping__isnull=False) & models.Q(automation__isnull=True))
                | (models.Q(mapping__isnull=True) & models.Q(automation__isnull=False)),
                name="alert_rule_one_subject",
                violation_error_message=MSG_ONE_SUBJECT,
            )
        ]

    def __str__(self) -> str:
        return f"Alerts of {self.mapping or self.automation}"


class Alert(models.Model):
    """One cause that needs a person. Raised again while the cause persists (count, last seen, newest example),
    resolved when it stops, opened again if it comes back. The cause key is unique: one alert per cause."""

    class Kind(models.TextChoices):
        RECORDS_FAILING = "records_failing", "Records keep failing"
        RUNS_FAILING = "runs_failing", "Runs failing"
        ITEMS_FAILING = "items_failing", "Automation items failing"
        POLLS_FAILING = "polls_failing", "Automation polls failing"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    cause_key = models.CharField(max_length=200, unique=True, editable=False)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN, db_index=True)
    title = models.CharField(max_length=300, help_text="What happened, in one line.")
    cause = models.CharField(max_length=300, blank=True, help_text="The reason shared by every occurrence.")
    mapping = models.ForeignKey(
        "mappings.Mapping", null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    automation = models.ForeignKey(
        "automations.Automation", null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    connection = models.ForeignKey(
        "integrations.Connection", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    count = models.PositiveIntegerField(
        default=0, help_text="Records, items or runs affected (records: in the latest run; runs: in a row)."
    )
    occurrences = models.PositiveIntegerField(default=1, help_text="Times the cause was seen (runs or polls).")
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    example = models.TextField(blank=True, help_text="The newest example: which record or item, and its error.")
    example_url = models.CharField(max_length=300, blank=True, help_text="Where the example is (an admin page).")
    resolved_at = models.DateTimeField(null=True, blank=True)
    times_opened = models.PositiveIntegerField(default=1, help_text="1, and one more each time it came back.")
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    # Notifications: set by the conditional update that claims sending them, once per opening.
    notify_email = models.BooleanField(default=False, editable=False)
    notify_webhook = models.BooleanField(default=False, editable=False)
    emailed_at = models.DateTimeField(null=True, blank=True)
    webhook_sent_at = models.DateTimeField(null=True, blank=True)
    webhook_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        indexes = [models.Index(fields=["status", "acknowledged_at", "-last_seen_at"], name="alert_inbox")]

    def __str__(self) -> str:
        return self.title

    @property
    def subject(self) -> object:
        return self.mapping or self.automation or self.connection
