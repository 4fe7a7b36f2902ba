"""Follow-up rules: once per contact and rule, when a condition holds on a record a run processed, a GHL task is
created, or the contact is enrolled in a workflow or a campaign, or users are added as its followers.

A rule with "new_records_only" fires for records a person created, never for copies this app made from the other
side (their record link's origin says so). Which rules already fired is bookkeeping of its own (FollowupMarker),
not a record link.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations.adapters import Record, adapter_for
from integrations.adapters.clients import ghl_client_for
from integrations.clients import exceptions as exc
from integrations.models import FollowupMarker, System
from integrations.services.sync.context import LegContext
from integrations.services.sync.items import Item, label_of
from integrations.services.sync.links import LinkBook, link_id
from integrations.services.sync.outcomes import (
    REASON_FOLLOWUP,
    REASON_FOLLOWUP_ENROL,
    REASON_FOLLOWUP_UNSTORED,
    Action,
    Outcome,
)
from mappings.models import Direction
from mappings.pipeline import render_template, render_title
from mappings.rules import condition_holds, rule_key


class Followups:
    def __init__(self, ctx: LegContext) -> None:
        self.ctx = ctx
        self.rules = [r for r in ctx.mapping.followup_rules or [] if isinstance(r, dict) and r.get("when")]
        # Markers this page made or found unrecorded (PageResult.markers: recorded with the page).
        self.marked: list[int] = []

    def _contact_ids(self, items: list[Item], book: LinkBook) -> dict[int, str]:
        """The GHL contact each item's follow-up belongs to: the contact itself, or a child record's contact."""
        ctx = self.ctx
        ghl_id_of: dict[int, str] = {}
        if ctx.object_type.key == "contact":
            for item in items:
                outcome = item.outcome
                ghl_id_of[id(item)] = outcome.ghl_id if outcome is not None else ""
            return ghl_id_of
        if ctx.object_type.parent != "contact" or not ctx.object_type.parent_fields:
            return {}
        ghl_field, st_field = ctx.object_type.parent_fields
        if ctx.read_system == System.GHL:
            return {id(i): str(i.record.values.get(ghl_field) or "") for i in items}
        from integrations.services.sync.parents import linked_ids

        st_ids = {id(i): str(i.record.values.get(st_field) or "") for i in items}
        linked = linked_ids(ctx, "contact", list(st_ids.values())) if ctx.source_system == System.STREETTEXT else {}
        return {key: linked.get(st_id, "") for key, st_id in st_ids.items()}

    def _copy_made_by_us(self, item: Item, book: LinkBook) -> bool:
        link = item.link or book.get(self.ctx.read_system, item.record.id)
        return bool(link is not None and link.origin and link.origin != self.ctx.read_system)

    def run(self, items: list[Item], book: LinkBook) -> list[Outcome]:
        ctx = self.ctx
        self.marked = []
        if not self.rules:
            return []
        candidates = [
            i
            for i in items
            if i.outcome is not None and not i.unchanged and i.outcome.action != Action.FAILED and not i.record.deleted
        ]
        if not candidates:
            return []
        contacts = self._contact_ids(candidates, book)
        wanted = {contacts.get(id(i)) for i in candidates} - {"", None}
        markers = FollowupMarker.objects.filter(mapping=ctx.mapping, contact_ghl_id__in=wanted)
        done: dict[tuple[str, str], FollowupMarker] = {(m.contact_ghl_id, m.rule): m for m in markers}
        results: list[Outcome] = []
        for item in candidates:
            contact_id = contacts.get(id(item)) or ""
            if not contact_id:
                continue
            for rule in self.rules:
                key = rule_key(rule)
                marker = done.get((contact_id, key))
                if marker is not None and marker.pending and not ctx.dry_run:
                    # Settled once per page: later records of the contact find the placeholder.
                    done[(contact_id, key)] = FollowupMarker(contact_ghl_id=contact_id, rule=key)
                    resolved = self._resolve(item, marker, book)
                    if resolved is not None:
                        results.append(resolved)
                    continue
                if marker is not None and not marker.recorded and not ctx.dry_run and marker.pk not in self.marked:
                    results.append(self._unstored(item, marker, book))
                if marker is not None or not condition_holds(rule["when"], item.values):
                    continue
                if rule.get("new_records_only") and self._copy_made_by_us(item, book):
                    continue
                done[(contact_id, key)] = FollowupMarker(contact_ghl_id=contact_id, rule=key)
                outcome = self._act(item, rule, contact_id, book)
                if outcome is not None:
                    results.append(outcome)
        return results

    def _unstored(self, item: Item, marker: FollowupMarker, book: LinkBook) -> Outcome:
        """A follow-up an attempt made just before it stopped (its page never stored): recorded now, once."""
        self.marked.append(marker.pk)
        reason = REASON_FOLLOWUP_UNSTORED.format(contact=marker.contact_ghl_id, rule=marker.rule)
        action = Action.CREATED if marker.task_ghl_id else Action.UPDATED
        return Outcome(
            action,
            reason,
            direction=Direction.TO_GHL,
            ghl_id=marker.task_ghl_id or marker.contact_ghl_id,
            streettext_id=self._streettext_id(item, book),
        )

    def _act(self, item: Item, rule: dict[str, Any], contact_id: str, book: LinkBook) -> Outcome | None:
        action = rule.get("action", "task")
        if action == "task":
            return self._create_task(item, rule, contact_id, book)
        ctx = self.ctx
        client = ghl_client_for(ctx.mapping.ghl_connection)
        value: Any
        call: Callable[..., Any]
        if action == "workflow":
            what, value, call = "workflow", str(rule["workflow_id"]), client.add_contact_to_workflow
        elif action == "campaign":
            what, value, call = "campaign", str(rule["campaign_id"]), client.add_contact_to_campaign
        else:
            what, value, call = "followers", [str(f) for f in rule["followers"]], client.add_followers
        reason = REASON_FOLLOWUP_ENROL.format(what=what, value=value, contact=contact_id, rule=rule_key(rule))
        base: dict[str, Any] = {
            "direction": Direction.TO_GHL,
            "ghl_id": contact_id,
            "streettext_id": self._streettext_id(item, book),
            "changes": {what: {"before": None, "after": value}},
            "reason": reason,
        }
        if ctx.dry_run:
            return Outcome(Action.UPDATED, **base)
        try:
            ctx.call(ctx.mapping.ghl_connection, call, contact_id, value)
        except (exc.ApiValidationError, exc.ApiNotFound) as e:
            return Outcome(Action.FAILED, error=str(e), **base)
        self._mark(contact_id, rule, "")
        return Outcome(Action.UPDATED, **base)

    def _streettext_id(self, item: Item, book: LinkBook) -> str:
        ctx = self.ctx
        if ctx.object_type.key != "contact":
            return ""
        link = item.link or book.get(ctx.read_system, item.record.id)
        st_id = link_id(link, System.STREETTEXT)
        if not st_id and ctx.read_system == System.STREETTEXT:
            st_id = item.record.id
        return st_id

    def _mark(self, contact_id: str, rule: dict[str, Any], task_id: str) -> None:
        # One run of a mapping at a time: a clash here can only be a re-run of the same page after a crash.
        with contextlib.suppress(IntegrityError), transaction.atomic():
            marker = FollowupMarker.objects.create(
                mapping=self.ctx.mapping,
                contact_ghl_id=contact_id,
                rule=rule_key(rule),
                task_ghl_id=task_id[:64],
                recorded=False,
            )
            self.marked.append(marker.pk)

    @staticmethod
    def _name_of(item: Item, contact_id: str) -> str:
        """What a title calls the record when its placeholders are blank: a name or title, else an email or phone."""
        values = item.values
        label = label_of(Record(id=item.record.id, values=values))
        return label or str(values.get("phone") or "").strip() or f"contact {contact_id}"

    def _create_task(self, item: Item, rule: dict[str, Any], contact_id: str, book: LinkBook) -> Outcome | None:
        ctx = self.ctx
        # From the record as this run leaves it (an enrich leg has just filled the name), and never with an empty
        # placeholder: a contact still without a name is named by its email or phone.
        title = render_title(str(rule.get("title") or ""), item.values, fallback=self._name_of(item, contact_id))
        due = timezone.now() + timedelta(days=float(rule.get("due_in_days", 1)))
        task: dict[str, Any] = {
            "contactId": contact_id,
            "title": title,
            "dueDate": due.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "completed": False,
        }
        body = render_template(str(rule.get("body") or ""), item.values)
        if body:
            task["body"] = body
        st_id = self._streettext_id(item, book)
        reason = REASON_FOLLOWUP.format(contact=contact_id, rule=rule_key(rule))
        changes = {name: {"before": None, "after": value} for name, value in task.items()}
        base: dict[str, Any] = {
            "direction": Direction.TO_GHL,
            "streettext_id": st_id,
            "changes": changes,
            "reason": reason,
        }
        if ctx.dry_run:
            return Outcome(Action.CREATED, ghl_id="", **base)
        try:
            with transaction.atomic():
                marker = FollowupMarker.objects.create(
                    mapping=ctx.mapping,
                    contact_ghl_id=contact_id,
                    rule=rule_key(rule),
                    recorded=False,
                    pending=True,
                    sent=task,
                )
        except IntegrityError:
            return None  # written ahead by an attempt running now (one run of a mapping at a time: not expected)
        return self._send(marker, base)

    def _send(self, marker: FollowupMarker, base: dict[str, Any]) -> Outcome:
        """Create the task the marker wrote ahead. Refused: the marker goes (nothing was made). Unanswered (a timeout,
        a server error, a worker killed): it stays pending for the next attempt to look for."""
        connection = self.ctx.mapping.ghl_connection
        try:
            created = self.ctx.call(connection, adapter_for(connection, "task").create, dict(marker.sent))
        except (exc.ApiValidationError, exc.ApiNotFound) as e:
            marker.delete()
            return Outcome(Action.FAILED, ghl_id="", error=str(e), **base)
        self._made(marker, created.id)
        return Outcome(Action.CREATED, ghl_id=created.id, **base)

    def _made(self, marker: FollowupMarker, task_id: str) -> None:
        FollowupMarker.objects.filter(pk=marker.pk).update(task_ghl_id=task_id[:64], pending=False)
        self.marked.append(marker.pk)

    def _resolve(self, item: Item, marker: FollowupMarker, book: LinkBook) -> Outcome | None:
        """A task an earlier attempt sent and never heard back about: found on GHL (the same contact, title and due
        date), it is recorded as made; not found, it is created now (the rule fired when it was written ahead)."""
        ctx = self.ctx
        connection = ctx.mapping.ghl_connection
        task = dict(marker.sent)
        base: dict[str, Any] = {
            "direction": Direction.TO_GHL,
            "streettext_id": self._streettext_id(item, book),
            "changes": {name: {"before": None, "after": value} for name, value in task.items()},
            "reason": REASON_FOLLOWUP.format(contact=marker.contact_ghl_id, rule=marker.rule),
        }
        adapter = adapter_for(connection, "task")
        found = ctx.call(connection, adapter.find_created, task, since=marker.created_at)
        if found is not None:
            self._made(marker, found.id)
            return Outcome(Action.CREATED, ghl_id=found.id, **base)
        if not task:
            marker.delete()
            return None
        return self._send(marker, base)
