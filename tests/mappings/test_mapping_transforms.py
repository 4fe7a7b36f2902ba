"""Transforms are pure: no database needed."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings import transforms as t
from mappings.transforms import (
    TRANSFORMS,
    TransformError,
    TransformParamError,
    TransformValueError,
    UnknownTransform,
    apply_transform,
    get_transform,
    validate_params,
)


@pytest.mark.parametrize("name", sorted(set(TRANSFORMS) - {"default"}))
def test_none_passes_through(name: str) -> None:
    params = {"text": "x", "table": {}, "rules": []}
    spec = TRANSFORMS[name]
    needed = {k: v for k, v in params.items() if k in spec.params}
    assert apply_transform(name, None, needed) is None


def test_registry_entries_are_complete() -> None:
    for name, spec in TRANSFORMS.items():
        assert spec.name == name
        assert spec.description
        assert "\n" not in spec.description
        assert callable(spec.func)


def test_unknown_transform_lists_known_names() -> None:
    with pytest.raises(UnknownTransform) as exc:
        get_transform("lowr")
    known = ", ".join(sorted(TRANSFORMS))
    assert str(exc.value) == t.MSG_UNKNOWN_TRANSFORM.format(name="lowr", known=known)
    assert str(exc.value).startswith('Unknown transform "lowr". Known: date_format, datetime_format, default, ')


def test_transform_object_is_callable() -> None:
    assert TRANSFORMS["upper"]("abc") == "ABC"


# -- text ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("trim", "  a b  ", "a b"),
        ("trim", [" a", "b ", 3], ["a", "b", 3]),
        ("lower", "ADA@Example.COM", "ada@example.com"),
        ("upper", "gb", "GB"),
        ("title", "ada LOVELACE", "Ada Lovelace"),
        ("title", "o'neil jean-luc", "O'Neil Jean-Luc"),
        ("title", "it's", "It's"),
        ("trim", "", ""),
    ],
)
def test_text_transforms(name: str, value: object, expected: object) -> None:
    assert apply_transform(name, value) == expected


def test_text_transforms_reject_non_text() -> None:
    with pytest.raises(TransformValueError, match="trim expects text, got int"):
        t.trim(5)


def test_prefix_and_suffix_skip_empty() -> None:
    assert apply_transform("prefix", "123", {"text": "ID-"}) == "ID-123"
    assert apply_transform("suffix", "123", {"text": "!"}) == "123!"
    assert apply_transform("prefix", "", {"text": "ID-"}) == ""


# -- phone -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "region", "expected"),
    [
        ("(415) 555-0123", "US", "+14155550123"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("  ", "US", None),
        ("", "US", None),
        (4155550123, "US", "+14155550123"),
    ],
)
def test_phone_e164(value: object, region: str, expected: str | None) -> None:
    assert apply_transform("phone_e164", value, {"region": region}) == expected


def test_phone_e164_defaults_to_us() -> None:
    assert t.phone_e164("415-555-0123") == "+14155550123"


@pytest.mark.parametrize("value", ["12", "not a phone", "+999 123"])
def test_phone_e164_invalid(value: str) -> None:
    with pytest.raises(TransformValueError) as exc:
        apply_transform("phone_e164", value, {"region": "US"})
    assert str(exc.value) == t.MSG_INVALID_PHONE.format(value=value, region="US")
    assert exc.value.transform == "phone_e164"


def test_phone_e164_message_example() -> None:
    with pytest.raises(TransformValueError, match=r'^"12" is not a valid phone number for region US$'):
        t.phone_e164("12", region="US")


def test_phone_e164_bad_region_param() -> None:
    with pytest.raises(
        TransformParamError, match='Transform "phone_e164": parameter "region": "XX" is not a supported'
    ):
        validate_params("phone_e164", {"region": "XX"})


@given(st.one_of(st.text(max_size=30), st.integers(), st.none(), st.booleans(), st.floats()))
def test_phone_e164_only_raises_value_errors(value: object) -> None:
    try:
        result = t.phone_e164(value, region="US")
    except TransformValueError:
        return
    assert result is None or (isinstance(result, str) and result.startswith("+"))


# -- names -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("full", "first", "last"),
    [
        ("Ada Lovelace", "Ada", "Lovelace"),
        ("  Ada    Lovelace ", "Ada", "Lovelace"),
        ("Cher", "Cher", ""),
        ("Anna van der Berg", "Anna", "van der Berg"),
        ("Mary Jane Smith", "Mary Jane", "Smith"),
        ("Jean de la Fontaine", "Jean", "de la Fontaine"),
        ("Berg, Anna", "Anna", "Berg"),
        ("", "", ""),
        ("Van Morrison", "Van", "Morrison"),
    ],
)
def test_split_name(full: str, first: str, last: str) -> None:
    assert apply_transform("split_name", full, {"part": "first"}) == first
    assert apply_transform("split_name", full, {"part": "last"}) == last


def test_split_name_defaults_to_first() -> None:
    assert apply_transform("split_name", "Ada Lovelace") == "Ada"


def test_split_name_part_must_be_first_or_last() -> None:
    with pytest.raises(TransformParamError) as exc:
        validate_params("split_name", {"part": "middle"})
    assert str(exc.value) == t.MSG_PARAM_CHOICE.format(
        transform="split_name", param="part", allowed="first, last", got='"middle"'
    )


def test_join() -> None:
    assert apply_transform("join", ["Ada", None, "", "Lovelace"]) == "Ada Lovelace"
    assert apply_transform("join", ["a", "b"], {"separator": "-"}) == "a-b"
    assert apply_transform("join", "already text") == "already text"
    with pytest.raises(TransformValueError, match="join expects a list or text, got int"):
        t.join(3)


# -- dates -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "params", "expected"),
    [
        ("2024-05-31", {}, "2024-05-31"),
        ("2024-05-31T23:30:00Z", {}, "2024-05-31"),
        ("31/05/2024", {"input_formats": ["%d/%m/%Y"]}, "2024-05-31"),
        ("2024-05-31", {"format": "%d.%m.%Y"}, "31.05.2024"),
        (date(2024, 5, 31), {}, "2024-05-31"),
        (datetime(2024, 5, 31, 8, tzinfo=UTC), {}, "2024-05-31"),
        ("", {}, None),
    ],
)
def test_date_format(value: object, params: dict[str, object], expected: str | None) -> None:
    assert apply_transform("date_format", value, params) == expected


def test_date_format_invalid() -> None:
    with pytest.raises(TransformValueError, match='"31/05/2024" is not a date'):
        t.date_format("31/05/2024")
    with pytest.raises(TransformValueError, match=r"or %Y\.%m\.%d"):
        t.date_format("31/05/2024", input_formats=["%Y.%m.%d"])


@pytest.mark.parametrize(
    ("value", "params", "expected"),
    [
        ("2024-05-31T09:30:00Z", {}, "2024-05-31T09:30:00+00:00"),
        ("2024-05-31T09:30:00Z", {"tz": "Europe/London"}, "2024-05-31T10:30:00+01:00"),
        ("2024-01-31T09:30:00+02:00", {"tz": "UTC"}, "2024-01-31T07:30:00+00:00"),
        ("2024-05-31 09:30:00", {}, "2024-05-31T09:30:00+00:00"),
        ("2024-05-31T09:30:00Z", {"tz": "America/New_York", "format": "%Y-%m-%d %H:%M"}, "2024-05-31 05:30"),
        ("2024-05-31", {}, "2024-05-31T00:00:00+00:00"),
        ("", {}, None),
    ],
)
def test_datetime_format(value: object, params: dict[str, object], expected: str | None) -> None:
    assert apply_transform("datetime_format", value, params) == expected


def test_datetime_format_invalid_value_and_tz() -> None:
    with pytest.raises(TransformValueError, match='"yesterday" is not a date-time'):
        t.datetime_format("yesterday")
    with pytest.raises(TransformParamError, match='"Mars/Base" is not a known time zone'):
        validate_params("datetime_format", {"tz": "Mars/Base"})
    with pytest.raises(TransformParamError, match="not a usable date format"):
        validate_params("date_format", {"format": "YYYY-MM-DD"})


# -- lookup / default ------------------------------------------------------------------------------------------------


def test_lookup() -> None:
    table = {"lead": "prospect", "Customer": "client", "true": "yes"}
    assert apply_transform("lookup", "lead", {"table": table}) == "prospect"
    assert apply_transform("lookup", "other", {"table": table}) == "other"
    assert apply_transform("lookup", "other", {"table": table, "default": None}) is None
    assert apply_transform("lookup", "customer", {"table": table}) == "customer"
    assert apply_transform("lookup", "customer", {"table": table, "case_insensitive": True}) == "client"
    assert apply_transform("lookup", True, {"table": table}) == "yes"
    assert apply_transform("lookup", ["lead", "x"], {"table": table, "default": "?"}) == ["prospect", "?"]


def test_lookup_requires_a_table() -> None:
    with pytest.raises(TransformParamError) as exc:
        validate_params("lookup", {})
    assert str(exc.value) == t.MSG_MISSING_PARAM.format(transform="lookup", param="table")
    with pytest.raises(TransformParamError, match='parameter "table" must be an object'):
        validate_params("lookup", {"table": ["a"]})
    with pytest.raises(TransformParamError, match='parameter "case_insensitive" must be true or false, got "yes"'):
        validate_params("lookup", {"table": {}, "case_insensitive": "yes"})


@pytest.mark.parametrize("empty", [None, "", []])
def test_default_fills_empty(empty: object) -> None:
    assert apply_transform("default", empty, {"value": "n/a"}) == "n/a"


@pytest.mark.parametrize("kept", ["x", 0, False, ["a"], " "])
def test_default_keeps_values(kept: object) -> None:
    assert apply_transform("default", kept, {"value": "n/a"}) == kept


# -- tags ------------------------------------------------------------------------------------------------------------


def test_tags_split() -> None:
    assert t.tags_split("a, b,,c") == ["a", "b", "c"]
    assert t.tags_split(" a ,b, a ,") == ["a", "b"]
    assert t.tags_split("a;b", separator=";") == ["a", "b"]
    assert t.tags_split(["x ", "", None, "x", 5]) == ["x", "5"]
    assert t.tags_split("") == []
    with pytest.raises(TransformValueError):
        t.tags_split({"a": 1})


def test_tags_join() -> None:
    assert t.tags_join(["a", " b", "", "a"]) == "a, b"
    assert t.tags_join(["a", "b"], separator="|") == "a|b"
    assert t.tags_join("a, b") == "a, b"


_tag = st.text(st.characters(exclude_characters=",", exclude_categories=["Cs"]), min_size=1).map(str.strip).filter(bool)


@given(st.lists(_tag))
def test_tags_join_then_split_round_trips(tags: list[str]) -> None:
    unique = list(dict.fromkeys(tags))
    assert t.tags_split(t.tags_join(tags)) == unique


@given(st.text())
def test_tags_split_is_idempotent(text: str) -> None:
    once = t.tags_split(text)
    assert once is not None
    assert t.tags_split(t.tags_join(once)) == once
    assert all(tag == tag.strip() and tag for tag in once)
    assert len(once) == len(set(once))


# -- bool ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("yes", True), ("No", False), (" 1 ", True), ("off", False), (True, True), (0, False), ("", None)],
)
def test_to_bool(value: object, expected: bool | None) -> None:
    assert t.to_bool(value) is expected


def test_to_bool_invalid() -> None:
    with pytest.raises(TransformValueError, match='"maybe" is not a yes/no value'):
        t.to_bool("maybe")


# -- params ----------------------------------------------------------------------------------------------------------


def test_unknown_param_names_the_allowed_ones() -> None:
    with pytest.raises(TransformParamError) as exc:
        validate_params("phone_e164", {"regoin": "GB"})
    assert str(exc.value) == t.MSG_UNKNOWN_PARAM.format(transform="phone_e164", param="regoin", allowed="region")


def test_params_on_a_transform_without_params() -> None:
    with pytest.raises(TransformParamError) as exc:
        validate_params("trim", {"x": 1})
    assert str(exc.value) == t.MSG_NO_PARAMS.format(transform="trim", param="x")


def test_param_type_error() -> None:
    with pytest.raises(TransformParamError) as exc:
        validate_params("join", {"separator": 1})
    assert str(exc.value) == 'Transform "join": parameter "separator" must be text, got 1.'


def test_all_errors_share_a_base() -> None:
    for cls in (UnknownTransform, TransformParamError, TransformValueError):
        assert issubclass(cls, TransformError)
