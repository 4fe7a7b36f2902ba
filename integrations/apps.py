from __future__ import annotations

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        # System checks for unsafe or broken settings (check, check --deploy).
        from integrations import checks  # noqa: F401
