"""Admin forms for connections: secrets are write-only."""

from __future__ import annotations

from typing import Any

from django import forms

from integrations.clients.addresses import validate_base_url
from integrations.models import Connection, System
from integrations.services.connections import secret_validate

SECRET_HELP_NEW = (
    "Private Integration Token (GoHighLevel) or API key (StreetText). Stored encrypted; never shown again."
)
SECRET_HELP_KEEP = "A secret is stored (encrypted, not shown). Leave blank to keep it; type a new one to replace it."
SECRET_REQUIRED = "Enter the token or API key: this connection has none stored yet."
LOCATION_REQUIRED = "A GoHighLevel connection needs the sub-account's location id."
AUTH_TYPE_MISMATCH = "{auth} is not used by {system}."
WEBHOOK_SECRET_HELP = (
    "StreetText only: the shared secret StreetText signs webhooks with (X-StreetText-Signature). Stored encrypted; "
    "leave blank to keep the stored one."
)

AGENCY_FIELD_HELP = "Set by the GoHighLevel agency this location was connected through."

ALLOWED_AUTH = {
    System.GHL: {Connection.AuthType.PRIVATE_TOKEN, Connection.AuthType.OAUTH},
    System.STREETTEXT: {Connection.AuthType.API_KEY},
}


class ConnectionForm(forms.ModelForm):
    base_url = forms.URLField(
        label="Base URL",
        assume_scheme="https",
        help_text=Connection._meta.get_field("base_url").help_text,
    )
    secret = forms.CharField(
        label="Token / API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    webhook_secret = forms.CharField(
        label="Webhook secret",
        required=False,
        strip=True,
        help_text=WEBHOOK_SECRET_HELP,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = Connection
        fields = ["name", "system", "base_url", "location_id", "auth_type", "daily_budget_percent"]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        has_secret = bool(self.instance.pk and self.instance.api_secret_encrypted)
        # Left out (a form from before the budget existed, an API client): the connection keeps its budget.
        if "daily_budget_percent" in self.fields:  # GoHighLevel connections only
            self.fields["daily_budget_percent"].required = False
        self.fields["secret"].help_text = SECRET_HELP_KEEP if has_secret else SECRET_HELP_NEW
        if self.instance.agency_id is not None:
            # A location of an agency install: where it points and how it signs in come from the agency.
            for name in ("system", "base_url", "location_id", "auth_type", "secret"):
                self.fields[name].disabled = True
                self.fields[name].help_text = AGENCY_FIELD_HELP

    def clean_base_url(self) -> str:
        value = str(self.cleaned_data.get("base_url") or "")
        validate_base_url(value)
        return value

    def clean_secret(self) -> str:
        value = str(self.cleaned_data.get("secret") or "")
        secret_validate(value)
        return value

    def clean_daily_budget_percent(self) -> int:
        value = self.cleaned_data.get("daily_budget_percent")
        return int(value) if value is not None else self.instance.daily_budget_percent

    def clean_webhook_secret(self) -> str:
        value = str(self.cleaned_data.get("webhook_secret") or "")
        secret_validate(value)
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        system, auth = data.get("system"), data.get("auth_type")
        if system == System.GHL and not data.get("location_id"):
            self.add_error("location_id", LOCATION_REQUIRED)
        if system and auth and auth not in ALLOWED_AUTH[System(system)]:
            self.add_error(
                "auth_type",
                AUTH_TYPE_MISMATCH.format(auth=Connection.AuthType(auth).label, system=System(system).label),
            )
        needs_secret = auth in (Connection.AuthType.PRIVATE_TOKEN, Connection.AuthType.API_KEY)
        if needs_secret and not data.get("secret") and not self.instance.api_secret_encrypted:
            self.add_error("secret", SECRET_REQUIRED)
        return data
