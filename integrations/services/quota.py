"""Daily API quotas: a connection whose quota is used up pauses its runs until the quota comes back."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from integrations.adapters.clients import client_for
from integrations.clients import exceptions as exc
from integrations.models import Connection
from mappings.models import Mapping

logger = logging.getLogger(__name__)

RUN_STOPPED_FOR_QUOTA = "{error}. Runs of “{connection}” are paused until then; the next run resumes from the cursor."


def connection_pause(*, connection: Connection, until: datetime) -> Connection:
    """Pause the connection's runs until `until` (a later pause already set is kept)."""
    Connection.objects.filter(pk=connection.pk).filter(Q(paused_until__isnull=True) | Q(paused_until__lt=until)).update(
        paused_until=until
    )
    connection.refresh_from_db(fields=["paused_until"])
    logger.warning("Connection %s paused until %s: daily API quota used up", connection.pk, connection.paused_until)
    return connection


def connection_for_quota_error(*, mapping: Mapping, error: exc.ApiQuotaExhausted) -> Connection:
    """The mapping's connection whose rate-limit key ran out (GHL when the error does not say)."""
    for connection in (mapping.ghl_connection, mapping.streettext_connection):
        if error.rate_limit_key and client_for(connection).rate_limit_key() == error.rate_limit_key:
            return connection
    return mapping.ghl_connection


def mapping_pause_for_quota(*, mapping: Mapping, error: exc.ApiQuotaExhausted) -> str:
    """Pause the connection that ran out of quota; returns the message to end the run with."""
    connection = connection_pause(
        connection=connection_for_quota_error(mapping=mapping, error=error), until=error.resume_at
    )
    return RUN_STOPPED_FOR_QUOTA.format(error=str(error).rstrip("."), connection=connection)


def mapping_paused_connection(*, mapping: Mapping, now: datetime | None = None) -> Connection | None:
    """The first of the mapping's connections that is paused right now, if any."""
    ids = [mapping.ghl_connection_id, mapping.streettext_connection_id]
    return Connection.objects.filter(pk__in=ids, paused_until__gt=now or timezone.now()).order_by("system").first()
