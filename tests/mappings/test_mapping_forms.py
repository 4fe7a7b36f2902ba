"""Admin forms: chain text, field checks per object type and direction, match rules."""

from __future__ import annotations

from typing import Any

import pytest
from django.forms import inlineformset_factory

from integrations.models import Connection
from mappings import forms as f
from mappings.forms import FieldMappingForm, FieldMappingInlineFormSet, MappingForm
from mappings.models import FieldMapping, Mapping

pytestmark = pytest.mark.django_db


@pytest.fixture
def ghl() -> Connection:
    return Connection.objects.create(
        name="Acme GHL", system="ghl", base_url="http://x", location_id="loc1", auth_type="pit"
    )


@pytest.fixture
def streettext() -> Connection:
    return Connection.objects.create(name="Acme ST", system="streettext", base_url="http://x", auth_type="api_key")


@pytest.fixture
def mapping(ghl: Connection, streettext: Connection) -> Mapping:
    return Mapping.objects.create(name="Contacts", ghl_connection=ghl, streettext_connection=streettext)


def row(**overrides: Any) -> dict[str, Any]:
    data = {
        "direction": "to_streettext",
        "target_field": "email",
        "source_kind": "field",
        "source": "email",
        "transforms": "trim | lower",
        "position": 0,
    }
    data.update(overrides)
    return data


# -- FieldMappingForm ------------------------------------------------------------------------------------------------


def test_valid_row_saves_the_parsed_chain(mapping: Mapping) -> None:
    form = FieldMappingForm(data=row(), object_type="contact", instance=FieldMapping(mapping=mapping))
    assert form.is_valid(), form.errors
    saved = form.save()
    saved.refresh_from_db()
    assert saved.transforms == [{"name": "trim", "params": {}}, {"name": "lower", "params": {}}]


def test_stored_chain_is_shown_as_text(mapping: Mapping) -> None:
    fm = FieldMapping.objects.create(
        mapping=mapping,
        target_field="phone",
        source="phone",
        transforms=[{"name": "phone_e164", "params": {"region": "GB"}}],
    )
    form = FieldMappingForm(instance=fm)
    assert form.initial["transforms"] == 'phone_e164(region="GB")'
    assert form.object_type_key == "contact"
    assert 'value="phone_e164(region=&quot;GB&quot;)"' in str(form["transforms"])


def test_unknown_transform_message(mapping: Mapping) -> None:
    form = FieldMappingForm(data=row(transforms="trim | lowr"), instance=FieldMapping(mapping=mapping))
    assert not form.is_valid()
    assert str(form.errors["transforms"][0]).startswith('Unknown transform "lowr". Known: date_format, ')


def test_chain_syntax_error(mapping: Mapping) -> None:
    form = FieldMappingForm(data=row(transforms="trim |"), instance=FieldMapping(mapping=mapping))
    assert not form.is_valid()
    assert "Could not read the transforms" in form.errors["transforms"][0]


def test_bad_param_message(mapping: Mapping) -> None:
    form = FieldMappingForm(data=row(transforms='phone_e164(region="XX")'), instance=FieldMapping(mapping=mapping))
    assert not form.is_valid()
    assert form.errors["transforms"] == [
        'Transform "phone_e164": parameter "region": "XX" is not a supported phone region; use a two-letter country '
        "code such as US or GB."
    ]


def test_unknown_target_and_source_fields(mapping: Mapping) -> None:
    form = FieldMappingForm(
        data=row(target_field="firstName", source="first_name"), instance=FieldMapping(mapping=mapping)
    )
    assert not form.is_valid()
    # to_streettext: the source is a GHL field, the target a StreetText field.
    assert str(form.errors["target_field"][0]).startswith(
        'Unknown StreetText field "firstName" for contacts. Known: first_name,'
    )
    assert str(form.errors["source"][0]).startswith(
        'Unknown GoHighLevel field "first_name" for contacts. Known: id, firstName,'
    )


def test_direction_to_ghl_swaps_systems(mapping: Mapping) -> None:
    mapping.direction = "both"
    mapping.save()
    form = FieldMappingForm(
        data=row(direction="to_ghl", target_field="firstName", source="first_name"),
        instance=FieldMapping(mapping=mapping),
    )
    assert form.is_valid(), form.errors


def test_custom_fields_are_accepted(mapping: Mapping) -> None:
    form = FieldMappingForm(
        data=row(target_field="custom.score", source="customFields.abc123"), instance=FieldMapping(mapping=mapping)
    )
    assert form.is_valid(), form.errors


def test_read_only_target(mapping: Mapping) -> None:
    form = FieldMappingForm(
        data=row(target_field="created_at", source="dateAdded"), instance=FieldMapping(mapping=mapping)
    )
    assert not form.is_valid()
    assert form.errors["target_field"] == [f.MSG_TARGET_NOT_WRITABLE.format(system="StreetText", field="created_at")]


@pytest.mark.parametrize(
    ("kind", "message"), [("field", f.MSG_SOURCE_REQUIRED_FIELD), ("template", f.MSG_SOURCE_REQUIRED_TEMPLATE)]
)
def test_source_required(mapping: Mapping, kind: str, message: str) -> None:
    form = FieldMappingForm(data=row(source_kind=kind, source=" "), instance=FieldMapping(mapping=mapping))
    assert not form.is_valid()
    assert form.errors["source"] == [message]


def test_constant_may_be_blank(mapping: Mapping) -> None:
    form = FieldMappingForm(
        data=row(source_kind="constant", source="", transforms=""), instance=FieldMapping(mapping=mapping)
    )
    assert form.is_valid(), form.errors


def test_template_fields_are_checked(mapping: Mapping) -> None:
    ok = FieldMappingForm(
        data=row(target_field="company", source_kind="template", source="{companyName} ({customFields.x})"),
        instance=FieldMapping(mapping=mapping),
    )
    assert ok.is_valid(), ok.errors
    bad = FieldMappingForm(
        data=row(target_field="company", source_kind="template", source="{companyName} {company}"),
        instance=FieldMapping(mapping=mapping),
    )
    assert not bad.is_valid()
    assert str(bad.errors["source"][0]).startswith(
        'The template uses unknown GoHighLevel field "company" for contacts.'
    )
    plain = FieldMappingForm(
        data=row(target_field="company", source_kind="template", source="Acme"), instance=FieldMapping(mapping=mapping)
    )
    assert not plain.is_valid()
    assert plain.errors["source"] == [f.MSG_TEMPLATE_NO_FIELDS]


def test_row_direction_must_be_used_by_the_mapping(mapping: Mapping) -> None:
    form = FieldMappingForm(
        data=row(direction="to_ghl", target_field="firstName", source="first_name"),
        instance=FieldMapping(mapping=mapping),
    )
    assert not form.is_valid()
    assert form.errors["direction"] == [
        f.MSG_DIRECTION_UNUSED.format(
            mapping_direction="GoHighLevel → StreetText", row_direction="StreetText → GoHighLevel"
        )
    ]


def test_object_type_passed_in_without_a_saved_mapping() -> None:
    form = FieldMappingForm(data=row(target_field="nope"), object_type="contact")
    assert not form.is_valid()
    assert "target_field" in form.errors
    unknown = FieldMappingForm(data=row(), object_type="deal")
    assert not unknown.is_valid()
    assert unknown.non_field_errors() == [f.MSG_UNKNOWN_OBJECT_TYPE.format(object_type="deal")]


# -- inline formset --------------------------------------------------------------------------------------------------

FieldMappingFormSet = inlineformset_factory(
    Mapping, FieldMapping, form=FieldMappingForm, formset=FieldMappingInlineFormSet, extra=1
)


def _formset_data(*rows: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "field_mappings-TOTAL_FORMS": str(len(rows)),
        "field_mappings-INITIAL_FORMS": "0",
        "field_mappings-MIN_NUM_FORMS": "0",
        "field_mappings-MAX_NUM_FORMS": "1000",
    }
    for i, r in enumerate(rows):
        data.update({f"field_mappings-{i}-{k}": v for k, v in r.items()})
    return data


def test_formset_gives_rows_the_unsaved_parent_object_type(ghl: Connection, streettext: Connection) -> None:
    parent = Mapping(name="New", object_type="contact", ghl_connection=ghl, streettext_connection=streettext)
    formset = FieldMappingFormSet(data=_formset_data(row(), row(target_field="nope")), instance=parent)
    assert formset.forms[0].object_type_key == "contact"
    assert formset.empty_form.object_type_key == "contact"
    assert not formset.is_valid()
    assert formset.errors[0] == {}
    assert "target_field" in formset.errors[1]


def test_formset_saves_rows(mapping: Mapping) -> None:
    formset = FieldMappingFormSet(
        data=_formset_data(row(), row(target_field="phone", source="phone", transforms="phone_e164")), instance=mapping
    )
    assert formset.is_valid(), formset.errors
    formset.save()
    assert list(mapping.field_mappings.values_list("target_field", "transforms")) == [
        ("email", [{"name": "trim", "params": {}}, {"name": "lower", "params": {}}]),
        ("phone", [{"name": "phone_e164", "params": {}}]),
    ]


# -- MappingForm -----------------------------------------------------------------------------------------------------


def mapping_data(ghl: Connection, streettext: Connection, **overrides: Any) -> dict[str, Any]:
    data = {
        "name": "Contacts",
        "object_type": "contact",
        "ghl_connection": ghl.pk,
        "streettext_connection": streettext.pk,
        "direction": "to_streettext",
        "match_rules": "link, email, phone",
        "ghl_external_id_field": "",
        "streettext_external_id_field": "",
        "phone_region": "us",
        "conflict_policy": "newest_wins",
        "mode": "sync",
        "delete_policy": "unlink",
        "create_missing": "on",
        "followup_rules": "[]",
        "schedule_minutes": 5,
        "enabled": "on",
    }
    data.update(overrides)
    return data


def test_mapping_form_valid(ghl: Connection, streettext: Connection) -> None:
    form = MappingForm(data=mapping_data(ghl, streettext, match_rules=" Email ,phone,"))
    assert form.is_valid(), form.errors
    saved = form.save()
    assert saved.match_rules == ["email", "phone"]
    assert saved.phone_region == "US"


def test_mapping_form_shows_rules_as_text(mapping: Mapping) -> None:
    assert MappingForm(instance=mapping).initial["match_rules"] == "link, email, phone"


@pytest.mark.parametrize(
    ("rules", "errors"),
    [
        ("", ["This field is required."]),
        (" , ", [f.MSG_MATCH_RULES_EMPTY.format(known="link, email, phone, name, external_id")]),
        ("email, mail", [f.MSG_MATCH_RULE_UNKNOWN.format(rule="mail", known="link, email, phone, name, external_id")]),
        ("email, phone, email", [f.MSG_MATCH_RULE_REPEATED.format(rule="email")]),
    ],
)
def test_match_rule_errors(ghl: Connection, streettext: Connection, rules: str, errors: list[str]) -> None:
    form = MappingForm(data=mapping_data(ghl, streettext, match_rules=rules))
    assert not form.is_valid()
    assert form.errors["match_rules"] == errors


def test_external_id_rule_needs_both_fields(ghl: Connection, streettext: Connection) -> None:
    form = MappingForm(
        data=mapping_data(ghl, streettext, match_rules="external_id", ghl_external_id_field="customFields.x")
    )
    assert not form.is_valid()
    assert form.errors == {"streettext_external_id_field": [f.MSG_EXTERNAL_ID_FIELD_REQUIRED]}
    form = MappingForm(
        data=mapping_data(
            ghl,
            streettext,
            match_rules="external_id, email",
            ghl_external_id_field="customFields.x",
            streettext_external_id_field="nope",
        )
    )
    assert not form.is_valid()
    assert form.errors == {
        "streettext_external_id_field": [
            f.MSG_EXTERNAL_ID_FIELD_UNKNOWN.format(system="StreetText", field="nope", object_type="contacts")
        ]
    }
    form = MappingForm(
        data=mapping_data(
            ghl,
            streettext,
            match_rules="external_id",
            ghl_external_id_field=" customFields.x ",
            streettext_external_id_field="external_id",
        )
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["ghl_external_id_field"] == "customFields.x"


def test_phone_region(ghl: Connection, streettext: Connection) -> None:
    form = MappingForm(data=mapping_data(ghl, streettext, phone_region="XX"))
    assert not form.is_valid()
    assert form.errors["phone_region"] == [f.MSG_PHONE_REGION.format(region="XX")]


def test_connections_must_match_their_system(ghl: Connection, streettext: Connection) -> None:
    form = MappingForm(data=mapping_data(ghl, streettext, ghl_connection=streettext.pk, streettext_connection=ghl.pk))
    assert not form.is_valid()
    assert set(form.errors) == {"ghl_connection", "streettext_connection"}


def test_connection_system_check_when_queryset_is_widened(ghl: Connection, streettext: Connection) -> None:
    form = MappingForm(data=mapping_data(ghl, streettext, ghl_connection=streettext.pk))
    form.fields["ghl_connection"].queryset = Connection.objects.all()  # type: ignore[attr-defined]
    assert not form.is_valid()
    assert form.errors["ghl_connection"] == [
        f.MSG_CONNECTION_SYSTEM.format(system="GoHighLevel", connection="Acme ST", actual="StreetText")
    ]


@pytest.mark.parametrize("minutes", [-1, 16])
def test_schedule_range(ghl: Connection, streettext: Connection, minutes: int) -> None:
    form = MappingForm(data=mapping_data(ghl, streettext, schedule_minutes=minutes))
    assert not form.is_valid()
    assert f.MSG_SCHEDULE_RANGE in form.errors["schedule_minutes"]
