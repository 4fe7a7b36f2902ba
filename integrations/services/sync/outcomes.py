"""What happened to one record in a run: the Outcome the engine turns into a record-history row, and its reasons."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from integrations.models import RecordHistory

Action = RecordHistory.Action

REASON_UNCHANGED = "unchanged: the target already holds these values"
REASON_ECHO = "no change since this mapping last synced it (its own write coming back, or unmapped fields only)"
REASON_FILTERED = "left alone: it does not meet the mapping's filter"
REASON_TARGET_KEPT = "{fields}: changed on {target} since the last sync and not on {source}; kept"
REASON_CONFLICT = "conflict on {fields}: changed on both sides since the last sync; {winner} wins (conflict policy)"
REASON_COPY_STAMPS_KEPT = (
    "{fields}: kept on {target} (the {source} record is a copy this app made of it; {source} set its own timestamps)"
)
REASON_RESYNC_KEPT = "{fields}: empty on {source} and not cleared there since the last sync, kept on {target}"
REASON_FIRST_SYNC_KEPT = "{fields}: empty on {source}, kept on {target} (a first sync never clears data)"
REASON_SOURCE_GONE = "the source record no longer exists"
REASON_ALREADY_LINKED = "the matching {target} record {target_id} is already linked to another record ({other_id})"
REASON_TARGET_GONE = "the linked {target} record {target_id} no longer exists; matched again"
REASON_PARENT_MISSING = "its {parent} {parent_id} is not linked to {target} and could not be synced first: {why}"
REASON_PARENT_FAILED = "its {parent} {parent_id} could not be synced first: {why} (see that record's row in this run)"
REASON_PARENT_NO_MAPPING = "no enabled {parent} mapping between these connections covers this direction"
REASON_PARENT_NONE = "the record names no {parent}"
REASON_PARENT_DRY_RUN = "its {parent} {parent_id} would be created first"
REASON_REFERENCE_UNLINKED = "{field} left unchanged: {object_type} {ref_id} is not linked yet"
REASON_NO_MATCH_NO_CREATE = "no match on the target and the mapping does not create records"
REASON_DELETED_IGNORED = "deleted on the source; kept on the target (delete policy: ignore)"
REASON_DELETED_UNLINKED = "deleted on the source; link removed, target kept (delete policy: unlink)"
REASON_DELETED_TARGET = "deleted on the source; deleted on the target too (delete policy: delete)"
REASON_STAYS_UNLINKED = (
    "not copied again: its {target} copy {target_id} was deleted and the delete policy 'unlink' keeps it unlinked "
    "(Sync this record now copies it)"
)
REASON_DELETED_NOT_LINKED = "deleted on the source; nothing was linked to it"
REASON_DELETION_FOUND = "found by the deletion check"
REASON_NO_SOURCE_MATCH = "no matching record in {source} to take values from"
REASON_FOLLOWUP = "follow-up task for contact {contact} (rule: {rule})"
REASON_FOLLOWUP_ENROL = "follow-up: {what} {value} for contact {contact} (rule: {rule})"
REASON_FOLLOWUP_UNSTORED = (
    "follow-up for contact {contact} (rule: {rule}) made by an earlier attempt that stopped before its page was "
    "stored; recorded now"
)
REASON_IN_DOUBT_FOUND = "an earlier create whose answer was lost had landed; linked to it instead of creating again"
REASON_CREATED_UNSTORED = (
    "created by an earlier attempt that stopped before its page was stored (a worker killed, or an error); recorded now"
)
REASON_UPDATED_UNSTORED = (
    "updated by an earlier attempt that stopped before its page was stored (a worker killed); recorded now, without "
    "the values it replaced"
)
REASON_LINKED_MEANWHILE = "another run linked this record at the same time; the extra copy {extra} was removed"
REASON_NOT_WRITTEN = "{field} not written: {why}"
MATCHED_BY = "matched by {rule}"


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
    # Another direction than the leg's (a follow-up task written to GHL from a GHL → StreetText leg).
    direction: str = ""
    # Counted on the run but not written as a history row (an unchanged record seen again on a rescan).
    quiet: bool = False
