"""Mappings: what to sync between a GHL connection and a StreetText connection, and how fields map."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower

from integrations.models import BaseModel, System
from integrations.object_types import object_type_choices


class Direction(models.TextChoices):
    TO_STREETTEXT = "to_streettext", "GoHighLevel → StreetText"
    TO_GHL = "to_ghl", "StreetText → GoHighLevel"
    BOTH = "both", "Both ways"


def source_system(direction: str) -> str:
    return System.GHL if direction == Direction.TO_STREETTEXT else System.STREETTEXT


def target_system(direction: str) -> str:
    return System.STREETTEXT if direction == Direction.TO_STREETTEXT else System.GHL


MATCH_RULES = ("link", "email", "phone", "name", "external_id")
DEFAULT_MATCH_RULES = ["link", "email", "phone"]


def default_match_rules() -> list[str]:
    return list(DEFAULT_MATCH_RULES)


class Mapping(BaseModel):
    """What to sync between two connections: object type, direction, match rules, conflicts, schedule, on/off."""

    class ConflictPolicy(models.TextChoices):
        GHL_WINS = "ghl_wins", "GoHighLevel wins"
        STREETTEXT_WINS = "streettext_wins", "StreetText wins"
        NEWEST_WINS = "newest_wins", "Newest change wins"

    name = models.CharField(max_length=120, help_text="Unique: two mappings never share a name (letter case aside).")
    object_type = models.CharField(max_length=30, choices=object_type_choices, default="contact")
    ghl_connection = models.ForeignKey(
        "integrations.Connection",
        on_delete=models.PROTECT,
        related_name="ghl_mappings",
        limit_choices_to={"system": System.GHL},
        verbose_name="GoHighLevel connection",
    )
    streettext_connection = models.ForeignKey(
        "integrations.Connection",
        on_delete=models.PROTECT,
        related_name="streettext_mappings",
        limit_choices_to={"system": System.STREETTEXT},
        verbose_name="StreetText connection",
    )
    direction = models.CharField(max_length=20, choices=Direction.choices, default=Direction.TO_STREETTEXT)
    match_rules = models.JSONField(
        default=default_match_rules,
        help_text="Tried in order: link (an existing record link), email (case-insensitive), phone (E.164), "
        "name (businesses), external_id (the two external-id fields below).",
    )
    ghl_external_id_field = models.CharField(
        "GHL external-id field",
        max_length=100,
        blank=True,
        help_text="For the external_id rule: a GHL field, e.g. customFields.<id>.",
    )
    streettext_external_id_field = models.CharField(
        "StreetText external-id field",
        max_length=100,
        blank=True,
        help_text="For the external_id rule, e.g. external_id.",
    )
    phone_region = models.CharField(
        "default phone region",
        max_length=2,
        default="US",
        help_text="ISO country code used to read phone numbers written without a country code.",
    )
    conflict_policy = models.CharField(
        max_length=20,
        choices=ConflictPolicy.choices,
        default=ConflictPolicy.NEWEST_WINS,
        help_text="Two-way only: which side wins when a record changed on both sides since the last sync.",
    )
    schedule_minutes = models.PositiveSmallIntegerField(
        "run every (minutes)",
        default=0,
        validators=[MaxValueValidator(15), MinValueValidator(0)],
        help_text="0 = no schedule; 1 to 15 = run every that many minutes (kept in Periodic tasks).",
    )
    start_from = models.DateTimeField(
        null=True, blank=True, help_text="First run only: read source records changed since then. Empty = everything."
    )

    class DeletePolicy(models.TextChoices):
        IGNORE = "ignore", "Ignore (keep the other side and the link)"
        UNLINK = "unlink", "Unlink (keep the other side, forget the pairing)"
        DELETE = "delete", "Delete on the other side too"

    delete_policy = models.CharField(
        max_length=20,
        choices=DeletePolicy.choices,
        default=DeletePolicy.UNLINK,
        help_text="What a deletion on the source side does to the linked record on the target side.",
    )
    overwrite_tags = models.BooleanField(
        default=False,
        help_text="GoHighLevel contacts: replace the whole tag list (off: only add and remove the tags that differ, "
        "through GHL's tag endpoints, so tags added by others are kept).",
    )
    create_missing = models.BooleanField(
        default=True,
        help_text="Create a target record when no match is found. Off: only update records that match.",
    )

    class Mode(models.TextChoices):
        SYNC = "sync", "Sync: read changes on the source side and write them to the target"
        ENRICH = "enrich", "Enrich: for changed target records, look up their match on the source and pull its values"

    mode = models.CharField(
        max_length=20,
        choices=Mode.choices,
        default=Mode.SYNC,
        help_text="Enrich suits 'a new StreetText contact is looked up in GoHighLevel and its profile filled in': "
        "it never creates records.",
    )
    followup_rules = models.JSONField(
        "follow-up rules",
        default=list,
        blank=True,
        help_text="Once per contact and rule, when a condition holds on a processed record: a GoHighLevel task, or "
        "the contact enrolled in a workflow or a campaign, or followers added: "
        '[{"name": "call-hot-leads", "when": {"field": "tags", "op": "contains", "value": "hot"}, '
        '"title": "Call {first_name}", "due_in_days": 1}, {"when": {...}, "action": "workflow", "workflow_id": "…"}].',
    )
    record_filter = models.JSONField(
        "only records where",
        default=dict,
        blank=True,
        help_text="A condition on the source record; records that do not meet it are left alone, e.g. "
        '{"field": "tags", "op": "contains", "value": "vip"}. Empty: every record.',
    )
    deletion_check_minutes = models.PositiveIntegerField(
        "look for deletions every (minutes)",
        default=0,
        help_text="How often a run lists the source's ids to find deleted records (one cheap, paged listing; "
        "see docs/architecture.md for its cost). 0 = on every scheduled or manual run.",
    )
    enabled = models.BooleanField(default=True, help_text="Off: no scheduled, webhook or manual runs.")
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="mapping_unique_name",
                violation_error_message="Another mapping already has this name; choose another.",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def directions(self) -> list[str]:
        """The one-way legs a run executes, in order."""
        if self.direction == Direction.BOTH:
            return [Direction.TO_STREETTEXT, Direction.TO_GHL]
        return [self.direction]


class FieldMapping(models.Model):
    """A target field filled from a source field, a constant or a template, through a chain of transforms."""

    class SourceKind(models.TextChoices):
        FIELD = "field", "Source field"
        CONSTANT = "constant", "Constant"
        TEMPLATE = "template", "Template"
        RECORD = "record", "Whole record (for rule transforms: score, rule_tags)"

    mapping = models.ForeignKey(Mapping, on_delete=models.CASCADE, related_name="field_mappings")
    direction = models.CharField(
        max_length=20,
        choices=[(Direction.TO_STREETTEXT, Direction.TO_STREETTEXT.label), (Direction.TO_GHL, Direction.TO_GHL.label)],
        default=Direction.TO_STREETTEXT,
    )
    target_field = models.CharField(max_length=100, help_text="Field written on the target side.")
    source_kind = models.CharField(max_length=20, choices=SourceKind.choices, default=SourceKind.FIELD)
    source = models.CharField(
        max_length=500,
        blank=True,
        help_text="Source field name; or the constant; or a template such as '{firstName} {lastName}'.",
    )
    transforms = models.JSONField(
        default=list,
        blank=True,
        help_text='Applied in order. Write e.g. trim | lower | phone_e164(region="GB") | default(value="n/a").',
    )
    position = models.PositiveSmallIntegerField(default=0)
    # A custom field's name when it was picked (custom fields are stored by id): a later rename shows as "now called".
    target_label = models.CharField(max_length=200, blank=True, editable=False)
    source_label = models.CharField(max_length=200, blank=True, editable=False)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["mapping", "direction", "target_field"], name="one_rule_per_target_field")
        ]

    def __str__(self) -> str:
        return f"{self.target_field} ← {self.source}"
