"""Reads for "Find a record" and the record page: one record's linked pair and its whole story across runs.

Every lookup is an indexed one: exact ids (history and links), an email on the lower-cased email (history and links:
an index on LOWER(email)), a phone as stored (E.164 first, then as typed), a name by its first letters on the links'
lower-cased label (a range on an index, not LIKE '%…%'). The history table is never scanned. The admin's lists of
history and links search the same way (history_search_condition, link_search_condition).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import phonenumbers
from django.core.paginator import Page, Paginator
from django.db.models import Max, Q, QuerySet
from django.db.models.functions import Lower

from integrations.models import MappingRecordState, RecordHistory, RecordLink, System
from mappings.models import Mapping

SEARCH_LIMIT = 50
TIMELINE_PAGE_SIZE = 25
SYSTEM_LABELS = dict(System.choices)
_PHONE_CHARS = re.compile(r"^[\d\s()+.\-]{7,}$")
# A run number as typed in a search box: "1234" or "#1234" (and no larger than a bigint).
_RUN_NUMBER = re.compile(r"^#?(\d{1,18})$")


@dataclass(frozen=True)
class Query:
    """What the search box understood: an email, a phone (E.164 and as typed), or ids and a name prefix."""

    text: str
    email: str = ""
    phones: tuple[str, ...] = ()
    name_prefix: str = ""

    @property
    def kind(self) -> str:
        return "email" if self.email else "phone" if self.phones else "id or name"


def record_query_parse(text: str, *, region: str = "US") -> Query:
    text = " ".join((text or "").split())[:200]
    if not text:
        return Query(text="")
    if "@" in text:
        return Query(text=text, email=text.lower())
    if _PHONE_CHARS.match(text) and sum(c.isdigit() for c in text) >= 7:
        phones = [text]
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and phonenumbers.is_possible_number(number):
            phones.insert(0, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
        return Query(text=text, phones=tuple(dict.fromkeys(phones)))
    return Query(text=text, name_prefix=text.lower())


@dataclass
class Found:
    """One record the search found: its link when it has one, else the ids a history row names."""

    system: str
    record_id: str
    label: str = ""
    email: str = ""
    object_type: str = ""
    ghl_id: str = ""
    streettext_id: str = ""
    linked: bool = False


def _prefix_range(prefix: str) -> tuple[str, str]:
    """[prefix, next) such that every text starting with `prefix` sorts inside (an index range, not LIKE)."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def record_search(*, text: str, limit: int = SEARCH_LIMIT) -> tuple[Query, list[Found]]:
    """Records matching an email, a phone, an id (either system) or the first letters of a name (at most 4 queries)."""
    query = record_query_parse(text)
    if not query.text:
        return query, []
    links = RecordLink.objects.select_related(None)
    if query.email:
        link_q = Q(email_lower=query.email)
        history_q = Q(email_lower=query.email)
    elif query.phones:
        link_q = Q(pk__in=[])
        history_q = Q(phone__in=query.phones)
    else:
        low, high = _prefix_range(query.name_prefix)
        link_q = Q(ghl_id=query.text) | Q(streettext_id=query.text) | Q(label_lower__gte=low, label_lower__lt=high)
        history_q = Q(ghl_id=query.text) | Q(streettext_id=query.text)
    found: dict[tuple[str, str], Found] = {}
    matched_links = list(
        links.alias(email_lower=Lower("email"), label_lower=Lower("label"))
        .filter(link_q)
        .order_by("label", "pk")[:limit]
    )
    for link in matched_links:
        found[(System.GHL, link.ghl_id)] = _from_link(link)
    rows = list(
        RecordHistory.objects.alias(email_lower=Lower("email"))
        .filter(history_q)
        .order_by("-created_at", "-id")
        .values("ghl_id", "streettext_id", "email", "mapping__object_type")[: limit * 4]
    )
    # Ids the history names that no link found yet: their links, in one query.
    extra_ghl = {r["ghl_id"] for r in rows if r["ghl_id"]} - {k[1] for k in found if k[0] == System.GHL}
    linked_st = {f.streettext_id for f in found.values()}
    extra_st = {r["streettext_id"] for r in rows if r["streettext_id"]} - linked_st
    if extra_ghl or extra_st:
        for more in RecordLink.objects.filter(Q(ghl_id__in=extra_ghl) | Q(streettext_id__in=extra_st))[:limit]:
            found.setdefault((System.GHL, more.ghl_id), _from_link(more))
    known_ghl = {f.ghl_id for f in found.values()}
    known_st = {f.streettext_id for f in found.values()}
    for row in rows:
        if (row["ghl_id"] and row["ghl_id"] in known_ghl) or (
            row["streettext_id"] and row["streettext_id"] in known_st
        ):
            continue
        system = System.GHL if row["ghl_id"] else System.STREETTEXT
        record_id = row["ghl_id"] or row["streettext_id"]
        if not record_id:
            continue
        found.setdefault(
            (system, record_id),
            Found(
                system=system,
                record_id=record_id,
                email=row["email"],
                object_type=row["mapping__object_type"],
                ghl_id=row["ghl_id"],
                streettext_id=row["streettext_id"],
            ),
        )
        known_ghl.add(row["ghl_id"])
        known_st.add(row["streettext_id"])
    return query, list(found.values())[:limit]


def history_search_condition(text: str) -> Q | None:
    """The admin's history search as exact, indexed lookups (needs `.alias(email_lower=Lower("email"))`).

    An email: its lower-cased form. A phone: E.164 or as typed. Anything else: either system's id, and a run number
    when it is one ("1234", "#1234"). None when there is nothing to search for."""
    query = record_query_parse(text)
    if not query.text:
        return None
    if query.email:
        return Q(email_lower=query.email)
    condition = Q(ghl_id=query.text) | Q(streettext_id=query.text)
    if query.phones:
        condition |= Q(phone__in=query.phones)
    run_number = _RUN_NUMBER.match(query.text)
    if run_number:
        condition |= Q(run_id=int(run_number.group(1)))
    return condition


def link_search_condition(text: str) -> Q | None:
    """The admin's links search as indexed lookups (needs `.alias(email_lower=…, label_lower=…)`, both Lower):
    an email exactly (lower-cased), else either id exactly or a label by its first letters."""
    query = record_query_parse(text)
    if not query.text:
        return None
    if query.email:
        return Q(email_lower=query.email)
    low, high = _prefix_range(query.text.lower())
    return Q(ghl_id=query.text) | Q(streettext_id=query.text) | Q(label_lower__gte=low, label_lower__lt=high)


def _from_link(link: RecordLink) -> Found:
    return Found(
        system=System.GHL,
        record_id=link.ghl_id,
        label=link.label,
        email=link.email,
        object_type=link.object_type,
        ghl_id=link.ghl_id,
        streettext_id=link.streettext_id,
        linked=True,
    )


# ------------------------------------------------------------------------------
# One record's page
# ------------------------------------------------------------------------------
@dataclass
class Story:
    """One record: its links (usually one), both ids, its history rows across runs, what can be done now."""

    system: str
    record_id: str
    links: list[RecordLink] = field(default_factory=list)
    ghl_ids: set[str] = field(default_factory=set)
    streettext_ids: set[str] = field(default_factory=set)
    latest: RecordHistory | None = None
    timeline: Page[Any] | None = None
    # Mappings that can sync this record now, the one of its latest row first.
    mappings: list[Mapping] = field(default_factory=list)
    # Per mapping, its latest row when that row failed: what "Retry" re-runs.
    failed: list[RecordHistory] = field(default_factory=list)
    # When a run last wrote or checked this record (its link's state under any mapping, or a real history row).
    last_synced_at: datetime | None = None

    @property
    def link(self) -> RecordLink | None:
        return self.links[0] if self.links else None

    @property
    def label(self) -> str:
        link = self.link
        if link is not None and link.label:
            return link.label
        latest = self.latest
        return (link.email if link else "") or (latest.email or latest.phone if latest else "") or self.record_id

    @property
    def ghl_id(self) -> str:
        return next(iter(sorted(self.ghl_ids)), "")

    @property
    def streettext_id(self) -> str:
        return next(iter(sorted(self.streettext_ids)), "")

    @property
    def email(self) -> str:
        link = self.link
        return (link.email if link else "") or (self.latest.email if self.latest else "")

    @property
    def phone(self) -> str:
        return self.latest.phone if self.latest else ""


def record_history_for(*, ghl_ids: set[str], streettext_ids: set[str]) -> QuerySet[RecordHistory]:
    """Every history row naming one of these ids, newest first (two indexed lookups joined by OR)."""
    condition = Q(pk__in=[])
    if ghl_ids:
        condition |= Q(ghl_id__in=ghl_ids)
    if streettext_ids:
        condition |= Q(streettext_id__in=streettext_ids)
    return RecordHistory.objects.filter(condition).order_by("-created_at", "-id")


def record_story(*, system: str, record_id: str, page: Any = 1) -> Story:
    """The record named by a system and an id, with its pair, its paged timeline and the mappings that can sync it."""
    story = Story(system=system, record_id=record_id)
    id_field = "ghl_id" if system == System.GHL else "streettext_id"
    story.links = list(
        RecordLink.objects.filter(**{id_field: record_id})
        .select_related("ghl_connection", "streettext_connection")
        .order_by("-last_synced_at", "-pk")
    )
    (story.ghl_ids if system == System.GHL else story.streettext_ids).add(record_id)
    for link in story.links:
        story.ghl_ids.add(link.ghl_id)
        story.streettext_ids.add(link.streettext_id)
    history = record_history_for(ghl_ids=story.ghl_ids, streettext_ids=story.streettext_ids)
    if story.link is not None:
        # Only the rows of mappings of this record's type: a follow-up enrolling a contact (a notes mapping) names
        # the contact's id too, but its run and its Retry are the notes mapping's, not this contact's.
        history = history.filter(mapping__object_type=story.link.object_type)
    paginator = Paginator(history.select_related("run", "mapping"), TIMELINE_PAGE_SIZE)
    story.timeline = paginator.get_page(page)
    rows = list(story.timeline.object_list)
    if story.timeline.number == 1:
        story.latest = rows[0] if rows else None
    else:
        story.latest = history.select_related("run", "mapping").first()
    if not story.links and story.latest is not None:
        # Not linked (yet): the other id, if a row names one.
        other = story.latest.streettext_id if system == System.GHL else story.latest.ghl_id
        if other:
            (story.streettext_ids if system == System.GHL else story.ghl_ids).add(other)
    story.mappings, story.failed = _actions(story, history)
    story.last_synced_at = _last_synced(story, history)
    return story


def _last_synced(story: Story, history: QuerySet[RecordHistory]) -> datetime | None:
    """The link's creation time is only where it starts: every run that writes or checks the record updates its
    state under that mapping, and each real history row is a run that looked at it (two indexed queries)."""
    times = [link.last_synced_at for link in story.links if link.last_synced_at]
    if story.links:
        state = MappingRecordState.objects.filter(link__in=story.links).aggregate(newest=Max("synced_at"))["newest"]
        if state:
            times.append(state)
    row = (
        history.filter(dry_run=False)
        .exclude(action=RecordHistory.Action.FAILED)
        .values_list("created_at", flat=True)
        .first()
    )
    if row:
        times.append(row)
    return max(times) if times else None


def _actions(story: Story, history: QuerySet[RecordHistory]) -> tuple[list[Mapping], list[RecordHistory]]:
    # The latest real (not dry-run) row per mapping, in one query: Retry is offered where that row failed.
    latest_per_mapping: dict[int, RecordHistory] = {}
    for row in history.filter(dry_run=False).select_related("mapping", "run")[:200]:
        latest_per_mapping.setdefault(row.mapping_id, row)
    failed = [row for row in latest_per_mapping.values() if row.action == RecordHistory.Action.FAILED]
    candidates = Q(pk__in=list(latest_per_mapping))
    if story.link is not None:
        candidates = Q(pk__in=list(latest_per_mapping), object_type=story.link.object_type)
    for link in story.links:
        candidates |= Q(
            ghl_connection_id=link.ghl_connection_id,
            streettext_connection_id=link.streettext_connection_id,
            object_type=link.object_type,
        )
    mappings = list(Mapping.objects.filter(candidates).select_related("ghl_connection", "streettext_connection"))
    first = story.latest.mapping_id if story.latest is not None else None
    mappings.sort(key=lambda m: (m.pk != first, not m.enabled, m.name.lower()))
    return mappings, failed
