"""The catalog as data: every operation the seed names, joined with GHL's spec; a bad entry stops the load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings

from ghl_spec import get_spec
from ghl_spec.spec import SPEC_DIR
from integrations.catalog import docs
from integrations.catalog.loader import (
    CATALOG_FILE,
    CatalogError,
    Items,
    derive_items,
    get_catalog,
    load_catalog,
    render,
)
from integrations.catalog.selectors import (
    catalog_categories,
    catalog_operations,
    catalog_required_scopes,
    catalog_trigger_items,
)

# The list the catalog was specified with ("Complete Operations Catalog"), as written there: category, kind, name,
# description. 124 entries.
SEED = [
    ("contacts", "trigger", "Get Contact", "Retrieve a specific contact by ID"),
    ("contacts", "trigger", "Search Contacts", "Advanced search with filters"),
    ("contacts", "trigger", "Get Contacts by Business", "Retrieve contacts linked to a business"),
    ("contacts", "trigger", "Get Duplicate Contact", "Check for duplicate contacts"),
    ("contacts", "trigger", "Get Contact Appointments", "List all appointments for a contact"),
    ("contacts", "trigger", "Get Contact Tasks", "Retrieve all tasks for a contact"),
    ("contacts", "trigger", "Get Contact Task by ID", "Get specific task details"),
    ("contacts", "trigger", "Get Contact Notes", "List all notes for a contact"),
    ("contacts", "trigger", "Get Contact Note by ID", "Retrieve specific note details"),
    ("contacts", "trigger", "List Contacts (Deprecated)", "Legacy contact listing method"),
    ("contacts", "action", "Create Contact", "Add a new contact to the system"),
    ("contacts", "action", "Update Contact", "Modify existing contact information"),
    ("contacts", "action", "Find Contact", "Search by email, phone, or ID"),
    ("contacts", "action", "Delete Contact", "Remove a contact permanently"),
    ("contacts", "action", "Upsert Contact", "Create or update contact automatically"),
    ("contacts", "action", "Add Tags to Contact", "Tag contacts for organization"),
    ("contacts", "action", "Remove Tags from Contact", "Remove specific tags"),
    ("contacts", "action", "Bulk Update Contact Tags", "Add or remove multiple tags at once"),
    ("contacts", "action", "Create Contact Task", "Add a new task for a contact"),
    ("contacts", "action", "Update Contact Task", "Modify existing task details"),
    ("contacts", "action", "Complete Contact Task", "Mark task as complete"),
    ("contacts", "action", "Delete Contact Task", "Remove a task permanently"),
    ("contacts", "action", "Create Contact Note", "Add notes to contact records"),
    ("contacts", "action", "Update Contact Note", "Edit existing notes"),
    ("contacts", "action", "Delete Contact Note", "Remove notes from contacts"),
    ("contacts", "action", "Add Contact to Campaign", "Enroll contact in campaign"),
    ("contacts", "action", "Remove from Campaign", "Remove contact from specific campaign"),
    ("contacts", "action", "Remove from All Campaigns", "Unenroll from all campaigns"),
    ("calendars", "trigger", "List Calendar Groups", "Get all calendar groups"),
    ("calendars", "trigger", "List Calendars", "Retrieve all calendars"),
    ("calendars", "trigger", "Get Calendar by ID", "Get specific calendar details"),
    ("calendars", "trigger", "Get Free Slots", "Check calendar availability"),
    ("calendars", "trigger", "List Calendar Events", "Get all scheduled events"),
    ("calendars", "trigger", "List Blocked Slots", "View unavailable time slots"),
    ("calendars", "trigger", "Get Appointment", "Retrieve appointment details"),
    ("calendars", "trigger", "List Appointment Notes", "Get notes for appointments"),
    ("calendars", "trigger", "List Calendar Notifications", "View notification settings"),
    ("calendars", "trigger", "Get Calendar Notification", "Get specific notification"),
    ("calendars", "trigger", "List Calendar Resources", "View rooms and equipment"),
    ("calendars", "trigger", "Get Calendar Resource", "Get specific resource details"),
    ("calendars", "action", "Create Calendar Group", "Set up new calendar group"),
    ("calendars", "action", "Update Calendar Group", "Modify calendar group settings"),
    ("calendars", "action", "Update Group Status", "Enable or disable calendar group"),
    ("calendars", "action", "Delete Calendar Group", "Remove calendar group"),
    ("calendars", "action", "Validate Group Slug", "Check if slug is available"),
    ("calendars", "action", "Create Calendar", "Add new calendar"),
    ("calendars", "action", "Update Calendar", "Modify calendar settings"),
    ("calendars", "action", "Delete Calendar", "Remove calendar permanently"),
    ("calendars", "action", "Create Appointment", "Book new appointment"),
    ("calendars", "action", "Update Appointment", "Modify appointment details"),
    ("calendars", "action", "Delete Event", "Cancel and remove event"),
    ("calendars", "action", "Create Block Slot", "Block time on calendar"),
    ("calendars", "action", "Update Block Slot", "Modify blocked time"),
    ("calendars", "action", "Create Appointment Note", "Add notes to appointments"),
    ("calendars", "action", "Update Appointment Note", "Edit appointment notes"),
    ("calendars", "action", "Delete Appointment Note", "Remove appointment notes"),
    ("calendars", "action", "Create Calendar Notification", "Set up reminders"),
    ("calendars", "action", "Update Notification", "Modify notification settings"),
    ("calendars", "action", "Delete Notification", "Remove notification"),
    ("calendars", "action", "Create Calendar Resource", "Add room or equipment"),
    ("calendars", "action", "Update Calendar Resource", "Modify resource details"),
    ("calendars", "action", "Delete Calendar Resource", "Remove resource"),
    ("opportunities", "trigger", "Search Opportunities", "Find opportunities with filters"),
    ("opportunities", "trigger", "Get Opportunity", "Retrieve specific opportunity"),
    ("opportunities", "trigger", "List Pipelines", "View all opportunity pipelines"),
    ("opportunities", "action", "Create Opportunity", "Add new sales opportunity"),
    ("opportunities", "action", "Update Opportunity", "Modify opportunity details"),
    ("opportunities", "action", "Delete Opportunity", "Remove opportunity"),
    ("opportunities", "action", "Update Opportunity Status", "Change status (open, won, lost)"),
    ("opportunities", "action", "Upsert Opportunity", "Create or update opportunity"),
    ("opportunities", "action", "Add Followers", "Assign team members to follow"),
    ("opportunities", "action", "Remove Followers", "Unassign followers"),
    ("users", "trigger", "Search Users", "Find users with filters"),
    ("users", "trigger", "Filter Users by Email", "Search users by email address"),
    ("users", "trigger", "Get User", "Retrieve user details"),
    ("users", "trigger", "List Users by Location", "Get users in specific location"),
    ("users", "action", "Create User", "Add new user to system"),
    ("users", "action", "Update User", "Modify user information"),
    ("users", "action", "Delete User", "Remove user from system"),
    ("conversations", "trigger", "Search Conversations", "Find conversations by filters"),
    ("conversations", "trigger", "Get Conversation", "Retrieve conversation details"),
    ("conversations", "trigger", "Get Email by ID", "Retrieve specific email"),
    ("conversations", "trigger", "Get Message by ID", "Get specific message details"),
    ("conversations", "trigger", "Get Messages by Conversation", "List all conversation messages"),
    ("conversations", "trigger", "Get Message Recording", "Retrieve voice recording"),
    ("conversations", "trigger", "Get Message Transcription", "Get transcribed message text"),
    ("conversations", "trigger", "Download Transcription", "Download transcription file"),
    ("conversations", "action", "Update Message Status", "Change message read/unread status"),
    ("conversations", "action", "Agent Typing Indicator", "Show typing indicator in chat"),
    ("businesses", "trigger", "Get Business", "Retrieve business details"),
    ("businesses", "trigger", "List Businesses by Location", "Get all businesses in location"),
    ("businesses", "action", "Create Business", "Add new business"),
    ("businesses", "action", "Update Business", "Modify business details"),
    ("businesses", "action", "Delete Business", "Remove business"),
    ("workflows", "trigger", "List Workflows", "Get all workflows"),
    ("workflows", "trigger", "List Snapshots", "View available snapshots"),
    ("workflows", "trigger", "List Campaigns", "Get all campaigns"),
    ("workflows", "action", "Add Contact to Workflow", "Enroll in workflow automation"),
    ("workflows", "action", "Remove from Workflow", "Unenroll from workflow"),
    ("workflows", "action", "Add Contact Followers", "Assign followers to contact"),
    ("workflows", "action", "Remove Contact Followers", "Unassign followers"),
    ("workflows", "action", "Bulk Business Update", "Add/remove contacts from business"),
    ("other", "trigger", "List Locations", "Get all locations"),
    ("other", "trigger", "List Custom Fields", "View custom field definitions"),
    ("other", "trigger", "Get Company", "Retrieve company information"),
    ("other", "trigger", "Find Associations", "Search associations"),
    ("other", "trigger", "Get Association", "Retrieve association details"),
    ("other", "trigger", "Get Association Key", "Get key by name"),
    ("other", "trigger", "Get Association by Keys", "Find by object keys"),
    ("other", "trigger", "Get Relations by Record", "List record relations"),
    ("other", "trigger", "Check Blog URL Slug", "Verify slug availability"),
    ("other", "trigger", "Get Blog Authors", "List blog authors"),
    ("other", "trigger", "Get Blog Categories", "List blog categories"),
    ("other", "trigger", "Get Blog Posts", "List posts by blog"),
    ("other", "trigger", "Get Blogs by Location", "List location blogs"),
    ("other", "action", "Find Location by ID", "Retrieve location details"),
    ("other", "action", "Create Location", "Add new location"),
    ("other", "action", "Create Association", "Link related records"),
    ("other", "action", "Update Association", "Modify association"),
    ("other", "action", "Delete Association", "Remove association"),
    ("other", "action", "Create Relation", "Establish record relation"),
    ("other", "action", "Delete Relation", "Remove record relation"),
    ("other", "action", "Create Blog Post", "Publish new blog post"),
    ("other", "action", "Update Blog Post", "Edit blog post"),
]
SEED_COUNTS = {
    "contacts": (10, 18),
    "calendars": (13, 21),
    "opportunities": (3, 7),
    "users": (4, 3),
    "conversations": (8, 2),
    "businesses": (2, 3),
    "workflows": (3, 5),
    "other": (20, 8),
    # Beyond the seed (issue 21): the rest of GHL's spec; the seed counts none of it.
    "locations": (0, 0),
    "objects": (0, 0),
}
# The seed lists these as triggers, but they answer files (audio, text): a trigger polls items, so they are actions.
SEED_BINARY_TRIGGERS = {"Get Message Recording", "Download Transcription"}
# GHL's spec operations the catalog leaves out on purpose (OAuth token plumbing), by name.
EXCLUDED = {"oauth/get-access-token", "oauth/get-location-access-token"}


def test_every_operation_the_seed_names_is_in_the_catalog_with_its_words_category_and_kind() -> None:
    catalog = get_catalog()
    built = {(op.category, op.kind, op.name, op.description) for op in catalog.operations}
    not_built = {(nb.category, nb.kind, nb.name, nb.description) for nb in catalog.not_built}
    seed = {(c, "action" if name in SEED_BINARY_TRIGGERS else k, name, d) for c, k, name, d in SEED}

    assert len(SEED) == 124
    assert seed <= built | not_built
    assert not built & not_built
    assert [nb.name for nb in catalog.not_built] == ["List Snapshots"]
    # The seed's 123 buildable operations, and 71 more: every other operation of GHL's spec (issue 21).
    assert len(catalog.operations) == 194
    assert len(built - seed) == 71
    assert sum(op.is_trigger for op in catalog.operations) == 72
    # The categories keep the seed's counts (which add up to 130, not to the 124 it names) for docs/catalog.md.
    assert {c.key: (c.seed_triggers, c.seed_actions) for c in catalog.categories} == SEED_COUNTS
    assert sum(t + a for t, a in SEED_COUNTS.values()) == 130
    assert [(c.category.key, c.triggers, c.actions) for c in catalog_categories()][:2] == [
        ("contacts", 10, 18),
        ("calendars", 14, 27),
    ]


def test_every_spec_operation_is_in_the_catalog_or_excluded_by_name_with_a_reason() -> None:
    catalog = get_catalog()
    offered = {op.spec.key for op in catalog.operations}
    excluded = {e.spec.key for e in catalog.excluded}

    assert catalog.uncovered == ()
    assert {e.spec_ref for e in catalog.excluded} == EXCLUDED
    assert all("OAuth token plumbing" in e.why for e in catalog.excluded)
    assert offered | excluded == {op.key for op in get_spec().operations}
    assert len(get_spec().operations) == 195


def _without(key: str) -> str:
    """operations.toml with entry `key` cut out."""
    text = CATALOG_FILE.read_text(encoding="utf-8")
    start = text.index(f'[[operation]]\nkey = "{key}"\n')
    end = text.find("[[operation]]", start + 1)
    return text[:start] + (text[end:] if end != -1 else "")


def test_an_operation_removed_without_an_exclusion_is_reported_uncovered(tmp_path: Path) -> None:
    path = tmp_path / "operations.toml"
    path.write_text(_without("send-message"), encoding="utf-8")

    catalog = load_catalog(path)

    assert [f"{op.app}/{op.operation_id}" for op in catalog.uncovered] == ["conversations/send-a-new-message"]


def test_an_exclusion_must_name_a_spec_operation_the_catalog_does_not_offer_and_say_why(tmp_path: Path) -> None:
    for extra, message in [
        ('[[excluded]]\nspec = "conversations/send-a-new-message"\nwhy = "x"', "excluded, yet in the catalog"),
        ('[[excluded]]\nspec = "oauth/no-such-thing"\nwhy = "x"', "spec has no operation 'oauth/no-such-thing'"),
        ('[[excluded]]\nspec = "oauth/get-access-token"\nwhy = "again"', "excluded twice"),
    ]:
        with pytest.raises(CatalogError, match=message):
            _load(tmp_path, extra)
    path = tmp_path / "operations.toml"
    path.write_text(_without("get-location-tag") + '[[excluded]]\nspec = "locations/get-tag-by-id"\n', "utf-8")
    with pytest.raises(CatalogError, match="why is missing"):
        load_catalog(path)


def test_a_file_answer_cannot_be_a_trigger(tmp_path: Path) -> None:
    as_trigger = CATALOG_FILE.read_text(encoding="utf-8").replace(
        'kind = "action"\nspec = "conversations/download-message-transcription"',
        'kind = "trigger"\nspec = "conversations/download-message-transcription"\nitems = { path = "", many = false }',
    )
    path = tmp_path / "operations.toml"
    path.write_text(as_trigger, encoding="utf-8")

    with pytest.raises(CatalogError, match="a trigger must answer JSON with items"):
        load_catalog(path)
    assert not get_catalog().operation("get-message-recording").is_trigger
    assert not get_catalog().operation("download-transcription").is_trigger


def test_method_path_version_and_fields_are_read_from_the_spec_files() -> None:
    raw = json.loads((SPEC_DIR / "apps" / "calendars.json").read_text())
    declared = raw["paths"]["/calendars/{calendarId}/free-slots"]["get"]
    op = get_catalog().operation("get-free-slots")

    assert (op.method, op.path, op.operation_id) == ("GET", "/calendars/{calendarId}/free-slots", "get-slots")
    version = next(p for p in declared["parameters"] if p["name"] == "Version")
    assert op.version == version["schema"]["enum"][0] == "2021-04-15"
    spec_query = [p["name"] for p in declared["parameters"] if p["in"] == "query"]
    assert [f.name for f in op.fields if f.location == "query"] == spec_query
    assert {f.name for f in op.fields if f.location == "query" and f.required} == {"startDate", "endDate"}
    calendar = op.field("calendarId", "path")
    assert calendar is not None
    assert calendar.picker == "calendars"
    # Every entry's request is the spec's.
    spec = get_spec()
    for entry in get_catalog().operations:
        assert entry.spec is spec.operation(entry.operation_id, app=entry.app)


def test_an_operation_that_declares_no_version_sends_its_spec_files_version() -> None:
    op = get_catalog().operation("get-email-by-id")

    assert op.spec.version is None
    assert op.version == "2021-04-15"
    # Its path parameter is not declared either: it is still a required field.
    field = op.field("id", "path")
    assert field is not None
    assert field.required
    assert not field.declared


def test_locationid_and_companyid_default_to_the_connections_and_are_not_required_in_the_form() -> None:
    contacts = get_catalog().operation("create-contact").field("locationId", "body")
    users = get_catalog().operation("search-users").field("companyId", "query")
    opportunities = get_catalog().operation("search-opportunities").field("location_id", "query")

    assert contacts is not None
    assert contacts.required
    assert not contacts.needed_in_form
    assert contacts.default == "{locationId}"
    assert users is not None
    assert users.default == "{companyId}"
    assert opportunities is not None
    assert opportunities.default == "{locationId}"


def _load(tmp_path: Path, text: str) -> None:
    path = tmp_path / "operations.toml"
    path.write_text(CATALOG_FILE.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")
    load_catalog(path)


ENTRY = """
[[operation]]
key = "extra"
name = "Extra"
description = "An extra entry"
category = "contacts"
kind = "action"
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (ENTRY + 'spec = "contacts/no-such-operation"', "spec has no operation 'contacts/no-such-operation'"),
        (ENTRY + 'spec = "calendars/get-contact"', "spec has no operation 'calendars/get-contact'"),
        (ENTRY + 'spec = "contacts/get-contact"\nfavourite = true', "unknown key"),
        (ENTRY + 'spec = "contacts/get-contact"\ndefaults.query = { contactld = "x" }', "no field 'contactld'"),
        (ENTRY + 'spec = "contacts/get-contact"\npickers = { contactId = "nope" }', "no picker 'nope'"),
        (ENTRY.replace('"extra"', '"get-contact"') + 'spec = "contacts/get-contact"', "duplicate operation keys"),
        (ENTRY.replace('"contacts"', '"billing"') + 'spec = "contacts/get-contact"', "unknown category"),
        (ENTRY.replace('"action"', '"trigger"') + 'spec = "contacts/search-contacts-advanced"', "needs items"),
    ],
)
def test_a_bad_entry_stops_the_load_and_names_itself(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        _load(tmp_path, text)


def test_the_committed_catalog_loads_with_an_extra_good_entry(tmp_path: Path) -> None:
    _load(tmp_path, ENTRY + 'spec = "locations/get-location-tags"')  # adding an operation is one entry


def test_every_trigger_says_where_its_items_are_and_the_spec_agrees_where_it_can() -> None:
    for op in catalog_operations(kind="trigger"):
        items = catalog_trigger_items(op.key)
        assert isinstance(items, Items)
        if items.from_spec:
            assert items == derive_items(op.spec.response_schema)
    opportunities = catalog_trigger_items("search-opportunities")
    assert (opportunities.path, opportunities.many, opportunities.id_field, opportunities.updated_field) == (
        "opportunities",
        True,
        "id",
        "updatedAt",
    )
    assert catalog_trigger_items("get-contact-tasks").updated_field is None
    with pytest.raises(ValueError, match="not a trigger"):
        catalog_trigger_items("create-contact")


def test_items_are_found_in_an_answer_including_nested_lists_with_their_parent() -> None:
    answer = {"pipelines": [{"id": "p1", "name": "Sales", "stages": [{"id": "s1", "name": "New"}]}]}
    stages = Items("pipelines.stages", True, "id", None, False)

    assert Items("pipelines", True, "id", None, True).extract(answer)[0]["id"] == "p1"
    assert stages.walk(answer) == [({"id": "s1", "name": "New"}, answer["pipelines"][0])]
    assert Items("contact", False, "id", None, True).extract({"contact": None}) == []


def test_templates_fill_placeholders_and_drop_what_has_no_value() -> None:
    template = {
        "locationId": "{locationId}",
        "pageLimit": 1,
        "filters": [
            {"group": "OR", "filters": [{"field": "email", "value": "{email}"}, {"field": "id", "value": "{id}"}]}
        ],
        "title": "Call {name}",
    }

    assert render(template, {"locationId": "L", "email": "a@b.c"}) == {
        "locationId": "L",
        "pageLimit": 1,
        "filters": [{"group": "OR", "filters": [{"field": "email", "value": "a@b.c"}]}],
    }
    assert render("{n}", {"n": 5}) == 5  # a whole placeholder keeps the value's type


def test_the_oauth_scopes_cover_every_api_the_catalog_uses() -> None:
    needed = set(catalog_required_scopes())

    assert {"opportunities.write", "calendars/groups.write", "blogs/post.write", "users.readonly"} <= needed
    assert needed - set(settings.GHL_OAUTH_SCOPES) == set()


def test_docs_catalog_md_lists_every_operation_as_the_catalog_has_it() -> None:
    text = docs.DOCS_FILE.read_text(encoding="utf-8")

    assert docs.render_docs(text, get_catalog()) == text, "run: python -m integrations.catalog.docs"
    for op in get_catalog().operations:
        assert f"(`{op.key}`)" in text
    for excluded in get_catalog().excluded:
        assert f"`{excluded.spec_ref}`" in text
