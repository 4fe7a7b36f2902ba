"""Conversations and messages: one conversation per contact, messages that move it, inbound replies, scheduled
messages, call recordings and transcriptions, uploads, unsubscriptions, the search and list filters."""

from __future__ import annotations

import base64
import io
import struct
import uuid
import wave
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.db.models import Q

from sandbox import services
from sandbox.catalog.common import action, hook, iso, parse_moment, written
from sandbox.catalog.engine import RAW, RENDER_HOOKS, Call, Plan, create_record, update_record
from sandbox.catalog.rules import CONTACT, CONVERSATION, MESSAGE
from sandbox.ghl import Result, ghl_error, unprocessable
from sandbox.models import SandboxRecord

MSG_NOT_SCHEDULED = "This message is not scheduled"
MSG_CONVERSATION_EXISTS = "Conversation already exists"
# Channel names of the send/inbound bodies -> (numeric type, messageType). GHL's numbers are not in its spec; these
# follow the order of its conversation type descriptions.
MESSAGE_TYPES: dict[str, tuple[int, str]] = {
    "Call": (1, "TYPE_CALL"),
    "SMS": (2, "TYPE_SMS"),
    "Email": (3, "TYPE_EMAIL"),
    "FB": (4, "TYPE_FACEBOOK"),
    "GMB": (6, "TYPE_GMB"),
    "IG": (18, "TYPE_INSTAGRAM"),
    "WhatsApp": (19, "TYPE_WHATSAPP"),
    "Custom": (20, "TYPE_CUSTOM_SMS"),
    "Live_Chat": (29, "TYPE_LIVE_CHAT"),
    "RCS": (2, "TYPE_RCS"),
    "TIKTOK": (37, "TYPE_TIKTOK"),
    "Review": (17, "TYPE_REVIEW"),
}
# The export's `channel` filter -> messageType.
CHANNELS = {
    "Call": "TYPE_CALL",
    "SMS": "TYPE_SMS",
    "Email": "TYPE_EMAIL",
    "WhatsApp": "TYPE_WHATSAPP",
    "Instagram": "TYPE_INSTAGRAM",
    "Facebook": "TYPE_FACEBOOK",
}


# ------------------------------------------------------------------------------
# Conversations and messages
# ------------------------------------------------------------------------------
def _contact_fields(contact: SandboxRecord) -> dict[str, Any]:
    data = contact.data
    name = " ".join(part for part in (data.get("firstName"), data.get("lastName")) if part) or data.get("name") or ""
    return {
        "fullName": name,
        "contactName": name,
        "email": data.get("email") or "",
        "phone": data.get("phone") or "",
    }


@written(CONVERSATION)
def _conversation_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    """A new conversation copies its contact's name, email and phone (what search answers show); one per
    contact."""
    if old is None:
        contact = call.get(CONTACT, data["contactId"])
        if call.records(CONVERSATION).filter(data__contactId=contact.record_id).exists():
            existing = call.records(CONVERSATION).filter(data__contactId=contact.record_id).first()
            raise ghl_error(
                400, MSG_CONVERSATION_EXISTS, "Bad Request", conversationId=existing.record_id if existing else None
            )
        data.update(_contact_fields(contact))
        data.setdefault("lastMessageDate", iso(call.now))
    return data


def conversation_for(call: Call, contact: SandboxRecord) -> SandboxRecord:
    """The contact's conversation, created on its first message."""
    existing = (
        services.live_records(account=contact.account, object_type=CONVERSATION)
        .filter(data__contactId=contact.record_id)
        .order_by("created_at", "record_id")
        .first()
    )
    if existing is not None:
        existing.account = contact.account
        return existing
    call.parent_account = contact.account
    return create_record(call, {"contactId": contact.record_id}, resource=CONVERSATION)


def add_message(
    call: Call,
    *,
    conversation: SandboxRecord,
    channel: str,
    direction: str,
    body: str,
    status: str,
    extra: Mapping[str, Any] | None = None,
) -> SandboxRecord:
    """Store one message in a conversation and move the conversation's last-message fields (an inbound one also
    counts as unread)."""
    number, message_type = MESSAGE_TYPES.get(channel, MESSAGE_TYPES["SMS"])
    data = {
        "conversationId": conversation.record_id,
        "contactId": conversation.data.get("contactId"),
        "type": number,
        "messageType": message_type,
        "direction": direction,
        "status": status,
        "body": body,
        "contentType": "text/html" if message_type == "TYPE_EMAIL" else "text/plain",
        "attachments": [],
        "source": "api",
        **(extra or {}),
    }
    message = services.sandbox_record_put(account=conversation.account, object_type=MESSAGE, data=data)
    message.account = conversation.account
    if status != "scheduled":
        unread = int(conversation.data.get("unreadCount") or 0) + (1 if direction == "inbound" else 0)
        changes = {
            "lastMessageBody": body,
            "lastMessageType": message_type,
            "lastMessageDirection": direction,
            "lastMessageDate": iso(message.created_at),
            "lastMessageAction": "manual",
            "unreadCount": unread,
        }
        services.sandbox_record_put(
            account=conversation.account,
            object_type=CONVERSATION,
            record_id=conversation.record_id,
            data={**conversation.data, **changes},
        )
    return message


def _text(body: Mapping[str, Any]) -> str:
    for key in ("message", "html", "subject"):
        if isinstance(body.get(key), str) and body[key]:
            return str(body[key])
    return ""


def _sent(message: SandboxRecord, conversation: SandboxRecord, status: str) -> dict[str, Any]:
    values = {
        "conversationId": conversation.record_id,
        "messageId": message.record_id,
        "messageIds": [message.record_id],
        "msg": "Message queued successfully.",
        "status": status,
    }
    if message.data.get("messageType") == "TYPE_EMAIL":
        values["emailMessageId"] = message.record_id
    return values


@action("message_send")
def message_send(call: Call) -> Result:
    """POST /conversations/messages: an outbound message in the contact's conversation (created if needed); with
    scheduledTimestamp it waits as `scheduled` and does not move the conversation."""
    body = call.body
    contact = call.req.contact(body["contactId"])
    conversation = conversation_for(call, contact)
    scheduled = body.get("scheduledTimestamp") is not None
    status = "scheduled" if scheduled else body.get("status") or "delivered"
    extra = {key: body[key] for key in ("subject", "emailFrom", "emailTo", "threadId", "userId") if key in body}
    extra["attachments"] = list(body.get("attachments") or [])
    if scheduled:
        extra["scheduledTimestamp"] = body["scheduledTimestamp"]
    message = add_message(
        call,
        conversation=conversation,
        channel=body["type"],
        direction="outbound",
        body=_text(body),
        status=status,
        extra=extra,
    )
    answer_status = body.get("status") or "pending"
    return call.answer(values=_sent(message, conversation, answer_status))


def _conversation_of(call: Call, body: Mapping[str, Any]) -> SandboxRecord:
    conversation = call.get(CONVERSATION, body["conversationId"])
    if body.get("contactId") and conversation.data.get("contactId") != body["contactId"]:
        raise unprocessable(["contactId must be the contact of the conversation"])
    return conversation


def _added(message: SandboxRecord) -> dict[str, Any]:
    values = {
        "success": True,
        "conversationId": message.data["conversationId"],
        "messageId": message.record_id,
        "message": "Message added successfully",
        "contactId": message.data.get("contactId"),
        "dateAdded": iso(message.created_at),
    }
    if message.data.get("messageType") == "TYPE_EMAIL":
        values["emailMessageId"] = message.record_id
    return values


@action("message_inbound")
def message_inbound(call: Call) -> Result:
    """POST /conversations/messages/inbound: a customer's message arrives in a conversation (unread)."""
    body = call.body
    conversation = _conversation_of(call, body)
    extra = {key: body[key] for key in ("subject", "emailFrom", "emailTo", "altId") if key in body}
    extra["conversationProviderId"] = body.get("conversationProviderId")
    extra["attachments"] = list(body.get("attachments") or [])
    if isinstance(body.get("call"), dict):
        extra["meta"] = {"callStatus": body["call"].get("status") or "completed"}
    message = add_message(
        call,
        conversation=conversation,
        channel=body["type"],
        direction="inbound",
        body=_text(body),
        status="delivered",
        extra=extra,
    )
    return call.answer(values=_added(message))


@action("message_outbound")
def message_outbound(call: Call) -> Result:
    """POST /conversations/messages/outbound: an outbound call logged by a provider."""
    body = call.body
    conversation = _conversation_of(call, body)
    details = body.get("call") if isinstance(body.get("call"), dict) else {}
    extra = {
        "conversationProviderId": body.get("conversationProviderId"),
        "altId": body.get("altId"),
        "attachments": list(body.get("attachments") or []),
        "meta": {"callStatus": details.get("status") or "completed", "callDuration": "0"},
    }
    message = add_message(
        call, conversation=conversation, channel="Call", direction="outbound", body="", status="delivered", extra=extra
    )
    return call.answer(values=_added(message))


@action("message_review_reply")
def message_review_reply(call: Call) -> Result:
    conversation = _conversation_of(call, call.body)
    message = add_message(
        call,
        conversation=conversation,
        channel="Review",
        direction="outbound",
        body=str(call.body.get("message") or ""),
        status="delivered",
    )
    return call.answer(values=_sent(message, conversation, "delivered"))


@hook("message_echo")
def message_echo(call: Call, message: SandboxRecord) -> Result:
    """PUT /conversations/messages/{id}/status answers like a send."""
    return call.answer(values=_sent(message, call.get(CONVERSATION, message.data["conversationId"]), "delivered"))


@action("message_attachments")
def message_attachments(call: Call) -> Result:
    message = call.get(MESSAGE, call.params["messageId"])
    attachments = list(dict.fromkeys([*(message.data.get("attachments") or []), *call.body["attachments"]]))
    update_record(call, message, {"attachments": attachments})
    return call.answer(values={"success": True, "attachments": attachments})


@action("message_cancel")
def message_cancel(call: Call) -> Result:
    """Cancelling a scheduled message (or email) removes it; anything else is refused."""
    message_id = call.params.get("messageId") or call.params["emailMessageId"]
    message = call.get(MESSAGE, message_id)
    if message.data.get("status") != "scheduled":
        raise ghl_error(400, MSG_NOT_SCHEDULED, "Bad Request")
    services.sandbox_record_delete(record=message)
    return call.answer(values={"status": 200, "message": "Scheduled message cancelled"})


def _call_message(call: Call) -> SandboxRecord:
    message = call.get(MESSAGE, call.params["messageId"])
    if message.data.get("messageType") != "TYPE_CALL":
        raise ghl_error(404, "No recording found for this message", "Not Found")
    return message


@cache
def _silence_wav() -> bytes:
    """A quarter second of 8 kHz mono silence: a real WAV file for the recording endpoint."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(struct.pack("<h", 0) * 2000)
    return buffer.getvalue()


@action("message_recording")
def message_recording(call: Call) -> Result:
    _call_message(call)
    raw = {"base64": base64.b64encode(_silence_wav()).decode(), "contentType": "audio/x-wav", "filename": "audio.wav"}
    return 200, {RAW: raw}


def _transcript(message: SandboxRecord) -> str:
    return str(message.data.get("transcript") or message.data.get("body") or "This call was recorded.")


@action("message_transcription")
def message_transcription(call: Call) -> Result:
    message = _call_message(call)
    text = _transcript(message)
    values = {
        "mediaChannel": 1,
        "sentenceIndex": 1,
        "startTime": 0,
        "endTime": 1000 * max(1, len(text.split()) // 3),
        "transcript": text,
        "confidence": 0.9,
    }
    return call.answer(values=values)


@action("message_transcription_text")
def message_transcription_text(call: Call) -> Result:
    message = _call_message(call)
    return 200, {RAW: {"text": _transcript(message), "contentType": "text/plain", "filename": "transcription.txt"}}


def last_message_moment(record: SandboxRecord) -> datetime:
    """When a conversation's last message came (its dateUpdated when it has none)."""
    return services.parse_time(record.data.get("lastMessageDate")) or record.updated_at


def _conversation_views(call: Call, records: list[SandboxRecord], views: list[dict[str, Any]]) -> None:
    """Search answers carry each conversation's sort value (`sort`: its last message's time in epoch ms), which
    `startAfterDate` takes to read the next page."""
    if call.rule.hook != "conversation_filters":
        return
    for record, view in zip(records, views, strict=True):
        view["sort"] = [services.to_epoch_ms(last_message_moment(record))]


RENDER_HOOKS[CONVERSATION] = _conversation_views


@hook("conversation_filters")
def conversation_filters(call: Call, plan: Plan) -> None:
    """assignedTo (comma list, "unassigned"), followers, lastMessageDirection/Action, status (read, unread,
    starred), startDate/endDate on dateAdded, sort (default: newest last message first). sortBy last_message_date
    (the default) and last_manual_message_date order and page (startAfterDate) by the last message's time: every
    sandbox message is manual, so the two agree; the other sortBy values order by dateUpdated."""
    inputs = call.inputs()
    plan.consumed |= {
        "assignedTo",
        "followers",
        "mentions",
        "lastMessageDirection",
        "lastMessageAction",
        "status",
        "sort",
        "sortBy",
        "sortScoreProfile",
        "scoreProfile",
        "scoreProfileMin",
        "scoreProfileMax",
        "startDate",
        "endDate",
    }
    if inputs.get("assignedTo"):
        wanted = [part.strip() for part in str(inputs["assignedTo"]).split(",") if part.strip()]
        condition = Q(data__assignedTo__in=[user for user in wanted if user != "unassigned"])
        if "unassigned" in wanted:
            condition |= Q(data__assignedTo=None) | ~Q(data__has_key="assignedTo")
        plan.qs = plan.qs.filter(condition)
    for key in ("lastMessageDirection", "lastMessageAction"):
        if inputs.get(key):
            plan.qs = plan.qs.filter(**{f"data__{key}": inputs[key]})
    status = inputs.get("status")
    if status == "unread":
        plan.qs = plan.qs.filter(data__unreadCount__gt=0)
    elif status == "read":
        plan.qs = plan.qs.filter(data__unreadCount=0)
    elif status == "starred":
        plan.qs = plan.qs.filter(data__starred=True)
    if inputs.get("startDate") is not None:
        plan.qs = plan.qs.filter(created_at__gte=parse_moment(inputs["startDate"], "startDate"))
    if inputs.get("endDate") is not None:
        plan.qs = plan.qs.filter(created_at__lte=parse_moment(inputs["endDate"], "endDate"))
    if inputs.get("followers"):
        wanted_followers = {part.strip() for part in str(inputs["followers"]).split(",") if part.strip()}
        plan.also(lambda record: bool(wanted_followers & set(record.data.get("followers") or [])))
    plan.order = "updated" if inputs.get("sort") == "asc" else "-updated"
    if inputs.get("sortBy") in (None, "", "last_message_date", "last_manual_message_date"):
        plan.moment = last_message_moment


@hook("message_filters")
def message_filters(call: Call, plan: Plan) -> None:
    """A conversation's messages newest first, by `type` (comma list of messageTypes); the location export by
    `channel` (default: every type but email), startDate/endDate, sortBy/sortOrder. `direction` (inbound,
    outbound) is a sandbox extension for pollers."""
    inputs = call.inputs()
    plan.consumed |= {"type", "channel", "startDate", "endDate", "sortBy", "sortOrder"}
    if inputs.get("type"):
        plan.qs = plan.qs.filter(data__messageType__in=[t.strip() for t in str(inputs["type"]).split(",")])
    if "channel" in {p.name for p in call.op.params("query")}:
        if inputs.get("channel"):
            plan.qs = plan.qs.filter(data__messageType=CHANNELS[inputs["channel"]])
        else:
            plan.qs = plan.qs.exclude(data__messageType="TYPE_EMAIL")
    if inputs.get("startDate"):
        plan.qs = plan.qs.filter(created_at__gte=parse_moment(inputs["startDate"], "startDate"))
    if inputs.get("endDate"):
        plan.qs = plan.qs.filter(created_at__lte=parse_moment(inputs["endDate"], "endDate"))
    direction = call.req.query.get("direction")
    if direction in ("inbound", "outbound"):
        plan.qs = plan.qs.filter(data__direction=direction)
    if inputs.get("sortBy") or inputs.get("sortOrder"):
        column = "updated" if inputs.get("sortBy") == "updatedAt" else "created"
        plan.order = column if inputs.get("sortOrder") == "asc" else f"-{column}"


@action("unsubscription_status")
def unsubscription_status(call: Call) -> Result:
    contact = call.req.contact(call.req.query["contactId"])
    rows = services.live_records(account=contact.account, object_type="conversations.unsubs").filter(
        data__contactId=contact.record_id
    )
    changes = [row.data for row in rows.order_by("created_at", "record_id")]
    return 200, {"contactId": contact.record_id, "email": contact.data.get("email"), "subscriptions": changes}


@action("unsubscription_change")
def unsubscription_change(call: Call) -> Result:
    contact = call.req.contact(call.body["contactId"])
    call.parent_account = contact.account
    create_record(call, call.body)
    return 200, {"success": True}


@action("uploaded")
def uploaded(call: Call) -> Result:
    """Upload endpoints: the files are not kept; the answer names them as GHL's storage would."""
    body = call.body if isinstance(call.body, dict) else {}
    urls = body.get("attachmentUrls") or ([body["filePath"]] if body.get("filePath") else [])
    urls = [urls] if isinstance(urls, str) else urls  # one multipart part is one text, not a list
    files = {str(url).rsplit("/", 1)[-1] or f"file{n}": str(url) for n, url in enumerate(urls)}
    values = {"uploadedFiles": files, "metadata": {"filename": body.get("filename")}, "meta": []}
    return call.answer(values=values)


@action("upload_initiate")
def upload_initiate(call: Call) -> Result:
    upload_id = uuid.uuid4().hex
    path = f"conversations/{call.body['conversationId']}/{upload_id}/{call.body['filename']}"
    values = {
        "uploadUrl": f"{call.req.url.split('/ghl/')[0]}/ghl-uploads/{upload_id}",
        "uploadId": upload_id,
        "filePath": path,
        "expiresAt": services.to_epoch_ms(call.now + timedelta(minutes=15)),
        "maxFileSize": 25 * 1024 * 1024,
    }
    return call.answer(values=values)


@action("ok")
def ok(call: Call) -> Result:
    return call.answer()
