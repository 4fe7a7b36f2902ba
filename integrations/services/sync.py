"""The sync engine: one run of one mapping, leg by leg (GHL → StreetText, StreetText → GHL).

For each source record changed since the mapping's cursor: match it on the target, build the payload through the
field mappings, skip the write when the target already holds those values, otherwise create or update; keep the
record link and write one record-history row with field-level before → after. HTTP happens outside transactions;
each page's history, counts and cursor are stored together in one short transaction, so a crashed run resumes from
the last stored page and records already written are recognised through their links instead of written twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import phonenumbers
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations.adapters import Page, Record, RecordAdapter, adapter_for
from integrations.clients import exceptions as exc
from integrations.models import Connection, RecordHistory, RecordLink, SyncCursor, SyncRun, System
from integrations.object_types import get_object_type
from integrations.services import runs
from integrations.services.connections import connection_needs_reauth
from mappings.models import Direction, FieldMapping, Mapping, source_system, target_system
from mappings.pipeline import build_payload, render_template, template_fields
from mappings.rules import condition_fields, condition_holds

logger = logging.getLogger(__name__)
T = TypeVar("T")
Action = RecordHistory.Action

REASON_UNCHANGED = "unchanged: the target already holds these values"
REASON_ECHO = "no change since the last sync (our own write coming back, or unmapped fields only)"
REASON_CONFLICT = "conflict: both sides changed; {winner} wins under the mapping's conflict policy"
REASON_SOURCE_GONE = "the source record no longer exists"
REASON_ALREADY_LINKED = "the matching {target} record {target_id} is already linked to another record ({other_id})"
REASON_TARGET_GONE = "the linked {target} record {target_id} no longer exists; matched again"
REASON_PARENT_MISSING = "its {parent} {parent_id} is not linked to {target} and could not be synced first: {why}"
REASON_PARENT_NO_MAPPING = "no enabled {parent} mapping between these connections covers this direction"
REASON_REFERENCE_UNLINKED = "{field} left unchanged: {object_type} {ref_id} is not linked yet"
REASON_NO_MATCH_NO_CREATE = "no match on the target and the mapping does not create records"
REASON_DELETED_IGNORED = "deleted on the source; kept on the target (delete policy: ignore)"
REASON_DELETED_UNLINKED = "deleted on the source; link removed, target kept (delete policy: unlink)"
REASON_DELETED_TARGET = "deleted on the source; deleted on the target too (delete policy: delete)"
REASON_DELETED_NOT_LINKED = "deleted on the source; nothing was linked to it"
REASON_NO_SOURCE_MATCH = "no matching record in {source} to take values from"
REASON_FOLLOWUP = "follow-up task created in GoHighLevel (rule: {rule})"
MATCHED_BY = "matched by {rule}"
# Record links of this type remember which follow-up rules already made a task for a contact.
FOLLOWUP_LINK_TYPE = "followup"
AUTH_FAILED = "{system} rejected the credentials during the sync: {error}"


class RunCancelled(Exception):
    """Cancel was pressed; raised at a page boundary, after the page's results are stored."""


class ConnectionAuthFailed(Exception):
    def __init__(self, connection: Connection, error: exc.ApiError):
        super().__init__(AUTH_FAILED.format(system=connection.get_system_display(), error=error))
        self.connection = connection


# -- pure helpers -------------------------------------------------------------------------------------------------


def normalize(value: Any) -> Any:
    """The form values are compared in: blank is None, strings are stripped, lists keep their order."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, list | tuple):
        items = [normalize(v) for v in value]
        return [v for v in items if v is not None] or None
    return value


def same_value(a: Any, b: Any) -> bool:
    return bool(normalize(a) == normalize(b))


def fingerprint(values: dict[str, Any], fields: list[str]) -> str:
    """A stable digest of the values of `fields`: equal digests mean nothing we sync has changed."""
    data = {name: normalize(values.get(name)) for name in sorted(fields)}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def source_fields(field_mappings: list[FieldMapping]) -> list[str]:
    """Source fields a leg reads: a change to any of them is a change worth syncing."""
    names: set[str] = set()
    for fm in field_mappings:
        if fm.source_kind == FieldMapping.SourceKind.FIELD and fm.source:
            names.add(fm.source)
        elif fm.source_kind == FieldMapping.SourceKind.TEMPLATE:
            names.update(template_fields(fm.source))
        elif fm.source_kind == FieldMapping.SourceKind.RECORD:
            for step in fm.transforms:
                params = step.get("params") or {}
                for rule in params.get("rules") or []:
                    names.update(condition_fields(rule.get("when") or {}))
                if params.get("base_field", "tags"):
                    names.add(params.get("base_field", "tags"))
    return sorted(names)


def match_value(rule: str, value: Any, *, region: str) -> str | None:
    """The comparable form of a match key: lower-case email, E.164 phone, stripped external id."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if rule == "email":
        return text.lower() or None
    if rule == "phone":
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(number):
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return text or None


# -- one run ------------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    action: str
    reason: str = ""
    ghl_id: str = ""
    streettext_id: str = ""
    changes: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    email: str = ""
    phone: str = ""


def sync_run_execute(*, run_id: int) -> SyncRun | None:
    """Claim and execute one run. Transient API errors release the run for a task retry and are re-raised."""
    run = runs.sync_run_claim(run_id=run_id)
    if run is None:
        logger.info("Run %s is not pending (already claimed or finished); nothing to do", run_id)
        return None
    mapping = run.mapping
    try:
        offset = 0
        for direction in mapping.directions:
            offset += _Leg(run=run, mapping=mapping, direction=direction, progress_offset=offset).execute()
    except RunCancelled:
        return runs.sync_run_finish_cancelled(run=run)
    except exc.ApiQuotaExhausted as e:
        # The day's quota is spent: a task retry would come far too soon. The run ends, the connection pauses until
        # the quota is back, and the cursor still points after the last stored page, so the next run resumes there.
        from integrations.services.quota import mapping_pause_for_quota

        return runs.sync_run_finish(run=run, error=mapping_pause_for_quota(mapping=mapping, error=e))
    except exc.TransientApiError as e:
        runs.sync_run_release(run=run, error=str(e))
        raise
    except ConnectionAuthFailed as e:
        connection_needs_reauth(connection=e.connection, detail=str(e))
        return runs.sync_run_finish(run=run, error=str(e))
    except exc.ApiError as e:
        return runs.sync_run_finish(run=run, error=str(e))
    return runs.sync_run_finish(run=run)


class _Leg:
    """One direction of a run."""

    def __init__(self, *, run: SyncRun, mapping: Mapping, direction: str, progress_offset: int):
        self.run = run
        self.mapping = mapping
        self.direction = direction
        self.progress_offset = progress_offset
        self.source_system = source_system(direction)
        self.target_system = target_system(direction)
        self.source_connection = self._connection(self.source_system)
        self.target_connection = self._connection(self.target_system)
        self.source: RecordAdapter = adapter_for(self.source_connection, mapping.object_type)
        self.target: RecordAdapter = adapter_for(self.target_connection, mapping.object_type)
        if hasattr(self.target, "overwrite_tags"):
            self.target.overwrite_tags = mapping.overwrite_tags
        self.object_type = get_object_type(mapping.object_type)
        all_rules = list(mapping.field_mappings.all())
        self.field_mappings = [fm for fm in all_rules if fm.direction == direction]
        reverse = Direction.TO_GHL if direction == Direction.TO_STREETTEXT else Direction.TO_STREETTEXT
        # Fields whose change matters, per system: what the leg reading that system reads.
        self.watched = {
            self.source_system: source_fields(self.field_mappings),
            self.target_system: source_fields([fm for fm in all_rules if fm.direction == reverse])
            or sorted({fm.target_field for fm in self.field_mappings}),
        }
        self.two_way = mapping.direction == Direction.BOTH
        self.dry_run = run.dry_run

    def _connection(self, system: str) -> Connection:
        return self.mapping.ghl_connection if system == System.GHL else self.mapping.streettext_connection

    def _call(self, connection: Connection, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except exc.ApiAuthError as e:
            raise ConnectionAuthFailed(connection, e) from e

    # -- reading ---------------------------------------------------------------------------------------------------

    def execute(self) -> int:
        """Process every page; returns the number of records processed.

        Sync mode reads the source side's changes; enrich mode reads the target side's changes and pulls values for
        each of them from its match on the source side.
        """
        enrich = self.mapping.mode == Mapping.Mode.ENRICH
        read_system = self.target_system if enrich else self.source_system
        only = self.run.only_ids.get(read_system)
        if self.run.only_ids and not only:
            return 0
        processed = 0
        pages = self._pages_for_ids(only, enrich) if only else self._pages_from_cursor(enrich)
        handle = self._enrich_safely if enrich else self._process_safely
        for page, cursor in pages:
            outcomes = []
            for record in page.records:
                outcome = handle(record)
                outcomes.append(outcome)
                outcomes.extend(self._followups(record, outcome))
            # The first page's total is the estimate shown while the leg runs; the end of the leg makes it exact.
            total = page.total if processed == 0 else None
            processed += len(outcomes)
            self._store_page(outcomes, cursor, page.next_cursor, total)
            if runs.sync_run_cancel_requested(run=self.run):
                raise RunCancelled
        runs.sync_run_add_progress(run=self.run, counts={}, total=self.progress_offset + processed)
        return processed

    def _reader(self, enrich: bool) -> tuple[str, RecordAdapter, Connection]:
        if enrich:
            return self.target_system, self.target, self.target_connection
        return self.source_system, self.source, self.source_connection

    def _pages_from_cursor(self, enrich: bool = False) -> Iterator[tuple[Page, SyncCursor | None]]:
        system, adapter, connection = self._reader(enrich)
        cursor, _ = SyncCursor.objects.get_or_create(mapping=self.mapping, system=system)
        position = dict(cursor.position)
        since = self.mapping.start_from if not position else None
        pages = self._call(
            connection, adapter.iter_changes, cursor=position, since=since, page_size=settings.SYNC_PAGE_SIZE
        )
        while True:
            page = self._call(connection, next, pages, None)
            if page is None:
                return
            yield page, cursor

    def _pages_for_ids(self, ids: list[str], enrich: bool = False) -> Iterator[tuple[Page, SyncCursor | None]]:
        _, adapter, connection = self._reader(enrich)
        size = settings.SYNC_PAGE_SIZE
        for start in range(0, len(ids), size):
            records: list[Record] = []
            for record_id in ids[start : start + size]:
                try:
                    records.append(self._call(connection, adapter.get, record_id))
                except exc.ApiNotFound:
                    records.append(Record(id=record_id, values={}, deleted=True))
            yield Page(records=records, next_cursor={}, has_more=False, total=len(ids)), None

    def _store_page(
        self, outcomes: list[Outcome], cursor: SyncCursor | None, next_cursor: dict[str, Any], total: int | None
    ) -> None:
        counts = {"processed": len(outcomes), "created": 0, "updated": 0, "skipped": 0, "failed": 0, "deleted": 0}
        rows = []
        for o in outcomes:
            counts[o.action] += 1
            rows.append(
                RecordHistory(
                    run=self.run,
                    mapping=self.mapping,
                    direction=self.direction,
                    action=o.action,
                    reason=o.reason[:200],
                    ghl_id=o.ghl_id,
                    streettext_id=o.streettext_id,
                    email=o.email[:254],
                    phone=o.phone[:40],
                    changes=o.changes,
                    error=o.error,
                    dry_run=self.dry_run,
                )
            )
        with transaction.atomic():
            RecordHistory.objects.bulk_create(rows)
            # A dry run must not move the cursor: the real run still has to see these records.
            # An empty cursor is stored too: a source that can only scan in full says "start again" with it.
            if cursor is not None and not self.dry_run:
                cursor.position = next_cursor
                cursor.save(update_fields=["position", "updated_at"])
            runs.sync_run_add_progress(
                run=self.run, counts=counts, total=None if total is None else self.progress_offset + total
            )

    # -- one record --------------------------------------------------------------------------------------------------

    def _ids(self, source_id: str, target_id: str) -> dict[str, Any]:
        if self.source_system == System.GHL:
            return {"ghl_id": source_id, "streettext_id": target_id}
        return {"ghl_id": target_id, "streettext_id": source_id}

    def _process_safely(self, record: Record) -> Outcome:
        try:
            return self._process(record)
        except (exc.TransientApiError, ConnectionAuthFailed):
            raise
        except exc.ApiError as e:
            return Outcome(Action.FAILED, error=str(e), **self._ids(record.id, ""), **self._contact_keys(record))

    def _contact_keys(self, record: Record) -> dict[str, Any]:
        email = record.values.get("email")
        phone = record.values.get("phone")
        return {"email": str(email or ""), "phone": str(phone or "")}

    def _link_for_source(self, source_id: str) -> RecordLink | None:
        lookup = {"ghl_id": source_id} if self.source_system == System.GHL else {"streettext_id": source_id}
        return RecordLink.objects.filter(
            ghl_connection=self.mapping.ghl_connection,
            streettext_connection=self.mapping.streettext_connection,
            object_type=self.mapping.object_type,
            **lookup,
        ).first()

    def _link_for_target(self, target_id: str) -> RecordLink | None:
        lookup = {"streettext_id": target_id} if self.source_system == System.GHL else {"ghl_id": target_id}
        return RecordLink.objects.filter(
            ghl_connection=self.mapping.ghl_connection,
            streettext_connection=self.mapping.streettext_connection,
            object_type=self.mapping.object_type,
            **lookup,
        ).first()

    def _fp(self, system: str, record: Record) -> str:
        return fingerprint(record.values, self.watched[system])

    def _process(self, record: Record) -> Outcome:
        keys = self._contact_keys(record)
        if record.deleted:
            return self._deleted(record, keys)
        link = self._link_for_source(record.id)
        source_fp = self._fp(self.source_system, record)
        if link is not None and link_fp(link, self.source_system) == source_fp:
            return Outcome(
                Action.SKIPPED, REASON_ECHO, **self._ids(record.id, link_target(link, self.target_system)), **keys
            )

        payload, errors = build_payload(self.field_mappings, record.values, default_region=self.mapping.phone_region)
        if payload.get("email"):
            keys["email"] = str(payload["email"])
        if payload.get("phone"):
            keys["phone"] = str(payload["phone"])
        if errors:
            error = "; ".join(f"{name}: {message}" for name, message in errors.items())
            return Outcome(Action.FAILED, error=error, **self._ids(record.id, ""), **keys)
        notes = self._translate_references(payload)
        if self.object_type.parent:
            parent_error = self._attach_parent(record, payload)
            if parent_error:
                return Outcome(Action.FAILED, error=parent_error, **self._ids(record.id, ""), **keys)

        target, rule, stale_link = self._match(record, link)
        if target is None:
            if not self.mapping.create_missing:
                return Outcome(Action.SKIPPED, REASON_NO_MATCH_NO_CREATE, **self._ids(record.id, ""), **keys)
            outcome = self._create(record, payload, source_fp, link if stale_link else None, keys)
            outcome.reason = "; ".join(filter(None, [outcome.reason, *notes]))
            return outcome

        other = self._link_for_target(target.id)
        if other is not None and link_source(other, self.source_system) != record.id:
            reason = REASON_ALREADY_LINKED.format(
                target=self.target_connection.get_system_display(),
                target_id=target.id,
                other_id=link_source(other, self.source_system),
            )
            return Outcome(Action.FAILED, error=reason, **self._ids(record.id, target.id), **keys)

        if self.two_way and link is not None:
            winner = self._conflict_winner(record, target, link)
            if winner is not None and winner != self.source_system:
                label = dict(System.choices)[winner]
                # The link is left as it is, so the winning side's change is still seen as new by its own leg.
                return Outcome(
                    Action.SKIPPED, REASON_CONFLICT.format(winner=label), **self._ids(record.id, target.id), **keys
                )

        changes = {
            name: {"before": target.values.get(name), "after": value}
            for name, value in payload.items()
            if not same_value(target.values.get(name), value)
        }
        reason = "; ".join([MATCHED_BY.format(rule=rule), *notes])
        if not changes:
            if not self.dry_run:
                self._remember(record, target, link, source_fp=source_fp)
            return Outcome(Action.SKIPPED, f"{REASON_UNCHANGED} ({reason})", **self._ids(record.id, target.id), **keys)
        if self.dry_run:
            return Outcome(Action.UPDATED, reason, changes=changes, **self._ids(record.id, target.id), **keys)
        written = self._call(
            self.target_connection, self.target.update, target.id, {k: v["after"] for k, v in changes.items()}, target
        )
        self._remember(record, written, link, source_fp=source_fp)
        return Outcome(Action.UPDATED, reason, changes=changes, **self._ids(record.id, target.id), **keys)

    def _linked_id(self, object_type: str, source_id: str) -> str:
        """The target-side id linked to a source-side id of another object type ("" if none)."""
        lookup = {"ghl_id": source_id} if self.source_system == System.GHL else {"streettext_id": source_id}
        found = (
            RecordLink.objects.filter(
                ghl_connection=self.mapping.ghl_connection,
                streettext_connection=self.mapping.streettext_connection,
                object_type=object_type,
                **lookup,
            )
            .values_list("streettext_id" if self.source_system == System.GHL else "ghl_id", flat=True)
            .first()
        )
        return found or ""

    def _translate_references(self, payload: dict[str, Any]) -> list[str]:
        """Ids of other objects (a contact's business) become the other side's ids; unlinked ones are left out."""
        notes = []
        for name in list(payload):
            ref_type = self.object_type.references.get(name)
            if ref_type is None or not payload[name]:
                continue
            linked = self._linked_id(ref_type, str(payload[name]))
            if linked:
                payload[name] = linked
            else:
                notes.append(REASON_REFERENCE_UNLINKED.format(field=name, object_type=ref_type, ref_id=payload[name]))
                del payload[name]
        return notes

    def _attach_parent(self, record: Record, payload: dict[str, Any]) -> str:
        """Put the target-side parent id (the contact of a task, note, appointment) in the payload.

        A parent that is not linked yet is synced first, in this run, through the parent type's mapping between the
        same connections; a child is never attached to a guessed parent. Returns an error text, or "".
        """
        assert self.object_type.parent
        assert self.object_type.parent_fields
        ghl_field, st_field = self.object_type.parent_fields
        from_ghl = self.source_system == System.GHL
        source_field, target_field = (ghl_field, st_field) if from_ghl else (st_field, ghl_field)
        parent_id = str(record.values.get(source_field) or "")
        linked = self._linked_id(self.object_type.parent, parent_id) if parent_id else ""
        if not linked and parent_id:
            why = self._sync_parent_first(parent_id)
            linked = self._linked_id(self.object_type.parent, parent_id)
            if not linked:
                return REASON_PARENT_MISSING.format(
                    parent=self.object_type.parent,
                    parent_id=parent_id,
                    target=self.target_connection.get_system_display(),
                    why=why or "it was not created",
                )
        if not linked:
            return REASON_PARENT_MISSING.format(
                parent=self.object_type.parent, parent_id="(none)", target="", why="the record names no parent"
            )
        payload[target_field] = linked
        return ""

    def _sync_parent_first(self, parent_id: str) -> str:
        """Sync one parent record through its own mapping, recording it in this run. Returns why it failed."""
        parent_mapping = (
            Mapping.objects.filter(
                enabled=True,
                object_type=self.object_type.parent,
                ghl_connection=self.mapping.ghl_connection,
                streettext_connection=self.mapping.streettext_connection,
                direction__in=[self.direction, Direction.BOTH],
            )
            .order_by("pk")
            .first()
        )
        if parent_mapping is None:
            return REASON_PARENT_NO_MAPPING.format(parent=self.object_type.parent)
        leg = _Leg(run=self.run, mapping=parent_mapping, direction=self.direction, progress_offset=0)
        leg.dry_run = self.dry_run
        try:
            parent = self._call(self.source_connection, leg.source.get, parent_id)
        except exc.ApiNotFound:
            return REASON_SOURCE_GONE
        outcome = leg._process_safely(parent)
        leg._store_page([outcome], None, {}, None)
        return outcome.error

    def _deleted(self, record: Record, keys: dict[str, Any]) -> Outcome:
        """Apply the mapping's delete policy to a record deleted on the source side."""
        link = self._link_for_source(record.id)
        target_id = link_target(link, self.target_system)
        ids = self._ids(record.id, target_id)
        policy = self.mapping.delete_policy
        if link is None:
            return Outcome(Action.SKIPPED, REASON_DELETED_NOT_LINKED, **ids, **keys)
        if policy == Mapping.DeletePolicy.IGNORE:
            return Outcome(Action.SKIPPED, REASON_DELETED_IGNORED, **ids, **keys)
        if policy == Mapping.DeletePolicy.UNLINK:
            if not self.dry_run:
                link.delete()
            return Outcome(Action.SKIPPED, REASON_DELETED_UNLINKED, **ids, **keys)
        if not self.dry_run:
            # Already gone on the target: the outcome is the same.
            with contextlib.suppress(exc.ApiNotFound):
                self._call(self.target_connection, self.target.delete, target_id)
            link.delete()
        return Outcome(Action.DELETED, REASON_DELETED_TARGET, **ids, **keys)

    # -- enrich mode --------------------------------------------------------------------------------------------------

    def _enrich_safely(self, target: Record) -> Outcome:
        try:
            return self._enrich(target)
        except (exc.TransientApiError, ConnectionAuthFailed):
            raise
        except exc.ApiError as e:
            return Outcome(Action.FAILED, error=str(e), **self._ids("", target.id), **self._contact_keys(target))

    def _enrich(self, target: Record) -> Outcome:
        """A changed target record: find its match on the source side and pull the mapped values into it."""
        keys = self._contact_keys(target)
        if target.deleted:
            return Outcome(Action.SKIPPED, REASON_SOURCE_GONE, **self._ids("", target.id), **keys)
        link = self._link_for_target(target.id)
        if link is not None and link_fp(link, self.target_system) == self._fp(self.target_system, target):
            return Outcome(Action.SKIPPED, REASON_ECHO, **self._ids(link_source(link, self.source_system), target.id))
        source, rule = None, ""
        if link is not None:
            with contextlib.suppress(exc.ApiNotFound):
                source = self._call(self.source_connection, self.source.get, link_source(link, self.source_system))
                rule = "record link"
        for candidate in self.mapping.match_rules:
            if source is not None:
                break
            if candidate != "link":
                source, rule = self._find(candidate, target, reverse=True), candidate.replace("_", " ")
        if source is None:
            reason = REASON_NO_SOURCE_MATCH.format(source=self.source_connection.get_system_display())
            return Outcome(Action.SKIPPED, reason, **self._ids("", target.id), **keys)
        other = self._link_for_source(source.id)
        if other is not None and link_target(other, self.target_system) != target.id:
            error = REASON_ALREADY_LINKED.format(
                target=self.source_connection.get_system_display(),
                target_id=source.id,
                other_id=link_target(other, self.target_system),
            )
            return Outcome(Action.FAILED, error=error, **self._ids(source.id, target.id), **keys)
        payload, errors = build_payload(self.field_mappings, source.values, default_region=self.mapping.phone_region)
        if errors:
            error = "; ".join(f"{name}: {message}" for name, message in errors.items())
            return Outcome(Action.FAILED, error=error, **self._ids(source.id, target.id), **keys)
        notes = self._translate_references(payload)
        changes = {
            name: {"before": target.values.get(name), "after": value}
            for name, value in payload.items()
            if not same_value(target.values.get(name), value)
        }
        reason = "; ".join([MATCHED_BY.format(rule=rule), *notes])
        source_fp = self._fp(self.source_system, source)
        if not changes:
            if not self.dry_run:
                self._remember(source, target, other or link, source_fp=source_fp)
            return Outcome(Action.SKIPPED, f"{REASON_UNCHANGED} ({reason})", **self._ids(source.id, target.id), **keys)
        if not self.dry_run:
            values = {k: v["after"] for k, v in changes.items()}
            written = self._call(self.target_connection, self.target.update, target.id, values, target)
            self._remember(source, written, other or link, source_fp=source_fp)
        return Outcome(Action.UPDATED, reason, changes=changes, **self._ids(source.id, target.id), **keys)

    # -- follow-up tasks -------------------------------------------------------------------------------------------

    def _ghl_contact_for(self, record: Record, outcome: Outcome) -> str:
        """The GHL contact a follow-up task belongs to: the contact itself, or a child record's contact."""
        if self.object_type.key == "contact":
            return outcome.ghl_id
        if self.object_type.parent == "contact" and self.object_type.parent_fields:
            ghl_field, st_field = self.object_type.parent_fields
            if self.source_system == System.GHL:
                return str(record.values.get(ghl_field) or "")
            return self._linked_id("contact", str(record.values.get(st_field) or ""))
        return ""

    def _followups(self, record: Record, outcome: Outcome) -> list[Outcome]:
        """Create a GHL task once per contact and rule when a follow-up rule holds on the processed record."""
        rules = self.mapping.followup_rules or []
        if not rules or outcome.action == Action.FAILED or record.deleted:
            return []
        contact_id = self._ghl_contact_for(record, outcome)
        if not contact_id:
            return []
        results = []
        for rule in rules:
            if not condition_holds(rule["when"], record.values):
                continue
            marker = f"{contact_id}:{rule.get('name') or rule['title']}"
            done = RecordLink.objects.filter(
                ghl_connection=self.mapping.ghl_connection,
                streettext_connection=self.mapping.streettext_connection,
                object_type=FOLLOWUP_LINK_TYPE,
                streettext_id=marker,
            ).exists()
            if done:
                continue
            title = render_template(rule["title"], record.values) or rule["title"]
            due = timezone.now() + timedelta(days=float(rule.get("due_in_days", 1)))
            task = {
                "contactId": contact_id,
                "title": title,
                "body": rule.get("body", ""),
                "dueDate": due.isoformat().replace("+00:00", "Z"),
                "completed": False,
            }
            reason = REASON_FOLLOWUP.format(rule=rule.get("name") or rule["title"])
            changes = {name: {"before": None, "after": value} for name, value in task.items()}
            if self.dry_run:
                results.append(Outcome(Action.CREATED, reason, ghl_id=contact_id, changes=changes))
                continue
            try:
                created = self._call(
                    self.mapping.ghl_connection, adapter_for(self.mapping.ghl_connection, "task").create, task
                )
            except (exc.ApiValidationError, exc.ApiNotFound) as e:
                results.append(Outcome(Action.FAILED, reason, ghl_id=contact_id, error=str(e), changes=changes))
                continue
            RecordLink.objects.create(
                ghl_connection=self.mapping.ghl_connection,
                streettext_connection=self.mapping.streettext_connection,
                object_type=FOLLOWUP_LINK_TYPE,
                ghl_id=created.id,
                streettext_id=marker,
                last_synced_at=timezone.now(),
            )
            results.append(Outcome(Action.CREATED, reason, ghl_id=created.id, changes=changes))
        return results

    def _match(self, record: Record, link: RecordLink | None) -> tuple[Record | None, str, bool]:
        """Try the mapping's match rules in order. Returns (target, rule, link_was_stale)."""
        stale = False
        for rule in self.mapping.match_rules:
            if rule == "link":
                if link is None:
                    continue
                try:
                    target = self._call(self.target_connection, self.target.get, link_target(link, self.target_system))
                except exc.ApiNotFound:
                    stale = True
                    continue
                return target, "record link", stale
            found = self._find(rule, record)
            if found is not None:
                return found, rule.replace("_", " "), stale
        return None, "", stale

    def _find(self, rule: str, record: Record, *, reverse: bool = False) -> Record | None:
        """The record matching `record` by `rule` on the target side (reverse: `record` is a target record and the
        match is searched on the source side)."""
        if reverse:
            from_system, adapter, connection = self.target_system, self.source, self.source_connection
        else:
            from_system, adapter, connection = self.source_system, self.target, self.target_connection
        if rule == "external_id":
            ghl_field, st_field = self.mapping.ghl_external_id_field, self.mapping.streettext_external_id_field
            if not ghl_field or not st_field:
                return None
        else:
            fields = self.object_type.match_fields.get(rule)
            if fields is None:
                return None
            ghl_field, st_field = fields
        from_field, to_field = (ghl_field, st_field) if from_system == System.GHL else (st_field, ghl_field)
        value = match_value(rule, record.values.get(from_field), region=self.mapping.phone_region)
        if value is None:
            return None
        return self._call(connection, adapter.find_by, to_field, value)

    def _conflict_winner(self, record: Record, target: Record, link: RecordLink) -> str | None:
        """When both sides changed since the last sync, the system whose change wins; None if no conflict."""
        if not link_fp(link, self.target_system) or link_fp(link, self.target_system) == self._fp(
            self.target_system, target
        ):
            return None
        policy = self.mapping.conflict_policy
        if policy == Mapping.ConflictPolicy.GHL_WINS:
            return System.GHL
        if policy == Mapping.ConflictPolicy.STREETTEXT_WINS:
            return System.STREETTEXT
        if record.updated_at and target.updated_at and target.updated_at > record.updated_at:
            return self.target_system
        return self.source_system

    def _create(
        self,
        record: Record,
        payload: dict[str, Any],
        source_fp: str,
        stale_link: RecordLink | None,
        keys: dict[str, Any],
    ) -> Outcome:
        changes = {
            name: {"before": None, "after": value} for name, value in payload.items() if normalize(value) is not None
        }
        reason = ""
        if stale_link is not None:
            reason = REASON_TARGET_GONE.format(
                target=self.target_connection.get_system_display(),
                target_id=link_target(stale_link, self.target_system),
            )
        if self.dry_run:
            return Outcome(Action.CREATED, reason, changes=changes, **self._ids(record.id, ""), **keys)
        created = self._call(self.target_connection, self.target.create, payload)
        self._remember(record, created, self._link_for_source(record.id), source_fp=source_fp)
        return Outcome(Action.CREATED, reason, changes=changes, **self._ids(record.id, created.id), **keys)

    def _remember(self, source: Record, target: Record, link: RecordLink | None, *, source_fp: str | None) -> None:
        """Create or refresh the record link, with both sides' fingerprints as of now."""
        ids = self._ids(source.id, target.id)
        fps = {f"{self.target_system}_fingerprint": self._fp(self.target_system, target)}
        if source_fp is not None:
            fps[f"{self.source_system}_fingerprint"] = source_fp
        if link is None:
            link = RecordLink(
                ghl_connection=self.mapping.ghl_connection,
                streettext_connection=self.mapping.streettext_connection,
                object_type=self.mapping.object_type,
            )
        link.ghl_id, link.streettext_id = ids["ghl_id"], ids["streettext_id"]
        for name, value in fps.items():
            setattr(link, name, value)
        link.last_synced_at = timezone.now()
        link.save()


def link_target(link: RecordLink | None, target_system_name: str) -> str:
    if link is None:
        return ""
    return link.ghl_id if target_system_name == System.GHL else link.streettext_id


def link_source(link: RecordLink, source_system_name: str) -> str:
    return link.ghl_id if source_system_name == System.GHL else link.streettext_id


def link_fp(link: RecordLink, system: str) -> str:
    return link.ghl_fingerprint if system == System.GHL else link.streettext_fingerprint
