"""Control endpoints of the catalog (no auth; mounted with the sandbox): a customer's reply arriving in a
conversation, and the workflow/campaign memberships GHL's API has no read for."""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox import services
from sandbox.catalog.rules import CONTACT
from sandbox.ghl import GhlRequest
from sandbox.models import SandboxAccount, SandboxRecord, SandboxSystem

MSG_CONTACT_REQUIRED = "contactId is required"
MSG_UNKNOWN_CONTACT = "No such contact in the sandbox"
MSG_UNKNOWN_LOCATION = "No such GHL location in the sandbox"
MSG_CHANNEL = "type must be one of: {}"


def _error(message: str, status: int = 400) -> HttpResponse:
    return JsonResponse({"error": message}, status=status)


def sandbox_inbound_message(
    *, contact_id: str, message: str, channel: str = "SMS", location_id: str | None = None
) -> dict[str, Any]:
    """A customer's message arrives: it is stored inbound (unread) in the contact's conversation, created if the
    contact has none. Returns {conversationId, messageId, contactId, locationId}."""
    from sandbox.catalog import conversations, engine, rules

    contacts = SandboxRecord.objects.filter(
        account__system=SandboxSystem.GHL, object_type=CONTACT, record_id=contact_id, deleted=False
    )
    if location_id:
        contacts = contacts.filter(account__account_id=location_id)
    contact = contacts.select_related("account").first()
    if contact is None:
        raise services.SandboxInputError(MSG_UNKNOWN_CONTACT)
    if channel not in conversations.MESSAGE_TYPES:
        raise services.SandboxInputError(MSG_CHANNEL.format(", ".join(conversations.MESSAGE_TYPES)))
    rule = rules.rules()[("conversations", "add-an-inbound-message")]
    request = GhlRequest(method="POST", url="", query={}, body={}, accounts=[contact.account])
    call = engine.Call(rule=rule, req=request, params={})
    with transaction.atomic():
        conversation = conversations.conversation_for(call, contact)
        stored = conversations.add_message(
            call, conversation=conversation, channel=channel, direction="inbound", body=message, status="delivered"
        )
    return {
        "conversationId": conversation.record_id,
        "messageId": stored.record_id,
        "contactId": contact.record_id,
        "locationId": contact.account.account_id,
    }


@csrf_exempt
def control_inbound_message(request: HttpRequest) -> HttpResponse:
    """POST {contactId, message, type?: "SMS", locationId?}: simulate a customer's reply."""
    if request.method != "POST":
        return _error("method not allowed", 405)
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return _error("body must be a JSON object")
    if not isinstance(body, dict):
        return _error("body must be a JSON object")
    if not isinstance(body.get("contactId"), str) or not body["contactId"]:
        return _error(MSG_CONTACT_REQUIRED)
    try:
        created = sandbox_inbound_message(
            contact_id=body["contactId"],
            message=str(body.get("message") or ""),
            channel=str(body.get("type") or "SMS"),
            location_id=body.get("locationId") if isinstance(body.get("locationId"), str) else None,
        )
    except services.SandboxInputError as error:
        return _error(str(error), 404 if str(error) == MSG_UNKNOWN_CONTACT else 400)
    return JsonResponse(created, status=201)


def control_memberships(request: HttpRequest) -> HttpResponse:
    """GET ?locationId=&contactId=: workflow and campaign memberships, oldest first."""
    from sandbox.catalog.contacts import memberships_of

    if request.method != "GET":
        return _error("method not allowed", 405)
    account = SandboxAccount.objects.filter(
        system=SandboxSystem.GHL, account_id=request.GET.get("locationId", "")
    ).first()
    if account is None:
        return _error(MSG_UNKNOWN_LOCATION, 404)
    return JsonResponse(memberships_of(account=account, contact_id=request.GET.get("contactId") or None))
