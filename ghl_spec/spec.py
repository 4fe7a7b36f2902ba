"""GoHighLevel's official OpenAPI specs, loaded once per process: operations indexed, `$ref`s resolved across files,
the deviations table applied, and concrete request paths matched to their operation.

The specs are the vendored copies in ghl_spec/openapi/ (see its README). Everything is plain data built
from them; nothing here knows about a particular endpoint.
"""

from __future__ import annotations

import copy
import json
import posixpath
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ghl_spec.deviations import DEVIATIONS, MISSING, Deviation

SPEC_DIR = Path(__file__).resolve().parent / "openapi"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"

Schema = Mapping[str, Any]


class SpecError(Exception):
    """The vendored specs cannot be loaded as the project expects (a broken file, a stale deviation, a bad $ref)."""


class UnknownOperation(LookupError):
    """No operation with this operationId (or several, and no app was given to choose)."""


@dataclass(frozen=True)
class Parameter:
    """One declared path / query / header parameter of an operation."""

    name: str
    location: str  # "path" | "query" | "header"
    required: bool
    schema: Schema
    description: str = ""

    @property
    def enum(self) -> tuple[Any, ...] | None:
        values = self.schema.get("enum")
        return tuple(values) if isinstance(values, list) else None


@dataclass(frozen=True)
class RequestBody:
    """The declared request body: whether it is required, its media types and the schema of the first one."""

    required: bool
    content_types: tuple[str, ...]
    schema: Schema  # $refs resolved; deviations applied

    @property
    def content_type(self) -> str:
        return self.content_types[0]


@dataclass(frozen=True)
class Operation:
    """One operation of one spec file, as the operations catalog needs it."""

    app: str  # spec file: apps/<app>.json
    operation_id: str
    method: str  # upper case
    path: str  # template as declared, e.g. "/contacts/{contactId}/tasks/{taskId}"
    summary: str
    description: str
    deprecated: bool
    tags: tuple[str, ...]
    version: str | None  # the single allowed value of the required `Version` header; None when none is declared
    parameters: tuple[Parameter, ...]
    request_body: RequestBody | None
    success_status: int | None  # the lowest declared 2xx
    response_schema: Schema | None  # JSON schema of the success answer, $refs resolved
    security: tuple[tuple[str, tuple[str, ...]], ...]  # (scheme, scopes) pairs; empty when none is declared
    segments: tuple[str, ...] = field(repr=False, default=())

    @property
    def key(self) -> tuple[str, str]:
        return self.app, self.operation_id

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(scope for _, scopes in self.security for scope in scopes))

    def params(self, location: str) -> tuple[Parameter, ...]:
        return tuple(p for p in self.parameters if p.location == location)

    def body_properties(self) -> Schema:
        """The top-level properties of the request body (empty when there is none or it declares none)."""
        if self.request_body is None:
            return {}
        properties = self.request_body.schema.get("properties")
        return properties if isinstance(properties, Mapping) else {}

    def body_required(self) -> tuple[str, ...]:
        if self.request_body is None:
            return ()
        return tuple(self.request_body.schema.get("required") or ())


@dataclass(frozen=True)
class Match:
    """A concrete request path matched to its operation, with the path parameters it carries."""

    operation: Operation
    path_params: dict[str, str]


def split_path(path: str) -> tuple[str, ...]:
    """Path segments, ignoring the query string and a trailing slash (GHL's Express router treats both alike)."""
    path = path.split("?", 1)[0]
    return tuple(segment for segment in path.strip("/").split("/") if segment != "") if path.strip("/") else ()


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


# ------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------
def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _pointer_parent(document: Any, pointer: str) -> tuple[Any, str]:
    tokens = [_unescape(t) for t in pointer.lstrip("/").split("/")]
    node = document
    for token in tokens[:-1]:
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node, tokens[-1]


def _apply(documents: dict[str, Any], deviation: Deviation) -> None:
    name = f"apps/{deviation.app}.json"
    if name not in documents:
        raise SpecError(f"deviation for {name}: no such spec file")
    try:
        parent, last = _pointer_parent(documents[name], deviation.pointer)
    except (KeyError, IndexError, ValueError) as e:
        raise SpecError(f"deviation {name}#{deviation.pointer}: the spec has no such place ({deviation.why})") from e
    if isinstance(parent, list):
        index = int(last)
        current = parent[index] if index < len(parent) else MISSING
    else:
        current = parent.get(last, MISSING)
    if current != deviation.expect:
        raise SpecError(
            f"deviation {name}#{deviation.pointer} no longer applies: the spec now says {current!r}, "
            f"the deviation expected {deviation.expect!r} ({deviation.why}). "
            "Update ghl_spec/deviations.py."
        )
    value = copy.deepcopy(deviation.value)
    if isinstance(parent, list) and int(last) == len(parent):
        parent.append(value)
    elif isinstance(parent, list):
        parent[int(last)] = value
    else:
        parent[last] = value


class _Resolver:
    """Inlines `$ref`s across the spec files (relative file part + JSON pointer). The specs have no recursive
    schemas; a cycle would be a broken spec and raises. Results are shared, never mutated."""

    def __init__(self, documents: dict[str, Any]) -> None:
        self.documents = documents
        self.done: dict[tuple[str, str], Any] = {}

    def target(self, ref: str, doc: str) -> tuple[str, str]:
        file_part, _, pointer = ref.partition("#")
        name = posixpath.normpath(posixpath.join(posixpath.dirname(doc), file_part)) if file_part else doc
        return name, pointer

    def node(self, name: str, pointer: str) -> Any:
        try:
            node: Any = self.documents[name]
            for token in pointer.lstrip("/").split("/") if pointer.strip("/") else []:
                token = _unescape(token)
                node = node[int(token)] if isinstance(node, list) else node[token]
        except (KeyError, IndexError, ValueError) as e:
            raise SpecError(f"unresolvable $ref {name}#{pointer}") from e
        return node

    def resolve(self, node: Any, doc: str, stack: tuple[tuple[str, str], ...] = ()) -> Any:
        if isinstance(node, list):
            return [self.resolve(item, doc, stack) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            key = self.target(ref, doc)
            if key in stack:
                raise SpecError(f"recursive $ref {key[0]}#{key[1]}")
            if key not in self.done:
                # OAS 3.0: a $ref object's siblings are ignored.
                self.done[key] = self.resolve(self.node(*key), key[0], (*stack, key))
            return self.done[key]
        return {k: self.resolve(v, doc, stack) for k, v in node.items()}


def _version_of(parameters: tuple[Parameter, ...]) -> str | None:
    for parameter in parameters:
        if parameter.location == "header" and parameter.name.lower() == "version" and parameter.enum:
            return str(parameter.enum[0])
    return None


def _success(responses: Mapping[str, Any]) -> tuple[int | None, Schema | None]:
    statuses = sorted(int(code) for code in responses if str(code).isdigit() and 200 <= int(code) < 300)
    if not statuses:
        return None, None
    content = (responses.get(str(statuses[0])) or {}).get("content") or {}
    schema = (content.get(JSON) or {}).get("schema")
    return statuses[0], schema if isinstance(schema, Mapping) else None


def _operations(resolver: _Resolver, name: str) -> Iterator[Operation]:
    app = posixpath.basename(name).removesuffix(".json")
    for path, item in (resolver.documents[name].get("paths") or {}).items():
        item = resolver.resolve(item, name)
        shared = item.get("parameters") or []
        for method in HTTP_METHODS:
            raw = item.get(method)
            if not isinstance(raw, dict):
                continue
            parameters = tuple(
                Parameter(
                    name=str(p["name"]),
                    location=str(p["in"]),
                    required=bool(p.get("required")) or p.get("in") == "path",
                    schema=p.get("schema") or {},
                    description=str(p.get("description") or ""),
                )
                for p in [*shared, *(raw.get("parameters") or [])]
            )
            body = raw.get("requestBody")
            request_body = None
            if isinstance(body, dict) and body.get("content"):
                content = body["content"]
                first = next(iter(content))
                request_body = RequestBody(
                    required=bool(body.get("required")),
                    content_types=tuple(content),
                    schema=(content[first] or {}).get("schema") or {},
                )
            status, response_schema = _success(raw.get("responses") or {})
            yield Operation(
                app=app,
                operation_id=str(raw.get("operationId") or f"{method} {path}"),
                method=method.upper(),
                path=path,
                summary=str(raw.get("summary") or ""),
                description=str(raw.get("description") or ""),
                deprecated=bool(raw.get("deprecated")),
                tags=tuple(raw.get("tags") or ()),
                version=_version_of(parameters),
                parameters=parameters,
                request_body=request_body,
                success_status=status,
                response_schema=response_schema,
                security=tuple(
                    (scheme, tuple(scopes))
                    for requirement in raw.get("security") or []
                    for scheme, scopes in requirement.items()
                ),
                segments=split_path(path),
            )


def load_documents(spec_dir: Path = SPEC_DIR) -> dict[str, Any]:
    """The raw spec files by their path relative to the spec folder ("apps/contacts.json", …)."""
    documents: dict[str, Any] = {}
    for path in sorted([*spec_dir.glob("apps/*.json"), *spec_dir.glob("common/*.json")]):
        try:
            documents[path.relative_to(spec_dir).as_posix()] = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise SpecError(f"{path} is not valid JSON: {e}") from e
    if not documents:
        raise SpecError(f"no spec files under {spec_dir}")
    return documents


class GhlSpec:
    """All operations of the vendored specs, indexed by operationId and by (method, path shape)."""

    def __init__(self, documents: dict[str, Any], deviations: tuple[Deviation, ...] = DEVIATIONS) -> None:
        for deviation in deviations:
            _apply(documents, deviation)
        self.deviations = deviations
        resolver = _Resolver(documents)
        self.operations: tuple[Operation, ...] = tuple(
            op for name in sorted(documents) if name.startswith("apps/") for op in _operations(resolver, name)
        )
        self._by_id: dict[str, list[Operation]] = {}
        self._by_shape: dict[tuple[str, int], list[Operation]] = {}
        for op in self.operations:
            self._by_id.setdefault(op.operation_id, []).append(op)
            self._by_shape.setdefault((op.method, len(op.segments)), []).append(op)
        # Compiled validators, per operation (ghl_spec/validation.py fills it lazily).
        self.cache: dict[Any, Any] = {}
        self.lock = threading.Lock()

    @property
    def apps(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(op.app for op in self.operations))

    def operation(self, operation_id: str, *, app: str | None = None) -> Operation:
        """The operation with this operationId; `app` chooses when several spec files use the same id."""
        found = [op for op in self._by_id.get(operation_id, []) if app is None or op.app == app]
        if len(found) != 1:
            where = f" in {app}" if app else ""
            detail = "none" if not found else f"{len(found)}: " + ", ".join(op.app for op in found)
            raise UnknownOperation(f"operationId {operation_id!r}{where}: {detail}")
        return found[0]

    def match(self, method: str, path: str) -> Match | None:
        """The operation a request goes to. Literal segments beat parameters (`/contacts/search` is not
        `/contacts/{contactId}`), position by position from the left; a trailing slash does not matter."""
        segments = tuple(unquote(s) for s in split_path(path))
        best: tuple[tuple[int, ...], Operation] | None = None
        for op in self._by_shape.get((method.upper(), len(segments)), ()):
            rank = []
            for template, actual in zip(op.segments, segments, strict=True):
                if _is_param(template):
                    rank.append(1)
                elif template == actual:
                    rank.append(0)
                else:
                    break
            else:
                key = tuple(rank)
                if best is None or key < best[0]:
                    best = (key, op)
        if best is None:
            return None
        op = best[1]
        params = {
            template[1:-1]: actual
            for template, actual in zip(op.segments, segments, strict=True)
            if _is_param(template)
        }
        return Match(operation=op, path_params=params)

    def methods_for(self, path: str) -> tuple[str, ...]:
        """The methods the spec declares for this concrete path (for "Cannot GET …" answers)."""
        methods = {method.upper() for method in HTTP_METHODS}
        return tuple(m for m in sorted(methods) if self.match(m, path) is not None)


_lock = threading.Lock()
_spec: GhlSpec | None = None


def get_spec() -> GhlSpec:
    """The process-wide spec, loaded on first use (about 40 ms; see docs/ghl-spec.md)."""
    global _spec
    if _spec is None:
        with _lock:
            if _spec is None:
                _spec = GhlSpec(load_documents())
    return _spec
