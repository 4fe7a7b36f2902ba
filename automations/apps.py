from __future__ import annotations

from django.apps import AppConfig


class AutomationsConfig(AppConfig):
    name = "automations"
    verbose_name = "Automations"

    def ready(self) -> None:
        # Webhooks fire events at once; integrations never imports automations (one-way app edges).
        from automations.services.events import on_webhook_received
        from integrations.webhooks.signals import webhook_received

        webhook_received.connect(on_webhook_received, dispatch_uid="automations.events")
