"""StreetText API client: the only module that knows StreetText's wire format (contract: docs/streettext-api.md)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypedDict

from integrations.clients import exceptions as exc
from integrations.clients.base import BaseClient

Contact = dict[str, Any]

LIST_MAX_LIMIT = 200


class ContactPage(TypedDict):
    data: list[Contact]
    next_cursor: str | None
    has_more: bool
    total: int | None


class StreetTextClient(BaseClient):
    """Workspace-scoped client authenticated by the workspace API key."""

    service_name = "StreetText"

    WORKSPACE_PATH = "/v1/workspace"
    CONTACTS_PATH = "/v1/contacts"
    CONTACT_PATH = "/v1/contacts/{contact_id}"

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

    # -- plumbing --------------------------------------------------------------
    def _envelope(self, payload: Any, key: str, path: str, *, kind: type = dict) -> Any:
        if not isinstance(payload, dict) or key not in payload:
            raise exc.ApiBadResponse(
                f"{self.service_name} answer to {path} has no '{key}' key", url=self.base_url + path
            )
        value = payload[key]
        if not isinstance(value, kind):
            raise exc.ApiBadResponse(
                f"{self.service_name} answer to {path}: '{key}' is not a {kind.__name__}", url=self.base_url + path
            )
        return value

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
        email: str | None = None,
        phone: str | None = None,
        external_id: str | None = None,
    ) -> ContactPage:
        """One page of contacts ordered by (updated_at, id); `cursor` wins over `updated_since` server-side."""
        # Reference: docs/streettext-api.md#listing-and-the-updated-since-cursor
        params: dict[str, Any] = {"limit": max(1, min(limit, LIST_MAX_LIMIT))}
        if cursor:
            params["cursor"] = cursor
        elif updated_since is not None:
            params["updated_since"] = _iso(updated_since)
        for name, value in (("email", email), ("phone", phone), ("external_id", external_id)):
            if value:
                params[name] = value
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


def _iso(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
