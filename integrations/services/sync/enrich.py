"""Enrich mode: the leg reads changed *target* records (e.g. new StreetText contacts), finds each one's match on the
source side (link, then the match rules, a page at a time) and fills it in with the mapped values. It never creates
records. A change on the source side (a GHL webhook) re-enriches the target it is linked or matched to."""

from __future__ import annotations

from collections.abc import Callable

from integrations.adapters import Record
from integrations.clients import exceptions as exc
from integrations.models import RecordLink
from integrations.services.sync.context import ConnectionAuthFailed
from integrations.services.sync.items import Item, PageResult, contact_keys, label_of
from integrations.services.sync.leg import Leg
from integrations.services.sync.links import link_id
from integrations.services.sync.outcomes import (
    MATCHED_BY,
    REASON_ALREADY_LINKED,
    REASON_ECHO,
    REASON_FILTERED,
    REASON_NO_SOURCE_MATCH,
    Action,
    Outcome,
)
from integrations.services.sync.plan import is_echo, plan_update
from integrations.services.sync.values import match_value
from mappings.pipeline import build_payload
from mappings.rules import condition_holds


class EnrichLeg(Leg):
    def process(
        self, records: list[Record], *, force: bool = False, on_drain: Callable[[], None] | None = None
    ) -> PageResult:
        """A page of changed target records.

        A record this leg already wrote, found again as it wrote it, is left out altogether (neither processed nor
        counted): the change feed of the side an enrich leg fills lists each record it writes again, later in the
        same run, and a record is enriched (and counted) once per run. One changed since the write is processed.
        An enrich leg reads no page ahead (`on_drain` is not called): the run reads the next page after this one."""
        ctx = self.ctx
        records = [r for r in records if not ctx.state.untouched_since_written(ctx.target_system, r)]
        self.book.clear()
        self.book.load(ctx.target_system, [r.id for r in records])
        items: list[Item] = []
        for record in records:
            item = Item(record=record, keys=contact_keys(record))
            link = self.book.get(ctx.target_system, record.id)
            item.link, item.state = link, self.book.state(link)
            ids = ctx.ids(link_id(link, ctx.source_system), record.id)
            if record.deleted or is_echo(ctx, record, item.state):
                item.outcome = Outcome(Action.SKIPPED, REASON_ECHO, **ids, **item.keys, quiet=ctx.quiet_unchanged)
            items.append(item)
        sources = self._find_sources([i for i in items if i.outcome is None])
        return self._finish(items, sources, force=force)

    def process_sources(self, sources: list[Record], *, force: bool = False) -> PageResult:
        """A page of changed source records (a webhook from the source side): the targets they fill, found by link
        or by the match rules."""
        ctx = self.ctx
        live = [s for s in sources if not s.deleted]
        self.book.clear()
        self.book.load(ctx.source_system, [s.id for s in live])
        by_target: dict[str, Record] = {}
        targets: dict[str, str] = {}
        linked = {s.id: link_id(self.book.get(ctx.source_system, s.id), ctx.target_system) for s in live}
        wanted = [t for t in linked.values() if t]
        found = ctx.call(ctx.target_connection, ctx.target.get_many, wanted) if wanted else {}
        for source in live:
            target = found.get(linked[source.id])
            if target is not None:
                by_target[target.id], targets[source.id] = target, target.id
        unmatched = [s for s in live if s.id not in targets]
        for rule in ctx.mapping.match_rules:
            fields = self._rule_fields(rule) if rule != "link" else None
            if fields is None or not unmatched:
                continue
            from_field, to_field = fields
            keys = {
                s.id: match_value(rule, s.values.get(from_field), region=ctx.mapping.phone_region) for s in unmatched
            }
            hits = ctx.call(ctx.target_connection, ctx.target.find_many, to_field, [v for v in keys.values() if v])
            for source in unmatched:
                key = keys[source.id]
                if key and key in hits:
                    by_target[hits[key].id], targets[source.id] = hits[key], hits[key].id
            unmatched = [s for s in unmatched if s.id not in targets]
        self.book.load(ctx.target_system, list(by_target))
        items: list[Item] = []
        source_of: dict[int, Record] = {}
        for source in live:
            if source.id not in targets:
                continue
            target = by_target[targets[source.id]]
            item = Item(record=target, keys=contact_keys(target))
            item.link = self.book.get(ctx.target_system, target.id)
            item.state = self.book.state(item.link)
            source_of[id(item)] = source
            item.rule = "record link" if item.link is not None else "a change on the source"
            items.append(item)
        return self._finish(items, source_of, force=force)

    def _find_sources(self, items: list[Item]) -> dict[int, Record]:
        """Each target's source: through its link, else by the match rules in order (reverse direction)."""
        ctx = self.ctx
        found: dict[int, Record] = {}
        linked = [i for i in items if i.link is not None and "link" in ctx.mapping.match_rules]
        if linked:
            wanted = [link_id(i.link, ctx.source_system) for i in linked]
            sources = ctx.call(ctx.source_connection, ctx.source.get_many, wanted)
            for item in linked:
                source = sources.get(link_id(item.link, ctx.source_system))
                if source is not None:
                    found[id(item)] = source
                    item.rule = "record link"
        for rule in ctx.mapping.match_rules:
            if rule == "link":
                continue
            fields = self._rule_fields(rule)
            if fields is None:
                continue
            # The leg's source/target are swapped here: read on the target, search the source.
            to_field, from_field = fields
            wanting = {
                id(i): match_value(rule, i.record.values.get(from_field), region=ctx.mapping.phone_region)
                for i in items
                if id(i) not in found
            }
            values = [v for v in wanting.values() if v]
            if not values:
                continue
            hits = ctx.call(ctx.source_connection, ctx.source.find_many, to_field, values)
            for item in items:
                key = wanting.get(id(item))
                if key and key in hits:
                    found[id(item)] = hits[key]
                    item.rule = rule.replace("_", " ")
        return found

    def _finish(self, items: list[Item], sources: dict[int, Record], *, force: bool) -> PageResult:
        ctx = self.ctx
        result = PageResult()
        self.book.load(ctx.source_system, [s.id for s in sources.values()])
        self.book.load_known(i.link for i in items if i.outcome is None and i.state is None)
        for item in items:
            if item.outcome is None:
                try:
                    item.outcome = self._enrich(item, sources.get(id(item)), result, force=force)
                except (exc.TransientApiError, ConnectionAuthFailed):
                    raise
                except exc.ApiError as e:
                    source = sources.get(id(item))
                    ids = ctx.ids(source.id if source else "", item.record.id)
                    item.outcome = Outcome(Action.FAILED, error=str(e), **ids, **item.keys)
            assert item.outcome is not None
            if not item.dropped:
                result.outcomes.append(item.outcome)
        result.outcomes.extend(self.followups.run(items, self.book))
        result.markers.extend(self.followups.marked)
        return result

    def _enrich(self, item: Item, source: Record | None, result: PageResult, *, force: bool) -> Outcome:
        ctx, target = self.ctx, item.record
        if source is None:
            reason = REASON_NO_SOURCE_MATCH.format(source=ctx.source_label)
            return Outcome(Action.SKIPPED, reason, **ctx.ids("", target.id), **item.keys)
        ids = ctx.ids(source.id, target.id)
        other = self.book.get(ctx.source_system, source.id)
        if other is not None and link_id(other, ctx.target_system) != target.id:
            error = REASON_ALREADY_LINKED.format(
                target=ctx.source_label, target_id=source.id, other_id=link_id(other, ctx.target_system)
            )
            return Outcome(Action.FAILED, error=error, **ids, **item.keys)
        if ctx.mapping.record_filter and not condition_holds(ctx.mapping.record_filter, source.values):
            item.unchanged = True
            return Outcome(Action.SKIPPED, REASON_FILTERED, **ids, **item.keys, quiet=ctx.quiet_unchanged)
        payload, errors = build_payload(ctx.field_mappings, source.values, default_region=ctx.mapping.phone_region)
        if errors:
            error = "; ".join(f"{name}: {message}" for name, message in errors.items())
            return Outcome(Action.FAILED, error=error, **ids, **item.keys)
        item.payload = payload
        self.parents.translate_references([item])
        link = item.link or other
        plan = plan_update(
            ctx,
            payload=item.payload,
            source=source,
            target=target,
            state=item.state,
            force=force,
            source_is_copy=link is not None and link.origin == ctx.target_system,
        )
        self._prepared(plan, create=False)
        reason = "; ".join([MATCHED_BY.format(rule=item.rule or "record link"), *item.notes, *plan.notes])
        return self._apply(
            item,
            plan,
            source=source,
            target=target,
            ids=ids,
            reason=reason,
            result=result,
            link_for=lambda written: link or self._new_link(source, written, item),
        )

    def _new_link(self, source: Record, target: Record, item: Item) -> RecordLink | None:
        ctx = self.ctx
        link = self.book.create(
            **ctx.ids(source.id, target.id),
            origin=RecordLink.Origin.MATCHED,
            label=label_of(target),
            email=item.keys.get("email", ""),
        )
        item.link = link
        return link
