"""The start page's failures, grouped by cause: one row per (mapping, kind of error, field) with a count and the
newest example, so one bad phone number is one row, not nine (one per run, per mapping, per child note).

The cause is read from the stored error text (`failure_cause`, pure): a field error of the transforms
("phone: "+1 555" is not a valid phone number for region US") gives the field and the message without its values;
an API answer gives the answer without ids; a child that failed because its parent could not be synced first is
grouped under that parent's cause. Four queries, however many failures (the newest FAILURE_SCAN are grouped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Subquery
from django.utils import timezone

from integrations.models import RecordHistory
from mappings.models import Mapping

FAILURE_DAYS = 30
FAILURE_GROUPS = 10
# Failures grouped at most (the newest); beyond, the counts say "at least".
FAILURE_SCAN = 5000
CAUSE_MAX_CHARS = 160

_PARENT = re.compile(
    r"^its (?P<parent>[\w ]+?) \S+ (?:is not linked to .+? and )?could not be synced first: (?P<why>.*?)"
    r"(?: \(see that record's row in this run\))?$",
    re.S,
)
_FIELD = re.compile(r"^(?P<field>[A-Za-z_][\w.\-]{0,60}): (?P<message>.+)$", re.S)
# An API's refusal that names a field after its status: "StreetText rejected the record (422): phone: invalid (…)".
_REFUSAL = re.compile(r"^(?P<refusal>[^:]{1,80}\(\d{3}\)): (?P<detail>.+)$", re.S)
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'|“[^”]*”")
# Tokens with a digit are values (ids, numbers), except a bare HTTP status.
_VALUE = re.compile(r"(?<!\S)(?!\d{3}(?=[\s:,.;)]|$))\S*\d\S*")


def _general(text: str) -> str:
    text = _QUOTED.sub("…", text.strip())
    text = _VALUE.sub("…", text)
    text = re.sub(r"\s+", " ", text)
    return text[:CAUSE_MAX_CHARS]


def failure_cause(error: str) -> tuple[str, str]:
    """(kind, field) of a stored error: what failures with the same cause share. `field` is "" when the error names
    none."""
    text = (error or "").strip()
    parent = _PARENT.match(text)
    if parent:
        kind, field = failure_cause(parent.group("why"))
        return f"its {parent.group('parent')} could not be synced first: {kind}", field
    first = text.split("; ", 1)[0]
    named = _FIELD.match(first)
    if named and " " not in named.group("field"):
        return _general(named.group("message")), named.group("field")
    refusal = _REFUSAL.match(first)
    named = _FIELD.match(refusal.group("detail")) if refusal else None
    if refusal and named and " " not in named.group("field"):
        return f"{refusal.group('refusal')}: {_general(named.group('message'))}", named.group("field")
    return _general(text) or "(no message)", ""


@dataclass(frozen=True)
class FailureCause:
    mapping: Mapping
    kind: str
    field: str
    count: int
    newest: RecordHistory
    # More failures than were grouped: `count` is a lower bound.
    at_least: bool = False


def record_failure_cause_list(
    *, days: int = FAILURE_DAYS, limit: int = FAILURE_GROUPS, now: datetime | None = None
) -> list[FailureCause]:
    """The causes of the last `days` days' failed records (not dry runs), newest cause first."""
    since = (now or timezone.now()) - timedelta(days=days)
    failed = RecordHistory.objects.filter(
        action=RecordHistory.Action.FAILED, dry_run=False, created_at__gte=since
    ).order_by("-created_at", "-id")
    at_least = failed[FAILURE_SCAN : FAILURE_SCAN + 1].exists()
    newest = failed.values("id")[:FAILURE_SCAN]
    rows = (
        RecordHistory.objects.filter(pk__in=Subquery(newest))
        .values("mapping_id", "error")
        .annotate(n=Count("id"), newest_id=Max("id"))
        .order_by()
    )
    groups: dict[tuple[int, str, str], list[int]] = {}
    for row in rows:
        kind, field = failure_cause(row["error"])
        group = groups.setdefault((row["mapping_id"], kind, field), [0, 0])
        group[0] += row["n"]
        group[1] = max(group[1], row["newest_id"])
    chosen = sorted(groups.items(), key=lambda item: -item[1][1])[:limit]
    examples = RecordHistory.objects.select_related("mapping").in_bulk([newest_id for _, (_, newest_id) in chosen])
    return [
        FailureCause(
            mapping=examples[newest_id].mapping,
            kind=kind,
            field=field,
            count=count,
            newest=examples[newest_id],
            at_least=at_least,
        )
        for (_, kind, field), (count, newest_id) in chosen
    ]
