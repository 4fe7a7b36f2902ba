"""One page of one leg, in sync mode: read records are matched and written to the target in a constant number of
database queries per page (links, states, parents, references, pending creates each read once); the target is read
and matched a page at a time (adapters' get_many / find_many); history, states, cursor and progress are stored
together in one short transaction once the page is done.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils import timezone

import integrations.services.sync.deletions as deletions
from integrations import concurrency
from integrations.adapters import Record
from integrations.clients import exceptions as exc
from integrations.custom_fields import REASON_DELETED as REASON_CUSTOM_FIELD_DELETED
from integrations.custom_fields import DeletedCustomFields
from integrations.models import MappingRecordState, PendingCreate, RecordLink, SyncRun, System
from integrations.services.sync.context import ConnectionAuthFailed, LegContext, combined_config_digest
from integrations.services.sync.followups import Followups
from integrations.services.sync.items import Item, PageResult, contact_keys, label_of
from integrations.services.sync.lanes import lanes_of, write_lanes
from integrations.services.sync.links import LinkBook, link_id, pair_unlinked, unlinked_mark
from integrations.services.sync.outcomes import (
    MATCHED_BY,
    REASON_ALREADY_LINKED,
    REASON_CREATED_UNSTORED,
    REASON_ECHO,
    REASON_FILTERED,
    REASON_IN_DOUBT_FOUND,
    REASON_LINKED_MEANWHILE,
    REASON_NO_MATCH_NO_CREATE,
    REASON_NOT_WRITTEN,
    REASON_STAYS_UNLINKED,
    REASON_TARGET_GONE,
    REASON_UNCHANGED,
    REASON_UPDATED_UNSTORED,
    Action,
    Outcome,
)
from integrations.services.sync.parents import Parents
from integrations.services.sync.plan import (
    Plan,
    is_echo,
    new_configs,
    new_digests,
    new_written,
    plan_create,
    plan_update,
)
from integrations.services.sync.values import match_value
from mappings.models import Mapping
from mappings.pipeline import build_payload
from mappings.rules import condition_holds

# Server errors after which a create may still have been carried out: a gateway that gave up waiting (502, 504), or
# an error that came without a status. 500 and 503 mean the request was refused or failed and rolled back.
IN_DOUBT_STATUSES = (None, 502, 504)


def create_in_doubt(error: exc.ApiError) -> bool:
    """Whether a create that failed with `error` may have landed (so the next attempt must look before creating)."""
    if isinstance(error, exc.ApiTimeout):
        return True  # sent, and no answer in time: most likely carried out, later
    return isinstance(error, exc.ApiServerError) and error.status_code in IN_DOUBT_STATUSES


class Leg:
    """The page pipeline of one direction of a run (sync mode; enrich.EnrichLeg reads targets instead)."""

    def __init__(self, ctx: LegContext) -> None:
        self.ctx = ctx
        self.book = LinkBook(ctx.mapping)
        self.parents = Parents(ctx, self.book, make_leg=Leg)
        self.followups = Followups(ctx)
        self._has_pending: bool | None = None
        self._has_unlinked: bool | None = None
        # Match keys of the targets this page created: a later record of the same page with the same key must not
        # create a second target (nor take the first one's).
        self._created_keys: dict[tuple[str, str], tuple[str, str]] = {}
        # This page's records created (linked), creates in doubt and updates sent: their PendingCreates outlive a
        # failed page.
        self._created_ids: set[str] = set()
        self._in_doubt: set[str] = set()
        self._updates_sent: set[str] = set()
        # The next page's match searches, made while this page's last writes were in flight (search_ahead): rule ->
        # (values searched that this page's records do not carry, what was found).
        self._ahead: dict[str, tuple[set[str], dict[str, Record]]] = {}
        self._page_items: list[Item] = []

    # -- the page ---------------------------------------------------------------------------------------------------

    def process(
        self, records: list[Record], *, force: bool = False, on_drain: Callable[[], None] | None = None
    ) -> PageResult:
        """One page. `on_drain` (the run reading the next page ahead) runs while the page's last writes are in
        flight, or at the end."""
        ctx = self.ctx
        result = PageResult()
        self._created_keys = {}
        self.book.clear()
        self.book.load(ctx.source_system, [r.id for r in records])
        items = [Item(record=r, keys=contact_keys(r)) for r in records]
        live: list[Item] = []
        for item in items:
            self._prepare(item, force=force)
            if item.outcome is None:
                live.append(item)
        live = self.parents.attach(live)
        self.parents.translate_references(live)
        self._fetch_linked_targets(live)
        self._match(live)
        self._ahead = {}
        self._check_already_linked(live)
        self._keep_unlinked(live)
        self._load_pending(live)
        self.book.load_known(i.link for i in live if i.outcome is None and i.state is None)
        self._write_ahead(live, result)

        def write(item: Item) -> None:
            item.outcome = self._write_safely(item, force=force, result=result)

        try:
            # Several writes at once, a record's one after the other (lanes.py); dry runs send nothing.
            size = 1 if ctx.dry_run else settings.SYNC_WRITE_CONCURRENCY
            todo = [i for i in live if i.outcome is None]
            self._page_items = items
            write_lanes(lanes_of(todo, self._lane_keys), write, size=size, on_drain=on_drain)
        except Exception:
            self._abandon_write_ahead(result)
            raise
        for item in items:
            assert item.outcome is not None
            if not item.dropped:
                result.outcomes.append(item.outcome)
        result.outcomes.extend(self.followups.run(items, self.book))
        result.markers.extend(self.followups.marked)
        return result

    def _lane_keys(self, item: Item) -> list[tuple[str, str]]:
        """What two writes of one page must not do at once: the same source or target record, a match key (a
        same-page duplicate is found by the first one's create), an email or phone (GHL's upsert matches on them),
        the same parent (a contact's tasks and notes keep their order)."""
        ctx = self.ctx
        keys = [("source", item.record.id)]
        for link in (item.link, item.stale_link):
            if link is not None:
                keys.append(("target", link_id(link, ctx.target_system)))
        if item.target is not None:
            keys.append(("target", item.target.id))
        keys.extend(("match", f"{rule}:{value}") for rule, value in self._match_keys(item))
        for name in ("email", "phone"):
            value = str(item.keys.get(name) or "").strip().lower()
            if value:
                keys.append((name, value))
        parent_fields = ctx.object_type.parent_fields
        if parent_fields:
            parent = item.payload.get(parent_fields[1] if ctx.target_system == System.STREETTEXT else parent_fields[0])
            if parent:
                keys.append(("parent", str(parent)))
        return keys

    def _prepare(self, item: Item, *, force: bool) -> None:
        ctx, record = self.ctx, item.record
        if record.deleted:
            found = bool(record.raw.get(deletions.FOUND_BY_CHECK))
            item.outcome = deletions.apply(ctx, self.book, record.id, item.keys, found_by_check=found)
            return
        item.link = self.book.get(ctx.source_system, record.id)
        item.state = self.book.state(item.link)
        ids = ctx.ids(record.id, link_id(item.link, ctx.target_system))
        if ctx.mapping.record_filter and not condition_holds(ctx.mapping.record_filter, record.values):
            item.outcome = Outcome(Action.SKIPPED, REASON_FILTERED, **ids, **item.keys, quiet=ctx.quiet_unchanged)
            item.unchanged = True
            return
        if is_echo(ctx, record, item.state):
            item.outcome = Outcome(Action.SKIPPED, REASON_ECHO, **ids, **item.keys, quiet=ctx.quiet_unchanged)
            item.unchanged = True
            item.dropped = ctx.state.own_write(ctx.read_system, record.id)
            return
        payload, errors = build_payload(ctx.field_mappings, record.values, default_region=ctx.mapping.phone_region)
        for key in ("email", "phone"):
            if payload.get(key):
                item.keys[key] = str(payload[key])
        if errors:
            error = "; ".join(f"{name}: {message}" for name, message in errors.items())
            item.outcome = Outcome(Action.FAILED, error=error, **ctx.ids(record.id, ""), **item.keys)
            return
        item.payload = payload

    # -- reading and matching the target, a page at a time ----------------------------------------------------------

    def _fetch_linked_targets(self, items: list[Item]) -> None:
        ctx = self.ctx
        if "link" not in ctx.mapping.match_rules:
            return
        linked = [i for i in items if i.outcome is None and i.link is not None]
        if not linked:
            return
        wanted = [link_id(i.link, ctx.target_system) for i in linked]
        found = ctx.call(ctx.target_connection, ctx.target.get_many, wanted)
        for item in linked:
            target = found.get(link_id(item.link, ctx.target_system))
            if target is None:
                item.stale_link = item.link
            else:
                item.target, item.rule = target, "record link"

    def _match(self, items: list[Item]) -> None:
        ctx = self.ctx
        for rule in ctx.mapping.match_rules:
            if rule == "link":
                continue
            fields = self._rule_fields(rule)
            if fields is None:
                continue
            from_field, to_field = fields
            wanting = {}
            for item in items:
                if item.outcome is None and item.target is None:
                    value = match_value(rule, item.record.values.get(from_field), region=ctx.mapping.phone_region)
                    if value is not None:
                        wanting[id(item)] = (item, value)
            if not wanting:
                continue
            # Searched ahead (while the page before was written) and not touched by it: known already.
            searched, ahead = self._ahead.get(rule, (set(), {}))
            found = {v: ahead[v] for v in searched if v in ahead}
            values = [v for _, v in wanting.values() if v not in searched]
            if values:
                found.update(ctx.call(ctx.target_connection, ctx.target.find_many, to_field, values))
            for item, value in wanting.values():
                target = found.get(value)
                if target is not None:
                    item.target, item.rule = target, rule.replace("_", " ")

    def search_ahead(self, records: list[Record]) -> None:
        """The match searches of the next page, while this page's last writes are in flight (they are reads: the
        page boundary then waits for no request). A value one of this page's records carries (source, payload or
        target: a create or an update of this page may have made or changed it) is searched again when the next page
        is matched, so the next page sees this page's writes as a sequential run would."""
        ctx = self.ctx
        self._ahead = {}
        live = [r for r in records if not r.deleted]
        region = ctx.mapping.phone_region
        carried: set[str] = set()
        own_keys: set[tuple[str, str]] = set()
        for item in self._page_items:
            for seen in (item.record.values, item.payload, item.target.values if item.target is not None else {}):
                carried.update(str(v) for v in seen.values() if isinstance(v, str | int) and v != "")
            own_keys.update(self._match_keys(item))
        for rule in ctx.mapping.match_rules:
            fields = self._rule_fields(rule) if rule != "link" else None
            if fields is None or not live:
                continue
            from_field, to_field = fields
            values = {v for v in (match_value(rule, r.values.get(from_field), region=region) for r in live) if v}
            if not values:
                continue
            found = ctx.call(ctx.target_connection, ctx.target.find_many, to_field, sorted(values))
            stale = {value for r, value in own_keys if r == rule}
            stale.update(v for v in (match_value(rule, c, region=region) for c in carried) if v is not None)
            self._ahead[rule] = ({v for v in values if v not in stale}, found)

    def _match_keys(self, item: Item) -> list[tuple[str, str]]:
        keys = []
        for rule in self.ctx.mapping.match_rules:
            fields = self._rule_fields(rule) if rule != "link" else None
            if fields is not None:
                value = match_value(rule, item.record.values.get(fields[0]), region=self.ctx.mapping.phone_region)
                if value is not None:
                    keys.append((rule, value))
        return keys

    def _rule_fields(self, rule: str) -> tuple[str, str] | None:
        """(field read on the source, field searched on the target) for a match rule, or None if it does not apply."""
        ctx = self.ctx
        if rule == "external_id":
            ghl_field, st_field = ctx.mapping.ghl_external_id_field, ctx.mapping.streettext_external_id_field
            if not ghl_field or not st_field:
                return None
        else:
            pair = ctx.object_type.match_fields.get(rule)
            if pair is None:
                return None
            ghl_field, st_field = pair
        return (ghl_field, st_field) if ctx.source_system == System.GHL else (st_field, ghl_field)

    def _check_already_linked(self, items: list[Item]) -> None:
        """A target found by a match rule must not be linked to another source record already."""
        ctx = self.ctx
        matched = [i for i in items if i.outcome is None and i.target is not None and i.rule != "record link"]
        if not matched:
            return
        self.book.load(ctx.target_system, [i.target.id for i in matched if i.target is not None])
        for item in matched:
            assert item.target is not None
            other = self.book.get(ctx.target_system, item.target.id)
            if other is not None and link_id(other, ctx.source_system) != item.record.id:
                error = REASON_ALREADY_LINKED.format(
                    target=ctx.target_label, target_id=item.target.id, other_id=link_id(other, ctx.source_system)
                )
                item.outcome = Outcome(
                    Action.FAILED, error=error, **ctx.ids(item.record.id, item.target.id), **item.keys
                )
            elif other is not None:
                item.link, item.state = other, self.book.state(other)

    def _keep_unlinked(self, items: list[Item]) -> None:
        """Under the delete policy "unlink", a record whose partner was deleted stays unlinked: a run never copies it
        again (its linked target gone now, or an UnlinkedRecord from an earlier unlink). A match rule may still pair
        it with a record a person made; "Sync this record now" on it (a person asks) copies it again."""
        ctx = self.ctx
        if ctx.mapping.delete_policy != Mapping.DeletePolicy.UNLINK:
            return
        orphans = [i for i in items if i.outcome is None and i.target is None]
        if not orphans:
            return
        asked = ctx.run.trigger == SyncRun.Trigger.MANUAL and ctx.run.scope == SyncRun.Scope.IDS
        unlinked = pair_unlinked(ctx.mapping, ctx.source_system)
        if asked:
            if not ctx.dry_run:
                unlinked.filter(record_id__in=[i.record.id for i in orphans]).delete()
            return
        partners: dict[str, str] = {}
        if self._has_unlinked is None:
            self._has_unlinked = unlinked.exists()
        if self._has_unlinked:
            rows = unlinked.filter(record_id__in=[i.record.id for i in orphans]).values_list("record_id", "partner_id")
            partners = dict(rows)
        for item in orphans:
            record_id = item.record.id
            if item.stale_link is not None:  # its target was deleted since the last run: unlinked now
                partners[record_id] = link_id(item.stale_link, ctx.target_system)
                if not ctx.dry_run:
                    item.stale_link.delete()
                    self.book.forget(item.stale_link)
                    unlinked_mark(
                        ctx.mapping, system=ctx.source_system, record_id=record_id, partner_id=partners[record_id]
                    )
                    self._has_unlinked = True
                quiet = False
            elif record_id in partners:
                quiet = ctx.quiet_unchanged  # said once, when it was unlinked
            else:
                continue
            reason = REASON_STAYS_UNLINKED.format(target=ctx.target_label, target_id=partners[record_id])
            item.outcome = Outcome(Action.SKIPPED, reason, **ctx.ids(record_id, ""), **item.keys, quiet=quiet)

    def _load_pending(self, items: list[Item]) -> None:
        """Creates of this leg whose answer was lost, or whose page was never stored, for the records of the page."""
        ctx = self.ctx
        creating = [i for i in items if i.outcome is None]
        if not creating:
            return
        if self._has_pending is None:
            self._has_pending = PendingCreate.objects.filter(mapping=ctx.mapping, direction=ctx.direction).exists()
        if not self._has_pending:
            return
        pending = {
            p.source_id: p
            for p in PendingCreate.objects.filter(
                mapping=ctx.mapping, direction=ctx.direction, source_id__in=[i.record.id for i in creating]
            )
        }
        for item in creating:
            found = pending.get(item.record.id)
            if found is not None and found.kind == PendingCreate.Kind.UPDATE:
                item.update_ahead = True
            else:
                item.pending = found

    def _write_ahead(self, items: list[Item], result: PageResult) -> None:
        """Every create and update the page may send is written ahead as a PendingCreate, in one statement, and the
        page's store removes them. A worker killed mid-page (or an attempt ended by an error) leaves them: the next
        attempt recognises the records this page created (linked, no state: their page was never stored), the create
        in flight (found on the target) and the updates that landed (the target holds the values the source wants,
        changed since the last sync), and records them as created and updated."""
        ctx = self.ctx
        self._created_ids, self._in_doubt, self._updates_sent = set(), set(), set()
        if ctx.dry_run:
            return
        kinds = PendingCreate.Kind
        ahead = [
            (i.record.id, kinds.UPDATE if i.target is not None else kinds.CREATE)
            for i in items
            if i.outcome is None and (i.target is not None or ctx.mapping.create_missing)
        ]
        if not ahead:
            return
        PendingCreate.objects.bulk_create(
            [PendingCreate(mapping=ctx.mapping, direction=ctx.direction, source_id=i, kind=k) for i, k in ahead],
            ignore_conflicts=True,
        )
        result.written_ahead.extend(i for i, _ in ahead)

    def _abandon_write_ahead(self, result: PageResult) -> None:
        """The page ends with an error: writes never sent cannot land; those that landed or may land stay known."""
        unsent = set(result.written_ahead) - self._created_ids - self._in_doubt - self._updates_sent
        if unsent:
            ctx = self.ctx
            PendingCreate.objects.filter(mapping=ctx.mapping, direction=ctx.direction, source_id__in=unsent).delete()

    # -- writing ------------------------------------------------------------------------------------------------------

    def _write_safely(self, item: Item, *, force: bool, result: PageResult) -> Outcome:
        try:
            return self._write(item, force=force, result=result)
        except (exc.TransientApiError, ConnectionAuthFailed):
            raise
        except exc.ApiError as e:
            target_id = item.target.id if item.target is not None else ""
            return Outcome(Action.FAILED, error=str(e), **self.ctx.ids(item.record.id, target_id), **item.keys)

    def _write(self, item: Item, *, force: bool, result: PageResult) -> Outcome:
        ctx = self.ctx
        recorded = item.pending is not None and not ctx.dry_run
        if recorded and item.link is not None and item.target is not None:
            if item.state is None and item.link.origin == ctx.source_system:
                # Created and linked by an attempt whose page was never stored: its created row is written now.
                result.written_ahead.append(item.record.id)
                plan = plan_create(ctx, payload=item.payload)
                return self._created_row(item, item.link, item.target, plan, REASON_CREATED_UNSTORED, result)
        elif recorded and item.link is None:
            # A create sent and never answered (a timeout, a worker killed while it was in flight): found on the
            # target, it is that create, recorded as one (a match rule may have found it too).
            found = self._find_lost_create(item)
            if found is not None:
                item.target, item.rule = found, "the earlier create"
                plan = plan_create(ctx, payload=item.payload)
                reason = "; ".join([REASON_IN_DOUBT_FOUND, *item.notes, *plan.notes])
                return self._record_created(item, found, plan, reason, result)
        elif item.target is None and item.pending is not None:
            found = self._find_lost_create(item)
            if found is not None:
                item.target, item.rule = found, "the earlier create"
                item.notes.append(REASON_IN_DOUBT_FOUND)
        if item.target is None:
            if not ctx.mapping.create_missing:
                return Outcome(Action.SKIPPED, REASON_NO_MATCH_NO_CREATE, **ctx.ids(item.record.id, ""), **item.keys)
            for key in self._match_keys(item):
                if key in self._created_keys:
                    target_id, other_id = self._created_keys[key]
                    error = REASON_ALREADY_LINKED.format(
                        target=ctx.target_label, target_id=target_id, other_id=other_id
                    )
                    return Outcome(Action.FAILED, error=error, **ctx.ids(item.record.id, target_id), **item.keys)
            return self._create(item, result)
        return self._update(item, force=force, result=result)

    def _prepared(self, plan: Plan, *, create: bool) -> None:
        """Leave out what the target cannot take as it is (its adapter says why, e.g. a field GHL cannot clear), and
        GoHighLevel custom fields deleted since the mapping was made (their definitions are read once per run)."""
        if self.ctx.target_system == System.GHL and plan.write:
            deleted_fields: DeletedCustomFields | None = getattr(self, "_deleted_custom_fields", None)
            if deleted_fields is None:
                deleted_fields = DeletedCustomFields(self.ctx.target_connection, self.ctx.mapping.object_type)
                self._deleted_custom_fields = deleted_fields
            for name in deleted_fields.deleted(list(plan.write)):
                plan.leave_out(name, REASON_NOT_WRITTEN.format(field=name, why=REASON_CUSTOM_FIELD_DELETED))
        prepare = getattr(self.ctx.target, "prepare_write", None)
        if prepare is None or not plan.write:
            return
        values, left_out = prepare(dict(plan.write), create=create)
        for name, why in left_out.items():
            plan.leave_out(name, REASON_NOT_WRITTEN.format(field=name, why=why))
        plan.write = {name: values[name] for name in values}

    def _create(self, item: Item, result: PageResult) -> Outcome:
        ctx, record = self.ctx, item.record
        plan = plan_create(ctx, payload=item.payload)
        self._prepared(plan, create=True)
        notes = list(item.notes)
        if item.stale_link is not None:
            notes.insert(
                0,
                REASON_TARGET_GONE.format(
                    target=ctx.target_label, target_id=link_id(item.stale_link, ctx.target_system)
                ),
            )
        reason = "; ".join([*notes, *plan.notes])
        if ctx.dry_run:
            for key in self._match_keys(item):
                self._created_keys.setdefault(key, ("(new)", record.id))
            return Outcome(Action.CREATED, reason, changes=plan.changes, **ctx.ids(record.id, ""), **item.keys)
        if item.stale_link is not None:
            item.stale_link.delete()
            self.book.forget(item.stale_link)
        try:
            created = ctx.call(ctx.target_connection, ctx.target.create, dict(plan.write))
        except exc.ApiError as e:
            if not create_in_doubt(e):
                raise
            self._in_doubt.add(record.id)
            PendingCreate.objects.update_or_create(
                mapping=ctx.mapping,
                direction=ctx.direction,
                source_id=record.id,
                defaults={"hints": dict(plan.write), "started_at": timezone.now(), "error": str(e)[:500]},
            )
            raise
        return self._record_created(item, created, plan, reason, result)

    def _record_created(self, item: Item, created: Record, plan: Plan, reason: str, result: PageResult) -> Outcome:
        ctx, record = self.ctx, item.record
        ctx.state.wrote(ctx.target_system, created.id, fields=plan.write)
        for key in self._match_keys(item):
            self._created_keys.setdefault(key, (created.id, record.id))
        # Inserted at once: a crash after the create must not lose the pairing. Its PendingCreate stays until the
        # page is stored, so a page never stored still tells the next attempt this record was created.
        link = self.book.create(
            **ctx.ids(record.id, created.id),
            origin=ctx.source_system,
            label=label_of(record),
            email=item.keys.get("email", ""),
        )
        if link is None:
            return self._linked_meanwhile(item, created)
        self._created_ids.add(record.id)
        result.written_ahead.append(record.id)
        return self._created_row(item, link, created, plan, reason, result)

    def _created_row(
        self, item: Item, link: RecordLink, target: Record, plan: Plan, reason: str, result: PageResult
    ) -> Outcome:
        self._remember(result, link, source=item.record, target=target, state=None, plan=plan)
        ids = self.ctx.ids(item.record.id, target.id)
        return Outcome(Action.CREATED, reason, changes=plan.changes, **ids, **item.keys)

    def _linked_meanwhile(self, item: Item, created: Record) -> Outcome:
        """Another run linked this source (or the created target) at the same instant: undo our extra copy."""
        ctx = self.ctx
        existing = self.book.existing_for(ctx.source_system, item.record.id)
        # Already gone, or the delete failed: the history row names the copy either way.
        with contextlib.suppress(exc.ApiError):
            ctx.call(ctx.target_connection, ctx.target.delete, created.id)
        target_id = link_id(existing, ctx.target_system) if existing is not None else ""
        return Outcome(
            Action.SKIPPED,
            REASON_LINKED_MEANWHILE.format(extra=created.id),
            **ctx.ids(item.record.id, target_id),
            **item.keys,
        )

    def _update(self, item: Item, *, force: bool, result: PageResult) -> Outcome:
        ctx, record, target = self.ctx, item.record, item.target
        assert target is not None
        plan = plan_update(
            ctx,
            payload=item.payload,
            source=record,
            target=target,
            state=item.state,
            force=force,
            source_is_copy=item.link is not None and item.link.origin == ctx.target_system,
        )
        self._prepared(plan, create=False)
        ids = ctx.ids(record.id, target.id)
        reason = "; ".join([MATCHED_BY.format(rule=item.rule), *item.notes, *plan.notes])
        return self._apply(item, plan, source=record, target=target, ids=ids, reason=reason, result=result)

    def _apply(
        self,
        item: Item,
        plan: Plan,
        *,
        source: Record,
        target: Record,
        ids: dict[str, Any],
        reason: str,
        result: PageResult,
        link_for: Callable[[Record], RecordLink | None] | None = None,
    ) -> Outcome:
        """Write a planned update (or only remember the pair when there is nothing to write) and say what happened."""
        ctx = self.ctx
        link_for = link_for or (lambda written: self._link_for(item, written))
        if not plan.write:
            if item.update_ahead and plan.already and not ctx.dry_run:
                # An attempt whose page was never stored sent this update (the target holds what the source wants,
                # changed since the last sync): recorded now, with the values it wrote.
                link = link_for(target)
                if link is not None:
                    self._remember(result, link, source=source, target=target, state=item.state, plan=plan)
                reason = "; ".join([REASON_UPDATED_UNSTORED, reason])
                return Outcome(Action.UPDATED, reason, changes=plan.already, **ids, **item.keys)
            if not ctx.dry_run:
                link = link_for(target)
                if link is not None:
                    self._remember(result, link, source=source, target=target, state=item.state, plan=plan)
            # Quiet only when the pair was synced before, by this mapping or another one (a record another mapping
            # wrote, unchanged for this one, is counted, not written): a first link (or a record created just before
            # a retry of this page, which no mapping has synced yet) keeps its row.
            synced_before = item.state is not None or self.book.synced_before(item.link)
            quiet = synced_before and not plan.notes and ctx.quiet_unchanged
            item.dropped = quiet and ctx.state.own_write(ctx.read_system, item.record.id)
            return Outcome(Action.SKIPPED, f"{REASON_UNCHANGED} ({reason})", **ids, **item.keys, quiet=quiet)
        writes_read_side = ctx.read_system == ctx.target_system
        if ctx.dry_run:
            if writes_read_side:
                item.written = {**item.record.values, **plan.write}
            return Outcome(Action.UPDATED, reason, changes=plan.changes, **ids, **item.keys)
        self._updates_sent.add(item.record.id)
        written = ctx.call(ctx.target_connection, ctx.target.update, target.id, dict(plan.write), target)
        ctx.state.wrote(ctx.target_system, target.id, record=written if ctx.enrich else None, fields=plan.write)
        if writes_read_side:
            item.written = {**item.record.values, **plan.write, **written.values}
        link = link_for(written)
        if link is not None:
            self._remember(result, link, source=source, target=written, state=item.state, plan=plan)
        return Outcome(Action.UPDATED, reason, changes=plan.changes, **ids, **item.keys)

    def _link_for(self, item: Item, target: Record) -> RecordLink | None:
        """The item's link, created now when a match rule (not the link) found the target."""
        if item.link is not None:
            return item.link
        ctx = self.ctx
        link = self.book.create(
            **ctx.ids(item.record.id, target.id),
            origin=RecordLink.Origin.MATCHED,
            label=label_of(item.record),
            email=item.keys.get("email", ""),
        )
        item.link = link
        if link is not None and item.pending is not None:
            item.pending.delete()  # the lost create is linked now: nothing left in doubt
            item.pending = None
        return link

    def _remember(
        self,
        result: PageResult,
        link: RecordLink,
        *,
        source: Record,
        target: Record,
        state: MappingRecordState | None,
        plan: Plan,
    ) -> None:
        ctx = self.ctx
        configs = new_configs(ctx, state=state)
        result.states[link.pk] = {
            "digests": new_digests(ctx, source=source, target=target, state=state, plan=plan),
            "written": new_written(ctx, state=state, plan=plan),
            "configs": configs,
            "config": combined_config_digest(configs, ctx.mapping.directions),
        }

    def _find_lost_create(self, item: Item) -> Record | None:
        """Look for the record a lost create made, with backoff, until it shows or it can no longer land."""
        ctx = self.ctx
        pending = item.pending
        assert pending is not None
        hints = {**pending.hints, **item.payload}
        deadline = pending.started_at.timestamp() + settings.SYNC_CREATE_IN_DOUBT_WAIT_SECONDS
        idempotent = getattr(ctx.target, "create_is_idempotent", lambda values: False)(hints)
        delay = 0.5
        while True:
            found = ctx.call(ctx.target_connection, ctx.target.find_created, hints, since=pending.started_at)
            if found is not None or idempotent:
                return found
            remaining = deadline - time.time()
            if remaining <= 0:
                return None
            with concurrency.waiting():
                time.sleep(min(delay, remaining))
            delay = min(delay * 2, 8.0)
