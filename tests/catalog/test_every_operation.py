"""The acceptance test of the catalog: every operation runs through the runner's service and the GHL client against
the sandbox over real HTTP, and answers 2xx without a single spec rejection.

Each case builds what it needs through the catalog itself (a contact to attach a task to, the first calendar of the
location, …), so it depends on nothing but the sandbox answering like GHL. The sample values below are the only
thing written per operation; `SAMPLES` must name every catalog operation (the count is asserted in every case).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from integrations.catalog.loader import get_catalog
from integrations.catalog.models import CatalogExecution
from integrations.catalog.services import Execution, catalog_execute
from integrations.models import Connection
from sandbox import services as sandbox

pytestmark = pytest.mark.django_db(transaction=True)

_unique = itertools.count(1)


@dataclass(frozen=True)
class Sample:
    """What to send: path/query/input values and the body; "{ref}" strings are filled in by World."""

    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    at_least_one_item: bool = False  # a trigger that must find something (its input points at a real record)


S = Sample
START = "{start_ms}"
END = "{end_ms}"
PAGE = {"limit": 5}

SAMPLES: dict[str, Sample] = {
    # -- Contacts ---------------------------------------------------------------------------------------------------
    "get-contact": S({"contactId": "{contact}"}, at_least_one_item=True),
    "search-contacts": S(body={"pageLimit": 5}),
    "get-contacts-by-business": S({"businessId": "{business}"}),
    "get-duplicate-contact": S({"email": "{contact_email}"}, at_least_one_item=True),
    "get-contact-appointments": S({"contactId": "{contact}"}),
    "get-contact-tasks": S({"contactId": "{contact}"}),
    "get-contact-task-by-id": S({"contactId": "{contact}", "taskId": "{task}"}, at_least_one_item=True),
    "get-contact-notes": S({"contactId": "{contact}"}),
    "get-contact-note-by-id": S({"contactId": "{contact}", "id": "{note}"}, at_least_one_item=True),
    "list-contacts-deprecated": S(PAGE, at_least_one_item=True),
    "create-contact": S(body={"firstName": "Ada", "lastName": "Catalog", "email": "{new_email}"}),
    "update-contact": S({"contactId": "{contact}"}, {"lastName": "Updated"}),
    "find-contact": S({"email": "{contact_email}"}, at_least_one_item=True),
    "delete-contact": S({"contactId": "{contact}"}),
    "upsert-contact": S(body={"email": "{new_email}", "firstName": "Upserted"}),
    "add-tags-to-contact": S({"contactId": "{contact}"}, {"tags": ["vip"]}),
    "remove-tags-from-contact": S({"contactId": "{contact}"}, {"tags": ["vip"]}),
    "bulk-update-contact-tags": S({"type": "add"}, {"contacts": ["{contact}"], "tags": ["bulk"]}),
    "create-contact-task": S(
        {"contactId": "{contact}"}, {"title": "Call back", "dueDate": "{due_iso}", "completed": False}
    ),
    "update-contact-task": S({"contactId": "{contact}", "taskId": "{task}"}, {"title": "Call back (moved)"}),
    "complete-contact-task": S({"contactId": "{contact}", "taskId": "{task}"}, {"completed": True}),
    "delete-contact-task": S({"contactId": "{contact}", "taskId": "{task}"}),
    "create-contact-note": S({"contactId": "{contact}"}, {"body": "Met at the fair"}),
    "update-contact-note": S({"contactId": "{contact}", "id": "{note}"}, {"body": "Met at the fair (edited)"}),
    "delete-contact-note": S({"contactId": "{contact}", "id": "{note}"}),
    "add-contact-to-campaign": S({"contactId": "{contact}", "campaignId": "{campaign}"}),
    "remove-contact-from-campaign": S({"contactId": "{contact}", "campaignId": "{campaign}"}),
    "remove-contact-from-all-campaigns": S({"contactId": "{contact}"}),
    # -- Calendars & Appointments ------------------------------------------------------------------------------------
    "list-calendar-groups": S(at_least_one_item=True),
    "list-calendars": S(at_least_one_item=True),
    "get-calendar-by-id": S({"calendarId": "{calendar}"}, at_least_one_item=True),
    "get-free-slots": S({"calendarId": "{calendar}", "startDate": START, "endDate": END}),
    "list-calendar-events": S({"calendarId": "{calendar}", "startTime": START, "endTime": END}),
    "list-blocked-slots": S({"calendarId": "{calendar}", "startTime": START, "endTime": END}),
    "get-appointment": S({"eventId": "{appointment}"}, at_least_one_item=True),
    "list-appointment-notes": S({"appointmentId": "{appointment}"}),
    "list-calendar-notifications": S({"calendarId": "{calendar}"}),
    "get-calendar-notification": S({"calendarId": "{calendar}", "notificationId": "{notification}"}),
    "list-calendar-resources": S({"resourceType": "rooms"}),
    "get-calendar-resource": S({"resourceType": "rooms", "id": "{room}"}),
    "create-calendar-group": S(body={"name": "Catalog group", "description": "Made by a test", "slug": "{slug}"}),
    "update-calendar-group": S(
        {"groupId": "{calendar_group}"}, {"name": "Renamed group", "description": "Renamed", "slug": "{slug}"}
    ),
    "update-calendar-group-status": S({"groupId": "{calendar_group}"}, {"isActive": False}),
    "delete-calendar-group": S({"groupId": "{calendar_group}"}),
    "validate-calendar-group-slug": S(body={"slug": "{slug}"}),
    "create-calendar": S(body={"name": "Catalog calendar"}),
    "update-calendar": S({"calendarId": "{calendar}"}, {"name": "Renamed calendar"}),
    "delete-calendar": S({"calendarId": "{calendar}"}),
    "create-appointment": S(
        body={
            "calendarId": "{calendar}",
            "contactId": "{contact}",
            "startTime": "{start_iso}",
            "endTime": "{end_iso}",
            "title": "Catalog appointment",
            "ignoreFreeSlotValidation": True,
        }
    ),
    "update-appointment": S({"eventId": "{appointment}"}, {"title": "Moved appointment"}),
    "delete-calendar-event": S({"eventId": "{appointment}"}),
    "create-block-slot": S(
        body={"calendarId": "{calendar}", "startTime": "{start_iso}", "endTime": "{end_iso}", "title": "Lunch"}
    ),
    "update-block-slot": S({"eventId": "{block_slot}"}, {"calendarId": "{calendar}", "title": "Long lunch"}),
    "create-appointment-note": S({"appointmentId": "{appointment}"}, {"body": "Bring the contract"}),
    "update-appointment-note": S(
        {"appointmentId": "{appointment}", "noteId": "{appointment_note}"}, {"body": "Bring both contracts"}
    ),
    "delete-appointment-note": S({"appointmentId": "{appointment}", "noteId": "{appointment_note}"}),
    "create-calendar-notification": S(
        {"calendarId": "{calendar}"},
        [{"receiverType": "contact", "channel": "email", "notificationType": "booked", "isActive": True}],
    ),
    "update-calendar-notification": S({"calendarId": "{calendar}", "notificationId": "{notification}"}, {}),
    "delete-calendar-notification": S({"calendarId": "{calendar}", "notificationId": "{notification}"}),
    "create-calendar-resource": S(
        {"resourceType": "rooms"},
        {
            "name": "Room 2",
            "description": "A test room",
            "quantity": 1,
            "outOfService": 0,
            "capacity": 4,
            "calendarIds": ["{calendar}"],
        },
    ),
    "update-calendar-resource": S({"resourceType": "rooms", "id": "{room}"}, {"name": "Room 2 (renamed)"}),
    "delete-calendar-resource": S({"resourceType": "rooms", "id": "{room}"}),
    # -- Opportunities -----------------------------------------------------------------------------------------------
    "search-opportunities": S(PAGE),
    "get-opportunity": S({"id": "{opportunity}"}, at_least_one_item=True),
    "list-pipelines": S(at_least_one_item=True),
    "create-opportunity": S(
        body={
            "pipelineId": "{pipeline}",
            "pipelineStageId": "{stage}",
            "name": "Catalog deal",
            "status": "open",
            "contactId": "{contact}",
            "monetaryValue": 220,
        }
    ),
    "update-opportunity": S({"id": "{opportunity}"}, {"name": "Catalog deal (renamed)"}),
    "delete-opportunity": S({"id": "{opportunity}"}),
    "update-opportunity-status": S({"id": "{opportunity}"}, {"status": "won"}),
    "upsert-opportunity": S(
        body={
            "pipelineId": "{pipeline}",
            "name": "Upserted deal",
            "status": "open",
            "followers": ["{user}"],
            "isRemoveAllFollowers": False,
            "followersActionType": "add",
        }
    ),
    "add-opportunity-followers": S({"id": "{opportunity}"}, {"followers": ["{user}"]}),
    "remove-opportunity-followers": S({"id": "{opportunity}"}, {"followers": ["{user}"]}),
    # -- Users -----------------------------------------------------------------------------------------------------
    "search-users": S({"companyId": "{company}"}),
    "filter-users-by-email": S(body={"companyId": "{company}", "emails": "{user_email}"}),
    "get-user": S({"userId": "{user}"}, at_least_one_item=True),
    "list-users-by-location": S(at_least_one_item=True),
    "create-user": S(
        body={
            "companyId": "{company}",
            "firstName": "Cat",
            "lastName": "Alog",
            "email": "{new_email}",
            "password": "Catalog-pass-1!",
            "type": "account",
            "role": "user",
        }
    ),
    "update-user": S({"userId": "{user}"}, {"firstName": "Renamed"}),
    "delete-user": S({"userId": "{user}"}),
    # -- Conversations & Messages ------------------------------------------------------------------------------------
    "search-conversations": S(PAGE),
    "get-conversation": S({"conversationId": "{conversation}"}, at_least_one_item=True),
    "get-email-by-id": S({"id": "{email_message}"}),
    "get-message-by-id": S({"id": "{message}"}, at_least_one_item=True),
    "get-messages-by-conversation": S({"conversationId": "{conversation}"}),
    "get-message-recording": S({"messageId": "{call_message}"}),
    "get-message-transcription": S({"messageId": "{call_message}"}),
    "download-transcription": S({"messageId": "{call_message}"}),
    "update-message-status": S({"messageId": "{message}"}, {"status": "read"}),
    "agent-typing-indicator": S(
        body={"isTyping": "true", "visitorId": "visitor-1", "conversationId": "{conversation}"}
    ),
    # -- Businesses --------------------------------------------------------------------------------------------------
    "get-business": S({"businessId": "{business}"}, at_least_one_item=True),
    "list-businesses-by-location": S(),
    "create-business": S(body={"name": "Catalog Ltd"}),
    "update-business": S({"businessId": "{business}"}, {"name": "Catalog Ltd (renamed)"}),
    "delete-business": S({"businessId": "{business}"}),
    # -- Workflows & Campaigns ---------------------------------------------------------------------------------------
    "list-workflows": S(at_least_one_item=True),
    "list-campaigns": S(at_least_one_item=True),
    "add-contact-to-workflow": S({"contactId": "{contact}", "workflowId": "{workflow}"}),
    "remove-contact-from-workflow": S({"contactId": "{contact}", "workflowId": "{workflow}"}),
    "add-contact-followers": S({"contactId": "{contact}"}, {"followers": ["{user}"]}),
    "remove-contact-followers": S({"contactId": "{contact}"}, {"followers": ["{user}"]}),
    "bulk-business-update": S(body={"ids": ["{contact}"], "businessId": "{business}"}),
    # -- Other Operations --------------------------------------------------------------------------------------------
    "list-locations": S({"companyId": "{company}"}),
    "list-custom-fields": S(),
    "get-company": S({"companyId": "{company}"}, at_least_one_item=True),
    "find-associations": S(),
    "get-association": S({"associationId": "{association}"}, at_least_one_item=True),
    "get-association-key": S({"key_name": "{association_key}"}),
    "get-association-by-keys": S({"objectKey": "{association_object_key}"}),
    "get-relations-by-record": S({"recordId": "{contact}"}),
    "check-blog-url-slug": S({"urlSlug": "{slug}"}),
    "get-blog-authors": S(),
    "get-blog-categories": S(),
    "get-blog-posts": S({"blogId": "{blog}"}),
    "get-blogs-by-location": S(at_least_one_item=True),
    "find-location-by-id": S(),
    "create-location": S(body={"name": "Catalog branch", "companyId": "{company}"}),
    "create-association": S(
        body={
            "key": "{slug}",
            "firstObjectLabel": "student",
            "firstObjectKey": "custom_objects.students",
            "secondObjectLabel": "teacher",
            "secondObjectKey": "contact",
        }
    ),
    "update-association": S(
        {"associationId": "{association}"}, {"firstObjectLabel": "pupil", "secondObjectLabel": "tutor"}
    ),
    "delete-association": S({"associationId": "{association}"}),
    "create-relation": S(
        body={"associationId": "{association}", "firstRecordId": "{contact}", "secondRecordId": "{contact2}"}
    ),
    "delete-relation": S({"relationId": "{relation}"}),
    "create-blog-post": S(body="{blog_post_body}"),
    "update-blog-post": S({"postId": "{blog_post}"}, "{blog_post_body}"),
    # -- Beyond the seed: every other operation of GHL's spec ------------------------------------------------------
    "list-availability-schedules": S({"userId": "{user}"}),
    "get-availability-schedule": S({"id": "{schedule}"}, at_least_one_item=True),
    "create-availability-schedule": S(body={"name": "Weekend cover", "userId": "{user}", "timezone": "Europe/Paris"}),
    "update-availability-schedule": S({"id": "{schedule}"}, {"name": "Weekday cover"}),
    "delete-availability-schedule": S({"id": "{schedule}"}),
    "apply-schedule-to-calendar": S({"id": "{schedule}", "calendarId": "{calendar}"}),
    "remove-schedule-from-calendar": S({"id": "{schedule_with_calendar}", "calendarId": "{calendar}"}),
    "list-lost-reasons": S(at_least_one_item=True),
    "search-opportunities-advanced": S(body={"limit": 5}),
    "send-message": S(body={"type": "SMS", "contactId": "{contact}", "message": "Hello from the catalog"}),
    "create-conversation": S(body={"contactId": "{contact}"}),
    "update-conversation": S({"conversationId": "{conversation}"}, {"starred": True, "unreadCount": 0}),
    "delete-conversation": S({"conversationId": "{conversation}"}),
    "add-inbound-message": S(
        body={
            "type": "SMS",
            "conversationId": "{conversation}",
            "contactId": "{conversation_contact}",
            "conversationProviderId": "provider-demo",
            "message": "Is anyone there?",
        }
    ),
    "add-outbound-call": S(
        body={"type": "Call", "conversationId": "{conversation}", "conversationProviderId": "provider-demo"}
    ),
    "send-review-reply": S(body={"conversationId": "{conversation}", "message": "Thank you for the review!"}),
    "cancel-scheduled-message": S({"messageId": "{scheduled_message}"}),
    "cancel-scheduled-email": S({"emailMessageId": "{scheduled_message}"}),
    "export-messages": S(at_least_one_item=True),
    "upload-message-attachments": S(
        body={
            "conversationId": "{conversation}",
            "contactId": "{conversation_contact}",
            "attachmentUrls": ["https://example.com/files/price-list.pdf"],
        }
    ),
    "initiate-file-upload": S(
        body={
            "conversationId": "{conversation}",
            "filename": "price-list.pdf",
            "contentType": "application/pdf",
            "channel": "SMS",
        }
    ),
    "complete-file-upload": S(
        body={
            "uploadId": "{upload_id}",
            "filePath": "{upload_path}",
            "conversationId": "{conversation}",
            "filename": "price-list.pdf",
        }
    ),
    "add-message-attachments": S({"messageId": "{message}"}, {"attachments": ["https://example.com/files/a.pdf"]}),
    "list-custom-subtypes": S(),
    "create-custom-subtype": S(body={"name": "Newsletter", "channel": "email", "language": "en"}),
    "update-custom-subtype": S({"id": "{custom_subtype}"}, {"name": "Monthly newsletter"}),
    "get-unsubscription-status": S({"contactId": "{contact}"}),
    "change-subscription": S(
        body={
            "contactId": "{contact}",
            "email": "{contact_email}",
            "subscription_action": {"type": "default", "subtype_name": "One on One", "subtype_status": "unsubscribed"},
        }
    ),
    "update-location": S(body={"companyId": "{company}", "name": "Renamed location"}),
    "delete-location": S({"locationId": "{new_location}", "deleteTwilioAccount": False}),
    "list-installed-locations": S({"companyId": "{company}", "appId": "app-catalog"}, at_least_one_item=True),
    "list-location-tags": S(at_least_one_item=True),
    "get-location-tag": S({"tagId": "{tag}"}, at_least_one_item=True),
    "create-location-tag": S(body={"name": "{slug}"}),
    "update-location-tag": S({"tagId": "{tag}"}, {"name": "{slug}"}),
    "delete-location-tag": S({"tagId": "{tag}"}),
    "search-location-tasks": S(body={"contactId": ["{contact}"]}),
    "get-recurring-task": S({"id": "{recurring_task}"}, at_least_one_item=True),
    "create-recurring-task": S(body="{recurring_task_body}"),
    "update-recurring-task": S({"id": "{recurring_task}"}, {"title": "Weekly check-in call"}),
    "delete-recurring-task": S({"id": "{recurring_task}"}),
    "list-custom-values": S(at_least_one_item=True),
    "get-custom-value": S({"id": "{custom_value}"}, at_least_one_item=True),
    "create-custom-value": S(body={"name": "Office address", "value": "1 Main St"}),
    "update-custom-value": S({"id": "{custom_value}"}, {"name": "Office address", "value": "2 Main St"}),
    "delete-custom-value": S({"id": "{custom_value}"}),
    "list-timezones": S(),
    "list-templates": S({"originId": "{company}"}, at_least_one_item=True),
    "delete-template": S({"id": "{template}"}),
    "get-location-custom-field": S({"id": "{location_custom_field}"}, at_least_one_item=True),
    "create-location-custom-field": S(body={"name": "Shoe size", "dataType": "NUMERICAL", "model": "contact"}),
    "update-location-custom-field": S({"id": "{location_custom_field}"}, {"name": "Shoe size (EU)"}),
    "delete-location-custom-field": S({"id": "{location_custom_field}"}),
    "upload-custom-field-file": S(body={"id": "{location_custom_field}", "maxFiles": "1"}),
    "list-object-custom-fields": S({"objectKey": "{object_key}"}, at_least_one_item=True),
    "get-object-custom-field": S({"id": "{object_field}"}, at_least_one_item=True),
    "create-object-custom-field": S(body="{object_field_body}"),
    "update-object-custom-field": S({"id": "{object_field}"}, {"name": "Colour (renamed)"}),
    "delete-object-custom-field": S({"id": "{object_field}"}),
    "create-custom-field-folder": S(body={"objectKey": "{object_key}", "name": "More details"}),
    "update-custom-field-folder": S({"id": "{field_folder}"}, {"name": "Renamed folder"}),
    "delete-custom-field-folder": S({"id": "{field_folder}"}),
    "list-custom-objects": S(at_least_one_item=True),
    "get-custom-object": S({"key": "{object_key}"}, at_least_one_item=True),
    "create-custom-object": S(
        body={
            "key": "custom_objects.boats",
            "labels": {"singular": "Boat", "plural": "Boats"},
            "primaryDisplayPropertyDetails": {"key": "custom_objects.boats.name", "name": "Name", "dataType": "TEXT"},
        }
    ),
    "update-custom-object": S(
        {"key": "{object_key}"}, {"searchableProperties": ["custom_objects.pets.name"], "description": "Our pets"}
    ),
    "search-object-records": S({"schemaKey": "{object_key}"}, {"pageLimit": 5}, at_least_one_item=True),
    "get-object-record": S({"schemaKey": "{object_key}", "id": "{object_record}"}, at_least_one_item=True),
    "create-object-record": S({"schemaKey": "{object_key}"}, {"properties": {"name": "Nemo", "species": "fish"}}),
    "update-object-record": S({"schemaKey": "{object_key}", "id": "{object_record}"}, {"properties": {"name": "Rexy"}}),
    "delete-object-record": S({"schemaKey": "{object_key}", "id": "{object_record}"}),
}


# ------------------------------------------------------------------------------
# The records the samples point at, made or found through the catalog itself
# ------------------------------------------------------------------------------
class World:
    """Fills "{ref}" placeholders, each made once per test through catalog operations on the sandbox."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.values: dict[str, Any] = {}
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
        self.start = now.replace(hour=10)
        self.makers: dict[str, Callable[[], Any]] = {
            "start_ms": lambda: int(self.start.timestamp() * 1000),
            "end_ms": lambda: int((self.start + timedelta(days=7)).timestamp() * 1000),
            "start_iso": lambda: self.start.isoformat().replace("+00:00", "Z"),
            "end_iso": lambda: (self.start + timedelta(minutes=30)).isoformat().replace("+00:00", "Z"),
            "due_iso": lambda: (self.start + timedelta(days=1)).isoformat().replace("+00:00", "Z"),
            "new_email": lambda: f"catalog.{next(_unique)}@example.com",
            "slug": lambda: f"catalog-{next(_unique)}",
            "contact": lambda: self.made("create-contact", body={"firstName": "Cora", "email": self.fresh_email()})[
                "contact"
            ]["id"],
            "contact_email": lambda: self.read("get-contact", {"contactId": self.get("contact")})["email"],
            "contact2": lambda: self.made("create-contact", body={"firstName": "Dan", "email": self.fresh_email()})[
                "contact"
            ]["id"],
            "task": lambda: self.made(
                "create-contact-task",
                {"contactId": self.get("contact")},
                {"title": "Follow up", "dueDate": self.get("due_iso"), "completed": False},
            )["task"]["id"],
            "note": lambda: self.made("create-contact-note", {"contactId": self.get("contact")}, {"body": "A note"})[
                "note"
            ]["id"],
            "business": lambda: self.business(),
            "calendar": lambda: self.first("list-calendars"),
            "calendar_group": lambda: self.first("list-calendar-groups"),
            "appointment": lambda: self.made(
                "create-appointment",
                body={
                    "calendarId": self.get("calendar"),
                    "contactId": self.get("contact"),
                    "startTime": self.get("start_iso"),
                    "endTime": self.get("end_iso"),
                    "ignoreFreeSlotValidation": True,
                },
            )["id"],
            "block_slot": lambda: self.made(
                "create-block-slot",
                body={
                    "calendarId": self.get("calendar"),
                    "startTime": self.get("start_iso"),
                    "endTime": self.get("end_iso"),
                },
            )["id"],
            "appointment_note": lambda: self.made(
                "create-appointment-note", {"appointmentId": self.get("appointment")}, {"body": "A note"}
            )["note"]["id"],
            "notification": lambda: self.notification(),
            "room": lambda: self.room(),
            "pipeline": lambda: self.first("list-pipelines"),
            "stage": lambda: self.stage(),
            "opportunity": lambda: self.made(
                "create-opportunity",
                body={
                    "pipelineId": self.get("pipeline"),
                    "name": "A deal",
                    "status": "open",
                    "contactId": self.get("contact"),
                },
            )["opportunity"]["id"],
            "user": lambda: self.first("list-users-by-location"),
            "user_email": lambda: self.read("get-user", {"userId": self.get("user")})["email"],
            "company": lambda: self.read("find-location-by-id")["companyId"],
            "workflow": lambda: self.first("list-workflows"),
            "campaign": lambda: self.first("list-campaigns"),
            "conversation": lambda: self.first("search-conversations"),
            "message": lambda: self.message(),
            "email_message": lambda: self.message("TYPE_EMAIL"),
            "call_message": lambda: self.message("TYPE_CALL"),
            "association": lambda: self.association()["id"],
            "association_key": lambda: self.association()["key"],
            "association_object_key": lambda: self.association()["firstObjectKey"],
            "relation": lambda: self.made(
                "create-relation",
                body={
                    "associationId": self.get("association"),
                    "firstRecordId": self.get("contact"),
                    "secondRecordId": self.get("contact2"),
                },
            )["id"],
            "schedule": lambda: self.made_id(
                "create-availability-schedule",
                body={"name": "World hours", "userId": self.get("user"), "timezone": "Europe/London"},
            ),
            "schedule_with_calendar": lambda: self.made_id(
                "create-availability-schedule",
                body={
                    "name": "World hours",
                    "userId": self.get("user"),
                    "timezone": "Europe/London",
                    "calendarIds": [self.get("calendar")],
                },
            ),
            "conversation_contact": lambda: self.read("get-conversation", {"conversationId": self.get("conversation")})[
                "contactId"
            ],
            "scheduled_message": lambda: self.made(
                "send-message",
                body={
                    "type": "SMS",
                    "contactId": self.get("contact"),
                    "message": "Later",
                    "scheduledTimestamp": int((self.start + timedelta(days=1)).timestamp()),
                },
            )["messageId"],
            "upload_id": lambda: self.upload()["uploadId"],
            "upload_path": lambda: self.upload()["filePath"],
            "custom_subtype": lambda: str(self.made("list-custom-subtypes")["customSubtypes"][0]["id"]),
            "new_location": lambda: self.made_id(
                "create-location", body={"name": "Short-lived branch", "companyId": self.get("company")}
            ),
            "tag": lambda: self.made_id("create-location-tag", body={"name": self.get("slug")}),
            "recurring_task": lambda: self.made_id("create-recurring-task", body=self.get("recurring_task_body")),
            "recurring_task_body": lambda: {
                "title": "Monthly check-in",
                "contactIds": [self.get("contact")],
                "rruleOptions": {
                    "intervalType": "monthly",
                    "interval": 1,
                    "startDate": self.get("start_iso"),
                    "dueAfterSeconds": 3600,
                },
            },
            "custom_value": lambda: self.made_id("create-custom-value", body={"name": "Hours", "value": "9-5"}),
            "template": lambda: self.first("list-templates", {"originId": self.get("company")}),
            "location_custom_field": lambda: self.made_id(
                "create-location-custom-field", body={"name": f"Field {next(_unique)}", "dataType": "TEXT"}
            ),
            "object_key": lambda: next(
                o["key"] for o in self.run("list-custom-objects").items if str(o["key"]).startswith("custom_objects.")
            ),
            "field_folder": lambda: self.made_id(
                "create-custom-field-folder", body={"objectKey": self.get("object_key"), "name": "World folder"}
            ),
            "object_field": lambda: self.made_id("create-object-custom-field", body=self.get("object_field_body")),
            "object_field_body": lambda: {
                "name": "Colour",
                "dataType": "TEXT",
                "fieldKey": f"{self.get('object_key')}.colour_{next(_unique)}",
                "objectKey": self.get("object_key"),
                "parentId": self.get("field_folder"),
            },
            "object_record": lambda: self.made_id(
                "create-object-record", {"schemaKey": self.get("object_key")}, {"properties": {"name": "Bolt"}}
            ),
            "blog": lambda: self.first("get-blogs-by-location"),
            "blog_post": lambda: self.first("get-blog-posts", {"blogId": self.get("blog")}),
            "blog_author": lambda: self.first("get-blog-authors"),
            "blog_category": lambda: self.first("get-blog-categories"),
            "blog_post_body": lambda: {
                "title": "Catalog news",
                "blogId": self.get("blog"),
                "imageUrl": "https://example.com/cover.png",
                "description": "What the catalog does",
                "rawHTML": "<p>Every operation, one form.</p>",
                "status": "DRAFT",
                "imageAltText": "A cover",
                "categories": [self.get("blog_category")],
                "author": self.get("blog_author"),
                "urlSlug": self.get("slug"),
                "publishedAt": self.get("start_iso"),
            },
        }

    # -- filling ---------------------------------------------------------------------------------------------------
    def get(self, ref: str) -> Any:
        if ref not in self.values:
            self.values[ref] = self.makers[ref]()
        return self.values[ref]

    def fill(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in self.makers:
            return self.get(value[1:-1])
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        return value

    def fresh_email(self) -> str:
        return f"world.{next(_unique)}@example.com"

    # -- running catalog operations ----------------------------------------------------------------------------------
    def run(self, key: str, params: dict[str, Any] | None = None, body: Any = None) -> Execution:
        execution = catalog_execute(connection=self.connection, key=key, params=params, body=body, log=False)
        assert execution.ok, f"setting up with {key}: {explain(execution)}"
        return execution

    def made(self, key: str, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        return self.run(key, params, body).data

    def read(self, key: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        items = self.run(key, params).items
        assert items, f"setting up with {key}: no item in the answer"
        return items[0]

    def first(self, key: str, params: dict[str, Any] | None = None) -> str:
        execution = self.run(key, {**PAGE, **(params or {})} if key == "get-blog-posts" else params)
        items = execution.items
        id_field = execution.operation.items.id_field if execution.operation and execution.operation.items else "id"
        assert items, f"setting up with {key}: the sandbox has none (seed the demo data for it)"
        return str(items[0][id_field or "id"])

    def business(self) -> str:
        data = self.made("create-business", body={"name": f"World {next(_unique)} Ltd"})
        return str((data.get("buiseness") or data.get("business"))["id"])

    def notification(self) -> str:
        made = self.made(
            "create-calendar-notification",
            {"calendarId": self.get("calendar")},
            [{"receiverType": "contact", "channel": "email", "notificationType": "booked"}],
        )
        return str(made[0]["_id"])

    def room(self) -> str:
        made = self.made(
            "create-calendar-resource",
            {"resourceType": "rooms"},
            {
                "name": "Room 1",
                "description": "A room",
                "quantity": 1,
                "outOfService": 0,
                "capacity": 6,
                "calendarIds": [self.get("calendar")],
            },
        )
        return str(made.get("id") or made.get("_id"))

    def stage(self) -> str:
        pipeline = self.read("list-pipelines")
        return str(pipeline["stages"][0]["id"])

    def message(self, message_type: str | None = None) -> str:
        """The first message of that type in the demo conversations (a call in one, emails in others)."""
        for conversation in self.run("search-conversations", {}).items:
            messages = self.run("get-messages-by-conversation", {"conversationId": conversation["id"]}).items
            chosen = [m for m in messages if message_type is None or m.get("messageType") == message_type]
            if chosen:
                return str(chosen[0]["id"])
        raise AssertionError(f"setting up: no demo conversation has a {message_type or 'message'}")

    def made_id(self, key: str, params: dict[str, Any] | None = None, body: Any = None) -> str:
        """The id of what an action made: its item where the answer's schema says, else the first id found."""
        execution = self.run(key, params, body)
        for item in execution.items:
            if item.get("id") or item.get("_id"):
                return str(item.get("id") or item.get("_id"))
        found = _first_id(execution.data)
        assert found, f"setting up with {key}: no id in {str(execution.data)[:300]}"
        return found

    def upload(self) -> dict[str, Any]:
        if "_upload" not in self.values:
            self.values["_upload"] = self.made(
                "initiate-file-upload",
                body={
                    "conversationId": self.get("conversation"),
                    "filename": "price-list.pdf",
                    "contentType": "application/pdf",
                    "channel": "SMS",
                },
            )
        return dict(self.values["_upload"])

    def association(self) -> dict[str, Any]:
        if "_association" not in self.values:
            self.values["_association"] = self.made(
                "create-association",
                body={
                    "key": self.get("slug").replace("-", "_"),
                    "firstObjectLabel": "student",
                    "firstObjectKey": "custom_objects.students",
                    "secondObjectLabel": "teacher",
                    "secondObjectKey": "contact",
                },
            )
        return dict(self.values["_association"])


def _first_id(data: Any) -> str | None:
    """The first id in an answer, breadth first ({"tag": {"id": ...}}, {"id": ...})."""
    level = [data]
    while level:
        for node in level:
            if isinstance(node, dict) and (node.get("id") or node.get("_id")):
                return str(node.get("id") or node.get("_id"))
        level = [v for node in level if isinstance(node, dict) for v in node.values() if isinstance(v, dict)]
    return None


def explain(execution: Execution) -> str:
    body = json.dumps(execution.body)[:300] if execution.body is not None else "-"
    return (
        f"{execution.outcome} {execution.status_code} {execution.error} {execution.messages} "
        f"({execution.method} {execution.path} query={execution.query} body={body})"
    )


@pytest.fixture
def world(sandbox_connection: Connection) -> World:
    sandbox.sandbox_spec_rejections_clear()
    return World(sandbox_connection)


@pytest.mark.parametrize("key", list(SAMPLES))
def test_every_catalog_operation_runs_against_the_sandbox(key: str, world: World) -> None:
    # The samples cover the catalog exactly: a new entry without a sample (or a sample of a removed one) fails here.
    catalog_keys = [op.key for op in get_catalog().operations]
    assert len(SAMPLES) == len(catalog_keys) == 194
    assert set(SAMPLES) == set(catalog_keys)

    sample = SAMPLES[key]
    params, body = world.fill(sample.params), world.fill(sample.body)
    execution = catalog_execute(connection=world.connection, key=key, params=params, body=body, user=None)

    assert execution.ok, explain(execution)
    assert execution.status_code is not None
    assert 200 <= execution.status_code < 300
    assert sandbox.sandbox_spec_rejections() == []
    assert execution.log is not None
    log = CatalogExecution.objects.get(pk=execution.log.pk)
    assert (log.operation_key, log.outcome, log.status_code) == (key, "succeeded", execution.status_code)
    operation = get_catalog().operation(key)
    if operation.is_trigger and sample.at_least_one_item:
        assert execution.items, f"{key}: no item found in {str(execution.data)[:300]}"
        if operation.items and operation.items.id_field:
            assert execution.items[0].get(operation.items.id_field), execution.items[0]


def test_every_picker_lists_choices_from_the_sandbox(world: World) -> None:
    from integrations.catalog.services import catalog_picker_options

    world.get("opportunity")  # the demo has none of its own in this location
    world.get("business")
    world.get("custom_value")
    empty = {}
    for key in get_catalog().pickers:
        choices = catalog_picker_options(connection=world.connection, key=key)
        if choices.error or not choices.options or not all(text for _, text in choices.options):
            empty[key] = (choices.error, choices.options[:2])

    assert empty == {}
