"""Sandbox services: accounts, the generic record store, fault injection and request counters.

Tests and the demo seeder call these directly; the HTTP control endpoints are thin wrappers around them.
"""

from __future__ import annotations

import functools
import secrets
import string
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import phonenumbers
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet

from sandbox import live, ratelimit
from sandbox.models import (
    SandboxAccount,
    SandboxCounter,
    SandboxFault,
    SandboxRecord,
    SandboxSpecRejection,
    SandboxSystem,
)

FAULT_KINDS = {choice.value for choice in SandboxFault.Kind}
SYSTEMS = {choice.value for choice in SandboxSystem}
_ID_ALPHABET = string.ascii_letters + string.digits
ONE_MS = timedelta(milliseconds=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
SPEC_REJECTIONS = "spec_rejections"  # the GHL counter of requests refused for not conforming to GHL's spec
SPEC_REJECTIONS_KEPT = 50  # how many of the latest rejections stay readable


class SandboxInputError(ValueError):
    """Bad arguments to a control service (unknown system, fault kind, …)."""


# ------------------------------------------------------------------------------
# Time: every stored timestamp is truncated to milliseconds so that epoch-ms and ISO cursors compare exactly.
# ------------------------------------------------------------------------------
def truncate_ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def now_ms() -> datetime:
    return truncate_ms(datetime.now(tz=UTC))


def to_iso(value: datetime) -> str:
    """`2021-07-02T05:18:26.704Z`, the format both APIs use."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def to_epoch_ms(value: datetime) -> int:
    return (value - EPOCH) // ONE_MS


def from_epoch_ms(value: int) -> datetime:
    return EPOCH + timedelta(milliseconds=value)


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 string (naive = UTC) or epoch milliseconds; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if not -MAX_EPOCH_MS <= value <= MAX_EPOCH_MS:
            return None
        return from_epoch_ms(int(value))
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.lstrip("-").isdigit():
        return parse_time(int(text))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# ------------------------------------------------------------------------------
# Ids and phones
# ------------------------------------------------------------------------------
def new_id(prefix: str = "", length: int = 20) -> str:
    """Random id in GHL's style (20 alphanumerics), optionally prefixed (StreetText `ct_`)."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


@functools.lru_cache(maxsize=4096)  # pure, and asked several times per request (validation, duplicate look-up)
def phone_to_e164(raw: str, *, region: str = "US") -> str | None:
    """E.164 form of a valid phone number, else None."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_lookup_key(raw: Any) -> str:
    """What the `phone` column holds: E.164 when parseable, else the raw text (so junk still round-trips)."""
    if not isinstance(raw, str) or not raw.strip():
        return ""
    return phone_to_e164(raw) or raw.strip()


# ------------------------------------------------------------------------------
# What every API request asks: which accounts its secret opens, whether a fault is queued. Both answers are kept per
# process for REQUEST_CACHE_SECONDS (a change made by another process shows within that time) and forgotten at once
# when this process changes accounts or faults (the services below, which the control endpoints call).
# ------------------------------------------------------------------------------
REQUEST_CACHE_SECONDS = 1.0
_cache_lock = threading.Lock()
_accounts_by_secret: dict[tuple[str, str], tuple[float, list[SandboxAccount]]] = {}
_no_fault_until: dict[str, float] = {}
# Bumped by every clear: an answer read while a change was being made is not kept.
_cache_generation = [0]


def sandbox_request_cache_clear() -> None:
    """Forget the cached accounts and fault answers (after changing accounts or faults other than by the services)."""
    with _cache_lock:
        _accounts_by_secret.clear()
        _no_fault_until.clear()
        _cache_generation[0] += 1


# ------------------------------------------------------------------------------
# Accounts
# ------------------------------------------------------------------------------
def sandbox_account_create(
    *, system: str, account_id: str, secret: str, name: str = "", allow_duplicate_contacts: bool = False
) -> SandboxAccount:
    """Create the account, or update secret/name/settings of an existing one with the same id."""
    if system not in SYSTEMS:
        raise SandboxInputError(f"unknown system {system!r}")
    if not account_id or not secret:
        raise SandboxInputError("account_id and secret are required")
    account, _ = SandboxAccount.objects.update_or_create(
        system=system,
        account_id=account_id,
        defaults={"secret": secret, "name": name, "allow_duplicate_contacts": allow_duplicate_contacts},
    )
    sandbox_request_cache_clear()
    return account


def sandbox_set_live(
    *,
    location: str,
    latency: tuple[float, float] | None = None,
    deviations: Iterable[str] | None = None,
    daily_limit: int | None = None,
    enabled: bool = True,
) -> live.LiveMode | None:
    """Switch a GHL location to live mode (sandbox/live.py) or, with enabled=False, back to the spec-ideal GHL.

    latency: (low, high) seconds, each answer waits a uniform draw (default 150–600 ms; tests pass e.g. (0.005,
    0.02)); deviations: names from live.DEVIATIONS (default: every deviation but no_location_access); daily_limit:
    requests per UTC day (default GHL's 200,000). The rate limit is GHL's own (100 / 10 s) in live mode."""
    mode = live.live_mode_build(latency=latency, deviations=deviations, daily_limit=daily_limit) if enabled else None
    updated = SandboxAccount.objects.filter(system=SandboxSystem.GHL, account_id=location).update(
        live=mode.as_json() if mode is not None else None
    )
    if not updated:
        raise SandboxInputError(f"no sandbox GHL location {location!r}")
    sandbox_request_cache_clear()
    return mode


def sandbox_accounts_for_secret(*, system: str, secret: str) -> list[SandboxAccount]:
    """Every account a token / API key opens (a GHL token may cover several locations)."""
    if not secret:
        return []
    now = time.monotonic()
    with _cache_lock:
        cached = _accounts_by_secret.get((system, secret))
        generation = _cache_generation[0]
    if cached is not None and cached[0] > now:
        return list(cached[1])
    # Plain SQL spares the ORM's query compilation (a good part of a request's cost).
    table = SandboxAccount._meta.db_table
    query = f"SELECT * FROM {table} WHERE system = %s AND secret = %s ORDER BY id"  # noqa: S608 - our own table
    accounts = list(SandboxAccount.objects.raw(query, [system, secret]))
    with _cache_lock:
        if _cache_generation[0] == generation:
            _accounts_by_secret[(system, secret)] = (now + REQUEST_CACHE_SECONDS, accounts)
    return list(accounts)


# ------------------------------------------------------------------------------
# Record store (generic over object_type)
# ------------------------------------------------------------------------------
def _search_text(data: dict[str, Any]) -> str:
    parts = [
        str(value) for value in data.values() if isinstance(value, str | int | float) and not isinstance(value, bool)
    ]
    return " ".join(parts).lower()


def _denormalise(record: SandboxRecord) -> None:
    data = record.data if isinstance(record.data, dict) else {}
    email = data.get("email")
    record.email_lower = email.strip().lower() if isinstance(email, str) else ""
    record.phone = phone_lookup_key(data.get("phone"))
    external_id = data.get("external_id")
    record.external_id = external_id if isinstance(external_id, str) else ""
    record.search_text = _search_text(data)


def next_updated_at(*, account: SandboxAccount, object_type: str, after: datetime | None = None) -> datetime:
    """A write timestamp later than every stored one of this type in the account (and than `after`), so a
    stored (updated_at, id) cursor always sees later writes. Seeded records may still share timestamps."""
    latest = _latest_updated_at(account=account, object_type=object_type)
    candidate = now_ms()
    for floor in (latest, after):
        if floor is not None and candidate <= floor:
            candidate = truncate_ms(floor) + ONE_MS
    return candidate


def _latest_updated_at(*, account: SandboxAccount, object_type: str) -> datetime | None:
    """MAX(updated_at) of the type in the account, in one plain indexed query (every write asks it)."""
    table = SandboxRecord._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT MAX(updated_at) FROM {table} WHERE account_id = %s AND object_type = %s",  # noqa: S608
            [account.pk, object_type],
        )
        value = cursor.fetchone()[0]
    if value is None or isinstance(value, datetime):
        return value.astimezone(UTC) if value is not None and value.tzinfo else value
    # SQLite hands back the stored text: UTC without an offset.
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def sandbox_record_put(
    *,
    account: SandboxAccount,
    object_type: str,
    data: dict[str, Any],
    record_id: str | None = None,
    created_at: datetime | None = None,
    updated_at: datetime | None = None,
    deleted: bool = False,
    existing: SandboxRecord | None = None,
) -> SandboxRecord:
    """Create or replace one record as-is, without the API's validation (for seeding and for the APIs' writes).

    Missing timestamps: created_at keeps the stored value (or now); updated_at is the next write timestamp.
    `existing`: the stored record, when the caller has just read it (spares reading it again).
    """
    record: SandboxRecord | None = None
    if existing is not None and (existing.account_id, existing.object_type) == (account.pk, object_type):
        record = existing if existing.record_id == (record_id or existing.record_id) else None
    if record is None and record_id:
        record = SandboxRecord.objects.filter(account=account, object_type=object_type, record_id=record_id).first()
    record_id = record_id or new_id()  # a new id names no stored record
    if record is None:
        record = SandboxRecord(account=account, object_type=object_type, record_id=record_id)
    record.data = dict(data)
    record.deleted = deleted
    if created_at is not None:
        record.created_at = truncate_ms(created_at)
    elif record.pk is None:
        record.created_at = now_ms()
    record.updated_at = (
        truncate_ms(updated_at)
        if updated_at is not None
        else next_updated_at(account=account, object_type=object_type, after=record.updated_at if record.pk else None)
    )
    _denormalise(record)
    record.save()
    return record


def sandbox_records_bulk_create(*, records: Iterable[SandboxRecord]) -> int:
    """Insert many unsaved records (timestamps and data already set); denormalised columns are filled here."""
    batch = []
    for record in records:
        record.created_at = truncate_ms(record.created_at)
        record.updated_at = truncate_ms(record.updated_at)
        _denormalise(record)
        batch.append(record)
    SandboxRecord.objects.bulk_create(batch, batch_size=500)
    return len(batch)


def live_records(*, account: SandboxAccount, object_type: str) -> QuerySet[SandboxRecord]:
    return SandboxRecord.objects.filter(account=account, object_type=object_type, deleted=False)


def sandbox_record_get(*, account: SandboxAccount, object_type: str, record_id: str) -> SandboxRecord | None:
    return live_records(account=account, object_type=object_type).filter(record_id=record_id).first()


def sandbox_record_delete(*, record: SandboxRecord) -> SandboxRecord:
    """Soft delete: the record disappears from every API answer; its updated_at moves on."""
    record.deleted = True
    record.updated_at = next_updated_at(account=record.account, object_type=record.object_type, after=record.updated_at)
    record.save(update_fields=["deleted", "updated_at"])
    return record


def sandbox_records_delete_for_contact(
    *, account: SandboxAccount, object_types: Iterable[str], contact_field: str, contact_id: str
) -> int:
    """Soft-delete the live child records (tasks, notes, …) whose data[contact_field] names the contact."""
    children = SandboxRecord.objects.filter(
        account=account, object_type__in=list(object_types), deleted=False, **{f"data__{contact_field}": contact_id}
    ).order_by("object_type", "record_id")
    count = 0
    for record in children:
        sandbox_record_delete(record=record)
        count += 1
    return count


def after_cursor_q(*, field: str, value: datetime, record_id: str, descending: bool = False) -> Q:
    """Rows strictly after the tuple position (value, record_id) in (field, record_id) order."""
    if descending:
        return Q(**{f"{field}__lt": value}) | Q(**{field: value, "record_id__lt": record_id})
    return Q(**{f"{field}__gt": value}) | Q(**{field: value, "record_id__gt": record_id})


# ------------------------------------------------------------------------------
# Faults
# ------------------------------------------------------------------------------
def sandbox_fault_add(
    *,
    system: str,
    kind: str,
    status: int = 500,
    delay: float = 0.0,
    count: int = 1,
    path_contains: str = "",
    method: str = "",
    retry_after: int = 1,
    skip: int = 0,
) -> SandboxFault:
    """Queue `count` faults for the next matching requests to `system`, after letting `skip` of them through."""
    if system not in SYSTEMS:
        raise SandboxInputError(f"unknown system {system!r}")
    if kind not in FAULT_KINDS:
        raise SandboxInputError(f"unknown fault kind {kind!r}; use one of {sorted(FAULT_KINDS)}")
    if not 100 <= status <= 599:
        raise SandboxInputError("status must be an HTTP status code")
    if count < 1 or delay < 0 or retry_after < 0 or skip < 0:
        raise SandboxInputError("count must be >= 1, delay, retry_after and skip >= 0")
    fault = SandboxFault.objects.create(
        system=system,
        kind=kind,
        status=status,
        delay=delay,
        remaining=count,
        path_contains=path_contains,
        method=method.upper(),
        retry_after=retry_after,
        skip=skip,
    )
    sandbox_request_cache_clear()
    return fault


def sandbox_fault_clear(*, system: str | None = None) -> int:
    """Drop queued faults (of one system, or all); returns how many fault rows were removed."""
    queryset = SandboxFault.objects.all() if system is None else SandboxFault.objects.filter(system=system)
    deleted, _ = queryset.delete()
    sandbox_request_cache_clear()
    return deleted


def sandbox_fault_take(*, system: str, path: str, method: str) -> SandboxFault | None:
    """Consume one matching fault, oldest first. The conditional decrement makes it safe across processes."""
    # Asked on every API request, and there is rarely a fault queued: "none" is known for a while (see above).
    now = time.monotonic()
    with _cache_lock:
        if _no_fault_until.get(system, 0.0) > now:
            return None
        generation = _cache_generation[0]
    with connection.cursor() as cursor:
        table = SandboxFault._meta.db_table
        cursor.execute(f"SELECT 1 FROM {table} WHERE system = %s AND remaining > 0 LIMIT 1", [system])  # noqa: S608
        if cursor.fetchone() is None:
            with _cache_lock:
                if _cache_generation[0] == generation:
                    _no_fault_until[system] = now + REQUEST_CACHE_SECONDS
            return None
    candidates = SandboxFault.objects.filter(system=system, remaining__gt=0).order_by("id")
    for fault in candidates:
        if fault.path_contains and fault.path_contains not in path:
            continue
        if fault.method and fault.method != method.upper():
            continue
        with transaction.atomic():
            if SandboxFault.objects.filter(pk=fault.pk, skip__gt=0).update(skip=F("skip") - 1):
                return None
            taken = SandboxFault.objects.filter(pk=fault.pk, remaining__gt=0).update(remaining=F("remaining") - 1)
        if taken:
            return fault
    return None


# ------------------------------------------------------------------------------
# Counters and reset
# ------------------------------------------------------------------------------
def sandbox_counter_incr(*, system: str, names: Iterable[str]) -> None:
    """Add one to each named counter (created on first use): one upsert statement, safe across processes."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    if not counts:
        return
    table = SandboxCounter._meta.db_table
    rows = ", ".join(["(%s, %s, %s)"] * len(counts))
    params: list[Any] = [value for name, n in counts.items() for value in (system, name, n)]
    # PostgreSQL and SQLite (3.24+) both speak INSERT … ON CONFLICT; the unique (system, name) is the conflict.
    sql = (
        f"INSERT INTO {table} (system, name, value) VALUES {rows} "  # noqa: S608 - our own table, values as parameters
        f"ON CONFLICT (system, name) DO UPDATE SET value = {table}.value + excluded.value"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def sandbox_stats() -> dict[str, dict[str, int]]:
    """{"ghl": {"requests": n, "rate_limited": n, "faults": n, "spec_rejections": n, "status_200": n, …},
    "streettext": {…}}."""
    stats: dict[str, dict[str, int]] = {
        system: {"requests": 0, "rate_limited": 0, "faults": 0} for system in sorted(SYSTEMS)
    }
    stats[SandboxSystem.GHL][SPEC_REJECTIONS] = 0
    for counter in SandboxCounter.objects.all():
        stats.setdefault(counter.system, {})[counter.name] = counter.value
    return stats


def sandbox_reset(*, accounts: bool = False) -> dict[str, int]:
    """Wipe records, faults, counters and this process's rate-limit windows (and accounts when asked)."""
    records, _ = SandboxRecord.objects.all().delete()
    faults, _ = SandboxFault.objects.all().delete()
    counters, _ = SandboxCounter.objects.all().delete()
    SandboxSpecRejection.objects.all().delete()
    removed_accounts = 0
    if accounts:
        removed_accounts, _ = SandboxAccount.objects.all().delete()
    ratelimit.rate_limit_reset()
    sandbox_request_cache_clear()
    return {"records": records, "faults": faults, "counters": counters, "accounts": removed_accounts}


def sandbox_stats_reset() -> int:
    """Zero every request counter and forget the kept spec rejections; returns how many counters were removed."""
    deleted, _ = SandboxCounter.objects.all().delete()
    SandboxSpecRejection.objects.all().delete()
    return deleted


# ------------------------------------------------------------------------------
# Spec rejections: GHL requests that do not conform to GHL's official OpenAPI spec
# ------------------------------------------------------------------------------
def sandbox_spec_rejection_add(
    *, method: str, path: str, status: int, messages: list[str], user_agent: str = ""
) -> None:
    """Keep one rejected request (the `spec_rejections` counter is bumped by the view with the other counters)."""
    SandboxSpecRejection.objects.create(
        method=method[:10], path=path[:500], status=status, messages=list(messages), user_agent=user_agent[:200]
    )
    stale = SandboxSpecRejection.objects.order_by("-id").values_list("id", flat=True)[SPEC_REJECTIONS_KEPT:]
    oldest_kept = next(iter(stale), None)
    if oldest_kept is not None:
        SandboxSpecRejection.objects.filter(id__lte=oldest_kept).delete()


def sandbox_spec_rejections() -> list[dict[str, Any]]:
    """The latest kept rejections, oldest first: method, path, status, messages, user agent, when."""
    rows = SandboxSpecRejection.objects.order_by("-id")[:SPEC_REJECTIONS_KEPT]
    return [
        {
            "method": row.method,
            "path": row.path,
            "status": row.status,
            "messages": list(row.messages),
            "user_agent": row.user_agent,
            "at": to_iso(row.created_at),
        }
        for row in reversed(list(rows))
    ]


def sandbox_spec_rejections_clear() -> int:
    """Forget the kept rejections and zero the counter; returns how many rows were removed."""
    SandboxCounter.objects.filter(system=SandboxSystem.GHL, name=SPEC_REJECTIONS).delete()
    deleted, _ = SandboxSpecRejection.objects.all().delete()
    return deleted
