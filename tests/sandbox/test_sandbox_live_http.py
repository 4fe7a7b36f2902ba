"""The sandbox over real HTTP (what the sync app's clients and the Celery worker see)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from sandbox import services
from sandbox.models import SandboxAccount

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "pit-live"
LOCATION = "locLive"
API_KEY = "st-live"


@pytest.fixture
def accounts(transactional_db: Any) -> None:
    services.sandbox_account_create(system="ghl", account_id=LOCATION, secret=TOKEN)
    services.sandbox_account_create(system="streettext", account_id="ws_live", secret=API_KEY)


def test_ghl_and_streettext_over_http(live_server: Any, accounts: None) -> None:
    ghl_base = f"{live_server.url}/sandbox/ghl"
    st_base = f"{live_server.url}/sandbox/streettext"
    ghl_headers = {"Authorization": f"Bearer {TOKEN}", "Version": "2021-07-28"}

    created = requests.post(
        f"{ghl_base}/contacts/",
        json={"locationId": LOCATION, "firstName": "Live", "email": "live@example.com", "phone": "415 555 0142"},
        headers=ghl_headers,
        timeout=10,
    )
    delete_tags = requests.delete(
        f"{ghl_base}/contacts/{created.json()['contact']['id']}/tags",
        json={"tags": ["none"]},
        headers=ghl_headers,
        timeout=10,
    )
    searched = requests.post(
        f"{ghl_base}/contacts/search", json={"locationId": LOCATION, "pageLimit": 10}, headers=ghl_headers, timeout=10
    )
    st_created = requests.post(
        f"{st_base}/v1/contacts", json={"email": "live@example.com"}, headers={"X-Api-Key": API_KEY}, timeout=10
    )
    st_list = requests.get(f"{st_base}/v1/contacts", headers={"X-Api-Key": API_KEY}, timeout=10)

    assert created.status_code == 201
    assert created.json()["contact"]["phone"] == "+14155550142"
    assert created.headers["X-RateLimit-Max"] == "100"
    assert delete_tags.status_code == 200
    assert searched.json()["total"] == 1
    assert st_created.status_code == 201
    assert st_list.json()["data"][0]["email"] == "live@example.com"


def test_faults_queued_over_http_reach_the_server(live_server: Any, accounts: None) -> None:
    control = f"{live_server.url}/sandbox/_control"
    requests.post(f"{control}/faults", json={"system": "streettext", "kind": "status", "status": 503}, timeout=10)

    first = requests.get(
        f"{live_server.url}/sandbox/streettext/v1/workspace", headers={"X-Api-Key": API_KEY}, timeout=10
    )
    second = requests.get(
        f"{live_server.url}/sandbox/streettext/v1/workspace", headers={"X-Api-Key": API_KEY}, timeout=10
    )
    stats = requests.get(f"{control}/stats", timeout=10).json()

    assert first.status_code == 503
    assert first.json()["error"]["code"] == "server_error"
    assert second.status_code == 200
    assert stats["streettext"]["requests"] == 2
    assert SandboxAccount.objects.count() == 2
