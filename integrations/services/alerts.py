"""Emails to the admins when something needs a person: one email per incident, never one per record.

An incident is a state change, so no alert table is needed: a connection going into "needs re-auth" (the
conditional update that flips it is the once-only guard), a connection's daily quota running out (the pause being
set), or a mapping's runs failing ALERT_FAILED_RUNS times in a row (sent on exactly that run, not on later ones).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail

from integrations.logging import redact

logger = logging.getLogger(__name__)

SUBJECT_REAUTH = "Connection “{name}” needs re-authentication"
SUBJECT_QUOTA = "Connection “{name}” ran out of its daily API quota"
SUBJECT_FAILING = "Mapping “{name}” failed {count} runs in a row"


def alert_recipients() -> list[str]:
    """ADMINS from settings, else the e-mail addresses of active superusers."""
    configured = [email for _, email in getattr(settings, "ADMINS", [])]
    if configured:
        return configured
    users = get_user_model().objects.filter(is_active=True, is_superuser=True).exclude(email="")
    return list(users.values_list("email", flat=True))


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
