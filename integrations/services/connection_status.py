"""A connection's status: OK, failing, needs re-authentication (with the one alert per incident).

Kept apart from connections.py (which calls the APIs to test a connection) so that what the API clients' OAuth
refresh needs does not import the code that builds those clients."""

from __future__ import annotations

import logging

from django.utils import timezone

from integrations.models import Connection
from integrations.services.alerts import SUBJECT_REAUTH, alert_send

logger = logging.getLogger(__name__)


def connection_mark(*, connection: Connection, status: str, detail: str) -> Connection:
    Connection.objects.filter(pk=connection.pk).update(
        status=status, status_detail=detail, status_checked_at=timezone.now()
    )
    connection.status, connection.status_detail = status, detail
    return connection


def connection_needs_reauth(*, connection: Connection, detail: str) -> None:
    """Permanent auth failure: flag the connection (its mappings stop running) and email the admins once."""
    # The conditional update is the once-per-incident guard: only the call that flips the status sends the email.
    flipped = (
        Connection.objects.filter(pk=connection.pk)
        .exclude(status=Connection.Status.NEEDS_REAUTH)
        .update(status=Connection.Status.NEEDS_REAUTH, status_detail=detail, status_checked_at=timezone.now())
    )
    connection.status, connection.status_detail = Connection.Status.NEEDS_REAUTH, detail
    logger.warning("Connection %s needs re-authentication: %s", connection.pk, detail)
    if flipped:
        alert_send(
            subject=SUBJECT_REAUTH.format(name=connection.name),
            body=f"{detail}\n\nIts mappings do not run until the credentials are replaced (or the OAuth connection "
            "is reconnected) in the admin.",
        )
