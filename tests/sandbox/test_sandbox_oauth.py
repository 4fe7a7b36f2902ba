"""The sandbox's fake GHL OAuth server: consent redirect, rotating single-use refresh tokens, token expiry."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client

from sandbox import oauth as sandbox_oauth
from sandbox import services
from sandbox.models import SandboxAccount
from tests.sandbox.sandbox_support import GHL_LOCATION, GHL_TOKEN, OTHER_LOCATION

pytestmark = pytest.mark.django_db

REDIRECT = "https://app.example/oauth/ghl/callback"
CLIENT = {"client_id": "cid", "client_secret": "csecret"}


def authorize(client: Client, **params: str) -> Any:
    query = {"response_type": "code", "client_id": "cid", "redirect_uri": REDIRECT, "scope": "contacts.readonly"}
    return client.get("/sandbox/ghl-oauth/authorize", {**query, **params})


def location_params(response: Any) -> dict[str, str]:
    assert response.status_code == 302
    url = response.headers["Location"]
    assert url.startswith(REDIRECT + "?")
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def form_post(client: Client, path: str, form: dict[str, str], **kwargs: Any) -> Any:
    """A form-encoded POST, as GHL's spec declares for the token endpoints (the test client's default is multipart)."""
    return client.post(path, urlencode(form), content_type="application/x-www-form-urlencoded", **kwargs)


def token(client: Client, **form: str) -> Any:
    return form_post(client, "/sandbox/ghl/oauth/token", {**CLIENT, **form})


def code_for(client: Client, **params: str) -> str:
    return location_params(authorize(client, state="s1", **params))["code"]


def get_location(client: Client, access_token: str, location: str = GHL_LOCATION) -> Any:
    headers = {"Authorization": f"Bearer {access_token}", "Version": "2021-07-28"}
    return client.get(f"/sandbox/ghl/locations/{location}", headers=headers)


def test_authorize_redirects_back_with_a_code_and_the_state(client: Client, ghl_account: SandboxAccount) -> None:
    params = location_params(authorize(client, state="xyz"))

    assert params["state"] == "xyz"
    assert params["code"].startswith("sbx-code-")


def test_authorize_deny_redirects_with_access_denied(client: Client, ghl_account: SandboxAccount) -> None:
    params = location_params(authorize(client, state="xyz", deny="1"))

    assert params == {"error": "access_denied", "error_description": "The user denied access", "state": "xyz"}


def test_authorize_with_several_locations_shows_a_chooser(
    client: Client, ghl_account: SandboxAccount, other_ghl_account: SandboxAccount
) -> None:
    response = authorize(client, state="xyz")

    assert response.status_code == 200
    assert f"location_id={OTHER_LOCATION}" in response.content.decode()
    assert location_params(authorize(client, state="xyz", location_id=OTHER_LOCATION))["code"]


def test_code_exchange_gives_tokens_that_open_the_location(client: Client, ghl_account: SandboxAccount) -> None:
    response = token(client, grant_type="authorization_code", code=code_for(client), redirect_uri=REDIRECT)

    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "Bearer"
    assert body["userType"] == "Location"
    assert body["locationId"] == GHL_LOCATION
    assert body["expires_in"] == 86399
    assert body["scope"] == "contacts.readonly"
    assert body["refresh_token"].startswith("sbx-rt-")
    assert get_location(client, body["access_token"]).status_code == 200


def test_a_code_is_single_use_and_bound_to_the_redirect_uri(client: Client, ghl_account: SandboxAccount) -> None:
    code = code_for(client)

    wrong_redirect = token(client, grant_type="authorization_code", code=code, redirect_uri="https://evil.example/")
    first_ok = token(client, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    replayed = token(client, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)

    assert wrong_redirect.status_code == 400
    assert wrong_redirect.json()["error"] == "invalid_grant"
    assert first_ok.status_code == 200
    assert replayed.status_code == 400
    assert replayed.json()["error"] == "invalid_grant"


def test_refresh_rotates_and_rejects_a_used_refresh_token(client: Client, ghl_account: SandboxAccount) -> None:
    first = token(client, grant_type="authorization_code", code=code_for(client), redirect_uri=REDIRECT).json()

    second = token(client, grant_type="refresh_token", refresh_token=first["refresh_token"], user_type="Location")
    reused = token(client, grant_type="refresh_token", refresh_token=first["refresh_token"], user_type="Location")
    third = token(client, grant_type="refresh_token", refresh_token=second.json()["refresh_token"])

    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    assert second.json()["access_token"] != first["access_token"]
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    assert third.status_code == 200
    stats = services.sandbox_stats()["ghl"]
    assert stats["oauth_refresh_token_ok"] == 2
    assert stats["oauth_invalid_grant"] == 1


def test_client_credentials_are_required(client: Client, ghl_account: SandboxAccount) -> None:
    missing = form_post(client, "/sandbox/ghl/oauth/token", {"grant_type": "refresh_token", "refresh_token": "x"})
    blank = token(client, client_secret="", grant_type="refresh_token", refresh_token="x")

    # GetAccessCodebodyDto requires client_id and client_secret: a request without them breaks the spec (422).
    assert missing.status_code == 422
    assert {"client_id should not be empty", "client_secret should not be empty"} <= set(missing.json()["message"])
    assert services.sandbox_stats()["ghl"]["spec_rejections"] == 1
    # Present but empty conforms to the spec and is refused by the token server itself.
    assert blank.status_code == 401
    assert blank.json()["error"] == "invalid_client"


def test_token_requests_must_be_form_encoded(client: Client, ghl_account: SandboxAccount) -> None:
    multipart = client.post("/sandbox/ghl/oauth/token", {**CLIENT, "grant_type": "refresh_token", "refresh_token": "x"})

    assert multipart.status_code == 422
    assert multipart.json()["message"] == ["Content-Type must be application/x-www-form-urlencoded"]


def test_expired_access_tokens_get_401(client: Client, ghl_account: SandboxAccount) -> None:
    body = token(client, grant_type="authorization_code", code=code_for(client), redirect_uri=REDIRECT).json()

    expired = client.post(f"/sandbox/_control/oauth/expire?location_id={GHL_LOCATION}")
    response = get_location(client, body["access_token"])

    assert expired.json() == {"expired": 1}
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid token: access token is invalid"


def test_company_token_trades_for_a_location_token(client: Client, ghl_account: SandboxAccount) -> None:
    agency = token(
        client, grant_type="authorization_code", code=code_for(client), redirect_uri=REDIRECT, user_type="Company"
    ).json()
    headers = {"Authorization": f"Bearer {agency['access_token']}", "Version": "2021-07-28"}

    location = form_post(
        client,
        "/sandbox/ghl/oauth/locationToken",
        {"companyId": agency["companyId"], "locationId": GHL_LOCATION},
        headers=headers,
    )

    assert agency["userType"] == "Company"
    assert "locationId" not in agency
    assert agency["approvedLocations"] == [GHL_LOCATION]
    assert get_location(client, agency["access_token"]).status_code == 401  # agency tokens don't open locations
    assert location.status_code == 200
    assert "refresh_token" not in location.json()
    assert get_location(client, location.json()["access_token"]).status_code == 200


def test_only_an_agency_oauth_token_trades_for_a_location_token(client: Client, ghl_account: SandboxAccount) -> None:
    """GHL's spec gives POST /oauth/locationToken the security *Agency-Access-Only* (an OAuth access token of user type
    Agency; Private Integration Tokens are not accepted, docs/ghl-facts.md): a Private Integration Token and a
    location's own OAuth token are both refused with 401, and no token is issued."""
    location = token(client, grant_type="authorization_code", code=code_for(client), redirect_uri=REDIRECT).json()
    before = sandbox_oauth.SandboxOAuthToken.objects.count()
    for bearer in (GHL_TOKEN, location["access_token"]):
        response = form_post(
            client,
            "/sandbox/ghl/oauth/locationToken",
            {"companyId": location["companyId"], "locationId": GHL_LOCATION},
            headers={"Authorization": f"Bearer {bearer}", "Version": "2021-07-28"},
        )
        assert response.status_code == 401
        assert response.json()["error_description"] == "Invalid token: access token is invalid"
    assert sandbox_oauth.SandboxOAuthToken.objects.count() == before


def test_expire_service_counts_only_live_access_tokens(client: Client, ghl_account: SandboxAccount) -> None:
    token(client, grant_type="authorization_code", code=code_for(client), redirect_uri=REDIRECT)

    assert sandbox_oauth.sandbox_oauth_expire_access_tokens() == 1
    assert sandbox_oauth.sandbox_oauth_expire_access_tokens() == 0
