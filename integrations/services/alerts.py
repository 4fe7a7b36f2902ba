"""Emails to the admins about a connection: one email per incident, never one per record.

An incident is a state change: a connection going into "needs re-auth" (the conditional update that flips it is the
once-only guard) or a connection's daily quota running out (the pause being set). Alerts about mappings and
automations (runs and polls failing, records and items failing for one cause) are rows of the alerts app, with the
start page's inbox, email and the alert webhook (alerts/services.py). Both send to the same recipients.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail

from integrations.logging import redact

logger = logging.getLogger(__name__)

SUBJECT_REAUTH = "Connection “{name}” needs re-authentication"
SUBJECT_QUOTA = "Connection “{name}” ran out of its daily API quota"


def alert_recipients() -> list[str]:
    """The recipients set in Alert settings, else ADMINS from settings, else the active superusers' addresses."""
    from alerts.selectors import alert_recipients as recipients

    return recipients()


def alert_send(*, subject: str, body: str) -> bool:
    recipients = alert_recipients()
    if not recipients:
        logger.warning("Alert not emailed (no admin addresses): %s", subject)
        return False
    send_mail(
        subject=f"{settings.EMAIL_SUBJECT_PREFIX}{subject}",
        message=redact(body),
        from_email=None,
        recipient_list=recipients,
        fail_silently=True,
    )
    return True
