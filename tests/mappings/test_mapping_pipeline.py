"""Chain text parsing, templates and payload building: no database needed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings import pipeline as p
from mappings.pipeline import (
    ChainError,
    ChainSyntaxError,
    apply_field_mapping,
    build_payload,
    format_chain,
    parse_chain,
    render_template,
    template_fields,
    validate_chain,
)
from mappings.transforms import MSG_UNKNOWN_TRANSFORM, TRANSFORMS, TransformValueError

# -- parse / format ---------------------------------------------------------------------------------------------------


def test_parse_the_documented_example() -> None:
    text = 'trim | lower | phone_e164(region="GB") | default(value="n/a") | lookup(table={"a":"b"})'
    assert parse_chain(text) == [
        {"name": "trim", "params": {}},
        {"name": "lower", "params": {}},
        {"name": "phone_e164", "params": {"region": "GB"}},
        {"name": "default", "params": {"value": "n/a"}},
        {"name": "lookup", "params": {"table": {"a": "b"}}},
    ]


@pytest.mark.parametrize(
    ("text", "params"),
    [
        ("split_name(part=first)", {"part": "first"}),
        ("x(a=true, b=false, c=null)", {"a": True, "b": False, "c": None}),
        (
            'x(a=-1.5, b=+2, c=[1, "two"], d={"k": {"n": []}})',
            {"a": -1.5, "b": 2, "c": [1, "two"], "d": {"k": {"n": []}}},
        ),
        ('join(separator=" | ")', {"separator": " | "}),
        ("x(a='single')", {"a": "single"}),
        ("x()", {}),
    ],
)
def test_parse_params(text: str, params: dict[str, Any]) -> None:
    assert parse_chain(text)[0]["params"] == params


def test_parse_empty_and_multiline() -> None:
    assert parse_chain("") == []
    assert parse_chain("   ") == []
    assert [s["name"] for s in parse_chain("trim\n| lower\n|upper")] == ["trim", "lower", "upper"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("trim |", "Could not read the transforms (it ends too early)."),
        ("trim lower", "Separate steps with |"),
        ('x(a="open)', "Could not read the transforms"),
        ("a.b", 'got "a.b"'),
        ("x[0]", 'got "x[0]"'),
        ("split_name(first)", 'Transform "split_name": write parameters as name=value, e.g. split_name(part=...).'),
        ("x(**k)", "write parameters as name=value"),
        ("x(a=1, a=2)", 'Transform "x": parameter "a" is given twice.'),
        ("x(a=y + 1)", 'Transform "x": parameter "a" must be a JSON value'),
        ("x(a=__import__('os'))", "must be a JSON value"),
        ("x(a=f'{y}')", "must be a JSON value"),
        ("x(a={1: 2})", "must be a JSON value"),
        ("x(a=1e999)", "must be a JSON value"),
        ("x(a=-true)", "must be a JSON value"),
        ("(trim, lower)", "Each step must be a transform name"),
        ("trim), (lower", "Each step must be a transform name"),
        ("t" * (p.CHAIN_MAX_LENGTH + 1), "too long"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ChainSyntaxError) as exc:
        parse_chain(text)
    assert message in str(exc.value)


def test_format_chain() -> None:
    chain = [{"name": "trim", "params": {}}, {"name": "lookup", "params": {"table": {"é": "x"}, "default": None}}]
    assert format_chain(chain) == 'trim | lookup(table={"é": "x"}, default=null)'
    assert format_chain([]) == ""
    assert format_chain(None) == ""


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3),
    max_leaves=8,
)
_ident = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True).filter(lambda s: s not in {"true", "false", "null"})
_chain = st.lists(
    st.fixed_dictionaries({"name": _ident, "params": st.dictionaries(_ident, _json, max_size=3)}), max_size=4
)


@given(_chain)
def test_format_then_parse_round_trips(chain: list[dict[str, Any]]) -> None:
    # Python keywords cannot be names or parameter names; they never are in the registry.
    import keyword

    if any(keyword.iskeyword(s["name"]) or any(keyword.iskeyword(k) for k in s["params"]) for s in chain):
        return
    assert parse_chain(format_chain(chain)) == chain


def test_every_registered_name_parses() -> None:
    text = " | ".join(TRANSFORMS)
    assert [s["name"] for s in parse_chain(text)] == list(TRANSFORMS)


# -- validate --------------------------------------------------------------------------------------------------------


def test_validate_chain_ok_and_normalises() -> None:
    chain = validate_chain([{"name": "trim"}, {"name": "phone_e164", "params": {"region": "GB"}}])
    assert chain == [{"name": "trim", "params": {}}, {"name": "phone_e164", "params": {"region": "GB"}}]
    assert validate_chain(None) == []


def test_validate_chain_lists_every_problem() -> None:
    with pytest.raises(ChainError) as exc:
        validate_chain(parse_chain('lowr | phone_e164(regoin="GB") | lookup | trim'))
    known = ", ".join(sorted(TRANSFORMS))
    assert exc.value.errors == [
        MSG_UNKNOWN_TRANSFORM.format(name="lowr", known=known),
        'Transform "phone_e164": unknown parameter "regoin". Allowed: region.',
        'Transform "lookup": parameter "table" is required.',
    ]


def test_validate_chain_rejects_bad_shapes() -> None:
    with pytest.raises(ChainError, match="must be a list"):
        validate_chain({"name": "trim"})
    with pytest.raises(ChainError, match="Step 1: expected"):
        validate_chain(["trim"])
    with pytest.raises(ChainError, match="parameters must be an object"):
        validate_chain([{"name": "trim", "params": [1]}])


# -- templates -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("{firstName} {lastName}", {"firstName": "Ada", "lastName": "Lovelace"}, "Ada Lovelace"),
        ("{firstName} {middle} {lastName}", {"firstName": "Ada", "lastName": "Lovelace"}, "Ada Lovelace"),
        ("  {firstName}  ", {}, ""),
        ("Score: {custom.score}", {"custom.score": 7}, "Score: 7"),
        ("{ customFields.abc }", {"customFields.abc": "x"}, "x"),
        ("{tags}", {"tags": ["a", "b"]}, "a, b"),
        ("{dnd}", {"dnd": False}, "false"),
        ("{{literal}} {a}", {"a": "x"}, "{literal} x"),
        ("{a.__class__}", {"a": "x"}, ""),
        ("{0}", {"0": "zero"}, "zero"),
        ("{not closed", {}, "{not closed"),
    ],
)
def test_render_template(template: str, values: dict[str, Any], expected: str) -> None:
    assert render_template(template, values) == expected


def test_render_template_never_uses_format_attribute_access() -> None:
    assert render_template("{a.__class__.__mro__}", {"a": object()}) == ""


def test_template_fields() -> None:
    assert template_fields("{firstName} {lastName} {firstName} {{x}} {custom.score}") == [
        "firstName",
        "lastName",
        "custom.score",
    ]
    assert template_fields("plain") == []


# -- apply / build ---------------------------------------------------------------------------------------------------


def test_apply_field_mapping_kinds() -> None:
    values = {"email": " ADA@X.COM ", "customFields.abc": "v", "firstName": "ada", "lastName": "lovelace"}
    chain = [{"name": "trim", "params": {}}, {"name": "lower", "params": {}}]
    assert apply_field_mapping(source_kind="field", source="email", transforms=chain, values=values) == "ada@x.com"
    assert apply_field_mapping(source_kind="field", source="customFields.abc", transforms=[], values=values) == "v"
    assert apply_field_mapping(source_kind="field", source="missing", transforms=[], values=values) is None
    assert apply_field_mapping(source_kind="constant", source="GHL", transforms=[], values=values) == "GHL"
    assert (
        apply_field_mapping(
            source_kind="template", source="{firstName} {lastName}", transforms=[{"name": "title"}], values=values
        )
        == "Ada Lovelace"
    )
    with pytest.raises(ValueError, match='Unknown source kind "x"'):
        apply_field_mapping(source_kind="x", source="", transforms=[], values=values)


def test_apply_field_mapping_raises_value_errors() -> None:
    with pytest.raises(TransformValueError):
        apply_field_mapping(source_kind="constant", source="12", transforms=[{"name": "phone_e164"}], values={})


@dataclass
class FM:
    target_field: str
    source_kind: str
    source: str
    transforms: list[dict[str, Any]] = field(default_factory=list)


def test_build_payload_keeps_going_after_a_failing_field() -> None:
    mappings = [
        FM("first_name", "field", "firstName", [{"name": "trim", "params": {}}]),
        FM("phone", "field", "phone", [{"name": "phone_e164", "params": {}}]),
        FM("email", "field", "email", [{"name": "lower", "params": {}}]),
        FM("tags", "field", "tags", [{"name": "tags_split", "params": {}}]),
    ]
    values = {"firstName": " Ada ", "phone": "12", "email": "ADA@X.COM", "tags": "a, b"}
    payload, errors = build_payload(mappings, values, default_region="US")
    assert payload == {"first_name": "Ada", "email": "ada@x.com", "tags": ["a", "b"]}
    assert errors == {"phone": '"12" is not a valid phone number for region US'}


def test_build_payload_uses_default_region_only_without_own_region() -> None:
    values = {"phone": "020 7946 0958"}
    own = [FM("phone", "field", "phone", [{"name": "phone_e164", "params": {"region": "US"}}])]
    implicit = [FM("phone", "field", "phone", [{"name": "phone_e164", "params": {}}])]
    assert build_payload(implicit, values, default_region="GB") == ({"phone": "+442079460958"}, {})
    payload, errors = build_payload(own, values, default_region="GB")
    assert payload == {}
    assert "region US" in errors["phone"]


def test_build_payload_reports_stale_chains() -> None:
    payload, errors = build_payload(
        [FM("email", "field", "email", [{"name": "gone"}])], {"email": "x"}, default_region="US"
    )
    assert payload == {}
    assert errors["email"].startswith('Unknown transform "gone"')


def test_build_payload_keeps_none() -> None:
    payload, errors = build_payload([FM("email", "field", "email")], {}, default_region="US")
    assert payload == {"email": None}
    assert errors == {}
