"""Field by field, what a leg writes to a target record: only what the source changed since this mapping last
synced it, list fields merged, edits made on the target kept, conflicts settled by the mapping's policy.

Pure decisions on values and digests (no DB, no HTTP); the writing code applies them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from integrations.adapters import Record
from integrations.models import MappingRecordState, System
from integrations.services.sync.context import LegContext
from integrations.services.sync.outcomes import (
    REASON_CONFLICT,
    REASON_COPY_STAMPS_KEPT,
    REASON_FIRST_SYNC_KEPT,
    REASON_RESYNC_KEPT,
    REASON_TARGET_KEPT,
)
from integrations.services.sync.values import digest, digests, list_items, merge_list, normalize, same_list, same_value
from mappings.models import Mapping

SYSTEM_LABELS = dict(System.choices)


@dataclass
class Plan:
    write: dict[str, Any] = field(default_factory=dict)
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Target fields whose stored digest stays as it was: changed on the target and not overwritten, so the other
    # direction (two-way) still sees the change, and this one does not take it for its own.
    keep_target: set[str] = field(default_factory=set)
    # List fields as this mapping now wants them: the base of the next merge.
    lists: dict[str, list[str]] = field(default_factory=dict)
    # Fields the target changed to the very value the source wants since the last sync (nothing to write, no
    # conflict): an update of an attempt whose page was never stored, or the same edit made on both sides.
    already: dict[str, dict[str, Any]] = field(default_factory=dict)

    def leave_out(self, name: str, note: str) -> None:
        self.write.pop(name, None)
        self.changes.pop(name, None)
        self.keep_target.add(name)
        self.notes.append(note)


def config_stale(ctx: LegContext, state: MappingRecordState | None) -> bool:
    """This direction's configuration changed since the record was last synced in it (or it never was)."""
    return state is None or state.configs.get(ctx.direction) != ctx.config


def forced(ctx: LegContext, state: MappingRecordState | None, *, force: bool) -> bool:
    """A re-sync forces only the records whose configuration changed in this direction: a direction nobody edited
    is neither forced nor rewritten (its records are synced as on any run)."""
    return force and config_stale(ctx, state)


def is_echo(ctx: LegContext, record: Record, state: MappingRecordState | None) -> bool:
    """Nothing this mapping reads on the record's side changed since it last synced it (and this direction's config
    is the same). A re-sync takes echoes for echoes too: it forces only the records whose config is stale."""
    if state is None or config_stale(ctx, state):
        return False
    old = state.digests.get(ctx.read_system) or {}
    list_fields = ctx.list_fields[ctx.read_system]
    return all(
        old.get(name) == digest(record.values.get(name), as_list=name in list_fields) for name in ctx.watched_read
    )


def _source_changed(ctx: LegContext, name: str, source: Record, state: MappingRecordState | None) -> bool:
    """The source fields `name` reads changed since this mapping last synced the pair; every field counts as changed
    when this direction's configuration is stale (a re-sync re-applies it), except a field whose sources the other
    leg of this very run wrote (from this target's own value): writing that back would replace the very value it
    came from. Their digests (stored by that leg) then say whether anything changed since."""
    if state is None:
        return True
    reads = ctx.sources_of.get(name)
    if config_stale(ctx, state) and not (reads and reads <= ctx.state.wrote_fields(ctx.source_system, source.id)):
        return True
    if not reads:
        return False  # a constant: written when the record is created or re-synced
    old = state.digests.get(ctx.source_system) or {}
    list_fields = ctx.list_fields[ctx.source_system]
    return any(old.get(f) != digest(source.values.get(f), as_list=f in list_fields) for f in reads)


def _source_cleared(ctx: LegContext, name: str, source: Record, state: MappingRecordState) -> bool:
    """The source fields `name` reads changed since this mapping last synced the pair (whatever the config): an
    empty value is the source's own clearing, not a field it never had."""
    reads = ctx.sources_of.get(name)
    if not reads:
        return False
    old = state.digests.get(ctx.source_system) or {}
    list_fields = ctx.list_fields[ctx.source_system]
    return any(
        old.get(f, digest(None, as_list=f in list_fields)) != digest(source.values.get(f), as_list=f in list_fields)
        for f in reads
    )


def conflict_winner(ctx: LegContext, source: Record, target: Record) -> str:
    policy = ctx.mapping.conflict_policy
    if policy == Mapping.ConflictPolicy.GHL_WINS:
        return System.GHL
    if policy == Mapping.ConflictPolicy.STREETTEXT_WINS:
        return System.STREETTEXT
    if source.updated_at and target.updated_at and target.updated_at > source.updated_at:
        return ctx.target_system
    return ctx.source_system


def plan_update(
    ctx: LegContext,
    *,
    payload: dict[str, Any],
    source: Record,
    target: Record,
    state: MappingRecordState | None,
    force: bool,
    source_is_copy: bool = False,
) -> Plan:
    """`source_is_copy`: the source record is a copy this app made of the target (their link's origin is the
    target's system): the timestamps its system set on it (ctx.copy_stamps) never replace the original's."""
    plan = Plan()
    force = forced(ctx, state, force=force)
    target_lists = ctx.list_fields[ctx.target_system]
    old_target = (state.digests.get(ctx.target_system) or {}) if state is not None else {}
    previous_lists = (state.written.get(ctx.direction) or {}) if state is not None else {}
    kept: list[str] = []
    conflicts: dict[str, list[str]] = {}
    first_sync_kept: list[str] = []
    resync_kept: list[str] = []
    stamps_kept: list[str] = []
    for name, value in payload.items():
        is_list = name in target_lists
        current = target.values.get(name)
        target_changed = (
            state is not None and name in old_target and old_target[name] != digest(current, as_list=is_list)
        )
        changed = _source_changed(ctx, name, source, state)
        if changed and source_is_copy and name in ctx.copy_stamps:
            changed = False
            if not same_value(current, value):
                stamps_kept.append(name)
        if not changed:
            if state is not None and (target_changed or name not in old_target):
                plan.keep_target.add(name)
                if target_changed:
                    kept.append(name)
            continue
        if is_list and not ctx.mapping.overwrite_tags:
            merged = merge_list(current=current, desired=value, previous=previous_lists.get(name))
            plan.lists[name] = list_items(value)
            if not same_list(merged, value):
                plan.keep_target.add(name)  # the target has items of its own: the other direction may want them
            if same_list(merged, current):
                continue
            plan.write[name] = merged
        else:
            if is_list:
                plan.lists[name] = list_items(value)
            if target_changed and (same_list(current, value) if is_list else same_value(current, value)):
                plan.already[name] = {"before": None, "after": current}
                continue
            if target_changed and not force and ctx.two_way:
                winner = conflict_winner(ctx, source, target)
                conflicts.setdefault(winner, []).append(name)
                if winner == ctx.target_system:
                    plan.keep_target.add(name)
                    continue
            if normalize(value) is None and normalize(current) is not None:
                # A first sync, a re-sync and a run after a config edit never clear a value the source did not clear.
                if state is None:
                    first_sync_kept.append(name)
                    plan.keep_target.add(name)
                    continue
                if not _source_cleared(ctx, name, source, state):
                    resync_kept.append(name)
                    plan.keep_target.add(name)
                    continue
            if same_list(current, value) if is_list else same_value(current, value):
                continue
            plan.write[name] = value
        plan.changes[name] = {"before": current, "after": plan.write[name]}
    labels = {"source": ctx.source_label, "target": ctx.target_label}
    if kept:
        plan.notes.append(REASON_TARGET_KEPT.format(fields=", ".join(kept), **labels))
    for winner, names in conflicts.items():
        plan.notes.append(REASON_CONFLICT.format(fields=", ".join(names), winner=SYSTEM_LABELS[winner]))
    if first_sync_kept:
        plan.notes.append(REASON_FIRST_SYNC_KEPT.format(fields=", ".join(first_sync_kept), **labels))
    if resync_kept:
        plan.notes.append(REASON_RESYNC_KEPT.format(fields=", ".join(resync_kept), **labels))
    if stamps_kept:
        plan.notes.append(REASON_COPY_STAMPS_KEPT.format(fields=", ".join(stamps_kept), **labels))
    return plan


def plan_create(ctx: LegContext, *, payload: dict[str, Any]) -> Plan:
    """A new target record: every non-empty value (creates never send empty optional fields)."""
    plan = Plan()
    for name, value in payload.items():
        if name in ctx.list_fields[ctx.target_system]:
            plan.lists[name] = list_items(value)
        if normalize(value) is None:
            continue
        plan.write[name] = value
        plan.changes[name] = {"before": None, "after": value}
    return plan


def new_digests(
    ctx: LegContext, *, source: Record, target: Record, state: MappingRecordState | None, plan: Plan
) -> dict[str, dict[str, str]]:
    """The digests to store after the write: the source as read, the target as written (kept fields excepted)."""
    result = dict(state.digests) if state is not None else {}
    result[ctx.source_system] = digests(
        source.values, ctx.fields_on[ctx.source_system], ctx.list_fields[ctx.source_system]
    )
    old_target = dict(result.get(ctx.target_system) or {})
    fresh = digests(target.values, ctx.fields_on[ctx.target_system], ctx.list_fields[ctx.target_system])
    for name, value in fresh.items():
        if name in plan.keep_target:
            continue
        old_target[name] = value
    result[ctx.target_system] = old_target
    return result


def new_written(ctx: LegContext, *, state: MappingRecordState | None, plan: Plan) -> dict[str, Any]:
    written = dict(state.written) if state is not None else {}
    if plan.lists:
        written[ctx.direction] = {**(written.get(ctx.direction) or {}), **plan.lists}
    return written


def new_configs(ctx: LegContext, *, state: MappingRecordState | None) -> dict[str, str]:
    """This direction's configuration, now applied. A pair synced for the first time is in step in every direction
    (its values on both sides come from this sync: re-applying the other direction would only write them back); a
    pair synced before keeps the other direction's as it was, stale or not."""
    if state is None:
        return dict(ctx.configs)
    return {**state.configs, ctx.direction: ctx.config}
