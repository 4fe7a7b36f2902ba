from __future__ import annotations

from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "integrations.sandbox"
    label = "sandbox"
    verbose_name = "Sandbox (built-in GHL and StreetText test servers)"
