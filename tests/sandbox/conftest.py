from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from sandbox import ratelimit, services
from sandbox.models import SandboxAccount
from tests.sandbox.sandbox_support import (
    GHL_LOCATION,
    GHL_TOKEN,
    OTHER_LOCATION,
    OTHER_TOKEN,
    ST_KEY,
    ST_WORKSPACE,
    GhlApi,
    StreetTextApi,
)


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    ratelimit.rate_limit_reset()
    yield
    ratelimit.rate_limit_reset()


@pytest.fixture
def ghl_account(db: None) -> SandboxAccount:
    return services.sandbox_account_create(system="ghl", account_id=GHL_LOCATION, secret=GHL_TOKEN, name="Location A")


@pytest.fixture
def other_ghl_account(db: None) -> SandboxAccount:
    return services.sandbox_account_create(system="ghl", account_id=OTHER_LOCATION, secret=OTHER_TOKEN, name="B")


@pytest.fixture
def st_account(db: None) -> SandboxAccount:
    return services.sandbox_account_create(system="streettext", account_id=ST_WORKSPACE, secret=ST_KEY, name="WS")


@pytest.fixture
def ghl(client: Client, ghl_account: SandboxAccount) -> GhlApi:
    return GhlApi(client)


@pytest.fixture
def st(client: Client, st_account: SandboxAccount) -> StreetTextApi:
    return StreetTextApi(client)
