"""StreetText contacts as flat Records (field names from integrations/object_types.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from integrations.adapters.base import BaseAdapter, Page, Record
from integrations.adapters.clients import streettext_client_for
from integrations.clients.streettext import LIST_MAX_LIMIT, StreetTextClient
from integrations.object_types import CONTACT, STREETTEXT_CUSTOM_PREFIX

if TYPE_CHECKING:
    from integrations.models import Connection

# Re-exported so callers can build "the client of this connection" from the adapter module.
client_for = streettext_client_for

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in CONTACT.streettext_fields)
WRITABLE_FIELDS = frozenset(f.name for f in CONTACT.streettext_fields if f.writable)
# The list endpoint's exact-match filters.
FILTER_FIELDS = frozenset({"email", "phone", "external_id"})


def parse_timestamp(value: Any) -> datetime | None:
    """An aware datetime from StreetText's ISO 8601 UTC string; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def contact_to_record(contact: dict[str, Any]) -> Record:
    """Flatten a StreetText contact: standard fields by name, custom fields as "custom.<key>"."""
    values: dict[str, Any] = {name: contact.get(name) for name in FIELD_NAMES}
    if values["tags"] is None:
        values["tags"] = []
    custom = contact.get("custom")
    if isinstance(custom, dict):
        for key, value in custom.items():
            values[f"{STREETTEXT_CUSTOM_PREFIX}{key}"] = value
    return Record(
        id=str(contact.get("id") or ""),
        values=values,
        updated_at=parse_timestamp(contact.get("updated_at")),
        raw=contact,
    )


def values_to_contact(values: dict[str, Any], current: Record | None = None) -> dict[str, Any]:
    """Un-flatten: writable standard fields as-is, "custom.<key>" into the `custom` object."""
    body: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for name, value in values.items():
        if name.startswith(STREETTEXT_CUSTOM_PREFIX):
            custom[name[len(STREETTEXT_CUSTOM_PREFIX) :]] = value
        elif name in WRITABLE_FIELDS:
            body[name] = value
    if custom:
        # The contract does not say whether PATCH merges `custom`; send the whole object so other keys survive.
        existing = current.raw.get("custom") if current is not None else None
        body["custom"] = {**existing, **custom} if isinstance(existing, dict) else custom
    return body


def chunks(values: Sequence[str], size: int = LIST_MAX_LIMIT) -> Iterator[list[str]]:
    items = list(dict.fromkeys(v for v in values if v))
    for start in range(0, len(items), size):
        yield items[start : start + size]


def walk_listing(list_page: Callable[..., Any], **filters: Any) -> Iterator[dict[str, Any]]:
    """Every item of a StreetText listing with these filters, page after page (the contract's durable cursor)."""
    cursor: str | None = None
    while True:
        page = list_page(limit=LIST_MAX_LIMIT, cursor=cursor, **filters)
        yield from page["data"]
        if not page["has_more"] or not page["next_cursor"] or page["next_cursor"] == cursor:
            return
        cursor = page["next_cursor"]


class StreetTextContactAdapter(BaseAdapter):
    """RecordAdapter for StreetText contacts of one workspace."""

    system = "streettext"
    object_type = "contact"

    def __init__(self, connection: Connection, *, client: StreetTextClient | None = None) -> None:
        self.connection = connection
        self.client = client or streettext_client_for(connection)

    def iter_changes(self, *, cursor: dict[str, Any], since: datetime | None, page_size: int) -> Iterator[Page]:
        """Pages of contacts by (updated_at, id) ascending; cursor = {"cursor": "<next_cursor>"}."""
        page_size = max(1, min(page_size, LIST_MAX_LIMIT))
        position: str | None = cursor.get("cursor") or None
        while True:
            page = self.client.list_contacts(
                limit=page_size, cursor=position, updated_since=since if position is None else None
            )
            next_position = page["next_cursor"] or position
            yield Page(
                records=[contact_to_record(c) for c in page["data"]],
                next_cursor={"cursor": next_position} if next_position else dict(cursor),
                has_more=page["has_more"],
                total=page["total"],
            )
            # A page claiming more without a new cursor would loop forever; stop instead.
            if not page["has_more"] or not page["next_cursor"] or page["next_cursor"] == position:
                return
            position = page["next_cursor"]

    def get(self, record_id: str) -> Record:
        """One contact by id; raises ApiNotFound."""
        return contact_to_record(self.client.get_contact(record_id))

    def find_by(self, field_name: str, value: str) -> Record | None:
        """Exact match on email, phone (E.164) or external_id via the list filters; other fields -> None."""
        if not value or field_name not in FILTER_FIELDS:
            return None
        page = self.client.list_contacts(limit=1, **{field_name: value})
        return contact_to_record(page["data"][0]) if page["data"] else None

    def _listed(self, **filters: Any) -> Iterator[Record]:
        return (contact_to_record(c) for c in walk_listing(self.client.list_contacts, **filters))

    def get_many(self, record_ids: Sequence[str]) -> dict[str, Record]:
        """One listing request per LIST_MAX_LIMIT ids (the `id` filter)."""
        found: dict[str, Record] = {}
        for chunk in chunks(record_ids):
            found.update((r.id, r) for r in self._listed(ids=chunk))
        return found

    def existing_ids(self, record_ids: Sequence[str]) -> set[str]:
        return set(self.get_many(record_ids))

    def find_many(self, field_name: str, values: Sequence[str]) -> dict[str, Record]:
        """Email, phone or external_id matches for a whole page: the filters take several values at once."""
        if field_name not in FILTER_FIELDS:
            return {}
        keys = {(v.strip().lower() if field_name == "email" else v.strip()): v for v in values if v}
        found: dict[str, Record] = {}
        for chunk in chunks(list(keys)):
            for record in self._listed(**{field_name: chunk}):
                stored = str(record.values.get(field_name) or "").strip()
                key = stored.lower() if field_name == "email" else stored
                if key in keys and keys[key] not in found:
                    found[keys[key]] = record
        return found

    def find_created(self, values: dict[str, Any], *, since: datetime) -> Record | None:
        """The contact a lost create made, by its email, phone or external id (unique per workspace)."""
        for name in ("email", "phone", "external_id"):
            value = str(values.get(name) or "").strip()
            if value:
                record = self.find_by(name, value)
                if record is not None:
                    return record
        return None

    def prepare_write(self, values: dict[str, Any], *, create: bool) -> tuple[dict[str, Any], dict[str, str]]:
        """The values unchanged and no reasons: StreetText's contract takes null to clear any field."""
        return dict(values), {}

    def create(self, values: dict[str, Any]) -> Record:
        """Create a contact from flat values."""
        return contact_to_record(self.client.create_contact(values_to_contact(values)))

    def update(self, record_id: str, values: dict[str, Any], current: Record | None = None) -> Record:
        """PATCH only the given fields (custom keys merged with `current`'s); `tags` replaces the list."""
        return contact_to_record(self.client.update_contact(record_id, values_to_contact(values, current)))

    def delete(self, record_id: str) -> None:
        """Delete a contact."""
        self.client.delete_contact(record_id)

    def sample(self) -> Record | None:
        """The first contact of the first page, or None for an empty workspace."""
        for page in self.iter_changes(cursor={}, since=None, page_size=1):
            return page.records[0] if page.records else None
        return None
