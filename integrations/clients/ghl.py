"""GoHighLevel (LeadConnector) API v2 client: contacts and location, one method per endpoint.

Facts come from the official OpenAPI specs in GitHub `GoHighLevel/highlevel-api-docs` (`apps/<name>.json`);
see docs/ghl-facts.md. Nothing outside this module knows GHL's wire format.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypedDict
from urllib.parse import quote, urlsplit

from django.conf import settings

import ghl_spec
from integrations.clients import exceptions as exc
from integrations.clients.addresses import request_path_problem
from integrations.clients.base import BaseClient
from integrations.ratelimit import RatePolicy

logger = logging.getLogger(__name__)

Contact = dict[str, Any]

# Every v2 operation declares a required `Version` header with a single allowed value, per spec file.
API_VERSIONS: dict[str, str] = {
    "contacts": "2021-07-28",
    "locations": "2021-07-28",
    "businesses": "2021-07-28",
    "users": "2021-07-28",
    "opportunities": "2021-07-28",
    "custom-fields": "2021-07-28",
    "oauth": "2021-07-28",
    "calendars": "2021-04-15",
    "conversations": "2021-04-15",
}

# UpdateContactDto = CreateContactDto minus these; GHL refuses unknown properties, so they are dropped on PUT.
# companyName is sent: the spec's UpdateContactDto omits it, but the live API accepts it (ghl_spec/
# deviations.py, docs/ghl-spec.md).
UPDATE_FORBIDDEN_FIELDS = frozenset({"locationId", "gender"})

SEARCH_MAX_PAGE_LIMIT = 500
LIST_MAX_LIMIT = 100
DEFAULT_MAX_PAGES = 10_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TokenProvider(Protocol):
    def __call__(self, *, force: bool = False) -> str: ...


class ContactSearchPage(TypedDict):
    contacts: list[Contact]
    total: int | None


class BusinessContactsPage(TypedDict):
    contacts: list[Contact]
    count: int | None


# Answers that are not JSON (recordings, transcription files) are kept as text up to this many characters.
OPERATION_TEXT_MAX = 100_000
MSG_NOT_CONFORMING = "Not sent: GoHighLevel's API specification refuses this request"
MSG_PATH_PARAM_MISSING = "{name} should not be empty"
MSG_PATH_PARAM_DOTS = "{name} cannot be . or .."
MSG_OTHER_OPERATION = "These path values lead to {found}, not {expected}"
# GHL's 403 for a valid token used for a location it was not issued for (docs/ghl-facts.md), and what the user reads.
GHL_NO_LOCATION_ACCESS = "does not have access to this location"
MSG_NO_LOCATION_ACCESS = (
    'GoHighLevel answered 403 "The token does not have access to this location": the token is valid, but not for '
    "location {location}. Check the connection's location id, or use a Private Integration Token created in that "
    "sub-account (or reconnect OAuth choosing it)."
)
MSG_RAW_PATH = "The path must start with a single / (the connection's base URL comes before it)"
MSG_MULTIPART_FIELDS = "A multipart/form-data body is a set of named fields, not a list or text"
JSON_MEDIA = "application/json"
MULTIPART_MEDIA = "multipart/form-data"
_PATH_PARAM = re.compile(r"\{([^{}/]+)\}")


class GhlRequestInvalid(exc.ApiValidationError):
    """The request does not conform to GHL's spec: refused before sending (nothing left the process); `details`
    holds the messages in GHL's own wording."""


@dataclass(frozen=True)
class OperationResponse:
    """A successful answer to a spec operation or a raw request, read at the boundary."""

    status_code: int
    content_type: str
    data: Any  # the parsed JSON; None when the answer is empty or not JSON
    text: str  # a non-JSON answer as text (cut at OPERATION_TEXT_MAX); "" for JSON and binary answers
    size: int  # bytes received

    @property
    def is_json(self) -> bool:
        return self.data is not None


def operation_path(template: str, path_params: Mapping[str, Any]) -> str:
    """The concrete path of a spec path template, each value URL-encoded as one segment."""
    missing = [name for name in _PATH_PARAM.findall(template) if path_params.get(name) in (None, "")]
    if missing:
        details = [MSG_PATH_PARAM_MISSING.format(name=name) for name in missing]
        raise GhlRequestInvalid(MSG_NOT_CONFORMING, details=details)
    dots = [name for name in _PATH_PARAM.findall(template) if str(path_params[name]) in (".", "..")]
    if dots:
        raise GhlRequestInvalid(MSG_NOT_CONFORMING, details=[MSG_PATH_PARAM_DOTS.format(name=n) for n in dots])
    return _PATH_PARAM.sub(lambda m: quote(str(path_params[m.group(1)]), safe=""), template)


def _form_parts(body: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """A body's fields as multipart form parts without file names (requests encodes (None, text) as a plain field):
    lists repeat their name, booleans read true/false, objects go as JSON text."""
    parts: list[tuple[str, Any]] = []
    for name, value in body.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            if item is None:
                continue
            if isinstance(item, bool):
                text = "true" if item else "false"
            elif isinstance(item, Mapping | list):
                text = json.dumps(item)
            else:
                text = str(item)
            parts.append((str(name), (None, text)))
    if not parts:
        # requests sends no multipart body for no parts: one empty field keeps the declared content type.
        parts.append(("_", (None, "")))
    return parts


def _wire_query(query: Mapping[str, Any] | None) -> dict[str, Any]:
    """Query values as GHL reads them: booleans as true/false, lists repeated, None left out."""

    def text(value: Any) -> str:
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    wire: dict[str, Any] = {}
    for key, value in (query or {}).items():
        if value is None:
            continue
        wire[str(key)] = [text(v) for v in value] if isinstance(value, list | tuple) else text(value)
    return wire


class GhlClient(BaseClient):
    """Sub-account (location) scoped client; the token is a Private Integration Token or an OAuth access token."""

    service_name = "GoHighLevel"

    LOCATION_PATH = "/locations/{location_id}"
    CUSTOM_FIELDS_PATH = "/locations/{location_id}/customFields"
    CONTACTS_PATH = "/contacts/"
    CONTACT_PATH = "/contacts/{contact_id}"
    CONTACT_SEARCH_PATH = "/contacts/search"
    CONTACT_DUPLICATE_PATH = "/contacts/search/duplicate"
    CONTACT_UPSERT_PATH = "/contacts/upsert"
    CONTACT_TAGS_PATH = "/contacts/{contact_id}/tags"
    CONTACT_WORKFLOW_PATH = "/contacts/{contact_id}/workflow/{workflow_id}"
    CONTACT_CAMPAIGN_PATH = "/contacts/{contact_id}/campaigns/{campaign_id}"
    CONTACT_FOLLOWERS_PATH = "/contacts/{contact_id}/followers"
    TASKS_PATH = "/contacts/{contact_id}/tasks"
    TASK_PATH = "/contacts/{contact_id}/tasks/{task_id}"
    TASK_COMPLETED_PATH = "/contacts/{contact_id}/tasks/{task_id}/completed"
    TASK_SEARCH_PATH = "/locations/{location_id}/tasks/search"
    NOTES_PATH = "/contacts/{contact_id}/notes"
    NOTE_PATH = "/contacts/{contact_id}/notes/{note_id}"
    CONTACT_APPOINTMENTS_PATH = "/contacts/{contact_id}/appointments"
    APPOINTMENTS_PATH = "/calendars/events/appointments"
    APPOINTMENT_PATH = "/calendars/events/appointments/{event_id}"
    EVENT_PATH = "/calendars/events/{event_id}"
    BUSINESSES_PATH = "/businesses/"
    BUSINESS_PATH = "/businesses/{business_id}"
    CONTACTS_BUSINESS_BULK_PATH = "/contacts/bulk/business"
    BUSINESS_CONTACTS_PATH = "/contacts/business/{business_id}"
    OPPORTUNITIES_PATH = "/opportunities/"
    OPPORTUNITY_PATH = "/opportunities/{opportunity_id}"
    OPPORTUNITY_SEARCH_PATH = "/opportunities/search"
    PIPELINES_PATH = "/opportunities/pipelines"

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        location_id: str,
        timeout: tuple[float, float] | None = None,
        token_provider: TokenProvider | None = None,
    ) -> None:
        super().__init__(base_url=base_url, timeout=timeout)
        self.token = token
        self.location_id = location_id
        self.token_provider = token_provider

    # -- BaseClient hooks ------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def error_message(self, payload: Any) -> tuple[str, list[str]]:
        """GHL errors: 400 {statusCode, message}; 401 {.., error}; 422 {statusCode, message: [..], error}."""
        if not isinstance(payload, dict):
            return "", []
        message = payload.get("message")
        error = payload.get("error")
        details: list[str] = []
        if isinstance(message, list):
            details = [str(m) for m in message]
            text = str(error) if error else (details[0] if details else "")
        else:
            text = str(message) if message else (str(error) if error else "")
        if payload.get("traceId"):
            text = f"{text} (traceId {payload['traceId']})"
        return text, details

    def auth_error(self, status: int, message: str, kwargs: dict[str, Any]) -> exc.ApiAuthError:
        if status == 403 and GHL_NO_LOCATION_ACCESS in message.lower():
            return exc.ApiLocationForbidden(MSG_NO_LOCATION_ACCESS.format(location=self.location_id), **kwargs)
        return super().auth_error(status, message, kwargs)

    def on_auth_error(self) -> bool:
        """Ask the token provider for a fresh OAuth token once; PIT connections have none."""
        if self.token_provider is None:
            return False
        new_token = self.token_provider(force=True)
        if not new_token or new_token == self.token:
            return False
        self.token = new_token
        return True

    def rate_limit_key(self) -> str | None:
        """GHL counts 100 requests / 10 s and 200,000 / day per app per location (docs/ghl-facts.md)."""
        return f"ghl:{self.location_id}"

    def rate_limit_policy(self) -> RatePolicy | None:
        return RatePolicy(
            key=f"ghl:{self.location_id}",
            limit=settings.GHL_RATE_LIMIT_MAX,
            window_seconds=settings.GHL_RATE_LIMIT_WINDOW_SECONDS,
            headroom=settings.GHL_RATE_LIMIT_HEADROOM,
            margin_requests=settings.GHL_RATE_LIMIT_MARGIN_REQUESTS,
            margin_seconds=settings.GHL_RATE_LIMIT_MARGIN_SECONDS,
        )

    # -- plumbing --------------------------------------------------------------
    def _call(
        self,
        api: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        expected: tuple[int, ...] = (200, 201),
    ) -> dict[str, Any]:
        payload = self.request(
            method, path, params=params, json=json, headers={"Version": API_VERSIONS[api]}, expected=expected
        )
        if not isinstance(payload, dict):
            raise exc.ApiBadResponse(
                f"{self.service_name} answered {method} {path} with JSON that is not an object",
                url=self.base_url + path,
            )
        return payload

    def _check_succeeded(self, payload: dict[str, Any], path: str, action: str) -> None:
        # `succeded` (sic) is how the spec spells it; it is the wire contract.
        if self._envelope(payload, "succeded", path, kind=bool) is not True:
            raise exc.ApiServerError(
                f"{self.service_name} reported that the {action} did not succeed",
                status_code=200,
                url=self.base_url + path,
            )

    # -- locations ---------------------------------------------------------------
    def get_location(self) -> dict[str, Any]:
        """The sub-account (location) of this client; a cheap credentials check for "Test connection"."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/locations.json, GET /locations/{locationId}
        path = self.LOCATION_PATH.format(location_id=self.location_id)
        payload = self._call("locations", "GET", path)
        return dict(self._envelope(payload, "location", path))

    def list_custom_fields(self, *, model: str = "contact") -> list[dict[str, Any]]:
        """The location's custom field definitions: [{id, name, fieldKey, dataType, picklistOptions, model, …}]."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/locations.json, operationId get-custom-fields
        # (scope locations/customFields.readonly; `model` is contact, opportunity or all)
        path = self.CUSTOM_FIELDS_PATH.format(location_id=self.location_id)
        return self._items(self._call("locations", "GET", path, params={"model": model}), "customFields", path)

    # -- contacts ----------------------------------------------------------------
    def get_contact(self, contact_id: str) -> Contact:
        """One contact by id."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId get-contact
        path = self.CONTACT_PATH.format(contact_id=contact_id)
        return dict(self._envelope(self._call("contacts", "GET", path), "contact", path))

    def list_contacts(
        self, *, limit: int = LIST_MAX_LIMIT, query: str | None = None, max_pages: int = DEFAULT_MAX_PAGES
    ) -> Iterator[Contact]:
        """Every contact of the location, once, via the deprecated GET /contacts/ (startAfter/startAfterId cursor)."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId get-contacts (deprecated)
        limit = max(1, min(limit, LIST_MAX_LIMIT))
        cursor: tuple[int, str] | None = None
        # Ids already yielded at the cursor's timestamp: guards against a server that treats startAfter as ">=".
        # Bounded by how many contacts share one millisecond, not by the contact count.
        seen_at_cursor: set[str] = set()
        for _ in range(max_pages):
            params: dict[str, Any] = {"locationId": self.location_id, "limit": limit}
            if query:
                params["query"] = query
            if cursor:
                params["startAfter"], params["startAfterId"] = cursor
            payload = self._call("contacts", "GET", self.CONTACTS_PATH, params=params)
            rows: list[Contact] = self._envelope(payload, "contacts", self.CONTACTS_PATH, kind=list)
            if not rows:
                return
            for row in rows:
                if row.get("id") in seen_at_cursor:
                    continue
                yield row
            next_cursor = self._next_list_cursor(payload, rows)
            if next_cursor is None or next_cursor == cursor or len(rows) < limit:
                return
            if cursor is None or next_cursor[0] != cursor[0]:
                seen_at_cursor = set()
            seen_at_cursor.update(str(r.get("id")) for r in rows if epoch_ms(r.get("dateAdded")) == next_cursor[0])
            cursor = next_cursor
        raise exc.ApiBadResponse(
            f"{self.service_name} contact list did not end after {max_pages} pages",
            url=self.base_url + self.CONTACTS_PATH,
        )

    @staticmethod
    def _next_list_cursor(payload: dict[str, Any], rows: list[Contact]) -> tuple[int, str] | None:
        # The spec's (unreferenced) ContactsMetaSchema carries the cursor; fall back to the last row's dateAdded + id.
        meta = payload.get("meta")
        if isinstance(meta, dict) and meta.get("startAfter") is not None and meta.get("startAfterId"):
            return int(meta["startAfter"]), str(meta["startAfterId"])
        last = rows[-1]
        ms = epoch_ms(last.get("dateAdded"))
        if ms is None or not last.get("id"):
            return None
        return ms, str(last["id"])

    def search_contacts(
        self,
        *,
        page_limit: int,
        search_after: list[Any] | None = None,
        updated_since: datetime | str | None = None,
        sort_field: str = "dateUpdated",
        filters: list[dict[str, Any]] | None = None,
        descending: bool = False,
    ) -> ContactSearchPage:
        """One page of POST /contacts/search, sorted ascending (or `descending`); each contact carries `searchAfter`
        [epochMs, id].

        `filters` are the search's `{field, operator, value}` / `{group, filters}` items (docs/ghl-facts.md), ANDed with
        the updated-since filter."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId search-contacts-advanced
        body: dict[str, Any] = {
            "locationId": self.location_id,
            "pageLimit": max(1, min(page_limit, SEARCH_MAX_PAGE_LIMIT)),
            "sort": [{"field": sort_field, "direction": "desc" if descending else "asc"}],
        }
        conditions = list(filters or [])
        if updated_since is not None:
            conditions.append({"field": "dateUpdated", "operator": "range", "value": {"gte": _iso(updated_since)}})
        if conditions:
            body["filters"] = conditions
        if search_after:
            # `page` must not be sent together with `searchAfter`.
            body["searchAfter"] = list(search_after)
        payload = self._call("contacts", "POST", self.CONTACT_SEARCH_PATH, json=body)
        contacts = self._envelope(payload, "contacts", self.CONTACT_SEARCH_PATH, kind=list)
        total = payload.get("total")
        return {"contacts": contacts, "total": int(total) if isinstance(total, int | float) else None}

    def create_contact(self, data: Mapping[str, Any]) -> Contact:
        """Create a contact in this location (201 {"contact"})."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId create-contact
        body = {**data, "locationId": self.location_id}
        payload = self._call("contacts", "POST", self.CONTACTS_PATH, json=body)
        return dict(self._envelope(payload, "contact", self.CONTACTS_PATH))

    def update_contact(self, contact_id: str, data: Mapping[str, Any]) -> Contact:
        """Update the given fields; `tags`, when sent, REPLACES all current tags (use add_tags/remove_tags to merge)."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId update-contact
        dropped = sorted(UPDATE_FORBIDDEN_FIELDS.intersection(data))
        if dropped:
            logger.warning("GHL update_contact cannot change %s (not in UpdateContactDto); dropped", ", ".join(dropped))
        body = {k: v for k, v in data.items() if k not in UPDATE_FORBIDDEN_FIELDS}
        path = self.CONTACT_PATH.format(contact_id=contact_id)
        payload = self._call("contacts", "PUT", path, json=body)
        self._check_succeeded(payload, path, "contact update")
        return dict(self._envelope(payload, "contact", path))

    def upsert_contact(self, data: Mapping[str, Any]) -> tuple[bool, Contact]:
        """Create or update by the location's duplicate rules; returns (created, contact)."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId upsert-contact
        body = {**data, "locationId": self.location_id}
        payload = self._call("contacts", "POST", self.CONTACT_UPSERT_PATH, json=body)
        created = self._envelope(payload, "new", self.CONTACT_UPSERT_PATH, kind=bool)
        return created, dict(self._envelope(payload, "contact", self.CONTACT_UPSERT_PATH))

    def delete_contact(self, contact_id: str) -> None:
        """Delete a contact; raises unless GHL answers `succeded: true`."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId delete-contact
        path = self.CONTACT_PATH.format(contact_id=contact_id)
        self._check_succeeded(self._call("contacts", "DELETE", path), path, "contact delete")

    def find_duplicate(self, *, email: str | None = None, phone: str | None = None) -> Contact | None:
        """The contact GHL's duplicate rules match for this email and/or phone, or None."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId get-duplicate-contact
        if not email and not phone:
            raise ValueError("find_duplicate needs an email or a phone")
        # requests encodes params, so "+" becomes %2B and "@" %40 as the spec requires.
        params: dict[str, Any] = {"locationId": self.location_id}
        if email:
            params["email"] = email
        if phone:
            params["number"] = phone
        payload = self._call("contacts", "GET", self.CONTACT_DUPLICATE_PATH, params=params)
        if "contact" not in payload:
            raise exc.ApiBadResponse(
                f"{self.service_name} answer to {self.CONTACT_DUPLICATE_PATH} has no 'contact' key",
                url=self.base_url + self.CONTACT_DUPLICATE_PATH,
            )
        contact = payload["contact"]
        return dict(contact) if isinstance(contact, dict) and contact else None

    def add_tags(self, contact_id: str, tags: list[str]) -> list[str]:
        """Add tags to a contact, keeping the others; returns the tags GHL reports."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId add-tags
        path = self.CONTACT_TAGS_PATH.format(contact_id=contact_id)
        return list(self._envelope(self._call("contacts", "POST", path, json={"tags": tags}), "tags", path, kind=list))

    def remove_tags(self, contact_id: str, tags: list[str]) -> list[str]:
        """Remove tags from a contact (a DELETE with a JSON body); returns the tags GHL reports."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId remove-tags
        path = self.CONTACT_TAGS_PATH.format(contact_id=contact_id)
        payload = self._call("contacts", "DELETE", path, json={"tags": tags})
        return list(self._envelope(payload, "tags", path, kind=list))

    def add_contact_to_workflow(self, contact_id: str, workflow_id: str) -> None:
        """Enrol a contact in a workflow; raises unless GHL answers `succeded: true`."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId add-contact-to-workflow
        path = self.CONTACT_WORKFLOW_PATH.format(contact_id=contact_id, workflow_id=workflow_id)
        self._check_succeeded(self._call("contacts", "POST", path, json={}), path, "workflow enrolment")

    def add_contact_to_campaign(self, contact_id: str, campaign_id: str) -> None:
        """Enrol a contact in a campaign (the spec requires a body, an empty one)."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId add-contact-to-campaign
        path = self.CONTACT_CAMPAIGN_PATH.format(contact_id=contact_id, campaign_id=campaign_id)
        self._check_succeeded(self._call("contacts", "POST", path, json={}), path, "campaign enrolment")

    def add_followers(self, contact_id: str, followers: list[str]) -> list[str]:
        """Add users as followers of a contact; returns the followers GHL added."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId add-followers-contact
        path = self.CONTACT_FOLLOWERS_PATH.format(contact_id=contact_id)
        payload = self._call("contacts", "POST", path, json={"followers": list(followers)})
        added = payload.get("followersAdded")
        return [str(f) for f in added] if isinstance(added, list) else []

    # -- tasks (under a contact) ---------------------------------------------------
    def list_tasks(self, contact_id: str) -> list[dict[str, Any]]:
        """Every task of a contact (the endpoint has no paging)."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId get-all-tasks
        path = self.TASKS_PATH.format(contact_id=contact_id)
        return self._items(self._call("contacts", "GET", path), "tasks", path)

    def get_task(self, contact_id: str, task_id: str) -> dict[str, Any]:
        """One task of a contact."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId get-task
        path = self.TASK_PATH.format(contact_id=contact_id, task_id=task_id)
        return dict(self._envelope(self._call("contacts", "GET", path), "task", path))

    def create_task(self, contact_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Create a task for a contact; the spec requires title, dueDate and completed (201 {"task"})."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId create-task
        path = self.TASKS_PATH.format(contact_id=contact_id)
        return dict(self._envelope(self._call("contacts", "POST", path, json=dict(data)), "task", path))

    def update_task(self, contact_id: str, task_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Update the given fields of a task."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId update-task
        path = self.TASK_PATH.format(contact_id=contact_id, task_id=task_id)
        return dict(self._envelope(self._call("contacts", "PUT", path, json=dict(data)), "task", path))

    def set_task_completed(self, contact_id: str, task_id: str, completed: bool) -> dict[str, Any]:
        """Mark a task completed or open again (the dedicated status endpoint)."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId update-task-completed
        path = self.TASK_COMPLETED_PATH.format(contact_id=contact_id, task_id=task_id)
        payload = self._call("contacts", "PUT", path, json={"completed": bool(completed)})
        return dict(self._envelope(payload, "task", path))

    def delete_task(self, contact_id: str, task_id: str) -> None:
        """Delete a task; raises unless GHL answers `succeded: true`."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId delete-task
        path = self.TASK_PATH.format(contact_id=contact_id, task_id=task_id)
        self._check_succeeded(self._call("contacts", "DELETE", path), path, "task delete")

    def search_tasks(
        self, *, limit: int, skip: int, contact_ids: list[str] | None = None, completed: bool | None = None
    ) -> list[dict[str, Any]]:
        """One page of the location's tasks (skip/limit paging; no updated-since filter exists)."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/locations.json, operationId task-search
        path = self.TASK_SEARCH_PATH.format(location_id=self.location_id)
        body: dict[str, Any] = {"limit": max(1, min(limit, LIST_MAX_LIMIT)), "skip": max(0, skip)}
        if contact_ids:
            body["contactId"] = list(contact_ids)
        if completed is not None:
            body["completed"] = completed
        return self._items(self._call("locations", "POST", path, json=body), "tasks", path)

    # -- notes (under a contact) ---------------------------------------------------
    def list_notes(self, contact_id: str) -> list[dict[str, Any]]:
        """Every note of a contact (the endpoint has no paging)."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId get-all-notes
        path = self.NOTES_PATH.format(contact_id=contact_id)
        return self._items(self._call("contacts", "GET", path), "notes", path)

    def get_note(self, contact_id: str, note_id: str) -> dict[str, Any]:
        """One note of a contact."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId get-note
        path = self.NOTE_PATH.format(contact_id=contact_id, note_id=note_id)
        return dict(self._envelope(self._call("contacts", "GET", path), "note", path))

    def create_note(self, contact_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Create a note for a contact; the spec requires body (201 {"note"})."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId create-note
        path = self.NOTES_PATH.format(contact_id=contact_id)
        return dict(self._envelope(self._call("contacts", "POST", path, json=dict(data)), "note", path))

    def update_note(self, contact_id: str, note_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Update the given fields of a note."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId update-note
        path = self.NOTE_PATH.format(contact_id=contact_id, note_id=note_id)
        return dict(self._envelope(self._call("contacts", "PUT", path, json=dict(data)), "note", path))

    def delete_note(self, contact_id: str, note_id: str) -> None:
        """Delete a note; raises unless GHL answers `succeded: true`."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, operationId delete-note
        path = self.NOTE_PATH.format(contact_id=contact_id, note_id=note_id)
        self._check_succeeded(self._call("contacts", "DELETE", path), path, "note delete")

    # -- appointments: listed per contact (contacts API), written via the calendars API (Version 2021-04-15) -----
    def list_contact_appointments(self, contact_id: str) -> list[dict[str, Any]]:
        """Every appointment of a contact (contacts API, no paging)."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, get-appointments-for-contact
        path = self.CONTACT_APPOINTMENTS_PATH.format(contact_id=contact_id)
        return self._items(self._call("contacts", "GET", path), "events", path)

    def get_appointment(self, event_id: str) -> dict[str, Any]:
        """One appointment by event id."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/calendars.json, operationId get-appointment
        path = self.APPOINTMENT_PATH.format(event_id=event_id)
        return dict(self._envelope(self._call("calendars", "GET", path), "event", path))

    def create_appointment(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Book an appointment in this location; requires calendarId, contactId, startTime (answer is un-enveloped)."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/calendars.json, operationId create-appointment
        body = {**data, "locationId": self.location_id}
        payload = self._call("calendars", "POST", self.APPOINTMENTS_PATH, json=body)
        # The appointment itself is the answer (no envelope); it must at least carry its new id.
        self._envelope(payload, "id", self.APPOINTMENTS_PATH, kind=str)
        return payload

    def update_appointment(self, event_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Update the given fields of an appointment (answer is un-enveloped)."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/calendars.json, operationId edit-appointment
        path = self.APPOINTMENT_PATH.format(event_id=event_id)
        payload = self._call("calendars", "PUT", path, json=dict(data))
        return {**payload, "id": payload.get("id") or event_id}

    def delete_appointment(self, event_id: str) -> None:
        """Delete an appointment (a calendar event); raises unless GHL answers `succeeded: true`."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/calendars.json, operationId delete-event
        path = self.EVENT_PATH.format(event_id=event_id)
        # The spec requires a JSON body here (DeleteAppointmentSchema, an empty object). `succeeded` is spelled
        # correctly in this API, unlike the contacts API's `succeded`.
        payload = self._call("calendars", "DELETE", path, json={})
        self._check_flag(payload, "succeeded", path, "appointment delete")

    # -- businesses ----------------------------------------------------------------
    def list_businesses(self, *, limit: int = LIST_MAX_LIMIT, skip: int = 0) -> list[dict[str, Any]]:
        """One page of the location's businesses (skip/limit paging)."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/businesses.json, get-businesses-by-location
        params = {"locationId": self.location_id, "limit": max(1, min(limit, LIST_MAX_LIMIT)), "skip": max(0, skip)}
        payload = self._call("businesses", "GET", self.BUSINESSES_PATH, params=params)
        return self._items(payload, "businesses", self.BUSINESSES_PATH)

    def get_business(self, business_id: str) -> dict[str, Any]:
        """One business by id."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/businesses.json, operationId get-business
        path = self.BUSINESS_PATH.format(business_id=business_id)
        return dict(self._envelope(self._call("businesses", "GET", path), "business", path))

    def create_business(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Create a business in this location; requires name (201 {"success", "buiseness"} (sic))."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/businesses.json, operationId create-business
        body = {**data, "locationId": self.location_id}
        payload = self._call("businesses", "POST", self.BUSINESSES_PATH, json=body)
        return self._business_written(payload, self.BUSINESSES_PATH, "business create")

    def update_business(self, business_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Update the given fields of a business (200 {"success", "buiseness"} (sic))."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/businesses.json, operationId update-business
        path = self.BUSINESS_PATH.format(business_id=business_id)
        payload = self._call("businesses", "PUT", path, json=dict(data))
        return self._business_written(payload, path, "business update")

    def delete_business(self, business_id: str) -> None:
        """Delete a business; raises unless GHL answers `success: true`."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/businesses.json, operationId delete-Business
        path = self.BUSINESS_PATH.format(business_id=business_id)
        self._check_flag(self._call("businesses", "DELETE", path), "success", path, "business delete")

    def link_contacts_to_business(self, contact_ids: list[str], business_id: str | None) -> list[str]:
        """Link contacts to a business, or unlink them with None; returns the ids GHL reports."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, add-remove-contact-from-business
        body = {"locationId": self.location_id, "ids": list(contact_ids), "businessId": business_id or None}
        payload = self._call("contacts", "POST", self.CONTACTS_BUSINESS_BULK_PATH, json=body)
        self._check_flag(payload, "success", self.CONTACTS_BUSINESS_BULK_PATH, "business link")
        ids = payload.get("ids")
        return [str(i) for i in ids] if isinstance(ids, list) else list(contact_ids)

    def list_business_contacts(
        self, business_id: str, *, limit: int = 25, skip: int = 0, query: str | None = None
    ) -> BusinessContactsPage:
        """One page of the contacts linked to a business (skip/limit paging)."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/contacts.json, get-contacts-by-businessId
        path = self.BUSINESS_CONTACTS_PATH.format(business_id=business_id)
        params: dict[str, Any] = {
            "locationId": self.location_id,
            "limit": max(1, min(limit, LIST_MAX_LIMIT)),
            "skip": max(0, skip),
        }
        if query:
            params["query"] = query
        payload = self._call("contacts", "GET", path, params=params)
        contacts = self._items(payload, "contacts", path)
        count = payload.get("count")
        return {"contacts": contacts, "count": int(count) if isinstance(count, int | float) else None}

    # -- any operation of the spec (the operations catalog) -----------------------------------------------------
    def call_operation(
        self,
        operation: ghl_spec.Operation,
        *,
        path_params: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        send_body: bool | None = None,
        version: str | None = None,
        content_type: str = JSON_MEDIA,
    ) -> OperationResponse:
        """Send one operation of GHL's spec, validated against it first: GhlRequestInvalid, with GHL-style messages
        and nothing sent, when it does not conform. `send_body` (default: body is not None) sends `body` or `{}`;
        `version` replaces the spec's Version value (for the few operations that declare none); `content_type`
        multipart/form-data sends the body's fields as form parts (the spec's two upload operations)."""
        # Reference: ghl_spec (GoHighLevel/highlevel-api-docs apps/*.json); docs/catalog.md
        path = operation_path(operation.path, path_params or {})
        return self._send_checked(
            operation.method,
            path,
            query,
            body,
            send_body,
            version or operation.version,
            expected=operation,
            content_type=content_type,
        )

    def call_raw(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        version: str | None = None,
    ) -> OperationResponse:
        """Send a request the catalog lacks. When the spec knows the route it is validated like any operation (and
        refused unsent if it does not conform); a route the spec does not have is sent as it is."""
        if not path.startswith("/") or path.startswith("//") or any(c.isspace() or c == "\\" for c in path):
            raise GhlRequestInvalid(MSG_RAW_PATH, details=[MSG_RAW_PATH])
        # Judged before the spec is asked or the path joined to the base URL: `/../_control/stats` never leaves.
        problem = request_path_problem(path)
        if problem:
            raise GhlRequestInvalid(problem, details=[problem])
        return self._send_checked(method.upper(), path, query, body, None, version, expected=None)

    def _send_checked(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None,
        body: Any,
        send_body: bool | None,
        version: str | None,
        *,
        expected: ghl_spec.Operation | None,
        content_type: str = JSON_MEDIA,
    ) -> OperationResponse:
        has_body = body is not None if send_body is None else send_body
        if has_body and body is None:
            body = {}
        headers = {"Version": version} if version else {}
        wire = _wire_query(query)
        multipart = has_body and content_type == MULTIPART_MEDIA
        if multipart and not isinstance(body, Mapping):
            raise GhlRequestInvalid(MSG_NOT_CONFORMING, details=[MSG_MULTIPART_FIELDS])
        verdict = ghl_spec.validate(
            method,
            path,
            query=wire,
            headers=headers,
            body=body,
            has_body=has_body,
            content_type=content_type if has_body else None,
        )
        if expected is not None and verdict.operation is not None and verdict.operation.key != expected.key:
            found = verdict.operation.operation_id
            raise GhlRequestInvalid(
                MSG_NOT_CONFORMING,
                details=[MSG_OTHER_OPERATION.format(found=found, expected=expected.operation_id)],
            )
        # A raw request to a route the spec does not have (or with another method) is not GHL's to judge here.
        unknown_route = expected is None and bool(verdict.route_error)
        if not verdict.ok and not unknown_route:
            raise GhlRequestInvalid(MSG_NOT_CONFORMING, details=verdict.messages, url=self.base_url + path)
        url = self.base_url + path
        if urlsplit(url).netloc != urlsplit(self.base_url).netloc:
            raise GhlRequestInvalid(MSG_RAW_PATH, details=[MSG_RAW_PATH])
        response = self.request(
            method,
            path,
            params=wire or None,
            json=body if has_body and not multipart else None,
            files=_form_parts(body) if multipart else None,
            headers=headers,
            raw_response=True,
        )
        return self._operation_response(response, url)

    def _operation_response(self, response: Any, url: str) -> OperationResponse:
        content = response.content or b""
        content_type = response.headers.get("Content-Type", "")
        media = content_type.split(";", 1)[0].strip().lower()
        data: Any = None
        text = ""
        if content and (media.endswith("json") or (not media and content[:1] in (b"{", b"["))):
            try:
                data = response.json()
            except ValueError as e:
                raise exc.ApiBadResponse(
                    f"{self.service_name} answered {response.status_code} with a body that is not JSON",
                    status_code=response.status_code,
                    url=url,
                ) from e
        elif content and (media.startswith("text/") or not media):
            text = content[:OPERATION_TEXT_MAX].decode(response.encoding or "utf-8", errors="replace")
        return OperationResponse(response.status_code, content_type, data, text, len(content))

    # -- plumbing for the endpoints above ----------------------------------------------------------
    def _check_flag(self, payload: dict[str, Any], key: str, path: str, action: str) -> None:
        if self._envelope(payload, key, path, kind=bool) is not True:
            raise exc.ApiServerError(
                f"{self.service_name} reported that the {action} did not succeed",
                status_code=200,
                url=self.base_url + path,
            )

    def _items(self, payload: dict[str, Any], key: str, path: str) -> list[dict[str, Any]]:
        items = self._envelope(payload, key, path, kind=list)
        if not all(isinstance(item, dict) for item in items):
            raise exc.ApiBadResponse(
                f"{self.service_name} answer to {path}: '{key}' holds something that is not an object",
                url=self.base_url + path,
            )
        return [dict(item) for item in items]

    def _business_written(self, payload: dict[str, Any], path: str, action: str) -> dict[str, Any]:
        self._check_flag(payload, "success", path, action)
        # `buiseness` (sic) is the spec's key; accept the correct spelling too in case GHL fixes it.
        key = "buiseness" if "buiseness" in payload or "business" not in payload else "business"
        return dict(self._envelope(payload, key, path))

    # -- custom fields: read items are {id, value}; write items are {id, key, field_value} ----------------------

    # -- opportunities and pipelines (Version 2021-07-28) -------------------------------------------------------
    def search_opportunities(
        self, *, limit: int = LIST_MAX_LIMIT, start_after: str | None = None, start_after_id: str | None = None
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """One page of the location's opportunities, oldest first; (opportunities, meta with the next cursor)."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/opportunities.json, operationId search-opportunity
        params: dict[str, Any] = {
            "location_id": self.location_id,
            "limit": max(1, min(limit, LIST_MAX_LIMIT)),
            "order": "added_asc",
        }
        if start_after and start_after_id:
            params["startAfter"], params["startAfterId"] = start_after, start_after_id
        payload = self._call("opportunities", "GET", self.OPPORTUNITY_SEARCH_PATH, params=params)
        rows = self._items(payload, "opportunities", self.OPPORTUNITY_SEARCH_PATH)
        meta = payload.get("meta")
        return rows, dict(meta) if isinstance(meta, dict) else {}

    def get_opportunity(self, opportunity_id: str) -> dict[str, Any]:
        """One opportunity by id."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/opportunities.json, operationId get-opportunity
        path = self.OPPORTUNITY_PATH.format(opportunity_id=opportunity_id)
        return dict(self._envelope(self._call("opportunities", "GET", path), "opportunity", path))

    def create_opportunity(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Create an opportunity (pipelineId, name, status and contactId are required)."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/opportunities.json, operationId create-opportunity
        body = {**data, "locationId": self.location_id}
        payload = self._call("opportunities", "POST", self.OPPORTUNITIES_PATH, json=body)
        return dict(self._envelope(payload, "opportunity", self.OPPORTUNITIES_PATH))

    def update_opportunity(self, opportunity_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Update the given fields of an opportunity."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/opportunities.json, operationId update-opportunity
        path = self.OPPORTUNITY_PATH.format(opportunity_id=opportunity_id)
        return dict(self._envelope(self._call("opportunities", "PUT", path, json=dict(data)), "opportunity", path))

    def delete_opportunity(self, opportunity_id: str) -> None:
        """Delete an opportunity; raises unless GHL answers `succeded: true`."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/opportunities.json, operationId delete-opportunity
        path = self.OPPORTUNITY_PATH.format(opportunity_id=opportunity_id)
        self._check_succeeded(self._call("opportunities", "DELETE", path), path, "opportunity delete")

    def list_pipelines(self) -> list[dict[str, Any]]:
        """The location's pipelines with their stages ({id, name, stages: [{id, name}]})."""
        # Reference: github.com/GoHighLevel/highlevel-api-docs apps/opportunities.json, operationId get-pipelines
        payload = self._call("opportunities", "GET", self.PIPELINES_PATH, params={"locationId": self.location_id})
        return self._items(payload, "pipelines", self.PIPELINES_PATH)


def custom_fields_from_read(items: Any) -> dict[str, Any]:
    """{field id: value} from a contact's read-shape `customFields` list."""
    result: dict[str, Any] = {}
    if not isinstance(items, list):
        return result
    for item in items:
        if isinstance(item, dict) and item.get("id"):
            # Read shape is {id, value}; tolerate the write shape echoed back.
            result[str(item["id"])] = item["value"] if "value" in item else item.get("field_value")
    return result


def custom_fields_to_write(values: Mapping[str, Any], keys: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Write-shape `customFields` items from {field id: value}; `keys` adds the optional field key per id."""
    items: list[dict[str, Any]] = []
    for field_id, value in values.items():
        item: dict[str, Any] = {"id": field_id}
        if keys and keys.get(field_id):
            item["key"] = keys[field_id]
        item["field_value"] = value
        items.append(item)
    return items


def _iso(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(value: Any) -> int | None:
    """Epoch milliseconds from GHL's ISO 8601 timestamps (or a number already in ms); None if unreadable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return (parsed - EPOCH) // timedelta(milliseconds=1)
    return None
