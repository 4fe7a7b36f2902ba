"""Sending one alert by email and to the alert webhook (run by the Celery tasks in alerts/tasks.py, outside any
transaction). Each is claimed by a conditional update first, so two deliveries of the same task send it once; a
failure that may pass (SMTP down, the webhook's host answering 5xx or 429, a timeout) gives the claim back and raises
DeliveryRetry for the task's retry; one that will not (an address the policy refuses, a 4xx) is recorded."""

from __future__ import annotations

import logging
from typing import Any

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from alerts.models import Alert
from alerts.selectors import alert_recipients, alert_settings
from integrations.clients.addresses import base_url_problem
from integrations.logging import redact

logger = logging.getLogger(__name__)

MSG_WEBHOOK_REFUSED = "Not sent: {problem}"
MSG_WEBHOOK_REJECTED = "The webhook answered {status}: {body}"
MSG_NO_RECIPIENTS = "Not emailed: no address (set recipients in Alert settings, or DJANGO_ADMIN_EMAILS)."


class DeliveryRetry(Exception):
    """A delivery failed in a way that may pass: the task retries it."""


def _link(path: str) -> str:
    base = str(getattr(settings, "WEBHOOK_PUBLIC_BASE_URL", "") or "").rstrip("/")
    return f"{base}{path}" if base and path else path


def alert_text(alert: Alert) -> str:
    """The alert in a few lines, for the email body and the webhook's text."""
    lines = [
        alert.title,
        f"Cause: {alert.cause}" if alert.cause else "",
        f"First seen {alert.first_seen_at:%Y-%m-%d %H:%M} UTC, last seen {alert.last_seen_at:%Y-%m-%d %H:%M} UTC.",
        f"Example: {alert.example}" if alert.example else "",
        f"Details: {_link(alert.example_url)}" if alert.example_url else "",
        f"Alert: {_link(reverse('admin:alerts_alert_change', args=[alert.pk]))}",
    ]
    return redact("\n".join(line for line in lines if line))


def alert_email_send(*, alert_id: int) -> bool:
    """Email the alert once (per opening). True when sent."""
    claimed = Alert.objects.filter(pk=alert_id, notify_email=True, emailed_at__isnull=True).update(
        emailed_at=timezone.now()
    )
    if not claimed:
        return False
    alert = Alert.objects.get(pk=alert_id)
    recipients = alert_recipients()
    if not recipients:
        logger.warning("%s %s", MSG_NO_RECIPIENTS, alert.title)
        return False
    try:
        send_mail(
            subject=f"{settings.EMAIL_SUBJECT_PREFIX}{alert.title}"[:250],
            message=alert_text(alert),
            from_email=None,
            recipient_list=recipients,
            fail_silently=False,
        )
    except Exception as e:
        Alert.objects.filter(pk=alert_id).update(emailed_at=None)
        raise DeliveryRetry(f"email: {type(e).__name__}: {e}") from e
    return True


def alert_webhook_send(*, alert_id: int) -> bool:
    """Post the alert to the alert webhook once (per opening), as Slack-compatible JSON. True when delivered."""
    url = alert_settings().webhook_url
    claimed = Alert.objects.filter(pk=alert_id, notify_webhook=True, webhook_sent_at__isnull=True).update(
        webhook_sent_at=timezone.now(), webhook_error=""
    )
    if not claimed:
        return False
    alert = Alert.objects.get(pk=alert_id)
    # The connections' address rules, checked again now (with DNS): a row edited behind the admin's back, or a host
    # that now resolves to a private address, is not posted to.
    problem = base_url_problem(url, resolve=True) if url else "no alert webhook URL is set"
    if problem:
        Alert.objects.filter(pk=alert_id).update(
            webhook_sent_at=None, webhook_error=MSG_WEBHOOK_REFUSED.format(problem=problem)
        )
        logger.warning("Alert %s not posted to the webhook: %s", alert_id, problem)
        return False
    try:
        answer = requests.post(
            url,
            json={"text": alert_text(alert)},
            timeout=settings.API_TIMEOUT,
            allow_redirects=False,  # a redirect could lead past the address rules
        )
    except requests.RequestException as e:
        _give_back(alert_id, f"{type(e).__name__}: {e}")
        raise DeliveryRetry(str(e)) from e
    if answer.status_code == 429 or answer.status_code >= 500:
        _give_back(alert_id, MSG_WEBHOOK_REJECTED.format(status=answer.status_code, body=answer.text[:200]))
        raise DeliveryRetry(f"webhook answered {answer.status_code}")
    if answer.status_code >= 300:
        error = MSG_WEBHOOK_REJECTED.format(status=answer.status_code, body=answer.text[:200])
        Alert.objects.filter(pk=alert_id).update(webhook_sent_at=None, webhook_error=error)
        return False
    return True


def _give_back(alert_id: int, error: str) -> None:
    Alert.objects.filter(Q(pk=alert_id)).update(webhook_sent_at=None, webhook_error=error[:2000])


def alert_delivery_failed(*, alert_id: int, channel: str, error: Any) -> None:
    """The task gave up: what went wrong stays on the alert."""
    if channel == "webhook":
        Alert.objects.filter(pk=alert_id).update(webhook_error=f"Gave up: {error}"[:2000])
