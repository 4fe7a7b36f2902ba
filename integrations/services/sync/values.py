"""Pure helpers of the sync engine: comparable values, per-field digests, match keys, list merges. No DB, no HTTP."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import phonenumbers

# An ISO 8601 date-time with an explicit offset (Z or ±hh:mm): an instant, whatever its format. Dates and date-times
# without an offset are not instants and stay text.
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}(:?\d{2})?)")


def instant(value: str) -> str | None:
    """The canonical form (UTC, microseconds) of an ISO date-time with an offset; None for any other text.

    `2026-01-05T09:00:00.123Z` and `2026-01-05T10:00:00.123000+01:00` are the same instant: compared and digested
    alike, so a value re-formatted by a transform or by the other system is neither rewritten nor taken for a change.
    """
    if not _INSTANT.fullmatch(value):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC).isoformat(timespec="microseconds")


def normalize(value: Any) -> Any:
    """The form values are compared in: blank is None, strings are stripped, date-times with an offset are instants
    (one canonical UTC form), lists keep their order."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return (instant(value) or value) if value else None
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, list | tuple):
        items = [normalize(v) for v in value]
        return [v for v in items if v is not None] or None
    return value


def same_value(a: Any, b: Any) -> bool:
    return bool(normalize(a) == normalize(b))


def list_items(value: Any) -> list[str]:
    """A list field (tags) as non-blank strings; a comma-separated string is split."""
    if value is None:
        return []
    if isinstance(value, str):
        items: Iterable[Any] = value.split(",")
    elif isinstance(value, list | tuple | set):
        items = value
    else:
        items = [value]
    return [str(item).strip() for item in items if item is not None and str(item).strip()]


def _keys(items: Iterable[str]) -> set[str]:
    return {item.casefold() for item in items}


def same_list(a: Any, b: Any) -> bool:
    """Lists compare as sets of items, ignoring case (how tags are compared on both systems)."""
    return _keys(list_items(a)) == _keys(list_items(b))


def merge_list(*, current: Any, desired: Any, previous: Any) -> list[str]:
    """The target's list after applying what the source changed since `previous` (what this mapping last wrote).

    Items the source added since then are added, items it removed are removed, items only the target has are kept
    (and items the target removed stay removed). With no `previous` (first sync) nothing is removed."""
    previous_keys = _keys(list_items(previous))
    desired_items = list_items(desired)
    removed = previous_keys - _keys(desired_items)
    result: list[str] = []
    seen: set[str] = set()
    kept = [item for item in list_items(current) if item.casefold() not in removed]
    added = [item for item in desired_items if item.casefold() not in previous_keys]
    for item in [*kept, *added]:
        if item.casefold() not in seen:
            seen.add(item.casefold())
            result.append(item)
    return result


def digest(value: Any, *, as_list: bool = False) -> str:
    """A short stable digest of one field's value (lists as case-insensitive sets when `as_list`)."""
    if as_list:
        data: Any = sorted(_keys(list_items(value))) or None
    else:
        data = normalize(value)
    raw = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.blake2b(raw.encode(), digest_size=8).hexdigest()


def digests(values: dict[str, Any], fields: Iterable[str], list_fields: frozenset[str]) -> dict[str, str]:
    return {name: digest(values.get(name), as_list=name in list_fields) for name in fields}


def match_value(rule: str, value: Any, *, region: str) -> str | None:
    """The comparable form of a match key: lower-case email, E.164 phone, stripped name or external id."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if rule == "email":
        return text.lower() or None
    if rule == "phone":
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(number):
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if rule == "name":
        return " ".join(text.split()).casefold() or None
    return text or None
