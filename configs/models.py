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


class Template(models.Model):
    """Mappings and automations saved as one document to be applied to many GoHighLevel locations: the configuration
    file's document (configs/documents.py) with each connection replaced by a placeholder (TEMPLATE_GHL,
    TEMPLATE_STREETTEXT) that the location's own connections fill in."""

    name = models.CharField(max_length=80, unique=True, help_text="Unique, e.g. “Dental clinic starter”.")
    description = models.TextField(blank=True)
    version = models.PositiveIntegerField(
        default=1, editable=False, help_text="One more each time the document changes."
    )
    document = models.JSONField(
        help_text="Mappings and automations as a configuration file has them, connections as placeholders."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TemplateUse(models.Model):
    """One mapping or automation made from a template for one location: which template item, at which version, with
    which connections. What “Update N locations” finds and rewrites."""

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="uses")
    kind = models.CharField(max_length=20, choices=ConfigVersion.Kind.choices)
    object_id = models.PositiveBigIntegerField(help_text="The mapping's or automation's id.")
    item = models.CharField(max_length=120, help_text="The name of the mapping or automation in the template.")
    ghl_connection = models.ForeignKey(
        "integrations.Connection", on_delete=models.CASCADE, related_name="+", verbose_name="location"
    )
    streettext_connection = models.ForeignKey(
        "integrations.Connection", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version = models.PositiveIntegerField(help_text="The template's version it was last applied at.")
    applied_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["template", "ghl_connection", "kind", "item"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "object_id"], name="template_use_one_per_object"),
            models.UniqueConstraint(
                fields=["template", "ghl_connection", "kind", "item"], name="template_use_one_per_location_item"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template} v{self.version}: {self.get_kind_display().lower()} “{self.item}”"
