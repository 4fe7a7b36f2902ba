from __future__ import annotations

from django.apps import AppConfig


class AutomationsConfig(AppConfig):
    name = "automations"
    verbose_name = "Automations"
    # The automations with their last poll, for the start page's slot (integrations/selectors.py).
    start_page_list = "automations.selectors.automation_list_with_last_poll"
    # This app's own periodic jobs, created by `setup_periodic_tasks`: name -> (task, every N minutes).
    periodic_tasks = {
        # Every minute: polls whose worker died end stale, polls whose task was lost are sent again.
        "Recover automation polls": ("automations.tasks.recover_polls_task", 1),
        # Every hour: item versions as old as record history, except each item's latest (services/history.py).
        "Prune old automation items": ("automations.tasks.prune_items_task", 60),
        # Every minute: items whose wait has ended run their remaining steps (services/waits.py).
        "Resume automation waits": ("automations.tasks.resume_waits_task", 1),
    }

    def ready(self) -> None:
        from automations.services.events import on_webhook_received
        from integrations.housekeeping import housekeeping_register
        from integrations.webhooks.signals import webhook_received

        # Also recovered by every worker's stale-check thread, which cannot wait behind the work it checks.
        housekeeping_register("automation polls", "automations.services.polls.POLLS")
        # Webhooks fire events at once; integrations never imports automations (one-way app edges).
        webhook_received.connect(on_webhook_received, dispatch_uid="automations.events")
