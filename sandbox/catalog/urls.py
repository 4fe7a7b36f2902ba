"""GHL routes generated from the spec: one URL pattern per path template of every operation (OAuth's token endpoints
excepted: oauth.py serves them as form views). Each pattern's view is views.ghl_view, so auth, Version, rate limits,
faults and GHL's spec are checked before any handler runs, whether the handler is the catalog engine's or one of
ghl.py / ghl_children.py (routed here as they are).

Patterns are ordered so that a literal segment beats a parameter at the first place two templates differ, exactly
like ghl_spec's matcher (`/calendars/events` before `/calendars/{calendarId}`). The method is part of GHL's routing
too: a request whose method the matched template lacks goes to the operation the spec matcher would choose
(`GET /contacts/search` is get-contact with contactId "search", as in GHL's Express router).

Spliced at the top of sandbox/urls.py, these patterns answer every GHL path the spec declares (the hand-written GHL
patterns that once stood behind them, never reached, are gone; tests/sandbox/test_sandbox_routes.py keeps it so).
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, re_path

from ghl_spec import Operation, get_spec
from sandbox import ghl, ghl_children, views
from sandbox.catalog import calendars, control, dispatch, engine
from sandbox.catalog.rules import rule_for, rules, snake
from sandbox.ghl import GhlRequest, Result

# The operations ghl.py / ghl_children.py serve (rules.EXISTING), by (app, operationId).
EXISTING_HANDLERS: dict[tuple[str, str], Callable[..., Result]] = {
    ("contacts", "get-contacts"): ghl.contact_list,
    ("contacts", "create-contact"): ghl.contact_create,
    ("contacts", "get-contact"): ghl.contact_get,
    ("contacts", "update-contact"): ghl.contact_update,
    ("contacts", "delete-contact"): ghl.contact_delete,
    ("contacts", "upsert-contact"): ghl.contact_upsert,
    ("contacts", "search-contacts-advanced"): ghl.contact_search,
    ("contacts", "get-duplicate-contact"): ghl.contact_duplicate,
    ("contacts", "add-tags"): ghl.contact_tags_add,
    ("contacts", "remove-tags"): ghl.contact_tags_remove,
    ("contacts", "get-all-tasks"): ghl_children.task_list,
    ("contacts", "create-task"): ghl_children.task_create,
    ("contacts", "get-task"): ghl_children.task_get,
    ("contacts", "update-task"): ghl_children.task_update,
    ("contacts", "delete-task"): ghl_children.task_delete,
    ("contacts", "update-task-completed"): ghl_children.task_completed,
    ("contacts", "get-all-notes"): ghl_children.note_list,
    ("contacts", "create-note"): ghl_children.note_create,
    ("contacts", "get-note"): ghl_children.note_get,
    ("contacts", "update-note"): ghl_children.note_update,
    ("contacts", "delete-note"): ghl_children.note_delete,
    ("contacts", "get-appointments-for-contact"): ghl_children.contact_appointments,
    ("contacts", "add-remove-contact-from-business"): ghl_children.contacts_bulk_business,
    ("contacts", "get-contacts-by-businessId"): ghl_children.contacts_by_business,
    ("locations", "get-location"): ghl.location_get,
    ("locations", "task-search"): ghl_children.task_search,
    ("businesses", "get-business"): ghl_children.business_get,
    ("businesses", "update-business"): ghl_children.business_update,
    ("businesses", "delete-Business"): ghl_children.business_delete,
    ("businesses", "get-businesses-by-location"): ghl_children.business_list,
    ("businesses", "create-business"): ghl_children.business_create,
    ("calendars", "create-appointment"): ghl_children.appointment_create,
    ("calendars", "get-appointment"): ghl_children.appointment_get,
    ("calendars", "edit-appointment"): ghl_children.appointment_update,
    ("calendars", "get-calendar-events"): ghl_children.calendar_events,
    # Blocked slots are calendar events too: deleting one goes through here, appointments to ghl_children.
    ("calendars", "delete-event"): calendars.event_delete,
}
# Keyword names of the existing handlers where they are not the snake_case of the spec's parameter.
_KWARG_NAMES = {"id": "note_id"}
# Served by oauth.py's form views (sandbox/urls.py).
_ELSEWHERE = {("oauth", "get-access-token"), ("oauth", "get-location-access-token")}
# Operations whose success answer is a file, not JSON (the spec's Content-Type header says which).
_RAW_OPERATIONS = {("conversations", "get-message-recording"), ("conversations", "download-message-transcription")}


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def _handler(op: Operation) -> Callable[..., Result]:
    """The handler of one operation: the engine's, or the existing one with its keyword names."""
    existing = EXISTING_HANDLERS.get(op.key)
    if existing is not None:

        def call_existing(req: GhlRequest, **params: str) -> Result:
            return existing(req, **{_KWARG_NAMES.get(name, snake(name)): value for name, value in params.items()})

        return call_existing
    rule = rules().get(op.key) or rule_for(op)

    def call_engine(req: GhlRequest, **params: str) -> Result:
        return dispatch.handle(rule, req, params)

    return call_engine


def _covers(general: tuple[str, ...], specific: tuple[str, ...]) -> bool:
    """Whether every path of template `specific` also matches `general` (same length; general has a parameter
    wherever they differ)."""
    return len(general) == len(specific) and all(_is_param(g) or g == s for g, s in zip(general, specific, strict=True))


def _rank(segments: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(1 if _is_param(segment) else 0 for segment in segments)


def _rerouted(target: Operation, template: tuple[str, ...]) -> Callable[..., Result]:
    """The handler of `target` for a request routed by `template` (which `target`'s template covers): target's
    parameters come from template's parameters or literals at the same places."""
    handler = _handler(target)
    sources = [
        (t[1:-1], s[1:-1] if _is_param(s) else None, s)
        for t, s in zip(target.segments, template, strict=True)
        if _is_param(t)
    ]

    def call(req: GhlRequest, **params: str) -> Result:
        values = {name: params[source] if source is not None else literal for name, source, literal in sources}
        return handler(req, **values)

    return call


def _regex(segments: tuple[str, ...]) -> str:
    parts = [f"(?P<{s[1:-1]}>[^/]+)" if _is_param(s) else _escape(s) for s in segments]
    return "^ghl/" + "/".join(parts) + "/?$"


def _escape(segment: str) -> str:
    return "".join(f"\\{c}" if c in ".^$*+?{}[]\\|()" else c for c in segment)


def _raw(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A view whose successful answer is a file: the handler's {RAW: …} becomes the file's bytes."""

    @functools.wraps(view)
    def raw_view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        response = view(request, **kwargs)
        if response.status_code != 200 or not response.get("Content-Type", "").startswith("application/json"):
            return response
        payload = json.loads(response.content)
        if not isinstance(payload, dict) or engine.RAW not in payload:
            return response
        raw = payload[engine.RAW]
        content = base64.b64decode(raw["base64"]) if "base64" in raw else str(raw["text"]).encode()
        answer = HttpResponse(content, content_type=raw["contentType"], status=200)
        answer["Content-Disposition"] = f'attachment; filename="{raw["filename"]}"'
        for header, value in response.items():
            if header.lower().startswith("x-ratelimit"):
                answer[header] = value
        return answer

    # The route test reads the handler table from the wrapped view.
    raw_view.__wrapped__ = getattr(view, "__wrapped__", view)  # type: ignore[attr-defined]
    return raw_view


def ghl_patterns() -> list[URLPattern]:
    """One pattern per spec path template, most specific first."""
    spec = get_spec()
    templates: dict[tuple[str, ...], list[Operation]] = {}
    for op in spec.operations:
        if op.key not in _ELSEWHERE:
            templates.setdefault(op.segments, []).append(op)
    patterns = []
    served: dict[tuple[str, ...], set[str]] = {}  # shape (parameters unnamed) -> methods its pattern answers
    for segments in sorted(templates, key=lambda s: (_rank(s), s)):
        ops = templates[segments]
        shape = tuple("{}" if _is_param(segment) else segment for segment in segments)
        if shape in served:
            # Same shape, other parameter names (/associations/relations/{recordId} and …/{relationId}): the earlier
            # pattern matches every path of this one, and already answers its methods through the rerouting below.
            missing = {op.method for op in ops} - served[shape]
            assert not missing, f"{'/'.join(segments)}: {sorted(missing)} would be unreachable"
            continue
        handlers = {op.method: _handler(op) for op in ops}
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            if method in handlers:
                continue
            covering = [
                other
                for other in spec.operations
                if other.method == method
                and other.segments != segments
                and other.key not in _ELSEWHERE
                and _covers(other.segments, segments)
            ]
            if covering:
                target = min(covering, key=lambda other: _rank(other.segments))
                handlers[method] = _rerouted(target, segments)
        view = views.ghl_view(handlers)
        if any(op.key in _RAW_OPERATIONS for op in ops):
            view = _raw(view)
        name = "ghl-catalog-" + "-".join(s.strip("{}") for s in segments)
        served[shape] = set(handlers)
        patterns.append(re_path(_regex(segments), view, name=name))
    return patterns


urlpatterns: list[URLPattern] = [
    *ghl_patterns(),
    path("_control/ghl/inbound-message", control.control_inbound_message, name="control-ghl-inbound-message"),
    path("_control/ghl/memberships", control.control_memberships, name="control-ghl-memberships"),
]
