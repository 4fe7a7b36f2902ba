"""A version of a mapping's or an automation's configuration: the document it exported as at that moment."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ConfigVersion(models.Model):
    """One saved state of one mapping or automation, as the document `export_config` writes (no secrets)."""

    class Kind(models.TextChoices):
        MAPPING = "mapping", "Mapping"
        AUTOMATION = "automation", "Automation"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    object_id = models.PositiveBigIntegerField(help_text="The mapping's or automation's id.")
    name = models.CharField(max_length=120, help_text="Its name when this version was saved.")
    number = models.PositiveIntegerField(help_text="1 for the first version seen, then one more for each change.")
    document = models.JSONField(help_text="The configuration as exported (connections by name, no secrets).")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True, help_text="How this version came about.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["kind", "object_id", "-number"]
        verbose_name = "configuration version"
        constraints = [
            models.UniqueConstraint(fields=["kind", "object_id", "number"], name="config_version_number_once")
        ]
        indexes = [models.Index(fields=["kind", "object_id", "-number"], name="config_version_latest")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} “{self.name}” v{self.number}"
