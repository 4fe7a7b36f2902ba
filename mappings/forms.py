"""Admin forms for mappings: fields, transforms and rules chosen with pickers (mappings/widgets.py) that store the
same values as before; every value is still checked here, per object type and direction."""

from __future__ import annotations

import json
from typing import Any

import phonenumbers
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Layout, Submit
from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from integrations.custom_fields import CustomFieldList
from integrations.docs_admin import docs_linked
from integrations.input_checks import InputRefused, json_parse
from integrations.models import Connection, System
from integrations.object_types import (
    GHL_CUSTOM_PREFIX,
    ObjectType,
    UnknownObjectType,
    get_object_type,
    is_known_field,
)
from mappings.models import (
    MATCH_RULES,
    Direction,
    FieldMapping,
    Mapping,
    default_match_rules,
    source_system,
    target_system,
)
from mappings.pipeline import ChainError, ChainSyntaxError, format_chain, parse_chain, template_fields, validate_chain
from mappings.presets import PRESETS
from mappings.rules import check_condition, check_followup_rules, rule_key
from mappings.selectors import mapping_free_name
from mappings.widgets import ChainWidget, ConditionWidget, FieldPickerWidget

# FieldMapping
MSG_UNKNOWN_OBJECT_TYPE = 'Unknown object type "{object_type}".'
MSG_UNKNOWN_TARGET_FIELD = 'Unknown {system} field "{field}" for {object_type}. Known: {known}.'
MSG_UNKNOWN_SOURCE_FIELD = 'Unknown {system} field "{field}" for {object_type}. Known: {known}.'
MSG_UNKNOWN_TEMPLATE_FIELD = 'The template uses unknown {system} field "{field}" for {object_type}. Known: {known}.'
MSG_TARGET_NOT_WRITABLE = '{system} field "{field}" is read-only; choose another target field.'
MSG_SOURCE_REQUIRED_FIELD = "Enter the source field name."
MSG_SOURCE_REQUIRED_TEMPLATE = "Enter a template such as {firstName} {lastName}."
MSG_TEMPLATE_NO_FIELDS = "The template has no {field} placeholders; use the Constant source kind for fixed text."
MSG_DIRECTION_UNUSED = "This mapping only runs {mapping_direction}; a {row_direction} row would never be used."
MSG_CUSTOM_FIELD_UNKNOWN = (
    'GoHighLevel has no custom field "{field}" for contacts (deleted, or never there); pick one from the list.'
)
MSG_CHAIN_EDITOR = "The transforms could not be read; open the editor and choose them again."
CUSTOM_FIELD_HINT = {System.GHL: "customFields.<id>", System.STREETTEXT: "custom.<key>"}

# Mapping
MSG_MATCH_RULES_EMPTY = "Enter at least one match rule: {known}."
MSG_MATCH_RULE_UNKNOWN = 'Unknown match rule "{rule}". Known: {known}.'
MSG_MATCH_RULE_REPEATED = 'Match rule "{rule}" is listed more than once.'
MSG_EXTERNAL_ID_FIELD_REQUIRED = "Required by the external_id match rule."
MSG_EXTERNAL_ID_FIELD_UNKNOWN = 'Unknown {system} field "{field}" for {object_type}.'
MSG_PHONE_REGION = '"{region}" is not a phone region; use a two-letter country code such as US or GB.'
MSG_CONNECTION_SYSTEM = "Choose a {system} connection; {connection} is a {actual} connection."
MSG_SCHEDULE_RANGE = "Enter 0 (no schedule) or a number of minutes from 1 to 15."
MSG_NAME_TAKEN = "Another mapping is already called “{name}”; names are unique. “{free}” is free."


def _system_label(system: str) -> str:
    return str(System(system).label)


def _known_fields(object_type: ObjectType, system: str, *, writable_only: bool = False) -> str:
    names = [f.name for f in object_type.fields_for(system) if f.writable or not writable_only]
    return ", ".join([*names, CUSTOM_FIELD_HINT[System(system)]])


class FieldMappingForm(forms.ModelForm):
    """One row of the field-mapping inline. Pass `object_type` (and optionally `mapping_direction`) for new mappings."""

    transforms = forms.CharField(
        required=False,
        max_length=20_000,
        widget=ChainWidget(),
        help_text="Applied in order, each with its settings. Empty: the value is written as it is.",
    )

    class Meta:
        model = FieldMapping
        fields = ["direction", "target_field", "source_kind", "source", "transforms", "position"]
        widgets = {
            "target_field": FieldPickerWidget(role="target"),
            "source": FieldPickerWidget(role="source"),
            "position": forms.NumberInput(attrs={"class": "ss-position", "min": 0, "max": 999}),
        }

    def __init__(
        self,
        *args: Any,
        object_type: str | None = None,
        mapping_direction: str | None = None,
        custom_fields: dict[str, CustomFieldList] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        mapping = None
        if self.instance.mapping_id and not (object_type and mapping_direction):
            mapping = self.instance.mapping  # the inline formset passes both: no query per row
        self.object_type_key = object_type or (mapping.object_type if mapping else None)
        self.mapping_direction = mapping_direction or (mapping.direction if mapping else None)
        # The connections' live custom fields (GHL by id, with names): new picks are checked against them.
        self.custom_fields = custom_fields or {}
        # The stored chain is a list; the form shows it as text (the editor reads the steps themselves).
        if isinstance(self.initial.get("transforms"), list):
            self.fields["transforms"].widget.attrs["data-ss-steps"] = json.dumps(
                self.initial["transforms"], ensure_ascii=False
            )
            self.initial["transforms"] = format_chain(self.initial["transforms"])

    def clean_transforms(self) -> list[dict[str, Any]]:
        text = self.cleaned_data.get("transforms") or ""
        try:
            if text.lstrip().startswith("["):
                # The step editor sends the chain as JSON steps; checked like typed text.
                try:
                    steps = json_parse(text)
                except InputRefused:
                    raise ValidationError(MSG_CHAIN_EDITOR, code="syntax") from None
                return validate_chain(steps)
            return validate_chain(parse_chain(text))
        except ChainSyntaxError as exc:
            raise ValidationError(str(exc), code="syntax") from None
        except ChainError as exc:
            raise ValidationError(exc.errors, code="invalid") from None

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        direction = cleaned.get("direction")
        kind = cleaned.get("source_kind")
        source = (cleaned.get("source") or "").strip()
        target = (cleaned.get("target_field") or "").strip()

        if kind in (FieldMapping.SourceKind.FIELD, FieldMapping.SourceKind.TEMPLATE):
            cleaned["source"] = source
            if not source:
                message = (
                    MSG_SOURCE_REQUIRED_FIELD if kind == FieldMapping.SourceKind.FIELD else MSG_SOURCE_REQUIRED_TEMPLATE
                )
                self.add_error("source", ValidationError(message, code="required"))
        if target:
            cleaned["target_field"] = target

        mapping_direction = self.mapping_direction
        if mapping_direction and mapping_direction != Direction.BOTH and direction and direction != mapping_direction:
            self.add_error(
                "direction",
                MSG_DIRECTION_UNUSED.format(
                    mapping_direction=Direction(mapping_direction).label, row_direction=Direction(direction).label
                ),
            )

        if not direction or not self.object_type_key:
            return cleaned
        try:
            object_type = get_object_type(self.object_type_key)
        except UnknownObjectType:
            raise ValidationError(MSG_UNKNOWN_OBJECT_TYPE.format(object_type=self.object_type_key)) from None
        src, tgt = source_system(direction), target_system(direction)
        ot_label = object_type.label.lower()

        if target:
            spec = next((f for f in object_type.fields_for(tgt) if f.name == target), None)
            if not is_known_field(object_type, tgt, target):
                self.add_error(
                    "target_field",
                    MSG_UNKNOWN_TARGET_FIELD.format(
                        system=_system_label(tgt),
                        field=target,
                        object_type=ot_label,
                        known=_known_fields(object_type, tgt, writable_only=True),
                    ),
                )
            elif spec is not None and not spec.writable:
                self.add_error("target_field", MSG_TARGET_NOT_WRITABLE.format(system=_system_label(tgt), field=target))

        if source and kind == FieldMapping.SourceKind.FIELD and not is_known_field(object_type, src, source):
            self.add_error(
                "source",
                MSG_UNKNOWN_SOURCE_FIELD.format(
                    system=_system_label(src), field=source, object_type=ot_label, known=_known_fields(object_type, src)
                ),
            )
        self._check_custom_fields(tgt, src, target, source if kind == FieldMapping.SourceKind.FIELD else "")
        if source and kind == FieldMapping.SourceKind.TEMPLATE:
            names = template_fields(source)
            if not names:
                self.add_error("source", MSG_TEMPLATE_NO_FIELDS)
            for name in names:
                if not is_known_field(object_type, src, name):
                    self.add_error(
                        "source",
                        MSG_UNKNOWN_TEMPLATE_FIELD.format(
                            system=_system_label(src),
                            field=name,
                            object_type=ot_label,
                            known=_known_fields(object_type, src),
                        ),
                    )
        return cleaned

    def _check_custom_fields(self, target_sys: str, source_sys: str, target: str, source: str) -> None:
        """A GHL custom field picked now must exist; its current name is kept, so a later rename can be shown."""
        ghl = self.custom_fields.get(System.GHL)
        checks = (("target_field", target_sys, target, "target_label"), ("source", source_sys, source, "source_label"))
        for name, system, value, label_attr in checks:
            if system != System.GHL or not value.startswith(GHL_CUSTOM_PREFIX):
                if name not in self.errors:
                    setattr(self.instance, label_attr, "")
                continue
            current = ghl.name_of(value) if ghl is not None and ghl.known else ""
            changed = self.instance.pk is None or name in self.changed_data
            if ghl is not None and ghl.known and not current and changed and self.object_type_key == "contact":
                self.add_error(name, MSG_CUSTOM_FIELD_UNKNOWN.format(field=value))
            elif current:
                setattr(self.instance, label_attr, current)
            elif changed:
                setattr(self.instance, label_attr, "")


class FieldMappingInlineFormSet(BaseInlineFormSet):
    """Gives every row the parent mapping's object type and direction, also before the mapping is first saved."""

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        kwargs = super().get_form_kwargs(index)
        # On the add page the admin builds the formset with the unsaved parent, filled from the posted form.
        kwargs["object_type"] = getattr(self.instance, "object_type", None) or None
        kwargs["mapping_direction"] = getattr(self.instance, "direction", None) or None
        return kwargs


MSG_RECORD_FILTER = "The filter is not a condition this app understands: {error}"
MSG_FOLLOWUP_RULES = "Follow-up rules: {error}."
MSG_FOLLOWUP_NAMES = "Follow-up rules need distinct names: a task is made once per contact and rule name."
MSG_FOLLOWUP_DUE = 'Follow-up rule "{name}": due_in_days must be a number of days from 0 to 365.'


class MappingForm(forms.ModelForm):
    """Mapping settings; match rules are edited as comma-separated text such as "link, email, phone"."""

    match_rules = forms.CharField(
        help_text=Mapping._meta.get_field("match_rules").help_text + " Separate with commas.",
        widget=forms.TextInput(attrs={"size": 40}),
    )

    class Meta:
        model = Mapping
        fields = [
            "name",
            "object_type",
            "ghl_connection",
            "streettext_connection",
            "direction",
            "match_rules",
            "ghl_external_id_field",
            "streettext_external_id_field",
            "phone_region",
            "conflict_policy",
            "mode",
            "create_missing",
            "delete_policy",
            "overwrite_tags",
            "record_filter",
            "deletion_check_minutes",
            "followup_rules",
            "schedule_minutes",
            "start_from",
            "enabled",
        ]
        widgets = {
            "record_filter": ConditionWidget(role="filter"),
            "followup_rules": ConditionWidget(role="followups"),
            "ghl_external_id_field": FieldPickerWidget(role="field", system=System.GHL),
            "streettext_external_id_field": FieldPickerWidget(role="field", system=System.STREETTEXT),
        }
        help_texts = {
            "ghl_external_id_field": "For the external_id match rule: the GoHighLevel field holding the other "
            "side's id (often a custom field).",
            "streettext_external_id_field": "For the external_id match rule: the StreetText field holding the other "
            "side's id, e.g. External id.",
            "record_filter": "Only source records that meet these conditions are synced; others are left alone. "
            "None: every record.",
            "followup_rules": "Once per contact and rule, when its conditions hold on a processed record: create a "
            "GoHighLevel task (the title and body may use {field} placeholders), or enrol the contact in a workflow "
            "or a campaign, or add followers.",
        }

    def clean_name(self) -> str:
        name = " ".join((self.cleaned_data.get("name") or "").split())
        others = Mapping.objects.exclude(pk=self.instance.pk) if self.instance.pk else Mapping.objects.all()
        if name and others.filter(name__iexact=name).exists():
            free = mapping_free_name(name=name, exclude_pk=self.instance.pk)
            raise ValidationError(MSG_NAME_TAKEN.format(name=name, free=free), code="unique")
        return name

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for form_field in self.fields.values():
            if "docs/" in str(form_field.help_text):  # the guide it names opens in the browser
                form_field.help_text = docs_linked(str(form_field.help_text))
        rules = self.initial.get("match_rules")
        if rules is None and self.instance.pk is None:
            rules = default_match_rules()  # a new mapping starts with the usual rules, not an empty box
        if isinstance(rules, list):
            self.initial["match_rules"] = ", ".join(str(r) for r in rules)
        schedule = self.fields["schedule_minutes"]
        # One clear range message from clean_schedule_minutes instead of Django's generic min/max ones.
        schedule.validators = []
        schedule.widget.attrs.update({"min": 0, "max": 15})
        self.fields["deletion_check_minutes"].required = False

    def clean_followup_rules(self) -> list[dict[str, Any]]:
        rules = self.cleaned_data.get("followup_rules") or []
        try:
            check_followup_rules(rules)
        except ValueError as e:
            raise forms.ValidationError(MSG_FOLLOWUP_RULES.format(error=e)) from e
        names = [rule_key(rule) for rule in rules]
        if len(names) != len(set(names)):
            raise forms.ValidationError(MSG_FOLLOWUP_NAMES)
        for rule in rules:
            days = rule.get("due_in_days", 1)
            if isinstance(days, bool) or not isinstance(days, int | float) or not 0 <= days <= 365:
                raise forms.ValidationError(MSG_FOLLOWUP_DUE.format(name=rule_key(rule)))
        return rules

    def clean_deletion_check_minutes(self) -> int:
        return self.cleaned_data.get("deletion_check_minutes") or 0

    def clean_record_filter(self) -> dict[str, Any]:
        condition = self.cleaned_data.get("record_filter") or {}
        if condition:
            try:
                check_condition(condition, "filter")
            except ValueError as e:
                raise forms.ValidationError(MSG_RECORD_FILTER.format(error=e)) from e
        return condition

    def clean_match_rules(self) -> list[str]:
        text = self.cleaned_data.get("match_rules") or ""
        known = ", ".join(MATCH_RULES)
        rules = [part.strip().lower() for part in text.split(",") if part.strip()]
        if not rules:
            raise ValidationError(MSG_MATCH_RULES_EMPTY.format(known=known), code="required")
        errors = []
        seen: set[str] = set()
        for rule in rules:
            if rule not in MATCH_RULES:
                errors.append(ValidationError(MSG_MATCH_RULE_UNKNOWN.format(rule=rule, known=known), code="unknown"))
            elif rule in seen:
                errors.append(ValidationError(MSG_MATCH_RULE_REPEATED.format(rule=rule), code="repeated"))
            seen.add(rule)
        if errors:
            raise ValidationError(errors)
        return rules

    def clean_phone_region(self) -> str:
        region = (self.cleaned_data.get("phone_region") or "").strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValidationError(MSG_PHONE_REGION.format(region=region), code="invalid")
        return region

    def _clean_connection(self, name: str, system: str) -> Any:
        connection = self.cleaned_data.get(name)
        if connection is not None and connection.system != system:
            raise ValidationError(
                MSG_CONNECTION_SYSTEM.format(
                    system=_system_label(system), connection=connection.name, actual=_system_label(connection.system)
                ),
                code="wrong_system",
            )
        return connection

    def clean_ghl_connection(self) -> Any:
        return self._clean_connection("ghl_connection", System.GHL)

    def clean_streettext_connection(self) -> Any:
        return self._clean_connection("streettext_connection", System.STREETTEXT)

    def clean_schedule_minutes(self) -> int | None:
        minutes = self.cleaned_data.get("schedule_minutes")
        if minutes is not None and not 0 <= minutes <= 15:
            raise ValidationError(MSG_SCHEDULE_RANGE, code="range")
        return minutes

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        for name in ("ghl_external_id_field", "streettext_external_id_field"):
            if name in cleaned:
                cleaned[name] = (cleaned[name] or "").strip()
        rules = cleaned.get("match_rules") or []
        key = cleaned.get("object_type")
        try:
            object_type = get_object_type(key) if key else None
        except UnknownObjectType:
            object_type = None  # the choice field has already reported it
        for name, system in (
            ("ghl_external_id_field", System.GHL),
            ("streettext_external_id_field", System.STREETTEXT),
        ):
            value = cleaned.get(name, "")
            if not value:
                if "external_id" in rules:
                    self.add_error(name, ValidationError(MSG_EXTERNAL_ID_FIELD_REQUIRED, code="required"))
                continue
            if object_type is not None and not is_known_field(object_type, system, value):
                self.add_error(
                    name,
                    MSG_EXTERNAL_ID_FIELD_UNKNOWN.format(
                        system=_system_label(system), field=value, object_type=object_type.label.lower()
                    ),
                )
        return cleaned


class PresetForm(forms.Form):
    """Pick a pattern and the two connections it runs between."""

    preset = forms.ChoiceField(choices=[(p.key, p.label) for p in PRESETS.values()], label="Pattern")
    ghl_connection = forms.ModelChoiceField(
        queryset=Connection.objects.filter(system=System.GHL), label="GoHighLevel connection"
    )
    streettext_connection = forms.ModelChoiceField(
        queryset=Connection.objects.filter(system=System.STREETTEXT), label="StreetText connection"
    )
    followup = forms.BooleanField(
        required=False,
        initial=True,
        label="Also create a follow-up task in GoHighLevel (contact data sync)",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_class = "ss-crispy"
        self.helper.layout = Layout("preset", "ghl_connection", "streettext_connection", "followup")
        self.helper.add_input(Submit("create", "Create", css_class="default"))
