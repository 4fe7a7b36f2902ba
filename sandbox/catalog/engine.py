"""The generic engine: one handler per kind of operation (list, get, create, update, delete, upsert), working on the
generic record store (SandboxRecord: object_type = the rule's resource, data = the record in GHL's shape, parents'
ids in data) and answering in the operation's declared response shape (shapes.py). Actions and the few hooks that
extend a kind live in actions.py.

Every request reaches this module through views.ghl_view (auth, Version, rate limit, faults, GHL's spec): bodies,
path and query parameters are already valid for the operation when a handler runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db.models import QuerySet

from ghl_spec import Operation, Parameter
from sandbox import services
from sandbox.catalog import shapes
from sandbox.catalog.rules import (
    BODY_REFERENCES,
    CREATE,
    DELETE,
    GET,
    LIST,
    LOCATION,
    REFERENCES,
    UPDATE,
    UPSERT,
    WRITE_ONLY,
    Rule,
    rules,
)
from sandbox.ghl import GhlError, GhlRequest, Result, ghl_error
from sandbox.models import SandboxAccount, SandboxRecord

RAW = "__sandbox_raw__"  # an answer that is not JSON (recordings, text files): see urls.py
QUERY_WORDS = ("q", "query", "searchTerm")
_PAGING = frozenset(
    {
        "limit",
        "pageLimit",
        "skip",
        "offset",
        "page",
        "startAfter",
        "startAfterId",
        "lastMessageId",
        "cursor",
        "startAfterDate",
        "searchAfter",
    }
)
_CURSORS = ("startAfterId", "lastMessageId", "cursor", "startAfterDate", "searchAfter")
DEFAULT_LIMIT = 20
DEFAULT_MAX_LIMIT = 100
ORDERS = {
    "created": ("created_at", False),
    "-created": ("created_at", True),
    "updated": ("updated_at", False),
    "-updated": ("updated_at", True),
}

# Values a new record of a resource starts with (the create body wins).
DEFAULTS: dict[str, dict[str, Any]] = {
    "calendars": {
        "isActive": True,
        "calendarType": "event",
        "slotDuration": 30,
        "slotDurationUnit": "mins",
        "slotInterval": 30,
        "slotIntervalUnit": "mins",
        "openHours": [],
        "teamMembers": [],
    },
    "calendars.groups": {"isActive": True},
    "calendars.notifications": {"isActive": True, "deleted": False},
    "calendars.resources": {"isActive": True, "calendarIds": []},
    "calendars.schedules": {"calendarIds": [], "rules": [], "deleted": False},
    "calendars.block-slots": {"title": "Blocked", "assignedUserId": None},
    "opportunities": {"status": "open", "monetaryValue": 0, "followers": [], "customFields": [], "source": "api"},
    "conversations": {
        "unreadCount": 0,
        "inbox": True,
        "starred": False,
        "deleted": False,
        "type": 1,  # phone (get-conversation's numbers; search answers its TYPE_PHONE name)
        "lastMessageBody": "",
        "lastMessageType": "TYPE_SMS",
        "followers": [],
    },
    "users": {"deleted": False, "permissions": {}},
    "blogs.posts": {"archived": False, "tags": [], "categories": []},
    "objects": {"standard": False},
    "objects.records": {"owner": [], "followers": [], "properties": {}},
    "associations": {"associationType": "USER_DEFINED"},
    "locations.recurring-tasks": {"deleted": False, "totalOccurrence": 0},
    "custom-fields": {"showInForms": True},
}

Hook = Callable[..., Any]
HOOKS: dict[str, Hook] = {}  # filled by actions.py: list filters and write extensions, by Rule.hook
WRITE_HOOKS: dict[str, Callable[[Call, Mapping[str, Any] | None, dict[str, Any]], dict[str, Any]]] = {}
RENDER_HOOKS: dict[str, Callable[[Call, list[SandboxRecord], list[dict[str, Any]]], None]] = {}


# ------------------------------------------------------------------------------
# One request
# ------------------------------------------------------------------------------
def label(resource: str) -> str:
    """What a resource is called in messages: "calendars.notifications" -> "Notification"."""
    for target, _, name in REFERENCES.values():
        if target == resource:
            return name
    last = resource.rsplit(".", 1)[-1].replace("-", " ")
    if last.endswith("ies"):
        last = last[:-3] + "y"
    elif last.endswith("s") and not last.endswith("ss"):
        last = last[:-1]
    words = "".join(f" {c.lower()}" if c.isupper() else c for c in last).strip()
    return words[:1].upper() + words[1:]


def not_found(resource: str) -> GhlError:
    return ghl_error(404, f"{label(resource)} not found", "Not Found")


def _coerce(parameter: Parameter, text: str) -> Any:
    """A query value read as its declared type (the spec check has accepted it already)."""
    kind = parameter.schema.get("type")
    if kind in ("number", "integer"):
        number = float(text)
        return int(number) if number.is_integer() else number
    if kind == "boolean":
        return text == "true"
    return text


@dataclass
class Call:
    """One request to one operation: the rule, the authenticated request, the path parameters."""

    rule: Rule
    req: GhlRequest
    params: dict[str, str]
    now: datetime = field(default_factory=services.now_ms)
    parent_account: SandboxAccount | None = None
    _inputs: dict[str, Any] | None = None
    _parents: dict[str, str] | None = None
    _account: SandboxAccount | None = None
    _account_done: bool = False

    @property
    def op(self) -> Operation:
        return self.rule.op

    @property
    def body(self) -> Any:
        return self.req.body

    def inputs(self) -> dict[str, Any]:
        """Declared query parameters that were sent (typed), plus the body fields of a POST search."""
        if self._inputs is None:
            values: dict[str, Any] = {}
            for parameter in self.op.params("query"):
                if parameter.name in self.req.query:
                    values[parameter.name] = _coerce(parameter, self.req.query[parameter.name])
            if self.op.method == "POST" and self.rule.kind == LIST and isinstance(self.body, dict):
                values.update(self.body)
            self._inputs = values
        return self._inputs

    def account(self) -> SandboxAccount | None:
        """The location the request names (path, query or body locationId), checked against the token; None when
        it names none."""
        if not self._account_done:
            location = (
                self.params.get(LOCATION)
                or self.req.query.get(LOCATION)
                or self.req.query.get("location_id")
                or (self.body.get(LOCATION) if isinstance(self.body, dict) else None)
            )
            if not location and isinstance(self.body, dict) and isinstance(self.body.get("locationIds"), list):
                # A new user names its locations: it lives in the first one the token opens.
                opened = {account.account_id: account for account in self.req.accounts}
                location = next((value for value in self.body["locationIds"] if value in opened), None)
            self._account = self.req.location(location) if location else None
            self._account_done = True
        return self._account

    def scope(self) -> list[SandboxAccount]:
        account = self.account()
        return [account] if account is not None else list(self.req.accounts)

    def home(self) -> SandboxAccount:
        """Where a new record goes: the named location, else its parent's, else the token's first."""
        return self.account() or self.parent_account or self.req.accounts[0]

    # --------------------------------------------------------------------------
    # Records
    # --------------------------------------------------------------------------
    def records(self, resource: str, *, deleted: bool = False) -> QuerySet[SandboxRecord]:
        return SandboxRecord.objects.filter(account__in=self.scope(), object_type=resource, deleted=deleted)

    def find(self, resource: str, value: str, *, lookup: str | None = None) -> SandboxRecord | None:
        rows = self.records(resource)
        rows = rows.filter(**{f"data__{lookup}": value}) if lookup else rows.filter(record_id=value)
        return rows.select_related("account").first()

    def get(self, resource: str, value: str, *, lookup: str | None = None) -> SandboxRecord:
        record = self.find(resource, value, lookup=lookup)
        if record is None:
            raise not_found(resource)
        return record

    def referenced(self, name: str, value: Any) -> SandboxRecord | None:
        """The record an id parameter or body field refers to (REFERENCES); 404 when it does not exist."""
        if name not in REFERENCES or not isinstance(value, str):
            return None
        resource, lookup, what = REFERENCES[name]
        record = self.find(resource, value, lookup=lookup)
        if record is None:
            raise ghl_error(404, f"{what} not found", "Not Found")
        return record

    def parents(self) -> dict[str, str]:
        """The rule's parent path parameters, each checked to exist (once per request); their values go into the
        record's data."""
        if self._parents is None:
            values = {}
            for name in self.rule.parents:
                value = self.params[name]
                parent = self.referenced(name, value)
                if parent is not None and self.parent_account is None:
                    self.parent_account = parent.account
                values[name] = value
            self._parents = values
        return dict(self._parents)

    def record(self) -> SandboxRecord:
        """The record the path names (id parameter, within its parents)."""
        rule = self.rule
        assert rule.id_param is not None
        rows = self.records(rule.resource)
        for name, value in self.parents().items():
            rows = rows.filter(**{f"data__{name}": value})
        value = self.params[rule.id_param]
        rows = rows.filter(**{f"data__{rule.lookup}": value}) if rule.lookup else rows.filter(record_id=value)
        record = rows.select_related("account").first()
        if record is None:
            raise not_found(rule.resource)
        return record

    def save(
        self, *, data: dict[str, Any], resource: str | None = None, record: SandboxRecord | None = None
    ) -> SandboxRecord:
        """Create (record None, in home()) or replace a record; dateUpdated moves on every write."""
        account = record.account if record is not None else self.home()
        saved = services.sandbox_record_put(
            account=account,
            object_type=resource or (record.object_type if record is not None else self.rule.resource),
            data=data,
            record_id=record.record_id if record is not None else None,
        )
        saved.account = account
        return saved

    # --------------------------------------------------------------------------
    # Answers
    # --------------------------------------------------------------------------
    def render(self, records: list[SandboxRecord], item: Mapping[str, Any], resource: str | None = None) -> list[Any]:
        """Records in the item schema (the resource's canonical one when the operation declares none)."""
        resource = resource or self.rule.resource
        schema = item or canonical_item(resource)
        views = [record_view(record, schema) for record in records]
        hook = RENDER_HOOKS.get(resource)
        if hook is not None:
            hook(self, records, views)
        if not schema:
            return [{k: v for k, v in view.items() if not k.startswith("_")} for view in views]
        return [shapes.render_object(view, schema) for view in views]

    def answer(
        self,
        record: SandboxRecord | None = None,
        *,
        values: Mapping[str, Any] | None = None,
        op: Operation | None = None,
        message: str = "",
    ) -> Result:
        """The operation's success answer for one record (or none): the record at its slot when the answer carries
        one, the envelope's flags, ids and messages filled."""
        op = op or self.op
        if op.response_schema is None:
            payload: Any = dict(values or {})
            if record is not None and not payload:
                payload = self.render([record], {}, record.object_type)[0]
                if self.rule.slot and op is self.op:
                    payload = {self.rule.slot: payload}
            return op.success_status or 200, payload or {"success": True}
        shape = shapes.shape_of(op, many=False, slot=self.rule.slot if op is self.op else None)
        body: Any = {}
        if record is not None and carries_record(shape):
            body = self.render([record], shape.item, record.object_type)[0]
        payload = shapes.envelope(shape, body, values=values or {}, fill=self._filler(record, message))
        return op.success_status or 200, payload

    def _filler(self, record: SandboxRecord | None, message: str) -> Callable[[str, Any], Any]:
        def fill(name: str, schema: Any) -> Any:
            if name in shapes.ID_KEYS and record is not None:
                return record.record_id
            if name in ("message", "msg") and schema.get("type") == "string":
                return message or "Done"
            if name == "traceId":
                return str(uuid.uuid4())
            if name == "status" and schema.get("type") == "number":
                return 200
            if name == "key" and record is not None:
                return record.data.get("key") or record.data.get("fieldKey") or record.record_id
            return shapes.MISSING

        return fill


def record_view(record: SandboxRecord, schema: Mapping[str, Any]) -> dict[str, Any]:
    """The stored data plus what the store keeps apart: the id (under the schema's id key), locationId and the
    timestamps (under the names the schema declares)."""
    declared: set[str] = set()
    branches = schema.get("anyOf") if isinstance(schema.get("anyOf"), list) else [schema]
    for branch in branches or ():
        declared |= set(shapes.unwrap(branch).get("properties") or {})
    view = dict(record.data)
    id_keys = [key for key in shapes.ID_KEYS if key in declared] or ["id"]
    for key in id_keys:
        view[key] = record.record_id
    if LOCATION in declared:
        view[LOCATION] = record.account.account_id
    # Pollers tell new records from updated ones by these; where the spec declares none (calendars, users, tags),
    # the answer carries them anyway, named like the ones it declares (createdAt/updatedAt, else dateAdded/...).
    at_family = bool(declared & {"createdAt", "updatedAt"})
    created = [key for key in shapes.CREATED_KEYS if key in declared] or ["createdAt" if at_family else "dateAdded"]
    updated = [key for key in shapes.UPDATED_KEYS if key in declared] or ["updatedAt" if at_family else "dateUpdated"]
    for key in created:
        view[key] = services.to_iso(record.created_at)
    for key in updated:
        view[key] = services.to_iso(record.updated_at)
    return view


_FLAGS = shapes.SUCCESS_FLAGS | {"message", "msg", "traceId", "status", "statusCode"}


def carries_record(shape: shapes.Shape) -> bool:
    """Whether an answer holds the record (a slot, or record fields at the root) rather than flags only."""
    if shape.slot is not None:
        return True
    return bool(set(shape.envelope.get("properties") or {}) - _FLAGS)


_canonical: dict[str, Mapping[str, Any]] = {}


def canonical_item(resource: str) -> Mapping[str, Any]:
    """The item schema a resource is answered in when an operation declares none (the upsert's `opportunity:
    object`, the custom subtypes): that of its GET operation, else of its list."""
    if resource not in _canonical:
        item: Mapping[str, Any] = {}
        for kind in (GET, LIST):
            for rule in rules().values():
                if rule.resource == resource and rule.kind == kind and rule.op.response_schema is not None:
                    item = shapes.shape_of(rule.op, many=kind == LIST).item
                    if item.get("properties"):
                        break
            if item.get("properties"):
                break
        _canonical[resource] = item
    return _canonical[resource]


# ------------------------------------------------------------------------------
# Writes
# ------------------------------------------------------------------------------
def clean(body: Any) -> dict[str, Any]:
    """A body as stored data: without locationId (the account) and write-only fields."""
    if not isinstance(body, dict):
        return {}
    return {key: value for key, value in body.items() if key != LOCATION and key not in WRITE_ONLY}


def _written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any], resource: str) -> dict[str, Any]:
    hook = WRITE_HOOKS.get(resource)
    return hook(call, old, data) if hook is not None else data


def create_record(call: Call, item: Any, *, resource: str | None = None) -> SandboxRecord:
    """One new record from a create body (parents, defaults and the resource's write hook applied)."""
    resource = resource or call.rule.resource
    data = {**DEFAULTS.get(resource, {}), **clean(item), **call.parents()}
    for name in BODY_REFERENCES:
        if name in data and name not in call.rule.parents:
            parent = call.referenced(name, data[name])
            if parent is not None and call.parent_account is None:
                call.parent_account = parent.account
    data = _written(call, None, data, resource)
    return call.save(data=data, resource=resource)


def update_record(call: Call, record: SandboxRecord, changes: Mapping[str, Any]) -> SandboxRecord:
    """A record with `changes` applied (shallow, as GHL's PUTs are partial) and its write hook run."""
    data = _written(call, record.data, {**record.data, **changes}, record.object_type)
    return call.save(data=data, record=record)


def op_get(call: Call) -> Result:
    record = call.record()
    values = HOOKS[call.rule.hook](call, record) if call.rule.hook else None
    return call.answer(record, values=values)


def op_create(call: Call) -> Result:
    if call.rule.options.get("many"):
        call.parents()
        created = [create_record(call, item) for item in call.body]
        shape = shapes.shape_of(call.op, many=True)
        return call.op.success_status or 200, call.render(created, shape.item)
    record = create_record(call, call.body)
    if call.rule.hook:
        record = HOOKS[call.rule.hook](call, record)
    return call.answer(record)


def op_update(call: Call) -> Result:
    record = update_record(call, call.record(), clean(call.body))
    if call.rule.hook:
        return HOOKS[call.rule.hook](call, record)
    return call.answer(record)


def op_delete(call: Call) -> Result:
    record = call.record()
    services.sandbox_record_delete(record=record)
    return call.answer(None, values=_delete_values(call, record), message=f"{label(record.object_type)} deleted")


def _delete_values(call: Call, record: SandboxRecord) -> dict[str, Any]:
    schema = shapes.response_schema(call.op) or {}
    properties = shapes.unwrap(schema).get("properties") or {}
    values: dict[str, Any] = {key: record.record_id for key in shapes.ID_KEYS if key in properties}
    if "key" in properties:
        values["key"] = record.data.get("key") or record.data.get("fieldKey") or record.record_id
    return values


def op_upsert(call: Call) -> Result:
    """Update the record the body's id names, else create one; answers {<record>, new}."""
    body = clean(call.body)
    record_id = body.pop("id", None)
    record = call.find(call.rule.resource, record_id) if isinstance(record_id, str) and record_id else None
    if call.rule.hook:
        body = HOOKS[call.rule.hook](call, record, body)
    if record is None:
        record = create_record(call, body)
        created = True
    else:
        record = update_record(call, record, body)
        created = False
    shape = shapes.shape_of(call.op, many=False)
    rendered = call.render([record], shape.item if shape.item.get("properties") else {})[0]
    return call.op.success_status or 200, shapes.envelope(shape, rendered, values={"new": created})


# ------------------------------------------------------------------------------
# Lists
# ------------------------------------------------------------------------------
@dataclass
class Plan:
    """What a list will read: the query set, the parameters a hook has dealt with, an optional Python predicate
    (for filters the JSON store cannot express portably), the order, and extra envelope values.

    `moment`, when set, is the time the list is ordered and paged by instead of the order's column (a field of the
    record: a conversation's lastMessageDate); the order still says which way."""

    qs: QuerySet[SandboxRecord]
    order: str
    consumed: set[str] = field(default_factory=set)
    predicate: Callable[[SandboxRecord], bool] | None = None
    sort: Callable[[SandboxRecord], Any] | None = None
    values: dict[str, Any] = field(default_factory=dict)
    moment: Callable[[SandboxRecord], datetime] | None = None

    def also(self, check: Callable[[SandboxRecord], bool]) -> None:
        previous = self.predicate
        self.predicate = check if previous is None else (lambda record: previous(record) and check(record))


def camel(name: str) -> str:
    """pipeline_stage_id -> pipelineStageId (the opportunities search uses snake_case query names)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _split(value: Any) -> list[Any]:
    if isinstance(value, str) and "," in value:
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return value
    return [value]


def _declared(schema: Mapping[str, Any]) -> set[str]:
    names: set[str] = set()
    for branch in schema.get("anyOf") or [schema]:
        names |= set(shapes.unwrap(branch).get("properties") or {})
    return names


def _generic_filters(call: Call, plan: Plan, item: Mapping[str, Any]) -> None:
    """Equality filters from the operation's own parameters: a parameter filters when it names a field of the
    listed records (`status`, `pipeline_id` -> pipelineId, `isActive`) or an id the records refer to (`blogId`);
    `q`/`query`/`searchTerm` search the records' text; `id`/`ids` select records; a one-id parameter filters on
    the list of such ids (`calendarId` on a schedule's `calendarIds`); `status=all` filters nothing."""
    declared = _declared(item) | _declared(canonical_item(call.rule.resource))
    for name, value in call.inputs().items():
        if name in plan.consumed or name in _PAGING or name in (LOCATION, "location_id", "deleted"):
            continue
        if value is None or value == "" or (name == "status" and value == "all"):
            continue
        if name in QUERY_WORDS:
            plan.qs = plan.qs.filter(search_text__contains=str(value).strip().lower())
            continue
        target = camel(name)
        if target == "id":
            plan.qs = plan.qs.filter(record_id=value)
        elif target == "ids":
            plan.qs = plan.qs.filter(record_id__in=_split(value))
        elif target in declared or target in REFERENCES:
            values = _split(value)
            if len(values) > 1:
                plan.qs = plan.qs.filter(**{f"data__{target}__in": values})
            else:
                plan.qs = plan.qs.filter(**{f"data__{target}": values[0]})
        elif f"{target}s" in declared:
            plan.also(_holds(f"{target}s", str(value)))


def _holds(key: str, wanted: str) -> Callable[[SandboxRecord], bool]:
    def check(record: SandboxRecord) -> bool:
        return wanted in (record.data.get(key) or [])

    return check


@dataclass(frozen=True)
class Paging:
    """The paging parameters an operation declares."""

    limit: str | None
    default: int
    maximum: int
    offset: str | None
    page: str | None
    cursor: str | None


_pagings: dict[tuple[str, str], Paging] = {}


def paging_of(op: Operation) -> Paging:
    cached = _pagings.get(op.key)
    if cached is not None:
        return cached
    declared: dict[str, Mapping[str, Any]] = {p.name: p.schema for p in op.params("query")}
    declared.update(op.body_properties())
    limit = next((name for name in ("limit", "pageLimit") if name in declared), None)
    schema = declared.get(limit or "", {})
    default = _int(schema.get("default"), DEFAULT_LIMIT)
    paging = Paging(
        limit=limit,
        default=default,
        maximum=_int(schema.get("maximum"), max(DEFAULT_MAX_LIMIT, default)),
        offset=next((name for name in ("skip", "offset") if name in declared), None),
        page="page" if "page" in declared else None,
        cursor=next((name for name in _CURSORS if name in declared), None),
    )
    _pagings[op.key] = paging
    return paging


def _int(value: Any, default: int) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


@dataclass
class Page:
    rows: list[SandboxRecord]
    total: int
    limit: int
    position: int
    has_more: bool
    moment: Callable[[SandboxRecord], datetime]  # the time the rows are ordered by (meta's startAfter)


def paginate(call: Call, plan: Plan) -> Page:
    """The page a list asks for: offset (skip/offset/page) or cursor (startAfterId + startAfter, lastMessageId,
    cursor, startAfterDate, searchAfter) over a stable order (the order's timestamp, then the record id)."""
    paging = paging_of(call.op)
    inputs = call.inputs()
    column, descending = ORDERS[plan.order]
    ordering = [f"-{column}", "-record_id"] if descending else [column, "record_id"]
    moment = plan.moment or (lambda row: getattr(row, column))
    # An operation that declares no limit answers everything.
    limit = max(1, min(_int(inputs.get(paging.limit or ""), paging.default), paging.maximum)) if paging.limit else 10**9
    offset = max(0, _int(inputs.get(paging.offset or ""), 0))
    if paging.page and inputs.get(paging.page) is not None:
        offset += (max(1, _int(inputs[paging.page], 1)) - 1) * limit
    anchor = _cursor(call, plan, paging, moment, descending)
    ordered = plan.qs.order_by(*ordering).select_related("account")
    if plan.predicate is not None or plan.sort is not None or plan.moment is not None:
        matching = [row for row in ordered if plan.predicate is None or plan.predicate(row)]
        if plan.sort is not None:
            matching.sort(key=plan.sort)
        elif plan.moment is not None:
            matching.sort(key=lambda row: (moment(row), row.record_id), reverse=descending)
        total = len(matching)
        if anchor is not None:
            matching = [row for row in matching if _after(row, anchor, moment, descending)]
        position = total - len(matching) + offset
        rows = matching[offset : offset + limit + 1]
    else:
        total = plan.qs.count()
        position = offset
        if anchor is not None:
            after = services.after_cursor_q(field=column, value=anchor[0], record_id=anchor[1], descending=descending)
            position = ordered.exclude(after).count() + offset
            ordered = ordered.filter(after)
        rows = list(ordered[offset : offset + limit + 1])
    return Page(rows[:limit], total, limit, position, len(rows) > limit, moment)


def _after(
    row: SandboxRecord, anchor: tuple[datetime, str], moment: Callable[[SandboxRecord], datetime], descending: bool
) -> bool:
    key = (moment(row), row.record_id)
    return key < anchor if descending else key > anchor


def _cursor(
    call: Call, plan: Plan, paging: Paging, moment_of: Callable[[SandboxRecord], datetime], descending: bool
) -> tuple[datetime, str] | None:
    inputs = call.inputs()
    name = paging.cursor
    if name is None or inputs.get(name) in (None, "", []):
        return None
    value = inputs[name]
    if name == "searchAfter":
        parts = value if isinstance(value, list) else [value]
        moment = services.parse_time(parts[0]) if parts else None
        return (moment, str(parts[1]) if len(parts) > 1 else "") if moment is not None else None
    if name == "startAfterDate":
        # "Search to begin after the specified date": strictly after the last document's sort value, whichever way
        # the list runs (times are whole milliseconds; "" sorts before every id).
        moment = services.parse_time(value)
        if moment is None:
            return None
        return (moment, "") if descending else (moment + timedelta(milliseconds=1), "")
    anchor = plan.qs.filter(record_id=str(value)).first()
    if anchor is not None:
        return moment_of(anchor), anchor.record_id
    moment = services.parse_time(inputs.get("startAfter")) if name == "startAfterId" else None
    return (moment, str(value)) if moment is not None else None


def _page_values(call: Call, page: Page, envelope: Mapping[str, Any]) -> dict[str, Any]:
    """Totals and paging fields under the names the answer declares."""
    properties: Mapping[str, Any] = envelope.get("properties") or {}
    last = page.rows[-1] if page.rows else None
    values: dict[str, Any] = {}
    for name, schema in properties.items():
        if name in shapes.TOTAL_KEYS:
            values[name] = page.total
        elif name in ("hasMore", "nextPage") and schema.get("type") == "boolean":
            values[name] = page.has_more
        elif name == "lastMessageId":
            values[name] = last.record_id if last is not None else ""
        elif name == "nextCursor" and page.has_more and last is not None:
            values[name] = last.record_id
        elif name == "meta":
            values[name] = _meta(call, page, last)
    return values


def _meta(call: Call, page: Page, last: SandboxRecord | None) -> dict[str, Any]:
    current = page.position // page.limit + 1
    next_url = None
    if page.has_more and last is not None:
        query = {**call.req.query, "startAfter": services.to_epoch_ms(page.moment(last))}
        query["startAfterId"] = last.record_id
        query.pop("page", None)
        next_url = f"{call.req.url}?{urlencode(query)}"
    meta = {
        "total": page.total,
        "nextPageUrl": next_url,
        "startAfterId": last.record_id if last is not None else None,
        "startAfter": services.to_epoch_ms(page.moment(last)) if last is not None else None,
        "currentPage": current,
        "nextPage": current + 1 if page.has_more else None,
        "prevPage": current - 1 if current > 1 else None,
    }
    # The spec types these fields without `nullable`: what does not apply is left out.
    return {key: value for key, value in meta.items() if value is not None}


def list_plan(call: Call, *, resource: str | None = None) -> Plan:
    """The query a list starts from: the scope's live records of the resource (deleted ones when the operation
    declares `deleted` and it is true), within the path's parents."""
    resource = resource or call.rule.resource
    deleted = call.inputs().get("deleted") is True and any(p.name == "deleted" for p in call.op.params("query"))
    qs = call.records(resource, deleted=deleted)
    parents = call.parents()
    for name, value in parents.items():
        qs = qs.filter(**{f"data__{name}": value})
    return Plan(qs=qs, order=call.rule.order, consumed=set(parents))


def op_list(call: Call) -> Result:
    rule, op = call.rule, call.op
    shape = shapes.shape_of(op, many=True, slot=rule.slot)
    plan = list_plan(call)
    if rule.hook:
        HOOKS[rule.hook](call, plan)
    _generic_filters(call, plan, shape.item)
    page = paginate(call, plan)
    items = call.render(page.rows, shape.item)
    values = {**_page_values(call, page, shape.envelope), **plan.values}
    status = op.success_status or 200
    if shape.slot is None and not shape.envelope:
        return status, items
    if shape.slot is not None and shape.slot not in (shape.envelope.get("properties") or {}) and shape.envelope:
        # The spec declares one object where GHL answers a list (find-associations, relations of a record): the
        # first record's fields sit at the root as declared, the whole page under the plural key.
        first = items[0] if items else {}
        return status, {**first, shape.slot: items, "total": page.total, **values}
    return status, shapes.envelope(shape, items, values=values)


HANDLERS: dict[str, Callable[[Call], Result]] = {
    LIST: op_list,
    GET: op_get,
    CREATE: op_create,
    UPDATE: op_update,
    DELETE: op_delete,
    UPSERT: op_upsert,
}
ACTIONS: dict[str, Callable[[Call], Result]] = {}  # filled by the areas (actions.py imports them), by Rule.action


__all__ = ["ACTIONS", "HANDLERS", "HOOKS", "RAW", "Call", "Plan", "label", "not_found"]
