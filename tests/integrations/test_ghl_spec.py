"""ghl_spec: the vendored specs, the operation index, path matching, request validation with OAS 3.0
semantics and GHL-style messages, the deviations table and the clear rules. Pure: no database, no HTTP."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest

import ghl_spec
from ghl_spec.deviations import DEVIATIONS, MISSING, Deviation
from ghl_spec.spec import SPEC_DIR, GhlSpec, SpecError, load_documents

CONTACTS = {"Version": "2021-07-28"}
CALENDARS = {"Version": "2021-04-15"}


def check(method: str, path: str, body: Any = None, **kwargs: Any) -> ghl_spec.Validation:
    kwargs.setdefault("headers", CONTACTS)
    return ghl_spec.validate(method, path, body=body, **kwargs)


# -- the vendored files and the index -------------------------------------------------------------------------------


def test_vendored_files_are_byte_for_byte_the_listed_upstream_ones() -> None:
    listed = {}
    for line in (SPEC_DIR / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        listed[name] = digest
    on_disk = {p.relative_to(SPEC_DIR).as_posix() for p in SPEC_DIR.rglob("*") if p.suffix == ".json"}

    assert on_disk == {name for name in listed if name.endswith(".json")}
    for name, digest in listed.items():
        assert hashlib.sha256((SPEC_DIR / name).read_bytes()).hexdigest() == digest, f"{name} was edited"


def test_every_operation_is_indexed_with_what_the_catalog_needs() -> None:
    spec = ghl_spec.get_spec()

    assert len(spec.operations) == 195
    assert len(spec.apps) == 15
    op = ghl_spec.operation("update-contact")
    assert (op.app, op.method, op.path, op.version) == ("contacts", "PUT", "/contacts/{contactId}", "2021-07-28")
    assert [(p.name, p.location, p.required) for p in op.parameters] == [
        ("Version", "header", True),
        ("contactId", "path", True),
    ]
    assert op.request_body is not None
    assert op.request_body.content_type == "application/json"
    assert "firstName" in op.body_properties()
    assert op.success_status == 200
    assert op.response_schema is not None
    assert set(op.response_schema["properties"]) == {"succeded", "contact"}  # sic, and $refs resolved
    assert op.scopes == ("contacts.write",)
    assert op.summary == "Update Contact"
    token = ghl_spec.operation("get-access-token")
    assert token.version is None
    assert token.request_body is not None
    assert token.request_body.content_type == "application/x-www-form-urlencoded"
    assert ghl_spec.operation("create-appointment").version == "2021-04-15"


def test_duplicate_operation_ids_need_the_app() -> None:
    with pytest.raises(ghl_spec.UnknownOperation, match="create-association"):
        ghl_spec.operation("create-association")
    assert ghl_spec.operation("create-association", app="contacts").path == "/contacts/bulk/tags/update/{type}"
    with pytest.raises(ghl_spec.UnknownOperation):
        ghl_spec.operation("no-such-operation")


def test_the_spec_loads_once_per_process() -> None:
    assert ghl_spec.get_spec() is ghl_spec.get_spec()


# -- path matching ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "operation_id", "params"),
    [
        ("POST", "/contacts/search", "search-contacts-advanced", {}),
        ("GET", "/contacts/search/duplicate", "get-duplicate-contact", {}),
        ("GET", "/contacts/abc", "get-contact", {"contactId": "abc"}),
        ("GET", "/contacts/abc/", "get-contact", {"contactId": "abc"}),
        ("GET", "/contacts/", "get-contacts", {}),
        ("GET", "/contacts", "get-contacts", {}),
        ("POST", "/contacts/upsert", "upsert-contact", {}),
        ("GET", "/contacts/abc/tasks/xyz", "get-task", {"contactId": "abc", "taskId": "xyz"}),
        ("PUT", "/contacts/abc/tasks/xyz/completed", "update-task-completed", {"contactId": "abc", "taskId": "xyz"}),
        ("DELETE", "/contacts/abc/campaigns/removeAll", "remove-contact-from-every-campaign", {"contactId": "abc"}),
        ("POST", "/contacts/bulk/business", "add-remove-contact-from-business", {}),
        ("GET", "/contacts/business/b1", "get-contacts-by-businessId", {"businessId": "b1"}),
        ("DELETE", "/calendars/events/ev1", "delete-event", {"eventId": "ev1"}),
        ("PUT", "/calendars/events/appointments/ev1", "edit-appointment", {"eventId": "ev1"}),
        ("GET", "/contacts/a%2Fb", "get-contact", {"contactId": "a/b"}),
    ],
)
def test_a_concrete_path_finds_its_operation_and_literal_segments_win(
    method: str, path: str, operation_id: str, params: dict[str, str]
) -> None:
    match = ghl_spec.get_spec().match(method, path)

    assert match is not None
    assert match.operation.operation_id == operation_id
    assert match.path_params == params


def test_a_route_or_method_the_spec_lacks_is_refused() -> None:
    assert check("GET", "/contacts/abc/nothing-here").route_error == "Cannot GET /contacts/abc/nothing-here"
    assert check("PATCH", "/contacts/abc").route_error == "Cannot PATCH /contacts/abc"
    assert ghl_spec.get_spec().methods_for("/contacts/abc") == ("DELETE", "GET", "PUT")


# -- Version header and parameters ------------------------------------------------------------------------------------


def test_the_version_header_must_be_the_one_value_the_spec_declares() -> None:
    missing = check("GET", "/contacts/abc", headers={})
    wrong = check("GET", "/calendars/events/appointments/ev1", headers=CONTACTS)
    right = check("GET", "/calendars/events/appointments/ev1", headers={"version": "2021-04-15"})  # any case

    assert missing.version_error == "Version must be one of the following values: 2021-07-28"
    assert not missing.errors
    assert wrong.version_error == "Version must be one of the following values: 2021-04-15"
    assert right.ok


def test_required_query_parameters_types_and_enums() -> None:
    no_location = check("GET", "/contacts/search/duplicate", query={"email": "a@example.com"})
    bad_limit = check("GET", "/contacts/", query={"locationId": "l1", "limit": "lots"})
    good = check("GET", "/contacts/", query={"locationId": ["l1"], "limit": "20", "startAfter": "1700000000000"})
    unknown_extra = check("GET", "/contacts/", query={"locationId": "l1", "whatever": "x"})
    bad_bool = check("POST", "/contacts/bulk/tags/update/add", {"contacts": [], "tags": [], "locationId": "l"})

    assert no_location.errors == ["locationId should not be empty"]
    assert bad_limit.errors == ["limit must be a number"]
    assert good.ok, good.messages
    assert unknown_extra.ok  # the spec cannot say a query is closed, and nothing says GHL refuses extras
    assert bad_bool.ok


def test_path_parameter_enums_are_checked() -> None:
    body = {"contacts": ["c1"], "tags": ["t"], "locationId": "l1"}

    assert check("POST", "/contacts/bulk/tags/update/remove", body).ok
    assert check("POST", "/contacts/bulk/tags/update/replace", body).errors == [
        "type must be one of the following values: add, remove"
    ]


# -- bodies -----------------------------------------------------------------------------------------------------------


def test_null_is_allowed_only_where_the_spec_says_nullable() -> None:
    nullable = check("PUT", "/contacts/abc", {"email": None, "firstName": None, "dateOfBirth": None})
    not_nullable = check("POST", "/contacts/", {"locationId": "l1", "country": None, "postalCode": None, "dnd": None})

    assert nullable.ok, nullable.messages
    assert not_nullable.errors == [
        "country must be a string",
        "dnd must be a boolean value",
        "postalCode must be a string",
    ]


def test_required_properties_and_their_types_are_reported_like_class_validator() -> None:
    verdict = check("POST", "/contacts/c1/tasks", {"body": "x"})

    assert verdict.errors == [
        "title should not be empty",
        "title must be a string",
        "dueDate should not be empty",
        "dueDate must be a string",
        "completed should not be empty",
        "completed must be a boolean value",
    ]


def test_enums_in_bodies() -> None:
    body = {"calendarId": "c", "locationId": "l", "contactId": "x", "startTime": "2026-03-02T15:00:00Z"}

    assert check("POST", "/calendars/events/appointments", {**body, "appointmentStatus": "new"}, headers=CALENDARS).ok
    assert check(
        "POST", "/calendars/events/appointments", {**body, "appointmentStatus": "maybe"}, headers=CALENDARS
    ).errors == [
        "appointmentStatus must be one of the following values: new, confirmed, cancelled, showed, noshow, invalid"
    ]


def test_dtos_that_declare_properties_are_closed_at_every_level() -> None:
    top = check("POST", "/contacts/", {"locationId": "l1", "shoeSize": 9})
    nested = check("PUT", "/contacts/abc", {"customFields": [{"id": "cf1", "field_value": "x", "colour": "red"}]})
    dnd = check("PUT", "/contacts/abc", {"dndSettings": {"SMS": {"status": "active", "why": "x"}}})
    open_dto = check("POST", "/contacts/search", {"anything": {"goes": True}})  # SearchBodyV2DTO declares nothing

    assert top.errors == ["property shoeSize should not exist"]
    assert nested.errors == ["property customFields.0.colour should not exist"]
    assert dnd.errors == ["property dndSettings.SMS.why should not exist"]
    assert open_dto.ok


def test_custom_field_values_match_one_of_the_write_shapes() -> None:
    def custom(value: Any) -> list[str]:
        return check("PUT", "/contacts/abc", {"customFields": [{"id": "cf1", "field_value": value}]}).errors

    assert custom("text") == []
    assert custom(["a", "b"]) == []  # checkbox / multi-select
    assert custom({"f1": {"url": "https://x"}}) == []  # file
    assert custom(12.5) == []  # numeric / monetary: a deviation (typed object in the spec)
    assert custom(True) == ["customFields.0.field_value must be a string"]
    assert custom(None) == ["customFields.0.field_value must be a string"]


def test_a_required_body_must_be_sent_even_when_empty() -> None:
    assert check("DELETE", "/calendars/events/ev1", headers=CALENDARS).errors == ["request body should not be empty"]
    assert check("DELETE", "/calendars/events/ev1", {}, headers=CALENDARS).ok
    assert check("POST", "/contacts/", ["not", "an", "object"]).errors == ["request body must be a JSON object"]


def test_media_types_and_form_bodies() -> None:
    form = {"client_id": "a", "client_secret": "b", "grant_type": "refresh_token", "refresh_token": "r"}

    assert ghl_spec.validate("POST", "/oauth/token", body=form, content_type="application/x-www-form-urlencoded").ok
    assert ghl_spec.validate(
        "POST", "/oauth/token", body={**form, "user_type": "Robot"}, content_type="application/x-www-form-urlencoded"
    ).errors == ["user_type must be one of the following values: Company, Location"]
    assert ghl_spec.validate("POST", "/oauth/token", body=form, content_type="application/json").errors == [
        "Content-Type must be application/x-www-form-urlencoded"
    ]
    assert check("PUT", "/contacts/abc", {"firstName": "A"}, content_type="application/json; charset=utf-8").ok


# -- the deviations table ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method_path", [("POST", "/contacts/"), ("PUT", "/contacts/abc"), ("POST", "/contacts/upsert")]
)
def test_date_of_birth_is_a_date_string_not_an_object(method_path: tuple[str, str]) -> None:
    method, path = method_path
    body = {"dateOfBirth": "1990-09-25"} | ({"locationId": "l1"} if method == "POST" else {})

    assert check(method, path, body).ok
    assert check(method, path, {**body, "dateOfBirth": {"year": 1990}}).errors == ["dateOfBirth must be a string"]


def test_company_name_is_accepted_on_contact_updates() -> None:
    assert check("PUT", "/contacts/abc", {"companyName": "Acme"}).ok
    assert check("PUT", "/contacts/abc", {"companyName": None}).ok
    # gender and locationId stay refused: issue #314 saw the live API refuse them too.
    assert check("PUT", "/contacts/abc", {"gender": "x", "locationId": "l"}).errors == [
        "property gender should not exist",
        "property locationId should not exist",
    ]


def test_without_the_deviations_the_spec_refuses_what_the_live_api_takes() -> None:
    plain = GhlSpec(load_documents(), deviations=())
    date = ghl_spec.validate_request(
        plain, "PUT", "/contacts/abc", headers=CONTACTS, body={"dateOfBirth": "1990-09-25"}
    )
    company = ghl_spec.validate_request(plain, "PUT", "/contacts/abc", headers=CONTACTS, body={"companyName": "A"})
    tags = plain.operation("create-association", app="contacts")

    assert date.errors == ["dateOfBirth must be an object"]
    assert company.errors == ["property companyName should not exist"]
    assert tags.params("path") == ()


def test_a_deviation_the_spec_no_longer_needs_fails_loudly() -> None:
    country = "/components/schemas/CreateContactDto/properties/country/type"
    stale = Deviation(app="contacts", pointer=country, expect="object", value="string", why="test")
    nowhere = "/components/schemas/NoSuchDto/properties/x"
    missing = Deviation(app="contacts", pointer=nowhere, expect=MISSING, value={}, why="test")
    documents = load_documents()

    with pytest.raises(SpecError, match="no longer applies: the spec now says 'string'"):
        GhlSpec(copy.deepcopy(documents), deviations=(stale,))
    with pytest.raises(SpecError, match="no such place"):
        GhlSpec(copy.deepcopy(documents), deviations=(missing,))
    assert len(DEVIATIONS) == 13
    assert all(d.why for d in DEVIATIONS)


# -- clearing a field -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation_id", "field", "keep", "expected"),
    [
        ("update-contact", "email", None, (True, None)),  # nullable
        ("update-contact", "dateOfBirth", None, (True, None)),
        ("update-contact", "companyName", None, (True, None)),
        ("update-contact", "country", None, (True, "")),  # a plain string
        ("update-contact", "postalCode", None, (True, "")),
        ("update-contact", "tags", None, (True, [])),
        ("update-contact", "customFields[].field_value", None, (True, "")),
        ("update-contact", "dnd", None, (False, ghl_spec.REASON_CANNOT_CLEAR)),  # a boolean
        ("update-contact", "gender", None, (False, ghl_spec.REASON_NOT_ACCEPTED)),
        ("add-remove-contact-from-business", "businessId", None, (True, None)),  # required but nullable
        ("update-task-completed", "completed", None, (False, ghl_spec.REASON_REQUIRED)),
        ("update-task", "body", "create-task", (True, "")),
        ("update-task", "title", "create-task", (False, ghl_spec.REASON_REQUIRED)),  # a task always has a title
        ("update-note", "body", "create-note", (False, ghl_spec.REASON_REQUIRED)),
        ("edit-appointment", "appointmentStatus", None, (False, ghl_spec.REASON_CANNOT_CLEAR)),  # enum without ""
        ("edit-appointment", "description", None, (True, "")),
    ],
)
def test_clear_rules_come_from_the_spec(
    operation_id: str, field: str, keep: str | None, expected: tuple[bool, Any]
) -> None:
    app = "calendars" if operation_id == "edit-appointment" else "contacts"
    rule = ghl_spec.clear_rule(operation_id, field, app=app, keep_required_of=keep)

    assert (rule.clearable, rule.value if rule.clearable else rule.reason) == expected
    if rule.clearable:  # and the value it gives is one the validator accepts
        op = ghl_spec.operation(operation_id, app=app)
        top = field.split("[]")[0]
        value = [{"id": "cf1", "field_value": rule.value}] if "[]" in field else rule.value
        others = {name: ["c1"] if name == "ids" else "x" for name in op.body_required() if name != top}
        body = {top: value, **others}
        headers = {"Version": op.version or ""}
        path = op.path.replace("{contactId}", "c").replace("{eventId}", "e").replace("{taskId}", "t")
        assert ghl_spec.validate(op.method, path, headers=headers, body=body).ok
