"""GoHighLevel's official OpenAPI specs as the project's one source for GHL's API contract.

`get_spec()` loads the vendored specs (ghl_spec/openapi/) once per process with the deviations table
applied; `validate()` checks a request the way GHL would; `clear_rule()` tells a writer how a body field is cleared.
docs/ghl-spec.md describes the whole module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ghl_spec.deviations import DEVIATIONS, Deviation
from ghl_spec.spec import (
    GhlSpec,
    Match,
    Operation,
    Parameter,
    RequestBody,
    SpecError,
    UnknownOperation,
    get_spec,
)
from ghl_spec.validation import (
    REASON_CANNOT_CLEAR,
    REASON_NOT_ACCEPTED,
    REASON_REQUIRED,
    ClearRule,
    Validation,
    validate_request,
)
from ghl_spec.validation import clear_rule as _clear_rule

__all__ = [
    "DEVIATIONS",
    "REASON_CANNOT_CLEAR",
    "REASON_NOT_ACCEPTED",
    "REASON_REQUIRED",
    "ClearRule",
    "Deviation",
    "GhlSpec",
    "Match",
    "Operation",
    "Parameter",
    "RequestBody",
    "SpecError",
    "UnknownOperation",
    "Validation",
    "clear_rule",
    "get_spec",
    "operation",
    "validate",
]


def operation(operation_id: str, *, app: str | None = None) -> Operation:
    """The operation with this operationId (`app` = spec file name, to choose among duplicates)."""
    return get_spec().operation(operation_id, app=app)


def validate(
    method: str,
    path: str,
    *,
    query: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    has_body: bool | None = None,
    content_type: str | None = None,
) -> Validation:
    """Check one request against GHL's spec (see validation.validate_request)."""
    return validate_request(
        get_spec(),
        method,
        path,
        query=query,
        headers=headers,
        body=body,
        has_body=has_body,
        content_type=content_type,
    )


def clear_rule(
    operation_id: str, field: str, *, app: str | None = None, keep_required_of: str | None = None
) -> ClearRule:
    """How to clear body field `field` (dotted, "customFields[].field_value") of an operation; `keep_required_of`
    names the create operation whose required fields must keep a value."""
    spec = get_spec()
    keep = spec.operation(keep_required_of, app=app) if keep_required_of else None
    return _clear_rule(spec, spec.operation(operation_id, app=app), field, keep_required_of=keep)
