"""The generic record-store interface the sync engine uses, whatever the system and object type."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from integrations.models import Connection


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


class RecordAdapter(Protocol):
    system: str
    object_type: str

    def iter_changes(self, *, cursor: dict[str, Any], since: datetime | None, page_size: int) -> Iterator[Page]:
        """Pages of records changed after `cursor` (or since `since` when the cursor is empty), oldest first."""
        ...

    def get(self, record_id: str) -> Record:
        """One record by id; raises ApiNotFound."""
        ...

    def find_by(self, field_name: str, value: str) -> Record | None:
        """The record whose `field_name` (email, phone or an external-id field) equals `value`, if any."""
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


def adapter_for(connection: Connection, object_type: str) -> RecordAdapter:
    """The adapter for this connection's system and this object type."""
    from integrations.adapters.registry import ADAPTERS

    try:
        factory = ADAPTERS[(connection.system, object_type)]
    except KeyError as e:
        raise LookupError(f"No adapter for {object_type} on {connection.get_system_display()}") from e
    return factory(connection)
