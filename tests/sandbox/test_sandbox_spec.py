"""The GHL sandbox enforces GoHighLevel's official OpenAPI spec on every request: a non-conforming one is answered
as GHL would (422 with a message array; 400 for the Version header; the NestJS 404 for a route GHL does not have),
counted in the `spec_rejections` stat, and kept readable through /sandbox/_control/spec-rejections."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

import ghl_spec
from sandbox import services
from tests.sandbox.sandbox_support import GHL_LOCATION, GhlApi

pytestmark = pytest.mark.django_db

CONTROL = "/sandbox/_control/spec-rejections"


def rejections(client: Client) -> dict[str, Any]:
    response = client.get(CONTROL)
    assert response.status_code == 200
    return response.json()


def test_a_body_the_spec_refuses_gets_422_with_messages_and_is_counted(ghl: GhlApi, client: Client) -> None:
    response = ghl("POST", "/contacts/", {"locationId": GHL_LOCATION, "firstName": "Ann", "country": None})

    assert response.status_code == 422
    assert response.json() == {
        "statusCode": 422,
        "message": ["country must be a string"],
        "error": "Unprocessable Entity",
    }
    assert services.sandbox_stats()["ghl"]["spec_rejections"] == 1
    kept = rejections(client)
    assert kept["count"] == 1
    assert [(r["method"], r["path"], r["status"], r["messages"]) for r in kept["rejections"]] == [
        ("POST", "/contacts/", 422, ["country must be a string"])
    ]
    # Nothing was stored: the spec is checked before the handler runs.
    assert ghl("GET", "/contacts/", params={"locationId": GHL_LOCATION}).json()["count"] == 0


def test_conforming_requests_are_not_counted(ghl: GhlApi, client: Client) -> None:
    created = ghl("POST", "/contacts/", {"locationId": GHL_LOCATION, "firstName": "Ann", "country": "US"})
    contact_id = created.json()["contact"]["id"]
    ghl("PUT", f"/contacts/{contact_id}/", {"companyName": "Acme", "dateOfBirth": "1990-09-25", "email": None})
    ghl("POST", "/contacts/search", {"locationId": GHL_LOCATION, "pageLimit": 10})

    assert created.status_code == 201
    assert rejections(client) == {"count": 0, "rejections": []}
    assert ghl("GET", f"/contacts/{contact_id}").json()["contact"]["companyName"] == "Acme"


def test_a_wrong_version_header_is_still_400_and_is_counted(ghl: GhlApi, client: Client) -> None:
    response = ghl("GET", "/calendars/events/appointments/ev1")  # the calendars API wants 2021-04-15

    assert response.status_code == 400
    assert response.json() == {"statusCode": 400, "message": "Version header is missing or invalid"}
    assert rejections(client)["rejections"][0]["messages"] == [
        "Version must be one of the following values: 2021-04-15"
    ]


def test_a_route_ghl_does_not_have_is_the_nestjs_404_and_is_counted(ghl: GhlApi, client: Client) -> None:
    unknown = ghl("GET", "/contacts/c1/secrets")

    assert unknown.status_code == 404
    assert unknown.json() == {
        "statusCode": 404,
        "message": "Cannot GET /sandbox/ghl/contacts/c1/secrets",
        "error": "Not Found",
    }
    assert [r["path"] for r in rejections(client)["rejections"]] == ["/contacts/c1/secrets"]


def test_the_sandbox_own_checks_still_run_after_the_spec(ghl: GhlApi) -> None:
    ghl("POST", "/contacts/", {"locationId": GHL_LOCATION, "email": "sam@example.com"})

    duplicate = ghl("POST", "/contacts/", {"locationId": GHL_LOCATION, "email": "SAM@example.com"})
    bad_phone = ghl("POST", "/contacts/", {"locationId": GHL_LOCATION, "phone": "call me"})

    assert duplicate.status_code == 400  # the location's duplicate rule
    assert bad_phone.status_code == 422
    assert bad_phone.json()["message"] == ["phone must be a valid phone number"]
    assert services.sandbox_stats()["ghl"]["spec_rejections"] == 0


def test_only_the_latest_rejections_are_kept_and_they_can_be_cleared(ghl: GhlApi, client: Client) -> None:
    for n in range(services.SPEC_REJECTIONS_KEPT + 3):
        ghl("POST", "/contacts/", {"locationId": GHL_LOCATION, f"extra{n}": 1})

    kept = rejections(client)
    cleared = client.delete(CONTROL)

    assert kept["count"] == services.SPEC_REJECTIONS_KEPT + 3
    assert len(kept["rejections"]) == services.SPEC_REJECTIONS_KEPT
    assert kept["rejections"][-1]["messages"] == [f"property extra{services.SPEC_REJECTIONS_KEPT + 2} should not exist"]
    assert cleared.json() == {"deleted": services.SPEC_REJECTIONS_KEPT}
    assert rejections(client) == {"count": 0, "rejections": []}


def test_stats_reset_forgets_the_rejections_too(ghl: GhlApi, client: Client) -> None:
    ghl("POST", "/contacts/", {"locationId": GHL_LOCATION, "shoeSize": 9})
    assert rejections(client)["count"] == 1

    client.delete("/sandbox/_control/stats")

    assert rejections(client) == {"count": 0, "rejections": []}


def _ghl_routes() -> list[tuple[str, list[str]]]:
    """(regex, methods) of every GHL API route the sandbox serves, from the URLconf and the views' handler maps."""
    routes = []
    sandbox: URLResolver = next(
        p for p in get_resolver().url_patterns if isinstance(p, URLResolver) and str(p.pattern) == "sandbox/"
    )
    for pattern in sandbox.url_patterns:
        if not isinstance(pattern, URLPattern) or not str(pattern.pattern).startswith("^ghl/"):
            continue
        handlers = getattr(pattern.callback, "__wrapped__", pattern.callback)
        tables = [c.cell_contents for c in (handlers.__closure__ or ()) if isinstance(c.cell_contents, dict)]
        methods = sorted(key for table in tables for key in table)
        if pattern.name in ("ghl-oauth-token", "ghl-oauth-location-token"):
            methods = ["POST"]
        routes.append((str(pattern.pattern), methods))
    return routes


def test_every_route_the_sandbox_serves_is_an_operation_of_the_spec() -> None:
    spec = ghl_spec.get_spec()
    missing = []
    routes = _ghl_routes()
    for regex, methods in routes:
        # A concrete path for the route: each named group becomes a sample id.
        path = "/" + re.sub(r"\(\?P<[^>]+>[^)]+\)", "sample1", regex).removeprefix("^ghl/").replace("/?$", "")
        missing += [f"{method} {path}" for method in methods if spec.match(method, path) is None]

    assert len(routes) >= 20
    assert not missing
