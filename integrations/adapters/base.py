"""The generic record-store interface the sync engine uses, whatever the system and object type."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from integrations.clients import exceptions as exc


def same_text(a: Any, b: Any) -> bool:
    """The same text however its whitespace runs (how a lost create is recognised by its identifying fields)."""
    return " ".join(str(a or "").split()) == " ".join(str(b or "").split())


def same_instant(a: Any, b: Any, parse: Callable[[Any], datetime | None]) -> bool:
    """The same time however it is written (GHL answers "…:52.000Z" for a "…:52Z" sent; StreetText keeps a time as
    "…:00.123Z" whatever form it was sent in); text that `parse` cannot read is compared as text."""
    first, second = parse(a), parse(b)
    if first is not None and second is not None:
        return first == second
    return same_text(a, b)


@dataclass
class Record:
    """One record, flattened: `values` uses the field names of integrations/object_types.py
    (GHL custom fields as "customFields.<id>", StreetText ones as "custom.<key>")."""

    id: str
    values: dict[str, Any]
    updated_at: datetime | None = None
    deleted: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Page:
    """One page of changes, and the cursor to store once the page's results are stored."""

    records: list[Record]
    next_cursor: dict[str, Any]
    has_more: bool
    total: int | None = None
    # API requests this page took, when the adapter counts them (a per-contact scan: one search + one per contact).
    cost: int | None = None
    # A per-contact scan: the contacts this page read (its `total` is then the location's contacts).
    parents: int | None = None


class RecordAdapter(Protocol):
    system: str
    object_type: str
    # True when iter_changes lists every record on each pass (no updated-since listing): a completed pass from the
    # start is then a complete id listing, and the deletion check needs no listing of its own.
    full_scan: bool

    def iter_changes(self, *, cursor: dict[str, Any], since: datetime | None, page_size: int) -> Iterator[Page]:
        """Pages of records changed after `cursor` (or since `since` when the cursor is empty), oldest first."""
        ...

    def get(self, record_id: str) -> Record:
        """One record by id; raises ApiNotFound."""
        ...

    def get_many(self, record_ids: Sequence[str]) -> dict[str, Record]:
        """The records that exist among `record_ids`, by id, in as few requests as the API allows."""
        ...

    def find_by(self, field_name: str, value: str) -> Record | None:
        """The record whose `field_name` (email, phone or an external-id field) equals `value`, if any."""
        ...

    def find_many(self, field_name: str, values: Sequence[str]) -> dict[str, Record]:
        """For each of `values` (comparable match keys) the record whose `field_name` equals it, if any."""
        ...

    def existing_ids(self, record_ids: Sequence[str]) -> set[str]:
        """Which of `record_ids` still exist (a cheap, paged listing where the API has one)."""
        ...

    def find_created(self, values: dict[str, Any], *, since: datetime) -> Record | None:
        """A record created with `values` at or after `since` by a create whose answer was lost, if one landed."""
        ...

    def prepare_write(self, values: dict[str, Any], *, create: bool) -> tuple[dict[str, Any], dict[str, str]]:
        """(the values create/update will actually write, {field: plain-words reason for each field left out}).
        create/update apply it themselves; the engine calls it to put the reasons into the record history."""
        ...

    def create(self, values: dict[str, Any]) -> Record: ...

    def update(self, record_id: str, values: dict[str, Any], current: Record | None = None) -> Record: ...

    def delete(self, record_id: str) -> None: ...

    def sample(self) -> Record | None:
        """One real record to preview a mapping with."""
        ...


class BaseAdapter:
    """Default batch operations built from the single-record ones; adapters override what their API does better."""

    system = ""
    object_type = ""
    full_scan = False
    # True when listing costs a request per parent record (GHL notes, appointments: one per contact).
    scan_per_parent = False
    # The setting (hours) that paces full listings of a source with no updated-since listing ("" = every run).
    rescan_hours_setting = ""
    # Records existing_ids lists per request, where it is one paged listing (0: not counted against the budget).
    ids_per_request = 0

    def get(self, record_id: str) -> Record:
        raise NotImplementedError

    def find_by(self, field_name: str, value: str) -> Record | None:
        return None

    def get_many(self, record_ids: Sequence[str]) -> dict[str, Record]:
        """One get per id (ids that are not found are left out)."""
        found: dict[str, Record] = {}
        for record_id in dict.fromkeys(record_ids):
            with contextlib.suppress(exc.ApiNotFound):
                found[record_id] = self.get(record_id)
        return found

    def find_many(self, field_name: str, values: Sequence[str]) -> dict[str, Record]:
        """One find_by per value."""
        found: dict[str, Record] = {}
        for value in dict.fromkeys(values):
            record = self.find_by(field_name, value)
            if record is not None:
                found[value] = record
        return found

    def existing_ids(self, record_ids: Sequence[str]) -> set[str]:
        return set(self.get_many(record_ids))

    def find_created(self, values: dict[str, Any], *, since: datetime) -> Record | None:
        """No way to recognise a lost create on this object type: None (the caller creates)."""
        return None
