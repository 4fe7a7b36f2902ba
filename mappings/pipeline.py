"""From stored field mappings to a target payload: transform-chain text, templates, and applying chains.

Chain text (what the admin types):  trim | lower | phone_e164(region="GB") | lookup(table={"a": "b"})
Stored chain (FieldMapping.transforms):  [{"name": "trim", "params": {}}, {"name": "phone_e164", "params": {...}}, ...]
The text is read with `ast.parse` and a whitelist of node types; nothing is ever evaluated.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Iterable
from typing import Any, Protocol

from mappings.transforms import TRANSFORMS, TransformError, apply_transform, validate_params

MSG_CHAIN_SYNTAX = (
    "Could not read the transforms{where}. Separate steps with | and write parameters as name=value, "
    'e.g. trim | lower | phone_e164(region="GB").'
)
MSG_CHAIN_TOO_LONG = "The transforms are too long (at most {limit} characters)."
MSG_CHAIN_STEP = (
    'Each step must be a transform name, optionally with name=value parameters, e.g. default(value="n/a"); '
    'got "{text}".'
)
MSG_CHAIN_POSITIONAL = 'Transform "{name}": write parameters as name=value, e.g. {name}({example}=...).'
MSG_CHAIN_VALUE = (
    'Transform "{name}": parameter "{param}" must be a JSON value (text in double quotes, a number, true, false, null, '
    '[...] or {{...}}) or a bare word; got "{text}".'
)
MSG_CHAIN_DUPLICATE_PARAM = 'Transform "{name}": parameter "{param}" is given twice.'
MSG_CHAIN_SHAPE = 'Step {index}: expected {{"name": ..., "params": {{...}}}}, got {got}.'
MSG_UNKNOWN_SOURCE_KIND = 'Unknown source kind "{kind}"; expected field, constant or template.'

CHAIN_MAX_LENGTH = 5000

# {name} placeholders; {{ and }} are literal braces. Names: letters, digits, _ . - (customFields.abc, custom.score).
_TEMPLATE_RE = re.compile(r"\{\{|\}\}|\{\s*([A-Za-z0-9_][A-Za-z0-9_.\-]*)\s*\}")
_SPACES_RE = re.compile(r" {2,}")
_JSON_WORDS: dict[str, Any] = {"true": True, "false": False, "null": None}


class ChainSyntaxError(ValueError):
    """The chain text cannot be parsed."""


class ChainError(ValueError):
    """A parsed chain names unknown transforms or bad parameters; `errors` lists every problem."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__(" ".join(errors))


class FieldMappingLike(Protocol):
    target_field: str
    source_kind: str
    source: str
    transforms: Any


# ---------------------------------------------------------------------------------------------------------------------
# Chain text <-> stored chain
# ---------------------------------------------------------------------------------------------------------------------


def parse_chain(text: str) -> list[dict[str, Any]]:
    """`trim | phone_e164(region="GB")` -> [{"name": "trim", "params": {}}, {"name": "phone_e164", ...}]."""
    text = (text or "").strip()
    if not text:
        return []
    if len(text) > CHAIN_MAX_LENGTH:
        raise ChainSyntaxError(MSG_CHAIN_TOO_LONG.format(limit=CHAIN_MAX_LENGTH))
    try:
        # Parentheses let the admin break the chain over several lines.
        tree = ast.parse(f"(\n{text}\n)", mode="eval")
    except SyntaxError as exc:
        raise ChainSyntaxError(MSG_CHAIN_SYNTAX.format(where=_where(exc, text))) from None
    except (RecursionError, MemoryError, ValueError):
        raise ChainSyntaxError(MSG_CHAIN_SYNTAX.format(where="")) from None
    steps: list[ast.expr] = []
    _flatten_pipes(tree.body, steps)
    return [_parse_step(step, text) for step in steps]


def _where(exc: SyntaxError, text: str) -> str:
    # Line numbers are shifted by one by the wrapping "(\n".
    line = (exc.lineno or 0) - 1
    lines = text.count("\n") + 1
    if not 1 <= line <= lines or not exc.offset:
        return " (it ends too early)"
    return f" (line {line}, column {exc.offset})" if lines > 1 else f" (near column {exc.offset})"


def _flatten_pipes(node: ast.expr, out: list[ast.expr]) -> None:
    # `a | b | c` parses as ((a | b) | c).
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        _flatten_pipes(node.left, out)
        _flatten_pipes(node.right, out)
    else:
        out.append(node)


def _segment(node: ast.AST, text: str) -> str:
    source = ast.get_source_segment(f"(\n{text}\n)", node) or ast.dump(node)
    return source if len(source) <= 80 else source[:77] + "..."


def _parse_step(node: ast.expr, text: str) -> dict[str, Any]:
    if isinstance(node, ast.Name):
        return {"name": node.id, "params": {}}
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        raise ChainSyntaxError(MSG_CHAIN_STEP.format(text=_segment(node, text)))
    name = node.func.id
    if node.args or any(kw.arg is None for kw in node.keywords):
        raise ChainSyntaxError(MSG_CHAIN_POSITIONAL.format(name=name, example=_example_param(name)))
    params: dict[str, Any] = {}
    for kw in node.keywords:
        assert kw.arg is not None
        if kw.arg in params:
            raise ChainSyntaxError(MSG_CHAIN_DUPLICATE_PARAM.format(name=name, param=kw.arg))
        try:
            params[kw.arg] = _literal(kw.value)
        except ValueError:
            raise ChainSyntaxError(
                MSG_CHAIN_VALUE.format(name=name, param=kw.arg, text=_segment(kw.value, text))
            ) from None
    return {"name": name, "params": params}


def _example_param(name: str) -> str:
    spec = TRANSFORMS.get(name)
    return next(iter(spec.params), "param") if spec and spec.params else "param"


def _literal(node: ast.expr) -> Any:
    """A JSON literal, or a bare word read as text. Raises ValueError for anything else."""
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError
        if value is None or isinstance(value, str | int | float | bool):
            return value
        raise ValueError
    if isinstance(node, ast.Name):
        return _JSON_WORDS.get(node.id, node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _literal(node.operand)
        if isinstance(operand, bool) or not isinstance(operand, int | float):
            raise ValueError
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(item) for item in node.elts]
    if isinstance(node, ast.Dict):
        result: dict[str, Any] = {}
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            if key_node is None:  # {**x}
                raise ValueError
            key = _literal(key_node)
            if not isinstance(key, str):
                raise ValueError
            result[key] = _literal(value_node)
        return result
    raise ValueError


def format_chain(chain: Iterable[dict[str, Any]] | None) -> str:
    """The reverse of parse_chain, for showing a stored chain in the form."""
    parts = []
    for step in chain or []:
        params = step.get("params") or {}
        if params:
            args = ", ".join(f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in params.items())
            parts.append(f"{step['name']}({args})")
        else:
            parts.append(str(step["name"]))
    return " | ".join(parts)


def validate_chain(chain: Any) -> list[dict[str, Any]]:
    """Check names and params against the registry; return the chain normalised to {"name", "params"} steps.

    Raises ChainError listing every problem. Defaults are not filled in, so a later change of e.g. the mapping's
    phone region still applies to phone_e164 steps without their own region.
    """
    if chain is None:
        return []
    if not isinstance(chain, list):
        raise ChainError([f"Transforms must be a list of steps, got {type(chain).__name__}."])
    errors: list[str] = []
    normalised: list[dict[str, Any]] = []
    for index, step in enumerate(chain, start=1):
        if not (isinstance(step, dict) and isinstance(step.get("name"), str) and set(step) <= {"name", "params"}):
            errors.append(MSG_CHAIN_SHAPE.format(index=index, got=json.dumps(step, default=str)))
            continue
        params = step.get("params") or {}
        try:
            validate_params(step["name"], params)
        except TransformError as exc:
            errors.append(str(exc))
            continue
        normalised.append({"name": step["name"], "params": dict(params)})
    if errors:
        raise ChainError(errors)
    return normalised


# ---------------------------------------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------------------------------------


def template_fields(template: str) -> list[str]:
    """Field names used by `{name}` placeholders, in order, without repeats."""
    seen: dict[str, None] = {}
    for match in _TEMPLATE_RE.finditer(template or ""):
        if match.group(1):
            seen.setdefault(match.group(1))
    return list(seen)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(_as_text(v) for v in value if v is not None and v != "")
    return str(value)


def render_template(template: str, values: dict[str, Any]) -> str:
    """`{firstName} {lastName}` -> "Ada Lovelace". Missing fields are empty; runs of spaces collapse.

    Placeholders are matched by regex and looked up as flat keys: never str.format, which would allow attribute access.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)[0]  # "{{" -> "{", "}}" -> "}"
        return _as_text(values.get(name))

    rendered = _TEMPLATE_RE.sub(replace, template or "")
    return _SPACES_RE.sub(" ", rendered).strip()


_SPACE_BEFORE_PUNCTUATION_RE = re.compile(r" +([,.:;!?)])")


def render_title(template: str, values: dict[str, Any], *, fallback: str) -> str:
    """A one-line title from a template, that never shows an empty placeholder: a run of placeholders separated only
    by blanks ("{first_name} {last_name}") whose fields are all blank becomes `fallback` (e.g. the contact's email);
    a blank one beside a filled one is left out, with no space left before the punctuation that follows it."""
    template = template or ""
    pieces: list[str] = []
    run: list[str] = []  # the current run of placeholders: rendered values and the blanks between them
    run_filled = False

    def close_run() -> None:
        nonlocal run, run_filled
        if run:
            pieces.append("".join(run) if run_filled else fallback)
        run, run_filled = [], False

    position = 0
    for match in _TEMPLATE_RE.finditer(template):
        between = template[position : match.start()]
        position = match.end()
        name = match.group(1)
        if name is None:  # "{{" or "}}": literal text
            close_run()
            pieces.append(between + match.group(0)[0])
            continue
        if run and not between.strip():
            run.append(between)
        else:
            close_run()
            pieces.append(between)
        text = _as_text(values.get(name))
        run_filled = run_filled or bool(text.strip())
        run.append(text)
    close_run()
    pieces.append(template[position:])
    rendered = _SPACES_RE.sub(" ", "".join(pieces))
    return _SPACE_BEFORE_PUNCTUATION_RE.sub(r"\1", rendered).strip()


# ---------------------------------------------------------------------------------------------------------------------
# Applying field mappings
# ---------------------------------------------------------------------------------------------------------------------


def apply_chain(value: Any, transforms: Iterable[dict[str, Any]] | None) -> Any:
    for step in transforms or []:
        value = apply_transform(step["name"], value, step.get("params") or {})
    return value


def apply_field_mapping(
    *, source_kind: str, source: str, transforms: list[dict[str, Any]], values: dict[str, Any]
) -> Any:
    """Read the source value (a field, a constant or a template) and run it through the chain."""
    if source_kind == "field":
        # Custom fields ("customFields.abc", "custom.score") are flat keys in `values`, not nested.
        value = values.get(source)
    elif source_kind == "constant":
        value = source
    elif source_kind == "template":
        value = render_template(source, values)
    elif source_kind == "record":
        # Rule transforms (score, rule_tags) read several fields at once.
        value = dict(values)
    else:
        raise ValueError(MSG_UNKNOWN_SOURCE_KIND.format(kind=source_kind))
    return apply_chain(value, transforms)


def with_default_region(transforms: Iterable[dict[str, Any]] | None, region: str) -> list[dict[str, Any]]:
    """phone_e164 steps without their own region use the mapping's default region."""
    result = []
    for step in transforms or []:
        params = dict(step.get("params") or {})
        if step.get("name") == "phone_e164" and "region" not in params and region:
            params["region"] = region
        result.append({"name": step.get("name"), "params": params})
    return result


def build_payload(
    field_mappings: Iterable[FieldMappingLike], values: dict[str, Any], *, default_region: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """Build the target payload. A field whose chain fails is left out and its error is reported by target field.

    None results are kept in the payload (the source value is empty); the caller decides whether that clears the target.
    """
    payload: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for fm in field_mappings:
        try:
            payload[fm.target_field] = apply_field_mapping(
                source_kind=fm.source_kind,
                source=fm.source,
                transforms=with_default_region(fm.transforms, default_region),
                values=values,
            )
        except (TransformError, ValueError) as exc:
            errors[fm.target_field] = str(exc)
    return payload, errors
