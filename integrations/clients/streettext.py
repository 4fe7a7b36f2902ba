"""StreetText API client: the only module that knows StreetText's wire format (contract: docs/streettext-api.md)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypedDict

from django.conf import settings

from integrations.clients import exceptions as exc
from integrations.clients.base import BaseClient
from integrations.ratelimit import RatePolicy

Contact = dict[str, Any]

LIST_MAX_LIMIT = 200


class ContactPage(TypedDict):
    data: list[Contact]
    next_cursor: str | None
    has_more: bool
    total: int | None


# Tasks, notes, appointments and organisations page exactly like contacts.
RecordPage = ContactPage


class StreetTextClient(BaseClient):
    """Workspace-scoped client authenticated by the workspace API key."""

    service_name = "StreetText"

    WORKSPACE_PATH = "/v1/workspace"
    CONTACTS_PATH = "/v1/contacts"
    CONTACT_PATH = "/v1/contacts/{contact_id}"
    TASKS_PATH = "/v1/tasks"
    NOTES_PATH = "/v1/notes"
    APPOINTMENTS_PATH = "/v1/appointments"
    ORGANIZATIONS_PATH = "/v1/organizations"
    DEALS_PATH = "/v1/deals"
    ACTIVITIES_PATH = "/v1/activities"
    CONTACT_ACTIVITIES_PATH = "/v1/contacts/{contact_id}/activities"
    # Resource name -> (collection path, singular key of the one-record answers); items live at "<path>/<id>".
    RESOURCES: dict[str, tuple[str, str]] = {
        "tasks": (TASKS_PATH, "task"),
        "notes": (NOTES_PATH, "note"),
        "appointments": (APPOINTMENTS_PATH, "appointment"),
        "organizations": (ORGANIZATIONS_PATH, "organization"),
        "deals": (DEALS_PATH, "deal"),
        # Listing, reading and deleting only; created under their contact (create_activity).
        "activities": (ACTIVITIES_PATH, "activity"),
    }

    def __init__(self, *, base_url: str, api_key: str, timeout: tuple[float, float] | None = None) -> None:
        super().__init__(base_url=base_url, timeout=timeout)
        self.api_key = api_key

    # -- BaseClient hooks ------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.api_key}

    def error_message(self, payload: Any) -> tuple[str, list[str]]:
        """StreetText errors: {"error": {"code", "message", "details": [..]}}."""
        error = payload.get("error") if isinstance(payload, dict) else None
        if not isinstance(error, dict):
            return "", []
        message = str(error.get("message") or error.get("code") or "")
        details = error.get("details")
        return message, [str(d) for d in details] if isinstance(details, list) else []

    def rate_limit_key(self) -> str | None:
        """StreetText counts 120 requests / 10 s per API key (docs/streettext-api.md#rate-limit)."""
        if not settings.STREETTEXT_RATE_LIMIT_MAX:
            return None
        # A one-way digest names the key's window; the key itself never reaches the rate-limit store.
        digest = hashlib.sha256(f"{self.base_url}|{self.api_key}".encode()).hexdigest()[:16]
        return f"streettext:{digest}"

    def rate_limit_policy(self) -> RatePolicy | None:
        key = self.rate_limit_key()
        if key is None:
            return None
        return RatePolicy(
            key=key,
            limit=settings.STREETTEXT_RATE_LIMIT_MAX,
            window_seconds=settings.STREETTEXT_RATE_LIMIT_WINDOW_SECONDS,
            headroom=settings.STREETTEXT_RATE_LIMIT_HEADROOM,
        )

    # -- endpoints ---------------------------------------------------------------
    def get_workspace(self) -> dict[str, Any]:
        """The workspace of this API key; a cheap credentials check for "Test connection"."""
        # Reference: docs/streettext-api.md#workspace
        return dict(self._envelope(self.request("GET", self.WORKSPACE_PATH), "workspace", self.WORKSPACE_PATH))

    def list_contacts(
        self,
        *,
        limit: int,
        cursor: str | None = None,
        updated_since: datetime | str | None = None,
        email: str | Sequence[str] | None = None,
        phone: str | Sequence[str] | None = None,
        external_id: str | Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
    ) -> ContactPage:
        """One page of contacts ordered by (updated_at, id); `cursor` wins over `updated_since` server-side.

        The filters take one value or several (any of them matches)."""
        # Reference: docs/streettext-api.md#listing-and-the-updated-since-cursor
        params: dict[str, Any] = {"limit": max(1, min(limit, LIST_MAX_LIMIT))}
        if cursor:
            params["cursor"] = cursor
        elif updated_since is not None:
            params["updated_since"] = _iso(updated_since)
        for name, value in (("email", email), ("phone", phone), ("external_id", external_id), ("id", ids)):
            if value:
                params[name] = _filter_param(value)
        payload = self.request("GET", self.CONTACTS_PATH, params=params)
        data = self._envelope(payload, "data", self.CONTACTS_PATH, kind=list)
        next_cursor = payload.get("next_cursor")
        has_more = payload.get("has_more")
        total = payload.get("total")
        return {
            "data": data,
            "next_cursor": str(next_cursor) if next_cursor else None,
            # `has_more` is in the contract's example; without it, a full page means "ask again".
            "has_more": bool(has_more) if has_more is not None else len(data) >= params["limit"] and bool(next_cursor),
            "total": int(total) if isinstance(total, int | float) and not isinstance(total, bool) else None,
        }

    def get_contact(self, contact_id: str) -> Contact:
        """One contact by id."""
        # Reference: docs/streettext-api.md#contacts
        path = self.CONTACT_PATH.format(contact_id=contact_id)
        return dict(self._envelope(self.request("GET", path), "contact", path))

    def create_contact(self, data: Mapping[str, Any]) -> Contact:
        """Create a contact (201 {"contact"})."""
        # Reference: docs/streettext-api.md#contacts
        payload = self.request("POST", self.CONTACTS_PATH, json=dict(data))
        return dict(self._envelope(payload, "contact", self.CONTACTS_PATH))

    def update_contact(self, contact_id: str, data: Mapping[str, Any]) -> Contact:
        """Change the given fields (PATCH; others are kept, `tags` is replaced as a whole)."""
        # Reference: docs/streettext-api.md#contacts
        path = self.CONTACT_PATH.format(contact_id=contact_id)
        return dict(self._envelope(self.request("PATCH", path, json=dict(data)), "contact", path))

    def delete_contact(self, contact_id: str) -> None:
        """Delete a contact (204, no body)."""
        # Reference: docs/streettext-api.md#contacts
        self.request("DELETE", self.CONTACT_PATH.format(contact_id=contact_id), expected=(204, 200))

    # -- tasks, notes, appointments, organisations: one shape, so one generic implementation ---------------
    def list_records(
        self,
        resource: str,
        *,
        limit: int,
        cursor: str | None = None,
        updated_since: datetime | str | None = None,
        contact_id: str | Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
    ) -> RecordPage:
        """One page of a resource ("tasks", "notes", "appointments", "organizations") ordered by (updated_at, id)."""
        # Reference: docs/streettext-api.md#tasks-notes-appointments-and-organisations
        path, _ = self._resource(resource)
        params: dict[str, Any] = {"limit": max(1, min(limit, LIST_MAX_LIMIT))}
        if cursor:
            params["cursor"] = cursor
        elif updated_since is not None:
            params["updated_since"] = _iso(updated_since)
        if contact_id:
            params["contact_id"] = _filter_param(contact_id)
        if ids:
            params["id"] = _filter_param(ids)
        payload = self.request("GET", path, params=params)
        data = self._envelope(payload, "data", path, kind=list)
        next_cursor = payload.get("next_cursor")
        has_more = payload.get("has_more")
        total = payload.get("total")
        return {
            "data": data,
            "next_cursor": str(next_cursor) if next_cursor else None,
            "has_more": bool(has_more) if has_more is not None else len(data) >= params["limit"] and bool(next_cursor),
            "total": int(total) if isinstance(total, int | float) and not isinstance(total, bool) else None,
        }

    def get_record(self, resource: str, record_id: str) -> dict[str, Any]:
        """One record of a resource by id."""
        # Reference: docs/streettext-api.md#tasks-notes-appointments-and-organisations
        path, key = self._resource(resource)
        item_path = f"{path}/{record_id}"
        return dict(self._envelope(self.request("GET", item_path), key, item_path))

    def create_record(self, resource: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Create a record of a resource (201 {"<singular>"})."""
        # Reference: docs/streettext-api.md#tasks-notes-appointments-and-organisations
        path, key = self._resource(resource)
        return dict(self._envelope(self.request("POST", path, json=dict(data)), key, path))

    def update_record(self, resource: str, record_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Change the given fields of a record (PATCH; others are kept)."""
        # Reference: docs/streettext-api.md#tasks-notes-appointments-and-organisations
        path, key = self._resource(resource)
        item_path = f"{path}/{record_id}"
        return dict(self._envelope(self.request("PATCH", item_path, json=dict(data)), key, item_path))

    def delete_record(self, resource: str, record_id: str) -> None:
        """Delete a record of a resource (204, no body)."""
        # Reference: docs/streettext-api.md#tasks-notes-appointments-and-organisations
        path, _ = self._resource(resource)
        self.request("DELETE", f"{path}/{record_id}", expected=(204, 200))

    # -- contact activities ------------------------------------------------------------------------------------
    def create_activity(self, contact_id: str, data: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """Record an activity on a contact: (activity, created). With `source` and `source_id` it is recorded once:
        the same pair again answers 200 with the activity recorded before (created False)."""
        # Reference: docs/streettext-api.md#contact-activities
        path = self.CONTACT_ACTIVITIES_PATH.format(contact_id=contact_id)
        # The status tells a new activity from one recorded before: the answer is read here, not by request().
        response = self.request("POST", path, json=dict(data), raw_response=True)
        try:
            payload = response.json()
        except ValueError as e:
            raise exc.ApiBadResponse(
                f"{self.service_name} answered {response.status_code} with a body that is not JSON",
                status_code=response.status_code,
                url=self.base_url + path,
            ) from e
        return dict(self._envelope(payload, "activity", path)), response.status_code == 201

    def list_contact_activities(
        self,
        contact_id: str,
        *,
        limit: int,
        cursor: str | None = None,
        updated_since: datetime | str | None = None,
        source_id: str | Sequence[str] | None = None,
    ) -> RecordPage:
        """One page of a contact's activities, ordered by (updated_at, id)."""
        # Reference: docs/streettext-api.md#contact-activities
        path = self.CONTACT_ACTIVITIES_PATH.format(contact_id=contact_id)
        params: dict[str, Any] = {"limit": max(1, min(limit, LIST_MAX_LIMIT))}
        if cursor:
            params["cursor"] = cursor
        elif updated_since is not None:
            params["updated_since"] = _iso(updated_since)
        if source_id:
            params["source_id"] = _filter_param(source_id)
        payload = self.request("GET", path, params=params)
        data = self._envelope(payload, "data", path, kind=list)
        next_cursor = payload.get("next_cursor")
        has_more = payload.get("has_more")
        total = payload.get("total")
        return {
            "data": data,
            "next_cursor": str(next_cursor) if next_cursor else None,
            "has_more": bool(has_more) if has_more is not None else len(data) >= params["limit"] and bool(next_cursor),
            "total": int(total) if isinstance(total, int | float) and not isinstance(total, bool) else None,
        }

    def _resource(self, resource: str) -> tuple[str, str]:
        try:
            return self.RESOURCES[resource]
        except KeyError as e:
            raise ValueError(f"Unknown StreetText resource {resource!r}") from e


def _filter_param(value: str | Sequence[str]) -> str:
    """A filter's value(s): several are sent comma-separated (docs/streettext-api.md, at most LIST_MAX_LIMIT)."""
    if isinstance(value, str):
        return value
    if len(value) > LIST_MAX_LIMIT:
        raise ValueError(f"StreetText filters take at most {LIST_MAX_LIMIT} values")
    return ",".join(value)


def _iso(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
