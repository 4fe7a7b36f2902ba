"""GoHighLevel OAuth end to end: the admin flow, refresh ahead of expiry and on 401, and the multi-process race.

The sandbox runs in live_server (real HTTP); the token URL is the sandbox's, via settings or the connection's
base URL (GHL_OAUTH_TOKEN_URL = "" in test settings).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations import crypto
from integrations.adapters.clients import ghl_client_for
from integrations.clients import exceptions as exc
from integrations.docs_admin import docs_linked
from integrations.models import Connection, System
from integrations.services import oauth
from integrations.services.connections import connection_test
from sandbox import ratelimit
from sandbox import services as sandbox
from sandbox.models import SandboxOAuthToken
from sandbox.oauth import sandbox_oauth_expire_access_tokens
from tests.conftest import ROOT, _database_url_for_worker

pytestmark = pytest.mark.django_db(transaction=True)

LOCATION = "loc-oauth"
REDIRECT = "http://testserver/oauth/ghl/callback"


@pytest.fixture(autouse=True)
def _sandbox(transactional_db: Any, settings: Any) -> None:
    ratelimit.rate_limit_reset()
    settings.API_TRANSPORT_RETRIES = 0
    sandbox.sandbox_account_create(system="ghl", account_id=LOCATION, secret="pit-not-used", name="OAuth location")


@pytest.fixture
def connection(live_server: Any) -> Connection:
    return Connection.objects.create(
        name="GHL OAuth",
        system=System.GHL,
        base_url=f"{live_server.url}/sandbox/ghl",
        location_id=LOCATION,
        auth_type=Connection.AuthType.OAUTH,
    )


@pytest.fixture
def admin_user_client(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def connect(connection: Connection, live_url: str, *, user_type: str = "Location") -> Connection:
    """The flow without the admin: authorize in the sandbox, complete with the code it redirected with."""
    url = oauth.oauth_authorize_url(connection=connection, request_or_redirect_uri=REDIRECT, user_type=user_type)
    consent = requests.get(f"{live_url}{url}", allow_redirects=False, timeout=10)
    params = query(consent.headers["Location"])
    return oauth.oauth_complete(state=params["state"], code=params["code"])


def stats() -> dict[str, int]:
    return sandbox.sandbox_stats()["ghl"]


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# -- the admin flow -------------------------------------------------------------------------------------------------


def test_connect_with_ghl_from_the_admin_stores_encrypted_tokens(
    admin_user_client: Client, connection: Connection, live_server: Any, settings: Any
) -> None:
    settings.GHL_OAUTH_TOKEN_URL = f"{live_server.url}/sandbox/ghl/oauth/token"
    change_url = reverse("admin:integrations_connection_change", args=[connection.pk])

    page = admin_user_client.get(change_url)
    start = admin_user_client.post(
        reverse("admin:integrations_connection_oauth_connect", args=[connection.pk]), {"user_type": "Location"}
    )
    consent = admin_user_client.get(start.headers["Location"])
    callback = admin_user_client.get(consent.headers["Location"])

    assert "Connect with GoHighLevel" in page.content.decode()
    authorize = query(start.headers["Location"])
    assert start.headers["Location"].startswith("/sandbox/ghl-oauth/authorize?")
    assert authorize["response_type"] == "code"
    assert authorize["client_id"] == "sandbox-client-id"
    assert authorize["redirect_uri"] == REDIRECT
    assert authorize["scope"].split(" ") == settings.GHL_OAUTH_SCOPES
    assert consent.headers["Location"].startswith(REDIRECT + "?code=")
    assert callback.status_code == 302
    assert callback.headers["Location"] == change_url
    assert messages_of(callback) == [f"GHL OAuth: Connected with OAuth (Location token) for location {LOCATION}."]
    connection.refresh_from_db()
    assert connection.status == Connection.Status.OK
    assert connection.oauth_user_type == "Location"
    assert connection.oauth_company_id == "sandbox-company"
    assert connection.oauth_scopes == " ".join(settings.GHL_OAUTH_SCOPES)
    assert connection.oauth_access_token.startswith("sbx-at-")
    assert connection.oauth_refresh_token.startswith("sbx-rt-")
    assert "sbx-" not in connection.oauth_access_token_encrypted + connection.oauth_refresh_token_encrypted
    assert connection.oauth_expires_at is not None
    assert connection.oauth_expires_at - timezone.now() > timedelta(hours=23)
    assert ghl_client_for(connection).get_location()["id"] == LOCATION
    assert "Reconnect with GoHighLevel" in admin_user_client.get(change_url).content.decode()


def test_the_button_is_only_for_ghl_oauth_connections(admin_user_client: Client, connection: Connection) -> None:
    connection.auth_type = Connection.AuthType.PRIVATE_TOKEN
    connection.api_secret = "pit"
    connection.save()

    page = admin_user_client.get(reverse("admin:integrations_connection_change", args=[connection.pk]))

    assert "with GoHighLevel" not in page.content.decode()


def test_connect_without_client_credentials_says_what_to_configure(
    admin_user_client: Client, connection: Connection, settings: Any
) -> None:
    settings.GHL_OAUTH_CLIENT_SECRET = ""

    response = admin_user_client.post(
        reverse("admin:integrations_connection_oauth_connect", args=[connection.pk]), {"user_type": "Location"}
    )

    assert response.headers["Location"] == reverse("admin:integrations_connection_change", args=[connection.pk])
    assert messages_of(response) == [docs_linked(oauth.OAUTH_NOT_CONFIGURED)]
    assert 'href="/admin/docs/oauth/"' in messages_of(response)[0]  # the guide it names opens in the browser


def test_the_callback_requires_an_admin_login(connection: Connection) -> None:
    response = Client().get("/oauth/ghl/callback?code=x&state=y")

    assert response.status_code == 302
    assert response.headers["Location"].startswith(reverse("admin:login"))


def test_company_user_type_stores_a_location_token_and_refreshes_through_the_agency(
    admin_user_client: Client, connection: Connection
) -> None:
    start = admin_user_client.post(
        reverse("admin:integrations_connection_oauth_connect", args=[connection.pk]), {"user_type": "Company"}
    )
    callback = admin_user_client.get(admin_user_client.get(start.headers["Location"]).headers["Location"])

    connection.refresh_from_db()
    first = connection.oauth_access_token
    refreshed = oauth.oauth_access_token(connection=connection, force=True)

    assert messages_of(callback) == [f"GHL OAuth: Connected with OAuth (Company token) for location {LOCATION}."]
    assert connection.oauth_user_type == "Company"
    assert refreshed != first
    assert ghl_client_for(connection).get_location()["id"] == LOCATION
    assert stats()["oauth_location_token_ok"] == 2
    assert stats()["oauth_refresh_token_ok"] == 1


# -- what goes wrong in the callback -----------------------------------------------------------------------------


def test_a_tampered_state_is_rejected(admin_user_client: Client, connection: Connection) -> None:
    start = admin_user_client.post(reverse("admin:integrations_connection_oauth_connect", args=[connection.pk]))
    callback_url = admin_user_client.get(start.headers["Location"]).headers["Location"]
    params = query(callback_url)

    response = admin_user_client.get("/oauth/ghl/callback", {"code": params["code"], "state": params["state"] + "x"})

    assert messages_of(response) == [oauth.OAUTH_STATE_INVALID]
    assert response.headers["Location"] == reverse("admin:integrations_connection_changelist")
    connection.refresh_from_db()
    assert connection.oauth_access_token == ""
    assert stats().get("oauth_authorization_code_ok", 0) == 0


def test_a_state_from_another_session_or_used_twice_is_rejected(
    admin_user_client: Client, admin_user: User, connection: Connection
) -> None:
    start = admin_user_client.post(reverse("admin:integrations_connection_oauth_connect", args=[connection.pk]))
    callback_url = admin_user_client.get(start.headers["Location"]).headers["Location"]
    other_session = Client()
    other_session.force_login(admin_user)

    foreign = other_session.get(callback_url)
    own = admin_user_client.get(callback_url)
    replay = admin_user_client.get(callback_url)

    assert messages_of(foreign) == [oauth.OAUTH_STATE_INVALID]
    assert messages_of(own)[0].startswith("GHL OAuth: Connected")
    assert messages_of(replay)[-1] == oauth.OAUTH_STATE_INVALID  # (the success message is still queued too)
    change_url = reverse("admin:integrations_connection_change", args=[connection.pk])
    assert foreign.headers["Location"] == change_url  # a valid state still says where to go back to


def test_denied_consent_changes_nothing(admin_user_client: Client, connection: Connection) -> None:
    start = admin_user_client.post(reverse("admin:integrations_connection_oauth_connect", args=[connection.pk]))
    callback_url = admin_user_client.get(start.headers["Location"] + "&deny=1").headers["Location"]

    response = admin_user_client.get(callback_url)

    assert query(callback_url)["error"] == "access_denied"
    assert messages_of(response) == [oauth.OAUTH_DENIED.format(error="access_denied")]
    assert response.headers["Location"] == reverse("admin:integrations_connection_change", args=[connection.pk])
    connection.refresh_from_db()
    assert connection.status == Connection.Status.UNTESTED
    assert connection.oauth_refresh_token == ""


def test_a_refused_code_exchange_is_reported(admin_user_client: Client, connection: Connection) -> None:
    start = admin_user_client.post(reverse("admin:integrations_connection_oauth_connect", args=[connection.pk]))
    params = query(admin_user_client.get(start.headers["Location"]).headers["Location"])

    response = admin_user_client.get("/oauth/ghl/callback", {"code": "sbx-code-made-up", "state": params["state"]})

    [message] = messages_of(response)
    assert message.startswith("GoHighLevel did not accept the authorization code: ")
    assert "invalid_grant" in message
    connection.refresh_from_db()
    assert connection.oauth_access_token == ""


def test_a_token_for_another_location_is_refused(connection: Connection, live_server: Any) -> None:
    sandbox.sandbox_account_create(system="ghl", account_id="loc-other", secret="pit-other")
    url = oauth.oauth_authorize_url(connection=connection, request_or_redirect_uri=REDIRECT, user_type="Location")
    consent = requests.get(f"{live_server.url}{url}&location_id=loc-other", allow_redirects=False, timeout=10)
    params = query(consent.headers["Location"])

    with pytest.raises(oauth.OAuthError) as raised:
        oauth.oauth_complete(state=params["state"], code=params["code"])

    assert raised.value.message == oauth.OAUTH_WRONG_LOCATION.format(got="loc-other", want=LOCATION)


# -- refresh ---------------------------------------------------------------------------------------------------------


def test_it_refreshes_ahead_of_expiry(connection: Connection, live_server: Any) -> None:
    connection = connect(connection, live_server.url)
    old_access, old_refresh = connection.oauth_access_token, connection.oauth_refresh_token
    Connection.objects.filter(pk=connection.pk).update(oauth_expires_at=timezone.now() + timedelta(seconds=60))
    connection.refresh_from_db()

    client = ghl_client_for(connection)

    stored = Connection.objects.get(pk=connection.pk)
    assert client.token == stored.oauth_access_token != old_access
    assert stored.oauth_refresh_token != old_refresh
    assert stored.oauth_expires_at is not None
    assert stored.oauth_expires_at - timezone.now() > timedelta(hours=23)
    assert stats()["oauth_refresh_token_ok"] == 1
    # Not expiring any more: no second refresh.
    assert ghl_client_for(stored).token == client.token
    assert stats()["oauth_refresh_token_ok"] == 1


def test_it_refreshes_once_on_401_mid_use(connection: Connection, live_server: Any) -> None:
    connection = connect(connection, live_server.url)
    client = ghl_client_for(connection)
    assert client.get_location()["id"] == LOCATION
    expired = requests.post(f"{live_server.url}/sandbox/_control/oauth/expire?location_id={LOCATION}", timeout=10)

    location = client.get_location()

    assert expired.json() == {"expired": 1}
    assert location["id"] == LOCATION
    assert stats()["oauth_refresh_token_ok"] == 1
    assert stats()["status_401"] == 1
    assert client.token == Connection.objects.get(pk=connection.pk).oauth_access_token


def test_the_connection_test_works_for_oauth_connections(connection: Connection, live_server: Any) -> None:
    connection = connect(connection, live_server.url)
    sandbox_oauth_expire_access_tokens(location_id=LOCATION)

    result = connection_test(connection=connection)

    assert result.ok, result.message
    assert stats()["oauth_refresh_token_ok"] == 1


def test_a_used_refresh_token_is_rejected_by_the_sandbox(connection: Connection, live_server: Any) -> None:
    connection = connect(connection, live_server.url)
    spent = connection.oauth_refresh_token
    oauth.oauth_access_token(connection=connection, force=True)

    replay = requests.post(
        f"{live_server.url}/sandbox/ghl/oauth/token",
        data={
            "client_id": "sandbox-client-id",
            "client_secret": "sandbox-client-secret",
            "grant_type": "refresh_token",
            "refresh_token": spent,
            "user_type": "Location",
        },
        timeout=10,
    )

    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    # The stored (rotated) one still works.
    assert oauth.oauth_access_token(connection=connection, force=True)
    assert stats()["oauth_refresh_token_ok"] == 2


def test_a_refused_refresh_marks_the_connection_needs_reauth(
    connection: Connection, live_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    connection = connect(connection, live_server.url)
    spent = connection.oauth_refresh_token
    oauth.oauth_access_token(connection=connection, force=True)
    client = ghl_client_for(connection)
    # Put the spent refresh token back (as if a refresh had been lost), then make the API answer 401.
    Connection.objects.filter(pk=connection.pk).update(oauth_refresh_token_encrypted=crypto.encrypt(spent))
    sandbox_oauth_expire_access_tokens(location_id=LOCATION)

    with pytest.raises(exc.ApiAuthError) as raised:
        client.get_location()

    connection.refresh_from_db()
    assert connection.status == Connection.Status.NEEDS_REAUTH
    assert "invalid_grant" in connection.status_detail
    assert "Reconnect with 'Connect with GoHighLevel'" in connection.status_detail
    for text in (str(raised.value), connection.status_detail, caplog.text):
        assert spent not in text
        assert "sbx-at-" not in text
        assert "sbx-rt-" not in text


def test_a_transient_refresh_failure_does_not_need_reauth(connection: Connection, live_server: Any) -> None:
    connection = connect(connection, live_server.url)
    sandbox.sandbox_fault_add(system="ghl", kind="status", status=503, path_contains="/oauth/token")
    refresh_before = connection.oauth_refresh_token

    with pytest.raises(exc.ApiServerError):
        oauth.oauth_access_token(connection=connection, force=True)

    connection.refresh_from_db()
    assert connection.status == Connection.Status.OK
    assert connection.oauth_refresh_token == refresh_before
    assert oauth.oauth_access_token(connection=connection, force=True)  # the next try succeeds


def test_an_oauth_connection_that_was_never_connected_needs_auth(connection: Connection) -> None:
    with pytest.raises(exc.ApiAuthError, match="Not connected to GoHighLevel yet"):
        ghl_client_for(connection)

    connection.refresh_from_db()
    assert connection.status == Connection.Status.NEEDS_REAUTH


# -- the race ----------------------------------------------------------------------------------------------------

RACERS = 6


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def run_racers(connection: Connection, tmp_path: Path, **extra_env: str) -> list[dict[str, Any]]:
    """Start RACERS processes, wait until each has loaded the connection, then release them at once."""
    start = tmp_path / "start"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url_for_worker(),
        **extra_env,
    }
    results = [tmp_path / f"racer-{i}.json" for i in range(RACERS)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.integrations.oauth_race_worker", str(connection.pk), str(start), str(r)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for r in results
    ]
    try:
        deadline = time.monotonic() + 90
        while not all(Path(f"{r}.ready").exists() for r in results):
            assert time.monotonic() < deadline, "racers did not start"
            assert all(p.poll() is None for p in procs), [p.communicate()[0].decode()[-2000:] for p in procs]
            time.sleep(0.05)
        start.touch()
        outputs = [p.communicate(timeout=90)[0].decode() for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert all(p.returncode == 0 for p in procs), outputs
    return [json.loads(r.read_text()) for r in results]


def slow_token_endpoint() -> None:
    # Every refresh request is held for 0.5 s, so all racers are certainly in flight while the first one runs.
    sandbox.sandbox_fault_add(system="ghl", kind="slow", delay=0.5, count=RACERS, path_contains="/oauth/token")


def test_several_worker_processes_refreshing_at_once_keep_the_connection_alive(
    connection: Connection, live_server: Any, tmp_path: Path
) -> None:
    """RACERS OS processes all hold the same (rejected) token and force a refresh at the same instant.

    Single-flight means one refresh reaches the token endpoint; the others wait for the lock, see the new
    token and use it. Without it the second refresh would spend the rotated refresh token: invalid_grant.
    """
    connection = connect(connection, live_server.url)
    initial = token_hash(connection.oauth_access_token)
    slow_token_endpoint()

    racers = run_racers(connection, tmp_path)

    assert all(r["ok"] for r in racers), [r.get("error") for r in racers]
    stored = Connection.objects.get(pk=connection.pk)
    # They all held the same old token, all ran at once, and all ended with the one stored new token.
    assert {r["seen"] for r in racers} == {initial}
    assert max(r["started"] for r in racers) < min(r["finished"] for r in racers)
    assert {r["token"] for r in racers} == {token_hash(stored.oauth_access_token)} != {initial}
    assert {r["location"] for r in racers} == {LOCATION}
    # Exactly one refresh reached the token endpoint, and no refresh token was offered twice.
    assert stats()["oauth_refresh_token_ok"] == 1
    assert "oauth_invalid_grant" not in stats()
    assert SandboxOAuthToken.objects.filter(kind="refresh", used_at__isnull=False).count() == 1
    # The connection is alive: status OK and its stored refresh token still works.
    assert stored.status == Connection.Status.OK
    assert oauth.oauth_access_token(connection=stored, force=True)
    assert ghl_client_for(stored).get_location()["id"] == LOCATION
    assert stats()["oauth_refresh_token_ok"] == 2


def test_without_the_lock_the_same_race_spends_a_refresh_token_twice(
    connection: Connection, live_server: Any, tmp_path: Path
) -> None:
    """The control experiment: proves the race above is real and that the sandbox catches a double refresh."""
    connection = connect(connection, live_server.url)
    slow_token_endpoint()

    racers = run_racers(connection, tmp_path, OAUTH_RACE_WITHOUT_LOCK="1")

    failed = [r for r in racers if not r["ok"]]
    assert failed
    assert stats()["oauth_invalid_grant"] == len(failed)
    assert stats()["oauth_refresh_token_ok"] == 1
    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.NEEDS_REAUTH
