"""State of the built-in fake GHL and StreetText servers. Kept in the database so that the web process,
a Celery worker and the test process all see the same accounts, records, queued faults and counters."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class SandboxSystem(models.TextChoices):
    GHL = "ghl", "GoHighLevel"
    STREETTEXT = "streettext", "StreetText"


class SandboxAccount(models.Model):
    """A GHL location (account_id = locationId, secret = bearer token) or a StreetText workspace
    (account_id = workspace id, secret = API key). Secrets are plain text: this is a fake server."""

    system = models.CharField(max_length=20, choices=SandboxSystem.choices)
    account_id = models.CharField("account id", max_length=64, help_text="GHL locationId or StreetText workspace id.")
    secret = models.CharField(max_length=255, db_index=True, help_text="GHL bearer token or StreetText API key.")
    name = models.CharField(max_length=120, blank=True)
    allow_duplicate_contacts = models.BooleanField(
        default=False, help_text="GHL 'Allow Duplicate Contact' setting: when off, email/phone must be unique."
    )
    # None: the spec-ideal GHL. Otherwise the location behaves like live GHL (sandbox/live.py): {"latency": [lo, hi]
    # seconds, "deviations": [names], "daily_limit": n}. Set through services.sandbox_set_live.
    live = models.JSONField(
        null=True, blank=True, default=None, help_text="Live mode of a GHL location (sandbox/live.py); empty = ideal."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["system", "account_id"], name="sandbox_account_unique_id"),
        ]

    def __str__(self) -> str:
        return f"{self.system}:{self.account_id}"


class SandboxRecord(models.Model):
    """One object of any type (contact, task, note, …) in one account, stored in the system's own shape.

    email_lower / phone / external_id / search_text are denormalised from `data` for lookups.
    Timestamps are kept at millisecond precision so that epoch-ms cursors compare exactly.
    """

    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE, related_name="records")
    object_type = models.CharField(max_length=40)
    record_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict, blank=True)
    email_lower = models.CharField(max_length=255, blank=True, default="")
    phone = models.CharField(max_length=64, blank=True, default="", help_text="E.164 when parseable, else as stored.")
    external_id = models.CharField(max_length=255, blank=True, default="")
    search_text = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    deleted = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "object_type", "record_id"], name="sandbox_record_unique_id"),
        ]
        indexes = [
            models.Index(fields=["account", "object_type", "updated_at", "record_id"], name="sandbox_rec_updated"),
            models.Index(fields=["account", "object_type", "created_at", "record_id"], name="sandbox_rec_created"),
            models.Index(fields=["account", "object_type", "email_lower"], name="sandbox_rec_email"),
            models.Index(fields=["account", "object_type", "phone"], name="sandbox_rec_phone"),
            models.Index(fields=["account", "object_type", "external_id"], name="sandbox_rec_external"),
        ]

    def __str__(self) -> str:
        return f"{self.object_type}:{self.record_id}"


class SandboxFault(models.Model):
    """A queued misbehaviour: the next `remaining` matching requests fail, stall or return broken JSON."""

    class Kind(models.TextChoices):
        STATUS = "status", "Error status"
        SLOW = "slow", "Slow response"
        MALFORMED = "malformed", "Malformed JSON"
        # The request is carried out, then answered with the error status: GHL's "422 after creating" quirk.
        STATUS_AFTER = "status_after", "Error status after doing the work"

    system = models.CharField(max_length=20, choices=SandboxSystem.choices)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.PositiveIntegerField(default=500)
    delay = models.FloatField(default=0.0, help_text="Seconds, for kind=slow.")
    retry_after = models.PositiveIntegerField(default=1, help_text="Retry-After seconds sent with a 429.")
    remaining = models.PositiveIntegerField(default=1)
    skip = models.PositiveIntegerField(default=0, help_text="Let this many matching requests through first.")
    path_contains = models.CharField(max_length=255, blank=True, default="")
    method = models.CharField(max_length=10, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [models.Index(fields=["system", "remaining"], name="sandbox_fault_pending")]

    def __str__(self) -> str:
        return f"{self.system} {self.kind} x{self.remaining}"


class SandboxCounter(models.Model):
    """Request statistics per system (requests, status_<code>, rate_limited, faults)."""

    system = models.CharField(max_length=20, choices=SandboxSystem.choices)
    name = models.CharField(max_length=40)
    value = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["system", "name"], name="sandbox_counter_unique")]

    def __str__(self) -> str:
        return f"{self.system}.{self.name}={self.value}"


class SandboxOAuthToken(models.Model):
    """An OAuth artefact issued by the fake GHL token endpoint (sandbox/oauth.py): an authorization code, an
    access token or a refresh token. Codes and refresh tokens are single-use (`used_at`). Plain text: fake server."""

    class Kind(models.TextChoices):
        CODE = "code", "Authorization code"
        ACCESS = "access", "Access token"
        REFRESH = "refresh", "Refresh token"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    token = models.CharField(max_length=128, unique=True)
    user_type = models.CharField(max_length=20, default="Location", help_text="Location or Company.")
    account = models.ForeignKey(
        SandboxAccount, null=True, blank=True, on_delete=models.CASCADE, related_name="oauth_tokens"
    )
    company_id = models.CharField(max_length=64, blank=True, default="")
    client_id = models.CharField(max_length=128, blank=True, default="")
    redirect_uri = models.CharField(max_length=500, blank=True, default="")
    scope = models.TextField(blank=True, default="")
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [models.Index(fields=["kind", "account", "expires_at"], name="sandbox_oauth_kind_acct")]

    def __str__(self) -> str:
        return f"{self.kind} ({self.user_type})"


class SandboxSpecRejection(models.Model):
    """A GHL request the sandbox refused because it does not conform to GHL's official OpenAPI spec. Only the
    latest few are kept (services.SPEC_REJECTIONS_KEPT); the `spec_rejections` counter counts them all."""

    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    status = models.PositiveSmallIntegerField()
    messages = models.JSONField(default=list)
    user_agent = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"{self.method} {self.path}: {'; '.join(self.messages)}"
