"""The object types a mapping can sync, and the fields each system offers for them.

Adding an object type = one ObjectType entry here + an adapter per system in integrations/adapters/.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    kind: str = "string"  # string | email | phone | list | bool | datetime | date | object
    writable: bool = True


@dataclass(frozen=True)
class ObjectType:
    key: str
    label: str
    ghl_fields: tuple[FieldSpec, ...]
    streettext_fields: tuple[FieldSpec, ...]
    # Fields a match rule reads, per rule name -> (ghl field, streettext field).
    match_fields: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Child objects (tasks, notes, appointments) belong to a record of `parent` type, named by these fields
    # (ghl field, streettext field); the engine translates the id through the parent's record link.
    parent: str | None = None
    parent_fields: tuple[str, str] | None = None
    # Fields holding the id of another object type, translated through record links: name -> (object type).
    references: dict[str, str] = field(default_factory=dict)

    def fields_for(self, system: str) -> tuple[FieldSpec, ...]:
        return self.ghl_fields if system == "ghl" else self.streettext_fields

    def field_names(self, system: str) -> set[str]:
        return {f.name for f in self.fields_for(system)}


# GHL custom fields are addressed as "customFields.<id>"; StreetText custom fields as "custom.<key>".
GHL_CUSTOM_PREFIX = "customFields."
STREETTEXT_CUSTOM_PREFIX = "custom."

CONTACT = ObjectType(
    key="contact",
    label="Contacts",
    ghl_fields=(
        FieldSpec("id", "Contact id", writable=False),
        FieldSpec("firstName", "First name"),
        FieldSpec("lastName", "Last name"),
        FieldSpec("name", "Full name"),
        FieldSpec("email", "Email", "email"),
        # Read from live GHL's answers; GHL refuses it on writes (docs/ghl-facts.md, #262): never sent, said per record.
        FieldSpec("additionalEmails", "Additional emails", "list"),
        FieldSpec("phone", "Phone", "phone"),
        FieldSpec("companyName", "Company name"),
        FieldSpec("address1", "Address"),
        FieldSpec("city", "City"),
        FieldSpec("state", "State"),
        FieldSpec("postalCode", "Postal code"),
        FieldSpec("country", "Country"),
        FieldSpec("website", "Website"),
        FieldSpec("timezone", "Time zone"),
        FieldSpec("source", "Source"),
        FieldSpec("dateOfBirth", "Date of birth", "date"),
        FieldSpec("tags", "Tags", "list"),
        FieldSpec("dnd", "Do not disturb", "bool"),
        FieldSpec("assignedTo", "Assigned user id"),
        FieldSpec("businessId", "Business id (linked)"),
        FieldSpec("dateAdded", "Date added", "datetime", writable=False),
        FieldSpec("dateUpdated", "Date updated", "datetime", writable=False),
    ),
    streettext_fields=(
        FieldSpec("id", "Contact id", writable=False),
        FieldSpec("first_name", "First name"),
        FieldSpec("last_name", "Last name"),
        FieldSpec("email", "Email", "email"),
        FieldSpec("phone", "Phone", "phone"),
        FieldSpec("company", "Company"),
        FieldSpec("address", "Address"),
        FieldSpec("city", "City"),
        FieldSpec("region", "State / region"),
        FieldSpec("postal_code", "Postal code"),
        FieldSpec("country", "Country"),
        FieldSpec("birthday", "Birthday", "date"),
        FieldSpec("tags", "Tags", "list"),
        FieldSpec("opted_out", "Opted out of texts", "bool"),
        FieldSpec("external_id", "External id"),
        FieldSpec("organization_id", "Organisation id (linked)"),
        FieldSpec("created_at", "Created at", "datetime", writable=False),
        FieldSpec("updated_at", "Updated at", "datetime", writable=False),
    ),
    match_fields={"email": ("email", "email"), "phone": ("phone", "phone")},
    references={"businessId": "business", "organization_id": "business"},
)

# GHL task and note ids are "<contactId>/<id>": their endpoints live under the contact.
TASK = ObjectType(
    key="task",
    label="Tasks",
    ghl_fields=(
        FieldSpec("id", "Task id", writable=False),
        FieldSpec("contactId", "Contact id", writable=False),
        FieldSpec("title", "Title"),
        FieldSpec("body", "Body"),
        FieldSpec("dueDate", "Due date", "datetime"),
        FieldSpec("completed", "Completed", "bool"),
        FieldSpec("assignedTo", "Assigned user id"),
    ),
    streettext_fields=(
        FieldSpec("id", "Task id", writable=False),
        FieldSpec("contact_id", "Contact id", writable=False),
        FieldSpec("title", "Title"),
        FieldSpec("body", "Body"),
        FieldSpec("due_at", "Due at", "datetime"),
        FieldSpec("completed", "Completed", "bool"),
        FieldSpec("assignee", "Assignee"),
        FieldSpec("created_at", "Created at", "datetime", writable=False),
        FieldSpec("updated_at", "Updated at", "datetime", writable=False),
    ),
    parent="contact",
    parent_fields=("contactId", "contact_id"),
)

NOTE = ObjectType(
    key="note",
    label="Notes",
    ghl_fields=(
        FieldSpec("id", "Note id", writable=False),
        FieldSpec("contactId", "Contact id", writable=False),
        FieldSpec("body", "Body"),
        FieldSpec("title", "Title"),
        FieldSpec("userId", "Author user id"),
        FieldSpec("dateAdded", "Date added", "datetime", writable=False),
    ),
    streettext_fields=(
        FieldSpec("id", "Note id", writable=False),
        FieldSpec("contact_id", "Contact id", writable=False),
        FieldSpec("body", "Body"),
        FieldSpec("title", "Title"),
        FieldSpec("author", "Author"),
        FieldSpec("written_at", "Written at", "datetime"),
        FieldSpec("created_at", "Created at", "datetime", writable=False),
        FieldSpec("updated_at", "Updated at", "datetime", writable=False),
    ),
    parent="contact",
    parent_fields=("contactId", "contact_id"),
)

APPOINTMENT = ObjectType(
    key="appointment",
    label="Appointments",
    ghl_fields=(
        FieldSpec("id", "Appointment id", writable=False),
        FieldSpec("contactId", "Contact id", writable=False),
        FieldSpec("calendarId", "Calendar id"),
        FieldSpec("title", "Title"),
        FieldSpec("appointmentStatus", "Status"),
        FieldSpec("startTime", "Start time", "datetime"),
        FieldSpec("endTime", "End time", "datetime"),
        FieldSpec("address", "Address"),
        FieldSpec("notes", "Notes"),
        FieldSpec("assignedUserId", "Assigned user id"),
        FieldSpec("dateAdded", "Date added", "datetime", writable=False),
        FieldSpec("dateUpdated", "Date updated", "datetime", writable=False),
    ),
    streettext_fields=(
        FieldSpec("id", "Appointment id", writable=False),
        FieldSpec("contact_id", "Contact id", writable=False),
        FieldSpec("calendar", "Calendar"),
        FieldSpec("title", "Title"),
        FieldSpec("status", "Status"),
        FieldSpec("starts_at", "Starts at", "datetime"),
        FieldSpec("ends_at", "Ends at", "datetime"),
        FieldSpec("location", "Location"),
        FieldSpec("notes", "Notes"),
        FieldSpec("created_at", "Created at", "datetime", writable=False),
        FieldSpec("updated_at", "Updated at", "datetime", writable=False),
    ),
    parent="contact",
    parent_fields=("contactId", "contact_id"),
)

BUSINESS = ObjectType(
    key="business",
    label="Businesses / organisations",
    ghl_fields=(
        FieldSpec("id", "Business id", writable=False),
        FieldSpec("name", "Name"),
        FieldSpec("phone", "Phone", "phone"),
        FieldSpec("email", "Email", "email"),
        FieldSpec("website", "Website"),
        FieldSpec("address", "Address"),
        FieldSpec("city", "City"),
        FieldSpec("state", "State"),
        FieldSpec("postalCode", "Postal code"),
        FieldSpec("country", "Country"),
        FieldSpec("description", "Description"),
        FieldSpec("createdAt", "Created at", "datetime", writable=False),
        FieldSpec("updatedAt", "Updated at", "datetime", writable=False),
    ),
    streettext_fields=(
        FieldSpec("id", "Organisation id", writable=False),
        FieldSpec("name", "Name"),
        FieldSpec("phone", "Phone", "phone"),
        FieldSpec("email", "Email", "email"),
        FieldSpec("website", "Website"),
        FieldSpec("address", "Address"),
        FieldSpec("city", "City"),
        FieldSpec("region", "State / region"),
        FieldSpec("postal_code", "Postal code"),
        FieldSpec("country", "Country"),
        FieldSpec("description", "Description"),
        FieldSpec("created_at", "Created at", "datetime", writable=False),
        FieldSpec("updated_at", "Updated at", "datetime", writable=False),
    ),
    match_fields={"email": ("email", "email"), "phone": ("phone", "phone"), "name": ("name", "name")},
)

# GHL opportunities ↔ StreetText deals. GHL stores the pipeline and stage by id; the adapter also offers them by
# name (pipelineName, pipelineStageName: read from the location's pipelines, written by name), which is what a
# StreetText deal holds.
OPPORTUNITY = ObjectType(
    key="opportunity",
    label="Opportunities / deals",
    ghl_fields=(
        FieldSpec("id", "Opportunity id", writable=False),
        FieldSpec("contactId", "Contact id", writable=False),
        FieldSpec("name", "Name"),
        FieldSpec("monetaryValue", "Value", "number"),
        FieldSpec("pipelineName", "Pipeline (by name)"),
        FieldSpec("pipelineStageName", "Stage (by name)"),
        FieldSpec("pipelineId", "Pipeline id"),
        FieldSpec("pipelineStageId", "Stage id"),
        FieldSpec("status", "Status (open, won, lost, abandoned)"),
        FieldSpec("assignedTo", "Assigned user id"),
        FieldSpec("source", "Source", writable=False),
        FieldSpec("lastStatusChangeAt", "Status changed at", "datetime", writable=False),
        FieldSpec("createdAt", "Created at", "datetime", writable=False),
        FieldSpec("updatedAt", "Updated at", "datetime", writable=False),
    ),
    streettext_fields=(
        FieldSpec("id", "Deal id", writable=False),
        FieldSpec("contact_id", "Contact id", writable=False),
        FieldSpec("title", "Title"),
        FieldSpec("value", "Value", "number"),
        FieldSpec("pipeline", "Pipeline"),
        FieldSpec("stage", "Stage"),
        FieldSpec("status", "Status (open, won, lost, abandoned)"),
        FieldSpec("assignee", "Assignee"),
        FieldSpec("source", "Source"),
        FieldSpec("created_at", "Created at", "datetime", writable=False),
        FieldSpec("updated_at", "Updated at", "datetime", writable=False),
    ),
    parent="contact",
    parent_fields=("contactId", "contact_id"),
)

OBJECT_TYPES: dict[str, ObjectType] = {ot.key: ot for ot in (CONTACT, TASK, NOTE, APPOINTMENT, BUSINESS, OPPORTUNITY)}


class UnknownObjectType(KeyError):
    pass


def get_object_type(key: str) -> ObjectType:
    try:
        return OBJECT_TYPES[key]
    except KeyError as exc:
        raise UnknownObjectType(key) from exc


def object_type_choices() -> list[tuple[str, str]]:
    return [(ot.key, ot.label) for ot in OBJECT_TYPES.values()]


def is_known_field(object_type: ObjectType, system: str, name: str) -> bool:
    prefix = GHL_CUSTOM_PREFIX if system == "ghl" else STREETTEXT_CUSTOM_PREFIX
    if name.startswith(prefix):
        return len(name) > len(prefix)
    return name in object_type.field_names(system)
