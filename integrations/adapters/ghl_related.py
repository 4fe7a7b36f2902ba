"""GoHighLevel tasks, notes, appointments and businesses as flat Records (field names: integrations/object_types.py).

Ids: tasks and notes live under their contact, so their Record.id is "<contactId>/<id>" (values["id"] is the plain id,
values["contactId"] the contact's); appointment and business ids are plain.
Cursors: GHL has no updated-since listing for these objects, so every run scans them all. A cursor only holds the
position inside one scan ({"skip": n} or the contact scan's {"search_after": [...]}); a finished scan stores {} so the
next run starts over, and the engine skips unchanged records by their digests without writing anything.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings

from integrations import concurrency
from integrations.adapters.base import BaseAdapter, Page, Record, same_instant, same_text
from integrations.adapters.clients import ghl_client_for
from integrations.adapters.ghl import (
    GhlContactAdapter,
    GhlWriteShape,
    normalize_phone,
    parse_timestamp,
    search_after_of,
)
from integrations.clients import exceptions as exc
from integrations.clients.ghl import DEFAULT_MAX_PAGES, LIST_MAX_LIMIT, SEARCH_MAX_PAGE_LIMIT, GhlClient
from integrations.object_types import APPOINTMENT, BUSINESS, NOTE, TASK, ObjectType

if TYPE_CHECKING:
    from integrations.models import Connection

logger = logging.getLogger(__name__)

# Businesses are few per location; find_by scans at most this many before giving up (None = no match).
BUSINESS_SCAN_LIMIT = 2000
# sample() of notes/appointments looks at most at this many contacts for one that has any.
SAMPLE_CONTACT_LIMIT = 50
SAMPLE_CONTACT_PAGE = 10


def _names(spec: ObjectType) -> tuple[str, ...]:
    return tuple(f.name for f in spec.ghl_fields)


def _writable(spec: ObjectType) -> frozenset[str]:
    return frozenset(f.name for f in spec.ghl_fields if f.writable)


TASK_FIELDS, TASK_WRITABLE = _names(TASK), _writable(TASK)
NOTE_FIELDS, NOTE_WRITABLE = _names(NOTE), _writable(NOTE)
APPOINTMENT_FIELDS, APPOINTMENT_WRITABLE = _names(APPOINTMENT), _writable(APPOINTMENT)
BUSINESS_FIELDS, BUSINESS_WRITABLE = _names(BUSINESS), _writable(BUSINESS)


def composite_id(contact_id: str, child_id: str) -> str:
    """The Record.id of a task or note: "<contactId>/<id>"."""
    return f"{contact_id}/{child_id}"


def split_id(record_id: str) -> tuple[str, str]:
    """(contact id, child id) from "<contactId>/<id>"; a malformed id names no record -> ApiNotFound."""
    contact_id, _, child_id = str(record_id).partition("/")
    if not contact_id or not child_id or "/" in child_id:
        raise exc.ApiNotFound(f"GoHighLevel record id {record_id!r} is not of the form <contactId>/<id>")
    return contact_id, child_id


def _id_of(item: dict[str, Any]) -> str:
    # The spec says `id`; some GHL list answers use Mongo's `_id`.
    return str(item.get("id") or item.get("_id") or "")


def _body(values: dict[str, Any], writable: frozenset[str]) -> dict[str, Any]:
    """The writable fields of already prepared values (GhlWriteShape.prepare): no null where the spec forbids it."""
    return {name: value for name, value in values.items() if name in writable}


# How each type's flat values land in its GHL bodies (integrations/adapters/ghl.py, GhlWriteShape).
TASK_WRITES = GhlWriteShape(
    object_type=TASK,
    create_operation="create-task",
    update_operation="update-task",
    # `completed` goes through PUT …/completed, whose body requires it: a task's status cannot be cleared.
    elsewhere={"completed": ("contacts", "update-task-completed", "completed")},
    passthrough=frozenset({"contactId"}),
)
NOTE_WRITES = GhlWriteShape(
    object_type=NOTE,
    create_operation="create-note",
    update_operation="update-note",
    passthrough=frozenset({"contactId"}),
)
APPOINTMENT_WRITES = GhlWriteShape(
    object_type=APPOINTMENT,
    create_operation="create-appointment",
    update_operation="edit-appointment",
    app="calendars",
    renamed={"notes": "description"},  # the calendars API's bodies have no `notes`
    passthrough=frozenset({"contactId"}),
    supplied=frozenset({"locationId", "contactId"}),
)
BUSINESS_WRITES = GhlWriteShape(
    object_type=BUSINESS,
    create_operation="create-business",
    update_operation="update-business",
    app="businesses",
    supplied=frozenset({"locationId"}),
)


def _parent_id(values: dict[str, Any]) -> str:
    contact_id = values.get("contactId")
    if not contact_id:
        raise exc.ApiValidationError("GoHighLevel child records need a contactId (the contact they belong to)")
    return str(contact_id)


def _changed_since(records: list[Record], since: datetime | None) -> list[Record]:
    """Client-side `since` filter; records without a timestamp are kept (they might have changed)."""
    if since is None:
        return records
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return [r for r in records if r.updated_at is None or r.updated_at >= since]


def task_to_record(task: dict[str, Any], contact_id: str | None = None) -> Record:
    """Flatten a GHL task; `contact_id` fills in contactId when the answer lacks it."""
    values: dict[str, Any] = {name: task.get(name) for name in TASK_FIELDS}
    values["id"] = _id_of(task)
    values["contactId"] = str(task.get("contactId") or contact_id or "")
    record_id = composite_id(values["contactId"], values["id"]) if values["contactId"] and values["id"] else ""
    # TaskSchema has no dateUpdated; use it only if an answer carries one (task search items are untyped).
    return Record(id=record_id, values=values, updated_at=parse_timestamp(task.get("dateUpdated")), raw=task)


def note_to_record(note: dict[str, Any], contact_id: str | None = None) -> Record:
    """Flatten a GHL note; notes have no dateUpdated, so dateAdded is their timestamp."""
    values: dict[str, Any] = {name: note.get(name) for name in NOTE_FIELDS}
    values["id"] = _id_of(note)
    values["contactId"] = str(note.get("contactId") or contact_id or "")
    record_id = composite_id(values["contactId"], values["id"]) if values["contactId"] and values["id"] else ""
    return Record(id=record_id, values=values, updated_at=parse_timestamp(note.get("dateAdded")), raw=note)


def appointment_to_record(event: dict[str, Any], contact_id: str | None = None) -> Record:
    """Flatten a GHL appointment (contact listing or calendars API shape)."""
    values: dict[str, Any] = {name: event.get(name) for name in APPOINTMENT_FIELDS}
    values["id"] = _id_of(event)
    values["contactId"] = event.get("contactId") or contact_id
    # The calendars API writes free text as `description` (its bodies have no `notes`); the contact listing only
    # shows `notes`. Prefer whichever is filled, description first.
    values["notes"] = event.get("description") or event.get("notes")
    return Record(id=values["id"], values=values, updated_at=parse_timestamp(event.get("dateUpdated")), raw=event)


def appointment_body(values: dict[str, Any]) -> dict[str, Any]:
    """Writable appointment fields in the calendars API's body shape (`notes` -> `description`)."""
    body = _body(values, APPOINTMENT_WRITABLE)
    if "notes" in body:
        body["description"] = body.pop("notes")
    return body


def business_to_record(business: dict[str, Any]) -> Record:
    """Flatten a GHL business."""
    values: dict[str, Any] = {name: business.get(name) for name in BUSINESS_FIELDS}
    values["id"] = _id_of(business)
    return Record(id=values["id"], values=values, updated_at=parse_timestamp(business.get("updatedAt")), raw=business)


BUSINESS_MATCH_FIELDS = frozenset({"email", "phone", "name"})


def business_field_matches(field_name: str, stored: Any, wanted: str) -> bool:
    """Whether a business's email / phone / name equals `wanted`, the way people write them differently."""
    if field_name == "phone":
        return normalize_phone(stored, like=wanted) == normalize_phone(wanted) != ""
    # Email and name: case- and whitespace-insensitive.
    return " ".join(str(stored or "").split()).casefold() == " ".join(str(wanted or "").split()).casefold() != ""


def _by_contact(record_ids: Sequence[str]) -> dict[str, list[str]]:
    """Composite "<contactId>/<id>" ids grouped by contact (malformed ids are left out: they name nothing)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for record_id in dict.fromkeys(record_ids):
        contact_id, _, child_id = str(record_id).partition("/")
        if contact_id and child_id and "/" not in child_id:
            groups[contact_id].append(record_id)
    return groups


class _GhlAdapter(BaseAdapter):
    system = "ghl"
    object_type = ""
    writes: GhlWriteShape

    def __init__(self, connection: Connection, *, client: GhlClient | None = None) -> None:
        self.connection = connection
        self.client = client or ghl_client_for(connection)

    def prepare_write(self, values: dict[str, Any], *, create: bool) -> tuple[dict[str, Any], dict[str, str]]:
        """(the values create/update will write, {field: reason} for each field left out); see GhlWriteShape."""
        return self.writes.prepare(values, create=create)


class _GhlPerContactAdapter(_GhlAdapter):
    """Children with no location-wide listing: scan the contacts, list each one's children."""

    full_scan = True
    # The fields a lost create's record is recognised by among its contact's children.
    identity_fields: tuple[str, ...] = ()
    identity_instants: tuple[str, ...] = ()  # those of identity_fields compared as instants
    # One request per contact: a scheduled run scans a slice sized to the location's daily budget
    # (integrations/services/budget.py), at most one full pass per SYNC_CHILD_RESCAN_HOURS; webhooks in between.
    scan_per_parent = True

    def _children(self, contact_id: str) -> list[Record]:
        raise NotImplementedError

    def _contact_of(self, record_id: str) -> str:
        return split_id(record_id)[0]

    def _children_of(self, contact_ids: list[str]) -> list[list[Record]]:
        """Each contact's children, several contacts' listings in flight at once (SYNC_WRITE_CONCURRENCY: GHL answers
        in 150-600 ms; each request still takes its slot from the governor first)."""
        return concurrency.map_at_once(self._children, contact_ids, size=settings.SYNC_WRITE_CONCURRENCY)

    def _children_or_none(self, contact_id: str) -> list[Record]:
        try:
            return self._children(contact_id)
        except exc.ApiNotFound:
            return []

    def get_many(self, record_ids: Sequence[str]) -> dict[str, Record]:
        """One listing per contact for all its wanted children."""
        found: dict[str, Record] = {}
        by_contact = _by_contact(record_ids)
        contact_ids = list(by_contact)
        listed = concurrency.map_at_once(self._children_or_none, contact_ids, size=settings.SYNC_WRITE_CONCURRENCY)
        for contact_id, children in zip(contact_ids, listed, strict=True):
            wanted = set(by_contact[contact_id])
            found.update({child.id: child for child in children if child.id in wanted})
        return found

    def _same(self, name: str, found: Any, sent: Any) -> bool:
        if name in self.identity_instants:
            return same_instant(found, sent, parse_timestamp)
        return same_text(found, sent)

    def find_created(self, values: dict[str, Any], *, since: datetime) -> Record | None:
        """A child of the same contact with the same identifying fields (title/body/start) as the lost create."""
        contact_id = str(values.get("contactId") or "")
        if not contact_id or not self.identity_fields:
            return None
        for child in self._children(contact_id):
            if all(self._same(name, child.values.get(name), values.get(name)) for name in self.identity_fields):
                return child
        return None

    def iter_changes(self, *, cursor: dict[str, Any], since: datetime | None, page_size: int) -> Iterator[Page]:
        """One Page per page of contacts (POST /contacts/search, most recently updated first) with all their children;
        `since` filters locally. Each page says how many contacts it read and how many the location has."""
        page_size = max(1, min(page_size, SEARCH_MAX_PAGE_LIMIT))
        search_after: list[Any] | None = list(cursor.get("search_after") or []) or None
        while True:
            found = self.client.search_contacts(page_limit=page_size, search_after=search_after, descending=True)
            contacts = [c for c in found["contacts"] if c.get("id")]
            listed = self._children_of([str(contact["id"]) for contact in contacts])
            records = [child for children in listed for child in children]
            next_search_after = search_after_of(found["contacts"][-1]) if found["contacts"] else search_after
            if found["contacts"] and (next_search_after is None or next_search_after == search_after):
                raise exc.ApiBadResponse("GoHighLevel contact search returned no usable searchAfter cursor")
            has_more = len(found["contacts"]) == page_size
            yield Page(
                records=_changed_since(records, since),
                next_cursor={"search_after": next_search_after} if has_more and next_search_after else {},
                has_more=has_more,
                cost=1 + len(contacts),
                parents=len(found["contacts"]),
                total=found["total"],
            )
            if not has_more:
                return
            search_after = next_search_after

    def find_by(self, field_name: str, value: str) -> Record | None:
        """Children are matched through the record link of their contact only."""
        return None

    def sample(self) -> Record | None:
        """The first child of the first contacts that have any (looks at SAMPLE_CONTACT_LIMIT contacts at most)."""
        contacts = GhlContactAdapter(self.connection, client=self.client)
        seen = 0
        for page in contacts.iter_changes(cursor={}, since=None, page_size=SAMPLE_CONTACT_PAGE):
            for contact in page.records:
                children = self._children(contact.id) if contact.id else []
                if children:
                    return children[0]
                seen += 1
                if seen >= SAMPLE_CONTACT_LIMIT:
                    return None
        return None


class GhlTaskAdapter(_GhlAdapter):
    """RecordAdapter for GHL tasks; ids are "<contactId>/<taskId>"."""

    object_type = "task"
    full_scan = True
    writes = TASK_WRITES
    # GHL's task search has no updated-since filter and no sort (docs/ghl-facts.md): a scheduled run lists every task
    # at most once per SYNC_TASK_RESCAN_HOURS; the TaskCreate/TaskComplete/TaskDelete webhooks keep them fresh between.
    rescan_hours_setting = "SYNC_TASK_RESCAN_HOURS"
    ids_per_request = LIST_MAX_LIMIT

    def get_many(self, record_ids: Sequence[str]) -> dict[str, Record]:
        """The task search filtered by the tasks' contacts: one request per LIST_MAX_LIMIT tasks of those contacts."""
        groups = _by_contact(record_ids)
        wanted = {record_id for ids in groups.values() for record_id in ids}
        found: dict[str, Record] = {}
        contacts = list(groups)
        for start in range(0, len(contacts), LIST_MAX_LIMIT):
            chunk = contacts[start : start + LIST_MAX_LIMIT]
            skip = 0
            for _ in range(DEFAULT_MAX_PAGES):
                tasks = self.client.search_tasks(limit=LIST_MAX_LIMIT, skip=skip, contact_ids=chunk)
                for task in tasks:
                    record = task_to_record(task)
                    if record.id in wanted:
                        found[record.id] = record
                skip += len(tasks)
                if not tasks:
                    break
        return found

    def existing_ids(self, record_ids: Sequence[str]) -> set[str]:
        """One listing of the location's tasks, kept to `record_ids`."""
        wanted = set(record_ids)
        return {
            r.id for page in self.iter_changes(cursor={}, since=None, page_size=LIST_MAX_LIMIT) for r in page.records
        }.intersection(wanted)

    def find_created(self, values: dict[str, Any], *, since: datetime) -> Record | None:
        """A task of the same contact with the same title and due date as the lost create."""
        contact_id = str(values.get("contactId") or "")
        if not contact_id:
            return None
        for task in self.client.list_tasks(contact_id):
            record = task_to_record(task, contact_id)
            if same_text(record.values.get("title"), values.get("title")) and same_instant(
                record.values.get("dueDate"), values.get("dueDate"), parse_timestamp
            ):
                return record
        return None

    def iter_changes(self, *, cursor: dict[str, Any], since: datetime | None, page_size: int) -> Iterator[Page]:
        """Every task via POST /locations/{id}/tasks/search; cursor = {"skip": n} inside a scan, {} after it."""
        limit = max(1, min(page_size, LIST_MAX_LIMIT))
        skip = max(0, int(cursor.get("skip") or 0))
        seen: set[str] = set()
        for _ in range(DEFAULT_MAX_PAGES):
            tasks = self.client.search_tasks(limit=limit, skip=skip)
            records: list[Record] = []
            for task in tasks:
                record = task_to_record(task)
                if not record.id:
                    logger.warning("GHL task search returned a task without id or contactId; skipped")
                    continue
                # skip/limit paging shifts when tasks are added during the scan: never hand one over twice.
                if record.id not in seen:
                    seen.add(record.id)
                    records.append(record)
            skip += len(tasks)
            # The search's maximum page size is undocumented, so a short page does not prove the end: stop on empty.
            has_more = bool(tasks)
            yield Page(
                records=_changed_since(records, since),
                next_cursor={"skip": skip} if has_more else {},
                has_more=has_more,
            )
            if not has_more:
                return
        raise exc.ApiBadResponse(f"GoHighLevel task search did not end after {DEFAULT_MAX_PAGES} pages")

    def get(self, record_id: str) -> Record:
        """One task by "<contactId>/<taskId>"; raises ApiNotFound."""
        contact_id, task_id = split_id(record_id)
        return task_to_record(self.client.get_task(contact_id, task_id), contact_id)

    def find_by(self, field_name: str, value: str) -> Record | None:
        """Tasks are matched through the record link of their contact only."""
        return None

    def create(self, values: dict[str, Any]) -> Record:
        """Create a task under values["contactId"]; `completed` defaults to False (the spec requires it)."""
        values, _ = self.prepare_write(values, create=True)
        contact_id = _parent_id(values)
        body = {"completed": False, **_body(values, TASK_WRITABLE)}
        self.writes.require_for_create(body)
        return task_to_record(self.client.create_task(contact_id, body), contact_id)

    def update(self, record_id: str, values: dict[str, Any], current: Record | None = None) -> Record:
        """`completed` through the /completed status endpoint, the other fields through PUT."""
        contact_id, task_id = split_id(record_id)
        values, _ = self.prepare_write(values, create=False)
        body = _body(values, TASK_WRITABLE)
        task: dict[str, Any] | None = None
        if "completed" in body:
            task = self.client.set_task_completed(contact_id, task_id, bool(body.pop("completed")))
        if body:
            task = self.client.update_task(contact_id, task_id, body)
        if task is None:
            return current if current is not None else self.get(record_id)
        return task_to_record(task, contact_id)

    def delete(self, record_id: str) -> None:
        """Delete a task."""
        contact_id, task_id = split_id(record_id)
        self.client.delete_task(contact_id, task_id)

    def sample(self) -> Record | None:
        """The first task of the location, or None."""
        for task in self.client.search_tasks(limit=5, skip=0):
            record = task_to_record(task)
            if record.id:
                return record
        return None


class GhlNoteAdapter(_GhlPerContactAdapter):
    """RecordAdapter for GHL notes; ids are "<contactId>/<noteId>"; listed per contact (no location-wide list)."""

    object_type = "note"
    identity_fields = ("body", "title")
    writes = NOTE_WRITES

    def _children(self, contact_id: str) -> list[Record]:
        return [note_to_record(n, contact_id) for n in self.client.list_notes(contact_id) if _id_of(n)]

    def get(self, record_id: str) -> Record:
        """One note by "<contactId>/<noteId>"; raises ApiNotFound."""
        contact_id, note_id = split_id(record_id)
        return note_to_record(self.client.get_note(contact_id, note_id), contact_id)

    def create(self, values: dict[str, Any]) -> Record:
        """Create a note under values["contactId"]."""
        values, _ = self.prepare_write(values, create=True)
        contact_id = _parent_id(values)
        body = _body(values, NOTE_WRITABLE)
        self.writes.require_for_create(body)
        return note_to_record(self.client.create_note(contact_id, body), contact_id)

    def update(self, record_id: str, values: dict[str, Any], current: Record | None = None) -> Record:
        """PUT the given fields."""
        contact_id, note_id = split_id(record_id)
        values, _ = self.prepare_write(values, create=False)
        body = _body(values, NOTE_WRITABLE)
        if not body:
            return current if current is not None else self.get(record_id)
        return note_to_record(self.client.update_note(contact_id, note_id, body), contact_id)

    def delete(self, record_id: str) -> None:
        """Delete a note."""
        contact_id, note_id = split_id(record_id)
        self.client.delete_note(contact_id, note_id)


class GhlAppointmentAdapter(_GhlPerContactAdapter):
    """RecordAdapter for GHL appointments (plain event ids); listed per contact, written via the calendars API."""

    object_type = "appointment"
    identity_fields = ("calendarId", "startTime")
    identity_instants = ("startTime",)

    def get_many(self, record_ids: Sequence[str]) -> dict[str, Record]:
        """Plain event ids name no contact: one read per appointment."""
        return BaseAdapter.get_many(self, record_ids)

    writes = APPOINTMENT_WRITES

    def _children(self, contact_id: str) -> list[Record]:
        events = self.client.list_contact_appointments(contact_id)
        return [appointment_to_record(e, contact_id) for e in events if _id_of(e)]

    def get(self, record_id: str) -> Record:
        """One appointment by event id; raises ApiNotFound."""
        return appointment_to_record(self.client.get_appointment(record_id))

    def create(self, values: dict[str, Any]) -> Record:
        """Book an appointment for values["contactId"] (calendarId and startTime are required by GHL)."""
        values, _ = self.prepare_write(values, create=True)
        body = {**appointment_body(values), "contactId": _parent_id(values)}
        self.writes.require_for_create(body)
        created = self.client.create_appointment(body)
        # The answer is the bare appointment without every field we sent (e.g. description): merge them.
        return appointment_to_record({**body, **created})

    def update(self, record_id: str, values: dict[str, Any], current: Record | None = None) -> Record:
        """PUT the given fields."""
        values, _ = self.prepare_write(values, create=False)
        body = appointment_body(values)
        if not body:
            return current if current is not None else self.get(record_id)
        updated = self.client.update_appointment(record_id, body)
        base = dict(current.raw) if current is not None else {}
        return appointment_to_record({**base, **body, **updated})

    def delete(self, record_id: str) -> None:
        """Delete an appointment."""
        self.client.delete_appointment(record_id)


class GhlBusinessAdapter(_GhlAdapter):
    """RecordAdapter for GHL businesses of one location (plain ids)."""

    object_type = "business"
    full_scan = True
    writes = BUSINESS_WRITES
    ids_per_request = LIST_MAX_LIMIT

    def __init__(self, connection: Connection, *, client: GhlClient | None = None) -> None:
        super().__init__(connection, client=client)
        # find_by's scan, kept for the adapter's life (one sync leg) and updated by this adapter's own writes.
        self._scanned: list[dict[str, Any]] | None = None

    def get_many(self, record_ids: Sequence[str]) -> dict[str, Record]:
        """From one scan of the location's businesses (kept for the adapter's life)."""
        wanted = set(record_ids)
        return {_id_of(b): business_to_record(b) for b in self._scan() if _id_of(b) in wanted}

    def existing_ids(self, record_ids: Sequence[str]) -> set[str]:
        self._scanned = None
        return set(self.get_many(record_ids))

    def find_created(self, values: dict[str, Any], *, since: datetime) -> Record | None:
        """A business with the lost create's name."""
        self._scanned = None
        return self.find_by("name", str(values.get("name") or ""))

    def _pages(self, *, skip: int, limit: int) -> Iterator[tuple[list[dict[str, Any]], int]]:
        for _ in range(DEFAULT_MAX_PAGES):
            businesses = self.client.list_businesses(limit=limit, skip=skip)
            skip += len(businesses)
            yield businesses, skip
            # The maximum page size is not documented; only an empty page proves the end.
            if not businesses:
                return
        raise exc.ApiBadResponse(f"GoHighLevel business list did not end after {DEFAULT_MAX_PAGES} pages")

    def iter_changes(self, *, cursor: dict[str, Any], since: datetime | None, page_size: int) -> Iterator[Page]:
        """Every business via GET /businesses/; cursor = {"skip": n} inside a scan, {} after; `since` on updatedAt."""
        limit = max(1, min(page_size, LIST_MAX_LIMIT))
        for businesses, skip in self._pages(skip=max(0, int(cursor.get("skip") or 0)), limit=limit):
            records = [business_to_record(b) for b in businesses if _id_of(b)]
            has_more = bool(businesses)
            yield Page(
                records=_changed_since(records, since),
                next_cursor={"skip": skip} if has_more else {},
                has_more=has_more,
            )

    def get(self, record_id: str) -> Record:
        """One business by id; raises ApiNotFound."""
        return business_to_record(self.client.get_business(record_id))

    def find_by(self, field_name: str, value: str) -> Record | None:
        """Email (case-insensitive), phone (digits) or name (case/space-insensitive) by a bounded scan."""
        if not value or field_name not in BUSINESS_MATCH_FIELDS:
            return None
        for business in self._scan():
            if business_field_matches(field_name, business.get(field_name), value):
                return business_to_record(business)
        return None

    def _scan(self) -> list[dict[str, Any]]:
        if self._scanned is None:
            scanned: list[dict[str, Any]] = []
            for businesses, _ in self._pages(skip=0, limit=LIST_MAX_LIMIT):
                scanned.extend(b for b in businesses if _id_of(b))
                if len(scanned) >= BUSINESS_SCAN_LIMIT:
                    logger.warning("GHL business lookup stopped after %s businesses", BUSINESS_SCAN_LIMIT)
                    break
            self._scanned = scanned
        return self._scanned

    def _remember(self, business: dict[str, Any], *, removed: bool = False) -> None:
        if self._scanned is None:
            return
        business_id = _id_of(business)
        self._scanned = [b for b in self._scanned if _id_of(b) != business_id]
        if not removed:
            self._scanned.append(business)

    def create(self, values: dict[str, Any]) -> Record:
        """Create a business (name is required by GHL)."""
        values, _ = self.prepare_write(values, create=True)
        body = _body(values, BUSINESS_WRITABLE)
        self.writes.require_for_create(body)
        business = self.client.create_business(body)
        self._remember(business)
        return business_to_record(business)

    def update(self, record_id: str, values: dict[str, Any], current: Record | None = None) -> Record:
        """PUT the given fields."""
        values, _ = self.prepare_write(values, create=False)
        body = _body(values, BUSINESS_WRITABLE)
        if not body:
            return current if current is not None else self.get(record_id)
        business = self.client.update_business(record_id, body)
        business = {**business, "id": _id_of(business) or record_id}
        self._remember(business)
        return business_to_record(business)

    def delete(self, record_id: str) -> None:
        """Delete a business."""
        self.client.delete_business(record_id)
        self._remember({"id": record_id}, removed=True)

    def sample(self) -> Record | None:
        """The first business of the location, or None."""
        for business in self.client.list_businesses(limit=1, skip=0):
            if _id_of(business):
                return business_to_record(business)
        return None
