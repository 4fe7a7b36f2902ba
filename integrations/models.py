"""Connections, sync runs, record history and record links."""

from __future__ import annotations

import secrets
from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from integrations import crypto
from integrations.clients.addresses import validate_base_url


class BaseModel(models.Model):
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


def new_webhook_token() -> str:
    """A random, URL-safe, unguessable id (256 bits)."""
    return secrets.token_urlsafe(32)


class System(models.TextChoices):
    GHL = "ghl", "GoHighLevel"
    STREETTEXT = "streettext", "StreetText"


class GhlAgency(BaseModel):
    """A GoHighLevel agency (Company) that installed the Marketplace app: its own OAuth tokens, from which each of its
    chosen locations gets a location token (`POST /oauth/locationToken`) for a Connection of its own (docs/oauth.md)."""

    class Status(models.TextChoices):
        UNTESTED = "untested", "Not connected yet"
        OK = "ok", "OK"
        NEEDS_REAUTH = "needs_reauth", "Needs re-authentication"

    name = models.CharField(max_length=120, help_text="A name you recognise, e.g. 'Acme Marketing (agency)'.")
    base_url = models.URLField(
        "base URL",
        validators=[validate_base_url],
        help_text="API root: https://services.leadconnectorhq.com unless you use a proxy or the sandbox.",
    )
    company_id = models.CharField("company id", max_length=64, blank=True, editable=False)
    oauth_access_token_encrypted = models.TextField(blank=True, editable=False)
    oauth_refresh_token_encrypted = models.TextField(blank=True, editable=False)
    oauth_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    oauth_scopes = models.TextField(blank=True, editable=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.UNTESTED, editable=False)
    status_detail = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "GoHighLevel agency"
        verbose_name_plural = "GoHighLevel agencies"

    def __str__(self) -> str:
        return self.name

    oauth_access_token: str = crypto.encrypted_text("oauth_access_token_encrypted")
    oauth_refresh_token: str = crypto.encrypted_text("oauth_refresh_token_encrypted")

    ENCRYPTED_FIELDS = ("oauth_access_token_encrypted", "oauth_refresh_token_encrypted")


class Connection(BaseModel):
    """One authenticated account on one system: a GHL sub-account or a StreetText workspace."""

    class AuthType(models.TextChoices):
        PRIVATE_TOKEN = "pit", "Private Integration Token"
        OAUTH = "oauth", "OAuth 2.0"
        API_KEY = "api_key", "API key"

    class Status(models.TextChoices):
        UNTESTED = "untested", "Not tested yet"
        OK = "ok", "OK"
        NEEDS_REAUTH = "needs_reauth", "Needs re-authentication"
        ERROR = "error", "Error"

    name = models.CharField(max_length=120, help_text="A name you recognise, e.g. 'Acme GHL sub-account'.")
    system = models.CharField(max_length=20, choices=System.choices)
    base_url = models.URLField(
        "base URL",
        validators=[validate_base_url],
        help_text="API root. GoHighLevel: https://services.leadconnectorhq.com unless you use a proxy or the sandbox.",
    )
    location_id = models.CharField(
        "location id",
        max_length=64,
        blank=True,
        help_text="GoHighLevel sub-account (location) id. Not used by StreetText.",
    )
    auth_type = models.CharField(max_length=20, choices=AuthType.choices)
    api_secret_encrypted = models.TextField(blank=True, editable=False)
    # OAuth 2.0 (GHL); filled by the authorization-code flow.
    oauth_access_token_encrypted = models.TextField(blank=True, editable=False)
    oauth_refresh_token_encrypted = models.TextField(blank=True, editable=False)
    oauth_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    oauth_scopes = models.TextField(blank=True, editable=False)
    oauth_user_type = models.CharField(max_length=20, blank=True, editable=False)
    oauth_company_id = models.CharField(max_length=64, blank=True, editable=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.UNTESTED, editable=False)
    status_detail = models.TextField(blank=True, editable=False)
    status_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    webhook_secret_encrypted = models.TextField(blank=True, editable=False)
    # The public id in this connection's webhook URL (/webhooks/<system>/<token>/); never the numeric pk.
    webhook_token = models.CharField(max_length=64, unique=True, default=new_webhook_token, editable=False)
    # A location of an agency install: its access token comes from the agency's token (POST /oauth/locationToken)
    # and is renewed that way, one location at a time (integrations/services/oauth.py).
    agency = models.ForeignKey(
        GhlAgency,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="connections",
        editable=False,
        help_text="The GoHighLevel agency whose install gives this location its token.",
    )
    # Set when the API's daily request quota is used up; runs are refused until then (integrations/ratelimit.py).
    paused_until = models.DateTimeField(
        "paused until",
        null=True,
        blank=True,
        editable=False,
        help_text="The API's daily request quota is used up: no sync runs on this connection before this time.",
    )
    # The share of the location's daily GHL request limit this app may use (integrations/services/budget.py): the
    # per-contact scans are spread over the day to fit it; webhook-driven and manual work is never deferred.
    daily_budget_percent = models.PositiveSmallIntegerField(
        "daily budget (% of the daily limit)",
        default=25,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=(
            "GoHighLevel only: the share of the location's daily request limit (200,000 unless GHL reports another) "
            "this app may use. Reconciliation scans (notes, appointments) are spread over the day to fit it."
        ),
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(system=System.GHL) | ~models.Q(location_id=""),
                name="ghl_connection_has_location",
            ),
            # One connection per location of an agency: choosing a location twice finds the first one.
            models.UniqueConstraint(
                fields=["agency", "location_id"],
                condition=models.Q(agency__isnull=False),
                name="agency_location_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_system_display()})"

    # Secrets are stored encrypted; these accessors are the only way in and out.
    api_secret: str = crypto.encrypted_text("api_secret_encrypted")
    oauth_access_token: str = crypto.encrypted_text("oauth_access_token_encrypted")
    oauth_refresh_token: str = crypto.encrypted_text("oauth_refresh_token_encrypted")
    webhook_secret: str = crypto.encrypted_text("webhook_secret_encrypted")

    @property
    def has_secret(self) -> bool:
        return bool(self.api_secret_encrypted or self.oauth_access_token_encrypted)

    ENCRYPTED_FIELDS = (
        "api_secret_encrypted",
        "oauth_access_token_encrypted",
        "oauth_refresh_token_encrypted",
        "webhook_secret_encrypted",
    )


class RunLifecycle(BaseModel):
    """What every unit of background work shares (a sync run, an automation poll): one status, the times a worker
    claimed it and beat its heartbeat, and how a pending one is known to be waiting rather than lost. The services that
    move it through its states are written once (integrations/services/lifecycle.py)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Partial (some failed)"
        FAILED = "failed", "Failed"
        STALE = "stale", "Stale (worker lost)"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE_STATUSES = (Status.PENDING, Status.RUNNING)
    # The counts of work done: some of them and some failures make it partial, failures alone failed.
    DONE_COUNTS: tuple[str, ...] = ()
    # Its error when every item it worked on failed.
    EVERY_ONE_FAILED = ""

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # What it wants the user to know that is not an error (e.g. why a scheduled run read nothing).
    note = models.TextField(blank=True)
    # How a pending one is known to be waiting rather than lost (`Lifecycle.recover_pending`): when its task is due to
    # claim it (a retry's countdown), how often it was claimed, and how often the stale check re-sent its task.
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="Pending after a transient error: when the task retries it."
    )
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times a worker started it.")
    requeued = models.PositiveSmallIntegerField(
        default=0, help_text="Times the stale check re-sent its task because it had been lost."
    )

    class Meta:
        abstract = True

    @staticmethod
    def one_active_per(owner: str, *, name: str) -> models.UniqueConstraint:
        """At most one active (pending or running) per owner, enforced by the database: two cannot overlap."""
        return models.UniqueConstraint(fields=[owner], condition=models.Q(status__in=["pending", "running"]), name=name)

    @property
    def duration(self) -> Any:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class SyncRun(RunLifecycle):
    """One execution of a mapping."""

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Manual"
        SCHEDULE = "schedule", "Schedule"
        WEBHOOK = "webhook", "Webhook"
        RERUN = "rerun", "Re-run of failed records"

    class Scope(models.TextChoices):
        CHANGES = "changes", "Changes since the last run"
        LINKED = "linked", "Every linked record (re-sync after a mapping change)"
        IDS = "ids", "Only the named records (webhook, re-run, one record)"

    DONE_COUNTS = ("created", "updated", "skipped", "deleted")
    EVERY_ONE_FAILED = "Every record failed; see the record history."

    mapping = models.ForeignKey("mappings.Mapping", on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    dry_run = models.BooleanField(default=False)
    scope = models.CharField(max_length=20, choices=Scope.choices, default=Scope.CHANGES)
    rerun_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns")
    # For re-runs and webhook runs: only these source ids, as {"ghl": [...], "streettext": [...]}.
    only_ids = models.JSONField(default=dict, blank=True)
    requested_by = models.CharField(max_length=150, blank=True)
    processed = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(null=True, blank=True, help_text="Records the source reported, when it does.")
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    # Set by "Cancel"; the engine stops at the next page boundary (history and cursor stay consistent).
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_by = models.CharField(max_length=150, blank=True)
    # Fair turns between locations (runs.sync_run_yield): a run of the change feed gives its worker to another
    # location's waiting run after a page and is queued again behind it; the legs it finished are not read again.
    turns = models.PositiveIntegerField(default=0, help_text="Times it gave its worker to another location's run.")
    legs_done = models.JSONField(default=list, blank=True, help_text="Directions finished before its last turn.")
    # A per-contact scan (GHL notes, appointments): contacts scanned so far of how many the location has (GHL's
    # contact search reports the total), for the run page's percentage while the run is going.
    scan_done = models.PositiveIntegerField(null=True, blank=True, help_text="Contacts scanned so far.")
    scan_total = models.PositiveIntegerField(null=True, blank=True, help_text="Contacts the scan will read.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["mapping", "-created_at"]), models.Index(fields=["status", "heartbeat_at"])]
        constraints = [RunLifecycle.one_active_per("mapping", name="one_active_run_per_mapping")]

    def __str__(self) -> str:
        return f"Run #{self.pk} of {self.mapping}"


class RecordHistory(models.Model):
    """One row per record per run: what happened, with field-level before -> after."""

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"
        DELETED = "deleted", "Deleted"

    # Indexed by the (run | mapping, newest first) indexes in Meta, which also serve the foreign keys.
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="history", db_index=False)
    mapping = models.ForeignKey("mappings.Mapping", on_delete=models.CASCADE, related_name="history", db_index=False)
    created_at = models.DateTimeField(default=timezone.now)
    direction = models.CharField(max_length=20)
    action = models.CharField(max_length=20, choices=Action.choices)
    reason = models.CharField(max_length=200, blank=True, help_text="Why: matched by email, unchanged, echo, ...")
    # Searched by exact value only (indexes in Meta: one each, no LIKE-pattern twin on PostgreSQL).
    ghl_id = models.CharField("GHL id", max_length=64, blank=True)
    streettext_id = models.CharField("StreetText id", max_length=64, blank=True)
    email = models.CharField(max_length=254, blank=True)  # searched lower-cased
    phone = models.CharField(max_length=40, blank=True)
    # {"field": {"before": ..., "after": ...}}
    changes = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    dry_run = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "record history"
        # The admin's lists at millions of rows (integrations/admin.py; timed by `manage.py benchmark --only admin`):
        # each list and filter reads its first page newest first straight from one index (scanned backwards) and
        # stops after it, and each search is an exact lookup on an indexed column
        # (record_selectors.history_search_condition). Ascending, so new rows are appended at the end of their group:
        # descending indexes fill their pages only half as new rows arrive.
        indexes = [
            models.Index(fields=["created_at", "id"], name="history_recent"),
            models.Index(fields=["run", "created_at", "id"], name="history_run_recent"),
            models.Index(fields=["mapping", "created_at", "id"], name="history_mapping_recent"),
            models.Index(fields=["action", "created_at", "id"], name="history_action_recent"),
            models.Index(fields=["direction", "created_at", "id"], name="history_direction_recent"),
            # Dry runs are few: a partial index finds them without reading every real row first.
            models.Index(fields=["created_at", "id"], condition=models.Q(dry_run=True), name="history_dry_run_recent"),
            models.Index(fields=["ghl_id"], name="history_ghl_id"),
            models.Index(fields=["streettext_id"], name="history_streettext_id"),
            models.Index(fields=["phone"], name="history_phone"),
            models.Index(Lower("email"), name="history_email_lower"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: GHL {self.ghl_id or '—'} / StreetText {self.streettext_id or '—'}"


class RecordLink(BaseModel):
    """The lasting pairing of a GHL id with a StreetText id, for one pair of connections and one object type.

    Shared by every mapping of that object type between the two connections; what each mapping last read and wrote
    is its own (MappingRecordState)."""

    class Origin(models.TextChoices):
        MATCHED = "", "Matched (existed on both sides)"
        GHL = "ghl", "Created in StreetText by this app from GoHighLevel"
        STREETTEXT = "streettext", "Created in GoHighLevel by this app from StreetText"

    ghl_connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    streettext_connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    object_type = models.CharField(max_length=30)
    ghl_id = models.CharField("GHL id", max_length=64)
    streettext_id = models.CharField("StreetText id", max_length=64)
    origin = models.CharField(
        max_length=20,
        choices=Origin.choices,
        blank=True,
        default=Origin.MATCHED,
        help_text="Where the record was first: a copy this app created is never treated as a new lead.",
    )
    # What the admin shows for the pair (a name, a title), and the email used to find it.
    label = models.CharField(max_length=200, blank=True)
    email = models.CharField(max_length=254, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ghl_connection", "streettext_connection", "object_type", "ghl_id"], name="link_unique_ghl_id"
            ),
            models.UniqueConstraint(
                fields=["ghl_connection", "streettext_connection", "object_type", "streettext_id"],
                name="link_unique_streettext_id",
            ),
        ]
        # "Find a record" (integrations/record_selectors.py): exact ids, an email, a name by its first letters.
        indexes = [
            models.Index(fields=["ghl_id"], name="link_ghl_id"),
            models.Index(fields=["streettext_id"], name="link_streettext_id"),
            models.Index(Lower("email"), name="link_email_lower"),
            models.Index(Lower("label"), name="link_label_lower"),
        ]

    def __str__(self) -> str:
        return f"GHL {self.ghl_id} ↔ StreetText {self.streettext_id}"


class UnlinkedRecord(models.Model):
    """A record whose partner was deleted while the delete policy was "unlink": it stays unlinked.

    The policy keeps the other side and forgets the pairing; without this row the next run (a re-sync, the record's
    next change) would find the survivor unlinked and copy it again, re-creating what a person deleted. Mappings of
    the pair with the "unlink" policy leave it alone (a history row says why); a match rule may still pair it with a
    record a person made, and "Sync this record now" on it copies it again (a person asked). One per record, per pair
    of connections and object type, like the links."""

    ghl_connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    streettext_connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    object_type = models.CharField(max_length=30)
    system = models.CharField(max_length=20, choices=System.choices, help_text="The side the record is on.")
    record_id = models.CharField(max_length=64)
    partner_id = models.CharField(max_length=64, blank=True, help_text="The deleted record it was linked to.")
    unlinked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ghl_connection", "streettext_connection", "object_type", "system", "record_id"],
                name="one_unlinked_per_record",
            )
        ]

    def __str__(self) -> str:
        return f"{self.system} {self.object_type} {self.record_id} (partner {self.partner_id} deleted)"


class MappingRecordState(models.Model):
    """What one mapping last read and wrote for one linked pair: its own echo, conflict and merge memory.

    Two mappings on the same records never share this: one cannot undo another's work or take another's write for
    its own echo."""

    mapping = models.ForeignKey("mappings.Mapping", on_delete=models.CASCADE, related_name="record_states")
    link = models.ForeignKey(RecordLink, on_delete=models.CASCADE, related_name="states")
    # Per system, a short digest of each field this mapping reads or writes there, as it last saw or wrote it:
    # {"ghl": {"firstName": "9f2c…"}, "streettext": {...}}. Echoes, edits and field-level conflicts are told from it.
    digests = models.JSONField(default=dict, blank=True)
    # List fields (tags) as this mapping last wrote them, per direction: the base of the add/remove merge.
    written = models.JSONField(default=dict, blank=True)
    # Digest of `configs` for the directions the mapping runs (mapping_config_digest): the mapping page compares it.
    config = models.CharField(max_length=64, blank=True)
    # Per direction, the digest of that direction's configuration (its field mappings, the filter, the rules) when
    # this record was last synced in it: {"to_streettext": "…", "to_ghl": "…"}. Editing the field mappings of one
    # direction makes records stale in that direction only, so a re-sync rewrites only what the edit changed.
    configs = models.JSONField(default=dict, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["mapping", "link"], name="one_state_per_mapping_link")]
        # The mapping page counts the states synced with another configuration as ranges of this index
        # (mappings/selectors.py): a few index entries read, however many states the mapping has.
        indexes = [models.Index(fields=["mapping", "config"], name="state_mapping_config")]

    def __str__(self) -> str:
        return f"{self.mapping_id} / {self.link_id}"


class FollowupMarker(models.Model):
    """A follow-up rule already created its GHL task for this contact (bookkeeping, not a record link)."""

    mapping = models.ForeignKey("mappings.Mapping", on_delete=models.CASCADE, related_name="followup_markers")
    contact_ghl_id = models.CharField("GHL contact id", max_length=64)
    rule = models.CharField(max_length=120)
    task_ghl_id = models.CharField("GHL task id", max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # False from the moment the task is made (or the contact enrolled) until its page's history is stored: a worker
    # killed in between leaves it False, and the next attempt records the follow-up it finds done.
    recorded = models.BooleanField(default=True)
    # Written ahead of the task's create and cleared by its answer: a create never answered (a timeout, a server
    # error, a worker killed while it waited) may have landed, so the next attempt looks for the task it sent
    # (`sent`: the same title and due date) before creating it again.
    pending = models.BooleanField(default=False)
    sent = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mapping", "contact_ghl_id", "rule"], name="one_followup_per_contact_rule")
        ]

    def __str__(self) -> str:
        return f"{self.rule} for {self.contact_ghl_id}"


class PendingCreate(models.Model):
    """A write of a page whose history is not stored yet: written ahead, removed with the page's store.

    A create whose answer never came (timeout, lost connection, server error) may have landed: the next attempt for
    the same source record looks for it on the target before creating anything. An update written ahead tells the
    next attempt, when the page was never stored (a worker killed mid-page), that the values it finds on the target
    may be that update's: it records them as updated instead of finding nothing to do."""

    class Kind(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Update"

    mapping = models.ForeignKey("mappings.Mapping", on_delete=models.CASCADE, related_name="pending_creates")
    direction = models.CharField(max_length=20)
    source_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CREATE)
    started_at = models.DateTimeField(default=timezone.now)
    # What the created record would be found by: email, phone, name, title, parent id.
    hints = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mapping", "direction", "source_id"], name="one_pending_create_per_record")
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.source_id}"


class SyncCursor(models.Model):
    """Where a mapping's reading of one source system has got to; moves only after a page is stored."""

    mapping = models.ForeignKey("mappings.Mapping", on_delete=models.CASCADE, related_name="cursors")
    system = models.CharField(max_length=20, choices=System.choices)
    position = models.JSONField(default=dict, blank=True)
    # The last pass that looked for records deleted on this side (integrations/services/sync/deletions.py).
    deletions_checked_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["mapping", "system"], name="one_cursor_per_mapping_system")]

    def __str__(self) -> str:
        return f"{self.mapping} / {self.system}: {self.position}"


class WebhookDelivery(models.Model):
    """One accepted webhook delivery: the replay guard (unique id per source) and the audit trail."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSED = "processed", "Processed (run requested)"
        DEFERRED = "deferred", "Deferred (a run was active; retried every minute)"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="webhook_deliveries")
    source = models.CharField(max_length=20, choices=System.choices)
    webhook_id = models.CharField("webhook id", max_length=200, help_text="GHL webhookId / StreetText delivery id.")
    event_type = models.CharField(max_length=80, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    signed_at = models.DateTimeField(null=True, blank=True, help_text="The timestamp the sender signed.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    error = models.TextField(blank=True)
    payload_size = models.PositiveIntegerField(default=0, help_text="Bytes.")
    # What the event points at (payloads are not kept: they hold personal data).
    object_type = models.CharField(max_length=30, blank=True)
    record_id = models.CharField(max_length=64, blank=True)
    contact_id = models.CharField(max_length=64, blank=True, help_text="For task/note/appointment events.")
    # Mappings still waiting for a run (deferred), and the runs requested so far.
    pending_mapping_ids = models.JSONField(default=list, blank=True)
    runs = models.ManyToManyField(SyncRun, blank=True, related_name="webhook_deliveries")
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["source", "webhook_id"], name="webhook_delivery_unique_id"),
        ]
        indexes = [models.Index(fields=["status", "received_at"])]

    def __str__(self) -> str:
        return f"{self.source} {self.event_type or '?'} {self.webhook_id}"


class RateLimitWindow(models.Model):
    """Shared state of one rate-limit key for the database backend of integrations/ratelimit.py."""

    key = models.CharField(max_length=200, unique=True)
    # Start times (epoch seconds) of the requests in the current window, oldest first.
    stamps = models.JSONField(default=list, blank=True)
    paused_until = models.FloatField(null=True, blank=True, help_text="Epoch seconds; no request starts before.")
    quota_resume_at = models.FloatField(null=True, blank=True, help_text="Epoch seconds; the daily quota is back.")
    learned_limit = models.PositiveIntegerField(null=True, blank=True, help_text="X-RateLimit-Max last announced.")
    learned_window = models.FloatField(null=True, blank=True, help_text="Seconds; X-RateLimit-Interval last announced.")
    learned_at = models.DateTimeField(null=True, blank=True)
    # The day's budget as the API last reported it (GHL: X-RateLimit-Limit-Daily / -Daily-Remaining), kept whatever
    # the backend, for the start page.
    daily_limit = models.PositiveIntegerField(null=True, blank=True, help_text="X-RateLimit-Limit-Daily last seen.")
    daily_remaining = models.PositiveIntegerField(
        null=True, blank=True, help_text="X-RateLimit-Daily-Remaining last seen."
    )
    daily_seen_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.key


class ProcessHeartbeat(models.Model):
    """A Celery worker or beat process saying it is alive (integrations/heartbeats.py), read by /healthz and /metrics.

    A worker writes its row every HEARTBEAT_INTERVAL_SECONDS from a thread and deletes it on a clean stop; beat
    writes its row from its scheduling loop. A row not seen for HEALTH_*_MAX_AGE_SECONDS is a process that died.
    """

    class Kind(models.TextChoices):
        WORKER = "worker", "Celery worker"
        BEAT = "beat", "Celery beat"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The worker's node name (celery@host) or beat's host:pid.
    name = models.CharField(max_length=255)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "name"], name="process_heartbeat_unique_name")]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


# The operations catalog's execution log lives in its own package (integrations/catalog/).
from integrations.catalog.models import CatalogExecution  # noqa: E402, F401
