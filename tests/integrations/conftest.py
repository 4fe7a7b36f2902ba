"""Fixtures for the client and adapter tests: `responses` mocks, connections, no transport retries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import responses

from integrations.models import Connection

GHL = "https://services.leadconnectorhq.com"
ST = "https://api.streettext.example"


@pytest.fixture
def no_transport_retries(settings: Any) -> None:
    """Each mocked answer is seen once: urllib3 must not retry it behind the test's back."""
    settings.API_TRANSPORT_RETRIES = 0
    settings.API_BACKOFF_FACTOR = 0


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as rsps:
        yield rsps


@pytest.fixture
def ghl_connection(no_transport_retries: None) -> Connection:
    connection = Connection(name="GHL", system="ghl", base_url=GHL, location_id="loc1", auth_type="pit")
    connection.api_secret = "tok"
    connection.save()
    return connection


@pytest.fixture
def st_connection(no_transport_retries: None) -> Connection:
    connection = Connection(name="ST", system="streettext", base_url=ST, auth_type="api_key")
    connection.api_secret = "key"
    connection.save()
    return connection


@pytest.fixture(params=["ideal", "live"])
def sandbox_mode(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a test against the spec-ideal GHL and against GHL in live mode (latency, GHL's limits, its documented
    deviations: sandbox/live.py); worlds built by tests.integrations.support.build_world follow it."""
    from tests.integrations.support import sandbox_mode_set

    sandbox_mode_set(live=request.param == "live")
    try:
        yield request.param
    finally:
        sandbox_mode_set(live=False)
