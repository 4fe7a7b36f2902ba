"""One poll of one automation: resume what an earlier poll left unfinished, then read the trigger a page at a time.

For each page, in one transaction: the items' rows (new, updated, existing or skipped — each (item, version) once,
by a unique constraint), their actions' rows, the cursor (paging position and the newest updated time seen) and the
poll's counts. Only then do the page's actions run (services/runner.py). A crash loses nothing: stored items whose
actions did not finish are resumed first by the next poll, and the cursor points after the last stored page.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from automations import values as v
from automations.classify import Decision, ItemShape, Known, Rules, classify, identify
from automations.messages import ConversationMessages, Expanded
from automations.models import Automation, AutomationCursor, AutomationItem, AutomationPoll
from automations.services import polls
from automations.services.polls import PollLost
from automations.services.runner import ItemRunner
from automations.triggers import Page, Trigger, TriggerFailed, trigger_for
from integrations.clients import exceptions as exc

logger = logging.getLogger(__name__)

NOTE_PAGE_LIMIT = "Stopped after {pages} pages (the limit per poll); the next poll continues from there."
RESUME_BATCH = 100


class PollEngine:
    def __init__(self, poll: AutomationPoll) -> None:
        self.poll = poll
        self.automation: Automation = poll.automation
        self.runner = ItemRunner(automation=self.automation, poll=poll)
        self.rules = Rules.of(self.automation)
        self.note = ""

    # -- running items -------------------------------------------------------------------------------------------
    def _run_items(self, items: list[AutomationItem]) -> None:
        self.runner.ensure_runs(items)
        for item in items:
            status = self.runner.run(item)
            # A waiting item counts as handled: its steps so far succeeded (the resume's poll counts it again).
            done = status in (AutomationItem.Status.DONE, AutomationItem.Status.WAITING)
            polls.automation_poll_beat(
                poll=self.poll, handled=int(done), failed=int(status == AutomationItem.Status.FAILED)
            )

    def resume_pending(self) -> None:
        """Items an earlier poll stored but did not finish (a crash, a transient error), oldest first."""
        last = 0
        while True:
            batch = list(
                AutomationItem.objects.filter(
                    automation=self.automation, status=AutomationItem.Status.PENDING, pk__gt=last
                ).order_by("pk")[:RESUME_BATCH]
            )
            if not batch:
                return
            self._run_items(batch)
            last = batch[-1].pk

    def retry(self, item_ids: list[int]) -> None:
        items = list(AutomationItem.objects.filter(automation=self.automation, pk__in=item_ids).order_by("pk"))
        for item in items:
            if item.status != AutomationItem.Status.FAILED:
                continue
            polls.automation_action_runs_reset(item=item)
            AutomationItem.objects.filter(pk=item.pk).update(status=AutomationItem.Status.PENDING, error="")
            item.status, item.error = AutomationItem.Status.PENDING, ""
            self._run_items([item])

    # -- reading the trigger ---------------------------------------------------------------------------------------
    def scan(self) -> None:
        trigger = trigger_for(self.automation)
        cursor, _ = AutomationCursor.objects.get_or_create(automation=self.automation)
        first_scan = cursor.scans_completed == 0
        position = cursor.position
        if position is None:
            position = trigger.start(watermark=cursor.watermark)
            AutomationCursor.objects.filter(pk=cursor.pk).update(scan_started_at=timezone.now())
        messages = ConversationMessages(self.automation, self.rules) if self.automation.each_message else None
        for pages, page in enumerate(self._pages(trigger, position), start=1):
            # Each new message of the page's changed conversations (HTTP, before the page's transaction).
            expanded = messages.expand(page.items) if messages is not None else None
            pending = self._store_page(trigger, cursor, page, first_scan=first_scan, expanded=expanded)
            self._run_items(pending)
            if page.done:
                return
            if pages >= settings.AUTOMATION_MAX_PAGES_PER_POLL:
                self.note = NOTE_PAGE_LIMIT.format(pages=pages)
                return

    def _pages(self, trigger: Trigger, position: dict[str, Any]) -> Iterator[Page]:
        # HTTP happens here, outside any transaction; each page is stored before the next is read.
        current: dict[str, Any] | None = position
        while current is not None:
            page = trigger.page(current)
            yield page
            current = None if page.done else page.next

    def _known(self, shape: ItemShape, items: list[dict[str, Any]]) -> dict[str, Known]:
        """What the history holds for the page's item ids: their versions and the latest one's item (one query)."""
        ids = {identify(item, shape)[0] for item in items}
        known: dict[str, Known] = {}
        rows = (
            AutomationItem.objects.filter(automation=self.automation, item_id__in=ids)
            .order_by("item_id", "-created_at", "-pk")
            .values_list("item_id", "version", "item")
        )
        for item_id, version, snapshot in rows:
            entry = known.setdefault(item_id, Known())
            if entry.latest is None:
                entry.latest = snapshot
            entry.versions.add(version)
        return known

    def _store_page(
        self,
        trigger: Trigger,
        cursor: AutomationCursor,
        page: Page,
        *,
        first_scan: bool,
        expanded: Expanded | None = None,
    ) -> list[AutomationItem]:
        info = trigger.info
        shape = ItemShape(info.id_field, info.updated_field, info.many)
        decisions: dict[tuple[str, str], Decision] = {}
        newest = v.parse_time(cursor.watermark) if cursor.watermark else None
        newest_ids = set(cursor.watermark_ids or [])
        markers: list[Decision] = []
        if expanded is not None:
            # The items are the conversations' messages; each conversation's row is bookkeeping, not counted.
            markers = expanded.conversations
            for message in expanded.messages:
                decisions.setdefault((message.item_id, message.version), message)
        known = self._known(shape, page.items) if expanded is None else {}
        for item in page.items if expanded is None else []:
            decision = classify(
                item, shape=shape, known=known.get(identify(item, shape)[0]), rules=self.rules, first_scan=first_scan
            )
            item_id, _, moment = identify(item, shape)
            if moment is not None:
                if newest is None or moment > newest:
                    newest, newest_ids = moment, {item_id}
                elif moment == newest:
                    newest_ids.add(item_id)
            if decision is not None:
                # The same version twice on one page (an API repeating itself) is one item.
                decisions.setdefault((decision.item_id, decision.version), decision)
        rows = [
            AutomationItem(
                automation=self.automation,
                poll=self.poll,
                item_id=d.item_id,
                version=d.version,
                change=d.change,
                status=d.status,
                reason=d.reason[:200],
                label=d.label[:200],
                item=d.item,
                changes=d.changes,
                item_time=d.item_time,
                finished_at=None if d.pending else timezone.now(),
            )
            for d in [*decisions.values(), *markers]
        ]
        counts = {
            "pages": 1,
            "seen": len(page.items) + (expanded.read if expanded is not None else 0),
            "new": sum(1 for d in decisions.values() if d.change == AutomationItem.Change.NEW),
            "updated": sum(1 for d in decisions.values() if d.change == AutomationItem.Change.UPDATED),
            "skipped": sum(1 for d in decisions.values() if not d.pending),
        }
        # After the last page a GoHighLevel list is read from the top again; a durable cursor (StreetText) goes on.
        position = page.next if not page.done or info.incremental else None
        with transaction.atomic():
            polls.automation_poll_beat(poll=self.poll, **counts)
            stored = self._insert(rows)
            updates: dict[str, Any] = {"position": position, "updated_at": timezone.now()}
            if newest is not None:
                updates["watermark"] = v.iso(newest)
                updates["watermark_ids"] = sorted(newest_ids)[:500]
            if page.done:
                updates["scans_completed"] = cursor.scans_completed + 1
            AutomationCursor.objects.filter(pk=cursor.pk).update(**updates)
            for name, value in updates.items():
                setattr(cursor, name, value)
            self.runner.ensure_runs([row for row in stored if row.status == AutomationItem.Status.PENDING])
        return [row for row in stored if row.status == AutomationItem.Status.PENDING]

    def _insert(self, rows: list[AutomationItem]) -> list[AutomationItem]:
        """Insert the page's rows; a row another poll stored meanwhile (only possible for a poll that lost its claim)
        is left to it."""
        if not rows:
            return []
        try:
            with transaction.atomic():
                return AutomationItem.objects.bulk_create(rows)
        except IntegrityError:
            stored = []
            for row in rows:
                try:
                    with transaction.atomic():
                        row.save()
                    stored.append(row)
                except IntegrityError:
                    logger.warning("Item %s at %s was recorded by another poll", row.item_id, row.version)
            return stored


def automation_poll_execute(*, poll_id: int) -> AutomationPoll | None:
    """Claim and execute one poll. Transient API errors give the poll back for the task's retry and are re-raised."""
    poll = polls.automation_poll_claim(poll_id=poll_id)
    if poll is None:
        logger.info("Poll %s is not pending (already claimed or finished); nothing to do", poll_id)
        return None
    engine = PollEngine(poll)
    try:
        if poll.trigger == AutomationPoll.Trigger.RESUME:
            # Waits that ended (services/waits.py): their items are pending again; nothing is read.
            engine.resume_pending()
        elif poll.only_items:
            engine.retry(list(poll.only_items))
        else:
            engine.resume_pending()
            engine.scan()
    except PollLost:
        logger.warning("Poll %s was ended by the stale check while this worker still ran it; stopped", poll_id)
        return None
    except exc.ApiQuotaExhausted as e:
        # A retry minutes later would be refused too: the poll ends; the next one resumes where this stopped.
        return polls.automation_poll_finish(poll=poll, error=str(e))
    except exc.TransientApiError as e:
        polls.automation_poll_release(poll=poll, error=str(e))
        raise
    except TriggerFailed as e:
        return polls.automation_poll_finish(poll=poll, error=str(e))
    except exc.ApiError as e:
        return polls.automation_poll_finish(poll=poll, error=str(e))
    return polls.automation_poll_finish(poll=poll, note=engine.note)
