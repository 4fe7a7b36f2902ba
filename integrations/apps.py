from __future__ import annotations

from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        # System checks for unsafe or broken settings (check, check --deploy).
        from integrations import checks  # noqa: F401
        from integrations.housekeeping import housekeeping_register

        # Sync runs are recovered by beat's "Mark stale sync runs" and by every worker's stale-check thread.
        housekeeping_register("sync runs", "integrations.services.runs.RUNS")
