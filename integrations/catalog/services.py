"""Run catalog operations and raw requests through the GHL client, and keep the execution log.

`catalog_execute()` is the one way to run an operation, from the admin or from code (automations): it fills in what
the connection supplies, checks the request against GHL's spec in the client (nothing is sent when it does not
conform), sends it through the same client, rate-limit governor, retry budget and OAuth refresh as the sync engine,
and logs what was sent and what came back with secrets redacted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import string
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django.utils import timezone

import ghl_spec
from ghl_spec.spec import JSON
from integrations import crypto
from integrations.catalog.loader import (
    BODY,
    BODY_JSON,
    DROP,
    INPUT,
    PATH,
    QUERY,
    CatalogOperation,
    Picker,
    app_version,
    get_catalog,
    render,
)
from integrations.catalog.models import RAW_REQUEST_KEY, CatalogExecution
from integrations.clients import exceptions as exc
from integrations.clients.ghl import GhlRequestInvalid, OperationResponse, operation_path
from integrations.logging import REDACTED, redact
from integrations.models import Connection, System
from integrations.services.history import prune_older_than
from integrations.services.oauth import OAuthError

logger = logging.getLogger(__name__)

MSG_NOT_GHL = "Catalog operations run on GoHighLevel connections; {name} is not one."
MSG_NO_SECRET = "No credentials stored yet for {name}: enter the token first."  # noqa: S105 - a message
MSG_REQUIRED = "{name} should not be empty"
MSG_ONE_OF = "Give at least one of: {names}"
MSG_UNKNOWN_PARAM = "{operation} has no parameter {name}"
MSG_BODY_NOT_OBJECT = "The body must be a JSON object with the fields of {operation}"
MSG_NOT_SENT = "Not sent: GoHighLevel's API specification refuses this request"
MSG_RAW_VERSION = "This route is not in GoHighLevel's specs: give the Version header to send"
MSG_PICKER_FAILED = "The list could not be loaded ({error}); type the id instead."
MSG_PICKER_UNKNOWN = "No such picker: {key}"

# What the log keeps of a request or response body; the rest is cut (the row says so).
LOG_MAX_CHARS = 20_000
# A picker's list call must answer quickly: the form falls back to a text input.
PICKER_TIMEOUT = (3.0, 5.0)
PICKER_MAX_OPTIONS = 200
# Keys whose values never reach the log, at any depth (GHL user passwords, tokens in settings objects, …).
SECRET_KEYS = frozenset(
    {
        "password",
        "token",
        "access_token",
        "refresh_token",
        "accesstoken",
        "refreshtoken",
        "client_secret",
        "clientsecret",
        "secret",
        "apikey",
        "api_key",
        "authorization",
        "authtoken",
        "auth_token",
    }
)


class CatalogInputError(ValueError):
    """The values given cannot make a request (a required path value missing, none of the convenience inputs, …)."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass(frozen=True)
class RequestPlan:
    """A request ready for the client: the operation and what goes in its path, query and body."""

    operation: CatalogOperation
    path_params: dict[str, Any]
    query: dict[str, Any]
    body: Any
    send_body: bool


@dataclass
class Execution:
    """What happened when an operation (or a raw request) ran. `log` is the stored row (None with log=False)."""

    operation: CatalogOperation | None
    outcome: str  # CatalogExecution.Outcome
    method: str = ""
    path: str = ""
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    status_code: int | None = None
    data: Any = None
    response: OperationResponse | None = None
    error: str = ""
    messages: list[str] = field(default_factory=list)
    started_at: datetime = field(default_factory=timezone.now)
    duration_ms: int = 0
    log: CatalogExecution | None = None
    # The client's error when the request failed: callers that retry (automations) tell a transient failure, or one
    # whose request may have landed (a timeout), from a refusal.
    exception: exc.ApiError | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == CatalogExecution.Outcome.SUCCEEDED

    @property
    def items(self) -> list[dict[str, Any]]:
        """A trigger's items in the answer ([] for actions, failures and answers without them)."""
        if not self.ok or self.operation is None or self.operation.items is None:
            return []
        return self.operation.items.extract(self.data)


# ------------------------------------------------------------------------------
# Building the request
# ------------------------------------------------------------------------------
def connection_context(connection: Connection) -> dict[str, str]:
    """The values a connection supplies to templates ("{locationId}", "{companyId}")."""
    return {"locationId": connection.location_id, "companyId": connection.oauth_company_id}


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def catalog_prepare(
    *,
    operation: CatalogOperation,
    params: Mapping[str, Any] | None = None,
    body: Any = None,
    context: Mapping[str, Any] | None = None,
) -> RequestPlan:
    """Turn the values given (path, query and input values by name; the body) into a request: defaults for what is
    blank, the entry's fixed values, then the checks only the catalog can make. CatalogInputError lists problems."""
    context = dict(context or {})
    params = {k: v for k, v in (params or {}).items() if not _blank(v)}
    problems = [
        MSG_UNKNOWN_PARAM.format(operation=operation.name, name=name)
        for name in params
        if not any(f.name == name for f in operation.fields_at(PATH, QUERY, INPUT))
    ]
    if problems:
        raise CatalogInputError(problems)
    path_params: dict[str, Any] = {}
    query: dict[str, Any] = {}
    inputs: dict[str, Any] = {}
    for f in operation.fields_at(PATH, QUERY, INPUT):
        value = params.get(f.name)
        if value is None and f.default is not None:
            rendered = render(f.default, context)
            value = None if rendered is DROP else rendered
        if value is not None:
            {PATH: path_params, QUERY: query, INPUT: inputs}[f.location][f.name] = value

    values = {**context, **inputs}
    if operation.body_is_json:
        json_field = operation.fields_at(BODY_JSON)[0]
        if _blank(body) and json_field.default is not None:
            body = render(json_field.default, context)
        elif isinstance(body, Mapping) and isinstance(json_field.default, Mapping):
            # Defaults fill the keys the body leaves out (Search Contacts: locationId and pageLimit).
            defaults = render(json_field.default, context)
            body = {**defaults, **body} if isinstance(defaults, Mapping) else dict(body)
    elif operation.fields_at(BODY):
        if body is not None and not isinstance(body, Mapping):
            raise CatalogInputError([MSG_BODY_NOT_OBJECT.format(operation=operation.name)])
        given = {k: v for k, v in (body or {}).items() if not _blank(v)}
        for f in operation.fields_at(BODY):
            if f.name not in given and f.default is not None:
                rendered = render(f.default, context)
                # A template that rendered to nothing is left out; a default that is blank on purpose ("" or [] for
                # a field the spec requires, like the advanced searches' query and searchAfter) is sent.
                if rendered is not DROP and (not _blank(rendered) or _blank(f.default)):
                    given[f.name] = rendered
        body = given

    for location, templates in operation.fixed.items():
        rendered = render(templates, values)
        if rendered is DROP:
            continue
        if location == PATH:
            path_params.update(rendered)
        elif location == QUERY:
            query.update(rendered)
        elif location == BODY:
            body = {**(body if isinstance(body, Mapping) else {}), **rendered}

    problems = []
    if operation.require_one_of and not any(name in inputs for name in operation.require_one_of):
        problems.append(MSG_ONE_OF.format(names=", ".join(operation.require_one_of)))
    problems += [MSG_REQUIRED.format(name=f.name) for f in operation.fields_at(PATH) if f.name not in path_params]
    if problems:
        raise CatalogInputError(problems)

    declared = operation.spec.request_body
    if declared is None:
        return RequestPlan(operation, path_params, query, None, False)
    empty = body is None or body == {}
    send_body = declared.required or not empty
    return RequestPlan(operation, path_params, query, ({} if body is None else body) if send_body else None, send_body)


# ------------------------------------------------------------------------------
# Running
# ------------------------------------------------------------------------------
def _client_for(connection: Connection, timeout: tuple[float, float] | None) -> Any:
    from integrations.adapters.clients import ghl_client_for

    client = ghl_client_for(connection)
    if timeout is not None:
        client.timeout = timeout
    return client


def _refusal(connection: Connection) -> str:
    if connection.system != System.GHL:
        return MSG_NOT_GHL.format(name=connection.name)
    if not connection.has_secret:
        return MSG_NO_SECRET.format(name=connection.name)
    return ""


def _send(execution: Execution, call: Any) -> None:
    """Run the client call and record its result on `execution` (errors are results, not exceptions)."""
    started = time.monotonic()
    try:
        response: OperationResponse = call()
    except GhlRequestInvalid as e:
        execution.outcome = CatalogExecution.Outcome.NOT_SENT
        execution.error = MSG_NOT_SENT
        execution.messages = list(e.details)
    except exc.ApiError as e:
        execution.outcome = CatalogExecution.Outcome.FAILED
        execution.exception = e
        execution.status_code = e.status_code
        execution.error = e.message
        execution.messages = list(e.details)
    except (crypto.SecretDecryptionError, OAuthError) as e:
        # The credentials cannot be read or the OAuth connection is not usable: nothing was sent.
        execution.outcome = CatalogExecution.Outcome.NOT_SENT
        execution.error = str(e)
    else:
        execution.outcome = CatalogExecution.Outcome.SUCCEEDED
        execution.status_code = response.status_code
        execution.response = response
        execution.data = response.data
    execution.duration_ms = round((time.monotonic() - started) * 1000)


def catalog_execute(
    *,
    connection: Connection,
    key: str,
    params: Mapping[str, Any] | None = None,
    body: Any = None,
    user: Any = None,
    log: bool = True,
    origin: str = CatalogExecution.Origin.CODE,
    timeout: tuple[float, float] | None = None,
) -> Execution:
    """Run catalog operation `key` on a GHL connection. `params` holds path, query and input values by name, `body`
    the body (fields by name, or the whole JSON body). Never raises for the request's own problems: the Execution
    says succeeded, failed (GHL or the network said no) or not sent (refused here), with the messages."""
    operation = get_catalog().operation(key)
    execution = Execution(operation=operation, outcome=CatalogExecution.Outcome.NOT_SENT, method=operation.method)
    execution.path = operation.path
    refusal = _refusal(connection)
    if refusal:
        execution.error = refusal
        return _finish(execution, connection=connection, user=user, log=log, origin=origin)
    try:
        plan = catalog_prepare(operation=operation, params=params, body=body, context=connection_context(connection))
    except CatalogInputError as e:
        execution.error = MSG_NOT_SENT
        execution.messages = e.messages
        return _finish(execution, connection=connection, user=user, log=log, origin=origin)
    execution.query, execution.body = plan.query, plan.body
    # A path value that cannot be placed is reported by the client below, with the other messages.
    with contextlib.suppress(GhlRequestInvalid):
        execution.path = operation_path(operation.path, plan.path_params)

    def call() -> OperationResponse:
        client = _client_for(connection, timeout)
        return client.call_operation(  # type: ignore[no-any-return]
            operation.spec,
            path_params=plan.path_params,
            query=plan.query,
            body=plan.body,
            send_body=plan.send_body,
            version=operation.version,
            content_type=operation.content_type or JSON,
        )

    _send(execution, call)
    return _finish(execution, connection=connection, user=user, log=log, origin=origin)


def raw_request_split(path: str) -> tuple[str, dict[str, Any]]:
    """A path typed with its query string ("/contacts/?locationId=x&limit=5") as (path, query); a name given twice
    keeps both values."""
    parts = urlsplit(path.strip())
    query: dict[str, Any] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in query:
            query[key] = value
        elif isinstance(query[key], list):
            query[key].append(value)
        else:
            query[key] = [query[key], value]
    return parts.path, query


def catalog_raw_request(
    *,
    connection: Connection,
    method: str,
    path: str,
    query: Mapping[str, Any] | None = None,
    body: Any = None,
    version: str = "",
    user: Any = None,
    log: bool = True,
) -> Execution:
    """Send a request the catalog lacks (method, path, body) through the same client, governor and log. A route in
    GHL's specs is validated as any operation is and takes the spec's Version unless one is given."""
    method = method.upper()
    execution = Execution(operation=None, outcome=CatalogExecution.Outcome.NOT_SENT, method=method, path=path)
    execution.query, execution.body = dict(query or {}), body
    origin = CatalogExecution.Origin.RAW
    refusal = _refusal(connection)
    if refusal:
        execution.error = refusal
        return _finish(execution, connection=connection, user=user, log=log, origin=origin)
    match = ghl_spec.get_spec().match(method, path)
    if not version and match is not None:
        version = match.operation.version or app_version(match.operation.app) or ""
    if not version:
        execution.error = MSG_RAW_VERSION
        return _finish(execution, connection=connection, user=user, log=log, origin=origin)

    def call() -> OperationResponse:
        client = _client_for(connection, None)
        return client.call_raw(method, path, query=query, body=body, version=version)  # type: ignore[no-any-return]

    _send(execution, call)
    return _finish(execution, connection=connection, user=user, log=log, origin=origin)


# ------------------------------------------------------------------------------
# The log
# ------------------------------------------------------------------------------
def _scrub(value: Any) -> Any:
    """A copy with the values of secret-named keys replaced, at any depth."""
    if isinstance(value, Mapping):
        return {
            k: REDACTED if str(k).lower().replace("-", "_") in SECRET_KEYS and v not in (None, "") else _scrub(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def redacted_text(value: Any, *, limit: int = LOG_MAX_CHARS) -> tuple[str, bool]:
    """JSON (or text) as the log keeps it: secret-named keys replaced, then integrations.logging.redact() over the
    whole text (bearer tokens, key=value secrets, every credential a client sent); cut at `limit`."""
    if value is None:
        return "", False
    text = value if isinstance(value, str) else json.dumps(_scrub(value), indent=2, ensure_ascii=False, default=str)
    text = redact(text)
    if len(text) > limit:
        return text[:limit] + "\n… (cut)", True
    return text, False


def _response_text(execution: Execution) -> tuple[str, bool]:
    response = execution.response
    if response is None:
        return "", False
    if response.is_json:
        return redacted_text(response.data)
    if response.text:
        return redacted_text(response.text)
    if response.size:
        return f"({response.size} bytes of {response.content_type or 'unknown type'})", False
    return "", False


def _finish(execution: Execution, *, connection: Connection, user: Any, log: bool, origin: str) -> Execution:
    if not log:
        return execution
    request_text, request_cut = redacted_text(execution.body)
    response_text, response_cut = _response_text(execution)
    error = "\n".join([execution.error, *execution.messages]).strip()
    operation = execution.operation
    execution.log = CatalogExecution.objects.create(
        operation_key=operation.key if operation else RAW_REQUEST_KEY,
        operation_name=operation.name if operation else f"Raw request: {execution.method} {execution.path}"[:120],
        origin=origin,
        connection=connection if connection.pk else None,
        connection_name=connection.name[:120],
        user=user if getattr(user, "pk", None) else None,
        started_at=execution.started_at,
        finished_at=execution.started_at + timedelta(milliseconds=execution.duration_ms),
        duration_ms=execution.duration_ms,
        outcome=execution.outcome,
        status_code=execution.status_code,
        method=execution.method,
        path=execution.path[:500],
        query=json.loads(redact(json.dumps(_scrub(execution.query), default=str))),
        request_body=request_text,
        response_body=response_text,
        truncated=request_cut or response_cut,
        error=redact(error),
    )
    return execution


def catalog_execution_prune(*, now: datetime | None = None, days: int | None = None) -> int:
    """Delete log rows older than `days` (SYNC_HISTORY_RETENTION_DAYS, as record history; 0 keeps everything)."""
    return prune_older_than(CatalogExecution, field="started_at", now=now, days=days, what="catalog executions")


# ------------------------------------------------------------------------------
# Pickers
# ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PickerOptions:
    picker: Picker | None
    options: list[tuple[str, str]]  # (value, text)
    error: str = ""


class _Blank(dict[str, Any]):
    """Template values where a missing key reads as "" (a contact without an email still gets a label)."""

    def __missing__(self, key: str) -> Any:
        return ""


def _label(picker: Picker, item: Mapping[str, Any], parent: Mapping[str, Any] | None) -> str:
    values = _Blank({k: ("" if v is None else v) for k, v in item.items()})
    values["parent"] = _Blank(parent or {})
    try:
        text = string.Formatter().vformat(picker.text, (), values)
    except (IndexError, ValueError, AttributeError, TypeError):
        text = ""
    # Leftovers of empty parts: "Jane  <>" -> "Jane".
    text = " ".join(text.replace("<>", "").replace("()", "").split())
    return text


def catalog_picker_options(*, connection: Connection, key: str, search: str = "") -> PickerOptions:
    """The choices of picker `key` on a connection: its list operation run through the same client (not logged),
    with a short timeout. On any failure the error says so and the form keeps its text input."""
    picker = get_catalog().pickers.get(key)
    if picker is None:
        return PickerOptions(None, [], MSG_PICKER_UNKNOWN.format(key=key))
    values = {**connection_context(connection), "search": search.strip()}
    params = render(dict(picker.params), values)
    body = render(picker.body, values) if picker.body is not None else None
    execution = catalog_execute(
        connection=connection,
        key=picker.operation,
        params=params if isinstance(params, Mapping) else {},
        body=None if body is DROP else body,
        log=False,
        timeout=PICKER_TIMEOUT,
    )
    if not execution.ok:
        reason = execution.error or "no answer"
        if execution.messages:
            reason = f"{reason}: {'; '.join(execution.messages)}"
        return PickerOptions(picker, [], MSG_PICKER_FAILED.format(error=reason))
    items = picker.items or (execution.operation.items if execution.operation else None)
    options: list[tuple[str, str]] = []
    for item, parent in items.walk(execution.data) if items else []:
        value = item.get(picker.value)
        if value in (None, ""):
            continue
        options.append((str(value), _label(picker, item, parent) or str(value)))
        if len(options) >= PICKER_MAX_OPTIONS:
            break
    return PickerOptions(picker, options)
