"""Events fired by webhooks: a verified GoHighLevel or StreetText webhook (integrations/webhooks, through its
`webhook_received` signal, connected in AutomationsConfig.ready) fires, at once, every enabled automation whose event
it names, on the same connection (a GoHighLevel location's, a StreetText workspace's).

Firing is a poll of the automation's trigger, requested now (AutomationPoll.Trigger.WEBHOOK): the item the webhook
names goes through the same engine as a scheduled poll's, so the history's (item, version) row keeps it handled once —
the scheduled poll that reads it later finds it handled. When a poll of the automation is waiting to start, it reads
the item too; when one is running, the webhook asks again a little later (`fire_event_task`, once for every webhook
meanwhile), a few times; the schedule is the reconciliation after that.

A deletion cannot be polled: its item (what the webhook says of the deleted record) is stored as a pending item of
version "deleted", once per id by the same unique row, and the poll requested runs its actions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from automations import enqueue
from automations import values as v
from automations.events import DELETED, Event, event_fields, event_get, events_for_webhook
from automations.models import Automation, AutomationItem, AutomationPoll
from automations.services import polls
from integrations.models import Connection, System
from mappings.rules import condition_holds

logger = logging.getLogger(__name__)

DELETED_VERSION = "deleted"
REQUESTED_BY = "webhook {event_type} {webhook_id}"
REASON_FILTER = "It does not meet the condition."
RETRY_KEY = "automations:event-retry:{automation_id}"


def _dig(payload: Any, path: str) -> str:
    value = payload
    for key in path.split("."):
        if not isinstance(value, dict):
            return ""
        value = value.get(key)
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value).strip()[:200]
    return ""


def automations_for_webhook(*, connection: Connection, source: str, event_type: str) -> list[Automation]:
    """Enabled automations whose event this webhook names, on the connection it came to."""
    keys = [event.key for event in events_for_webhook(source, event_type)]
    if not keys:
        return []
    # GoHighLevel: every connection to the webhook's location (a Private Integration Token and an agency's OAuth
    # connection may both reach it); StreetText: the connection whose webhook URL it came to.
    if source == System.GHL and connection.location_id:
        where: dict[str, Any] = {"ghl_connection__location_id": connection.location_id}
    else:
        where = {"ghl_connection" if source == System.GHL else "streettext_connection": connection}
    return list(
        Automation.objects.filter(enabled=True, event__in=keys, **where)
        .select_related("ghl_connection", "streettext_connection")
        .order_by("pk")
    )


def _store_deleted(automation: Automation, event: Event, payload: dict[str, Any]) -> AutomationItem | None:
    """The deleted item, pending (or skipped by the condition); None when its id is missing or already stored."""
    item_id = _dig(payload, event.id_path)
    if not item_id:
        return None
    # The deleted record as the webhook gives it: the payload, or the object holding the id ("data.contact").
    item: Any = payload
    for key in event.id_path.split(".")[:-1]:
        item = item.get(key) if isinstance(item, dict) else None
    item = dict(item) if isinstance(item, dict) else dict(payload)
    condition = automation.record_filter or {}
    holds = not condition or condition_holds(dict(condition), v.flatten(item))
    row = AutomationItem(
        automation=automation,
        item_id=item_id,
        version=DELETED_VERSION,
        change=AutomationItem.Change.DELETED,
        status=AutomationItem.Status.PENDING if holds else AutomationItem.Status.SKIPPED,
        reason="" if holds else REASON_FILTER,
        label=v.label_of(item)[:200],
        item=v.stored_item(item),
        item_time=timezone.now(),
        finished_at=None if holds else timezone.now(),
    )
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        return None  # this deletion was fired before (a webhook sent twice under another id)
    return row if holds else None


def automation_event_fire(*, automation: Automation, requested_by: str = "", attempt: int = 0) -> bool:
    """Request a poll now (starting after AUTOMATION_EVENT_DELAY_SECONDS); when one is going already, ask again
    later. False when the automation cannot run (switched off, its connection needs re-authentication)."""
    try:
        polls.automation_poll_request(
            automation=automation,
            trigger=AutomationPoll.Trigger.WEBHOOK,
            requested_by=requested_by[:150],
            countdown=settings.AUTOMATION_EVENT_DELAY_SECONDS,
        )
    except polls.PollRefused as e:
        active = (
            AutomationPoll.objects.filter(automation=automation, status__in=AutomationPoll.ACTIVE_STATUSES)
            .values("status", "only_items")
            .first()
        )
        if active is None or attempt >= settings.AUTOMATION_EVENT_RETRIES:
            logger.info("Event for automation %s not fired: %s", automation.pk, e)
            return False
        if active["status"] == AutomationPoll.Status.PENDING and not active["only_items"]:
            return True  # a poll about to start reads the item too
        # A poll going (it may have read past the item): ask again later, once for all the webhooks meanwhile.
        if cache.add(
            RETRY_KEY.format(automation_id=automation.pk), attempt, timeout=settings.AUTOMATION_EVENT_RETRY_SECONDS
        ):
            later = partial(
                enqueue.fire_event,
                automation.pk,
                requested_by,
                attempt + 1,
                countdown=settings.AUTOMATION_EVENT_RETRY_SECONDS,
            )
            transaction.on_commit(later)
    return True


def automation_event_fire_again(*, automation_id: int, requested_by: str, attempt: int) -> bool:
    """The task's side of a webhook that found a poll going: request the poll again."""
    cache.delete(RETRY_KEY.format(automation_id=automation_id))
    automation = Automation.objects.select_related("ghl_connection", "streettext_connection").filter(
        pk=automation_id, enabled=True
    )
    found = automation.first()
    if found is None:
        return False
    return automation_event_fire(automation=found, requested_by=requested_by, attempt=attempt)


def automations_fire_for_webhook(
    *, connection: Connection, source: str, event_type: str, webhook_id: str = "", payload: dict[str, Any]
) -> int:
    """Fire every automation this verified webhook's event names; how many were fired."""
    fired = 0
    requested_by = REQUESTED_BY.format(event_type=event_type, webhook_id=webhook_id)
    for automation in automations_for_webhook(connection=connection, source=source, event_type=event_type):
        event = event_get(automation.event)
        if event is None:
            continue
        if event.kind == DELETED and _store_deleted(automation, event, payload) is None:
            continue
        if automation_event_fire(automation=automation, requested_by=requested_by):
            fired += 1
    return fired


def on_webhook_received(sender: Any, **kwargs: Any) -> int:
    """The `webhook_received` receiver (AutomationsConfig.ready). In a savepoint of its own: a failure here is logged
    by the sender and leaves the delivery's transaction usable."""
    with transaction.atomic():
        return automations_fire_for_webhook(
            connection=kwargs["connection"],
            source=kwargs["source"],
            event_type=kwargs["event_type"],
            webhook_id=kwargs.get("webhook_id", ""),
            payload=kwargs["payload"],
        )


# ------------------------------------------------------------------------------
# Sample items for the form (before anything is saved)
# ------------------------------------------------------------------------------
SAMPLE_SIZE = 3
SAMPLE_FIELDS_SHOWN = 12
MSG_NO_CONNECTION = "Choose the {system} connection first: the sample is read from it."


class SampleRefused(ValueError):
    """The sample cannot be read with these inputs (a 4xx)."""


@dataclass
class EventSample:
    items: list[dict[str, Any]] = field(default_factory=list)
    fields: list[tuple[str, str]] = field(default_factory=list)
    error: str = ""


def event_sample(
    *, event: Event, ghl: Connection | None, streettext: Connection | None, params: dict[str, Any] | None = None
) -> EventSample:
    """Read the event's trigger once (up to SAMPLE_SIZE items; the messages of one conversation for a message event)
    from the real account: nothing is written. SampleRefused for missing inputs; a refused or failed read is the
    sample's `error`."""
    from automations.messages import MESSAGES_OPERATION
    from automations.triggers import TriggerFailed, trigger_for
    from integrations.catalog.services import catalog_execute
    from integrations.clients import exceptions as exc

    needed = ghl if event.system == System.GHL else streettext
    if needed is None or needed.system != event.system:
        raise SampleRefused(MSG_NO_CONNECTION.format(system=System(event.system).label))
    automation = Automation(
        event=event.key,
        trigger_system=event.system,
        trigger_key=event.trigger_key,
        trigger_params={**event.params, **(params or {})},
        trigger_body=event.body,
        ghl_connection=ghl,
        streettext_connection=streettext,
    )
    sample = EventSample(fields=event_fields(event))
    try:
        trigger = trigger_for(automation)
        items = trigger.page(trigger.start(), size=SAMPLE_SIZE).items
        if event.each_message and items and ghl is not None:
            answer = catalog_execute(
                connection=ghl,
                key=MESSAGES_OPERATION,
                params={"conversationId": str(items[0].get("id") or ""), "limit": SAMPLE_SIZE},
                log=False,
            )
            if not answer.ok:
                raise TriggerFailed(answer.error or "; ".join(answer.messages))
            items = answer.items
    except (TriggerFailed, exc.ApiError) as e:
        sample.error = str(e)
        return sample
    sample.items = [dict(item) for item in items[:SAMPLE_SIZE]]
    return sample


def sample_rows(sample: EventSample) -> list[dict[str, Any]]:
    """The sample as the form shows it: a label, the id and the first fields (flattened)."""
    rows = []
    for item in sample.items:
        flat = v.flatten(item)
        shown = {k: flat[k] for k in list(flat)[:SAMPLE_FIELDS_SHOWN]}
        rows.append({"label": v.label_of(item), "id": str(item.get("id") or item.get("_id") or ""), "fields": shown})
    return rows
