"""Alert tests' helpers: the notification tasks run in this process when sent."""

from __future__ import annotations

import pytest

from alerts import enqueue, tasks


@pytest.fixture
def alert_tasks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """The notification tasks run in this process when sent (the broker is the boundary): their retries included."""
    sent: list[tuple[str, int]] = []

    def email(alert_id: int) -> None:
        sent.append(("email", alert_id))
        tasks.alert_email_task.apply(args=(alert_id,))

    def webhook(alert_id: int) -> None:
        sent.append(("webhook", alert_id))
        tasks.alert_webhook_task.apply(args=(alert_id,))

    monkeypatch.setattr(enqueue, "alert_email", email)
    monkeypatch.setattr(enqueue, "alert_webhook", webhook)
    return sent
