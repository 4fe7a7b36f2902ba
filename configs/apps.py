from __future__ import annotations

from django.apps import AppConfig


class ConfigsConfig(AppConfig):
    """Configuration as files: mappings and automations exported, imported, versioned, compared and rolled back."""

    name = "configs"
    verbose_name = "Configuration files and versions"
