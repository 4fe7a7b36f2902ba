"""A model-based check of the sync engine: Hypothesis generates sequences of edits (by a person, on either side),
mapping edits and runs, the real engine carries out each run against the sandbox over real HTTP, and after every step
named invariants are checked against what the model remembers (which values a person set, which mapping last synced
which pair and when, which links existed).

Used by tests/integrations/test_model_based.py (a few hundred steps on every test run) and by `manage.py model_check`
(the long mode, thousands of sequences). The product never imports it: it lives in the sandbox app.

The sandbox's behaviour is a parameter (`SandboxMode`): "plain" is the sandbox as it answers today; another mode
(e.g. latency and GHL's documented search deviations) only needs an entry in SANDBOX_MODES.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from unittest import mock

from django.conf import settings
from django_celery_beat.models import PeriodicTask
from hypothesis import note as hypothesis_note
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from integrations.clients.exceptions import ApiError
from integrations.models import (
    Connection,
    FollowupMarker,
    MappingRecordState,
    PendingCreate,
    RecordHistory,
    RecordLink,
    SyncCursor,
    SyncRun,
    System,
)
from integrations.services.records import record_sync_request
from integrations.services.runs import SyncRequestRefused, sync_run_request, sync_run_request_resync
from integrations.services.sync import sync_run_execute
from integrations.services.sync.context import fields_read
from mappings.models import Direction, FieldMapping, Mapping
from mappings.presets import CALLBACK_FOLLOWUP, NEW_LEAD_FOLLOWUP, NOTE_FOLLOWUP, PRESETS, preset_create
from mappings.services import mapping_create_with_defaults, mapping_save
from sandbox import ghl as sandbox_ghl
from sandbox import ratelimit
from sandbox import services as sandbox
from sandbox import streettext as sandbox_streettext
from sandbox.connections import sandbox_connection
from sandbox.models import SandboxAccount, SandboxRecord

GHL, ST = System.GHL.value, System.STREETTEXT.value
LOCATION = "loc-model"
GHL_TOKEN = "ghl-token-model"  # noqa: S105 - a sandbox token
ST_KEY = "st-key-model"
ST_WORKSPACE = "ws_model"

# Settings every check runs with: small pages (a handful of records still spans several), no waiting, and every
# unchanged record written as a row, so "one row per record per run and direction" is visible in the history.
MACHINE_SETTINGS: dict[str, Any] = {
    "SYNC_PAGE_SIZE": 2,
    "SYNC_HISTORY_KEEP_UNCHANGED": True,
    "SANDBOX_RATE_LIMIT": 100_000,
    "SANDBOX_STREETTEXT_RATE_LIMIT": 100_000,
    "API_BACKOFF_FACTOR": 0,
    "API_TRANSPORT_RETRIES": 0,
    "SYNC_CHILD_RESCAN_HOURS": 0,
    "SYNC_TASK_RESCAN_HOURS": 0,
    "SYNC_CREATE_IN_DOUBT_WAIT_SECONDS": 0,
}


@dataclass(frozen=True)
class SandboxMode:
    """How the sandbox behaves during a check. `prepare` runs after the accounts exist (e.g. to switch on latency or
    search-shaped answers); `settings` are applied for the whole check."""

    name: str
    prepare: Callable[[], None] = lambda: None
    settings: dict[str, Any] = field(default_factory=dict)


def _live() -> None:
    """The location as live GHL behaves (sandbox/live.py): GHL's own limits and every documented deviation (search's
    `address` and epoch dateOfBirth, a 422 that still created, additionalEmails refused, a blind phone filter), with
    a short latency so a sequence stays quick."""
    sandbox.sandbox_set_live(location=LOCATION, latency=(0.002, 0.01))


SANDBOX_MODES: dict[str, SandboxMode] = {
    # The ideal API, with limits no sequence reaches: the app's own rate governor (which would keep each sequence to
    # GHL's 100 requests per 10 s, about 40 % of a plain check's time) is off. Live mode keeps it, as in production.
    "plain": SandboxMode("plain", settings={"RATE_LIMIT_BACKEND": "off"}),
    "live": SandboxMode("live", prepare=_live),
}


def note(text: str) -> None:
    """A line of the printed replay (outside Hypothesis, e.g. a directed test calling the rules: nothing)."""
    with suppress(InvalidArgument):
        hypothesis_note(text)


class InvariantViolation(AssertionError):
    """One broken invariant: its name and what was seen."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"[{name}] {message}")
        self.name = name


# ----------------------------------------------------------------------------------------------------------------
# Values: compared as values (datetimes as instants, tags as sets, empty as empty), never as their text
# ----------------------------------------------------------------------------------------------------------------
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def instant(value: Any) -> datetime | None:
    if isinstance(value, str) and _ISO.match(value.strip()):
        return sandbox.parse_time(value)
    return None


def as_value(value: Any) -> Any:
    if value in (None, "", [], {}):
        return None
    moment = instant(value)
    if moment is not None:
        return ("instant", moment)
    if isinstance(value, list):
        return ("set", tuple(sorted({str(v).strip().lower() for v in value})))
    return value


def flat(data: dict[str, Any]) -> dict[str, Any]:
    """A record's fields by the names field mappings use (custom fields as custom.<key> / customFields.<id>)."""
    values = {k: v for k, v in data.items() if k not in ("custom", "customFields")}
    for key, value in (data.get("custom") or {}).items():
        values[f"custom.{key}"] = value
    for item in data.get("customFields") or []:
        if isinstance(item, dict) and item.get("id"):
            values[f"customFields.{item['id']}"] = item.get("value")
    return values


def tags_of(values: dict[str, Any]) -> set[str]:
    return {str(t).strip().lower() for t in values.get("tags") or [] if str(t).strip()}


# ----------------------------------------------------------------------------------------------------------------
# Snapshots of both sandbox accounts
# ----------------------------------------------------------------------------------------------------------------
Key = tuple[str, str, str]  # (system, object type, sandbox record id)


@dataclass(frozen=True)
class Rec:
    data: dict[str, Any]
    updated_at: datetime
    created_at: datetime
    deleted: bool

    @property
    def values(self) -> dict[str, Any]:
        return flat(self.data)


def snapshot() -> dict[Key, Rec]:
    rows = SandboxRecord.objects.filter(account__account_id__in=(LOCATION, ST_WORKSPACE)).values_list(
        "account__system", "object_type", "record_id", "data", "updated_at", "created_at", "deleted"
    )
    return {(s, t, i): Rec(d, u, c, x) for s, t, i, d, u, c, x in rows}


def live(snap: dict[Key, Rec], system: str, object_type: str) -> dict[str, Rec]:
    return {k[2]: r for k, r in snap.items() if k[0] == system and k[1] == object_type and not r.deleted}


def sandbox_id(system: str, link_id: str) -> str:
    """GHL task and note ids in links are "<contactId>/<id>"; the sandbox stores the last part."""
    return link_id.rsplit("/", 1)[-1] if system == GHL else link_id


@dataclass(frozen=True)
class Pair:
    object_type: str
    ghl: str  # sandbox ids
    streettext: str
    origin: str

    def id_on(self, system: str) -> str:
        return self.ghl if system == GHL else self.streettext


def pairs() -> dict[tuple[str, str, str], Pair]:
    result = {}
    for t, g, s, origin in RecordLink.objects.values_list("object_type", "ghl_id", "streettext_id", "origin"):
        pair = Pair(t, sandbox_id(GHL, g), s, origin)
        result[(t, pair.ghl, pair.streettext)] = pair
    return result


def partner_index(links: dict[tuple[str, str, str], Pair]) -> dict[Key, Key]:
    index: dict[Key, Key] = {}
    for pair in links.values():
        index[(GHL, pair.object_type, pair.ghl)] = (ST, pair.object_type, pair.streettext)
        index[(ST, pair.object_type, pair.streettext)] = (GHL, pair.object_type, pair.ghl)
    return index


# ----------------------------------------------------------------------------------------------------------------
# The world: two sandbox accounts with a handful of records, two connections, every preset and a few more mappings
# ----------------------------------------------------------------------------------------------------------------
MAPPING_KEYS = (
    "two_way",
    "p1_enrich",
    "p2_tasks_to_st",
    "p3_notes_to_st",
    "lead_score",
    "followups_contacts",
    "followups_notes",
    "hist_notes",
    "hist_tasks",
    "hist_appointments",
    "opportunities",
    "notes_to_ghl",
    "tasks_to_ghl",
)
CONTACT_MAPPINGS = ("two_way", "two_way", "p1_enrich", "lead_score", "followups_contacts")
NOTE_MAPPINGS = ("notes_to_ghl", "p3_notes_to_st", "hist_notes", "followups_notes", "two_way")
TASK_MAPPINGS = ("tasks_to_ghl", "p2_tasks_to_st", "hist_tasks", "two_way")
OTHER_MAPPINGS = ("hist_appointments", "opportunities", "followups_contacts", "lead_score")
MAPPINGS_OF = {"contact": CONTACT_MAPPINGS, "note": NOTE_MAPPINGS, "task": TASK_MAPPINGS, "other": OTHER_MAPPINGS}
RUN_KINDS = ("scheduled", "manual", "webhook", "resync", "dry_run", "one_record")
# What the rules may touch: one kind of record, or everything.
FOCUS = {
    "contacts": frozenset({"contact"}),
    "notes": frozenset({"note"}),
    "tasks": frozenset({"task"}),
    "everything": frozenset({"contact", "note", "task", "other"}),
}
# "<mapping>: upper on <direction> <target field>": add `upper` to that field mapping's transforms, or take it off.
TRANSFORM_EDITS = (
    "two_way: upper on to_streettext last_name",
    "two_way: upper on to_streettext first_name",
    "two_way: upper on to_ghl lastName",
    "p1_enrich: upper on to_streettext last_name",
    "p3_notes_to_st: upper on to_streettext title",
    "notes_to_ghl: upper on to_ghl body",
)
# "<mapping>: <change>".
MAPPING_EDITS = (
    "two_way: direction both",
    "two_way: direction to_streettext",
    "two_way: direction to_ghl",
    "two_way: conflict ghl_wins",
    "two_way: conflict streettext_wins",
    "two_way: conflict newest_wins",
    "two_way: only vip",
    "two_way: every record",
    "p1_enrich: only vip",
    "p1_enrich: every record",
    "two_way: delete policy delete",
    "two_way: delete policy ignore",
    "two_way: delete policy unlink",
    "notes_to_ghl: delete policy delete",
    "tasks_to_ghl: delete policy delete",
    "p3_notes_to_st: delete policy delete",
    "two_way: overwrite tags on",
    "two_way: overwrite tags off",
)
BASE = datetime(2025, 12, 19, 9, 0, 0, 123000, tzinfo=UTC)
FIRST_NAMES = ("Ava", "Liam", "Mia", "Noah", "Zara")
LAST_NAMES = ("Kim", "Garcia", "Okafor", "Rossi", "Young")


def world_wipe() -> None:
    """Every mapping, link, run and sandbox record of an earlier sequence goes (the check owns its database)."""
    # In bulk (one delete of every mapping and what hangs off it, then their schedules): one by one through
    # mapping_delete took 0.4 s of each sequence.
    schedules = list(Mapping.objects.exclude(periodic_task=None).values_list("periodic_task_id", flat=True))
    Mapping.objects.all().delete()
    PeriodicTask.objects.filter(pk__in=schedules).delete()
    for model in (RecordLink, SyncCursor, FollowupMarker, PendingCreate, MappingRecordState):
        model.objects.all().delete()
    Connection.objects.all().delete()
    sandbox.sandbox_reset(accounts=True)
    ratelimit.rate_limit_reset()


def _connections(base_url: str) -> tuple[Connection, Connection]:
    ghl = sandbox_connection(
        system=System.GHL, name="GHL model", base_url=base_url, secret=GHL_TOKEN, location_id=LOCATION
    )
    streettext = sandbox_connection(system=System.STREETTEXT, name="StreetText model", base_url=base_url, secret=ST_KEY)
    return ghl, streettext


def _one_way(
    name: str, object_type: str, ghl: Connection, streettext: Connection, fields: list[tuple[str, str]]
) -> Mapping:
    mapping = Mapping(
        name=name,
        object_type=object_type,
        ghl_connection=ghl,
        streettext_connection=streettext,
        direction=Direction.TO_GHL,
        match_rules=["link"],
    )
    mapping_save(mapping=mapping)
    for position, (target, source) in enumerate(fields):
        FieldMapping.objects.create(
            mapping=mapping, direction=Direction.TO_GHL, target_field=target, source=source, position=position
        )
    return mapping


def mappings_create(ghl: Connection, streettext: Connection) -> dict[str, Mapping]:
    """The two-way contacts mapping, every preset, and the opposite one-way note and task mappings."""
    made: dict[str, Mapping] = {
        "two_way": mapping_create_with_defaults(
            name="Contacts both ways", ghl_connection=ghl, streettext_connection=streettext, direction=Direction.BOTH
        )
    }
    by_preset = {key: preset_create(key=key, ghl=ghl, streettext=streettext) for key in PRESETS}
    made["p1_enrich"] = by_preset["contact_data_sync"][0]
    made["p2_tasks_to_st"] = by_preset["task_orchestration"][0]
    made["p3_notes_to_st"] = by_preset["notes_history"][0]
    made["lead_score"] = by_preset["lead_qualification"][0]
    made["followups_contacts"], made["followups_notes"] = by_preset["automated_followups"]
    made["hist_notes"], made["hist_tasks"], made["hist_appointments"] = by_preset["historical_enrichment"]
    made["opportunities"] = by_preset["opportunities"][0]
    made["notes_to_ghl"] = _one_way(
        "Notes StreetText → GHL", "note", ghl, streettext, [("body", "body"), ("title", "title")]
    )
    made["tasks_to_ghl"] = _one_way(
        "Tasks StreetText → GHL",
        "task",
        ghl,
        streettext,
        [("title", "title"), ("body", "body"), ("dueDate", "due_at"), ("completed", "completed")],
    )
    assert set(made) == set(MAPPING_KEYS)
    return made


# ----------------------------------------------------------------------------------------------------------------
# The model: what a person did, what each mapping last synced
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class Known:
    """The values of a pair at the end of the last run of one mapping that synced it."""

    step: int
    values: dict[str, dict[str, Any]]  # system -> flat values
    # Per direction, the configuration digest the engine stored for the pair (MappingRecordState.configs) and the
    # step it took that value: the last time the pair was synced in that direction with that direction's field
    # mappings as they were then. A run that writes the pair in one direction leaves the other's as it was.
    configs: dict[str, str] = field(default_factory=dict)
    config_steps: dict[str, int] = field(default_factory=dict)


@dataclass
class Model:
    step: int = 0
    serial: int = 0
    # Records a person created (originals), with the instants a person set on them (timestamps an original keeps).
    originals: set[Key] = field(default_factory=set)
    person_instants: dict[Key, set[datetime]] = field(default_factory=dict)
    # (mapping pk, object type, ghl id, streettext id) -> the pair's values when that mapping last synced it.
    known: dict[tuple[int, str, str, str], Known] = field(default_factory=dict)
    # (mapping pk, direction) -> the step its field mappings for that direction last changed.
    config_changed: dict[tuple[int, str], int] = field(default_factory=dict)
    # Every pairing ever seen: it may only go when one of its records is gone.
    pairs_seen: set[tuple[str, str, str]] = field(default_factory=set)
    runs: int = 0


class SyncModelMachine(RuleBasedStateMachine):
    """Edits, mapping edits and runs in any order; invariants after every step. Configure with `configure`."""

    base_url = ""
    mode: SandboxMode = SANDBOX_MODES["plain"]

    # Invariants only noted, not failed (to look past a known defect); a focus every sequence uses (else drawn).
    ignored: frozenset[str] = frozenset()
    forced_focus = ""
    # Sequences started and steps checked by this process (the long mode and the test report them).
    sequences = 0
    steps = 0

    @classmethod
    def configure(
        cls, *, base_url: str, mode: str = "plain", ignored: frozenset[str] = frozenset(), focus: str = ""
    ) -> type[SyncModelMachine]:
        if focus and focus not in FOCUS:
            raise ValueError(f"unknown focus {focus!r}; use one of {sorted(FOCUS)}")
        attributes = {"base_url": base_url, "mode": SANDBOX_MODES[mode], "ignored": ignored, "forced_focus": focus}
        return type("SyncModel", (cls,), attributes)

    def __init__(self) -> None:
        super().__init__()
        self.model = Model()
        self.mappings: dict[str, Mapping] = {}
        self.focus: frozenset[str] = FOCUS["everything"]

    # -- setup ---------------------------------------------------------------------------------------------------
    @initialize(focus=st.sampled_from(list(FOCUS)), warm=st.booleans())
    def build_world(self, focus: str, warm: bool) -> None:
        """Fresh accounts and mappings. `focus` narrows the rules to one kind of record (or none: everything), so
        short sequences reach deep states; `warm` starts from a first run of the two-way mapping (linked contacts)."""
        SyncModelMachine.sequences += 1
        if self.forced_focus and self.forced_focus != focus:
            note(f"focus {self.forced_focus} (forced; drawn: {focus})")
            focus = self.forced_focus
        self.focus = FOCUS[focus]
        world_wipe()
        self.ghl_account = sandbox.sandbox_account_create(
            system=GHL, account_id=LOCATION, secret=GHL_TOKEN, name="Model location"
        )
        self.st_account = sandbox.sandbox_account_create(
            system=ST, account_id=ST_WORKSPACE, secret=ST_KEY, name="Model workspace"
        )
        self.mode.prepare()
        # Two people on both sides (matched by email), one GHL-only, one StreetText-only; a note and a task each side.
        # Four people on both sides (matched by email; two StreetText last names differ, so enrich and the two-way
        # mapping have work), one GHL-only, one StreetText-only; a note and a task on each side.
        people = [
            ("Ava", "Kim", ["vip"], "Kim"),
            ("Liam", "Garcia", ["lead"], "Garcya"),
            ("Zara", "Young", [], "Yung"),
            ("Noah", "Rossi", ["callback"], "Rossi"),
            ("Mia", "Okafor", [], None),
            ("Owen", "Smith", [], "only-streettext"),
        ]
        ghl_ids, st_ids = [], []
        for n, (first, last, tags, st_last) in enumerate(people):
            email, phone = f"p{n}@example.com", f"+1415555{n:04d}"
            if st_last != "only-streettext":
                ghl_ids.append(self._create_contact(GHL, first, last, tags, email=email, phone=phone))
            if st_last is not None:
                last_name = last if st_last == "only-streettext" else st_last
                st_ids.append(self._create_contact(ST, first, last_name, [*tags, "st-only"], email=email, phone=phone))
        self._create_note(GHL, ghl_ids[0], "Met at the trade show.")
        self._create_note(ST, st_ids[0], "Asked about the spring promo.", written_at=BASE)
        self._create_task(GHL, ghl_ids[1], "Send quote", due=BASE + timedelta(days=3))
        self._create_task(ST, st_ids[0], "Call back", due=BASE + timedelta(days=5))
        ghl, streettext = _connections(self.base_url)
        self.mappings = mappings_create(ghl, streettext)
        note(f"world: sandbox mode {self.mode.name}; mappings {', '.join(self.mappings)}")
        if warm:
            self._run("two_way", "manual", 0)

    # -- helpers: a person's writes (through the sandbox's store, as the APIs store them) --------------------------
    def _account(self, system: str) -> SandboxAccount:
        return self.ghl_account if system == GHL else self.st_account

    def _next(self) -> int:
        self.model.serial += 1
        return self.model.serial

    def _mark_original(self, key: Key, *instants: datetime | None) -> None:
        self.model.originals.add(key)
        self.model.person_instants.setdefault(key, set()).update(i for i in instants if i is not None)

    def _create_contact(
        self, system: str, first: str, last: str, tags: list[str], *, email: str = "", phone: str = ""
    ) -> str:
        n = self._next()
        email = email or f"person{n}@example.com"
        phone = phone or f"+1415666{n:04d}"
        data: dict[str, Any]
        if system == GHL:
            data = {"firstName": first, "lastName": last, "email": email, "phone": phone, "tags": sorted(tags)}
            data.update({"companyName": None, "source": "model", "customFields": [], "dnd": False})
        else:
            data = {"first_name": first, "last_name": last, "email": email, "phone": phone, "tags": sorted(tags)}
            data.update({"company": None, "custom": {}, "opted_out": False, "external_id": None})
        record = sandbox.sandbox_record_put(account=self._account(system), object_type="contact", data=data)
        self._mark_original((system, "contact", record.record_id))
        return record.record_id

    def _create_note(self, system: str, contact_id: str, text: str, *, written_at: datetime | None = None) -> str:
        body = f"[n{self._next()}] {text}"
        data: dict[str, Any]
        if system == GHL:
            data = {"body": body, "userId": None, "title": None, "color": None, "pinned": False}
            data["contactId"] = contact_id
            record = sandbox.sandbox_record_put(account=self.ghl_account, object_type="note", data=data)
            self._mark_original((GHL, "note", record.record_id), record.created_at)
        else:
            moment = written_at or sandbox.now_ms()
            data = {"contact_id": contact_id, "body": body, "title": None, "author": None}
            data["written_at"] = sandbox.to_iso(moment)
            record = sandbox.sandbox_record_put(account=self.st_account, object_type="note", data=data)
            self._mark_original((ST, "note", record.record_id), moment)
        return record.record_id

    def _create_task(self, system: str, contact_id: str, text: str, *, due: datetime) -> str:
        title = f"[t{self._next()}] {text}"
        data: dict[str, Any]
        if system == GHL:
            data = {"title": title, "body": None, "assignedTo": None, "dueDate": sandbox.to_iso(due)}
            data.update({"completed": False, "contactId": contact_id})
        else:
            data = {"contact_id": contact_id, "title": title, "body": None, "due_at": sandbox.to_iso(due)}
            data.update({"completed": False, "assignee": None})
        record = sandbox.sandbox_record_put(account=self._account(system), object_type="task", data=data)
        self._mark_original((system, "task", record.record_id), due)
        return record.record_id

    def _pick(self, system: str, object_type: str, pick: int) -> SandboxRecord | None:
        records = list(
            SandboxRecord.objects.filter(account=self._account(system), object_type=object_type, deleted=False)
            .order_by("pk")  # creation order: the same records on every replay (ids are random)
            .only("record_id", "data", "created_at", "updated_at", "account", "object_type")
        )
        return records[pick % len(records)] if records else None

    def _put(self, record: SandboxRecord, data: dict[str, Any]) -> None:
        sandbox.sandbox_record_put(
            account=self._account(record.account.system),
            object_type=record.object_type,
            data=data,
            record_id=record.record_id,
            existing=record,
        )

    def _step(self) -> None:
        self.model.step += 1

    # -- rules: a person edits records ---------------------------------------------------------------------------
    @precondition(lambda self: "contact" in self.focus)
    @rule(
        side=st.sampled_from([GHL, ST]),
        pick=st.integers(0, 9),
        field=st.sampled_from(["first name", "last name", "company"]),
        value=st.sampled_from(["Lee", "Kim", "Acme Corp", "o'brien", None]),
    )
    def person_edits_contact(self, side: str, pick: int, field: str, value: str | None) -> None:
        self._step()
        record = self._pick(side, "contact", pick)
        if record is None:
            return
        names = {
            GHL: {"first name": "firstName", "last name": "lastName", "company": "companyName"},
            ST: {"first name": "first_name", "last name": "last_name", "company": "company"},
        }
        name = names[side][field]
        note(f"  {side} contact {record.record_id}: {name} {record.data.get(name)!r} → {value!r}")
        self._put(record, {**record.data, name: value})

    @precondition(lambda self: "contact" in self.focus)
    @rule(
        side=st.sampled_from([GHL, ST]),
        pick=st.integers(0, 9),
        tag=st.sampled_from(["vip", "callback", "lead", "only-here"]),
        add=st.booleans(),
    )
    def person_tags_contact(self, side: str, pick: int, tag: str, add: bool) -> None:
        self._step()
        record = self._pick(side, "contact", pick)
        if record is None:
            return
        tags = set(record.data.get("tags") or [])
        tags = tags | {tag} if add else tags - {tag}
        note(f"  {side} contact {record.record_id}: tags {sorted(record.data.get('tags') or [])} → {sorted(tags)}")
        self._put(record, {**record.data, "tags": sorted(tags)})

    @rule(side=st.sampled_from([GHL, ST, "both"]), first=st.sampled_from(FIRST_NAMES), tag=st.sampled_from(["", "vip"]))
    def person_creates_contact(self, side: str, first: str, tag: str) -> None:
        self._step()
        tags = [tag] if tag else []
        email = f"new{self._next()}@example.com"
        for system in (GHL, ST) if side == "both" else (side,):
            record_id = self._create_contact(
                system, first, "Young", tags, email=email, phone=f"+1415777{self._next():04d}"
            )
            note(f"  {system} contact {record_id} created: {first} Young <{email}> {tags}")

    @rule(side=st.sampled_from([GHL, ST]), pick=st.integers(0, 9))
    def person_deletes_contact(self, side: str, pick: int) -> None:
        self._step()
        record = self._pick(side, "contact", pick)
        if record is None:
            return
        note(f"  {side} contact {record.record_id} deleted (with its notes and tasks)")
        sandbox.sandbox_record_delete(record=record)
        children = sandbox_ghl.CONTACT_CHILD_TYPES if side == GHL else sandbox_streettext.CONTACT_CHILD_TYPES
        sandbox.sandbox_records_delete_for_contact(
            account=record.account,
            object_types=children,
            contact_field="contactId" if side == GHL else "contact_id",
            contact_id=record.record_id,
        )

    @precondition(lambda self: "note" in self.focus)
    @rule(
        side=st.sampled_from([GHL, ST]),
        pick=st.integers(0, 9),
        text=st.sampled_from(["Asked about pricing.", "Prefers texts.", "Please call back."]),
        days_ago=st.sampled_from([0, 3, 40]),
    )
    def person_adds_note(self, side: str, pick: int, text: str, days_ago: int) -> None:
        self._step()
        contact = self._pick(side, "contact", pick)
        if contact is None:
            return
        written = sandbox.now_ms() - timedelta(days=days_ago)
        record_id = self._create_note(side, contact.record_id, text, written_at=written)
        note(f"  {side} note {record_id} added to contact {contact.record_id}: {text!r}")

    @precondition(lambda self: "note" in self.focus)
    @rule(side=st.sampled_from([GHL, ST]), pick=st.integers(0, 9), text=st.sampled_from(["edited", "asked about it"]))
    def person_edits_note(self, side: str, pick: int, text: str) -> None:
        self._step()
        record = self._pick(side, "note", pick)
        if record is None:
            return
        token = str(record.data.get("body") or "").split("]", 1)[0] + "]"
        note(f"  {side} note {record.record_id}: body → {token} {text}")
        self._put(record, {**record.data, "body": f"{token} {text}"})

    @precondition(lambda self: "task" in self.focus)
    @rule(
        side=st.sampled_from([GHL, ST]),
        pick=st.integers(0, 9),
        due_in_days=st.sampled_from([1, 7]),
        style=st.sampled_from(["Z", "+00:00", "-05:00"]),
    )
    def person_adds_task(self, side: str, pick: int, due_in_days: int, style: str) -> None:
        self._step()
        contact = self._pick(side, "contact", pick)
        if contact is None:
            return
        due = BASE + timedelta(days=due_in_days)
        record_id = self._create_task(side, contact.record_id, "Follow up", due=due)
        record = SandboxRecord.objects.get(account=self._account(side), object_type="task", record_id=record_id)
        # The same instant in the format the person's tool wrote: an original keeps it as written.
        text = {"Z": sandbox.to_iso(due), "+00:00": due.isoformat(), "-05:00": due.astimezone(EST).isoformat()}[style]
        name = "dueDate" if side == GHL else "due_at"
        self._put(record, {**record.data, name: text})
        note(f"  {side} task {record_id} added to contact {contact.record_id}: due {text}")

    @precondition(lambda self: "task" in self.focus)
    @rule(
        side=st.sampled_from([GHL, ST]),
        pick=st.integers(0, 9),
        change=st.sampled_from(["completed", "reopened", "due later", "title"]),
    )
    def person_edits_task(self, side: str, pick: int, change: str) -> None:
        self._step()
        record = self._pick(side, "task", pick)
        if record is None:
            return
        data = dict(record.data)
        due_name = "dueDate" if side == GHL else "due_at"
        if change in ("completed", "reopened"):
            data["completed"] = change == "completed"
        elif change == "due later":
            due = (instant(data.get(due_name)) or BASE) + timedelta(days=1)
            data[due_name] = sandbox.to_iso(due)
            self.model.person_instants.setdefault((side, "task", record.record_id), set()).add(due)
        else:
            data["title"] = str(data.get("title") or "").split("]", 1)[0] + "] Renamed"
        note(f"  {side} task {record.record_id}: {change}")
        self._put(record, data)

    # -- rules: a person edits mappings (through the services the admin uses) ------------------------------------
    TRANSFORM_TARGETS = (
        ("two_way", Direction.TO_STREETTEXT, "last_name"),
        ("two_way", Direction.TO_STREETTEXT, "first_name"),
        ("two_way", Direction.TO_GHL, "lastName"),
        ("two_way", Direction.TO_GHL, "firstName"),
        ("p1_enrich", Direction.TO_STREETTEXT, "last_name"),
        ("p3_notes_to_st", Direction.TO_STREETTEXT, "title"),
        ("notes_to_ghl", Direction.TO_GHL, "title"),
    )

    @rule(change=st.sampled_from(TRANSFORM_EDITS), dry_run_first=st.booleans())
    def edit_transform_then_resync(self, change: str, dry_run_first: bool) -> None:
        """What the mapping page offers after an edit: a dry run of the re-sync, then "Re-sync linked records"."""
        self.edit_mapping(change)
        key = change.split(": ", 1)[0]
        if dry_run_first:
            self._run(key, "dry_run_resync", 0)
        self._run(key, "resync", 0)

    @precondition(lambda self: "other" in self.focus)
    @rule(reverse=st.booleans())
    def run_every_schedule(self, reverse: bool) -> None:
        """Every mapping's schedule fires once (what beat does within 15 minutes), in one order or the other."""
        for key in reversed(MAPPING_KEYS) if reverse else MAPPING_KEYS:
            self._run(key, "scheduled", 0)

    @rule(change=st.sampled_from(TRANSFORM_EDITS + MAPPING_EDITS))
    def edit_mapping(self, change: str) -> None:
        """A person edits a mapping: "<mapping>: <what>" (see MAPPING_EDITS)."""
        self._step()
        key, what = change.split(": ", 1)
        mapping = self._mapping(key)
        words = what.split()
        if words[0] == "upper":  # "upper on <direction> <target field>": add it, or take it off again
            direction, target_field = words[2], words[3]
            fm = FieldMapping.objects.filter(mapping=mapping, direction=direction, target_field=target_field).first()
            if fm is None:
                return
            upper = {"name": "upper", "params": {}}
            chain = list(fm.transforms or [])
            fm.transforms = [s for s in chain if s.get("name") != "upper"] if upper in chain else [*chain, upper]
            fm.save()
            mapping_save(mapping=mapping)
            self.model.config_changed[(mapping.pk, direction)] = self.model.step
            note(f"  {key} {direction} {target_field}: transforms → {[s['name'] for s in fm.transforms]}")
        elif words[0] == "direction":
            self._edit(key, direction=words[1])
            self._config_changed(key)
        elif words[0] == "conflict":
            self._edit(key, conflict_policy=words[1])
        elif words[0] == "only":
            self._edit(key, record_filter={"field": "tags", "op": "contains", "value": "vip"})
            self._config_changed(key)
        elif words[0] == "every":
            self._edit(key, record_filter={})
            self._config_changed(key)
        elif words[0] == "delete":
            self._edit(key, delete_policy=words[-1])
        elif words[0] == "overwrite":
            self._edit(key, overwrite_tags=words[-1] == "on")
            self._config_changed(key)
        else:  # pragma: no cover - MAPPING_EDITS and this rule go together
            raise ValueError(change)

    def _mapping(self, key: str) -> Mapping:
        return Mapping.objects.get(pk=self.mappings[key].pk)

    def _edit(self, key: str, **changes: Any) -> None:
        mapping = self._mapping(key)
        for name, value in changes.items():
            setattr(mapping, name, value)
        mapping_save(mapping=mapping)
        note(f"  {key}: {changes}")

    def _config_changed(self, key: str) -> None:
        for direction in (Direction.TO_STREETTEXT, Direction.TO_GHL):
            self.model.config_changed[(self.mappings[key].pk, direction)] = self.model.step

    # -- rules: runs ---------------------------------------------------------------------------------------------
    @precondition(lambda self: "contact" in self.focus)
    @rule(key=st.sampled_from(CONTACT_MAPPINGS), kind=st.sampled_from(RUN_KINDS), pick=st.integers(0, 9))
    def run_contact_mapping(self, key: str, kind: str, pick: int) -> None:
        self._run(key, kind, pick)

    @precondition(lambda self: "note" in self.focus)
    @rule(key=st.sampled_from(NOTE_MAPPINGS), kind=st.sampled_from(RUN_KINDS), pick=st.integers(0, 9))
    def run_note_mapping(self, key: str, kind: str, pick: int) -> None:
        self._run(key, kind, pick)

    @precondition(lambda self: "task" in self.focus)
    @rule(key=st.sampled_from(TASK_MAPPINGS), kind=st.sampled_from(RUN_KINDS), pick=st.integers(0, 9))
    def run_task_mapping(self, key: str, kind: str, pick: int) -> None:
        self._run(key, kind, pick)

    @precondition(lambda self: "other" in self.focus)
    @rule(key=st.sampled_from(OTHER_MAPPINGS), kind=st.sampled_from(RUN_KINDS), pick=st.integers(0, 9))
    def run_other_mapping(self, key: str, kind: str, pick: int) -> None:
        self._run(key, kind, pick)

    @rule(pick=st.integers(0, 19), system=st.sampled_from([GHL, ST]), skip=st.sampled_from([0, 1, 1, 2, 3, 5, 8]))
    def run_with_an_unanswered_write(self, pick: int, system: str, skip: int) -> None:
        """A manual run one of whose POSTs (a create, an upsert, a search, a follow-up task) the API carries out but a
        gateway answers 504: the run is handed back and taken again, as the task's retry would, until it ends."""
        keys = [key for kind in sorted(self.focus) for key in MAPPINGS_OF[kind]]
        self._run(keys[pick % len(keys)], "manual", 0, unanswered=(system, skip))

    def _run(self, key: str, kind: str, pick: int, *, unanswered: tuple[str, int] | None = None) -> None:
        self._step()
        mapping = self._mapping(key)
        before, links_before = snapshot(), pairs()
        run = self._request(mapping, kind, pick)
        if run is None:
            return
        if unanswered is None:
            sync_run_execute(run_id=run.pk)
        else:
            system, skip = unanswered
            note(f"  the POST after {skip} to {system} is made but answered 504")
            sandbox.sandbox_fault_add(system=system, kind="status_after", status=504, method="POST", skip=skip)
            try:
                for _ in range(4):
                    try:
                        sync_run_execute(run_id=run.pk)
                    except ApiError as e:
                        note(f"  handed back for a retry: {e}")
                    run.refresh_from_db()
                    if run.status not in SyncRun.ACTIVE_STATUSES:
                        break
            finally:
                sandbox.sandbox_fault_clear()
        run.refresh_from_db()
        self.model.runs += 1
        after, links_after = snapshot(), pairs()
        note(
            f"  run #{run.pk} of {key} ({kind}, scope {run.scope}, ids {run.only_ids or '-'}): {run.status}, "
            f"created {run.created} updated {run.updated} skipped {run.skipped} failed {run.failed} "
            f"deleted {run.deleted}"
        )
        check = RunCheck(self.model, mapping, run, before, after, links_before, links_after)
        for violation in check.all(ignored=self.ignored):
            note(f"  (ignored) {violation}")
        self._remember(mapping, run, after, links_after)

    def _request(self, mapping: Mapping, kind: str, pick: int) -> SyncRun | None:
        """The run as the product asks for it (its services), its task message kept from the broker: the check
        executes it in-process."""
        reads = [
            GHL if (d == Direction.TO_STREETTEXT) != (mapping.mode == Mapping.Mode.ENRICH) else ST
            for d in mapping.directions
        ]
        try:
            with mock.patch("integrations.enqueue.run_sync"):
                if kind in ("scheduled", "manual", "dry_run"):
                    trigger = SyncRun.Trigger.SCHEDULE if kind == "scheduled" else SyncRun.Trigger.MANUAL
                    return sync_run_request(mapping=mapping, trigger=trigger, dry_run=kind == "dry_run")
                if kind in ("resync", "dry_run_resync"):
                    return sync_run_request_resync(mapping=mapping, dry_run=kind == "dry_run_resync")
                ids = self._ids_for(mapping, pick)
                if kind == "webhook":
                    # A webhook names the record of the side it came from (GHL's, when the mapping reads GHL).
                    system = GHL if GHL in reads or mapping.mode == Mapping.Mode.ENRICH else ST
                    if not ids.get(system):
                        return None
                    return sync_run_request(
                        mapping=mapping, trigger=SyncRun.Trigger.WEBHOOK, only_ids={system: [ids[system]]}
                    )
                return record_sync_request(mapping=mapping, ghl_id=ids.get(GHL, ""), streettext_id=ids.get(ST, ""))
        except SyncRequestRefused as e:
            note(f"  refused: {e}")
            return None

    def _ids_for(self, mapping: Mapping, pick: int) -> dict[str, str]:
        """Ids (as the engine names them) of one record of the mapping's type, and of its partner if linked."""
        side = GHL if pick % 2 == 0 else ST
        record = self._pick(side, mapping.object_type, pick // 2)
        if record is None:
            return {}
        ids = {side: self._engine_id(side, record.record_id, record.data)}
        link = RecordLink.objects.filter(
            object_type=mapping.object_type, **{"ghl_id" if side == GHL else "streettext_id": ids[side]}
        ).first()
        if link is not None:
            ids[ST if side == GHL else GHL] = link.streettext_id if side == GHL else link.ghl_id
        return ids

    @staticmethod
    def _engine_id(system: str, record_id: str, data: dict[str, Any]) -> str:
        if system == GHL and data.get("contactId") and "/" not in record_id:
            return f"{data['contactId']}/{record_id}"
        return record_id

    def _remember(
        self, mapping: Mapping, run: SyncRun, after: dict[Key, Rec], links: dict[tuple[str, str, str], Pair]
    ) -> None:
        """The pairs this run synced (its states stored during the run) are now known to it with their values."""
        if run.dry_run or run.started_at is None:
            return
        synced = MappingRecordState.objects.filter(mapping=mapping, synced_at__gte=run.started_at).values_list(
            "link__object_type", "link__ghl_id", "link__streettext_id", "configs"
        )
        for object_type, ghl_id, st_id, configs in synced:
            g = sandbox_id(GHL, ghl_id)
            values = {
                GHL: (after.get((GHL, object_type, g)) or EMPTY).values,
                ST: (after.get((ST, object_type, st_id)) or EMPTY).values,
            }
            key = (mapping.pk, object_type, g, st_id)
            before = self.model.known.get(key)
            configs = dict(configs or {})
            steps = {
                direction: (
                    before.config_steps.get(direction, -1)
                    if before is not None and before.configs.get(direction) == digest
                    else self.model.step
                )
                for direction, digest in configs.items()
            }
            self.model.known[key] = Known(self.model.step, values, configs, steps)

    # -- invariants after every step -----------------------------------------------------------------------------
    @invariant()
    def state_invariants(self) -> None:
        if not self.mappings:
            return
        SyncModelMachine.steps += 1  # after the world is built and after every step
        snap, links = snapshot(), pairs()
        for check in (
            no_duplicate_records,
            no_lost_pairing,
            originals_keep_their_timestamps,
            one_follow_up_per_contact_and_rule,
        ):
            try:
                check(self.model, snap, links)
            except InvariantViolation as violation:
                if violation.name not in self.ignored:
                    raise
                note(f"  (ignored) {violation}")


EST = timezone(timedelta(hours=-5))
EMPTY = Rec({}, BASE, BASE, True)


# ----------------------------------------------------------------------------------------------------------------
# Invariants over the whole state
# ----------------------------------------------------------------------------------------------------------------
_TOKEN = re.compile(r"\[([nt]\d+)\]", re.IGNORECASE)


def no_duplicate_records(model: Model, snap: dict[Key, Rec], links: dict[tuple[str, str, str], Pair]) -> None:
    """No person appears twice on one side (email, phone), no note or task twice (the token a person gave it)."""
    for system in (GHL, ST):
        seen: dict[tuple[str, str], str] = {}
        for record_id, rec in live(snap, system, "contact").items():
            for name in ("email", "phone"):
                value = str(rec.data.get(name) or "").strip().lower()
                if not value:
                    continue
                other = seen.setdefault((name, value), record_id)
                if other != record_id:
                    raise InvariantViolation(
                        "no_duplicate_records", f"{system} has two contacts with {name} {value!r}: {other}, {record_id}"
                    )
        for object_type, text_field in (("note", "body"), ("task", "title")):
            tokens: dict[str, str] = {}
            for record_id, rec in live(snap, system, object_type).items():
                match = _TOKEN.match(str(rec.data.get(text_field) or "").strip())
                if match is None:
                    continue
                other = tokens.setdefault(match.group(1).lower(), record_id)
                if other != record_id:
                    raise InvariantViolation(
                        "no_duplicate_records",
                        f"{system} has two {object_type}s {match.group(0)}: {other}, {record_id}",
                    )


def _text_after(template: str) -> str:
    """What a rule's rendered title always ends with: the text after its last placeholder."""
    return template.rsplit("}", 1)[-1]


def _text_before(template: str) -> str:
    return template.split("{", 1)[0]


# How a follow-up rule's GHL task is told from any other (the presets' rules; a person's tasks carry a [tN] token).
FOLLOW_UP_SIGNS: tuple[tuple[str, Callable[[dict[str, Any]], bool]], ...] = (
    (str(CALLBACK_FOLLOWUP["name"]), lambda data: data.get("body") == CALLBACK_FOLLOWUP["body"]),
    (
        str(NEW_LEAD_FOLLOWUP["name"]),
        lambda data: str(data.get("title") or "").endswith(_text_after(str(NEW_LEAD_FOLLOWUP["title"]))),
    ),
    (
        str(NOTE_FOLLOWUP["name"]),
        lambda data: str(data.get("title") or "").startswith(_text_before(str(NOTE_FOLLOWUP["title"]))),
    ),
)


def one_follow_up_per_contact_and_rule(
    model: Model, snap: dict[Key, Rec], links: dict[tuple[str, str, str], Pair]
) -> None:
    """A follow-up rule makes its GHL task once per contact, whatever failed or was retried on the way."""
    seen: dict[tuple[str, str], str] = {}
    for record_id, rec in live(snap, GHL, "task").items():
        contact = str(rec.data.get("contactId") or "")
        for rule_name, is_its_task in FOLLOW_UP_SIGNS:
            if not is_its_task(rec.data):
                continue
            other = seen.setdefault((contact, rule_name), record_id)
            if other != record_id:
                raise InvariantViolation(
                    "one_follow_up_per_contact_and_rule",
                    f"GHL contact {contact} has two tasks of the follow-up rule {rule_name!r}: {other}, {record_id}",
                )


def no_lost_pairing(model: Model, snap: dict[Key, Rec], links: dict[tuple[str, str, str], Pair]) -> None:
    """A pairing stays while both its records exist."""
    for key in links:
        model.pairs_seen.add(key)
    for object_type, g, s in sorted(model.pairs_seen):
        if (object_type, g, s) in links:
            continue
        both_live = all(not (snap.get(k) or EMPTY).deleted for k in ((GHL, object_type, g), (ST, object_type, s)))
        if both_live:
            raise InvariantViolation(
                "no_lost_pairing", f"the {object_type} pair GHL {g} ↔ StreetText {s} was unlinked though both exist"
            )


TIMESTAMP_FIELDS = {(ST, "note"): "written_at", (ST, "task"): "due_at", (GHL, "task"): "dueDate"}


def originals_keep_their_timestamps(
    model: Model, snap: dict[Key, Rec], links: dict[tuple[str, str, str], Pair]
) -> None:
    """A record a person created keeps the timestamps a person gave it (or its partner's, set by a person): never
    the time a copy was made."""
    partners = partner_index(links)
    for key in sorted(model.originals):
        name = TIMESTAMP_FIELDS.get((key[0], key[1]))
        rec = snap.get(key)
        if name is None or rec is None or rec.deleted:
            continue
        moment = instant(rec.data.get(name))
        allowed = set(model.person_instants.get(key, set()))
        partner = partners.get(key)
        if partner is not None:
            allowed |= model.person_instants.get(partner, set())
        if moment is not None and moment not in allowed:
            raise InvariantViolation(
                "originals_keep_their_timestamps",
                f"{key[0]} {key[1]} {key[2]} (created by a person) has {name} {rec.data.get(name)!r}; a person set "
                f"{sorted(sandbox.to_iso(i) for i in allowed)}",
            )


# ----------------------------------------------------------------------------------------------------------------
# Invariants of one run
# ----------------------------------------------------------------------------------------------------------------
RULE_TAGS = {"hot-lead", "b2b"}


@dataclass
class RunCheck:
    model: Model
    mapping: Mapping
    run: SyncRun
    before: dict[Key, Rec]
    after: dict[Key, Rec]
    links_before: dict[tuple[str, str, str], Pair]
    links_after: dict[tuple[str, str, str], Pair]

    def all(self, *, ignored: frozenset[str] = frozenset()) -> list[InvariantViolation]:
        """Every invariant of the run; raises the first violation not in `ignored`, returns the ignored ones."""
        seen = []
        for check in (
            self.run_finished,
            self.run_counts_match_history,
            self.dry_run_writes_nothing,
            self.writes_only_in_its_directions,
            self.no_format_only_rewrites,
            self.person_values_kept_unless_source_changed,
            self.tags_only_one_side_has_are_kept,
            self.deletions_follow_the_policy,
            self.unlinked_stays_unlinked,
        ):
            try:
                check()
            except InvariantViolation as violation:
                if violation.name not in ignored:
                    raise
                seen.append(violation)
        return seen

    # -- helpers -------------------------------------------------------------------------------------------------
    def changed(self) -> Iterator[tuple[Key, Rec | None, Rec]]:
        """Records the run wrote: created, changed, touched (a new version) or deleted."""
        for key, rec in self.after.items():
            old = self.before.get(key)
            if old is None or old.updated_at != rec.updated_at or old.deleted != rec.deleted:
                yield key, old, rec

    def where(self) -> str:
        return f"run #{self.run.pk} of “{self.mapping.name}” ({self.run.trigger}, scope {self.run.scope})"

    def fail(self, name: str, message: str) -> None:
        raise InvariantViolation(name, f"{self.where()}: {message}")

    # -- the invariants ------------------------------------------------------------------------------------------
    def run_finished(self) -> None:
        """A run ends succeeded or partial; a failed run says why and only when every record failed."""
        if self.run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL):
            return
        if self.run.status == SyncRun.Status.FAILED and self.run.error.startswith("Every record failed"):
            return
        self.fail("run_finished", f"ended {self.run.status}: {self.run.error}")

    def run_counts_match_history(self) -> None:
        """Counts equal history rows; processed = the sum of the actions, never over the total; one row per record per
        run and direction."""
        rows = list(
            RecordHistory.objects.filter(run=self.run).values_list("action", "direction", "ghl_id", "streettext_id")
        )
        run = self.run
        counts = {a: getattr(run, a) for a in ("created", "updated", "skipped", "failed", "deleted")}
        by_action = {a: sum(1 for r in rows if r[0] == a) for a in counts}
        if by_action != counts:
            self.fail("run_counts_match_history", f"counts {counts} but history rows {by_action}")
        if run.processed != sum(counts.values()):
            self.fail(
                "run_counts_match_history", f"processed {run.processed} but actions add up to {sum(counts.values())}"
            )
        if run.total is not None and run.processed > run.total:
            self.fail("run_counts_match_history", f"processed {run.processed} > total {run.total}")
        seen: dict[tuple[str, str, str], list[str]] = {}
        for action, direction, ghl_id, st_id in rows:
            for system, record_id in ((GHL, ghl_id), (ST, st_id)):
                if record_id:
                    seen.setdefault((direction, system, record_id), []).append(action)
        for (direction, system, record_id), actions in seen.items():
            if len(actions) > 1:
                self.fail(
                    "run_counts_match_history",
                    f"{len(actions)} rows for {system} {record_id} in direction {direction}: {', '.join(actions)}",
                )

    def dry_run_writes_nothing(self) -> None:
        if not self.run.dry_run:
            return
        written = [k for k, _, _ in self.changed()]
        if written or self.links_before != self.links_after:
            self.fail(
                "dry_run_writes_nothing", f"wrote {written[:5]}, links changed: {self.links_before != self.links_after}"
            )

    def writes_only_in_its_directions(self) -> None:
        """A mapping writes only the sides its directions target (a follow-up rule may add GHL tasks)."""
        targets = {GHL if d == Direction.TO_GHL else ST for d in self.mapping.directions}
        for key, old, rec in self.changed():
            system, object_type, record_id = key
            if system in targets:
                continue
            if system == GHL and object_type == "task" and self.mapping.followup_rules and old is None:
                continue  # a follow-up task
            if system == GHL and object_type in ("note", "task", "appointment") and self._cascade(key, rec):
                continue
            what = "created" if old is None else "deleted" if rec.deleted else "changed"
            diff = self._diff(old, rec)
            self.fail(
                "writes_only_in_its_directions",
                f"{what} {system} {object_type} {record_id} {diff} though it writes only to {sorted(targets)}",
            )

    def _cascade(self, key: Key, rec: Rec) -> bool:
        """A child deleted with its contact (the API deletes a contact's notes and tasks)."""
        contact = rec.data.get("contactId") if key[0] == GHL else rec.data.get("contact_id")
        parent = self.after.get((key[0], "contact", str(contact)))
        return rec.deleted and parent is not None and parent.deleted

    @staticmethod
    def _diff(old: Rec | None, new: Rec) -> dict[str, tuple[Any, Any]]:
        a, b = (old.values if old else {}), new.values
        return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}

    def no_format_only_rewrites(self) -> None:
        """A value is never rewritten as the same value in another form (an instant in another format)."""
        for key, old, rec in self.changed():
            if old is None or rec.deleted or old.deleted:
                continue
            if old.data == rec.data:
                self.fail(
                    "no_format_only_rewrites",
                    f"{key[0]} {key[1]} {key[2]} written again with the values it held (as the API stored them)",
                )
            for name, (a, b) in self._diff(old, rec).items():
                if a not in (None, "", []) and as_value(a) == as_value(b):
                    self.fail(
                        "no_format_only_rewrites",
                        f"{key[0]} {key[1]} {key[2]}: {name} rewritten {a!r} → {b!r} (the same value)",
                    )

    def person_values_kept_unless_source_changed(self) -> None:
        """A field is overwritten only if its source changed since this mapping last synced the pair, or that
        direction's field mappings were edited since; a first sync never clears a value."""
        partners = partner_index({**self.links_before, **self.links_after})
        fms = list(FieldMapping.objects.filter(mapping=self.mapping))
        for key, old, rec in self.changed():
            system, object_type, record_id = key
            if old is None or old.deleted or rec.deleted or object_type != self.mapping.object_type:
                continue
            partner = partners.get(key)
            if partner is None:
                continue
            direction = Direction.TO_GHL if system == GHL else Direction.TO_STREETTEXT
            ghl_id, st_id = (record_id, partner[2]) if system == GHL else (partner[2], record_id)
            known = self.model.known.get((self.mapping.pk, object_type, ghl_id, st_id))
            source_now = (self.before.get(partner) or EMPTY).values
            for name, (a, b) in self._diff(old, rec).items():
                if name == "tags" or as_value(a) == as_value(b):
                    continue
                writers = [fm for fm in fms if fm.direction == direction and fm.target_field == name]
                if not writers:
                    self.fail(
                        "person_values_kept_unless_source_changed",
                        f"{system} {object_type} {record_id}: {name} {a!r} → {b!r}, a field none of its "
                        f"{direction} field mappings writes",
                    )
                if known is None:
                    if a not in (None, "", []) and b in (None, "", []):
                        self.fail(
                            "person_values_kept_unless_source_changed",
                            f"first sync of {system} {object_type} {record_id} cleared {name} ({a!r})",
                        )
                    continue
                # Edited since the pair was last synced in this direction with its field mappings as they were
                # (not merely since this mapping last wrote the pair: a run writing it the other way leaves this
                # direction's configuration as stale as it was, for the next re-sync to apply).
                synced_with_config = known.config_steps.get(direction, -1)
                edited = self.model.config_changed.get((self.mapping.pk, direction), -1) > synced_with_config
                other = ST if system == GHL else GHL
                sources = set().union(*((fields_read(fm) or set()) for fm in writers))
                moved = sorted(
                    s for s in sources if as_value(source_now.get(s)) != as_value(known.values[other].get(s))
                )
                if not moved and not edited:
                    self.fail(
                        "person_values_kept_unless_source_changed",
                        f"{system} {object_type} {record_id}: {name} overwritten {a!r} → {b!r}, though its source "
                        f"{other} {sorted(sources)} did not change since this mapping last synced the pair (step "
                        f"{known.step}) and its {direction} field mappings were not edited since it was last synced "
                        f"that way (step {synced_with_config})",
                    )

    def tags_only_one_side_has_are_kept(self) -> None:
        """A tag goes only when the source removed it since this mapping last synced the pair (or "overwrite tags",
        or a rule tag the mapping's own rules no longer give)."""
        partners = partner_index({**self.links_before, **self.links_after})
        for key, old, rec in self.changed():
            if old is None or rec.deleted or key[1] != "contact":
                continue
            removed = tags_of(old.values) - tags_of(rec.values)
            if not removed:
                continue
            partner = partners.get(key)
            ghl_id, st_id = (
                (key[2], partner[2]) if partner and key[0] == GHL else (partner[2], key[2]) if partner else ("", "")
            )
            other = ST if key[0] == GHL else GHL
            source_now = tags_of((self.before.get(partner) or EMPTY).values) if partner else set()
            unexplained = set(removed)
            # A contact written while this run synced a parent first was written through the contact mapping(s).
            for mapping in self._writers_of("contact", key[0]):
                if mapping.overwrite_tags:
                    unexplained.clear()
                    break
                own_rules = any(
                    step.get("name") == "rule_tags"
                    for fm in mapping.field_mappings.all()
                    for step in fm.transforms or []
                )
                known = self.model.known.get((mapping.pk, "contact", ghl_id, st_id))
                known_source = tags_of(known.values[other]) if known else set()
                unexplained -= {t for t in removed if t in known_source and t not in source_now}
                if own_rules:
                    unexplained -= RULE_TAGS
            if unexplained:
                known = self.model.known.get((self.mapping.pk, "contact", ghl_id, st_id))
                self.fail(
                    "tags_only_one_side_has_are_kept",
                    f"{key[0]} contact {key[2]} lost tags {sorted(unexplained)} (source has {sorted(source_now)}; "
                    f"when this mapping last synced it: "
                    f"{sorted(tags_of(known.values[other])) if known else 'never synced'})",
                )

    def _writers_of(self, object_type: str, system: str) -> list[Mapping]:
        """The mapping of this run, or for another type (a parent synced first) the enabled sync mappings of that
        type that write `system`."""
        if object_type == self.mapping.object_type:
            return [self.mapping]
        direction = Direction.TO_GHL if system == GHL else Direction.TO_STREETTEXT
        return [
            m
            for m in Mapping.objects.filter(object_type=object_type, enabled=True, mode=Mapping.Mode.SYNC)
            if direction in m.directions
        ]

    def deletions_follow_the_policy(self) -> None:
        """The engine deletes a record only under "delete", after its partner went; a pairing goes only with a
        record."""
        partners = partner_index(self.links_before)
        for key, old, rec in self.changed():
            if old is None or old.deleted or not rec.deleted:
                continue
            if self._cascade(key, rec):
                continue
            partner = partners.get(key)
            partner_gone = partner is not None and (self.before.get(partner) or EMPTY).deleted
            if self.mapping.delete_policy != Mapping.DeletePolicy.DELETE or not partner_gone:
                self.fail(
                    "deletions_follow_the_policy",
                    f"deleted {key[0]} {key[1]} {key[2]} (delete policy {self.mapping.delete_policy}; its partner "
                    f"{'was deleted' if partner_gone else 'still exists' if partner else 'is none'})",
                )
        for pair_key, pair in self.links_before.items():
            if pair_key in self.links_after:
                continue
            live_now = [not (self.after.get((s, pair.object_type, pair.id_on(s))) or EMPTY).deleted for s in (GHL, ST)]
            if all(live_now):
                self.fail(
                    "deletions_follow_the_policy",
                    f"unlinked the {pair.object_type} pair GHL {pair.ghl} ↔ StreetText {pair.streettext}, both exist",
                )

    def unlinked_stays_unlinked(self) -> None:
        """Under "unlink", a record whose partner is gone (a person deleted it) is never copied again by a run of the
        mapping; only "Sync this record now" on it does (a person asks)."""
        run, object_type = self.run, self.mapping.object_type
        if self.mapping.delete_policy != Mapping.DeletePolicy.UNLINK or run.dry_run:
            return
        if run.trigger == SyncRun.Trigger.MANUAL and run.scope == SyncRun.Scope.IDS:
            return

        def gone(key: Key) -> bool:
            return (self.before.get(key) or EMPTY).deleted

        paired: set[Key] = set()  # records with a partner that exists, before the run
        for pair in self.links_before.values():
            keys = [(GHL, pair.object_type, pair.ghl), (ST, pair.object_type, pair.streettext)]
            if pair.object_type == object_type and not any(gone(k) for k in keys):
                paired.update(keys)
        orphans: dict[Key, Key] = {}  # survivor -> its deleted partner
        for t, g, s in self.model.pairs_seen:
            if t != object_type:
                continue
            for key, other in (((GHL, t, g), (ST, t, s)), ((ST, t, s), (GHL, t, g))):
                if not gone(key) and gone(other) and key not in paired:
                    orphans[key] = other
        for pair_key, pair in self.links_after.items():
            if pair_key in self.links_before or pair.object_type != object_type:
                continue
            keys = [(GHL, pair.object_type, pair.ghl), (ST, pair.object_type, pair.streettext)]
            for key, copy in ((keys[0], keys[1]), (keys[1], keys[0])):
                if key in orphans and copy not in self.before:
                    self.fail(
                        "unlinked_stays_unlinked",
                        f"copied {key[0]} {key[1]} {key[2]} again as {copy[0]} {copy[2]} (delete policy unlink): "
                        f"its partner {orphans[key][2]} was deleted",
                    )


@contextmanager
def machine_settings(mode: str = "plain") -> Iterator[None]:
    """The settings a check runs with (for the management command; tests use pytest-django's `settings`)."""
    values = {**MACHINE_SETTINGS, **SANDBOX_MODES[mode].settings}
    saved = {name: getattr(settings, name, None) for name in values}
    for name, value in values.items():
        setattr(settings, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(settings, name, value)
