"""What a leg (one direction of a run) knows before it reads anything: systems, adapters, field mappings, the fields
whose digests it keeps, and the run-wide bookkeeping (progress, parents already synced in this run)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from django.conf import settings

from integrations.adapters import Record, RecordAdapter, adapter_for
from integrations.clients import exceptions as exc
from integrations.models import Connection, SyncRun, System
from integrations.object_types import ObjectType, get_object_type
from mappings.models import Direction, FieldMapping, Mapping, source_system, target_system
from mappings.pipeline import template_fields
from mappings.rules import condition_fields

T = TypeVar("T")
AUTH_FAILED = "{system} rejected the credentials during the sync: {error}"


class ConnectionAuthFailed(Exception):
    def __init__(self, connection: Connection, error: exc.ApiError):
        super().__init__(AUTH_FAILED.format(system=connection.get_system_display(), error=error))
        self.connection = connection


class RunCancelled(Exception):
    """Cancel was pressed; raised at a page boundary, after the page's results are stored."""


class RunYielded(Exception):
    """Another location's run waits for a worker; raised at a page boundary, after the page's results are stored.
    `resume_in`: seconds before the run's next turn is worth starting (its location's requests are paused)."""

    def __init__(self, resume_in: float = 0.0) -> None:
        super().__init__(f"turn over, resume in {resume_in:.1f} s")
        self.resume_in = resume_in


def reverse_direction(direction: str) -> str:
    return Direction.TO_GHL if direction == Direction.TO_STREETTEXT else Direction.TO_STREETTEXT


def _rule_fields(steps: list[dict[str, Any]]) -> set[str]:
    names: set[str] = set()
    for step in steps:
        params = step.get("params") or {}
        for rule in params.get("rules") or []:
            names.update(condition_fields(rule.get("when") or {}))
        base = params.get("base_field", "tags")
        if base:
            names.add(base)
    return names


def fields_read(fm: FieldMapping) -> set[str] | None:
    """Source fields one field mapping reads; None for a constant (reads nothing)."""
    if fm.source_kind == FieldMapping.SourceKind.FIELD:
        return {fm.source} if fm.source else set()
    if fm.source_kind == FieldMapping.SourceKind.TEMPLATE:
        return set(template_fields(fm.source))
    if fm.source_kind == FieldMapping.SourceKind.RECORD:
        return _rule_fields(fm.transforms)
    return None


def source_fields(field_mappings: list[FieldMapping]) -> list[str]:
    """Source fields a leg reads: a change to any of them is a change worth syncing."""
    names: set[str] = set()
    for fm in field_mappings:
        names.update(fields_read(fm) or set())
    return sorted(names)


def direction_config_digest(mapping: Mapping, rules: list[FieldMapping], direction: str) -> str:
    """A digest of everything that decides what one direction of a mapping writes: its field mappings and what both
    directions share (filter, follow-up rules, tag policy, phone region). When it changes, the records synced in
    that direction are stale; the other direction's are not."""
    data = {
        "fields": sorted(
            (fm.target_field, fm.source_kind, fm.source, json.dumps(fm.transforms, sort_keys=True))
            for fm in rules
            if fm.direction == direction
        ),
        "filter": mapping.record_filter,
        "followups": mapping.followup_rules,
        "overwrite_tags": mapping.overwrite_tags,
        "region": mapping.phone_region,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:32]


def mapping_config_digests(mapping: Mapping, rules: list[FieldMapping] | None = None) -> dict[str, str]:
    """Per direction the mapping runs, the digest of its configuration (what MappingRecordState.configs holds)."""
    all_rules = list(mapping.field_mappings.all()) if rules is None else rules
    return {direction: direction_config_digest(mapping, all_rules, direction) for direction in mapping.directions}


def combined_config_digest(configs: dict[str, str], directions: list[str]) -> str:
    """One digest of per-direction configs (MappingRecordState.config): equal to the mapping's own when the record is
    up to date in every direction the mapping runs."""
    data = {direction: configs.get(direction, "") for direction in directions}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32]


def mapping_config_digest(mapping: Mapping, rules: list[FieldMapping] | None = None) -> str:
    """The mapping's configuration as one digest: what an up-to-date record's MappingRecordState.config holds."""
    return combined_config_digest(mapping_config_digests(mapping, rules), mapping.directions)


@dataclass
class RunState:
    """Bookkeeping shared by every leg of one run."""

    run: SyncRun
    total: int | None = None
    processed: int = 0
    # (object type, direction, source id) -> "" when a parent was synced (or linked) in this run, else why it failed.
    parents: dict[tuple[str, str, str], str] = field(default_factory=dict)
    # Ids this run wrote, per system: a change feed lists them again later in the run (the second leg of a two-way
    # run reads what the first wrote; an enrich leg reads the side it fills). Seen again unchanged, they are this
    # run's own writes: neither processed again nor counted.
    written: dict[str, set[str]] = field(default_factory=lambda: {System.GHL: set(), System.STREETTEXT: set()})
    # The record's updated time as its write answered, for the records an enrich leg wrote (the leg reads the side
    # it writes: a record it finds again with that time is its own write, not a change to enrich again).
    stamps: dict[tuple[str, str], datetime | None] = field(default_factory=dict)
    # (system, record id) -> the fields this run wrote to the record: the other leg of a two-way run must not take
    # them for the source's own values when it re-applies its configuration (they came from its own target).
    written_fields: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    # An attempt that goes on with a run an earlier attempt stored pages of (a task retry, a fair turn).
    resumed: bool = False

    def wrote(self, system: str, record_id: str, *, record: Record | None = None, fields: Iterable[str] = ()) -> None:
        self.written[system].add(record_id)
        if fields:
            self.written_fields.setdefault((system, record_id), set()).update(fields)
        if record is not None:
            self.stamps[(system, record_id)] = record.updated_at

    def wrote_fields(self, system: str, record_id: str) -> set[str]:
        return self.written_fields.get((system, record_id)) or set()

    def own_write(self, system: str, record_id: str) -> bool:
        return record_id in self.written[system]

    def resume(self, rows: Iterable[tuple[str, str, str, datetime]]) -> None:
        """Go on with a run whose earlier attempt (a task retry, a fair turn) stored pages: the records those pages
        wrote (rows of (direction, GHL id, StreetText id, when the row was stored)) are this run's writes, stamped with
        the time their row was stored, just after their write answered. An enrich leg that reads them again in this
        attempt then leaves them out as it does within one attempt, instead of recording them a second time."""
        for direction, ghl_id, streettext_id, stored_at in rows:
            system, record_id = (
                (System.STREETTEXT, streettext_id) if direction == Direction.TO_STREETTEXT else (System.GHL, ghl_id)
            )
            if record_id:
                self.stamps.setdefault((system, record_id), stored_at)

    def untouched_since_written(self, system: str, record: Record) -> bool:
        """`record` is as this run wrote it: nobody changed it since (same updated time, when both are known)."""
        if (system, record.id) not in self.stamps:
            return False
        stamp = self.stamps[(system, record.id)]
        return stamp is None or record.updated_at is None or record.updated_at <= stamp


class LegContext:
    """One direction of one mapping in one run: everything fixed before the first page is read."""

    def __init__(self, *, state: RunState, mapping: Mapping, direction: str, rules: list[FieldMapping] | None = None):
        self.state = state
        self.run = state.run
        self.mapping = mapping
        self.direction = direction
        self.dry_run = state.run.dry_run
        self.source_system = source_system(direction)
        self.target_system = target_system(direction)
        self.source_connection = self.connection(self.source_system)
        self.target_connection = self.connection(self.target_system)
        self.source: RecordAdapter = adapter_for(self.source_connection, mapping.object_type)
        self.target: RecordAdapter = adapter_for(self.target_connection, mapping.object_type)
        if hasattr(self.target, "overwrite_tags"):
            self.target.overwrite_tags = mapping.overwrite_tags
        self.object_type: ObjectType = get_object_type(mapping.object_type)
        self.enrich = mapping.mode == Mapping.Mode.ENRICH
        # Records seen again unchanged are only counted on a change-feed run; a run for named records (a webhook,
        # "sync this record now", a re-run) or a re-sync says what it found for each of them.
        self.quiet_unchanged = state.run.scope == SyncRun.Scope.CHANGES and not settings.SYNC_HISTORY_KEEP_UNCHANGED
        # The side the leg reads changes from: the source (sync) or the target (enrich: changed targets are filled).
        self.read_system = self.target_system if self.enrich else self.source_system
        self.two_way = mapping.direction == Direction.BOTH
        all_rules = list(mapping.field_mappings.all()) if rules is None else rules
        self.field_mappings = [fm for fm in all_rules if fm.direction == direction]
        self.config = direction_config_digest(mapping, all_rules, direction)
        # Every direction's: a pair this mapping syncs for the first time is in step in each of them.
        self.configs = {d: direction_config_digest(mapping, all_rules, d) for d in mapping.directions}
        self.configs[direction] = self.config
        # Per target field: the source fields it reads (None: a constant).
        self.sources_of: dict[str, set[str] | None] = {fm.target_field: fields_read(fm) for fm in self.field_mappings}
        # Target fields read from timestamps the source system sets itself (GHL's dateAdded, StreetText's created_at).
        # On a copy this app made of the target they say when the copy was made: never written over the original's.
        stamps = {
            f.name for f in self.object_type.fields_for(self.source_system) if f.kind == "datetime" and not f.writable
        }
        self.copy_stamps = frozenset(
            fm.target_field for fm in self.field_mappings if (fields_read(fm) or set()) & stamps
        )
        # Fields whose change on the read side makes a record worth processing.
        conditions = [rule.get("when") or {} for rule in mapping.followup_rules or []]
        if mapping.record_filter:
            conditions.append(mapping.record_filter)
        condition_names = set().union(*(condition_fields(c) for c in conditions)) if conditions else set()
        self.watched = sorted(set(source_fields(self.field_mappings)) | condition_names)
        # Fields this mapping reads or writes on each system (both legs): their digests are kept per record.
        self.fields_on: dict[str, list[str]] = {System.GHL: [], System.STREETTEXT: []}
        names: dict[str, set[str]] = {str(System.GHL): set(), str(System.STREETTEXT): set()}
        for fm in all_rules:
            names[source_system(fm.direction)].update(fields_read(fm) or set())
            names[target_system(fm.direction)].add(fm.target_field)
        names[self.read_system].update(condition_names)
        for system, found in names.items():
            self.fields_on[system] = sorted(found)
        # What makes a record read by this leg worth processing: its watched source fields (sync), or the target
        # fields it fills, its match keys and the rule fields (enrich: the leg reads changed targets).
        if self.enrich:
            side = 1 if self.target_system == System.STREETTEXT else 0
            match_keys = {pair[side] for pair in self.object_type.match_fields.values()}
            self.watched_read = sorted(set(self.sources_of) | match_keys | condition_names)
        else:
            self.watched_read = self.watched
        self.list_fields: dict[str, frozenset[str]] = {
            system: frozenset(f.name for f in self.object_type.fields_for(system) if f.kind == "list")
            for system in (System.GHL, System.STREETTEXT)
        }

    def connection(self, system: str) -> Connection:
        return self.mapping.ghl_connection if system == System.GHL else self.mapping.streettext_connection

    def adapter(self, system: str) -> RecordAdapter:
        return self.source if system == self.source_system else self.target

    def call(self, connection: Connection, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call an adapter; a rejected credential stops the run and flags the connection."""
        try:
            return fn(*args, **kwargs)
        except exc.ApiAuthError as e:
            raise ConnectionAuthFailed(connection, e) from e

    def ids(self, source_id: str, target_id: str) -> dict[str, Any]:
        """History ids by system from (source id, target id)."""
        if self.source_system == System.GHL:
            return {"ghl_id": source_id, "streettext_id": target_id}
        return {"ghl_id": target_id, "streettext_id": source_id}

    @property
    def target_label(self) -> str:
        return self.target_connection.get_system_display()

    @property
    def source_label(self) -> str:
        return self.source_connection.get_system_display()
