"""Webhook deliveries: record (replay guard), map the event to a source record, request webhook runs, retry.

The view only verifies and records; `webhook_delivery_process` (in a Celery task) turns a delivery into one run per
enabled mapping that reads from the sending system, limited to the record the event names (`only_ids`). When a
mapping already has a run going, the delivery is deferred and `webhook_deliveries_retry` (every minute) requests one
run per mapping for all deferred ids together. The mapping's scheduled run is the reconciliation poll that repairs
what webhooks missed; webhook runs never move its cursor.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from integrations import enqueue
from integrations.models import Connection, RecordLink, SyncRun, System, WebhookDelivery
from integrations.services.runs import SyncRequestRefused, sync_run_request
from integrations.webhooks.signals import webhook_received
from mappings.models import Mapping, source_system, target_system

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status

MSG_REPLAYED = "duplicate delivery: {source} id {webhook_id!r} was already received at {received_at}"
MSG_TOO_MANY = "more than {limit} deliveries in the last minute for this connection; try again later"
MSG_MISSING_ID = "{event_type} event without {path!r}"
MSG_ID_TOO_LONG = "{event_type} event with an id longer than {length} characters"
MSG_UNKNOWN_EVENT = "event type {event_type!r} is not handled"
MSG_OTHER_LOCATION = "location {location_id!r} has no GoHighLevel connection here"
MSG_NO_MAPPING = "no enabled mapping reads {object_type} records from this connection"
MSG_REQUESTED_BY = "webhook {event_type} {webhook_id}"
MSG_RETRY_REQUESTED_BY = "webhook retry ({count} deliveries)"
MSG_MAPPING_GONE = "mapping #{mapping_id} was deleted or switched off before its run could start"
MSG_LISTENERS = "fired {count} automation(s)"

CONTACT = "contact"
MAX_ID_LENGTH = 64  # WebhookDelivery.record_id / contact_id
# A queued delivery whose task never ran (broker lost the message) is picked up by the retry after this long.
QUEUED_RESCUE_AFTER = timedelta(minutes=5)


class WebhookReplayed(Exception):
    """The delivery id was seen before."""


class WebhookPayloadError(ValueError):
    """A known event without the fields we need."""


class WebhookRateLimited(Exception):
    """The connection already accepted its per-minute share of deliveries."""


@dataclass(frozen=True)
class EventObject:
    """Where an event's record id is (dotted path), and its contact's id for the fall-back to contact mappings."""

    object_type: str
    id_path: str
    contact_path: str = ""
    # GHL tasks and notes live under their contact: the adapters address them as "<contactId>/<id>".
    under_contact: bool = False


_CONTACT_EVENT = EventObject(CONTACT, "id", "id")
# Object types whose GHL ids are "<contactId>/<id>".
UNDER_CONTACT = ("task", "note")
_TASK_EVENT = EventObject("task", "id", "contactId", under_contact=True)
_NOTE_EVENT = EventObject("note", "id", "contactId", under_contact=True)
_APPOINTMENT_EVENT = EventObject("appointment", "appointment.id", "appointment.contactId")
_OPPORTUNITY_EVENT = EventObject("opportunity", "id", "contactId")

# GHL event names (docs/ghl-facts.md#webhooks) and StreetText's (docs/streettext-api.md).
EVENT_OBJECT: dict[str, dict[str, EventObject]] = {
    System.GHL: {
        "ContactCreate": _CONTACT_EVENT,
        "ContactUpdate": _CONTACT_EVENT,
        "ContactDelete": _CONTACT_EVENT,
        "ContactTagUpdate": _CONTACT_EVENT,
        "ContactDndUpdate": _CONTACT_EVENT,
        "TaskCreate": _TASK_EVENT,
        "TaskComplete": _TASK_EVENT,
        "TaskDelete": _TASK_EVENT,
        "NoteCreate": _NOTE_EVENT,
        "NoteUpdate": _NOTE_EVENT,
        "NoteDelete": _NOTE_EVENT,
        "AppointmentCreate": _APPOINTMENT_EVENT,
        "AppointmentUpdate": _APPOINTMENT_EVENT,
        "AppointmentDelete": _APPOINTMENT_EVENT,
        "OpportunityCreate": _OPPORTUNITY_EVENT,
        "OpportunityUpdate": _OPPORTUNITY_EVENT,
        "OpportunityStatusUpdate": _OPPORTUNITY_EVENT,
        "OpportunityStageUpdate": _OPPORTUNITY_EVENT,
        "OpportunityMonetaryValueUpdate": _OPPORTUNITY_EVENT,
        "OpportunityAssignedToUpdate": _OPPORTUNITY_EVENT,
        "OpportunityDelete": _OPPORTUNITY_EVENT,
    },
    System.STREETTEXT: {
        "contact.created": EventObject(CONTACT, "data.contact.id", "data.contact.id"),
        "contact.updated": EventObject(CONTACT, "data.contact.id", "data.contact.id"),
        "contact.deleted": EventObject(CONTACT, "data.contact.id", "data.contact.id"),
    },
}


@dataclass(frozen=True)
class EventTarget:
    object_type: str
    record_id: str
    contact_id: str


# -- pure helpers -------------------------------------------------------------------------------------------------


def _dig(payload: dict[str, Any], path: str) -> str:
    value: Any = payload
    for key in path.split("."):
        if not isinstance(value, dict):
            return ""
        value = value.get(key)
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value).strip()
    return ""


def webhook_event_target(*, source: str, event_type: str, payload: dict[str, Any]) -> EventTarget | None:
    """The record an event names; None for event types we do not handle."""
    event = EVENT_OBJECT[source].get(event_type)
    if event is None:
        return None
    record_id = _dig(payload, event.id_path)
    if not record_id:
        raise WebhookPayloadError(MSG_MISSING_ID.format(event_type=event_type, path=event.id_path))
    contact_id = _dig(payload, event.contact_path) if event.contact_path else ""
    if event.under_contact and contact_id:
        record_id = f"{contact_id}/{record_id}"
    # Without its contact (GHL sends some task events so) the bare id is kept; processing resolves it.
    if len(record_id) > MAX_ID_LENGTH or len(contact_id) > MAX_ID_LENGTH:
        raise WebhookPayloadError(MSG_ID_TOO_LONG.format(event_type=event_type, length=MAX_ID_LENGTH))
    return EventTarget(object_type=event.object_type, record_id=record_id, contact_id=contact_id)


# -- selectors ------------------------------------------------------------------------------------------------------


def webhook_connection_get(*, system: str, token: str) -> Connection | None:
    return Connection.objects.filter(system=system, webhook_token=token).first() if token else None


def webhook_deliveries_last_minute(*, connection: Connection) -> int:
    """Deliveries accepted for this connection in the last 60 s (the per-connection rate limit's count)."""
    since = timezone.now() - timedelta(seconds=60)
    return WebhookDelivery.objects.filter(connection=connection, received_at__gte=since).count()


def webhook_path(connection: Connection) -> str:
    """This connection's webhook path, e.g. /webhooks/ghl/<token>/."""
    return reverse(f"webhooks:{connection.system}", kwargs={"token": connection.webhook_token})


def webhook_url(connection: Connection, *, base_url: str) -> str:
    return base_url.rstrip("/") + webhook_path(connection)


def _ghl_connection_for_location(connection: Connection, location_id: str) -> Connection | None:
    """A Marketplace app has one webhook URL for every location that installs it: route by locationId."""
    if not location_id or location_id == connection.location_id:
        return connection
    return Connection.objects.filter(system=System.GHL, location_id=location_id).order_by("pk").first()


# -- receiving ------------------------------------------------------------------------------------------------------


def webhook_delivery_record(
    *,
    connection: Connection,
    source: str,
    webhook_id: str,
    event_type: str,
    payload: dict[str, Any],
    payload_size: int,
    signed_at: datetime | None = None,
    max_per_minute: int | None = None,
) -> WebhookDelivery:
    """Store a verified delivery (refusing a replayed id, and one beyond `max_per_minute` for the connection) and
    enqueue its processing once committed."""
    target = webhook_event_target(source=source, event_type=event_type, payload=payload)
    status, error = Status.QUEUED, ""
    routed: Connection | None = connection
    if source == System.GHL:
        location_id = _dig(payload, "locationId")
        routed = _ghl_connection_for_location(connection, location_id)
        if routed is None:
            status, error = Status.IGNORED, MSG_OTHER_LOCATION.format(location_id=location_id)
        else:
            connection = routed
    if target is None and routed is not None:
        status, error = Status.IGNORED, MSG_UNKNOWN_EVENT.format(event_type=event_type)
    delivery = WebhookDelivery(
        connection=connection,
        source=source,
        webhook_id=webhook_id[:200],
        event_type=event_type[:80],
        signed_at=signed_at,
        status=status,
        error=error,
        payload_size=payload_size,
        object_type=target.object_type if target else "",
        record_id=target.record_id if target else "",
        contact_id=target.contact_id if target else "",
    )
    # Uniqueness is left to the database: the insert below is the replay check (race-free).
    delivery.full_clean(exclude=["connection", "runs"], validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            if max_per_minute is not None:
                # Count and insert under the connection's row lock: parallel senders queue here, so the limit is
                # exact (SQLite's IMMEDIATE transactions serialise writers the same way; see settings).
                Connection.objects.select_for_update().filter(pk=connection.pk).first()
                if webhook_deliveries_last_minute(connection=connection) >= max_per_minute:
                    raise WebhookRateLimited(MSG_TOO_MANY.format(limit=max_per_minute))
            delivery.save()
    except IntegrityError as e:
        seen = WebhookDelivery.objects.filter(source=source, webhook_id=delivery.webhook_id).first()
        if seen is None:
            raise
        raise WebhookReplayed(
            MSG_REPLAYED.format(source=source, webhook_id=delivery.webhook_id, received_at=seen.received_at.isoformat())
        ) from e
    if routed is not None:
        fired = _tell_listeners(delivery, payload)
        if fired and status == Status.IGNORED:
            # Not a sync event (an inbound message), but automations fired: the delivery did its work.
            delivery.status, delivery.error, delivery.processed_at = Status.PROCESSED, "", timezone.now()
        if fired:
            delivery.error = " ".join(filter(None, [delivery.error, MSG_LISTENERS.format(count=fired)]))[:2000]
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                status=delivery.status, error=delivery.error, processed_at=delivery.processed_at
            )
    if status == Status.QUEUED:
        transaction.on_commit(partial(enqueue.process_webhook, delivery.pk))
    return delivery


def _tell_listeners(delivery: WebhookDelivery, payload: dict[str, Any]) -> int:
    """Send `webhook_received` (automations fire their events); how many things the receivers started."""
    fired = 0
    answers = webhook_received.send_robust(
        sender=WebhookDelivery,
        connection=delivery.connection,
        source=delivery.source,
        event_type=delivery.event_type,
        webhook_id=delivery.webhook_id,
        payload=payload,
    )
    for receiver, answer in answers:
        if isinstance(answer, Exception):
            logger.error("Webhook listener %s failed on delivery %s: %r", receiver, delivery.pk, answer)
        elif isinstance(answer, int) and not isinstance(answer, bool):
            fired += answer
    return fired


# -- processing -----------------------------------------------------------------------------------------------------


def _record_id_for(delivery: WebhookDelivery, mapping: Mapping) -> str | None:
    """The id the mapping's run reads, or None when only a scan can find the record (a GHL task event that names no
    contact, for a task never linked: its id alone does not address it)."""
    if mapping.object_type != delivery.object_type:
        return delivery.contact_id
    if delivery.source == System.GHL and "/" not in delivery.record_id and delivery.object_type in UNDER_CONTACT:
        link = (
            RecordLink.objects.filter(
                ghl_connection=mapping.ghl_connection_id,
                streettext_connection=mapping.streettext_connection_id,
                object_type=delivery.object_type,
                ghl_id__endswith=f"/{delivery.record_id}",
            )
            .values_list("ghl_id", flat=True)
            .first()
        )
        return link
    return delivery.record_id


def mapping_reads(mapping: Mapping, system: str) -> bool:
    """Whether a change on `system` concerns a mapping: sync mode reads its source side; enrich mode reads its target
    side (a new record to fill) and is re-run by a change of its source too."""
    sides = {source_system(d) for d in mapping.directions}
    if mapping.mode == Mapping.Mode.ENRICH:
        sides |= {target_system(d) for d in mapping.directions}
    return system in sides


def _mappings_for(delivery: WebhookDelivery) -> list[Mapping]:
    """Enabled mappings on the connection that read from the sender, for the event's object type; task, note and
    appointment events fall back to the contact mappings (their contact is synced) when no mapping of their type."""
    candidates = [
        m
        for m in Mapping.objects.filter(
            enabled=True, **{f"{delivery.source}_connection": delivery.connection}
        ).order_by("pk")
        if mapping_reads(m, delivery.source)
    ]
    direct = [m for m in candidates if m.object_type == delivery.object_type]
    if direct or delivery.object_type == CONTACT or not delivery.contact_id:
        return direct
    return [m for m in candidates if m.object_type == CONTACT]


def _only_ids(source: str, record_id: str | None) -> dict[str, list[str]] | None:
    """The run's ids; None: a scan run (the changes since the cursor) finds the record."""
    return {source: [record_id]} if record_id else None


def webhook_delivery_process(*, delivery_id: int) -> WebhookDelivery | None:
    """Request a webhook run per matching mapping; defer the mappings that already have a run going."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update().select_related("connection").filter(pk=delivery_id).first()
        )
        if delivery is None or delivery.status != Status.QUEUED:
            return delivery
        mappings = _mappings_for(delivery)
        if not mappings:
            delivery.status = Status.IGNORED
            delivery.error = MSG_NO_MAPPING.format(object_type=delivery.object_type)
            delivery.processed_at = timezone.now()
            delivery.save(update_fields=["status", "error", "processed_at"])
            return delivery
        pending: list[int] = []
        refusals: list[str] = []
        for mapping in mappings:
            try:
                run = sync_run_request(
                    mapping=mapping,
                    trigger=SyncRun.Trigger.WEBHOOK,
                    only_ids=_only_ids(delivery.source, _record_id_for(delivery, mapping)),
                    requested_by=MSG_REQUESTED_BY.format(
                        event_type=delivery.event_type, webhook_id=delivery.webhook_id
                    )[:150],
                )
            except SyncRequestRefused as e:
                pending.append(mapping.pk)
                refusals.append(str(e))
                continue
            delivery.runs.add(run)
        delivery.pending_mapping_ids = pending
        delivery.error = " ".join(refusals)
        if pending:
            delivery.status = Status.DEFERRED
        else:
            delivery.status = Status.PROCESSED
            delivery.processed_at = timezone.now()
        delivery.save(update_fields=["status", "error", "pending_mapping_ids", "processed_at"])
    return delivery


def webhook_delivery_fail(*, delivery_id: int, error: str) -> None:
    """The processing task gave up: the delivery ends failed (the reconciliation poll still covers the record)."""
    WebhookDelivery.objects.filter(pk=delivery_id, status__in=[Status.QUEUED, Status.DEFERRED]).update(
        status=Status.FAILED, error=error[:2000], processed_at=timezone.now()
    )


def webhook_deliveries_retry(*, now: datetime | None = None) -> dict[str, int]:
    """Periodic: one run per mapping for every deferred delivery's record (coalesced), and rescue lost queued ones."""
    now = now or timezone.now()
    rescued = 0
    lost = WebhookDelivery.objects.filter(status=Status.QUEUED, received_at__lt=now - QUEUED_RESCUE_AFTER)
    for delivery_id in lost.values_list("pk", flat=True):
        webhook_delivery_process(delivery_id=delivery_id)
        rescued += 1

    deferred = list(WebhookDelivery.objects.filter(status=Status.DEFERRED).order_by("received_at", "pk"))
    by_mapping: dict[int, list[WebhookDelivery]] = defaultdict(list)
    for delivery in deferred:
        for mapping_id in delivery.pending_mapping_ids:
            by_mapping[int(mapping_id)].append(delivery)
    mappings = Mapping.objects.in_bulk(list(by_mapping))
    runs_requested = still_deferred = 0
    done: dict[int, set[int]] = defaultdict(set)  # delivery pk -> mapping ids settled now
    gone: dict[int, list[str]] = defaultdict(list)
    for mapping_id, deliveries in by_mapping.items():
        mapping = mappings.get(mapping_id)
        if mapping is None or not mapping.enabled:
            for delivery in deliveries:
                done[delivery.pk].add(mapping_id)
                gone[delivery.pk].append(MSG_MAPPING_GONE.format(mapping_id=mapping_id))
            continue
        only: dict[str, list[str]] | None = {}
        for delivery in deliveries:
            record_id = _record_id_for(delivery, mapping)
            if record_id is None:
                only = None  # one of them needs a scan: a scan run covers them all
                break
            assert only is not None
            ids = only.setdefault(delivery.source, [])
            if record_id not in ids:
                ids.append(record_id)
        try:
            with transaction.atomic():
                run = sync_run_request(
                    mapping=mapping,
                    trigger=SyncRun.Trigger.WEBHOOK,
                    only_ids=only,
                    requested_by=MSG_RETRY_REQUESTED_BY.format(count=len(deliveries)),
                )
                run.webhook_deliveries.add(*deliveries)
        except SyncRequestRefused:
            still_deferred += len(deliveries)
            continue
        runs_requested += 1
        for delivery in deliveries:
            done[delivery.pk].add(mapping_id)

    for delivery in deferred:
        settled = done.get(delivery.pk)
        if not settled:
            continue
        delivery.pending_mapping_ids = [m for m in delivery.pending_mapping_ids if int(m) not in settled]
        delivery.error = " ".join(gone.get(delivery.pk, []))
        fields = ["pending_mapping_ids", "error"]
        if not delivery.pending_mapping_ids:
            delivery.status = Status.PROCESSED
            delivery.processed_at = now
            fields += ["status", "processed_at"]
        WebhookDelivery.objects.filter(pk=delivery.pk, status=Status.DEFERRED).update(
            **{name: getattr(delivery, name) for name in fields}
        )

    pruned, _ = WebhookDelivery.objects.filter(
        received_at__lt=now - timedelta(days=settings.WEBHOOK_DELIVERY_KEEP_DAYS)
    ).delete()
    if runs_requested or rescued:
        logger.info("Webhook retry: %s run(s) requested, %s queued delivery(ies) rescued", runs_requested, rescued)
    return {"runs": runs_requested, "still_deferred": still_deferred, "rescued": rescued, "pruned": pruned}


def connection_set_webhook_secret(*, connection: Connection, secret: str) -> Connection:
    """Store StreetText's webhook signing secret, encrypted. Empty keeps the stored one (the field is write-only).

    Raises ValidationError for characters no sender would sign with (see `secret_validate`)."""
    from integrations.services.connections import secret_validate

    if secret:
        secret_validate(secret.strip())
        connection.webhook_secret = secret.strip()
    return connection
