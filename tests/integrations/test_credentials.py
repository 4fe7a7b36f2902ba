"""Credentials only go where they should, in a form that can be sent (Hardening #4, #5, #7).

- Keys and tokens are printable ASCII, checked on input (admin form and service) and again before a client sends
  them; a stored odd key gives a clear "Test connection" message, never a 500, and never shows up in a log.
- Clients never follow redirects (StreetText's X-Api-Key would follow one to another host).
- A connection's base URL is https (http only for the sandbox or a listed host), carries no user:password, and is not a
  link-local, cloud-metadata, loopback or private address unless a setting allows it.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from integrations.clients import addresses
from integrations.clients import exceptions as exc
from integrations.clients.base import MSG_CREDENTIALS_UNUSABLE
from integrations.clients.ghl import GhlClient
from integrations.clients.ghl_oauth import GhlOAuthClient
from integrations.clients.streettext import StreetTextClient
from integrations.forms import ConnectionForm
from integrations.logging import RedactingFilter, remember_secret
from integrations.models import Connection, SyncRun, System
from integrations.services import connections as connection_services
from mappings.models import Direction
from tests.integrations.support import build_world, run_via_worker

ODD_KEYS = {
    "zero-width space": "st-key-odd\u200b4242",
    "curly quotes": "\u201cst-key-odd-quoted-4242\u201d",
    "no-break space": "st-key-odd\u00a04242",
    "accent": "st-key-odd-é-4242",
}


# -- input validation ---------------------------------------------------------------------------------------------


def _form(**data: Any) -> ConnectionForm:
    base = {
        "name": "ST",
        "system": System.STREETTEXT,
        "base_url": "https://api.streettext.example",
        "location_id": "",
        "auth_type": Connection.AuthType.API_KEY,
        "secret": "good-key-123",
        "webhook_secret": "",
    }
    return ConnectionForm(data={**base, **data})


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "key"), list(ODD_KEYS.items()))
def test_the_form_refuses_a_key_that_cannot_be_sent_with_a_clear_message(kind: str, key: str) -> None:
    for name in ("secret", "webhook_secret"):
        form = _form(**{name: key})

        assert not form.is_valid()
        message = str(form.errors[name][0])
        assert message.startswith("Only printable ASCII characters are allowed"), message
        assert key not in message


@pytest.mark.django_db
def test_the_service_refuses_it_too_so_no_code_path_bypasses_the_form() -> None:
    connection = Connection(name="ST", system=System.STREETTEXT, base_url="https://x.example", auth_type="api_key")
    with pytest.raises(ValidationError, match="zero width space"):
        connection_services.connection_set_secret(connection=connection, secret=ODD_KEYS["zero-width space"])
    assert not connection.api_secret_encrypted


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("debug", [False, True])
def test_test_connection_with_a_stored_odd_key_answers_in_words_and_never_shows_it(
    admin_client: Client, live_server: Any, settings: Any, debug: bool
) -> None:
    settings.DEBUG = debug
    world = build_world(live_server.url)
    key = ODD_KEYS["zero-width space"]
    world.streettext.api_secret = key  # stored behind the form's back (an old row, a script)
    world.streettext.save()

    response = admin_client.post(
        reverse("admin:integrations_connection_changelist"),
        {"action": "test_connections", "_selected_action": [world.streettext.pk]},
        follow=True,
    )

    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert messages == [f"{world.streettext.name}: {connection_services.TEST_CREDENTIALS_UNUSABLE}"]
    page = response.content.decode()
    assert "st-key-odd" not in page
    world.streettext.refresh_from_db()
    assert world.streettext.status == Connection.Status.NEEDS_REAUTH


@pytest.mark.django_db
def test_test_connection_never_answers_500_even_on_an_unexpected_error(
    admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = Connection(name="ST", system=System.STREETTEXT, base_url="https://x.example", auth_type="api_key")
    connection.api_secret = "fine-key-123"
    connection.save()

    def broken(self: StreetTextClient) -> dict[str, Any]:
        raise UnicodeEncodeError("latin-1", "fine-key-123\u200b", 12, 13, "ordinal not in range(256)")

    monkeypatch.setattr(StreetTextClient, "get_workspace", broken)
    result = connection_services.connection_test(connection=connection)

    assert result == connection_services.ConnectionTestResult(
        False, connection_services.TEST_CRASHED.format(kind="UnicodeEncodeError")
    )


@pytest.mark.parametrize("system", ["ghl", "streettext"])
def test_the_client_refuses_to_send_an_unusable_credential(system: str) -> None:
    key = ODD_KEYS["curly quotes"]
    client: GhlClient | StreetTextClient = (
        GhlClient(base_url="https://api.example.com", token=key, location_id="l")
        if system == "ghl"
        else StreetTextClient(base_url="https://api.example.com", api_key=key)
    )
    with pytest.raises(exc.ApiCredentialsUnusable) as info:
        client.request("GET", "/anything")
    assert str(info.value) == MSG_CREDENTIALS_UNUSABLE.format(service=client.service_name)
    assert isinstance(info.value, exc.ApiAuthError)  # the engine pauses the connection for re-authentication


# -- logs ---------------------------------------------------------------------------------------------------------


def _log_through_filter(emit: Any) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("test.redaction.repr")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_a_remembered_secret_is_redacted_from_reprs_and_tracebacks() -> None:
    key = "rk-\u200b-" + "9" * 12
    remember_secret(key)

    def emit(logger: logging.Logger) -> None:
        error = UnicodeEncodeError("latin-1", key, 3, 4, "ordinal not in range(256)")
        logger.error("Task raised unexpected: %r", error)
        try:
            raise ValueError(f"bad header value {key!r}")
        except ValueError:
            logger.exception("while sending")

    text = _log_through_filter(emit)

    assert "Traceback" in text
    assert "[redacted]" in text
    for form in (key, repr(key)[1:-1], "9" * 12):
        assert form not in text


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_run_with_an_odd_key_fails_clearly_and_the_worker_log_never_shows_the_key(
    live_server: Any, worker: Any, settings: Any
) -> None:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT, size=20)
    key = ODD_KEYS["zero-width space"]
    Connection.objects.filter(pk=world.streettext.pk).update(api_secret_encrypted="")
    world.streettext.api_secret = key
    world.streettext.save()
    log_before = len(worker.log())

    run = run_via_worker(world.mapping)

    log = worker.log()[log_before:]
    assert "Task integrations.tasks.run_sync_task[" in log
    for form in (key, repr(key)[1:-1], "st-key-odd"):
        assert form not in log, f"the key leaked into the worker log as {form!r}"
    assert run.status == SyncRun.Status.FAILED
    assert "characters that cannot be sent" in run.error


# -- redirects ----------------------------------------------------------------------------------------------------


@dataclass
class Seen:
    requests: list[dict[str, str]] = field(default_factory=list)


def _server(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, threading.Thread]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def elsewhere() -> Iterator[tuple[str, Seen]]:
    """Another host (localhost, not 127.0.0.1) that records what reaches it."""
    seen = Seen()

    class Recorder(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            seen.requests.append({**{k.lower(): v for k, v in self.headers.items()}, "_body": body})
            payload = json.dumps({"workspace": {"id": "w"}, "location": {"id": "l"}, "access_token": "x"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server, _ = _server(Recorder)
    yield f"http://localhost:{server.server_port}", seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def redirector(elsewhere: tuple[str, Seen]) -> Iterator[tuple[str, Any]]:
    """The configured host: answers every request with a redirect (status chosen per test) to the other host."""
    target, _ = elsewhere
    state = {"status": 302}

    class Redirect(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.send_response(state["status"])
            self.send_header("Location", f"{target}{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server, _ = _server(Redirect)
    yield f"http://127.0.0.1:{server.server_port}", state
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_api_clients_never_follow_a_redirect(
    redirector: tuple[str, Any], elsewhere: tuple[str, Seen], status: int
) -> None:
    base, state = redirector
    state["status"] = status
    _, seen = elsewhere

    with pytest.raises(exc.ApiRedirectRefused) as st_info:
        StreetTextClient(base_url=base, api_key="st-secret-key").get_workspace()
    with pytest.raises(exc.ApiRedirectRefused) as ghl_info:
        GhlClient(base_url=base, token="ghl-secret-token", location_id="l").get_location()

    assert seen.requests == []  # nothing reached the other host: no X-Api-Key, no Authorization
    assert "redirect to http://localhost:" in str(st_info.value)
    assert "redirect to http://localhost:" in str(ghl_info.value)


def test_the_oauth_token_client_never_follows_a_redirect(
    redirector: tuple[str, Any], elsewhere: tuple[str, Seen]
) -> None:
    base, state = redirector
    state["status"] = 307  # a 307 would re-POST the body, client_secret included
    _, seen = elsewhere
    client = GhlOAuthClient(token_url=f"{base}/oauth/token", client_id="cid", client_secret="oauth-client-secret")

    with pytest.raises(exc.ApiError):
        client.refresh(refresh_token="refresh-token-value", user_type="Location")

    assert seen.requests == []


# -- base URL -----------------------------------------------------------------------------------------------------

REFUSED = {
    "http://169.254.169.254/latest/meta-data": addresses.MSG_SCHEME,
    "https://169.254.169.254/latest/meta-data": addresses.MSG_METADATA,
    "https://metadata.google.internal/computeMetadata/v1": addresses.MSG_METADATA,
    "https://[fd00:ec2::254]/": addresses.MSG_METADATA,
    "https://100.100.100.200/": addresses.MSG_METADATA,
    "https://2852039166/": addresses.MSG_METADATA,  # 169.254.169.254 as one number
    "https://0xa9fea9fe/": addresses.MSG_METADATA,
    "https://[::ffff:169.254.169.254]/": addresses.MSG_METADATA,
    "https://[fe80::1]/": addresses.MSG_METADATA,
    "https://127.0.0.1:8000/": addresses.MSG_PRIVATE,
    "https://localhost/": addresses.MSG_PRIVATE,
    "https://[::1]/": addresses.MSG_PRIVATE,
    "https://10.1.2.3/": addresses.MSG_PRIVATE,
    "https://192.168.0.10/": addresses.MSG_PRIVATE,
    "https://0.0.0.0/": addresses.MSG_PRIVATE,
    "ftp://services.leadconnectorhq.com/": addresses.MSG_SCHEME,
    "http://services.leadconnectorhq.com/": addresses.MSG_SCHEME,
    "https://user:pass@services.leadconnectorhq.com/": addresses.MSG_CREDENTIALS,
    "https://token@services.leadconnectorhq.com/": addresses.MSG_CREDENTIALS,
    "https://services.leadconnectorhq.com/?next=x": addresses.MSG_QUERY,
    "http://127.0.0.1:8000/not-the-sandbox": addresses.MSG_SCHEME,
    "https://169.254.169.254/sandbox/ghl": addresses.MSG_METADATA,  # the sandbox rule never opens metadata
}
DJANGO_INVALID_URL = "Enter a valid URL."
ACCEPTED = [
    "https://services.leadconnectorhq.com",
    "https://api.streettext.example/v1",
    "http://127.0.0.1:8000/sandbox/ghl",  # the built-in sandbox (SANDBOX_ENABLED)
    "http://localhost:8000/sandbox/streettext",
]


@pytest.fixture
def strict(settings: Any) -> Any:
    """Production-like lists (the test settings allow 127.0.0.1 for the tests' own servers)."""
    settings.CONNECTION_ALLOW_HTTP_HOSTS = []
    settings.CONNECTION_ALLOW_PRIVATE_HOSTS = []
    settings.SANDBOX_ENABLED = True
    return settings


def _expected(url: str, message: str) -> str:
    from urllib.parse import urlsplit

    return message.format(host=(urlsplit(url).hostname or "").lower())


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "message"), list(REFUSED.items()))
def test_unsafe_base_urls_are_refused_by_form_model_and_client(strict: Any, url: str, message: str) -> None:
    # Django's own URL validator already refuses the numeric host forms; ours names the reason for the others.
    expected = [[_expected(url, message)], [DJANGO_INVALID_URL], [DJANGO_INVALID_URL, _expected(url, message)]]
    form = _form(base_url=url)
    assert not form.is_valid()
    assert form.errors["base_url"] in expected

    connection = Connection(name="x", system=System.STREETTEXT, base_url=url, auth_type="api_key")
    with pytest.raises(ValidationError) as info:
        connection.full_clean()
    assert info.value.message_dict["base_url"] in expected

    with pytest.raises(exc.ApiAddressRefused):
        StreetTextClient(base_url=url, api_key="k-123456").get_workspace()


@pytest.mark.django_db
@pytest.mark.parametrize("url", ACCEPTED)
def test_safe_base_urls_and_the_sandbox_are_accepted(strict: Any, url: str) -> None:
    assert _form(base_url=url).is_valid(), _form(base_url=url).errors


@pytest.mark.django_db
def test_the_sandbox_rule_ends_with_the_sandbox(strict: Any) -> None:
    strict.SANDBOX_ENABLED = False
    form = _form(base_url="http://127.0.0.1:8000/sandbox/ghl")
    assert form.errors["base_url"] == [addresses.MSG_SCHEME]


@pytest.mark.django_db
def test_settings_name_the_hosts_that_may_use_http_or_a_private_address(strict: Any) -> None:
    strict.CONNECTION_ALLOW_HTTP_HOSTS = ["proxy.internal"]
    strict.CONNECTION_ALLOW_PRIVATE_HOSTS = ["10.1.2.3"]

    assert _form(base_url="http://proxy.internal/ghl").is_valid()
    assert _form(base_url="https://10.1.2.3/").is_valid()
    assert not _form(base_url="http://10.1.2.3/").is_valid()  # private allowed, http not


@pytest.mark.django_db
def test_a_host_name_that_resolves_to_a_metadata_address_is_refused(
    strict: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = socket.getaddrinfo

    def resolver(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "innocent.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 443))]
        if host == "intranet.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(addresses.socket, "getaddrinfo", resolver)

    assert _form(base_url="https://innocent.example.com").errors["base_url"] == [
        addresses.MSG_METADATA.format(host="innocent.example.com")
    ]
    assert _form(base_url="https://intranet.example.com").errors["base_url"] == [
        addresses.MSG_PRIVATE.format(host="intranet.example.com")
    ]
