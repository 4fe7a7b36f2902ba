"""Pure helpers over trigger items: flat values for mapping and conditions, versions, labels, diffs, times.

No database, no HTTP: unit-tested on their own."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

# Paging bookkeeping inside items (GHL's searchAfter, sort values): not part of an item's content.
VOLATILE_KEYS = frozenset({"searchAfter", "sort"})
# Fields an item's creation time may be in (new vs updated when no earlier version was seen).
CREATED_FIELDS = ("dateAdded", "createdAt", "created_at", "dateCreated")
LABEL_FIELDS = ("name", "title", "fullName", "contactName", "subject", "email", "key", "slug")
ITEM_MAX_CHARS = 20_000
MAX_CHANGES = 60
# Relative times in trigger parameters: {now_ms}, {now_ms-1d}, {now_iso+30d}, {now_ms-12h}, {now_ms-30m}.
_RELATIVE = re.compile(r"^\{now_(ms|iso)(?:([+-])(\d+)([dhm]))?\}$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def flatten(item: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as dotted keys (contact.email); lists kept as they are; lists of {id, value} objects (custom
    fields) also by id (customFields.<id>), as the mapping page names GHL custom fields."""
    flat: dict[str, Any] = {}
    for key, value in item.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
            continue
        flat[name] = value
        if isinstance(value, list) and value and all(isinstance(e, Mapping) for e in value):
            for element in value:
                if "id" in element and ("value" in element or "field_value" in element):
                    flat[f"{name}.{element['id']}"] = element.get("value", element.get("field_value"))
    return flat


def digest(value: Any) -> str:
    """A short stable digest of an item's content (paging bookkeeping left out)."""
    if isinstance(value, Mapping):
        value = {k: v for k, v in value.items() if k not in VOLATILE_KEYS}
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 text, "YYYY-MM-DD HH:MM:SS" or epoch milliseconds (or seconds) as an aware UTC datetime."""
    if value is None or isinstance(value, bool) or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        number = float(value)
        seconds = number / 1000 if number > 10**11 else number
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def version_of(item: Mapping[str, Any], updated_field: str | None) -> tuple[str, datetime | None]:
    """(version, updated time). The updated time, normalised, when the item carries one; else a digest of its content
    (triggers whose items have no updated timestamp are told changed by their content)."""
    if updated_field:
        moment = parse_time(item.get(updated_field))
        if moment is not None:
            return iso(moment), moment
    return f"c:{digest(item)}", None


def id_of(item: Mapping[str, Any], id_field: str | None, *, many: bool) -> str:
    """The item's id; items without one are a single answer (one id) or known by their content."""
    if id_field and item.get(id_field) not in (None, ""):
        return str(item[id_field])[:200]
    return f"c:{digest(item)}" if many else "answer"


def created_of(item: Mapping[str, Any]) -> datetime | None:
    for name in CREATED_FIELDS:
        moment = parse_time(item.get(name))
        if moment is not None:
            return moment
    return None


def label_of(item: Mapping[str, Any]) -> str:
    """A name people recognise: a name, title or email; a contact's first and last name."""
    for name in LABEL_FIELDS:
        value = item.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    first, last = item.get("firstName") or item.get("first_name") or "", item.get("lastName") or item.get("last_name")
    text = f"{first} {last or ''}".strip()
    if text:
        return text[:200]
    body = item.get("body") or item.get("text") or item.get("lastMessageBody")
    return str(body)[:80] if body else ""


def stored_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """The item as the history keeps it: whole, unless it is very large (then its first fields, marked cut)."""
    text = json.dumps(item, ensure_ascii=False, default=str)
    if len(text) <= ITEM_MAX_CHARS:
        return json.loads(text)  # type: ignore[no-any-return]
    kept: dict[str, Any] = {"_cut": True}
    size = 0
    for key, value in item.items():
        piece = json.dumps(value, ensure_ascii=False, default=str)
        size += len(piece) + len(key)
        if size > ITEM_MAX_CHARS:
            break
        kept[key] = json.loads(piece)
    return kept


def changes_between(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Field by field, what differs between two versions of an item (flat names): {"status": {"before", "after"}}."""
    if not before:
        return {}
    old, new = flatten(before), flatten(after)
    changed: dict[str, dict[str, Any]] = {}
    for name in sorted(set(old) | set(new)):
        if name.split(".")[0] in VOLATILE_KEYS or name == "_cut":
            continue
        if old.get(name) != new.get(name):
            changed[name] = {"before": old.get(name), "after": new.get(name)}
            if len(changed) >= MAX_CHANGES:
                break
    return changed


def resolve_relative(value: Any, now: datetime) -> Any:
    """ "{now_ms-1d}" -> epoch milliseconds a day ago; "{now_iso+30d}" -> ISO text; anything else as it is (lists and
    objects element by element)."""
    if isinstance(value, list):
        return [resolve_relative(v, now) for v in value]
    if isinstance(value, dict):
        return {k: resolve_relative(v, now) for k, v in value.items()}
    if not isinstance(value, str):
        return value
    match = _RELATIVE.match(value.strip())
    if match is None:
        return value
    kind, sign, amount, unit = match.groups()
    moment = now
    if sign:
        delta = timedelta(**{_UNITS[unit]: int(amount)})
        moment = now + delta if sign == "+" else now - delta
    return int(moment.timestamp() * 1000) if kind == "ms" else iso(moment)
