"""Admin forms for automations: the trigger chosen from the catalog's triggers (or a StreetText listing), the condition
and the fields edited with the mapping page's pickers (mappings/widgets.py); every value is checked here."""

from __future__ import annotations

import json
import re
from typing import Any

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Layout, Submit
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from automations.actions import STREETTEXT_ACTIONS, action_fields
from automations.actions.streettext import CUSTOM_PREFIX
from automations.models import Automation, AutomationAction, AutomationFieldMapping, AutomationPath, minutes_text
from automations.presets import PRESETS, AutomationPreset
from automations.triggers import STREETTEXT_RESOURCES, trigger_choices
from integrations.catalog.loader import INPUT, PATH, QUERY, UnknownCatalogOperation
from integrations.catalog.selectors import catalog_categories, catalog_operation, catalog_operations
from integrations.input_checks import InputRefused, json_parse
from integrations.models import Connection, System
from mappings.models import FieldMapping
from mappings.pipeline import ChainError, ChainSyntaxError, parse_chain, validate_chain
from mappings.rules import check_condition
from mappings.widgets import ChainWidget, ConditionWidget, FieldPickerWidget

MSG_NAME_TAKEN = "Another automation is already called “{name}”; names are unique. “{free}” is free."
MSG_SCHEDULE_RANGE = "Enter 0 (only Run now) or a number of minutes from 1 to 15."
MSG_UNKNOWN_TRIGGER = "Choose a trigger from the list."
MSG_NEEDS_STREETTEXT = "Choose a StreetText connection: the trigger reads StreetText."
MSG_NEEDS_STREETTEXT_ACTIONS = "Choose a StreetText connection on the automation: this action writes to StreetText."
MSG_PARAMS_OBJECT = 'The parameters must be a JSON object of names and values, e.g. {"pipeline_id": "…"}.'
MSG_PARAM_UNKNOWN = "{trigger} has no parameter {name}; it has: {known}."
MSG_STREETTEXT_PARAMS = "StreetText listings take no parameters here; leave this empty."
MSG_BODY = "The body must be a JSON object (or empty)."
MSG_BODY_UNUSED = "{trigger} takes no body; leave this empty."
MSG_WATCH = "Write field names separated by commas, e.g. pipelineStageId, status."
MSG_CONDITION = "The condition is not one this app understands: {error}"
MSG_NOTHING_HANDLED = "Tick new items, updated items or both: otherwise nothing is ever handled."
MSG_UNKNOWN_ACTION = "Choose an action from the list."
MSG_UNKNOWN_FIELD = "“{field}” is not a field of this action. Its fields: {known}."
MSG_SOURCE_REQUIRED = "Enter the trigger field to read."
MSG_CHAIN_EDITOR = "The transforms could not be read; open the editor and choose them again."
MSG_CONNECTION_SYSTEM = "Choose a {system} connection; {name} is not one."


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1) if value not in (None, {}, []) else ""


class JSONTextField(forms.CharField):
    """JSON typed as text (empty: `empty`); the stored value is shown pretty-printed."""

    def __init__(self, *, empty: Any = None, **kwargs: Any) -> None:
        self.empty = empty
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 5, "cols": 80, "class": "ss-json"}))
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict | list) or value is None:
            return _json_text(value)
        return value

    def to_python(self, value: Any) -> Any:
        text = str(value or "").strip()
        if not text:
            return self.empty
        try:
            return json_parse(text)
        except InputRefused as e:
            raise ValidationError(str(e)) from None


def action_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """What an action can be: StreetText's, then GoHighLevel's catalog actions by category (value "system:key")."""
    groups = [("StreetText", [(f"{System.STREETTEXT}:{key}", a.name) for key, a in STREETTEXT_ACTIONS.items()])]
    for count in catalog_categories():
        ops = catalog_operations(kind="action", category=count.category.key)
        if ops:
            groups.append((f"GoHighLevel: {count.category.label}", [(f"{System.GHL}:{op.key}", op.name) for op in ops]))
    return groups


class AutomationForm(forms.ModelForm):
    """The automation's settings; the trigger's system follows from the trigger chosen."""

    trigger_key = forms.ChoiceField(label="Trigger", choices=())
    trigger_params = JSONTextField(
        label="Trigger parameters",
        empty={},
        help_text=Automation._meta.get_field("trigger_params").help_text,
    )
    trigger_body = JSONTextField(
        label="Trigger body", empty=None, help_text=Automation._meta.get_field("trigger_body").help_text
    )
    watch_fields = forms.CharField(
        label="Only when these fields changed",
        required=False,
        help_text="Updated items count only when one of these trigger fields changed (commas between), e.g. "
        "pipelineStageId. Empty: any change.",
        widget=forms.TextInput(attrs={"size": 60}),
    )

    class Meta:
        model = Automation
        fields = [
            "name",
            "description",
            "enabled",
            "ghl_connection",
            "streettext_connection",
            "trigger_key",
            "trigger_params",
            "trigger_body",
            "each_message",
            "on_new",
            "on_updated",
            "watch_fields",
            "record_filter",
            "filter_entered",
            "start_from",
            "schedule_minutes",
            "phone_region",
        ]
        widgets = {
            "record_filter": ConditionWidget(role="filter"),
            "description": forms.Textarea(attrs={"rows": 2, "cols": 80}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A viewer's form has no fields (everything is shown read-only).
        field = self.fields.get("trigger_key")
        if isinstance(field, forms.ChoiceField):
            field.choices = [("", "— choose a trigger —"), *trigger_choices()]
            field.help_text = "GoHighLevel: a trigger of the operations catalog; StreetText: its records as changed."
        if isinstance(self.initial.get("watch_fields"), list):
            self.initial["watch_fields"] = ", ".join(self.initial["watch_fields"])
        schedule = self.fields.get("schedule_minutes")
        if schedule is not None:
            schedule.validators = []
            schedule.widget.attrs.update({"min": 0, "max": 15})

    def clean_name(self) -> str:
        from automations.presets import automation_free_name

        name = " ".join((self.cleaned_data.get("name") or "").split())
        others = Automation.objects.exclude(pk=self.instance.pk) if self.instance.pk else Automation.objects.all()
        if name and others.filter(name__iexact=name).exists():
            raise ValidationError(MSG_NAME_TAKEN.format(name=name, free=automation_free_name(name=name)))
        return name

    def _connection(self, name: str, system: str) -> Any:
        connection = self.cleaned_data.get(name)
        if connection is not None and connection.system != system:
            raise ValidationError(MSG_CONNECTION_SYSTEM.format(system=System(system).label, name=connection.name))
        return connection

    def clean_ghl_connection(self) -> Any:
        return self._connection("ghl_connection", System.GHL)

    def clean_streettext_connection(self) -> Any:
        return self._connection("streettext_connection", System.STREETTEXT)

    def clean_watch_fields(self) -> list[str]:
        text = self.cleaned_data.get("watch_fields") or ""
        names = [part.strip() for part in text.split(",") if part.strip()]
        if any(" " in name for name in names):
            raise ValidationError(MSG_WATCH)
        return names

    def clean_record_filter(self) -> dict[str, Any]:
        condition = self.cleaned_data.get("record_filter") or {}
        if condition:
            try:
                check_condition(condition, "condition")
            except ValueError as e:
                raise ValidationError(MSG_CONDITION.format(error=e)) from e
        return condition

    def clean_schedule_minutes(self) -> int | None:
        minutes = self.cleaned_data.get("schedule_minutes")
        if minutes is not None and not 0 <= minutes <= 15:
            raise ValidationError(MSG_SCHEDULE_RANGE)
        return minutes

    def clean_start_from(self) -> Any:
        """The page shows whole seconds: posted back unchanged, the stored instant stays as it was (a start a fraction
        of a second earlier would count an item made just before the automation as new)."""
        value = self.cleaned_data.get("start_from")
        stored = self.instance.start_from if self.instance.pk else None
        if value is not None and stored is not None and value == stored.replace(microsecond=0):
            return stored
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        key = cleaned.get("trigger_key") or ""
        if not (cleaned.get("on_new") or cleaned.get("on_updated")):
            self.add_error("on_new", MSG_NOTHING_HANDLED)
        params, body = cleaned.get("trigger_params"), cleaned.get("trigger_body")
        if params is not None and not isinstance(params, dict):
            self.add_error("trigger_params", MSG_PARAMS_OBJECT)
            params = None
        if body is not None and not isinstance(body, dict):
            self.add_error("trigger_body", MSG_BODY)
            body = None
        if key in STREETTEXT_RESOURCES:
            self.instance.trigger_system = System.STREETTEXT
            if not cleaned.get("streettext_connection"):
                self.add_error("streettext_connection", MSG_NEEDS_STREETTEXT)
            if params:
                self.add_error("trigger_params", MSG_STREETTEXT_PARAMS)
            if body:
                self.add_error("trigger_body", MSG_BODY_UNUSED.format(trigger=STREETTEXT_RESOURCES[key][0]))
            return cleaned
        self.instance.trigger_system = System.GHL
        try:
            operation = catalog_operation(key)
        except UnknownCatalogOperation:
            operation = None
        if operation is None or not operation.is_trigger:
            self.add_error("trigger_key", MSG_UNKNOWN_TRIGGER)
            return cleaned
        known = [f.name for f in operation.fields if f.location in (PATH, QUERY, INPUT)]
        for name in params or {}:
            if name not in known:
                message = MSG_PARAM_UNKNOWN.format(trigger=operation.name, name=name, known=", ".join(known) or "none")
                self.add_error("trigger_params", message)
        if body and operation.spec.request_body is None:
            self.add_error("trigger_body", MSG_BODY_UNUSED.format(trigger=operation.name))
        return cleaned


STEP_ROUTER, STEP_WAIT = "step:router", "step:wait"
STEP_CHOICES = ("Steps", [(STEP_ROUTER, "Paths (a router)"), (STEP_WAIT, "Wait")])
MSG_WAIT_NEEDS = "A wait needs how long (e.g. 1d, 2h 30m, 45m) or “until” and a date field (e.g. until dueDate)."
MSG_WAIT_TEXT = "Write how long (e.g. 1d, 2h 30m, 45m) or “until” and a date field (e.g. until dueDate)."
MSG_WAIT_CAP = "At most {days} days (the wait cap)."
MSG_WAIT_UNUSED = "Only a wait waits; leave this empty."
MSG_PATH_OTHER_AUTOMATION = "Choose a path of this automation."
MSG_PATH_ROUTER = "Choose a paths step (a router) of this automation; save the new one first."
MSG_OTHERWISE_CONDITION = "An otherwise path is taken when no other matched: leave its condition empty."
MSG_PATH_NEEDS_CONDITION = "Give the path a condition, or tick otherwise."
MSG_ONE_OTHERWISE = "A router has one otherwise path at most."
_WAIT_PART = re.compile(r"^(\d+)([dhm])$")
_UNIT_MINUTES = {"d": 1440, "h": 60, "m": 1}


def step_what(action: AutomationAction) -> str:
    """The step's choice in the "what" list: a router, a wait, or system:operation."""
    if action.kind == AutomationAction.Kind.ROUTER:
        return STEP_ROUTER
    if action.kind == AutomationAction.Kind.WAIT:
        return STEP_WAIT
    return f"{action.system}:{action.operation}"


def wait_text(action: AutomationAction) -> str:
    if action.kind != AutomationAction.Kind.WAIT:
        return ""
    return f"until {action.wait_until}" if action.wait_until else minutes_text(action.wait_minutes)


def parse_wait(text: str) -> tuple[int | None, str]:
    """ "1d 2h" → (1560, ""); "until dueDate" → (None, "dueDate"); a bare number is minutes. ValidationError else."""
    words = text.split()
    if len(words) == 2 and words[0].lower() == "until":
        return None, words[1]
    if len(words) == 1 and words[0].isdigit():
        return int(words[0]), ""
    total = 0
    for word in words:
        match = _WAIT_PART.match(word.lower())
        if match is None:
            raise ValidationError(MSG_WAIT_TEXT)
        total += int(match.group(1)) * _UNIT_MINUTES[match.group(2)]
    return total, ""


def _condition(value: Any) -> dict[str, Any]:
    condition = value or {}
    if condition:
        try:
            check_condition(condition, "condition")
        except ValueError as e:
            raise ValidationError(MSG_CONDITION.format(error=e)) from e
    return dict(condition)


def _small_json(rows: int = 2, cols: int = 30) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows, "cols": cols, "class": "ss-json ss-step-json"})


class PathChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.router.name or 'Paths'} → {obj.name}"


class RouterChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"#{obj.position} {obj}"


class ActionInlineForm(forms.ModelForm):
    """One step of the automation: what it does (a StreetText action, a catalog action, a router or a wait), where it
    is (the main line or a path), its name and the condition it runs under."""

    what = forms.ChoiceField(label="Step", choices=())
    condition = JSONTextField(
        label="Only if",
        empty={},
        widget=_small_json(),
        help_text='e.g. {"field": "monetaryValue", "op": "gt", "value": 1000}',
    )
    wait = forms.CharField(
        label="Wait",
        required=False,
        widget=forms.TextInput(attrs={"size": 12, "placeholder": "1d / until dueDate"}),
        help_text="A wait: 1d, 2h 30m, or until a date field.",
    )

    class Meta:
        model = AutomationAction
        fields = ["position", "path", "what", "name", "condition", "wait", "router_mode", "create_missing_contact"]
        field_classes = {"path": PathChoiceField}
        widgets = {"position": forms.NumberInput(attrs={"class": "ss-position", "min": 0, "max": 99})}

    def __init__(self, *args: Any, automation: Automation | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields.get("what")
        if isinstance(field, forms.ChoiceField):
            field.choices = [("", "— choose a step —"), STEP_CHOICES, *action_choices()]
        if self.instance.pk:
            self.initial["what"] = step_what(self.instance)
            self.initial["wait"] = wait_text(self.instance)
        if "name" in self.fields:
            self.fields["name"].widget.attrs["size"] = 18
        automation = automation or (self.instance.automation if self.instance.automation_id else None)
        path = self.fields.get("path")
        if isinstance(path, forms.ModelChoiceField):
            paths = AutomationPath.objects.filter(automation=automation) if automation and automation.pk else None
            path.queryset = paths.select_related("router") if paths is not None else AutomationPath.objects.none()
            path.empty_label = "main line"
        if "router_mode" in self.fields:
            self.fields["router_mode"].label = "Paths taken"

    def clean_what(self) -> str:
        value = self.cleaned_data.get("what") or ""
        if value == STEP_ROUTER:
            self.instance.kind, self.instance.operation = AutomationAction.Kind.ROUTER, ""
            return value
        if value == STEP_WAIT:
            self.instance.kind, self.instance.operation = AutomationAction.Kind.WAIT, ""
            return value
        system, _, operation = value.partition(":")
        if system not in (System.GHL, System.STREETTEXT) or not action_fields(system, operation):
            raise ValidationError(MSG_UNKNOWN_ACTION)
        self.instance.kind = AutomationAction.Kind.ACTION
        self.instance.system, self.instance.operation = system, operation
        return value

    def clean_condition(self) -> dict[str, Any]:
        return _condition(self.cleaned_data.get("condition"))

    def clean_path(self) -> Any:
        path = self.cleaned_data.get("path")
        automation_id = self.instance.automation_id
        if path is not None and automation_id is not None and path.automation_id != automation_id:
            raise ValidationError(MSG_PATH_OTHER_AUTOMATION)
        return path

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        text = " ".join((cleaned.get("wait") or "").split())
        minutes, until = None, ""
        if text:
            try:
                minutes, until = parse_wait(text)
            except ValidationError as e:
                self.add_error("wait", e)
                return cleaned
        if cleaned.get("what") == STEP_WAIT:
            cap = settings.AUTOMATION_WAIT_MAX_DAYS
            if not text or (minutes is not None and minutes <= 0):
                self.add_error("wait", MSG_WAIT_NEEDS)
            elif minutes is not None and minutes > cap * 1440:
                self.add_error("wait", MSG_WAIT_CAP.format(days=cap))
        elif text:
            self.add_error("wait", MSG_WAIT_UNUSED)
            return cleaned
        self.instance.wait_minutes, self.instance.wait_until = minutes, until
        return cleaned


class ActionInlineFormSet(forms.BaseInlineFormSet):
    """StreetText actions need the automation's StreetText connection; a step's path is one of this automation's."""

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        return {**super().get_form_kwargs(index), "automation": self.instance}

    def clean(self) -> None:
        super().clean()
        automation = self.instance
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or form.cleaned_data.get("DELETE"):
                continue
            system = (form.cleaned_data.get("what") or "").partition(":")[0]
            if system == System.STREETTEXT and getattr(automation, "streettext_connection_id", None) is None:
                form.add_error("what", MSG_NEEDS_STREETTEXT_ACTIONS)


def path_condition_problem(condition: Any, otherwise: bool) -> str:
    if otherwise and condition:
        return MSG_OTHERWISE_CONDITION
    if not otherwise and not condition:
        return MSG_PATH_NEEDS_CONDITION
    return ""


def path_problems(path: AutomationPath) -> dict[str, str]:
    """What is wrong with a path read from a file (its router is the step it is nested in): field → message."""
    problems: dict[str, str] = {}
    if not (path.name or "").strip():
        problems["name"] = "A path needs a name."
    try:
        _condition(path.condition)
    except ValidationError as e:
        problems["condition"] = " ".join(e.messages)
        return problems
    problem = path_condition_problem(path.condition, path.otherwise)
    if problem:
        problems["condition"] = problem
    return problems


class PathInlineForm(forms.ModelForm):
    """One path of a router: the router it belongs to, its order, name and condition (or "otherwise")."""

    condition = JSONTextField(
        label="When",
        empty={},
        widget=_small_json(cols=44),
        help_text='e.g. {"field": "monetaryValue", "op": "gt", "value": 1000}',
    )

    class Meta:
        model = AutomationPath
        fields = ["router", "position", "name", "condition", "otherwise"]
        field_classes = {"router": RouterChoiceField}
        widgets = {"position": forms.NumberInput(attrs={"class": "ss-position", "min": 0, "max": 99})}

    def __init__(self, *args: Any, automation: Automation | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        automation = automation or (self.instance.automation if self.instance.automation_id else None)
        router = self.fields.get("router")
        if isinstance(router, forms.ModelChoiceField):
            routers = AutomationAction.objects.filter(kind=AutomationAction.Kind.ROUTER)
            router.queryset = routers.filter(automation=automation) if automation and automation.pk else routers.none()
        if "name" in self.fields:
            self.fields["name"].widget.attrs["size"] = 22

    def clean_condition(self) -> dict[str, Any]:
        return _condition(self.cleaned_data.get("condition"))

    def clean_router(self) -> Any:
        router = self.cleaned_data.get("router")
        automation_id = self.instance.automation_id
        wrong = router is not None and (
            router.kind != AutomationAction.Kind.ROUTER or (automation_id and router.automation_id != automation_id)
        )
        if wrong:
            raise ValidationError(MSG_PATH_ROUTER)
        return router

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "condition" not in self.errors:
            problem = path_condition_problem(cleaned.get("condition"), bool(cleaned.get("otherwise")))
            if problem:
                self.add_error("condition", problem)
        return cleaned


class PathInlineFormSet(forms.BaseInlineFormSet):
    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        return {**super().get_form_kwargs(index), "automation": self.instance}

    def clean(self) -> None:
        super().clean()
        seen: set[int] = set()
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or form.cleaned_data.get("DELETE"):
                continue
            router = form.cleaned_data.get("router")
            if form.cleaned_data.get("otherwise") and router is not None:
                if router.pk in seen:
                    form.add_error("otherwise", MSG_ONE_OTHERWISE)
                seen.add(router.pk)


class FieldRowForm(forms.ModelForm):
    """One field of an action: its target from the action's fields, its source from the trigger item's, through a
    chain of transforms (the mapping page's pickers and step editor)."""

    transforms = forms.CharField(
        required=False,
        max_length=20_000,
        widget=ChainWidget(),
        help_text="Applied in order. Empty: the value as it is.",
    )

    class Meta:
        model = AutomationFieldMapping
        fields = ["position", "target_field", "source_kind", "source", "transforms"]
        widgets = {
            "target_field": FieldPickerWidget(role="target"),
            "source": FieldPickerWidget(role="source"),
            "position": forms.NumberInput(attrs={"class": "ss-position", "min": 0, "max": 999}),
        }

    def __init__(self, *args: Any, action: AutomationAction | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.action = action
        if isinstance(self.initial.get("transforms"), list):
            from mappings.pipeline import format_chain

            self.fields["transforms"].widget.attrs["data-ss-steps"] = json.dumps(
                self.initial["transforms"], ensure_ascii=False
            )
            self.initial["transforms"] = format_chain(self.initial["transforms"])

    def clean_transforms(self) -> list[dict[str, Any]]:
        text = self.cleaned_data.get("transforms") or ""
        try:
            if text.lstrip().startswith("["):
                try:
                    steps = json_parse(text)
                except InputRefused:
                    raise ValidationError(MSG_CHAIN_EDITOR) from None
                return validate_chain(steps)
            return validate_chain(parse_chain(text))
        except ChainSyntaxError as e:
            raise ValidationError(str(e)) from None
        except ChainError as e:
            raise ValidationError(e.errors) from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        target = (cleaned.get("target_field") or "").strip()
        cleaned["target_field"] = target
        kind = cleaned.get("source_kind")
        source = (
            (cleaned.get("source") or "").strip()
            if kind != FieldMapping.SourceKind.CONSTANT
            else cleaned.get("source", "")
        )
        cleaned["source"] = source
        if kind in (FieldMapping.SourceKind.FIELD, FieldMapping.SourceKind.TEMPLATE) and not source:
            self.add_error("source", MSG_SOURCE_REQUIRED)
        action = self.action
        if action is not None and target:
            names = [f.name for f in action_fields(action.system, action.operation)]
            custom = action.operation == "contact.upsert" and target.startswith(CUSTOM_PREFIX)
            if target not in names and not custom:
                self.add_error("target_field", MSG_UNKNOWN_FIELD.format(field=target, known=", ".join(names)))
        return cleaned


class FieldRowFormSet(forms.BaseInlineFormSet):
    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        return {**super().get_form_kwargs(index), "action": self.instance}


# ------------------------------------------------------------------------------
# Presets
# ------------------------------------------------------------------------------
class PresetForm(forms.Form):
    """A preset, the connections it runs between, and what it asks for (a calendar, a tag…)."""

    preset = forms.ChoiceField(choices=[(p.key, p.label) for p in PRESETS.values()], label="Preset")
    ghl_connection = forms.ModelChoiceField(
        queryset=Connection.objects.filter(system=System.GHL), label="GoHighLevel connection"
    )
    streettext_connection = forms.ModelChoiceField(
        queryset=Connection.objects.filter(system=System.STREETTEXT), label="StreetText connection"
    )

    def __init__(self, *args: Any, preset: AutomationPreset | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chosen = preset
        names = ["preset", "ghl_connection", "streettext_connection"]
        for spec in preset.inputs if preset else ():
            self.fields[f"input_{spec.name}"] = forms.CharField(
                label=spec.label, required=spec.required, initial=spec.default, help_text=spec.help
            )
            names.append(f"input_{spec.name}")
        if preset is not None:
            self.fields["preset"].initial = preset.key
            self.fields["preset"].widget = forms.HiddenInput()
        self.helper = FormHelper()
        self.helper.form_class = "ss-crispy"
        self.helper.layout = Layout(*names)
        self.helper.add_input(Submit("create", "Create" if preset else "Next", css_class="default"))

    def inputs(self) -> dict[str, str]:
        return {
            name.removeprefix("input_"): str(value)
            for name, value in self.cleaned_data.items()
            if name.startswith("input_") and value
        }
