from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client

from sandbox import ratelimit, services
from sandbox.models import SandboxAccount, SandboxFault
from tests.sandbox.sandbox_support import GHL_LOCATION, OTHER_LOCATION, OTHER_TOKEN, GhlApi, StreetTextApi

pytestmark = pytest.mark.django_db

RATE_HEADERS = (
    "X-RateLimit-Limit-Daily",
    "X-RateLimit-Daily-Remaining",
    "X-RateLimit-Interval-Milliseconds",
    "X-RateLimit-Max",
    "X-RateLimit-Remaining",
)


def list_contacts(ghl: GhlApi, location: str = GHL_LOCATION) -> object:
    return ghl("GET", "/contacts/", params={"locationId": location})


def test_every_ghl_answer_carries_rate_limit_headers(ghl: GhlApi) -> None:
    response = ghl("GET", "/contacts/", params={"locationId": GHL_LOCATION})
    not_found = ghl("GET", "/contacts/missing")

    for header in RATE_HEADERS:
        assert header in response
        assert header in not_found
    assert response["X-RateLimit-Max"] == "100"
    assert response["X-RateLimit-Interval-Milliseconds"] == "10000"
    assert response["X-RateLimit-Limit-Daily"] == "200000"
    assert int(not_found["X-RateLimit-Remaining"]) == int(response["X-RateLimit-Remaining"]) - 1


def test_ghl_answers_429_with_retry_after_beyond_the_limit(ghl: GhlApi, settings: Any) -> None:
    settings.SANDBOX_RATE_LIMIT = 3
    settings.SANDBOX_RATE_WINDOW_SECONDS = 30.0

    answers = [ghl("GET", "/contacts/", params={"locationId": GHL_LOCATION}) for _ in range(4)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert [answer["X-RateLimit-Remaining"] for answer in answers] == ["2", "1", "0", "0"]
    limited = answers[-1]
    assert limited.json() == {"statusCode": 429, "message": "Too many requests"}
    assert 1 <= int(limited["Retry-After"]) <= 30
    assert limited["X-RateLimit-Max"] == "3"
    assert limited["X-RateLimit-Interval-Milliseconds"] == "30000"
    assert services.sandbox_stats()["ghl"]["rate_limited"] == 1


def test_ghl_limits_are_per_location_and_the_window_slides(
    client: Client, ghl: GhlApi, other_ghl_account: SandboxAccount, settings: Any
) -> None:
    settings.SANDBOX_RATE_LIMIT = 2
    settings.SANDBOX_RATE_WINDOW_SECONDS = 0.3
    other = GhlApi(client, token=OTHER_TOKEN)
    ghl("GET", "/contacts/", params={"locationId": GHL_LOCATION})
    ghl("GET", "/contacts/", params={"locationId": GHL_LOCATION})

    assert ghl("GET", "/contacts/", params={"locationId": GHL_LOCATION}).status_code == 429
    assert other("GET", "/contacts/", params={"locationId": OTHER_LOCATION}).status_code == 200
    time.sleep(0.35)
    assert ghl("GET", "/contacts/", params={"locationId": GHL_LOCATION}).status_code == 200


def test_rate_limit_reset_forgets_windows(ghl: GhlApi, settings: Any) -> None:
    settings.SANDBOX_RATE_LIMIT = 1
    ghl("GET", "/contacts/", params={"locationId": GHL_LOCATION})
    assert ghl("GET", "/contacts/", params={"locationId": GHL_LOCATION}).status_code == 429

    ratelimit.rate_limit_reset()

    assert ghl("GET", "/contacts/", params={"locationId": GHL_LOCATION}).status_code == 200


def test_streettext_answers_429_per_api_key(st: StreetTextApi, settings: Any) -> None:
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 2

    answers = [st("GET", "/v1/workspace") for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert answers[-1].json()["error"]["code"] == "rate_limited"
    assert int(answers[-1]["Retry-After"]) >= 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_status_fault_fails_the_next_request_only(ghl: GhlApi, status: int) -> None:
    services.sandbox_fault_add(system="ghl", kind="status", status=status)

    failed = ghl("GET", "/contacts/", params={"locationId": GHL_LOCATION})
    ok = ghl("GET", "/contacts/", params={"locationId": GHL_LOCATION})

    assert failed.status_code == status
    assert failed.json()["statusCode"] == status
    assert ok.status_code == 200


def test_429_fault_carries_retry_after(st: StreetTextApi) -> None:
    services.sandbox_fault_add(system="streettext", kind="status", status=429, retry_after=3, count=2)

    answers = [st("GET", "/v1/workspace") for _ in range(3)]

    assert [answer.status_code for answer in answers] == [429, 429, 200]
    assert answers[0]["Retry-After"] == "3"
    assert answers[0].json()["error"]["code"] == "rate_limited"
    stats = services.sandbox_stats()["streettext"]
    assert stats["faults"] == 2
    assert stats["status_429"] == 2
    assert stats["requests"] == 3


def test_malformed_fault_returns_broken_json(ghl: GhlApi) -> None:
    services.sandbox_fault_add(system="ghl", kind="malformed")

    response = ghl("GET", "/contacts/", params={"locationId": GHL_LOCATION})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    with pytest.raises(ValueError, match=r"Expecting|Unterminated"):
        response.json()


def test_slow_fault_delays_then_answers_normally(st: StreetTextApi) -> None:
    services.sandbox_fault_add(system="streettext", kind="slow", delay=0.3)

    started = time.monotonic()
    response = st("GET", "/v1/workspace")

    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200


def test_faults_match_path_and_method_and_system(ghl: GhlApi, st: StreetTextApi) -> None:
    services.sandbox_fault_add(system="ghl", kind="status", status=503, path_contains="/contacts/search", method="post")

    other_system = st("POST", "/v1/contacts", {"first_name": "x"})
    other_path = ghl("GET", "/contacts/", params={"locationId": GHL_LOCATION})
    other_method = ghl("GET", "/contacts/search")
    hit = ghl("POST", "/contacts/search", {"locationId": GHL_LOCATION, "pageLimit": 1})

    assert other_system.status_code == 201
    assert other_path.status_code == 200
    assert other_method.status_code == 404
    assert hit.status_code == 503
    assert SandboxFault.objects.get().remaining == 0


def test_fault_input_is_validated() -> None:
    with pytest.raises(services.SandboxInputError):
        services.sandbox_fault_add(system="ghl", kind="explode")
    with pytest.raises(services.SandboxInputError):
        services.sandbox_fault_add(system="salesforce", kind="status")


def test_control_endpoints_queue_list_clear_faults_and_report_stats(client: Client, ghl: GhlApi) -> None:
    added = client.post(
        "/sandbox/_control/faults",
        {"system": "ghl", "kind": "status", "status": 502, "count": 2, "method": "GET"},
        content_type="application/json",
    )
    bad = client.post("/sandbox/_control/faults", {"system": "ghl", "kind": "nope"}, content_type="application/json")
    listed = client.get("/sandbox/_control/faults").json()
    failed = ghl("GET", "/contacts/", params={"locationId": GHL_LOCATION})
    cleared = client.delete("/sandbox/_control/faults").json()
    ok = ghl("GET", "/contacts/", params={"locationId": GHL_LOCATION})
    stats = client.get("/sandbox/_control/stats").json()

    assert added.status_code == 201
    assert added.json()["fault"]["remaining"] == 2
    assert bad.status_code == 400
    assert listed["faults"][0]["status"] == 502
    assert failed.status_code == 502
    assert cleared == {"deleted": 1}
    assert ok.status_code == 200
    assert stats["ghl"]["requests"] == 2
    assert stats["ghl"]["status_502"] == 1
    assert stats["ghl"]["status_200"] == 1
    assert stats["streettext"]["requests"] == 0


def test_control_reset_wipes_records_and_keeps_accounts(
    client: Client, ghl: GhlApi, ghl_account: SandboxAccount
) -> None:
    services.sandbox_record_put(account=ghl_account, object_type="contact", data={"firstName": "x"})
    services.sandbox_fault_add(system="ghl", kind="status")

    response = client.post("/sandbox/_control/reset", {}, content_type="application/json")

    assert response.status_code == 200
    assert response.json()["deleted"]["records"] == 1
    assert response.json()["deleted"]["faults"] == 1
    assert ghl("GET", "/contacts/", params={"locationId": GHL_LOCATION}).json()["contacts"] == []


def test_control_accounts_creates_a_usable_account(client: Client) -> None:
    response = client.post(
        "/sandbox/_control/accounts",
        {"system": "streettext", "account_id": "ws_new", "secret": "k-new", "name": "New"},
        content_type="application/json",
    )

    assert response.status_code == 201
    assert StreetTextApi(client, key="k-new")("GET", "/v1/workspace").json()["workspace"]["id"] == "ws_new"
