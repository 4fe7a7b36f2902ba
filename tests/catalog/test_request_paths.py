"""A request path stays under the connection's base URL, and the /sandbox/ prefix opens only this app's own sandbox.

Before: the raw API request joined `/../_control/stats` to `http://127.0.0.1:…/sandbox/ghl` and the sandbox's control
endpoint answered, with the GHL token in the request; and any http/loopback/private host passed the address policy
as long as its URL path began with /sandbox/.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import responses
from django.test import Client
from django.urls import reverse

from integrations.catalog.models import CatalogExecution
from integrations.catalog.services import catalog_raw_request
from integrations.clients import addresses
from integrations.clients import exceptions as exc
from integrations.clients.ghl import GhlClient, GhlRequestInvalid
from integrations.clients.streettext import StreetTextClient
from integrations.models import Connection
from tests.catalog.conftest import MOCK_GHL

ESCAPES = [
    "/../_control/stats",
    "/./_control/../../x",
    "/contacts/..",
    "/%2e%2e/_control/stats",
    "/%2E%2E/_control/stats",
    "/.%2e/_control/stats",
    "/%252e%252e/_control/stats",  # decoded twice by a proxy
    "/..%2f_control/stats",
    "/contacts/%5c..%5c_control",  # encoded backslashes
    "/contacts/%00",
]


@pytest.mark.parametrize("path", ESCAPES)
def test_every_spelling_of_a_dot_segment_is_refused(path: str) -> None:
    assert addresses.request_path_problem(path) in (addresses.MSG_PATH_DOTS, addresses.MSG_PATH_CONTROL)


@pytest.mark.parametrize("path", ["/contacts/", "/calendars/cal%2F1%20x/free-slots", "/a.b/..c/.d", "/contacts/?q=.."])
def test_ordinary_paths_pass(path: str) -> None:
    assert addresses.request_path_problem(path) is None


@pytest.mark.parametrize("path", ESCAPES)
def test_no_client_sends_a_path_that_climbs_out_of_its_base_url(
    path: str, mocked: responses.RequestsMock, no_transport_retries: None
) -> None:
    ghl = GhlClient(base_url=MOCK_GHL + "/v2", token="tok-secret-123", location_id="loc1")
    streettext = StreetTextClient(base_url="https://api.streettext.example/v1", api_key="k-123456")

    with pytest.raises(GhlRequestInvalid):
        ghl.call_raw("GET", path, version="2021-07-28")
    with pytest.raises(exc.ApiAddressRefused):
        ghl.request("GET", path)
    with pytest.raises(exc.ApiAddressRefused):
        streettext.request("GET", path)
    assert len(mocked.calls) == 0


@pytest.mark.django_db(transaction=True)
def test_the_raw_request_cannot_reach_the_sandboxs_control_endpoint(
    sandbox_connection: Connection, admin_client: Client
) -> None:
    execution = catalog_raw_request(
        connection=sandbox_connection, method="GET", path="/../_control/stats", version="2021-07-28"
    )
    form = admin_client.post(
        reverse("admin:catalog_raw"),
        {"connection": sandbox_connection.pk, "method": "GET", "path": "/%2e%2e/_control/stats", "version": "x"},
    )

    assert (execution.outcome, execution.status_code, execution.data) == (
        CatalogExecution.Outcome.NOT_SENT,
        None,
        None,
    )
    assert execution.messages == [addresses.MSG_PATH_DOTS]
    assert form.status_code == 200
    assert form.context["form"].errors["path"] == [addresses.MSG_PATH_DOTS]
    # The same connection still reaches its own API.
    ok = catalog_raw_request(connection=sandbox_connection, method="GET", path="/contacts/", query={"locationId": "x"})
    assert ok.status_code is not None


# -- the address policy's sandbox exemption ----------------------------------------------------------------------


@pytest.fixture
def strict(settings: Any) -> Any:
    settings.CONNECTION_ALLOW_HTTP_HOSTS = []
    settings.CONNECTION_ALLOW_PRIVATE_HOSTS = []
    settings.SANDBOX_ENABLED = True
    settings.SANDBOX_HOSTS = ["127.0.0.1:8000", "localhost:8000"]
    return settings


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://10.1.2.3/sandbox/ghl", addresses.MSG_SCHEME),
        ("https://10.1.2.3/sandbox/ghl", addresses.MSG_PRIVATE),
        ("https://192.168.0.10:8000/sandbox/streettext", addresses.MSG_PRIVATE),
        ("http://127.0.0.1:6379/sandbox/ghl", addresses.MSG_SCHEME),  # loopback, but not this app
        ("https://127.0.0.1:9200/sandbox/ghl", addresses.MSG_PRIVATE),
        ("http://localhost/sandbox/ghl", addresses.MSG_SCHEME),
        ("http://attacker.example:8000/sandbox/ghl", addresses.MSG_SCHEME),
    ],
)
def test_a_sandbox_path_on_another_host_gets_no_exemption(strict: Any, url: str, message: str) -> None:
    assert addresses.base_url_problem(url) == message.format(host=urlsplit(url).hostname)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/sandbox/ghl", "http://localhost:8000/sandbox/streettext"])
def test_the_apps_own_sandbox_is_still_reachable(strict: Any, url: str) -> None:
    assert addresses.base_url_problem(url) is None


def test_the_own_sandbox_needs_the_sandbox_on(strict: Any) -> None:
    strict.SANDBOX_ENABLED = False
    assert addresses.base_url_problem("http://127.0.0.1:8000/sandbox/ghl") == addresses.MSG_SCHEME
