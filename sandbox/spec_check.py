"""GHL requests to the sandbox judged against GHL's official OpenAPI spec, and the ones refused kept and counted
(shared by the sandbox's API views and its OAuth token endpoint)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

import ghl_spec
from sandbox import services

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def ghl_path(request: HttpRequest) -> str:
    """GHL's own path of a sandbox request: "/sandbox/ghl/contacts/abc" -> "/contacts/abc"."""
    path = request.path_info
    mount = path.find("/ghl/")
    return path[mount + 4 :] if mount >= 0 else path


def ghl_spec_check(request: HttpRequest, body: Any, *, form: bool = False) -> ghl_spec.Validation:
    """The request judged against GHL's official OpenAPI spec (ghl_spec)."""
    # A form view has read the body stream already (request.POST); its length says whether there was one.
    has_body = request.method in _BODY_METHODS and (
        int(request.META.get("CONTENT_LENGTH") or 0) > 0 if form else bool(request.body)
    )
    return ghl_spec.validate(
        request.method or "GET",
        ghl_path(request),
        query=dict(request.GET.lists()),
        headers=request.headers,
        body=body if has_body or form else None,
        has_body=has_body,
        content_type=request.content_type if has_body else None,
    )


def ghl_spec_rejected(request: HttpRequest, check: ghl_spec.Validation, status: int, counters: list[str]) -> None:
    """Count (with the request's other counters) and keep a request refused for not conforming to the spec, so a
    test can assert there were none and show what was refused."""
    counters.append(services.SPEC_REJECTIONS)
    services.sandbox_spec_rejection_add(
        method=request.method or "GET",
        path=ghl_path(request),
        status=status,
        messages=check.messages,
        user_agent=request.headers.get("User-Agent", ""),
    )
