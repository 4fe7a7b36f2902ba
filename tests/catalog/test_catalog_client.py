"""GhlClient.call_operation / call_raw: validated against the spec before anything is sent, then through the one
client (Version, bearer token, OAuth refresh, retries, typed errors)."""

from __future__ import annotations

from typing import Any

import pytest
import responses

from integrations.catalog.loader import get_catalog
from integrations.clients import exceptions as exc
from integrations.clients.ghl import GhlClient, GhlRequestInvalid, operation_path
from tests.catalog.conftest import MOCK_GHL


@pytest.fixture
def client(no_transport_retries: None) -> GhlClient:
    return GhlClient(base_url=MOCK_GHL, token="tok-secret-123", location_id="loc1")


def spec(key: str) -> Any:
    return get_catalog().operation(key).spec


def test_an_operation_goes_out_with_the_specs_version_the_token_and_encoded_path_values(
    client: GhlClient, mocked: responses.RequestsMock
) -> None:
    mocked.get(f"{MOCK_GHL}/calendars/cal%2F1%20x/free-slots", json={"2026-01-05": {"slots": []}})

    answer = client.call_operation(
        spec("get-free-slots"), path_params={"calendarId": "cal/1 x"}, query={"startDate": 1, "endDate": 2}
    )

    request = mocked.calls[0].request
    assert request.headers["Version"] == "2021-04-15"
    assert request.headers["Authorization"] == "Bearer tok-secret-123"
    assert str(request.url).endswith("/calendars/cal%2F1%20x/free-slots?startDate=1&endDate=2")
    assert (answer.status_code, answer.data, answer.is_json) == (200, {"2026-01-05": {"slots": []}}, True)


def test_a_request_that_does_not_conform_is_refused_with_ghls_messages_and_nothing_is_sent(
    client: GhlClient, mocked: responses.RequestsMock
) -> None:
    with pytest.raises(GhlRequestInvalid) as info:
        client.call_operation(
            spec("create-contact-task"),
            path_params={"contactId": "c1"},
            body={"title": "Call", "completed": "no", "colour": "red"},
        )

    assert len(mocked.calls) == 0
    assert isinstance(info.value, exc.ApiValidationError)
    assert info.value.details == [
        "dueDate should not be empty",
        "dueDate must be a string",
        "property colour should not exist",
        "completed must be a boolean value",
    ]


@pytest.mark.parametrize(
    ("path_params", "message"),
    [({}, "contactId should not be empty"), ({"contactId": ".."}, "contactId cannot be . or ..")],
)
def test_path_values_that_cannot_be_placed_are_refused(
    client: GhlClient, mocked: responses.RequestsMock, path_params: dict[str, str], message: str
) -> None:
    with pytest.raises(GhlRequestInvalid) as info:
        client.call_operation(spec("get-contact"), path_params=path_params)

    assert info.value.details == [message]
    assert len(mocked.calls) == 0


def test_a_path_value_that_routes_to_another_operation_is_refused(
    client: GhlClient, mocked: responses.RequestsMock
) -> None:
    # DELETE /contacts/{contactId}/campaigns/{campaignId} with campaignId "removeAll" would remove every campaign.
    with pytest.raises(GhlRequestInvalid) as info:
        client.call_operation(
            spec("remove-contact-from-campaign"), path_params={"contactId": "c1", "campaignId": "removeAll"}
        )

    assert info.value.details == [
        "These path values lead to remove-contact-from-every-campaign, not remove-contact-from-campaign"
    ]
    assert len(mocked.calls) == 0


def test_a_required_empty_body_is_sent_as_an_empty_object(client: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.post(f"{MOCK_GHL}/contacts/c1/campaigns/k1", json={"succeded": True}, status=201)

    client.call_operation(
        spec("add-contact-to-campaign"), path_params={"contactId": "c1", "campaignId": "k1"}, send_body=True
    )

    assert mocked.calls[0].request.body == b"{}"


def test_a_file_answer_is_kept_as_text_or_as_its_size(client: GhlClient, mocked: responses.RequestsMock) -> None:
    base = f"{MOCK_GHL}/conversations/locations/loc1/messages/m1/transcription/download"
    mocked.get(base, body="Hello, this call may be recorded.", content_type="text/plain")
    recording = f"{MOCK_GHL}/conversations/messages/m1/locations/loc1/recording"
    mocked.get(recording, body=b"RIFF\x00\x01", content_type="audio/x-wav")

    where = {"locationId": "loc1", "messageId": "m1"}
    text = client.call_operation(spec("download-transcription"), path_params=where)
    audio = client.call_operation(spec("get-message-recording"), path_params=where)

    assert (text.data, text.text) == (None, "Hello, this call may be recorded.")
    assert (audio.data, audio.text, audio.size, audio.content_type) == (None, "", 6, "audio/x-wav")


def test_an_oauth_token_is_refreshed_once_on_401_and_the_call_repeated(mocked: responses.RequestsMock) -> None:
    calls: list[bool] = []

    def provider(*, force: bool = False) -> str:
        calls.append(force)
        return "fresh-token-456"

    client = GhlClient(base_url=MOCK_GHL, token="old-token-123", location_id="loc1", token_provider=provider)
    mocked.get(f"{MOCK_GHL}/opportunities/pipelines", status=401, json={"message": "Invalid token"})
    mocked.get(f"{MOCK_GHL}/opportunities/pipelines", json={"pipelines": []})

    answer = client.call_operation(spec("list-pipelines"), query={"locationId": "loc1"})

    assert answer.data == {"pipelines": []}
    assert calls == [True]
    sent = [c.request.headers["Authorization"] for c in mocked.calls]
    assert sent == ["Bearer old-token-123", "Bearer fresh-token-456"]


def test_transport_retries_apply_to_reads_and_not_to_creates(settings: Any, mocked: responses.RequestsMock) -> None:
    settings.API_TRANSPORT_RETRIES = 1
    settings.API_BACKOFF_FACTOR = 0
    client = GhlClient(base_url=MOCK_GHL, token="tok-secret-123", location_id="loc1")
    mocked.get(f"{MOCK_GHL}/workflows/", status=502)
    mocked.get(f"{MOCK_GHL}/workflows/", json={"workflows": []})
    mocked.post(f"{MOCK_GHL}/businesses/", status=502)

    assert client.call_operation(spec("list-workflows"), query={"locationId": "loc1"}).data == {"workflows": []}
    with pytest.raises(exc.ApiServerError):
        client.call_operation(spec("create-business"), body={"name": "Acme", "locationId": "loc1"})

    assert [c.request.method for c in mocked.calls] == ["GET", "GET", "POST"]


def test_a_raw_request_to_a_route_the_spec_lacks_is_sent_as_it_is(
    client: GhlClient, mocked: responses.RequestsMock
) -> None:
    mocked.get(f"{MOCK_GHL}/snapshots/", json={"snapshots": [{"id": "s1"}]})

    answer = client.call_raw("GET", "/snapshots/", query={"companyId": "co1"}, version="2021-07-28")

    assert answer.data == {"snapshots": [{"id": "s1"}]}
    assert mocked.calls[0].request.url == f"{MOCK_GHL}/snapshots/?companyId=co1"
    assert mocked.calls[0].request.headers["Version"] == "2021-07-28"


def test_a_raw_request_to_a_known_route_is_validated_like_an_operation(
    client: GhlClient, mocked: responses.RequestsMock
) -> None:
    with pytest.raises(GhlRequestInvalid) as info:
        client.call_raw("POST", "/businesses/", body={"locationId": "loc1"}, version="2021-07-28")

    assert info.value.details == ["name should not be empty", "name must be a string"]
    assert len(mocked.calls) == 0


@pytest.mark.parametrize("path", ["contacts/", "//evil.example/contacts", "/contacts/ x", "\\\\evil"])
def test_a_raw_path_cannot_leave_the_connections_host(
    client: GhlClient, mocked: responses.RequestsMock, path: str
) -> None:
    with pytest.raises(GhlRequestInvalid, match="must start with a single /"):
        client.call_raw("GET", path, version="2021-07-28")

    assert len(mocked.calls) == 0


def test_operation_path_encodes_each_value_as_one_segment() -> None:
    assert operation_path("/a/{x}/b/{y}", {"x": "1/2", "y": "é@"}) == "/a/1%2F2/b/%C3%A9%40"


def test_a_query_boolean_goes_out_as_ghl_reads_it(client: GhlClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{MOCK_GHL}/calendars/", json={"calendars": []})

    client.call_operation(spec("list-calendars"), query={"locationId": "loc1", "showDrafted": True})

    assert str(mocked.calls[0].request.url).endswith("showDrafted=true")


def test_a_multipart_operation_sends_its_fields_as_form_parts_lists_repeated(
    client: GhlClient, mocked: responses.RequestsMock
) -> None:
    mocked.post(f"{MOCK_GHL}/conversations/messages/upload", json={"uploadedFiles": {}})
    urls = ["https://example.com/a.pdf", "https://example.com/b.pdf"]

    client.call_operation(
        spec("upload-message-attachments"),
        body={"conversationId": "cv1", "contactId": "c1", "locationId": "loc1", "attachmentUrls": urls},
        content_type="multipart/form-data",
    )

    request = mocked.calls[0].request
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    body = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
    assert body.count('name="attachmentUrls"') == 2
    assert all(url in body for url in urls)
    assert 'name="conversationId"\r\n\r\ncv1\r\n' in body
    assert "application/json" not in body


def test_a_multipart_body_must_be_named_fields(client: GhlClient, mocked: responses.RequestsMock) -> None:
    with pytest.raises(GhlRequestInvalid):
        client.call_operation(
            spec("upload-message-attachments"), body=["not", "fields"], content_type="multipart/form-data"
        )

    assert len(mocked.calls) == 0
