"""Fixtures for the catalog tests: a GHL connection on the sandbox (live_server), or on a `responses` mock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import responses

from integrations.models import Connection, System
from sandbox import ratelimit
from sandbox.demo import sandbox_seed_demo, sandbox_seed_demo_catalog, sandbox_seed_demo_children
from tests.integrations.support import GHL_TOKEN, LOCATION, sandbox_ghl_connection

MOCK_GHL = "https://services.leadconnectorhq.com"


@pytest.fixture
def no_transport_retries(settings: Any) -> None:
    settings.API_TRANSPORT_RETRIES = 0
    settings.API_BACKOFF_FACTOR = 0


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as rsps:
        yield rsps


@pytest.fixture
def mock_connection(db: Any, no_transport_retries: None) -> Connection:
    """A GHL connection whose calls go to `responses` mocks (token "tok", location "loc1")."""
    connection = Connection(name="GHL", system=System.GHL, base_url=MOCK_GHL, location_id="loc1", auth_type="pit")
    connection.api_secret = "tok-secret-123"
    connection.save()
    return connection


@pytest.fixture
def sandbox_connection(live_server: Any) -> Connection:
    """A GHL connection on the sandbox over real HTTP, with the demo data seeded (small)."""
    ratelimit.rate_limit_reset()
    sandbox_seed_demo(ghl_location_id=LOCATION, ghl_token=GHL_TOKEN, streettext_api_key="st-key-e2e", size=10)
    sandbox_seed_demo_children(ghl_location_id=LOCATION, streettext_api_key="st-key-e2e")
    sandbox_seed_demo_catalog(ghl_location_id=LOCATION)
    return sandbox_ghl_connection(live_server.url)
