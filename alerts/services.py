"""Raising, updating, resolving and acknowledging alerts, one per cause (docs/alerts.md).

- A mapping's records keep failing: after each full run (changes since the cursor, or a re-sync), the run's failed
  records are grouped by cause (the error with ids, addresses and values taken out, alerts/causes.py); a cause found
  in each of the last N such runs raises one alert ("12 records keep failing with 'phone: invalid'"), updated on every
  later run while it persists (records in the latest run, last seen, newest example) and resolved by the first full
  run without it.
- A mapping's runs fail N times in a row: one alert, resolved by the next run that ends succeeded or partial.
- An automation's items fail: grouped by cause at the end of each poll, raised at once (each failed item waits for a
  person's Retry), resolved by a poll that handled items without that failure.
- An automation's polls fail N times in a row (the trigger cannot be read, the worker was lost): one alert, resolved
  by the next poll that reads its trigger.

N is the mapping's or automation's own setting, else the install's, else ALERT_FAILED_RUNS. A new alert (or one that
comes back after it was resolved) is emailed and posted to the alert webhook once, by Celery tasks sent when the
transaction commits; later occurrences only update the row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from alerts import enqueue
from alerts.causes import cause_digest, cause_of
from alerts.models import Alert, AlertRule, AlertSettings
from alerts.selectors import alert_rule_for, alert_settings, failing_runs_threshold
from automations.models import POLL_EVERY_ITEM_FAILED, Automation, AutomationItem, AutomationPoll
from integrations.models import RecordHistory, SyncRun
from mappings.models import Mapping

logger = logging.getLogger(__name__)

TITLE_RECORDS = "Mapping “{name}”: {count} record{s} keep failing with “{cause}”"
TITLE_RUNS = "Mapping “{name}”: {count} runs in a row failed"
TITLE_ITEMS = "Automation “{name}”: {count} item{s} failed with “{cause}”"
TITLE_POLLS = "Automation “{name}”: {count} polls in a row failed"
MSG_ACKNOWLEDGED = "Acknowledged {count} alert(s)."
MSG_ALREADY_ACKNOWLEDGED = "That alert was already acknowledged."
EXAMPLE_RECORD = "{who}: {error}"
EXAMPLE_ITEM = "{who}: {error}"

# Runs whose scope is every change (or every linked record): the ones that retry a failing record; a webhook's or
# a re-run's few named records say nothing about the others.
FULL_SCOPES = (SyncRun.Scope.CHANGES, SyncRun.Scope.LINKED)
RUN_ENDED = (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL, SyncRun.Status.FAILED, SyncRun.Status.STALE)
RUN_FAILED = (SyncRun.Status.FAILED, SyncRun.Status.STALE)
POLL_FAILED = (AutomationPoll.Status.FAILED, AutomationPoll.Status.STALE)


def _url(name: str, *args: Any) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _plural(count: int) -> str:
    return "" if count == 1 else "s"


@dataclass
class Occurrence:
    """One sighting of a cause."""

    cause_key: str
    kind: str
    title: str
    cause: str
    count: int
    example: str = ""
    example_url: str = ""
    mapping: Mapping | None = None
    automation: Automation | None = None
    accumulate: bool = False  # count adds up over sightings (items), else it is the latest sighting's (records)


# ------------------------------------------------------------------------------
# Raise, resolve, acknowledge
# ------------------------------------------------------------------------------
def alert_raise(*, occurrence: Occurrence, rule: AlertRule | None = None) -> Alert:
    """Open the cause's alert, or update it while it persists, or open it again when it comes back. Notifications
    (email, webhook) are sent once per opening, by tasks sent after the transaction commits."""
    now = timezone.now()
    with transaction.atomic():
        alert = Alert.objects.select_for_update().filter(cause_key=occurrence.cause_key).first()
        if alert is None:
            try:
                with transaction.atomic():
                    alert = Alert.objects.create(
                        cause_key=occurrence.cause_key,
                        kind=occurrence.kind,
                        title=occurrence.title[:300],
                        cause=occurrence.cause[:300],
                        mapping=occurrence.mapping,
                        automation=occurrence.automation,
                        connection=_connection_of(occurrence),
                        count=occurrence.count,
                        first_seen_at=now,
                        last_seen_at=now,
                        example=occurrence.example[:4000],
                        example_url=occurrence.example_url[:300],
                    )
                opened = True
            except IntegrityError:  # raised by another worker in between: update that one
                alert = Alert.objects.select_for_update().get(cause_key=occurrence.cause_key)
                opened = False
        else:
            opened = False
        if not opened:
            reopened = alert.status == Alert.Status.RESOLVED
            count = alert.count + occurrence.count if occurrence.accumulate and not reopened else occurrence.count
            changes: dict[str, Any] = {
                "title": occurrence.title[:300],
                "count": count,
                "last_seen_at": now,
                "example": occurrence.example[:4000],
                "example_url": occurrence.example_url[:300],
                "occurrences": 1 if reopened else F("occurrences") + 1,
            }
            if reopened:
                # It came back: a new incident, so a person is asked again (inbox, email, webhook).
                changes.update(
                    status=Alert.Status.OPEN,
                    first_seen_at=now,
                    resolved_at=None,
                    times_opened=F("times_opened") + 1,
                    acknowledged_by=None,
                    acknowledged_at=None,
                    emailed_at=None,
                    webhook_sent_at=None,
                    webhook_error="",
                )
            Alert.objects.filter(pk=alert.pk).update(**changes)
            alert.refresh_from_db()
            opened = reopened
        if opened:
            _notify(alert, rule)
    return alert


def _connection_of(occurrence: Occurrence) -> Any:
    if occurrence.mapping is not None:
        return occurrence.mapping.ghl_connection
    if occurrence.automation is not None:
        return occurrence.automation.ghl_connection
    return None


def _notify(alert: Alert, rule: AlertRule | None) -> None:
    """Decide once, at opening, where the alert goes; send after commit (never from inside the transaction)."""
    install = alert_settings()
    email = install.email_enabled and (rule is None or rule.email)
    webhook = bool(install.webhook_url) and (rule is None or rule.webhook)
    Alert.objects.filter(pk=alert.pk).update(notify_email=email, notify_webhook=webhook)
    if email:
        transaction.on_commit(partial(enqueue.alert_email, alert.pk))
    if webhook:
        transaction.on_commit(partial(enqueue.alert_webhook, alert.pk))


def alert_settings_row() -> AlertSettings:
    """The install's settings row, made with the defaults the first time a person opens it in the admin."""
    row, _ = AlertSettings.objects.get_or_create(pk=AlertSettings.SINGLETON_ID)
    return row


def alerts_resolve(*, keys: Iterable[str]) -> int:
    """The causes stopped: their open alerts are resolved (they stay in the list, out of the inbox)."""
    keys = list(keys)
    if not keys:
        return 0
    return Alert.objects.filter(cause_key__in=keys, status=Alert.Status.OPEN).update(
        status=Alert.Status.RESOLVED, resolved_at=timezone.now()
    )


def alerts_acknowledge(*, alert_ids: Iterable[int], user: Any) -> int:
    """A person has seen these alerts (who and when are kept): they leave the inbox; they stay open until the cause
    stops, and come back to the inbox only if the cause stops and starts again."""
    return Alert.objects.filter(pk__in=list(alert_ids), acknowledged_at__isnull=True).update(
        acknowledged_by=user, acknowledged_at=timezone.now()
    )


# ------------------------------------------------------------------------------
# Sync runs
# ------------------------------------------------------------------------------
def _rule(*, mapping_id: int | None = None, automation_id: int | None = None) -> tuple[AlertRule | None, int] | None:
    """The subject's rule and its threshold; None when its alerts are off."""
    rule = alert_rule_for(mapping_id=mapping_id, automation_id=automation_id)
    if rule is not None and not rule.enabled:
        return None
    return rule, failing_runs_threshold(rule=rule, install=alert_settings())


def _streak(statuses: list[bool]) -> int:
    count = 0
    for failed in statuses:
        if not failed:
            break
        count += 1
    return count


def _in_a_row(
    *,
    failed: list[bool],
    key: str,
    kind: str,
    title: str,
    name: str,
    error: str,
    example: str,
    example_url: str,
    mapping: Mapping | None = None,
    automation: Automation | None = None,
    rule: AlertRule | None,
    threshold: int,
) -> None:
    """Runs or polls failing in a row (`failed`: newest first): one alert raised or updated from the threshold on,
    resolved by the first one that did not fail."""
    streak = _streak(failed)
    if streak >= threshold:
        occurrence = Occurrence(
            cause_key=key,
            kind=kind,
            title=title.format(name=name, count=streak),
            cause=cause_of(error),
            count=streak,
            example=example,
            example_url=example_url,
            mapping=mapping,
            automation=automation,
        )
        alert_raise(occurrence=occurrence, rule=rule)
    elif streak == 0:
        alerts_resolve(keys=[key])


def _by_cause(rows: Iterable[Any]) -> dict[str, tuple[int, Any]]:
    """Failed records or items (newest first, each with an `error`) by cause: how many, and the newest one."""
    causes: dict[str, tuple[int, Any]] = {}
    for row in rows:
        cause = cause_of(row.error)
        count, newest = causes.get(cause, (0, row))
        causes[cause] = (count + 1, newest)
    return causes


def _resolve_stopped(prefix: str, causes: Iterable[str]) -> None:
    """Open alerts under `prefix` whose cause is not among the latest sighting's have stopped."""
    current = {f"{prefix}{cause_digest(cause)}" for cause in causes}
    stopped = Alert.objects.filter(cause_key__startswith=prefix, status=Alert.Status.OPEN).exclude(
        cause_key__in=current
    )
    alerts_resolve(keys=stopped.values_list("cause_key", flat=True))


def alerts_for_sync_run(*, run_id: int) -> None:
    """After a run ended: the mapping's failing-runs and failing-records alerts raised, updated or resolved."""
    run = SyncRun.objects.select_related("mapping", "mapping__ghl_connection").filter(pk=run_id).first()
    if run is None or run.dry_run or run.status not in RUN_ENDED:
        return
    found = _rule(mapping_id=run.mapping_id)
    if found is None:
        return
    rule, threshold = found
    mapping = run.mapping
    finished = SyncRun.objects.filter(mapping=mapping, dry_run=False).exclude(status__in=SyncRun.ACTIVE_STATUSES)
    finished = finished.exclude(status=SyncRun.Status.CANCELLED)
    recent = list(finished.order_by("-created_at", "-pk").values_list("status", flat=True)[: max(threshold, 50)])
    _in_a_row(
        failed=[status in RUN_FAILED for status in recent],
        key=f"mapping:{mapping.pk}:runs",
        kind=Alert.Kind.RUNS_FAILING,
        title=TITLE_RUNS,
        name=mapping.name,
        error=run.error,
        example=f"Run #{run.pk}: {run.error}",
        example_url=_url("admin:integrations_syncrun_change", run.pk),
        mapping=mapping,
        rule=rule,
        threshold=threshold,
    )
    _records_failing(run, mapping, rule, threshold)


def _run_failures(run_id: int) -> dict[str, tuple[int, RecordHistory]]:
    """A run's failed records by cause: how many, and the newest one."""
    rows = RecordHistory.objects.filter(run_id=run_id, action=RecordHistory.Action.FAILED).order_by(
        "-created_at", "-id"
    )
    return _by_cause(rows.only("id", "error", "ghl_id", "streettext_id", "email", "phone", "created_at").iterator())


def _records_failing(run: SyncRun, mapping: Mapping, rule: AlertRule | None, threshold: int) -> None:
    if run.scope not in FULL_SCOPES:
        return
    if run.status in RUN_FAILED and not run.failed:
        return  # the run itself failed (an API down): it says nothing about the records
    now = _run_failures(run.pk)
    prefix = f"mapping:{mapping.pk}:records:"
    # The full runs before this one that got to their records, newest first.
    earlier = list(
        SyncRun.objects.filter(mapping=mapping, dry_run=False, scope__in=FULL_SCOPES, created_at__lte=run.created_at)
        .exclude(pk=run.pk)
        .filter(status__in=RUN_ENDED)
        .exclude(status__in=RUN_FAILED, failed=0)
        .order_by("-created_at", "-pk")
        .values_list("pk", flat=True)[: threshold - 1]
    )
    persisting = set(now)
    if len(earlier) < threshold - 1:
        persisting = set()
    for run_pk in earlier:
        if not persisting:
            break
        persisting &= set(_run_failures(run_pk))
    for cause in persisting:
        count, newest = now[cause]
        who = newest.email or newest.phone or newest.ghl_id or newest.streettext_id or f"record {newest.pk}"
        alert_raise(
            occurrence=Occurrence(
                cause_key=f"{prefix}{cause_digest(cause)}",
                kind=Alert.Kind.RECORDS_FAILING,
                title=TITLE_RECORDS.format(name=mapping.name, count=count, s=_plural(count), cause=cause),
                cause=cause,
                count=count,
                example=EXAMPLE_RECORD.format(who=who, error=newest.error),
                example_url=_url("admin:integrations_recordhistory_change", newest.pk),
                mapping=mapping,
            ),
            rule=rule,
        )
    _resolve_stopped(prefix, now)  # a cause this run did not see any more has stopped


# ------------------------------------------------------------------------------
# Automation polls
# ------------------------------------------------------------------------------
def _poll_failed(status: str, error: str) -> bool:
    # Every item failing is the items' alert; the trigger itself was read.
    return status in POLL_FAILED and error != POLL_EVERY_ITEM_FAILED


def alerts_for_poll(*, poll_id: int) -> None:
    """After a poll ended: the automation's failing-polls and failing-items alerts raised, updated or resolved."""
    poll = AutomationPoll.objects.select_related("automation", "automation__ghl_connection").filter(pk=poll_id).first()
    if poll is None or poll.status in AutomationPoll.ACTIVE_STATUSES:
        return
    found = _rule(automation_id=poll.automation_id)
    if found is None:
        return
    rule, threshold = found
    automation = poll.automation
    recent = list(
        AutomationPoll.objects.filter(automation=automation)
        .exclude(status__in=AutomationPoll.ACTIVE_STATUSES)
        .order_by("-created_at", "-pk")
        .values_list("status", "error")[: max(threshold, 50)]
    )
    _in_a_row(
        failed=[_poll_failed(status, error) for status, error in recent],
        key=f"automation:{automation.pk}:polls",
        kind=Alert.Kind.POLLS_FAILING,
        title=TITLE_POLLS,
        name=automation.name,
        error=poll.error,
        example=f"Poll #{poll.pk}: {poll.error}",
        example_url=_url("admin:automations_automationpoll_change", poll.pk),
        automation=automation,
        rule=rule,
        threshold=threshold,
    )
    _items_failing(poll, automation, rule)


def _items_failing(poll: AutomationPoll, automation: Automation, rule: AlertRule | None) -> None:
    # One poll at a time per automation: the items that failed since it started are its own (a resumed or retried
    # item keeps the poll that first stored it).
    since: datetime = poll.started_at or poll.created_at
    failed = (
        AutomationItem.objects.filter(
            automation=automation, status=AutomationItem.Status.FAILED, finished_at__gte=since
        )
        .order_by("-finished_at", "-id")
        .only("id", "item_id", "label", "error", "finished_at")
    )
    causes: dict[str, tuple[int, AutomationItem]] = _by_cause(failed.iterator())
    prefix = f"automation:{automation.pk}:items:"
    for cause, (count, newest) in causes.items():
        alert = alert_raise(
            occurrence=Occurrence(
                cause_key=f"{prefix}{cause_digest(cause)}",
                kind=Alert.Kind.ITEMS_FAILING,
                title=TITLE_ITEMS.format(name=automation.name, count=count, s=_plural(count), cause=cause),
                cause=cause,
                count=count,
                example=EXAMPLE_ITEM.format(who=newest.label or newest.item_id, error=newest.error),
                example_url=_url("admin:automations_automationitem_change", newest.pk),
                automation=automation,
                accumulate=True,
            ),
            rule=rule,
        )
        alerts_refresh_titles(alert)
    if poll.handled:
        _resolve_stopped(prefix, causes)


def alerts_refresh_titles(alert: Alert) -> None:
    """Titles of accumulating alerts say the total (kept in step with the count)."""
    if alert.kind == Alert.Kind.ITEMS_FAILING and alert.automation is not None:
        title = TITLE_ITEMS.format(
            name=alert.automation.name, count=alert.count, s=_plural(alert.count), cause=alert.cause
        )
        Alert.objects.filter(pk=alert.pk).update(title=title[:300])
