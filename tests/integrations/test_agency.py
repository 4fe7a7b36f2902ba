"""GoHighLevel agency installs over the sandbox (real HTTP in live_server): connect the agency, list its locations,
connect some, add one later; each location's token is its own and is renewed on its own."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations.adapters.clients import ghl_client_for
from integrations.clients import exceptions as exc
from integrations.models import Connection, GhlAgency
from integrations.services import agencies, oauth
from sandbox import ratelimit
from sandbox import services as sandbox
from sandbox.models import SandboxOAuthToken
from sandbox.oauth import sandbox_oauth_expire_access_tokens

pytestmark = pytest.mark.django_db(transaction=True)

LOCATIONS = {"loc-a": "Alpha Dental", "loc-b": "Bravo Roofing", "loc-c": "Charlie Gym"}
REDIRECT = "http://testserver/oauth/ghl/callback"


@pytest.fixture(autouse=True)
def _sandbox(transactional_db: Any, settings: Any) -> None:
    ratelimit.rate_limit_reset()
    settings.API_TRANSPORT_RETRIES = 0
    for location_id, name in LOCATIONS.items():
        sandbox.sandbox_account_create(system="ghl", account_id=location_id, secret=f"pit-{location_id}", name=name)


@pytest.fixture
def admin_client_(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def stats() -> dict[str, int]:
    return sandbox.sandbox_stats()["ghl"]


def connected_agency(live_url: str) -> GhlAgency:
    """The agency install without the admin: consent in the sandbox, complete with its code."""
    agency = agencies.agency_create(name="Acme agency", base_url=f"{live_url}/sandbox/ghl")
    url = oauth.oauth_agency_authorize_url(agency=agency, request_or_redirect_uri=REDIRECT)
    consent = requests.get(f"{live_url}{url}&location_id=loc-a", allow_redirects=False, timeout=10)
    params = query(consent.headers["Location"])
    return oauth.oauth_agency_complete(state=params["state"], code=params["code"])


def sandbox_token(token: str) -> SandboxOAuthToken:
    return SandboxOAuthToken.objects.select_related("account").get(token=token, kind="access")


def test_connect_an_agency_choose_two_locations_and_add_a_third_later(
    admin_client_: Client, live_server: Any, settings: Any
) -> None:
    add = admin_client_.post(
        reverse("admin:integrations_ghlagency_add"),
        {"name": "Acme agency", "base_url": f"{live_server.url}/sandbox/ghl"},
    )
    assert add.status_code == 302
    authorize = query(add.headers["Location"])
    assert add.headers["Location"].startswith("/sandbox/ghl-oauth/authorize?")
    assert {"oauth.write", "oauth.readonly", "locations.readonly"} <= set(authorize["scope"].split(" "))
    # GHL's "choose" page (the sandbox lists its sub-accounts); the user picks one and consents.
    chooser = admin_client_.get(add.headers["Location"])
    first_choice = re.search(r'href="(\?[^"]+)"', chooser.content.decode())
    assert first_choice is not None
    consent = admin_client_.get("/sandbox/ghl-oauth/authorize" + first_choice.group(1).replace("&amp;", "&"))
    callback = admin_client_.get(consent.headers["Location"])

    agency = GhlAgency.objects.get()
    locations_url = reverse("admin:integrations_ghlagency_locations", args=[agency.pk])
    assert callback.headers["Location"] == locations_url
    assert messages_of(callback) == [f"Acme agency: {oauth.OAUTH_AGENCY_CONNECTED.format(company='sandbox-company')}"]
    assert agency.company_id == "sandbox-company"
    assert agency.status == GhlAgency.Status.OK
    assert sandbox_token(agency.oauth_access_token).user_type == "Company"

    page = admin_client_.get(locations_url).content.decode()
    for location_id, name in LOCATIONS.items():
        assert f'value="{location_id}"' in page
        assert name in page

    chosen = admin_client_.post(locations_url, {"location": ["loc-a", "loc-b"]})
    assert chosen.status_code == 302
    assert messages_of(chosen) == [agencies.LOCATIONS_CONNECTED.format(count=2, names="Alpha Dental, Bravo Roofing")]
    a, b = Connection.objects.filter(agency=agency).order_by("location_id")
    for connection, location_id in ((a, "loc-a"), (b, "loc-b")):
        assert connection.location_id == location_id
        assert connection.name == LOCATIONS[location_id]
        assert connection.status == Connection.Status.OK
        assert connection.oauth_refresh_token == ""  # renewed from the agency's token, not a refresh token of its own
        issued = sandbox_token(connection.oauth_access_token)
        assert issued.user_type == "Location"
        assert issued.account is not None
        assert issued.account.account_id == location_id
        assert ghl_client_for(connection).get_location()["id"] == location_id
    assert a.oauth_access_token != b.oauth_access_token
    assert stats()["oauth_location_token_ok"] == 2

    # Later: the same list shows the two as connected; ticking Bravo again and Charlie adds only Charlie.
    page = admin_client_.get(locations_url).content.decode()
    assert 'value="loc-a"' not in page
    assert 'value="loc-c"' in page
    b_token = b.oauth_access_token
    later = admin_client_.post(locations_url, {"location": ["loc-b", "loc-c"]})
    assert messages_of(later) == [
        agencies.LOCATIONS_CONNECTED.format(count=1, names="Charlie Gym"),
        agencies.LOCATIONS_ALREADY.format(names="Bravo Roofing"),
    ]
    assert Connection.objects.filter(agency=agency).count() == 3
    b.refresh_from_db()
    assert b.oauth_access_token == b_token
    assert stats()["oauth_location_token_ok"] == 3


def test_a_location_token_is_renewed_alone_from_the_agency_token(live_server: Any) -> None:
    agency = connected_agency(live_server.url)
    agencies.agency_connect_locations(agency=agency, location_ids=list(LOCATIONS))
    a, b, c = Connection.objects.filter(agency=agency).order_by("location_id")
    before = {conn.location_id: conn.oauth_access_token for conn in (a, b, c)}
    agency_refresh = GhlAgency.objects.get().oauth_refresh_token
    issued = stats()["oauth_location_token_ok"]

    # GHL expires Alpha's location token (only Alpha's): its next call answers 401 and the client renews it.
    assert sandbox_oauth_expire_access_tokens(location_id="loc-a") == 1
    assert ghl_client_for(a).get_location()["id"] == "loc-a"

    after = {conn.location_id: conn.oauth_access_token for conn in Connection.objects.filter(agency=agency)}
    assert after["loc-a"] != before["loc-a"]
    assert after["loc-b"] == before["loc-b"]
    assert after["loc-c"] == before["loc-c"]
    assert stats()["oauth_location_token_ok"] == issued + 1
    assert stats().get("oauth_refresh_token_ok", 0) == 0  # the agency's token was still good: not refreshed
    assert GhlAgency.objects.get().oauth_refresh_token == agency_refresh
    # The others go on with the tokens they had.
    b.refresh_from_db()
    assert ghl_client_for(b).get_location()["id"] == "loc-b"
    assert stats()["oauth_location_token_ok"] == issued + 1


def test_an_expired_agency_token_is_refreshed_once_then_the_location_token_renewed(live_server: Any) -> None:
    agency = connected_agency(live_server.url)
    agencies.agency_connect_locations(agency=agency, location_ids=["loc-a", "loc-b"])
    a, b = Connection.objects.filter(agency=agency).order_by("location_id")
    agency_refresh = agency.oauth_refresh_token
    a_token = a.oauth_access_token

    # Every access token expires at GHL (the agency's too) before the stored expiry says so.
    sandbox_oauth_expire_access_tokens()
    assert ghl_client_for(b).get_location()["id"] == "loc-b"

    agency.refresh_from_db()
    assert stats()["oauth_refresh_token_ok"] == 1  # the agency's refresh token was spent once …
    assert agency.oauth_refresh_token != agency_refresh  # … and the rotated one stored
    assert sandbox_token(agency.oauth_access_token).user_type == "Company"
    a.refresh_from_db()
    assert a.oauth_access_token == a_token  # Alpha renews its own when it next needs to
    assert ghl_client_for(a).get_location()["id"] == "loc-a"
    assert stats()["oauth_refresh_token_ok"] == 1


def test_a_location_of_an_agency_cannot_be_connected_on_its_own(admin_client_: Client, live_server: Any) -> None:
    agency = connected_agency(live_server.url)
    agencies.agency_connect_locations(agency=agency, location_ids=["loc-a"])
    connection = Connection.objects.get(agency=agency)

    page = admin_client_.get(reverse("admin:integrations_connection_change", args=[connection.pk])).content.decode()

    assert "Connect with GoHighLevel" not in page
    assert "Token from the agency “Acme agency”" in page
    with pytest.raises(oauth.OAuthError) as refused:
        oauth.oauth_authorize_url(connection=connection, request_or_redirect_uri=REDIRECT, user_type="Location")
    assert refused.value.message == oauth.OAUTH_AGENCY_LOCATION.format(agency="Acme agency")


def test_choosing_nothing_or_a_location_not_of_the_agency_is_a_400_and_connects_nothing(
    admin_client_: Client, live_server: Any
) -> None:
    agency = connected_agency(live_server.url)
    url = reverse("admin:integrations_ghlagency_locations", args=[agency.pk])

    nothing = admin_client_.post(url, {})
    stranger = admin_client_.post(url, {"location": ["loc-zzz"]})

    assert nothing.status_code == 400
    assert messages_of(nothing) == [agencies.LOCATIONS_NONE_CHOSEN]
    assert stranger.status_code == 400
    assert messages_of(stranger) == [agencies.LOCATIONS_UNKNOWN.format(ids="loc-zzz")]
    assert not Connection.objects.filter(agency=agency).exists()


def test_an_agency_location_keeps_its_location_and_address_whatever_the_form_posts(
    admin_client_: Client, live_server: Any
) -> None:
    agency = connected_agency(live_server.url)
    agencies.agency_connect_locations(agency=agency, location_ids=["loc-a"])
    connection = Connection.objects.get(agency=agency)
    token = connection.oauth_access_token

    response = admin_client_.post(
        reverse("admin:integrations_connection_change", args=[connection.pk]),
        {
            "name": "Alpha (renamed)",
            "system": "ghl",
            "base_url": "https://evil.example.com",
            "location_id": "loc-b",
            "auth_type": "pit",
            "secret": "pit-loc-b",
            "webhook_secret": "",
        },
    )

    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.name == "Alpha (renamed)"
    assert connection.location_id == "loc-a"
    assert connection.base_url == agency.base_url
    assert connection.auth_type == Connection.AuthType.OAUTH
    assert connection.api_secret == ""
    assert connection.oauth_access_token == token


def test_a_refused_agency_refresh_asks_to_reconnect_the_agency(live_server: Any) -> None:
    agency = connected_agency(live_server.url)
    agencies.agency_connect_locations(agency=agency, location_ids=["loc-a"])
    connection = Connection.objects.get(agency=agency)
    # GHL no longer accepts the agency's refresh token (revoked, or spent elsewhere), and every access token expired.
    SandboxOAuthToken.objects.filter(kind="refresh").update(used_at=timezone.now())
    sandbox_oauth_expire_access_tokens()

    with pytest.raises(exc.ApiAuthError):
        ghl_client_for(connection).get_location()

    agency.refresh_from_db()
    connection.refresh_from_db()
    assert agency.status == GhlAgency.Status.NEEDS_REAUTH
    assert agency.status_detail.startswith("GoHighLevel refused the agency's token refresh:")
    assert connection.status == Connection.Status.NEEDS_REAUTH
    assert connection.status_detail == agency.status_detail
