"""Forms built from the spec: one per catalog operation (its path, query and body fields), and the raw request."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from integrations.catalog.loader import BODY, BODY_JSON, INPUT, PATH, QUERY, CatalogOperation, Field
from integrations.clients.addresses import request_path_problem
from integrations.input_checks import MSG_BAD_JSON, InputRefused, json_parse
from integrations.models import Connection, System

GROUP_TITLES = {
    INPUT: "Find by",
    PATH: "In the path",
    QUERY: "Query parameters",
    BODY: "Body",
    BODY_JSON: "Body",
}
GROUP_ORDER = (INPUT, PATH, QUERY, BODY, BODY_JSON)
# Text fields that hold paragraphs get a text area.
LONG_TEXT = frozenset({"body", "rawHTML", "html", "message", "description", "notes", "formSubmitThanksMessage"})
BLANK_CHOICE = ("", "—")
MSG_JSON = MSG_BAD_JSON
MSG_RAW_PATH = "Start with / (the part after the connection's base URL), e.g. /contacts/?locationId=…"
HELP_LIST = "One per line."
HELP_JSON = "JSON."
HELP_DEFAULT_LOCATION = "Blank: this connection's location."
HELP_DEFAULT_COMPANY = "Blank: the company of this connection (OAuth connections know it)."
HELP_DEFAULT = "Blank: {value}."
HELP_MILLIS = "Epoch milliseconds."
HELP_DATETIME = "ISO 8601, e.g. 2026-01-31T09:00:00Z."
HELP_NOT_DECLARED = "Part of the path (the spec does not describe it)."
PICKER_MODES = {"string": "set", "enum": "set", "list": "append-line", "json": "append-json"}


def ghl_connections() -> Any:
    return Connection.objects.filter(system=System.GHL).order_by("name")


def _json(text: str) -> Any:
    # Depth, NUL and lone surrogates are refused as well (a deep body crashed the page with RecursionError).
    try:
        return json_parse(text, where="The JSON")
    except InputRefused as e:
        raise forms.ValidationError(str(e)) from None


def _help(field: Field) -> str:
    parts = [field.description.strip()] if field.description.strip() else []
    if not field.declared:
        parts.append(HELP_NOT_DECLARED)
    if field.default == "{locationId}":
        parts.append(HELP_DEFAULT_LOCATION)
    elif field.default == "{companyId}":
        parts.append(HELP_DEFAULT_COMPANY)
    elif field.default is not None:
        parts.append(HELP_DEFAULT.format(value=json.dumps(field.default)))
    if field.schema.get("format") == "date-time":
        parts.append(HELP_DATETIME)
    if field.name in ("startTime", "endTime", "startDate", "endDate") and field.location == QUERY:
        parts.append(HELP_MILLIS)
    if field.kind == "list":
        parts.append(HELP_LIST)
    elif field.kind == "json":
        parts.append(HELP_JSON)
    return " ".join(parts)


def _bool(value: str) -> bool | None:
    return {"true": True, "false": False}.get(value)


def form_field(field: Field) -> forms.Field:
    """The Django form field a person fills in for one spec field; required when the spec requires it and nothing
    fills it in by default."""
    required = field.needed_in_form
    options: dict[str, Any] = {"label": field.name, "required": required, "help_text": _help(field)}
    kind = field.kind
    result: forms.Field
    if kind == "enum":
        values = field.enum or ()
        by_text = {str(v): v for v in values}
        result = forms.TypedChoiceField(
            choices=[BLANK_CHOICE, *[(str(v), str(v)) for v in values]],
            coerce=lambda text: by_text.get(text, text),
            empty_value=None,
            **options,
        )
    elif kind == "boolean":
        result = forms.TypedChoiceField(
            choices=[BLANK_CHOICE, ("true", "true"), ("false", "false")], coerce=_bool, empty_value=None, **options
        )
    elif kind == "integer":
        result = forms.IntegerField(**options)
    elif kind == "number":
        result = forms.FloatField(**options)
    elif kind == "list":
        result = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), **options)
    elif kind == "json":
        result = forms.CharField(widget=forms.Textarea(attrs={"rows": 6, "class": "ss-json"}), **options)
    elif field.name in LONG_TEXT and field.location == BODY:
        result = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), strip=False, **options)
    else:
        result = forms.CharField(**options)
    result.widget.attrs["data-kind"] = kind
    if field.needed_in_form:
        result.widget.attrs["aria-required"] = "true"
    if field.picker:
        result.widget.attrs["data-picker"] = field.picker
        result.widget.attrs["data-picker-mode"] = PICKER_MODES.get(kind, "set")
    return result


def _value(field: Field, value: Any) -> Any:
    """A cleaned form value as the request carries it (None: left blank)."""
    if value is None or value == "":
        return None
    kind = field.kind
    if kind == "list":
        lines = [line.strip() for line in str(value).splitlines() if line.strip()]
        return lines or None
    if kind == "json":
        return _json(str(value))
    if kind == "number" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class OperationForm(forms.Form):
    """A catalog operation's inputs, built from the spec: required fields marked, enums as choices, pickers where a
    list operation can supply the id. `params` and `body` are what catalog_execute() takes."""

    connection = forms.ModelChoiceField(
        queryset=Connection.objects.none(), label="GoHighLevel connection", empty_label=None
    )

    def __init__(self, *args: Any, operation: CatalogOperation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.operation = operation
        connections = self.fields["connection"]
        assert isinstance(connections, forms.ModelChoiceField)
        connections.queryset = ghl_connections()
        for field in operation.fields:
            self.fields[field.form_name] = form_field(field)
        self.params: dict[str, Any] = {}
        self.body: Any = None

    def groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        """The fields by where they go (path, query, body), in the spec's order."""
        groups = []
        for location in GROUP_ORDER:
            bound = [self[f.form_name] for f in self.operation.fields if f.location == location]
            if bound:
                groups.append((GROUP_TITLES[location], bound))
        return groups

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        params: dict[str, Any] = {}
        body_fields: dict[str, Any] = {}
        body_json: Any = None
        for field in self.operation.fields:
            if field.form_name not in cleaned:
                continue  # the field's own validation failed; its error is shown
            try:
                value = _value(field, cleaned[field.form_name])
            except forms.ValidationError as e:
                self.add_error(field.form_name, e)
                continue
            if value is None:
                continue
            if field.location in (PATH, QUERY, INPUT):
                params[field.name] = value
            elif field.location == BODY:
                body_fields[field.name] = value
            else:
                body_json = value
        self.params = params
        self.body = body_json if self.operation.body_is_json else (body_fields or None)
        return cleaned


class RawRequestForm(forms.Form):
    """A request the catalog lacks: method, path (with its query string), Version and body."""

    METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

    connection = forms.ModelChoiceField(
        queryset=Connection.objects.none(), label="GoHighLevel connection", empty_label=None
    )
    method = forms.ChoiceField(choices=[(m, m) for m in METHODS])
    path = forms.CharField(
        max_length=500,
        help_text="After the connection's base URL, with the query string, e.g. /contacts/?locationId=…&limit=5",
    )
    version = forms.CharField(
        label="Version header",
        required=False,
        max_length=20,
        help_text="Blank: the Version GoHighLevel's spec declares for this route (needed for routes it lacks).",
    )
    body = forms.CharField(
        label="Body (JSON)", required=False, widget=forms.Textarea(attrs={"rows": 8, "class": "ss-json"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        connections = self.fields["connection"]
        assert isinstance(connections, forms.ModelChoiceField)
        connections.queryset = ghl_connections()

    def clean_path(self) -> str:
        path = str(self.cleaned_data["path"]).strip()
        if not path.startswith("/") or path.startswith("//"):
            raise forms.ValidationError(MSG_RAW_PATH)
        problem = request_path_problem(path)
        if problem:
            raise forms.ValidationError(problem)
        return path

    def clean_body(self) -> Any:
        text = str(self.cleaned_data.get("body") or "").strip()
        return _json(text) if text else None
