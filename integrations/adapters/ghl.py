"""GoHighLevel contacts as flat Records (field names from integrations/object_types.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from integrations.adapters.base import Page, Record
from integrations.adapters.clients import ghl_client_for
from integrations.clients import exceptions as exc
from integrations.clients.ghl import (
    SEARCH_MAX_PAGE_LIMIT,
    GhlClient,
    custom_fields_from_read,
    custom_fields_to_write,
    epoch_ms,
)
from integrations.object_types import CONTACT, GHL_CUSTOM_PREFIX

if TYPE_CHECKING:
    from integrations.models import Connection

# Re-exported so callers can build "the client of this connection" from the adapter module.
client_for = ghl_client_for

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in CONTACT.ghl_fields)
WRITABLE_FIELDS = frozenset(f.name for f in CONTACT.ghl_fields if f.writable)


def parse_timestamp(value: Any) -> datetime | None:
    """An aware datetime from GHL's ISO 8601 string (or epoch ms); None when absent or unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def normalize_phone(value: Any) -> str:
    """Digits with a leading "+", for comparing phones written differently ("+1 (415) 555-0100" == "+14155550100")."""
    text = str(value or "").strip()
    digits = re.sub(r"\D", "", text)
    if not digits:
        return ""
    return ("+" if text.startswith("+") or text.startswith("00") else "") + (
        digits[2:] if text.startswith("00") else digits
    )


def contact_to_record(contact: dict[str, Any]) -> Record:
    """Flatten a GHL contact: standard fields by name, custom fields as "customFields.<id>"."""
    values: dict[str, Any] = {name: contact.get(name) for name in FIELD_NAMES}
    # Search results (ContactsSearchSchema / search Contact) call the street line `address`, not `address1`.
    if values["address1"] is None and contact.get("address") is not None:
        values["address1"] = contact.get("address")
    if values["tags"] is None:
        values["tags"] = []
    for field_id, value in custom_fields_from_read(contact.get("customFields")).items():
        values[f"{GHL_CUSTOM_PREFIX}{field_id}"] = value
    return Record(
        id=str(contact.get("id") or ""),
        values=values,
        updated_at=parse_timestamp(contact.get("dateUpdated")),
        raw=contact,
    )


def values_to_contact(values: dict[str, Any]) -> dict[str, Any]:
    """Un-flatten: writable standard fields as-is, "customFields.<id>" into the write shape {id, field_value}."""
    body: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for name, value in values.items():
        if name.startswith(GHL_CUSTOM_PREFIX):
            custom[name[len(GHL_CUSTOM_PREFIX) :]] = value
        elif name in WRITABLE_FIELDS:
            body[name] = value
    if custom:
        body["customFields"] = custom_fields_to_write(custom)
    return body


def search_after_of(contact: dict[str, Any]) -> list[Any] | None:
    """The searchAfter cursor of a search result: GHL's own, or [dateUpdated ms, id] when it is missing."""
    search_after = contact.get("searchAfter")
    if isinstance(search_after, list) and search_after:
        return search_after
    ms = epoch_ms(contact.get("dateUpdated"))
    if ms is None or not contact.get("id"):
        return None
    return [ms, str(contact["id"])]


class GhlContactAdapter:
    """RecordAdapter for GHL contacts of one location."""

    system = "ghl"
    object_type = "contact"

    def __init__(self, connection: Connection, *, client: GhlClient | None = None) -> None:
        self.connection = connection
        self.client = client or ghl_client_for(connection)

    def iter_changes(self, *, cursor: dict[str, Any], since: datetime | None, page_size: int) -> Iterator[Page]:
        """Pages of contacts by dateUpdated ascending; cursor = {"search_after": [epochMs, id]}."""
        page_size = max(1, min(page_size, SEARCH_MAX_PAGE_LIMIT))
        search_after: list[Any] | None = list(cursor.get("search_after") or []) or None
        # `since` only starts a fresh listing; once there is a searchAfter it already lies past `since`.
        updated_since = since if search_after is None else None
        while True:
            page = self.client.search_contacts(
                page_limit=page_size, search_after=search_after, updated_since=updated_since
            )
            contacts = page["contacts"]
            records = [contact_to_record(c) for c in contacts]
            next_search_after = search_after_of(contacts[-1]) if contacts else search_after
            if contacts and (next_search_after is None or next_search_after == search_after):
                raise exc.ApiBadResponse("GoHighLevel contact search returned no usable searchAfter cursor")
            has_more = len(contacts) == page_size
            yield Page(
                records=records,
                next_cursor={"search_after": next_search_after} if next_search_after else dict(cursor),
                has_more=has_more,
                total=page["total"],
            )
            if not has_more:
                return
            search_after, updated_since = next_search_after, None

    def get(self, record_id: str) -> Record:
        """One contact by id; raises ApiNotFound."""
        return contact_to_record(self.client.get_contact(record_id))

    def find_by(self, field_name: str, value: str) -> Record | None:
        """Email or phone via GHL's duplicate search, verified; other fields are not searchable cheaply -> None."""
        if not value:
            return None
        if field_name == "email":
            contact = self.client.find_duplicate(email=value)
            # The duplicate search matches by email OR phone per location settings; only accept a real email match.
            if contact and str(contact.get("email") or "").strip().lower() == value.strip().lower():
                return contact_to_record(contact)
            return None
        if field_name == "phone":
            contact = self.client.find_duplicate(phone=value)
            if contact and normalize_phone(contact.get("phone")) == normalize_phone(value) != "":
                return contact_to_record(contact)
            return None
        # Custom-field lookups would need POST /contacts/search filters whose semantics are only documented by a
        # third party; callers treat None as "no match" and link records through RecordLink instead.
        return None

    def create(self, values: dict[str, Any]) -> Record:
        """Create a contact from flat values."""
        return contact_to_record(self.client.create_contact(values_to_contact(values)))

    def update(self, record_id: str, values: dict[str, Any], current: Record | None = None) -> Record:
        """PUT only the given fields; `tags`, when given, replaces the contact's tags (what the mapping asked for)."""
        return contact_to_record(self.client.update_contact(record_id, values_to_contact(values)))

    def delete(self, record_id: str) -> None:
        """Delete a contact."""
        self.client.delete_contact(record_id)

    def sample(self) -> Record | None:
        """The first contact of the first page, or None for an empty location."""
        for page in self.iter_changes(cursor={}, since=None, page_size=1):
            return page.records[0] if page.records else None
        return None
