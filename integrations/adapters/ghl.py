"""GoHighLevel contacts as flat Records (field names from integrations/object_types.py)."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import phonenumbers

import ghl_spec
from integrations.adapters.base import BaseAdapter, Page, Record
from integrations.adapters.clients import ghl_client_for
from integrations.clients import exceptions as exc
from integrations.clients.ghl import (
    SEARCH_MAX_PAGE_LIMIT,
    GhlClient,
    custom_fields_from_read,
    custom_fields_to_write,
    epoch_ms,
)
from integrations.object_types import CONTACT, GHL_CUSTOM_PREFIX, ObjectType

if TYPE_CHECKING:
    from integrations.models import Connection

logger = logging.getLogger(__name__)

# Re-exported so callers can build "the client of this connection" from the adapter module.
client_for = ghl_client_for

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in CONTACT.ghl_fields)
WRITABLE_FIELDS = frozenset(f.name for f in CONTACT.ghl_fields if f.writable)


def parse_timestamp(value: Any) -> datetime | None:
    """An aware datetime from GHL's ISO 8601 string (or epoch ms); None when absent or unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):  # out of datetime's range: as unreadable as garbage text
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def normalize_phone(value: Any, *, like: str = "") -> str:
    """E.164 for comparing phones written differently ("(415) 555-0100" == "+14155550100").

    A number without a country code is read in the country of `like` (the E.164 number it is compared with); what
    phonenumbers cannot parse falls back to its digits with a leading "+" when it had one.
    """
    text = str(value or "").strip()
    if not text:
        return ""
    if text.startswith("00"):  # the international prefix most countries dial
        text = "+" + text[2:]
    region = "US"
    if like:
        with contextlib.suppress(phonenumbers.NumberParseException):
            region = phonenumbers.region_code_for_number(phonenumbers.parse(like, None)) or region
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        digits = re.sub(r"\D", "", text)
        return ("+" if text.startswith("+") else "") + digits if digits else ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def iso_ms(moment: datetime) -> str:
    """2021-07-02T05:18:26.704Z, the form of GHL's timestamps."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_ISO_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ].*)?$")


def date_of_birth(value: Any) -> Any:
    """A contact's date of birth as YYYY-MM-DD, however GHL wrote it: the text a create or GET answers
    ("1990-09-25", or "1990-09-25T00:00:00.000Z" like CreateContactSchema), or the epoch milliseconds live search
    answers (GoHighLevel/highlevel-api-docs#314, read as a UTC date). What is none of these is kept as it is."""
    if isinstance(value, bool) or value is None or value == "":
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, int | float):
        moment = parse_timestamp(value)
        return moment.date().isoformat() if moment is not None else value
    if isinstance(value, str):
        match = _ISO_DATE.match(value.strip())
        if match:
            return match.group(1)
    return value


def additional_emails(value: Any) -> list[str] | None:
    """The addresses of live GHL's `additionalEmails` ([{email}], GoHighLevel/highlevel-api-docs#262); None when the
    answer has none."""
    if not isinstance(value, list):
        return None
    emails = [item.get("email") if isinstance(item, dict) else item for item in value]
    return [str(email).strip() for email in emails if isinstance(email, str) and email.strip()]


def contact_to_record(contact: dict[str, Any]) -> Record:
    """Flatten a GHL contact: standard fields by name, custom fields as "customFields.<id>".

    Every answer that carries a contact reads into the same values: live search's shape (`address`, epoch
    `dateOfBirth`, docs/ghl-facts.md) is read like GET's, so a two-way mapping sees no change where there is none."""
    values: dict[str, Any] = {name: contact.get(name) for name in FIELD_NAMES}
    # Search results (ContactsSearchSchema / search Contact) call the street line `address`, not `address1`.
    if values["address1"] is None and contact.get("address") is not None:
        values["address1"] = contact.get("address")
    values["dateOfBirth"] = date_of_birth(values["dateOfBirth"])
    values["additionalEmails"] = additional_emails(contact.get("additionalEmails"))
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


# -- writes that conform to GHL's spec (ghl_spec) ---------------------------------------------------------
# FieldSpec kinds an empty string may clear; a date or a number is not cleared by "" even where the spec's plain
# `type: string` would let it through (GHL would store or refuse an empty date).
TEXT_KINDS = frozenset({"string", "email", "phone"})
REASON_NOT_WRITTEN = "{field} not written: {why}"
REASON_NOT_CLEARED = "{field} not cleared: {why}"
MSG_CREATE_NEEDS = "GoHighLevel needs {fields} to create {article} {object_type}"
# Fields live GHL refuses on every write although it shows them on reads (docs/ghl-facts.md): left out with this reason
# instead of failing the whole record with GHL's 422.
REFUSED_ON_WRITES = {
    "additionalEmails": 'GoHighLevel refuses it on every write (#262: "property additionalEmails should not exist")',
}


def is_empty(value: Any) -> bool:
    """What the engine treats as "no value": None, blank text, an empty list or object."""
    return value is None or (isinstance(value, str) and not value.strip()) or value == [] or value == {}


@dataclass(frozen=True)
class GhlWriteShape:
    """How one object type's flat values land in the bodies of its GHL create and update operations."""

    object_type: ObjectType
    create_operation: str  # operationId in GHL's spec
    update_operation: str
    app: str = "contacts"  # the spec file of both operations
    renamed: Mapping[str, str] = field(default_factory=dict)  # flat name -> body field, where they differ
    # Flat names written through an endpoint of their own: name -> (app, operationId, body field).
    elsewhere: Mapping[str, tuple[str, str, str]] = field(default_factory=dict)
    passthrough: frozenset[str] = frozenset()  # not body fields (the parent contact id of a task or note)
    supplied: frozenset[str] = frozenset()  # required body fields the adapter or client fills in itself
    custom_fields: bool = False  # "customFields.<id>" values go into the customFields list

    def _kind(self, name: str) -> str:
        if self.custom_fields and name.startswith(GHL_CUSTOM_PREFIX):
            return "string"
        return next((f.kind for f in self.object_type.ghl_fields if f.name == name), "string")

    def target(self, name: str, *, create: bool) -> tuple[ghl_spec.Operation, str] | None:
        """(operation, body field path) that writes the flat field `name`; None when GHL does not accept it."""
        if name in self.elsewhere:
            app, operation_id, field_path = self.elsewhere[name]
            return ghl_spec.operation(operation_id, app=app), field_path
        operation = ghl_spec.operation(self.create_operation if create else self.update_operation, app=self.app)
        if self.custom_fields and name.startswith(GHL_CUSTOM_PREFIX) and len(name) > len(GHL_CUSTOM_PREFIX):
            field_path = "customFields[].field_value"
        else:
            spec_field = next((f for f in self.object_type.ghl_fields if f.name == name), None)
            if spec_field is None or not spec_field.writable:
                return None
            field_path = self.renamed.get(name, name)
        return (
            (operation, field_path) if field_path.split("[]")[0].split(".")[0] in operation.body_properties() else None
        )

    def prepare(self, values: dict[str, Any], *, create: bool) -> tuple[dict[str, Any], dict[str, str]]:
        """(values to write, {field: reason} for each field left out for a reason the user should see).

        Creates leave empty optional values out (the new record simply has no value: nothing to report). Updates
        clear a field the way the spec allows (null where nullable, "" for text, [] for lists) or leave it out with
        the reason; fields GHL does not accept are left out with the reason."""
        written: dict[str, Any] = {}
        reasons: dict[str, str] = {}
        for name, value in values.items():
            if name in self.passthrough:
                written[name] = value
                continue
            target = self.target(name, create=create) if name not in REFUSED_ON_WRITES else None
            if target is None:
                why = REFUSED_ON_WRITES.get(name, ghl_spec.REASON_NOT_ACCEPTED)
                reasons[name] = REASON_NOT_WRITTEN.format(field=name, why=why)
                continue
            if not is_empty(value):
                written[name] = value
                continue
            if create:
                continue
            operation, field_path = target
            # What a create requires stays set: an update must not leave a record GHL would not have created.
            keep = None if name in self.elsewhere else self.create_operation
            rule = ghl_spec.clear_rule(operation.operation_id, field_path, app=operation.app, keep_required_of=keep)
            if rule.clearable and not (rule.value == "" and self._kind(name) not in TEXT_KINDS):
                written[name] = rule.value
            else:
                why = rule.reason if not rule.clearable else ghl_spec.REASON_CANNOT_CLEAR
                reasons[name] = REASON_NOT_CLEARED.format(field=name, why=why)
        return written, reasons

    def require_for_create(self, body: Mapping[str, Any]) -> None:
        """Refuse, before sending, a create whose required fields are missing (GHL would answer 422)."""
        operation = ghl_spec.operation(self.create_operation, app=self.app)
        missing = [name for name in operation.body_required() if name not in self.supplied and is_empty(body.get(name))]
        if missing:
            raise exc.ApiValidationError(
                MSG_CREATE_NEEDS.format(
                    fields=" and ".join(missing),
                    article="an" if self.object_type.key[0] in "aeiou" else "a",
                    object_type=self.object_type.key,
                )
            )


CONTACT_WRITES = GhlWriteShape(
    object_type=CONTACT,
    create_operation="create-contact",
    update_operation="update-contact",
    # UpdateContactDto has no businessId: the link is POST /contacts/bulk/business (businessId null unlinks).
    elsewhere={"businessId": ("contacts", "add-remove-contact-from-business", "businessId")},
    supplied=frozenset({"locationId"}),
    custom_fields=True,
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


def tag_list(value: Any) -> list[str]:
    """Tags as a list of non-blank strings; a comma-separated string is split."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list | tuple) else [value]
    return [str(tag).strip() for tag in items if tag is not None and str(tag).strip()]


def tag_changes(current: Any, new: Any) -> tuple[list[str], list[str]]:
    """(added, removed) between the current and the new tags, compared case-insensitively.

    Added tags keep the new casing; removed tags keep the current casing (what GHL has stored)."""
    current_tags, new_tags = tag_list(current), tag_list(new)
    current_keys = {tag.lower() for tag in current_tags}
    new_keys = {tag.lower() for tag in new_tags}
    added = _unique_tags(tag for tag in new_tags if tag.lower() not in current_keys)
    removed = _unique_tags(tag for tag in current_tags if tag.lower() not in new_keys)
    return added, removed


def _unique_tags(tags: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    result: list[str] = []
    for tag in tags:
        if tag.lower() not in seen:
            seen.add(tag.lower())
            result.append(tag)
    return result


def search_after_of(contact: dict[str, Any]) -> list[Any] | None:
    """The searchAfter cursor of a search result: GHL's own, or [dateUpdated ms, id] when it is missing."""
    search_after = contact.get("searchAfter")
    if isinstance(search_after, list) and search_after:
        return search_after
    ms = epoch_ms(contact.get("dateUpdated"))
    if ms is None or not contact.get("id"):
        return None
    return [ms, str(contact["id"])]


# Values per search: one OR group of `eq` filters reads or matches a whole page of records in one request.
SEARCH_BATCH = 100
# A lost create's contact is looked for among contacts added this long before it was sent (clock skew).
CREATED_SKEW = timedelta(minutes=2)
# Contacts read to find one with a phone, to try the search's phone filter on.
PHONE_PROBE_PAGE = 100
# What the probe found is kept per connection in the process this long: a run taking turns with other locations makes
# a new adapter each turn, and would otherwise spend two searches per page of 100 on asking again.
PHONE_PROBE_KEEP_SECONDS = 600.0
_phone_probes: dict[tuple[Any, ...], tuple[float, bool]] = {}
# What identifies a contact created without an email or a phone, when looking for it.
NAME_FIELDS = ("firstName", "lastName", "companyName")


def _chunks(values: Sequence[str], size: int) -> Iterator[list[str]]:
    items = list(dict.fromkeys(v for v in values if v))
    for start in range(0, len(items), size):
        yield items[start : start + size]


class GhlContactAdapter(BaseAdapter):
    """RecordAdapter for GHL contacts of one location."""

    system = "ghl"
    object_type = "contact"
    # existing_ids lists this many contacts per request (the deletion check's cost, integrations/services/budget.py).
    ids_per_request = SEARCH_MAX_PAGE_LIMIT

    def __init__(
        self, connection: Connection, *, client: GhlClient | None = None, overwrite_tags: bool = False
    ) -> None:
        self.connection = connection
        self.client = client or ghl_client_for(connection)
        # False: tag changes go through add/remove-tag calls, so tags added in GHL by others survive.
        # True: `tags` is sent in the PUT and replaces the contact's tags (the mapping's explicit choice).
        self.overwrite_tags = overwrite_tags
        self._phone_filter_ok: bool | None = None  # see _phone_search_works
        created = getattr(connection, "created_at", None)
        self._probe_key = (connection.pk, created.isoformat() if created else "", self.client.location_id)
        kept = _phone_probes.get(self._probe_key)
        if kept is not None and kept[0] > time.monotonic():
            self._phone_filter_ok = kept[1]

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

    def _search_any(self, field_name: str, values: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Contacts whose `field_name` equals any of `values`: one search per SEARCH_BATCH values (more pages only
        when GHL holds duplicates)."""
        for chunk in _chunks(values, SEARCH_BATCH):
            group = {"group": "OR", "filters": [{"field": field_name, "operator": "eq", "value": v} for v in chunk]}
            search_after: list[Any] | None = None
            while True:
                page = self.client.search_contacts(
                    page_limit=SEARCH_MAX_PAGE_LIMIT, filters=[group], search_after=search_after
                )
                yield from page["contacts"]
                if len(page["contacts"]) < SEARCH_MAX_PAGE_LIMIT:
                    break
                search_after = search_after_of(page["contacts"][-1])
                if search_after is None:
                    break

    def get_many(self, record_ids: Sequence[str]) -> dict[str, Record]:
        """Contacts by id through the search (SEARCH_BATCH per request); the few it does not show yet are read one by
        one (GHL's search index trails writes by a few seconds, docs/ghl-facts.md)."""
        wanted = set(record_ids)
        found: dict[str, Record] = {}
        for contact in self._search_any("id", list(record_ids)):
            contact_id = str(contact.get("id") or "")
            if contact_id in wanted:
                found[contact_id] = contact_to_record(contact)
        for record_id in wanted - set(found):
            with contextlib.suppress(exc.ApiNotFound):
                found[record_id] = self.get(record_id)
        return found

    def find_many(self, field_name: str, values: Sequence[str]) -> dict[str, Record]:
        """Email or phone matches for a whole page in one search; each hit is verified like find_by's."""
        if field_name not in ("email", "phone"):
            return {}
        found: dict[str, Record] = {}
        if field_name == "email":
            keys = {v.strip().lower(): v for v in values if v}
            for contact in self._search_any("email", list(keys)):
                key = str(contact.get("email") or "").strip().lower()
                if key in keys and keys[key] not in found:
                    found[keys[key]] = contact_to_record(contact)
            return found
        phones = {normalize_phone(v): v for v in values if v}
        for contact in self._search_any("phone", [v for v in values if v]):
            key = normalize_phone(contact.get("phone"), like=next(iter(phones), ""))
            if key in phones and phones[key] not in found:
                found[phones[key]] = contact_to_record(contact)
        missing = [v for v in dict.fromkeys(phones.values()) if v not in found]
        if missing and not self._phone_search_works():
            # Live GHL's phone filter was seen to find nothing (GoHighLevel/highlevel-api-docs#289): "no match" would
            # create a second contact for a phone GHL already holds. Its duplicate search reads the phone reliably.
            for value in missing:
                record = self.find_by("phone", value)
                if record is not None:
                    found[value] = record
        return found

    def _phone_search_works(self) -> bool:
        """Whether the search's phone filter finds a contact known to have that phone (asked once per adapter, and
        kept per connection for PHONE_PROBE_KEEP_SECONDS: two searches). When the first page of the location's
        contacts has none with a phone, the search's "no match" is believed (a location without phones is the usual
        reason, and trying each phone costs a request per record)."""
        if self._phone_filter_ok is None:
            page = self.client.search_contacts(page_limit=PHONE_PROBE_PAGE, sort_field="dateUpdated")
            probe = next((c for c in page["contacts"] if c.get("id") and c.get("phone")), None)
            if probe is None:  # not kept: the next adapter asks again, once the location has contacts with a phone
                self._phone_filter_ok = True
                return True
            group = {"group": "OR", "filters": [{"field": "phone", "operator": "eq", "value": str(probe["phone"])}]}
            hits = self.client.search_contacts(page_limit=SEARCH_BATCH, filters=[group])["contacts"]
            self._phone_filter_ok = any(str(c.get("id")) == str(probe["id"]) for c in hits)
            if not self._phone_filter_ok:
                logger.warning("GHL location %s: the search's phone filter finds nothing", self.client.location_id)
            _phone_probes[self._probe_key] = (time.monotonic() + PHONE_PROBE_KEEP_SECONDS, self._phone_filter_ok)
        return self._phone_filter_ok

    def existing_ids(self, record_ids: Sequence[str]) -> set[str]:
        """One listing of the location's contacts (SEARCH_MAX_PAGE_LIMIT per request), kept to `record_ids`."""
        wanted = set(record_ids)
        present: set[str] = set()
        for page in self.iter_changes(cursor={}, since=None, page_size=SEARCH_MAX_PAGE_LIMIT):
            present.update(record.id for record in page.records if record.id in wanted)
        return present

    def find_created(self, values: dict[str, Any], *, since: datetime) -> Record | None:
        """The contact a lost (or denied yet carried out) create made, added no earlier than shortly before `since`:
        by GHL's duplicate search on its email or phone (read from the database, not the search index); without
        either, by a search of contacts added since then with the same names."""
        looked = False
        for name, key in (("email", "email"), ("phone", "phone")):
            value = str(values.get(name) or "").strip()
            if not value:
                continue
            looked = True
            contact = self.client.find_duplicate(**{key: value})
            if contact is None:
                continue
            added = parse_timestamp(contact.get("dateAdded"))
            if added is None or added >= since - CREATED_SKEW:
                return self.get(str(contact.get("id")))
        return None if looked else self._find_created_by_names(values, since=since)

    def _find_created_by_names(self, values: dict[str, Any], *, since: datetime) -> Record | None:
        names = {key: str(values[key]).strip() for key in NAME_FIELDS if str(values.get(key) or "").strip()}
        if not names:
            return None
        filters: list[dict[str, Any]] = [
            {"field": "dateAdded", "operator": "range", "value": {"gte": iso_ms(since - CREATED_SKEW)}},
            *({"field": key, "operator": "eq", "value": value} for key, value in names.items()),
        ]
        page = self.client.search_contacts(page_limit=SEARCH_BATCH, filters=filters, sort_field="dateAdded")
        for contact in reversed(page["contacts"]):  # the newest first
            if all(str(contact.get(key) or "").strip().lower() == value.lower() for key, value in names.items()):
                return contact_to_record(contact)
        return None

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
            if contact and normalize_phone(contact.get("phone"), like=value) == normalize_phone(value) != "":
                return contact_to_record(contact)
            return None
        # Custom-field lookups would need POST /contacts/search filters whose semantics are only documented by a
        # third party; callers treat None as "no match" and link records through RecordLink instead.
        return None

    def prepare_write(self, values: dict[str, Any], *, create: bool) -> tuple[dict[str, Any], dict[str, str]]:
        """(the values create/update will write, {field: reason} for each field left out); see GhlWriteShape."""
        return CONTACT_WRITES.prepare(values, create=create)

    def create(self, values: dict[str, Any]) -> Record:
        """Create a contact from flat values, then link it to `businessId` (not part of the create body).

        With an email or a phone the create goes through the upsert endpoint: a retried create whose first answer
        was lost then finds the contact the first one made (GHL matches by the location's duplicate rules) instead
        of making a second one."""
        values, _ = self.prepare_write(values, create=True)
        business_id = values.pop("businessId", None) or None
        body = values_to_contact(values)
        record = self._create_contact(body)
        if business_id:
            try:
                self.client.link_contacts_to_business([record.id], str(business_id))
            except exc.ApiError as e:
                # Raising would orphan the new contact (no record link, a duplicate next run). Returning it unlinked
                # stores its real state, so the next change of the source retries the link.
                logger.warning("GHL contact %s created but not linked to business %s: %s", record.id, business_id, e)
            else:
                record.values["businessId"] = str(business_id)
                record.raw = {**record.raw, "businessId": str(business_id)}
        return record

    def _create_contact(self, body: dict[str, Any]) -> Record:
        """Send the create (an upsert with an email or a phone); a 422 is believed only once the contact is known not
        to exist: live GHL may answer 422 and create the contact all the same (GoHighLevel/highlevel-api-docs#64), and
        a second create would then make a duplicate or fail on GHL's duplicate check."""
        sent_at = datetime.now(tz=UTC)
        upsert = bool(body.get("email") or body.get("phone"))
        try:
            if upsert:
                _, contact = self.client.upsert_contact(body)
            else:
                contact = self.client.create_contact(body)
        except exc.ApiValidationError as e:
            if e.status_code != 422:
                raise
            found = self.find_created(body, since=sent_at)
            if found is not None:
                logger.warning("GHL answered 422 to a contact create, yet created contact %s: %s", found.id, e)
                return found
            if upsert and body.get("phone") and not body.get("email"):
                # Live GHL refused an upsert carrying only a phone (n8n-io/n8n#11353): nothing was created or
                # matched, so the plain create is not a duplicate.
                return self._create_contact_plain(body)
            raise
        return contact_to_record(contact)

    def _create_contact_plain(self, body: dict[str, Any]) -> Record:
        """POST /contacts/, its 422 believed only once the contact is known not to exist (as in _create_contact)."""
        sent_at = datetime.now(tz=UTC)
        try:
            return contact_to_record(self.client.create_contact(body))
        except exc.ApiValidationError as e:
            found = self.find_created(body, since=sent_at) if e.status_code == 422 else None
            if found is None:
                raise
            return found

    def update(self, record_id: str, values: dict[str, Any], current: Record | None = None) -> Record:
        """PUT only the given fields. `tags` is applied as add/remove-tag calls diffed against `current` (unless
        overwrite_tags, or no `current`: then the PUT replaces all tags); `businessId` via the bulk business link.
        Cleared fields are sent as the spec allows, or left out (prepare_write says why)."""
        values, _ = self.prepare_write(values, create=False)
        wrote = False
        if "tags" in values and current is not None and not self.overwrite_tags:
            added, removed = tag_changes(current.values.get("tags"), values.pop("tags"))
            if removed:
                self.client.remove_tags(record_id, removed)
                wrote = True
            if added:
                self.client.add_tags(record_id, added)
                wrote = True
        if "businessId" in values:
            # UpdateContactDto has no businessId; the link is its own endpoint (None unlinks).
            business_id = values.pop("businessId")
            self.client.link_contacts_to_business([record_id], str(business_id) if business_id else None)
            wrote = True
        body = values_to_contact(values)
        if body:
            # Sent last, so the contact it answers with already shows the tag and business changes.
            return contact_to_record(self.client.update_contact(record_id, body))
        if not wrote and current is not None:
            return current
        # No PUT answered with the contact: read it back so the caller stores its real state.
        return self.get(record_id)

    def delete(self, record_id: str) -> None:
        """Delete a contact."""
        self.client.delete_contact(record_id)

    def sample(self) -> Record | None:
        """The first contact of the first page, or None for an empty location."""
        for page in self.iter_changes(cursor={}, since=None, page_size=1):
            return page.records[0] if page.records else None
        return None
