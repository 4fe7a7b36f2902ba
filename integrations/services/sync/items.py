"""One read record on its way through a page, and what a page produces (outcomes, this mapping's states)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from integrations.adapters import Record
from integrations.models import MappingRecordState, PendingCreate, RecordLink
from integrations.services.sync.outcomes import Outcome


@dataclass
class Item:
    """One read record on its way through a page."""

    record: Record
    keys: dict[str, Any]
    link: RecordLink | None = None
    state: MappingRecordState | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    target: Record | None = None
    rule: str = ""
    stale_link: RecordLink | None = None
    outcome: Outcome | None = None
    pending: PendingCreate | None = None
    # An earlier attempt wrote this record's update ahead and its page was never stored: the update may have landed.
    update_ahead: bool = False
    # Seen again with nothing this mapping reads changed (or left alone by the filter): follow-up rules skip it.
    unchanged: bool = False
    # This run's own write coming back in the change feed: left out of the page's outcomes altogether.
    dropped: bool = False
    # The read record's values as this run leaves them, when the leg writes the side it reads (enrich fills the
    # record it read): what follow-up rules see.
    written: dict[str, Any] | None = None

    @property
    def values(self) -> dict[str, Any]:
        """The read record as it is after this run's writes (as it will be, in a dry run)."""
        return self.written if self.written is not None else self.record.values


@dataclass
class PageResult:
    outcomes: list[Outcome] = field(default_factory=list)
    # link pk -> {"digests", "written", "config", "configs"}: this mapping's state to store for the page.
    states: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Source ids whose creates and updates were written ahead (PendingCreate): removed when the page is stored.
    written_ahead: list[str] = field(default_factory=list)
    # Follow-up markers made (or found unrecorded) by this page: recorded when the page is stored.
    markers: list[int] = field(default_factory=list)


def contact_keys(record: Record) -> dict[str, Any]:
    return {"email": str(record.values.get("email") or ""), "phone": str(record.values.get("phone") or "")}


def label_of(record: Record) -> str:
    """What the admin shows for a linked pair: a name, else a title, else the email."""
    values = record.values
    name = " ".join(
        str(values.get(k) or "").strip() for k in ("firstName", "lastName", "first_name", "last_name")
    ).strip()
    for candidate in (name, values.get("name"), values.get("title"), values.get("email")):
        if candidate and str(candidate).strip():
            return str(candidate).strip()[:200]
    return ""
