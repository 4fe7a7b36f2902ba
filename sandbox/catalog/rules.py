"""What the sandbox does for each GHL operation, decided from the spec: its kind (list, get, create, update, delete,
upsert, an action on another record, or an answer computed from stored records) and its resource collection, derived
from the path template. Where the generic reading is wrong for an operation, one entry of OVERRIDES fixes it.

Rules of the generic reading (`_derive`):
- a template ending in a parameter names one record of the collection before it (`/calendars/{calendarId}`): GET
  reads it (or lists, when the answer is a list), PUT/PATCH updates, DELETE deletes;
- a template ending in a literal is the collection itself (`/calendars/groups`): GET lists, POST creates;
  `search`/`all`/`export`/`filter-by-email` list the collection before them, `upsert` upserts into it;
- PUT on `…/{id}/<literal>` (`/opportunities/{id}/status`) updates that record with the body;
- the resource key is the first and last literal of the collection path (`calendars.notifications`,
  `opportunities.pipelines`, `opportunities`); path parameters before the record's own id are parents, kept in the
  record's data under their own names (`calendarId`), except `locationId`, which is the sandbox account.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from ghl_spec import Operation, get_spec
from sandbox.catalog.shapes import response_schema, unwrap

LIST, GET, CREATE, UPDATE, DELETE, UPSERT, ACTION = "list", "get", "create", "update", "delete", "upsert", "action"
KINDS = (LIST, GET, CREATE, UPDATE, DELETE, UPSERT, ACTION)
_LIST_WORDS = ("search", "all", "export", "filter-by-email")
LOCATION = "locationId"


@dataclass(frozen=True)
class Rule:
    """How one operation is served.

    kind: one of KINDS. resource: the SandboxRecord object_type. id_param: the path parameter naming the record.
    lookup: the data field `id_param` is matched against (None: the record id). parents: path parameters kept in the
    record's data (and filtered on). action: the handler in actions.ACTIONS for kind=action. hook: for the other
    kinds, an extension in actions.HOOKS (extra list filters, or what a write adds). slot: the envelope key of the
    answer when the generic reading picks the wrong one. order: default list order ("created", "-created",
    "updated", "-updated"). options: small per-operation settings read by the engine or the hook.
    """

    op: Operation
    kind: str
    resource: str
    id_param: str | None = None
    lookup: str | None = None
    parents: tuple[str, ...] = ()
    action: str | None = None
    hook: str | None = None
    slot: str | None = None
    order: str = "created"
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return self.op.key


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def _name(segment: str) -> str:
    return segment[1:-1]


def resource_key(segments: list[str] | tuple[str, ...]) -> str:
    """`calendars.notifications` for /calendars/{calendarId}/notifications: first and last literal."""
    literals = [segment for segment in segments if not _is_param(segment)]
    if not literals:
        return ""
    return literals[0] if len(literals) == 1 else f"{literals[0]}.{literals[-1]}"


def _answers_a_list(op: Operation) -> bool:
    schema = unwrap(response_schema(op) or {})
    if schema.get("type") == "array":
        return True
    properties = schema.get("properties") or {}
    if any(key in properties for key in ("id", "_id")):
        return False
    lists = [
        name
        for name, sub in properties.items()
        if sub.get("type") == "array" and unwrap(sub.get("items")).get("properties")
    ]
    singles = [name for name, sub in properties.items() if unwrap(sub).get("properties")]
    return bool(lists) and not singles


def _parents(segments: list[str]) -> tuple[str, ...]:
    return tuple(_name(s) for s in segments if _is_param(s) and _name(s) != LOCATION)


def _derive(op: Operation) -> Rule:
    segments = list(op.segments)
    last = segments[-1]
    method = op.method
    if _is_param(last):
        collection = segments[:-1]
        resource = resource_key(collection)
        if method == "GET" and _answers_a_list(op):
            return Rule(op, LIST, resource, parents=_parents(segments))
        kind = {"GET": GET, "PUT": UPDATE, "PATCH": UPDATE, "DELETE": DELETE}.get(method)
        if kind is not None:
            return Rule(op, kind, resource, id_param=_name(last), parents=_parents(collection))
        return Rule(op, ACTION, resource, parents=_parents(segments))
    if last in _LIST_WORDS:
        collection = segments[:-1]
        while collection and collection[-1] in _LIST_WORDS:
            collection = collection[:-1]
        return Rule(op, LIST, resource_key(collection), parents=_parents(collection))
    if method == "POST" and last == "upsert":
        return Rule(op, UPSERT, resource_key(segments[:-1]), parents=_parents(segments[:-1]))
    if method in ("PUT", "PATCH") and len(segments) >= 2 and _is_param(segments[-2]):
        collection = segments[:-2]
        return Rule(op, UPDATE, resource_key(collection), id_param=_name(segments[-2]), parents=_parents(collection))
    if method == "GET":
        if _answers_a_list(op):
            return Rule(op, LIST, resource_key(segments), parents=_parents(segments))
        return Rule(op, ACTION, resource_key(segments), parents=_parents(segments))
    if method == "POST":
        return Rule(op, CREATE, resource_key(segments), parents=_parents(segments))
    return Rule(op, ACTION, resource_key(segments), parents=_parents(segments))


# ------------------------------------------------------------------------------
# Where the generic reading is wrong (operationId, or "app:operationId" for the ids two spec files share)
# ------------------------------------------------------------------------------
BLOCK_SLOT = "calendars.block-slots"
CONVERSATION = "conversations"
MESSAGE = "conversations.messages"
OPPORTUNITY = "opportunities"
CONTACT = "contact"  # the existing contacts store (ghl.py)
APPOINTMENT = "appointment"  # the existing appointments store (ghl_children.py)

OVERRIDES: dict[str, dict[str, Any]] = {
    # Contacts: memberships and followers live on the contact record (ghl.py's store).
    "add-followers-contact": {"kind": ACTION, "action": "followers_add", "resource": CONTACT},
    "remove-followers-contact": {"kind": ACTION, "action": "followers_remove", "resource": CONTACT},
    "add-contact-to-campaign": {"kind": ACTION, "action": "membership_add", "options": {"of": "campaignId"}},
    "remove-contact-from-campaign": {"kind": ACTION, "action": "membership_remove", "options": {"of": "campaignId"}},
    "remove-contact-from-every-campaign": {
        "kind": ACTION,
        "action": "membership_clear",
        "options": {"of": "campaignId"},
    },
    "add-contact-to-workflow": {"kind": ACTION, "action": "membership_add", "options": {"of": "workflowId"}},
    "delete-contact-from-workflow": {"kind": ACTION, "action": "membership_remove", "options": {"of": "workflowId"}},
    "contacts:create-association": {"kind": ACTION, "action": "contacts_bulk_tags"},  # bulk tags (sic, in the spec)
    # Calendars: blocked slots are one collection under two paths; free slots and slugs are computed.
    "create-block-slot": {"resource": BLOCK_SLOT},
    "edit-block-slot": {"resource": BLOCK_SLOT},
    "get-blocked-slots": {"resource": BLOCK_SLOT, "hook": "events_in_range"},
    "create-calendar-resource": {"kind": CREATE},
    "get-slots": {"kind": ACTION, "action": "free_slots", "resource": "calendars"},
    "validate-groups-slug": {"kind": ACTION, "action": "slug_available", "resource": "calendars.groups"},
    "create-appointment-note": {"resource": "calendars.notes"},
    "get-appointment-notes": {"resource": "calendars.notes"},
    "update-appointment-note": {"resource": "calendars.notes"},
    "delete-appointment-note": {"resource": "calendars.notes"},
    "create-event-notification": {"options": {"many": True}},  # the body is an array of notifications
    "getAllSchedules": {"resource": "calendars.schedules"},
    "add-calendar-to-schedule": {"kind": ACTION, "action": "link_add", "resource": "calendars.schedules"},
    "remove-calendar-from-schedule": {"kind": ACTION, "action": "link_remove", "resource": "calendars.schedules"},
    # Opportunities
    "search-opportunity": {"order": "-created", "hook": "opportunity_filters"},
    "Upsert-opportunity": {"hook": "opportunity_upsert"},
    "add-followers-opportunity": {"kind": ACTION, "action": "followers_add", "resource": OPPORTUNITY},
    "remove-followers-opportunity": {"kind": ACTION, "action": "followers_remove", "resource": OPPORTUNITY},
    "get-lost-reason": {"resource": "opportunities.lost-reason"},
    # Users (company-wide searches)
    "filter-users-by-email": {"hook": "users_by_email"},
    "search-users": {"hook": "users_filters"},
    # Conversations and messages
    "search-conversation": {"order": "-updated", "hook": "conversation_filters"},
    "send-a-new-message": {"kind": ACTION, "action": "message_send", "resource": MESSAGE},
    "add-an-inbound-message": {"kind": ACTION, "action": "message_inbound", "resource": MESSAGE},
    "add-an-outbound-message": {"kind": ACTION, "action": "message_outbound", "resource": MESSAGE},
    "send-review-reply": {"kind": ACTION, "action": "message_review_reply", "resource": MESSAGE},
    "get-email-by-id": {"resource": MESSAGE},
    "get-messages": {"order": "-created", "hook": "message_filters"},
    "export-messages-by-location": {"order": "-created", "hook": "message_filters"},
    "update-message-status": {"resource": MESSAGE, "hook": "message_echo"},
    "add-message-attachments": {"kind": ACTION, "resource": MESSAGE, "action": "message_attachments"},
    "cancel-scheduled-message": {"kind": ACTION, "action": "message_cancel", "resource": MESSAGE},
    "cancel-scheduled-email-message": {"kind": ACTION, "action": "message_cancel", "resource": MESSAGE},
    "get-message-recording": {"kind": ACTION, "action": "message_recording", "resource": MESSAGE},
    "get-message-transcription": {"kind": ACTION, "action": "message_transcription", "resource": MESSAGE},
    "download-message-transcription": {"kind": ACTION, "action": "message_transcription_text", "resource": MESSAGE},
    "get-all-custom-subtypes": {"kind": LIST, "slot": "customSubtypes"},
    "create-custom-subtype": {"slot": "customSubtype"},
    "update-custom-subtype": {"slot": "customSubtype"},
    "get-contact-unsubscription-status": {"kind": ACTION, "action": "unsubscription_status"},
    "user-subscription-change": {"kind": ACTION, "action": "unsubscription_change", "resource": "conversations.unsubs"},
    "upload-file-attachments": {"kind": ACTION, "action": "uploaded"},
    "initiate-file-upload": {"kind": ACTION, "action": "upload_initiate"},
    "complete-file-upload": {"kind": ACTION, "action": "uploaded"},
    "live-chat-agent-typing": {"kind": ACTION, "action": "ok"},
    # Locations: the location itself is the sandbox account.
    "search-locations": {"kind": ACTION, "action": "locations_search"},
    "put-location": {"kind": ACTION, "action": "location_update"},
    "delete-location": {"kind": ACTION, "action": "location_delete"},
    "create-location": {"kind": ACTION, "action": "location_create"},
    "get-timezones": {"kind": ACTION, "action": "timezones"},
    "upload-file-customFields": {"kind": ACTION, "action": "uploaded"},
    "GET-all-or-email-sms-templates": {"options": {"total": "totalCount"}},
    # Custom fields (v2) and folders
    "get-custom-fields-by-object-key": {
        "kind": ACTION,
        "action": "custom_fields_by_object",
        "resource": "custom-fields",
    },
    # Associations: keys and object keys are fields of the association; relations are listed per record.
    "get-association-key-by-key-name": {"resource": "associations", "lookup": "key"},
    "get-association-by-object-keys": {
        "kind": ACTION,
        "action": "association_by_object_key",
        "resource": "associations",
    },
    "find-associations": {"kind": LIST, "slot": "associations"},
    "get-relations-by-record-id": {
        "kind": LIST,
        "resource": "associations.relations",
        "parents": (),
        "hook": "relations_of_record",
        "slot": "relations",
    },
    # Custom objects: a schema is found by its key; records belong to a schema.
    "get-object-schema-by-key": {"lookup": "key", "hook": "object_with_fields"},
    "update-custom-object": {"lookup": "key"},
    "search-object-records": {"resource": "objects.records"},
    # Blogs
    "check-url-slug-exists": {"kind": ACTION, "action": "blog_slug_exists", "resource": "blogs.posts"},
    "get-blog-post": {"resource": "blogs.posts"},
    "get-blogs": {"resource": "blogs.site"},
    "update-blog-post": {"resource": "blogs.posts"},
    # OAuth: the installed locations are the token's accounts.
    "get-installed-location": {"kind": ACTION, "action": "installed_locations"},
}

# What an id in a path (or a create body) refers to: resource and the data field it matches (None: record id).
# A missing target answers 404 "<label> not found" before anything is written.
REFERENCES: dict[str, tuple[str, str | None, str]] = {
    "contactId": (CONTACT, None, "Contact"),
    "calendarId": ("calendars", None, "Calendar"),
    "groupId": ("calendars.groups", None, "Group"),
    "appointmentId": (APPOINTMENT, None, "Appointment"),
    "conversationId": (CONVERSATION, None, "Conversation"),
    "pipelineId": ("opportunities.pipelines", None, "Pipeline"),
    "workflowId": ("workflows", None, "Workflow"),
    "campaignId": ("campaigns", None, "Campaign"),
    "associationId": ("associations", None, "Association"),
    "blogId": ("blogs.site", None, "Blog"),
    "schemaKey": ("objects", "key", "Object schema"),
    "userId": ("users", None, "User"),
}
# Body fields checked against REFERENCES on creates (when present).
BODY_REFERENCES = ("contactId", "pipelineId", "conversationId", "associationId", "blogId", "calendarId", "userId")

# Body fields that are never stored (secrets and one-off booking options).
WRITE_ONLY = frozenset(
    {"password", "toNotify", "ignoreDateRange", "ignoreFreeSlotValidation", "overrideLocationConfig"}
)

# The operations ghl.py / ghl_children.py / oauth.py already serve; their handlers are routed as they are.
EXISTING: tuple[str, ...] = (
    "contacts:get-contacts",
    "contacts:create-contact",
    "contacts:get-contact",
    "contacts:update-contact",
    "contacts:delete-contact",
    "contacts:upsert-contact",
    "contacts:search-contacts-advanced",
    "contacts:get-duplicate-contact",
    "contacts:add-tags",
    "contacts:remove-tags",
    "contacts:get-all-tasks",
    "contacts:create-task",
    "contacts:get-task",
    "contacts:update-task",
    "contacts:delete-task",
    "contacts:update-task-completed",
    "contacts:get-all-notes",
    "contacts:create-note",
    "contacts:get-note",
    "contacts:update-note",
    "contacts:delete-note",
    "contacts:get-appointments-for-contact",
    "contacts:add-remove-contact-from-business",
    "contacts:get-contacts-by-businessId",
    "locations:get-location",
    "locations:task-search",
    "businesses:get-business",
    "businesses:update-business",
    "businesses:delete-Business",
    "businesses:get-businesses-by-location",
    "businesses:create-business",
    "calendars:create-appointment",
    "calendars:get-appointment",
    "calendars:edit-appointment",
    "calendars:get-calendar-events",
    "calendars:delete-event",
    "oauth:get-access-token",
    "oauth:get-location-access-token",
)


def _label(op: Operation) -> str:
    return f"{op.app}:{op.operation_id}"


def _override(op: Operation) -> dict[str, Any]:
    return OVERRIDES.get(_label(op)) or OVERRIDES.get(op.operation_id) or {}


def rule_for(op: Operation) -> Rule:
    """The rule of one operation: the generic reading with its override applied."""
    rule = _derive(op)
    override = _override(op)
    return replace(rule, **override) if override else rule


def is_existing(op: Operation) -> bool:
    return _label(op) in EXISTING


_rules: dict[tuple[str, str], Rule] | None = None


def rules() -> dict[tuple[str, str], Rule]:
    """Every operation this package serves (the spec's, minus EXISTING), keyed by (app, operationId)."""
    global _rules
    if _rules is None:
        _rules = {op.key: rule_for(op) for op in get_spec().operations if not is_existing(op)}
    return _rules


_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")


def snake(name: str) -> str:
    """contactId -> contact_id (the existing handlers' keyword names)."""
    return _SNAKE.sub("_", name).lower()
