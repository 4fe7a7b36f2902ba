"""Each new message of a changed conversation, not only its newest (an automation with `each_message`).

Search Conversations answers one row per conversation with its *last* message only: two replies between polls would
be one item, and the first reply would never be seen. So each conversation row is only a signal: when its last
message moved since the version recorded, the conversation's messages are read with GHL's messages listing
(`GET /conversations/{conversationId}/messages`, newest first, paged by `lastMessageId` and `limit`) back to the
first message already in the history (or older than the automation's start). Every message read becomes its own
item (its id, its `dateAdded` as version), so the item's unique row keeps each message handled once across polls.

The conversation row is recorded too (skipped, as bookkeeping: "its messages were read at this version") in the same
transaction as its messages, so a crash between reading and storing reads the conversation again. A reply that
arrives while a poll pages is either read by that poll (it is newer than the anchor of the next page, so it is on
a page already read only if that page was read after it arrived) or moves the conversation's last message, so the
next poll reads the conversation again and stops at the messages it already holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from automations import values as v
from automations.classify import Decision, ItemShape, Rules, classify, identify
from automations.models import Automation, AutomationItem
from automations.paging import paging_for
from automations.triggers import MSG_TRIGGER_FAILED, TriggerFailed
from integrations.catalog.selectors import catalog_operation
from integrations.catalog.services import catalog_execute
from integrations.clients import exceptions as exc

MESSAGES_OPERATION = "get-messages-by-conversation"
MESSAGES_PAGE_SIZE = 50
MESSAGE_SHAPE = ItemShape(id_field="id", updated_field="dateAdded", many=True)
REASON_READ = "Its messages were read: {count} new."
REASON_BEFORE_START = "Its last message is older than the automation's start."


@dataclass
class Expanded:
    """A page of conversations turned into their new messages."""

    conversations: list[Decision] = field(default_factory=list)  # bookkeeping rows (skipped)
    messages: list[Decision] = field(default_factory=list)
    read: int = 0  # messages read (already handled ones included)


def conversation_version(conversation: Mapping[str, Any]) -> str:
    """What tells a conversation's messages moved: its last message's time (and body, for two in one instant)."""
    moment = v.parse_time(conversation.get("lastMessageDate"))
    marker = {"date": v.iso(moment) if moment else conversation.get("lastMessageDate"), **_last(conversation)}
    return f"m:{v.digest(marker)}"


def _last(conversation: Mapping[str, Any]) -> dict[str, Any]:
    return {key: conversation.get(key) for key in ("lastMessageId", "lastMessageBody", "lastMessageDirection")}


def _messages_of(data: Any) -> tuple[list[dict[str, Any]], Mapping[str, Any]]:
    """The messages of an answer and the mapping that holds the paging values. GHL's spec puts `messages`,
    `lastMessageId` and `nextPage` at the top; the live API nests them under `messages`: both are read."""
    if not isinstance(data, Mapping):
        return [], {}
    holder: Mapping[str, Any] = data
    inner = data.get("messages")
    if isinstance(inner, Mapping):
        holder = inner
        inner = inner.get("messages")
    items = [dict(m) for m in inner if isinstance(m, Mapping)] if isinstance(inner, list) else []
    return items, holder


class ConversationMessages:
    """Reads the new messages of the conversations on a page of Search Conversations."""

    def __init__(self, automation: Automation, rules: Rules) -> None:
        self.automation = automation
        self.rules = rules
        self.operation = catalog_operation(MESSAGES_OPERATION)
        self.paging = paging_for(self.operation)

    def expand(self, conversations: list[dict[str, Any]]) -> Expanded:
        """HTTP: read the page's changed conversations' messages (called outside any transaction)."""
        expanded = Expanded()
        ids = [str(c.get("id")) for c in conversations if c.get("id")]
        recorded: dict[str, set[str]] = {}
        for item_id, version in AutomationItem.objects.filter(automation=self.automation, item_id__in=ids).values_list(
            "item_id", "version"
        ):
            recorded.setdefault(item_id, set()).add(version)
        seen: set[str] = set()
        for conversation in conversations:
            conversation_id = str(conversation.get("id") or "")
            version = conversation_version(conversation)
            if not conversation_id or conversation_id in seen or version in recorded.get(conversation_id, set()):
                continue
            seen.add(conversation_id)
            change = AutomationItem.Change.UPDATED if conversation_id in recorded else AutomationItem.Change.NEW
            last = v.parse_time(conversation.get("lastMessageDate"))
            if last is not None and last < self.rules.start_from:
                expanded.conversations.append(
                    self._marker(conversation, version, AutomationItem.Change.BASELINE, REASON_BEFORE_START)
                )
                continue
            messages, read = self._new_messages(conversation_id)
            expanded.read += read
            for message in messages:
                decision = classify(message, shape=MESSAGE_SHAPE, known=None, rules=self.rules, first_scan=False)
                if decision is not None:
                    expanded.messages.append(decision)
            expanded.conversations.append(
                self._marker(conversation, version, change, REASON_READ.format(count=len(messages)))
            )
        return expanded

    def _marker(self, conversation: dict[str, Any], version: str, change: str, reason: str) -> Decision:
        return Decision(
            item_id=str(conversation["id"])[:200],
            version=version,
            item_time=v.parse_time(conversation.get("lastMessageDate")),
            change=change,
            status=AutomationItem.Status.SKIPPED,
            reason=reason[:200],
            label=v.label_of(conversation),
            item=v.stored_item(conversation),
            changes={},
        )

    def _new_messages(self, conversation_id: str) -> tuple[list[dict[str, Any]], int]:
        """The conversation's messages newer than the newest one in the history (and not before the start), oldest
        first; and how many were read."""
        found: list[dict[str, Any]] = []
        read = 0
        values = self.paging.first(MESSAGES_PAGE_SIZE)
        # Not limited to a number of pages: the messages after the newest recorded one are all needed (every one is
        # recorded with the conversation, and the next poll stops at them).
        while True:
            page, holder = self._page(conversation_id, values)
            read += len(page)
            ids = [identify(m, MESSAGE_SHAPE)[0] for m in page]
            known = set(
                AutomationItem.objects.filter(automation=self.automation, item_id__in=ids).values_list(
                    "item_id", flat=True
                )
            )
            for message, message_id in zip(page, ids, strict=True):
                moment = v.parse_time(message.get("dateAdded"))
                if message_id in known or (moment is not None and moment < self.rules.start_from):
                    return found[::-1], read
                found.append(message)
            following = self.paging.next(values, {"messages": holder}, page, MESSAGES_PAGE_SIZE)
            if following is None:
                return found[::-1], read
            values = following

    def _page(self, conversation_id: str, values: Mapping[str, Any]) -> tuple[list[dict[str, Any]], Mapping[str, Any]]:
        params = {"conversationId": conversation_id, **values}
        execution = catalog_execute(
            connection=self.automation.ghl_connection, key=MESSAGES_OPERATION, params=params, log=False
        )
        if not execution.ok:
            error = execution.exception
            if isinstance(error, exc.TransientApiError):
                raise error
            detail = "; ".join([execution.error, *execution.messages]).strip("; ")
            raise TriggerFailed(MSG_TRIGGER_FAILED.format(error=detail or "no answer"))
        return _messages_of(execution.data)
