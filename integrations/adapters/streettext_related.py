"""StreetText tasks, notes, appointments and organisations as flat Records (field names: integrations/object_types.py).

The four resources share the contacts' conventions (docs/streettext-api.md): plain ids, durable (updated_at, id)
cursors stored as {"cursor": "<next_cursor>"}, `updated_since` for the first page, PATCH for updates.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from integrations.adapters.base import BaseAdapter, Page, Record, same_instant, same_text
from integrations.adapters.clients import streettext_client_for
from integrations.adapters.streettext import chunks, parse_timestamp, walk_listing
from integrations.clients import exceptions as exc
from integrations.clients.streettext import LIST_MAX_LIMIT, StreetTextClient
from integrations.object_types import APPOINTMENT, BUSINESS, NOTE, OPPORTUNITY, TASK, ObjectType

if TYPE_CHECKING:
    from integrations.models import Connection


class StreetTextResourceAdapter(BaseAdapter):
    """RecordAdapter for one of StreetText's generic resources; subclasses name the resource and object type."""

    system = "streettext"
    object_type = ""
    resource = ""
    spec: ObjectType = TASK
    # The fields a lost create's record is recognised by among its contact's records (children only).
    identity_fields: tuple[str, ...] = ()
    identity_instants: tuple[str, ...] = ()  # those of identity_fields compared as instants

    def __init__(self, connection: Connection, *, client: StreetTextClient | None = None) -> None:
        self.connection = connection
        self.client = client or streettext_client_for(connection)
        self.field_names = tuple(f.name for f in self.spec.streettext_fields)
        self.writable = frozenset(f.name for f in self.spec.streettext_fields if f.writable)
        # Child records name their contact by this field ("contact_id"); it is sent on create only.
        self.parent_field = self.spec.parent_fields[1] if self.spec.parent_fields else None

    def to_record(self, item: dict[str, Any]) -> Record:
        """Flatten one record: the object type's StreetText fields by name."""
        values: dict[str, Any] = {name: item.get(name) for name in self.field_names}
        return Record(
            id=str(item.get("id") or ""), values=values, updated_at=parse_timestamp(item.get("updated_at")), raw=item
        )

    def body(self, values: dict[str, Any]) -> dict[str, Any]:
        """The writable fields among `values`."""
        return {name: value for name, value in values.items() if name in self.writable}

    def iter_changes(self, *, cursor: dict[str, Any], since: datetime | None, page_size: int) -> Iterator[Page]:
        """Pages by (updated_at, id) ascending; cursor = {"cursor": "<next_cursor>"}, durable across runs."""
        page_size = max(1, min(page_size, LIST_MAX_LIMIT))
        position: str | None = cursor.get("cursor") or None
        while True:
            page = self.client.list_records(
                self.resource, limit=page_size, cursor=position, updated_since=since if position is None else None
            )
            next_position = page["next_cursor"] or position
            yield Page(
                records=[self.to_record(item) for item in page["data"]],
                next_cursor={"cursor": next_position} if next_position else dict(cursor),
                has_more=page["has_more"],
                total=page["total"],
            )
            # A page claiming more without a new cursor would loop forever; stop instead.
            if not page["has_more"] or not page["next_cursor"] or page["next_cursor"] == position:
                return
            position = page["next_cursor"]

    def get(self, record_id: str) -> Record:
        """One record by id; raises ApiNotFound."""
        return self.to_record(self.client.get_record(self.resource, record_id))

    def _listed(self, **filters: Any) -> Iterator[Record]:
        items = walk_listing(functools.partial(self.client.list_records, self.resource), **filters)
        return (self.to_record(item) for item in items)

    def get_many(self, record_ids: Sequence[str]) -> dict[str, Record]:
        """One listing request per LIST_MAX_LIMIT ids (the `id` filter)."""
        found: dict[str, Record] = {}
        for chunk in chunks(record_ids):
            found.update((r.id, r) for r in self._listed(ids=chunk))
        return found

    def existing_ids(self, record_ids: Sequence[str]) -> set[str]:
        return set(self.get_many(record_ids))

    def _same(self, name: str, found: Any, sent: Any) -> bool:
        if name in self.identity_instants:
            return same_instant(found, sent, parse_timestamp)
        return same_text(found, sent)

    def find_created(self, values: dict[str, Any], *, since: datetime) -> Record | None:
        """A record of the same contact with the same identifying fields as the lost create (times compared as
        instants: StreetText answers a due date in its own form, not always as it was sent)."""
        contact_id = values.get(self.parent_field) if self.parent_field else None
        if not contact_id or not self.identity_fields:
            return None
        for record in self._listed(contact_id=str(contact_id)):
            if all(self._same(name, record.values.get(name), values.get(name)) for name in self.identity_fields):
                return record
        return None

    def find_by(self, field_name: str, value: str) -> Record | None:
        """None: the contract gives these resources no match filters (children are matched by record link, and
        scanning every organisation per lookup would cost a full listing per record)."""
        return None

    def prepare_write(self, values: dict[str, Any], *, create: bool) -> tuple[dict[str, Any], dict[str, str]]:
        """The values unchanged and no reasons: StreetText's contract takes null to clear any field."""
        return dict(values), {}

    def create(self, values: dict[str, Any]) -> Record:
        """Create a record from flat values; child records need their contact_id."""
        data = self.body(values)
        if self.parent_field is not None:
            parent_id = values.get(self.parent_field)
            if not parent_id:
                raise exc.ApiValidationError(f"StreetText {self.resource} need a {self.parent_field}")
            data[self.parent_field] = parent_id
        return self.to_record(self.client.create_record(self.resource, data))

    def update(self, record_id: str, values: dict[str, Any], current: Record | None = None) -> Record:
        """PATCH the given writable fields (a child's contact_id is not changed)."""
        data = self.body(values)
        if not data:
            return current if current is not None else self.get(record_id)
        return self.to_record(self.client.update_record(self.resource, record_id, data))

    def delete(self, record_id: str) -> None:
        """Delete a record."""
        self.client.delete_record(self.resource, record_id)

    def sample(self) -> Record | None:
        """The first record of the first page, or None."""
        for page in self.iter_changes(cursor={}, since=None, page_size=1):
            return page.records[0] if page.records else None
        return None


class StreetTextTaskAdapter(StreetTextResourceAdapter):
    """RecordAdapter for StreetText tasks (/v1/tasks)."""

    object_type = "task"
    resource = "tasks"
    spec = TASK
    identity_fields = ("title", "due_at")
    identity_instants = ("due_at",)


class StreetTextNoteAdapter(StreetTextResourceAdapter):
    """RecordAdapter for StreetText notes (/v1/notes)."""

    object_type = "note"
    resource = "notes"
    spec = NOTE
    identity_fields = ("body", "title")


class StreetTextAppointmentAdapter(StreetTextResourceAdapter):
    """RecordAdapter for StreetText appointments (/v1/appointments)."""

    object_type = "appointment"
    resource = "appointments"
    spec = APPOINTMENT
    identity_fields = ("starts_at", "title")
    identity_instants = ("starts_at",)


class StreetTextOrganizationAdapter(StreetTextResourceAdapter):
    """RecordAdapter for StreetText organisations (/v1/organizations), the "business" object type."""

    object_type = "business"
    resource = "organizations"
    spec = BUSINESS


class StreetTextDealAdapter(StreetTextResourceAdapter):
    """RecordAdapter for StreetText deals (/v1/deals), the "opportunity" object type."""

    object_type = "opportunity"
    resource = "deals"
    spec = OPPORTUNITY
    identity_fields = ("title",)
