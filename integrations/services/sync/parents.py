"""Child records (tasks, notes, appointments) attach through their parent contact's record link; a parent not linked
yet is synced first, once per run, through the parent type's mapping. Ids of other objects (a contact's business)
are translated through their links. Both a page at a time."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any, Protocol

from integrations.models import RecordHistory, System
from integrations.services.sync.context import LegContext
from integrations.services.sync.links import LinkBook, id_field, pair_links
from integrations.services.sync.outcomes import (
    REASON_PARENT_DRY_RUN,
    REASON_PARENT_FAILED,
    REASON_PARENT_MISSING,
    REASON_PARENT_NO_MAPPING,
    REASON_PARENT_NONE,
    REASON_REFERENCE_UNLINKED,
    REASON_SOURCE_GONE,
    Action,
    Outcome,
)
from integrations.services.sync.store import store_page
from mappings.models import Direction, Mapping

if TYPE_CHECKING:
    from integrations.services.sync.items import Item

# A parent synced first in a dry run exists nowhere yet: its children name it with this placeholder.
DRY_RUN_PARENT = "(created in this dry run)"
# Prefix of a parent's failure in the run's memory: its own row carries the details.
PARENT_FAILED = "failed: "


def linked_ids(ctx: LegContext, object_type: str, source_ids: list[str]) -> dict[str, str]:
    """Source-side ids of another object type -> their target-side ids, in one query."""
    wanted = [i for i in set(source_ids) if i]
    if not wanted:
        return {}
    rows = pair_links(ctx.mapping, object_type).filter(**{f"{id_field(ctx.source_system)}__in": wanted})
    return dict(rows.values_list(id_field(ctx.source_system), id_field(ctx.target_system)))


class LegFactory(Protocol):
    def __call__(self, ctx: LegContext) -> Any: ...


class Parents:
    def __init__(self, ctx: LegContext, book: LinkBook, *, make_leg: LegFactory) -> None:
        self.ctx = ctx
        self.book = book
        # The leg class that syncs a parent first (passed in: parents.py is used by leg.py, not the other way).
        self.make_leg = make_leg
        self._parent_mapping: Mapping | bool | None = False

    # -- references -----------------------------------------------------------------------------------------------

    def translate_references(self, items: list[Item]) -> None:
        """Reference fields (businessId ↔ organization_id) become the other side's ids; unlinked ones are left out."""
        ctx = self.ctx
        for name, ref_type in ctx.object_type.references.items():
            holders = [i for i in items if i.outcome is None and i.payload.get(name)]
            if not holders:
                continue
            linked = linked_ids(ctx, ref_type, [str(i.payload[name]) for i in holders])
            for item in holders:
                ref_id = str(item.payload[name])
                if ref_id in linked:
                    item.payload[name] = linked[ref_id]
                else:
                    item.notes.append(REASON_REFERENCE_UNLINKED.format(field=name, object_type=ref_type, ref_id=ref_id))
                    del item.payload[name]

    # -- parents --------------------------------------------------------------------------------------------------

    def attach(self, items: list[Item]) -> list[Item]:
        """Put each child's target-side parent id in its payload; a child whose parent cannot be linked fails."""
        ctx = self.ctx
        parent_type = ctx.object_type.parent
        if not parent_type or not ctx.object_type.parent_fields:
            return items
        ghl_field, st_field = ctx.object_type.parent_fields
        source_field, target_field = (ghl_field, st_field) if ctx.source_system == System.GHL else (st_field, ghl_field)
        wanted = {id(i): str(i.record.values.get(source_field) or "") for i in items if i.outcome is None}
        linked = linked_ids(ctx, parent_type, list(wanted.values()))
        missing = sorted({pid for pid in wanted.values() if pid and pid not in linked})
        if missing:
            self._sync_first(parent_type, missing)
            linked.update(linked_ids(ctx, parent_type, missing))
        for item in items:
            if item.outcome is not None:
                continue
            parent_id = wanted[id(item)]
            ids = ctx.ids(item.record.id, "")
            if not parent_id:
                why = REASON_PARENT_NONE.format(parent=parent_type)
                item.outcome = Outcome(Action.FAILED, error=why, **ids, **item.keys)
                continue
            if parent_id in linked:
                item.payload[target_field] = linked[parent_id]
                continue
            failure = ctx.state.parents.get((parent_type, ctx.direction, parent_id), "")
            if failure == DRY_RUN_PARENT:
                item.payload[target_field] = DRY_RUN_PARENT
                item.notes.append(REASON_PARENT_DRY_RUN.format(parent=parent_type, parent_id=parent_id))
                continue
            if failure.startswith(PARENT_FAILED):
                why = failure[len(PARENT_FAILED) :]
                error = REASON_PARENT_FAILED.format(parent=parent_type, parent_id=parent_id, why=why)
            else:
                error = REASON_PARENT_MISSING.format(
                    parent=parent_type, parent_id=parent_id, target=ctx.target_label, why=failure or "not created"
                )
            item.outcome = Outcome(Action.FAILED, error=error, **ids, **item.keys)
        return items

    def _mapping(self, parent_type: str) -> Mapping | None:
        if self._parent_mapping is False:
            ctx = self.ctx
            self._parent_mapping = (
                Mapping.objects.filter(
                    enabled=True,
                    object_type=parent_type,
                    ghl_connection_id=ctx.mapping.ghl_connection_id,
                    streettext_connection_id=ctx.mapping.streettext_connection_id,
                    direction__in=[ctx.direction, Direction.BOTH],
                    mode=Mapping.Mode.SYNC,
                )
                .select_related("ghl_connection", "streettext_connection")
                .order_by("pk")
                .first()
            )
        return self._parent_mapping if isinstance(self._parent_mapping, Mapping) else None

    def _recorded_before(self, parent_type: str, parent_ids: list[str]) -> list[str]:
        """An attempt that goes on with a run (a task retry, a fair turn) remembers nothing of the parents an earlier
        attempt synced first: their rows say what it found (one row per record per run and direction, so they are
        not synced and recorded again). The parents with no row yet are returned."""
        ctx = self.ctx
        column = "ghl_id" if ctx.source_system == System.GHL else "streettext_id"
        rows = RecordHistory.objects.filter(run=ctx.run, direction=ctx.direction, **{f"{column}__in": parent_ids})
        for source_id, action, error in rows.values_list(column, "action", "error"):
            if action == RecordHistory.Action.FAILED:
                found = PARENT_FAILED + error
            else:
                found = DRY_RUN_PARENT if ctx.dry_run and action == RecordHistory.Action.CREATED else ""
            ctx.state.parents[(parent_type, ctx.direction, source_id)] = found
        return [pid for pid in parent_ids if (parent_type, ctx.direction, pid) not in ctx.state.parents]

    def _sync_first(self, parent_type: str, parent_ids: list[str]) -> None:
        """Sync parents through their own mapping, in this run, each once; remember why any could not be linked."""
        ctx = self.ctx
        todo = [pid for pid in parent_ids if (parent_type, ctx.direction, pid) not in ctx.state.parents]
        if todo and ctx.state.resumed:
            todo = self._recorded_before(parent_type, todo)
        if not todo:
            return
        mapping = self._mapping(parent_type)
        if mapping is None:
            for pid in todo:
                ctx.state.parents[(parent_type, ctx.direction, pid)] = REASON_PARENT_NO_MAPPING.format(
                    parent=parent_type
                )
            return
        sub = LegContext(state=ctx.state, mapping=mapping, direction=ctx.direction)
        found = ctx.call(sub.source_connection, sub.source.get_many, todo)
        for pid in todo:
            if pid not in found:
                ctx.state.parents[(parent_type, ctx.direction, pid)] = REASON_SOURCE_GONE
        records = [found[pid] for pid in todo if pid in found]
        if not records:
            return
        leg = self.make_leg(sub)
        result = leg.process(records)
        by_source: dict[str, list[Outcome]] = defaultdict(list)
        for done in result.outcomes:
            source_id = done.ghl_id if sub.source_system == System.GHL else done.streettext_id
            by_source[source_id].append(done)
        for record in records:
            matches = by_source.get(record.id) or []
            outcome = matches[0] if matches else None
            key = (parent_type, ctx.direction, record.id)
            if outcome is None or outcome.action != Action.FAILED:
                dry_created = ctx.dry_run and outcome is not None and outcome.action == Action.CREATED
                ctx.state.parents[key] = DRY_RUN_PARENT if dry_created else ""
            else:
                ctx.state.parents[key] = PARENT_FAILED + outcome.error
        if ctx.state.total is not None:
            ctx.state.total += len(result.outcomes)
        store_page(sub, result)
