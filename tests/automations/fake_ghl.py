"""GoHighLevel operations the built-in sandbox does not serve yet (opportunities, conversations, workflows), answered
with `responses` in the shapes GHL's spec gives, so the presets that need them are tested now, with StreetText still
the real sandbox over HTTP (passed through). The sandbox branch that serves them lets these run against it
(tests/automations/test_presets.py says which)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

import responses
from django.utils import timezone

from automations import values as v

BASE = "https://services.leadconnectorhq.com"
JSON = "application/json"


def stamp(moment: datetime) -> str:
    return v.iso(moment)


class FakeGhl:
    """Opportunities, conversations, contacts and workflow enrolments of one location, as plain data."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.opportunities: dict[str, dict[str, Any]] = {}
        self.conversations: dict[str, dict[str, Any]] = {}
        self.contacts: dict[str, dict[str, Any]] = {}
        self.enrolments: list[tuple[str, str]] = []
        self.requests: list[str] = []
        rsps.add_callback(
            responses.GET,
            re.compile(rf"{BASE}/opportunities/search.*"),
            callback=self._opportunities,
            content_type=JSON,
        )
        rsps.add_callback(
            responses.GET,
            re.compile(rf"{BASE}/conversations/search.*"),
            callback=self._conversations,
            content_type=JSON,
        )
        rsps.add_callback(responses.POST, f"{BASE}/contacts/search", callback=self._find_contact, content_type=JSON)
        rsps.add_callback(
            responses.POST,
            re.compile(rf"{BASE}/contacts/[^/]+/workflow/[^/]+"),
            callback=self._enrol,
            content_type=JSON,
        )
        rsps.add_callback(
            responses.GET, re.compile(rf"{BASE}/contacts/[^/?]+$"), callback=self._contact, content_type=JSON
        )

    # -- data ---------------------------------------------------------------------------------------------------
    def contact(self, contact_id: str, email: str, first: str = "Ann") -> None:
        self.contacts[contact_id] = {"id": contact_id, "email": email, "firstName": first, "lastName": "Test"}

    def opportunity(self, opportunity_id: str, *, ago: timedelta | None = None, **fields: Any) -> dict[str, Any]:
        """Create or change an opportunity; its updatedAt moves to now (minus `ago`)."""
        moment = timezone.now() - (ago or timedelta())
        current = self.opportunities.get(opportunity_id) or {
            "id": opportunity_id,
            "name": f"Deal {opportunity_id}",
            "status": "open",
            "pipelineId": "p1",
            "pipelineStageId": "s1",
            "monetaryValue": 100,
            "createdAt": stamp(moment),
        }
        current = {**current, **fields, "updatedAt": stamp(moment)}
        contact = self.contacts.get(current.get("contactId", ""), {})
        current["contact"] = {"id": contact.get("id"), "email": contact.get("email"), "tags": []}
        self.opportunities[opportunity_id] = current
        return current

    def conversation(self, conversation_id: str, **fields: Any) -> dict[str, Any]:
        current = self.conversations.get(conversation_id) or {"id": conversation_id, "type": "TYPE_PHONE"}
        current = {**current, **fields}
        self.conversations[conversation_id] = current
        return current

    # -- answers ------------------------------------------------------------------------------------------------
    def _opportunities(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.requests.append(request.url)
        rows = sorted(self.opportunities.values(), key=lambda o: (o["createdAt"], o["id"]))
        last = rows[-1] if rows else None
        meta = {
            "total": len(rows),
            "nextPageUrl": None,
            "startAfterId": last["id"] if last else None,
            "startAfter": 0,
            "currentPage": 1,
            "nextPage": None,
            "prevPage": None,
        }
        return 200, {}, json.dumps({"opportunities": rows, "meta": meta})

    def _conversations(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.requests.append(request.url)
        rows = list(self.conversations.values())
        return 200, {}, json.dumps({"conversations": rows, "total": len(rows)})

    def _contact(self, request: Any) -> tuple[int, dict[str, str], str]:
        contact_id = request.path_url.rstrip("/").split("/")[-1]
        if contact_id not in self.contacts:
            return 400, {}, json.dumps({"statusCode": 400, "message": "Contact not found"})
        return 200, {}, json.dumps({"contact": self.contacts[contact_id]})

    def _find_contact(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        wanted = set()
        for group in body.get("filters") or []:
            for item in group.get("filters", [group]):
                if item.get("field") == "email":
                    wanted.add(str(item.get("value")).lower())
        found = [c for c in self.contacts.values() if c["email"].lower() in wanted]
        return 200, {}, json.dumps({"contacts": found, "total": len(found)})

    def _enrol(self, request: Any) -> tuple[int, dict[str, str], str]:
        parts = request.path_url.split("/")
        self.enrolments.append((parts[2], parts[4]))
        return 200, {}, json.dumps({"succeded": True})
