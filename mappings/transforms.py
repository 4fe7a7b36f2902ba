"""Field transforms: small pure functions `(value, **params) -> value`, registered by name in TRANSFORMS.

No DB or HTTP here. Every transform passes None through unchanged, except `default`.
A value a transform cannot handle raises TransformValueError; the sync engine records it as that record's failure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from mappings.rules import check_rules, condition_holds

# ---------------------------------------------------------------------------------------------------------------------
# Errors and messages
# ---------------------------------------------------------------------------------------------------------------------

MSG_UNKNOWN_TRANSFORM = 'Unknown transform "{name}". Known: {known}.'
MSG_UNKNOWN_PARAM = 'Transform "{transform}": unknown parameter "{param}". Allowed: {allowed}.'
MSG_NO_PARAMS = 'Transform "{transform}" takes no parameters, got "{param}".'
MSG_MISSING_PARAM = 'Transform "{transform}": parameter "{param}" is required.'
MSG_PARAM_TYPE = 'Transform "{transform}": parameter "{param}" must be {expected}, got {got}.'
MSG_PARAM_CHOICE = 'Transform "{transform}": parameter "{param}" must be one of {allowed}, got {got}.'
MSG_BAD_REGION = '"{value}" is not a supported phone region; use a two-letter country code such as US or GB'
MSG_BAD_TIMEZONE = '"{value}" is not a known time zone; use an IANA name such as Europe/London'
MSG_BAD_STRFTIME = '"{value}" is not a usable date format; use strftime codes such as %Y-%m-%d'

MSG_EXPECTS_TEXT = "{transform} expects text, got {type}"
MSG_EXPECTS_LIST = "{transform} expects a list or text, got {type}"
MSG_INVALID_PHONE = '"{value}" is not a valid phone number for region {region}'
MSG_INVALID_DATE = '"{value}" is not a date this transform can read (expected ISO 8601 such as 2024-05-31{formats})'
MSG_INVALID_DATETIME = (
    '"{value}" is not a date-time this transform can read (expected ISO 8601 such as 2024-05-31T09:30:00Z{formats})'
)
MSG_INVALID_BOOL = '"{value}" is not a yes/no value (expected one of: {allowed})'


class TransformError(Exception):
    """Base for all transform errors."""


class UnknownTransform(TransformError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(MSG_UNKNOWN_TRANSFORM.format(name=name, known=", ".join(sorted(TRANSFORMS))))


class TransformParamError(TransformError):
    """A transform's parameters are missing, unknown or of the wrong type."""


class TransformValueError(TransformError):
    """The value cannot be handled by the transform (e.g. an unparseable phone number)."""

    def __init__(self, message: str, *, transform: str = "") -> None:
        self.transform = transform
        super().__init__(message)


# ---------------------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    return type(value).__name__


def _map_text(name: str, value: Any, fn: Callable[[str], str]) -> Any:
    """Apply a string op to text, or to each text item of a list (tags are lists)."""
    if value is None:
        return None
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [fn(v) if isinstance(v, str) else v for v in value]
    raise TransformValueError(MSG_EXPECTS_TEXT.format(transform=name, type=_type_name(value)), transform=name)


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


# ---------------------------------------------------------------------------------------------------------------------
# Transforms
# ---------------------------------------------------------------------------------------------------------------------


def trim(value: Any, /) -> Any:
    return _map_text("trim", value, str.strip)


def lower(value: Any, /) -> Any:
    return _map_text("lower", value, str.lower)


def upper(value: Any, /) -> Any:
    return _map_text("upper", value, str.upper)


def _title_case(text: str) -> str:
    # Not str.title(): that gives "It'S". Capitalise word starts, and after a one-letter prefix like O' or D'.
    text = re.sub(r"(^|[\s\-(])(\w)", lambda m: m.group(1) + m.group(2).upper(), text.lower())
    return re.sub(r"(?<=\b\w['’])(\w)(?=\w)", lambda m: m.group(1).upper(), text)


def title(value: Any, /) -> Any:
    return _map_text("title", value, _title_case)


def prefix(value: Any, /, *, text: str) -> Any:
    # Empty strings stay empty: "+1" in front of nothing is not a value.
    return _map_text("prefix", value, lambda s: text + s if s else s)


def suffix(value: Any, /, *, text: str) -> Any:
    return _map_text("suffix", value, lambda s: s + text if s else s)


def phone_e164(value: Any, /, *, region: str = "US") -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise TransformValueError(
            MSG_EXPECTS_TEXT.format(transform="phone_e164", type=_type_name(value)), transform="phone_e164"
        )
    text = value.strip()
    if not text:
        return None
    invalid = TransformValueError(MSG_INVALID_PHONE.format(value=value, region=region), transform="phone_e164")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise invalid from exc
    if not phonenumbers.is_valid_number(number):
        raise invalid
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# Lower-cased words that start a multi-part last name ("van der Berg", "de la Cruz", "bin Salman").
NAME_PARTICLES = frozenset(
    {"van", "von", "der", "den", "de", "del", "della", "di", "da", "du", "la", "le", "st", "st.", "ter", "ten", "dos",
     "das", "do", "bin", "ibn", "al", "el", "mac", "y"}
)  # fmt: skip


def split_name(value: Any, /, *, part: Literal["first", "last"] = "first") -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TransformValueError(
            MSG_EXPECTS_TEXT.format(transform="split_name", type=_type_name(value)), transform="split_name"
        )
    first, last = _split_full_name(value)
    return first if part == "first" else last


def _split_full_name(full: str) -> tuple[str, str]:
    if "," in full:
        # "Berg, Anna" is last-name-first.
        last, _, first = full.partition(",")
        return " ".join(first.split()), " ".join(last.split())
    words = full.split()
    if not words:
        return "", ""
    if len(words) == 1:
        return words[0], ""
    start = len(words) - 1
    while start > 1 and words[start - 1].lower() in NAME_PARTICLES:
        start -= 1
    return " ".join(words[:start]), " ".join(words[start:])


def join(value: Any, /, *, separator: str = " ") -> Any:
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, list | tuple):
        raise TransformValueError(MSG_EXPECTS_LIST.format(transform="join", type=_type_name(value)), transform="join")
    return separator.join(str(v) for v in value if v is not None and v != "")


def _parse_datetime(value: Any, input_formats: Iterable[str] | None, *, name: str, message: str) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    if not isinstance(value, str):
        raise TransformValueError(MSG_EXPECTS_TEXT.format(transform=name, type=_type_name(value)), transform=name)
    text = value.strip()
    for fmt in input_formats or ():
        try:
            return datetime.strptime(text, fmt)  # noqa: DTZ007 - zone handled by the caller
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    formats = f" or {', '.join(input_formats)}" if input_formats else ""
    raise TransformValueError(message.format(value=value, formats=formats), transform=name)


def date_format(value: Any, /, *, format: str = "%Y-%m-%d", input_formats: list[str] | None = None) -> Any:
    if value is None:
        return None
    if isinstance(value, str) and not value.strip():
        return None
    parsed = _parse_datetime(value, input_formats, name="date_format", message=MSG_INVALID_DATE)
    return parsed.date().strftime(format)


def datetime_format(
    value: Any, /, *, tz: str = "UTC", format: str | None = None, input_formats: list[str] | None = None
) -> Any:
    """Convert to `tz`; naive input is read as UTC. Default output is ISO 8601 with offset."""
    if value is None:
        return None
    if isinstance(value, str) and not value.strip():
        return None
    parsed = _parse_datetime(value, input_formats, name="datetime_format", message=MSG_INVALID_DATETIME)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    converted = parsed.astimezone(ZoneInfo(tz))
    return converted.strftime(format) if format else converted.isoformat()


_MISSING: Any = object()


def _lookup_key(value: Any) -> str:
    # Table keys come from JSON, so they are always strings.
    if isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, bool) else str(value)


def lookup(value: Any, /, *, table: dict[str, Any], default: Any = _MISSING, case_insensitive: bool = False) -> Any:
    """Replace by table[value]; without a match use `default` if given, else keep the value. Lists: per item."""
    if value is None:
        return None
    folded = {k.casefold(): v for k, v in table.items()} if case_insensitive else table

    def one(item: Any) -> Any:
        key = _lookup_key(item)
        if case_insensitive:
            key = key.casefold()
        if key in folded:
            return folded[key]
        return item if default is _MISSING else default

    if isinstance(value, list):
        return [one(v) for v in value]
    return one(value)


def default(current: Any, /, *, value: Any) -> Any:
    # The parameter is called `value` in chains, so the input is positional-only under another name.
    return value if _is_empty(current) else current


def tags_split(value: Any, /, *, separator: str = ",") -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        items: list[Any] = value.split(separator) if separator else [value]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise TransformValueError(
            MSG_EXPECTS_LIST.format(transform="tags_split", type=_type_name(value)), transform="tags_split"
        )
    seen: dict[str, None] = {}
    for item in items:
        if item is None:
            continue
        tag = (item if isinstance(item, str) else str(item)).strip()
        if tag:
            seen.setdefault(tag)
    return list(seen)


def tags_join(value: Any, /, *, separator: str = ", ") -> Any:
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, list | tuple):
        raise TransformValueError(
            MSG_EXPECTS_LIST.format(transform="tags_join", type=_type_name(value)), transform="tags_join"
        )
    tags = tags_split(list(value)) or []
    return separator.join(tags)


TRUE_WORDS = ("true", "yes", "y", "1", "on")
FALSE_WORDS = ("false", "no", "n", "0", "off")


def to_bool(value: Any, /) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if not word:
            return None
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise TransformValueError(
        MSG_INVALID_BOOL.format(value=value, allowed=", ".join(TRUE_WORDS + FALSE_WORDS)), transform="to_bool"
    )


# ---------------------------------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------------------------------

ParamKind = Literal["text", "bool", "table", "text_list", "any"]

_KIND_LABELS: dict[str, str] = {
    "text": "text",
    "bool": "true or false",
    "table": 'an object of text keys, e.g. {"a": "b"}',
    "text_list": 'a list of text, e.g. ["%d/%m/%Y"]',
    "any": "a value",
}


def _check_region(value: str) -> str | None:
    return None if value in phonenumbers.SUPPORTED_REGIONS else MSG_BAD_REGION.format(value=value)


def _check_timezone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return MSG_BAD_TIMEZONE.format(value=value)
    return None


def _check_strftime(value: str) -> str | None:
    # strftime accepts nearly anything; reject only formats with no directive at all (likely a typo).
    return None if "%" in value else MSG_BAD_STRFTIME.format(value=value)


@dataclass(frozen=True)
class Param:
    kind: ParamKind
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] | None = None
    # Extra check on a well-typed value: returns an error message or None.
    check: Callable[[Any], str | None] | None = None
    help: str = ""


@dataclass(frozen=True)
class Transform:
    name: str
    func: Callable[..., Any]
    description: str
    params: dict[str, Param] = field(default_factory=dict)

    def __call__(self, value: Any, **params: Any) -> Any:
        return apply_transform(self.name, value, params)


def _matches_kind(kind: ParamKind, value: Any) -> bool:
    if kind == "text":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "table":
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    if kind == "text_list":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return True


def _check_score_rules(value: Any) -> str | None:
    try:
        check_rules(value, needs="points")
    except ValueError as e:
        return str(e)
    if not all(isinstance(r["points"], int | float) and not isinstance(r["points"], bool) for r in value):
        return '"points" must be a number in every rule'
    return None


def _check_tag_rules(value: Any) -> str | None:
    try:
        check_rules(value, needs="tag")
    except ValueError as e:
        return str(e)
    return None


def _record(value: Any, transform: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        message = f'{transform} reads the whole record: set the field mapping\'s source to "Whole record"'
        raise TransformValueError(message, transform=transform)
    return value


def score(value: Any, /, *, rules: list[dict[str, Any]], base: float = 0) -> Any:
    """Lead score: `base` plus the points of every rule whose condition holds on the record."""
    if value is None:
        return None
    record = _record(value, "score")
    total = base + sum(rule["points"] for rule in rules if condition_holds(rule["when"], record))
    return int(total) if float(total).is_integer() else total


def rule_tags(value: Any, /, *, rules: list[dict[str, Any]], base_field: str = "tags") -> Any:
    """The record's own tags (from `base_field`) plus the tag of every rule whose condition holds."""
    if value is None:
        return None
    record = _record(value, "rule_tags")
    base = record.get(base_field) if base_field else []
    tags = list(base) if isinstance(base, list) else tags_split(base) or []
    tags += [rule["tag"] for rule in rules if condition_holds(rule["when"], record)]
    seen: set[str] = set()
    return [t for t in tags if not (t.lower() in seen or seen.add(t.lower()))]  # type: ignore[func-returns-value]


def _describe(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str) if value is not None else "null"


def _T(name: str, func: Callable[..., Any], description: str, **params: Param) -> tuple[str, Transform]:
    return name, Transform(name=name, func=func, description=description, params=params)


TRANSFORMS: dict[str, Transform] = dict(
    [
        _T("trim", trim, "Remove spaces at both ends (each item of a list)."),
        _T("lower", lower, "Lower-case text."),
        _T("upper", upper, "Upper-case text."),
        _T("title", title, "Capitalise each word: 'ada LOVELACE' -> 'Ada Lovelace'."),
        _T("prefix", prefix, "Put text in front of a non-empty value.", text=Param("text", required=True)),
        _T("suffix", suffix, "Put text after a non-empty value.", text=Param("text", required=True)),
        _T(
            "phone_e164",
            phone_e164,
            "Phone number to E.164 (+14155550123); numbers without a country code are read in `region`.",
            region=Param("text", default="US", check=_check_region, help="defaults to the mapping's phone region"),
        ),
        _T(
            "split_name",
            split_name,
            "First or last part of a full name ('Anna van der Berg' -> 'Anna' / 'van der Berg').",
            part=Param("text", default="first", choices=("first", "last")),
        ),
        _T("join", join, "Join a list into text.", separator=Param("text", default=" ")),
        _T(
            "date_format",
            date_format,
            "Date to text in `format` (strftime, default %Y-%m-%d); reads ISO 8601 or `input_formats`.",
            format=Param("text", default="%Y-%m-%d", check=_check_strftime),
            input_formats=Param("text_list"),
        ),
        _T(
            "datetime_format",
            datetime_format,
            "Date-time converted to `tz` (IANA, default UTC); ISO 8601 with offset unless `format` is given.",
            tz=Param("text", default="UTC", check=_check_timezone),
            format=Param("text", check=_check_strftime),
            input_formats=Param("text_list"),
        ),
        _T(
            "lookup",
            lookup,
            "Replace by table[value]; no match: `default` if given, else unchanged.",
            table=Param("table", required=True),
            default=Param("any"),
            case_insensitive=Param("bool", default=False),
        ),
        _T(
            "default", default, 'Use `value` when the value is empty (null, "", []).', value=Param("any", required=True)
        ),
        _T(
            "tags_split",
            tags_split,
            "Text to a tag list: split, trim, drop empties and repeats ('a, b,,a' -> ['a', 'b']).",
            separator=Param("text", default=","),
        ),
        _T("tags_join", tags_join, "Tag list to text.", separator=Param("text", default=", ")),
        _T("to_bool", to_bool, "yes/no, true/false, 1/0, on/off to true or false."),
        _T(
            "score",
            score,
            'Whole record -> number: `base` plus the points of each rule that holds. Rule: {"when": {"field": '
            '"tags", "op": "contains", "value": "vip"}, "points": 20}.',
            rules=Param("any", required=True, check=_check_score_rules),
            base=Param("any", default=0),
        ),
        _T(
            "rule_tags",
            rule_tags,
            'Whole record -> its tags plus the tag of each rule that holds. Rule: {"when": {...}, "tag": "hot-lead"}.',
            rules=Param("any", required=True, check=_check_tag_rules),
            base_field=Param("text", default="tags"),
        ),
    ]
)


def get_transform(name: str) -> Transform:
    try:
        return TRANSFORMS[name]
    except KeyError:
        raise UnknownTransform(name) from None


def validate_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Check `params` against the transform's spec; return them unchanged. Raises TransformParamError."""
    spec = get_transform(name)
    if not isinstance(params, dict):
        raise TransformParamError(f'Transform "{name}": parameters must be an object, got {_type_name(params)}.')
    for key in params:
        if key not in spec.params:
            if not spec.params:
                raise TransformParamError(MSG_NO_PARAMS.format(transform=name, param=key))
            allowed = ", ".join(spec.params)
            raise TransformParamError(MSG_UNKNOWN_PARAM.format(transform=name, param=key, allowed=allowed))
    for key, param in spec.params.items():
        if key not in params:
            if param.required:
                raise TransformParamError(MSG_MISSING_PARAM.format(transform=name, param=key))
            continue
        value = params[key]
        if not _matches_kind(param.kind, value):
            raise TransformParamError(
                MSG_PARAM_TYPE.format(
                    transform=name, param=key, expected=_KIND_LABELS[param.kind], got=_describe(value)
                )
            )
        if param.choices is not None and value not in param.choices:
            raise TransformParamError(
                MSG_PARAM_CHOICE.format(
                    transform=name, param=key, allowed=", ".join(param.choices), got=_describe(value)
                )
            )
        if param.check is not None and (problem := param.check(value)) is not None:
            raise TransformParamError(f'Transform "{name}": parameter "{key}": {problem}.')
    return params


def apply_transform(name: str, value: Any, params: dict[str, Any] | None = None) -> Any:
    """Validate params, then run the transform. Missing optional params use the function's own defaults."""
    spec = get_transform(name)
    checked = validate_params(name, params or {})
    try:
        return spec.func(value, **checked)
    except TransformValueError as exc:
        exc.transform = exc.transform or name
        raise
