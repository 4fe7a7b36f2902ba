"""The custom fields a connection offers, for the mapping pickers and for drift checks.

GoHighLevel: a location's custom-field definitions (`GET /locations/{id}/customFields`); a mapping stores a custom
field by id (`customFields.<id>`) and shows it by its current name. StreetText: the contract has no list of custom
fields (`custom` holds free keys), so the keys seen on recently changed contacts are offered, plus the keys mappings
already use; a new key can always be typed.

Admin pages read the definitions through a short per-connection cache and never wait long for them: on a miss, the
call runs in a background thread and the page waits at most CUSTOM_FIELDS_PAGE_WAIT_SECONDS; a slow answer lands in
the cache for the next page view, and this one shows ids with a note. The sync engine reads them fresh once per run.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections, connections
from django.utils import timezone

from integrations import concurrency
from integrations.clients import exceptions as exc
from integrations.models import Connection, System
from integrations.object_types import GHL_CUSTOM_PREFIX, STREETTEXT_CUSTOM_PREFIX

logger = logging.getLogger(__name__)

NOTE_SLOW = "{system} did not answer in time; custom fields are shown by id. Reload the page in a moment for names."
NOTE_FAILED = "Could not read the custom fields of “{connection}”: {error}. Custom fields are shown by id."
NOTE_STREETTEXT = (
    "StreetText has no list of custom fields: these are the keys seen on contacts changed in the last {days} days and "
    "the keys mappings already use. Choose “Other” to type a new key."
)
REASON_DELETED = "the custom field was deleted in GoHighLevel"
CACHE_SECONDS = 300
FAILURE_CACHE_SECONDS = 30
STREETTEXT_RECENT_DAYS = 30
STREETTEXT_SAMPLE = 200

_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="custom-fields")
_inflight: dict[str, Future[CustomFieldList]] = {}
_inflight_lock = threading.Lock()


@dataclass(frozen=True)
class CustomField:
    """A custom field: `value` is what a mapping stores (customFields.<id>, custom.<key>), `name` what people read."""

    value: str
    name: str
    kind: str = ""
    options: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.value.split(".", 1)[1]


@dataclass(frozen=True)
class CustomFieldList:
    fields: tuple[CustomField, ...] = ()
    # False when the list could not be read (then `note` says why and nothing may be called deleted).
    known: bool = True
    note: str = ""
    by_value: dict[str, CustomField] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self.by_value.update({f.value: f for f in self.fields})

    def name_of(self, value: str) -> str:
        found = self.by_value.get(value)
        return found.name if found is not None else ""


def _cache_key(connection: Connection, object_type: str) -> str:
    # The creation time keeps two connections that reuse a primary key (tests, a restored database) apart.
    stamp = int(connection.created_at.timestamp() * 1000) if connection.created_at else 0
    return f"streetsync:custom-fields:{connection.system}:{connection.pk}:{stamp}:{object_type}"


def custom_fields_supported(*, system: str, object_type: str) -> bool:
    """Only contacts have custom fields on both systems."""
    return object_type == "contact" and system in (System.GHL, System.STREETTEXT)


# ------------------------------------------------------------------------------
# Reading them from the APIs
# ------------------------------------------------------------------------------
def ghl_custom_fields_fetch(*, connection: Connection, object_type: str = "contact") -> CustomFieldList:
    """The location's custom-field definitions for an object type (one API call). Raises ApiError."""
    from integrations.adapters.clients import ghl_client_for

    rows = ghl_client_for(connection).list_custom_fields(model=object_type)
    fields = []
    for row in rows:
        field_id = str(row.get("id") or "")
        if not field_id or (row.get("model") and row.get("model") != object_type):
            continue
        picklist = row.get("picklistOptions")
        options: list[Any] = picklist if isinstance(picklist, list) else []
        fields.append(
            CustomField(
                value=f"{GHL_CUSTOM_PREFIX}{field_id}",
                name=str(row.get("name") or field_id),
                kind=str(row.get("dataType") or ""),
                options=tuple(str(o) for o in options),
            )
        )
    return CustomFieldList(fields=tuple(sorted(fields, key=lambda f: f.name.lower())))


def streettext_custom_keys_fetch(*, connection: Connection, object_type: str = "contact") -> CustomFieldList:
    """Keys of `custom` on contacts changed lately (one page of the listing) and on mappings. Raises ApiError."""
    from integrations.adapters.clients import streettext_client_for

    since = timezone.now() - timedelta(days=STREETTEXT_RECENT_DAYS)
    page = streettext_client_for(connection).list_contacts(limit=STREETTEXT_SAMPLE, updated_since=since)
    keys: set[str] = set()
    for contact in page["data"]:
        custom = contact.get("custom") if isinstance(contact, dict) else None
        if isinstance(custom, dict):
            keys.update(str(k) for k in custom)
    keys.update(_keys_used_by_mappings(connection))
    fields = tuple(CustomField(value=f"{STREETTEXT_CUSTOM_PREFIX}{k}", name=k) for k in sorted(keys))
    return CustomFieldList(fields=fields, note=NOTE_STREETTEXT.format(days=STREETTEXT_RECENT_DAYS))


def _keys_used_by_mappings(connection: Connection) -> set[str]:
    from mappings.models import FieldMapping

    rows = FieldMapping.objects.filter(mapping__streettext_connection=connection)
    names = set(rows.values_list("target_field", flat=True)) | set(rows.values_list("source", flat=True))
    return {n[len(STREETTEXT_CUSTOM_PREFIX) :] for n in names if n.startswith(STREETTEXT_CUSTOM_PREFIX)}


def custom_fields_fetch(*, connection: Connection, object_type: str = "contact") -> CustomFieldList:
    """Read the connection's custom fields now and keep them in the cache. Raises ApiError."""
    if connection.system == System.GHL:
        result = ghl_custom_fields_fetch(connection=connection, object_type=object_type)
    else:
        result = streettext_custom_keys_fetch(connection=connection, object_type=object_type)
    cache.set(_cache_key(connection, object_type), _dump(result), CACHE_SECONDS)
    return result


def _dump(result: CustomFieldList) -> dict[str, Any]:
    return {
        "fields": [(f.value, f.name, f.kind, list(f.options)) for f in result.fields],
        "known": result.known,
        "note": result.note,
    }


def _load(data: dict[str, Any]) -> CustomFieldList:
    fields = tuple(CustomField(value=v, name=n, kind=k, options=tuple(o)) for v, n, k, o in data["fields"])
    return CustomFieldList(fields=fields, known=data["known"], note=data["note"])


# ------------------------------------------------------------------------------
# For admin pages: cached, and never a long wait
# ------------------------------------------------------------------------------
def _fetch_in_thread(connection: Connection, object_type: str, key: str) -> CustomFieldList:
    close_old_connections()
    try:
        return custom_fields_fetch(connection=connection, object_type=object_type)
    except exc.ApiError as e:
        label = connection.get_system_display()
        failed = CustomFieldList(known=False, note=NOTE_FAILED.format(connection=connection.name, error=e or label))
        # A failing API is asked again after a short while, not on every page view.
        cache.set(key, _dump(failed), FAILURE_CACHE_SECONDS)
        return failed
    finally:
        with _inflight_lock:
            _inflight.pop(key, None)
        connections.close_all()


def custom_fields_for(
    *, connection: Connection | None, object_type: str, wait: float | None = None, refresh: bool = False
) -> CustomFieldList:
    """The connection's custom fields for a page: from the cache, else read with at most `wait` seconds of waiting.

    At most one call per connection is under way at any time; one that takes longer fills the cache when it ends."""
    if connection is None or connection.pk is None:
        return CustomFieldList()
    if not custom_fields_supported(system=connection.system, object_type=object_type):
        return CustomFieldList()
    key = _cache_key(connection, object_type)
    if refresh:
        cache.delete(key)
    cached = cache.get(key)
    if cached is not None:
        return _load(cached)
    with _inflight_lock:
        future = _inflight.get(key)
        if future is None:
            future = _executor.submit(_fetch_in_thread, connection, object_type, key)
            _inflight[key] = future
    try:
        return future.result(timeout=settings.CUSTOM_FIELDS_PAGE_WAIT_SECONDS if wait is None else wait)
    except FutureTimeout:
        return CustomFieldList(known=False, note=NOTE_SLOW.format(system=connection.get_system_display()))


def custom_fields_forget(*, connection: Connection, object_type: str = "contact") -> None:
    cache.delete(_cache_key(connection, object_type))


# ------------------------------------------------------------------------------
# For the sync engine: GoHighLevel custom fields that no longer exist
# ------------------------------------------------------------------------------
class DeletedCustomFields:
    """Which `customFields.<id>` targets of one leg no longer exist in GHL; read at most once per run (per leg).

    When the definitions cannot be read (a token without the customFields scope, an outage), nothing is left out:
    GoHighLevel itself is then the judge of the write."""

    def __init__(self, connection: Connection, object_type: str) -> None:
        self.connection = connection
        self.object_type = object_type
        self._known: set[str] | None = None
        self._read = False
        # A page's writers share the leg (integrations/concurrency.py): one reads the definitions while the others
        # wait for them, instead of finding them "read" but not there yet.
        self._reading = threading.Lock()

    def known_ids(self) -> set[str] | None:
        if self._read:
            return self._known
        with concurrency.waiting():  # the writer reading them needs the page's gate back when its answer comes
            self._reading.acquire()
        try:
            if not self._read:
                try:
                    fields = custom_fields_fetch(connection=self.connection, object_type=self.object_type)
                except exc.ApiError as e:
                    logger.warning("Custom fields of %s not readable, none left out: %s", self.connection.name, e)
                    self._known = None
                else:
                    self._known = {f.value for f in fields.fields}
                self._read = True
        finally:
            self._reading.release()
        return self._known

    def deleted(self, names: list[str]) -> list[str]:
        """The names among `names` that are custom fields GoHighLevel no longer has."""
        wanted = [n for n in names if n.startswith(GHL_CUSTOM_PREFIX)]
        if not wanted:
            return []
        known = self.known_ids()
        if known is None:
            return []
        return [n for n in wanted if n not in known]


# ------------------------------------------------------------------------------
# Drift: a mapping's custom fields renamed or deleted in GoHighLevel since they were picked
# ------------------------------------------------------------------------------
DRIFT_RENAMED = (
    "{where}: the GoHighLevel custom field “{was}” is now called “{now}”. It is stored by id ({field}), so it still "
    "works; saving the mapping keeps the new name."
)
DRIFT_DELETED_WRITE = (
    "{where}: the GoHighLevel custom field {name}({field}) was deleted in GoHighLevel. Runs leave it out of every "
    "write, and each record's history says so: pick another field or remove the row."
)
DRIFT_DELETED_READ = (
    "{where}: the GoHighLevel custom field {name}({field}) was deleted in GoHighLevel, so it reads as empty: pick "
    "another field."
)


@dataclass(frozen=True)
class Drift:
    field: str
    state: str  # "renamed" or "deleted"
    was: str
    now: str
    message: str


@dataclass(frozen=True)
class FieldUse:
    """Where a mapping uses a GHL custom field: its name when picked (if stored), and whether it is written."""

    field: str
    where: str
    label: str = ""
    written: bool = False


def custom_field_drift(*, fields: CustomFieldList, uses: list[FieldUse]) -> list[Drift]:
    """Renamed and deleted GoHighLevel custom fields among `uses`; nothing when the list could not be read."""
    if not fields.known:
        return []
    result = []
    for use in uses:
        if not use.field.startswith(GHL_CUSTOM_PREFIX):
            continue
        now = fields.name_of(use.field)
        if not now:
            name = f"“{use.label}” " if use.label else ""
            template = DRIFT_DELETED_WRITE if use.written else DRIFT_DELETED_READ
            message = template.format(where=use.where, name=name, field=use.field)
            result.append(Drift(field=use.field, state="deleted", was=use.label, now="", message=message))
        elif use.label and use.label != now:
            message = DRIFT_RENAMED.format(where=use.where, was=use.label, now=now, field=use.field)
            result.append(Drift(field=use.field, state="renamed", was=use.label, now=now, message=message))
    return result
