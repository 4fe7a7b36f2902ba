"""Automations: a polling trigger (a GoHighLevel catalog trigger or a StreetText listing) feeding ordered actions, and
what happened to every item it saw (docs/automations.md)."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from integrations.models import BaseModel, RunLifecycle, System
from mappings.models import FieldMapping

# The trigger whose items can be expanded into their messages (automations/messages.py).
EACH_MESSAGE_TRIGGER = "search-conversations"
# A poll's error when its trigger was read but every item failed (an items problem, not the trigger's).
POLL_EVERY_ITEM_FAILED = "Every item failed; see the items history."
MSG_EACH_MESSAGE_TRIGGER = "“Each new message” works with the Search Conversations trigger only."


class Automation(BaseModel):
    """A trigger polled every few minutes; each new or updated item it reads runs the actions once."""

    name = models.CharField(max_length=120, help_text="Unique: two automations never share a name.")
    description = models.TextField(blank=True, help_text="What it is for, in your words (optional).")
    preset = models.CharField(max_length=60, blank=True, editable=False, help_text="The preset it was made from.")
    ghl_connection = models.ForeignKey(
        "integrations.Connection",
        on_delete=models.PROTECT,
        related_name="ghl_automations",
        limit_choices_to={"system": System.GHL},
        verbose_name="GoHighLevel connection",
        help_text="The GoHighLevel account the trigger reads (or the actions write to).",
    )
    streettext_connection = models.ForeignKey(
        "integrations.Connection",
        on_delete=models.PROTECT,
        related_name="streettext_automations",
        limit_choices_to={"system": System.STREETTEXT},
        null=True,
        blank=True,
        verbose_name="StreetText connection",
        help_text="Needed for StreetText actions or a StreetText trigger.",
    )
    event = models.CharField(
        max_length=60,
        blank=True,
        help_text="The event it starts from (automations/events.py), fired at once by its webhook and polled as a "
        "reconciliation. Empty: a catalog operation chosen by hand (advanced).",
    )
    trigger_system = models.CharField(
        "trigger reads",
        max_length=20,
        choices=System.choices,
        default=System.GHL,
        help_text="GoHighLevel: any trigger of the operations catalog. StreetText: a listing of its records.",
    )
    trigger_key = models.CharField(
        "trigger",
        max_length=80,
        help_text="The catalog trigger (e.g. search-opportunities) or the StreetText records (e.g. contacts).",
    )
    trigger_params = models.JSONField(
        "trigger parameters",
        default=dict,
        blank=True,
        help_text='Path and query values by name, e.g. {"pipeline_id": "…"}. Times may be relative: '
        '"{now_ms-1d}", "{now_ms+30d}" (epoch milliseconds) or "{now_iso-7d}".',
    )
    trigger_body = models.JSONField(
        "trigger body",
        null=True,
        blank=True,
        help_text='For triggers with a body (Search Contacts): e.g. {"pageLimit": 100, "filters": [...]}.',
    )
    each_message = models.BooleanField(
        "each new message",
        default=False,
        help_text="Search Conversations only: the items are the messages of each conversation that changed, every "
        "one since the last handled (not only the conversation's newest), instead of the conversations.",
    )
    on_new = models.BooleanField(
        "new items", default=True, help_text="Run the actions for items seen for the first time."
    )
    on_updated = models.BooleanField(
        "updated items", default=True, help_text="Run the actions again when an item seen before has changed."
    )
    watch_fields = models.JSONField(
        "only when these fields changed",
        default=list,
        blank=True,
        help_text='Updated items count only when one of these fields changed, e.g. ["pipelineStageId", "status"]. '
        "Empty: any change.",
    )
    record_filter = models.JSONField(
        "only items where",
        default=dict,
        blank=True,
        help_text='A condition on the trigger item, e.g. {"field": "status", "op": "eq", "value": "won"}. '
        "Empty: every item.",
    )
    filter_entered = models.BooleanField(
        "only when the condition starts to hold",
        default=False,
        help_text="An updated item counts only if it did not meet the condition before (e.g. a contact that has "
        "just been tagged vip, an opportunity that has just been won).",
    )
    start_from = models.DateTimeField(
        default=timezone.now,
        help_text="Items last changed before this are recorded as existing, not handled. Now: only what happens "
        "from now on; a past date: also what changed since then.",
    )
    phone_region = models.CharField(
        "default phone region",
        max_length=2,
        default="US",
        help_text="ISO country code for phone numbers written without a country code (phone_e164).",
    )
    schedule_minutes = models.PositiveSmallIntegerField(
        "poll every (minutes)",
        default=5,
        validators=[MaxValueValidator(15), MinValueValidator(0)],
        help_text="0 = only when you press Run now; 1 to 15 = poll every that many minutes (kept in Periodic tasks).",
    )
    enabled = models.BooleanField(default=True, help_text="Off: no scheduled or manual polls.")
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="automation_unique_name",
                violation_error_message="Another automation already has this name; choose another.",
            )
        ]
        permissions = [("run_automation", "Can run automations (Run now, Test trigger, Retry)")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.each_message and (self.trigger_system != System.GHL or self.trigger_key != EACH_MESSAGE_TRIGGER):
            raise ValidationError({"each_message": MSG_EACH_MESSAGE_TRIGGER})


class AutomationAction(models.Model):
    """One step: a catalog action on GoHighLevel or a StreetText action (its fields mapped from the trigger item), a
    router (paths, each with a condition and steps of its own) or a wait. A step with a condition runs only when it
    holds. Steps of the main line have no path; a path's steps name it (docs/automations.md "Paths and waits")."""

    class Kind(models.TextChoices):
        ACTION = "action", "Action"
        ROUTER = "router", "Paths"
        WAIT = "wait", "Wait"

    class RouterMode(models.TextChoices):
        FIRST = "first", "First matching path"
        ALL = "all", "Every matching path"

    automation = models.ForeignKey(Automation, on_delete=models.CASCADE, related_name="actions")
    path = models.ForeignKey(
        "AutomationPath",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="steps",
        help_text="Empty: the main line. A path: the step runs when its router takes that path.",
    )
    position = models.PositiveSmallIntegerField(default=0, help_text="Actions run in this order.")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.ACTION)
    system = models.CharField(
        max_length=20, choices=System.choices, default=System.STREETTEXT, help_text="Where the action writes."
    )
    operation = models.CharField(
        max_length=80,
        blank=True,
        help_text="A catalog action (e.g. create-contact-note) or a StreetText action (e.g. note.create).",
    )
    condition = models.JSONField(
        "only if",
        default=dict,
        blank=True,
        help_text='Run this step only when it holds, e.g. {"field": "monetaryValue", "op": "gt", "value": 1000}; '
        "earlier steps' results too ({actions.1.id}). Empty: always.",
    )
    router_mode = models.CharField(
        "paths taken", max_length=10, choices=RouterMode.choices, default=RouterMode.FIRST, blank=True
    )
    wait_minutes = models.PositiveIntegerField(
        "wait for (minutes)", null=True, blank=True, help_text="A wait: this long, at most the wait cap."
    )
    wait_until = models.CharField(
        "wait until the date in",
        max_length=200,
        blank=True,
        help_text="A wait: until the date and time in this field of the item (or an earlier step's result); a date "
        "already past does not wait.",
    )
    name = models.CharField(max_length=120, blank=True, help_text="What this step is for (optional).")
    create_missing_contact = models.BooleanField(
        default=True,
        help_text="When the contact is named by its id on the other system and has no counterpart yet: create it "
        "(found again by email or phone, so never twice). Off: the action fails instead.",
    )

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "action"

    def __str__(self) -> str:
        if self.name:
            return self.name
        if self.kind == self.Kind.ROUTER:
            return "Paths"
        if self.kind == self.Kind.WAIT:
            return f"Wait until {self.wait_until}" if self.wait_until else f"Wait {minutes_text(self.wait_minutes)}"
        return f"{self.get_system_display()}: {self.operation}"


def minutes_text(minutes: int | None) -> str:
    """1440 → "1d", 90 → "1h 30m": how waits are written in the admin and in the history."""
    if not minutes:
        return "0m"
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    return " ".join(f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (mins, "m")) if n) or "0m"


class AutomationPath(models.Model):
    """One path of a router step: a condition and its own ordered steps (AutomationAction.path). The "otherwise" path
    is taken when no other path matched."""

    automation = models.ForeignKey(Automation, on_delete=models.CASCADE, related_name="paths")
    router = models.ForeignKey(
        AutomationAction,
        on_delete=models.CASCADE,
        related_name="paths",
        limit_choices_to={"kind": "router"},
        help_text="The paths step this path belongs to.",
    )
    position = models.PositiveSmallIntegerField(default=0, help_text="Paths are tried in this order.")
    name = models.CharField(max_length=120, help_text="Shown in the items history (e.g. High value).")
    condition = models.JSONField(
        "when",
        default=dict,
        blank=True,
        help_text='e.g. {"field": "monetaryValue", "op": "gt", "value": 1000}. Empty on an "otherwise" path.',
    )
    otherwise = models.BooleanField(default=False, help_text="Taken when no other path of the router matched.")

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "path"

    def __str__(self) -> str:
        return f"{self.router} → {self.name}"


class AutomationFieldMapping(models.Model):
    """An action's field: from a trigger field, a constant or a template, through a chain of transforms."""

    action = models.ForeignKey(AutomationAction, on_delete=models.CASCADE, related_name="field_mappings")
    target_field = models.CharField(max_length=100, help_text="The action's field.")
    source_kind = models.CharField(
        max_length=20, choices=FieldMapping.SourceKind.choices, default=FieldMapping.SourceKind.FIELD
    )
    source = models.CharField(
        max_length=1000,
        blank=True,
        help_text="A trigger field (contact.email), a constant, or a template such as 'Call {contact.name}'. "
        "Results of earlier actions: {actions.1.id}.",
    )
    transforms = models.JSONField(default=list, blank=True, help_text="Applied in order, e.g. trim | lower.")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "field"
        constraints = [
            models.UniqueConstraint(fields=["action", "target_field"], name="automation_one_mapping_per_field")
        ]

    def __str__(self) -> str:
        return f"{self.target_field} ← {self.source}"


class AutomationCursor(models.Model):
    """Where an automation's reading of its trigger has got to; moves only after a page's items are stored."""

    automation = models.OneToOneField(Automation, on_delete=models.CASCADE, related_name="cursor")
    # The paging position of the scan in progress (None: the next poll starts a new scan from the top).
    position = models.JSONField(null=True, blank=True)
    # The newest updated time seen, and the ids of the items seen at exactly that time.
    watermark = models.CharField(max_length=40, blank=True)
    watermark_ids = models.JSONField(default=list, blank=True)
    scans_completed = models.PositiveIntegerField(default=0)
    scan_started_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.automation}: {self.watermark or 'start'}"


class AutomationPoll(RunLifecycle):
    """One poll of an automation's trigger: pages read, items recorded, actions run."""

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Run now"
        SCHEDULE = "schedule", "Schedule"
        RETRY = "retry", "Retry of failed items"
        RESUME = "resume", "Resume of waits that ended"
        WEBHOOK = "webhook", "Webhook"

    DONE_COUNTS = ("handled", "skipped")
    EVERY_ONE_FAILED = POLL_EVERY_ITEM_FAILED

    automation = models.ForeignKey(Automation, on_delete=models.CASCADE, related_name="polls")
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    requested_by = models.CharField(max_length=150, blank=True)
    # A retry: only these items (AutomationItem ids) are run again; nothing is read.
    only_items = models.JSONField(default=list, blank=True)
    pages = models.PositiveIntegerField(default=0, help_text="Pages of the trigger read.")
    seen = models.PositiveIntegerField(default=0, help_text="Items read (already handled ones included).")
    new = models.PositiveIntegerField(default=0, help_text="New items recorded.")
    updated = models.PositiveIntegerField(default=0, help_text="Updated items recorded.")
    handled = models.PositiveIntegerField(default=0, help_text="Items whose actions all succeeded.")
    skipped = models.PositiveIntegerField(default=0, help_text="Items recorded without running the actions.")
    failed = models.PositiveIntegerField(default=0, help_text="Items with an action that failed.")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "poll"
        indexes = [models.Index(fields=["automation", "-created_at"]), models.Index(fields=["status", "heartbeat_at"])]
        constraints = [RunLifecycle.one_active_per("automation", name="one_active_poll_per_automation")]

    def __str__(self) -> str:
        return f"Poll #{self.pk} of {self.automation}"


class AutomationItem(models.Model):
    """One trigger item at one version, and what the automation did with it. The unique row is what makes each item
    version handled once: it is stored before any action runs."""

    class Change(models.TextChoices):
        NEW = "new", "New"
        UPDATED = "updated", "Updated"
        BASELINE = "baseline", "Existed before the start"
        DELETED = "deleted", "Deleted"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for its actions"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"
        WAITING = "waiting", "Waiting"
        CANCELLED = "cancelled", "Cancelled"

    automation = models.ForeignKey(Automation, on_delete=models.CASCADE, related_name="items")
    poll = models.ForeignKey(AutomationPoll, null=True, blank=True, on_delete=models.SET_NULL, related_name="items")
    item_id = models.CharField("item id", max_length=200)
    version = models.CharField(max_length=100, help_text="The item's updated time, or a digest of its content.")
    change = models.CharField(max_length=20, choices=Change.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=200, blank=True, help_text="Why it was skipped.")
    label = models.CharField(max_length=200, blank=True, help_text="A name for the item (name, title, email).")
    item = models.JSONField(default=dict, blank=True, help_text="The trigger item as read.")
    changes = models.JSONField(default=dict, blank=True, help_text="Fields changed since the version seen before.")
    item_time = models.DateTimeField(null=True, blank=True, help_text="The item's updated time, when it has one.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    resume_at = models.DateTimeField(null=True, blank=True, help_text="A waiting item: when its wait ends.")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "item"
        verbose_name_plural = "items history"
        constraints = [
            models.UniqueConstraint(fields=["automation", "item_id", "version"], name="automation_item_version_once")
        ]
        indexes = [
            models.Index(fields=["automation", "-created_at"], name="automation_item_recent"),
            models.Index(fields=["automation", "status"], name="automation_item_status"),
            models.Index(fields=["automation", "item_id"], name="automation_item_id"),
            models.Index(fields=["status", "resume_at"], name="automation_item_resume"),
        ]

    def __str__(self) -> str:
        return f"{self.label or self.item_id} ({self.get_change_display().lower()})"


class AutomationActionRun(models.Model):
    """One action for one item: its state is stored as it happens, so a crash never re-sends a finished action and
    never loses one (a retry resumes at the first action not yet done)."""

    class State(models.TextChoices):
        PENDING = "pending", "Not run yet"
        SENDING = "sending", "Sent, no answer yet"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Not run (an earlier action failed)"
        NOT_MET = "not_met", "Not run (its condition did not hold)"
        WAITING = "waiting", "Waiting"
        CANCELLED = "cancelled", "Cancelled"

    item = models.ForeignKey(AutomationItem, on_delete=models.CASCADE, related_name="action_runs")
    action = models.ForeignKey(AutomationAction, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    position = models.PositiveSmallIntegerField(default=0)
    label = models.CharField(max_length=200, blank=True, help_text="The action as it was when it ran.")
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times it was sent.")
    poll = models.ForeignKey(AutomationPoll, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    payload = models.JSONField(default=dict, blank=True, help_text="What was sent.")
    result_ids = models.JSONField(default=dict, blank=True, help_text="Ids of what it created or changed.")
    response = models.TextField(blank=True, help_text="The answer, shortened.")
    error = models.TextField(blank=True)
    note = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "action result"
        constraints = [models.UniqueConstraint(fields=["item", "action"], name="automation_action_once_per_item")]

    def __str__(self) -> str:
        return f"{self.label}: {self.get_state_display()}"
