"""Follow-up rules: a GHL task once per contact and rule when a condition holds on a record a run processed.

A rule with "new_records_only" fires for records a person created, never for copies this app made from the other
side (their record link's origin says so). Which rules already fired is bookkeeping of its own (FollowupMarker),
not a record link.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations.adapters import adapter_for
from integrations.clients import exceptions as exc
from integrations.models import FollowupMarker, System
from integrations.services.sync.context import LegContext
from integrations.services.sync.links import LinkBook, link_id
from integrations.services.sync.outcomes import REASON_FOLLOWUP, Action, Outcome
from mappings.models import Direction
from mappings.pipeline import render_template
from mappings.rules import condition_holds

if TYPE_CHECKING:
    from integrations.services.sync.leg import Item


def rule_key(rule: dict[str, Any]) -> str:
    return str(rule.get("name") or rule.get("title") or "")[:120]


class Followups:
    def __init__(self, ctx: LegContext) -> None:
        self.ctx = ctx
        self.rules = [r for r in ctx.mapping.followup_rules or [] if isinstance(r, dict) and r.get("when")]

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
        done = set(
            FollowupMarker.objects.filter(mapping=ctx.mapping, contact_ghl_id__in=wanted).values_list(
                "contact_ghl_id", "rule"
            )
        )
        results: list[Outcome] = []
        for item in candidates:
            contact_id = contacts.get(id(item)) or ""
            if not contact_id:
                continue
            for rule in self.rules:
                key = rule_key(rule)
                if (contact_id, key) in done or not condition_holds(rule["when"], item.record.values):
                    continue
                if rule.get("new_records_only") and self._copy_made_by_us(item, book):
                    continue
                done.add((contact_id, key))
                results.append(self._create_task(item, rule, contact_id, book))
        return results

    def _create_task(self, item: Item, rule: dict[str, Any], contact_id: str, book: LinkBook) -> Outcome:
        ctx = self.ctx
        title = render_template(str(rule.get("title") or ""), item.record.values) or str(rule.get("title") or "")
        due = timezone.now() + timedelta(days=float(rule.get("due_in_days", 1)))
        task: dict[str, Any] = {
            "contactId": contact_id,
            "title": title,
            "dueDate": due.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "completed": False,
        }
        body = render_template(str(rule.get("body") or ""), item.record.values)
        if body:
            task["body"] = body
        link = item.link or book.get(ctx.read_system, item.record.id)
        st_id = link_id(link, System.STREETTEXT) if ctx.object_type.key == "contact" else ""
        if not st_id and ctx.read_system == System.STREETTEXT and ctx.object_type.key == "contact":
            st_id = item.record.id
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
        connection = ctx.mapping.ghl_connection
        try:
            created = ctx.call(connection, adapter_for(connection, "task").create, task)
        except (exc.ApiValidationError, exc.ApiNotFound) as e:
            return Outcome(Action.FAILED, ghl_id="", error=str(e), **base)
        try:
            with transaction.atomic():
                FollowupMarker.objects.create(
                    mapping=ctx.mapping, contact_ghl_id=contact_id, rule=rule_key(rule), task_ghl_id=created.id[:64]
                )
        except IntegrityError:
            pass  # another run of the same mapping made it at the same moment; the task it made is the one kept
        return Outcome(Action.CREATED, ghl_id=created.id, **base)
