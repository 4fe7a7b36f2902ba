"""The catalog's execution log: one row per operation or raw request run, with secrets redacted.

The model belongs to the `integrations` app (imported by integrations/models.py); its migration is there too.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

RAW_REQUEST_KEY = "raw-request"


class CatalogExecution(models.Model):
    """One execution of a catalog operation (or a raw API request): who, when, what was sent and what came back."""

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        NOT_SENT = "not_sent", "Not sent (refused before sending)"

    class Origin(models.TextChoices):
        ADMIN = "admin", "Run from the admin"
        RAW = "raw", "Raw request from the admin"
        CODE = "code", "Automation or code"

    operation_key = models.CharField(
        "operation key", max_length=80, db_index=True, help_text="The catalog key, or raw-request."
    )
    operation_name = models.CharField(
        "operation", max_length=120, blank=True, help_text="The operation's name when it ran."
    )
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.CODE)
    connection = models.ForeignKey(
        "integrations.Connection", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    connection_name = models.CharField(
        "connection", max_length=120, blank=True, help_text="Kept when the connection is deleted."
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField("duration (ms)", default=0)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, db_index=True)
    status_code = models.PositiveSmallIntegerField("HTTP status", null=True, blank=True)
    method = models.CharField(max_length=10, blank=True)
    path = models.CharField(max_length=500, blank=True, help_text="The concrete path sent (or that would have been).")
    query = models.JSONField(default=dict, blank=True)
    request_body = models.TextField(blank=True, help_text="JSON, secrets redacted, truncated.")
    response_body = models.TextField(blank=True, help_text="JSON or text, secrets redacted, truncated.")
    truncated = models.BooleanField(default=False, help_text="The stored request or response was cut short.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = "execution"
        verbose_name_plural = "execution log"
        indexes = [
            models.Index(fields=["operation_key", "-started_at"], name="catalog_exec_op_started"),
            models.Index(fields=["connection", "-started_at"], name="catalog_exec_conn_started"),
        ]
        permissions = [
            ("run_catalog_operation", "Can run catalog operations"),
            ("send_catalog_raw_request", "Can send raw API requests"),
        ]

    def __str__(self) -> str:
        return f"{self.operation_name or self.operation_key} at {timezone.localtime(self.started_at):%d %b %H:%M:%S}"
