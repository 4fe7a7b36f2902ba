"""Incoming webhooks: signatures, freshness, replays, limits, processing into webhook runs, deferral and retry."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from django.test import Client
from django.urls import reverse

from integrations.models import Connection, RecordLink, SyncRun, System, WebhookDelivery
from integrations.webhooks import services, signatures, views
from mappings.models import Direction, Mapping
from mappings.presets import preset_create
from mappings.services import mapping_create_with_defaults
from sandbox import webhooks as sandbox_webhooks

pytestmark = pytest.mark.django_db

Status = WebhookDelivery.Status
LOCATION = "loc-wh"
ST_SECRET = "whsec-test-shared-secret"


# -- fixtures -----------------------------------------------------------------------------------------------------


@pytest.fixture
def sandbox_keys(settings: Any) -> dict[str, str]:
    """The app trusts the sandbox's test keys (Ed25519 and RSA), as a deployment trusts GHL's."""
    keys = sandbox_webhooks.sandbox_webhook_public_keys()
    settings.GHL_WEBHOOK_ED25519_PUBLIC_KEY = keys["ed25519"]
    settings.GHL_WEBHOOK_RSA_PUBLIC_KEY = keys["rsa"]
    return keys


@pytest.fixture
def ghl() -> Connection:
    connection = Connection(
        name="GHL wh",
        system=System.GHL,
        base_url="https://ghl.invalid",
        location_id=LOCATION,
        auth_type=Connection.AuthType.PRIVATE_TOKEN,
    )
    connection.api_secret = "token"
    connection.save()
    return connection


@pytest.fixture
def streettext() -> Connection:
    connection = Connection(
        name="StreetText wh",
        system=System.STREETTEXT,
        base_url="https://st.invalid",
        auth_type=Connection.AuthType.API_KEY,
    )
    connection.api_secret = "key"
    connection.webhook_secret = ST_SECRET
    connection.save()
    return connection


@pytest.fixture
def mapping(ghl: Connection, streettext: Connection) -> Mapping:
    return mapping_create_with_defaults(
        name="wh contacts", ghl_connection=ghl, streettext_connection=streettext, direction=Direction.BOTH
    )


def ghl_body(
    event_type: str = "ContactUpdate", *, webhookId: str | None = None, timestamp: datetime | None = None, **fields: Any
) -> bytes:
    payload = {"locationId": LOCATION, "id": "c-1", **fields}
    return sandbox_webhooks.sandbox_webhook_body(
        system="ghl", event_type=event_type, payload=payload, webhook_id=webhookId, timestamp=timestamp
    )


def post_ghl(client: Client, connection: Connection, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return client.post(
        reverse("webhooks:ghl", kwargs={"token": connection.webhook_token}),
        data=body,
        content_type="application/json",
        headers=headers or {},
    )


def post_signed_ghl(client: Client, connection: Connection, body: bytes, sign_with: str = "ed25519") -> Any:
    return post_ghl(client, connection, body, sandbox_webhooks.sandbox_webhook_sign_ghl(body=body, sign_with=sign_with))


def st_body(event_type: str = "contact.updated", contact_id: str = "ct_1", delivery_id: str = "evt_1") -> bytes:
    return sandbox_webhooks.sandbox_webhook_body(
        system="streettext",
        event_type=event_type,
        payload={"contact": {"id": contact_id, "email": "a@example.com"}},
        webhook_id=delivery_id,
    )


def post_st(
    client: Client,
    connection: Connection,
    body: bytes,
    *,
    secret: str = ST_SECRET,
    signed_at: datetime | None = None,
    delivery: str | None = None,
) -> Any:
    timestamp = int((signed_at or datetime.now(tz=UTC)).timestamp())
    headers = {
        signatures.STREETTEXT_SIGNATURE_HEADER: signatures.streettext_signature_header(
            secret=secret, body=body, timestamp=timestamp
        ),
        signatures.STREETTEXT_DELIVERY_HEADER: delivery if delivery is not None else json.loads(body)["id"],
    }
    return client.post(
        reverse("webhooks:streettext", kwargs={"token": connection.webhook_token}),
        data=body,
        content_type="application/json",
        headers=headers,
    )


# -- GHL signatures -------------------------------------------------------------------------------------------------


def test_it_accepts_a_valid_ed25519_delivery_and_enqueues_processing(
    client: Client, ghl: Connection, sandbox_keys: Any, django_capture_on_commit_callbacks: Any
) -> None:
    body = ghl_body(webhookId="wh-ed-1")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_signed_ghl(client, ghl, body, "ed25519")

    assert response.status_code == 200, response.content
    assert response.json() == {"ok": True, "status": "queued"}
    delivery = WebhookDelivery.objects.get()
    assert (delivery.connection, delivery.source, delivery.webhook_id) == (ghl, "ghl", "wh-ed-1")
    assert (delivery.event_type, delivery.object_type, delivery.record_id) == ("ContactUpdate", "contact", "c-1")
    assert delivery.payload_size == len(body)
    assert delivery.signed_at is not None
    assert len(callbacks) == 1  # process_webhook_task.delay, once the request's transaction commits


def test_it_accepts_a_valid_rsa_delivery(client: Client, ghl: Connection, sandbox_keys: Any) -> None:
    response = post_signed_ghl(client, ghl, ghl_body(), "rsa")

    assert response.status_code == 200, response.content
    assert WebhookDelivery.objects.count() == 1


def test_rsa_defaults_to_the_published_ghl_key(client: Client, ghl: Connection, settings: Any) -> None:
    settings.GHL_WEBHOOK_ED25519_PUBLIC_KEY = ""
    settings.GHL_WEBHOOK_RSA_PUBLIC_KEY = ""
    published = signatures.load_rsa_public_key(signatures.published_ghl_rsa_key())
    assert isinstance(published, RSAPublicKey)
    assert published.key_size == 4096

    # Signed with the sandbox's RSA key, not GHL's: the default key refuses it.
    response = post_signed_ghl(client, ghl, ghl_body(), "rsa")

    assert response.status_code == 401
    assert response.json() == {"ok": False, "error": "invalid RSA-SHA256 signature"}


def test_it_refuses_an_invalid_signature(client: Client, ghl: Connection, sandbox_keys: Any) -> None:
    body = ghl_body(lastName="Original")
    headers = sandbox_webhooks.sandbox_webhook_sign_ghl(body=body, sign_with="both")
    tampered = body.replace(b"Original", b"Tampered")

    response = post_ghl(client, ghl, tampered, headers)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid Ed25519 signature"
    assert not WebhookDelivery.objects.exists()


def test_it_refuses_a_signature_that_is_not_base64(client: Client, ghl: Connection, sandbox_keys: Any) -> None:
    response = post_ghl(client, ghl, ghl_body(), {"x-wh-signature": "not base64 !!"})

    assert response.status_code == 401
    assert response.json()["error"] == "x-wh-signature is not base64"


def test_it_refuses_a_missing_signature(client: Client, ghl: Connection, sandbox_keys: Any) -> None:
    response = post_ghl(client, ghl, ghl_body())

    assert response.status_code == 401
    assert response.json()["error"] == signatures.MSG_NO_SIGNATURE
    assert not WebhookDelivery.objects.exists()


def test_without_an_ed25519_key_it_falls_back_to_rsa(
    client: Client, ghl: Connection, sandbox_keys: Any, settings: Any
) -> None:
    settings.GHL_WEBHOOK_ED25519_PUBLIC_KEY = ""
    body = ghl_body()

    only_ed25519 = post_signed_ghl(client, ghl, body, "ed25519")
    both = post_signed_ghl(client, ghl, body, "both")

    assert only_ed25519.status_code == 401
    assert only_ed25519.json()["error"] == signatures.MSG_ED25519_NO_KEY
    assert both.status_code == 200, both.content


def test_an_ed25519_key_given_as_raw_base64_works(client: Client, ghl: Connection, settings: Any) -> None:
    public = sandbox_webhooks.sandbox_webhook_keys().ed25519.public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    settings.GHL_WEBHOOK_ED25519_PUBLIC_KEY = base64.b64encode(raw).decode()

    response = post_signed_ghl(client, ghl, ghl_body(), "ed25519")

    assert response.status_code == 200, response.content


# -- GHL freshness, replays, limits, payloads -------------------------------------------------------------------------


def test_it_refuses_a_stale_timestamp(client: Client, ghl: Connection, sandbox_keys: Any) -> None:
    old = datetime.now(tz=UTC) - timedelta(minutes=10)

    response = post_signed_ghl(client, ghl, ghl_body(timestamp=old))

    assert response.status_code == 401
    assert "s old; deliveries older than 300 s are refused" in response.json()["error"]
    assert not WebhookDelivery.objects.exists()


def test_it_refuses_a_timestamp_far_in_the_future(client: Client, ghl: Connection, sandbox_keys: Any) -> None:
    ahead = datetime.now(tz=UTC) + timedelta(minutes=10)

    response = post_signed_ghl(client, ghl, ghl_body(timestamp=ahead))

    assert response.status_code == 401
    assert "in the future" in response.json()["error"]


def test_the_max_age_is_a_setting(client: Client, ghl: Connection, sandbox_keys: Any, settings: Any) -> None:
    settings.GHL_WEBHOOK_MAX_AGE_SECONDS = 900
    old = datetime.now(tz=UTC) - timedelta(minutes=10)

    assert post_signed_ghl(client, ghl, ghl_body(timestamp=old)).status_code == 200


def test_it_refuses_a_replayed_webhook_id(client: Client, ghl: Connection, sandbox_keys: Any) -> None:
    body = ghl_body(webhookId="wh-replay")

    first = post_signed_ghl(client, ghl, body)
    again = post_signed_ghl(client, ghl, body)
    # Same id in a different (validly signed) body is still a replay.
    other_body = post_signed_ghl(client, ghl, ghl_body(webhookId="wh-replay", lastName="Changed"))

    assert first.status_code == 200
    assert again.status_code == 409
    assert "duplicate delivery" in again.json()["error"]
    assert other_body.status_code == 409
    assert WebhookDelivery.objects.count() == 1


def test_it_refuses_an_oversized_body(client: Client, ghl: Connection, sandbox_keys: Any, settings: Any) -> None:
    settings.WEBHOOK_MAX_BODY_BYTES = 1024
    body = ghl_body(notes="x" * 2000)

    response = post_signed_ghl(client, ghl, body)

    assert response.status_code == 413
    assert response.json()["error"] == "body larger than 1024 bytes"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"type": "ContactUpdate", "id": ', "body is not valid JSON"),
        (b"[1, 2]", "body must be a JSON object"),
        (b'{"type": "ContactUpdate", "id": "c-1"}', "missing or empty field(s): timestamp, webhookId"),
        (
            b'{"type": "ContactUpdate", "id": "c-1", "webhookId": "w", "timestamp": "yesterday"}',
            "timestamp 'yesterday' is not an ISO 8601 time or a Unix time",
        ),
    ],
)
def test_it_answers_400_to_bad_payloads(
    client: Client, ghl: Connection, sandbox_keys: Any, body: bytes, error: str
) -> None:
    response = post_signed_ghl(client, ghl, body)

    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": error}


def test_a_known_event_without_its_id_is_a_400(client: Client, ghl: Connection, sandbox_keys: Any) -> None:
    response = post_signed_ghl(client, ghl, ghl_body("ContactUpdate", id=""))

    assert response.status_code == 400
    assert response.json()["error"] == "ContactUpdate event without 'id'"


def test_an_unknown_event_is_recorded_as_ignored(
    client: Client, ghl: Connection, sandbox_keys: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_signed_ghl(client, ghl, ghl_body("InvoiceCreate"))

    assert response.status_code == 200
    assert response.json() == {"ok": True, "status": "ignored"}
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.IGNORED
    assert delivery.error == "event type 'InvoiceCreate' is not handled"
    assert callbacks == []


def test_unknown_urls_and_methods(client: Client, ghl: Connection, streettext: Connection) -> None:
    assert client.post("/webhooks/ghl/nope/", data=b"{}", content_type="application/json").status_code == 404
    # A StreetText connection's token is not a GHL URL.
    st_on_ghl = client.post(f"/webhooks/ghl/{streettext.webhook_token}/", data=b"{}", content_type="application/json")
    assert st_on_ghl.status_code == 404
    assert client.get(f"/webhooks/ghl/{ghl.webhook_token}/").status_code == 405


def test_the_url_works_without_the_trailing_slash(client: Client, ghl: Connection, sandbox_keys: Any) -> None:
    body = ghl_body()
    headers = sandbox_webhooks.sandbox_webhook_sign_ghl(body=body)

    response = client.post(
        f"/webhooks/ghl/{ghl.webhook_token}", data=body, content_type="application/json", headers=headers
    )

    assert response.status_code == 200, response.content


def test_events_of_another_location_go_to_its_connection(client: Client, ghl: Connection, sandbox_keys: Any) -> None:
    other = Connection.objects.create(
        name="GHL other", system=System.GHL, base_url="https://ghl.invalid", location_id="loc-other", auth_type="pit"
    )

    routed = post_signed_ghl(client, ghl, ghl_body(locationId="loc-other", webhookId="w-routed"))
    unknown = post_signed_ghl(client, ghl, ghl_body(locationId="loc-unknown", webhookId="w-unknown"))

    assert routed.json()["status"] == "queued"
    assert WebhookDelivery.objects.get(webhook_id="w-routed").connection == other
    assert unknown.json()["status"] == "ignored"
    assert (
        WebhookDelivery.objects.get(webhook_id="w-unknown").error
        == "location 'loc-unknown' has no GoHighLevel connection here"
    )


# -- StreetText --------------------------------------------------------------------------------------------------------


def test_streettext_valid_hmac_is_accepted(client: Client, streettext: Connection) -> None:
    response = post_st(client, streettext, st_body())

    assert response.status_code == 200, response.content
    delivery = WebhookDelivery.objects.get()
    assert (delivery.source, delivery.webhook_id, delivery.record_id) == ("streettext", "evt_1", "ct_1")


def test_streettext_invalid_hmac_is_refused(client: Client, streettext: Connection) -> None:
    response = post_st(client, streettext, st_body(), secret="not-the-secret")

    assert response.status_code == 401
    assert response.json()["error"] == "invalid HMAC-SHA256 signature"
    assert not WebhookDelivery.objects.exists()


def test_streettext_missing_or_malformed_signature_is_refused(client: Client, streettext: Connection) -> None:
    url = reverse("webhooks:streettext", kwargs={"token": streettext.webhook_token})

    missing = client.post(url, data=st_body(), content_type="application/json")
    malformed = client.post(
        url, data=st_body(), content_type="application/json", headers={"X-StreetText-Signature": "sha256=abc"}
    )

    assert (missing.status_code, missing.json()["error"]) == (401, signatures.MSG_ST_NO_SIGNATURE)
    assert (malformed.status_code, malformed.json()["error"]) == (401, signatures.MSG_ST_MALFORMED)


def test_streettext_stale_signature_is_refused(client: Client, streettext: Connection) -> None:
    response = post_st(client, streettext, st_body(), signed_at=datetime.now(tz=UTC) - timedelta(minutes=6))

    assert response.status_code == 401
    assert "deliveries older than 300 s are refused" in response.json()["error"]


def test_streettext_replayed_delivery_is_refused(client: Client, streettext: Connection) -> None:
    body = st_body(delivery_id="evt_replay")

    assert post_st(client, streettext, body).status_code == 200
    # Re-signed with a fresh timestamp: the delivery id alone catches it.
    replay = post_st(client, streettext, body)

    assert replay.status_code == 409
    assert WebhookDelivery.objects.count() == 1


def test_streettext_delivery_header_must_match_the_body(client: Client, streettext: Connection) -> None:
    response = post_st(client, streettext, st_body(delivery_id="evt_a"), delivery="evt_b")

    assert response.status_code == 400
    assert "does not match" in response.json()["error"]


def test_streettext_without_a_secret_is_refused(client: Client, streettext: Connection) -> None:
    streettext.webhook_secret = ""
    streettext.save()

    response = post_st(client, streettext, st_body())

    assert response.status_code == 403
    assert "webhooks are not set up" in response.json()["error"]


def test_the_webhook_secret_is_stored_encrypted(streettext: Connection) -> None:
    stored = Connection.objects.get(pk=streettext.pk)

    assert ST_SECRET not in stored.webhook_secret_encrypted
    assert stored.webhook_secret == ST_SECRET


# -- processing ---------------------------------------------------------------------------------------------------


def _record(connection: Connection, event_type: str, payload: dict[str, Any], webhook_id: str) -> WebhookDelivery:
    return services.webhook_delivery_record(
        connection=connection,
        source=connection.system,
        webhook_id=webhook_id,
        event_type=event_type,
        payload=payload,
        payload_size=1,
    )


def test_processing_requests_a_webhook_run_for_exactly_that_record(
    ghl: Connection, mapping: Mapping, django_capture_on_commit_callbacks: Any
) -> None:
    delivery = _record(ghl, "ContactUpdate", {"locationId": LOCATION, "id": "c-42"}, "w-1")

    with django_capture_on_commit_callbacks(execute=False):
        processed = services.webhook_delivery_process(delivery_id=delivery.pk)

    assert processed is not None
    assert processed.status == Status.PROCESSED
    run = SyncRun.objects.get()
    assert (run.mapping, run.trigger, run.only_ids) == (mapping, SyncRun.Trigger.WEBHOOK, {"ghl": ["c-42"]})
    assert list(processed.runs.all()) == [run]
    # Processing twice does nothing more.
    services.webhook_delivery_process(delivery_id=delivery.pk)
    assert SyncRun.objects.count() == 1


def test_streettext_events_trigger_mappings_that_read_streettext(
    streettext: Connection, mapping: Mapping, django_capture_on_commit_callbacks: Any
) -> None:
    delivery = _record(streettext, "contact.deleted", {"id": "evt", "data": {"contact": {"id": "ct_9"}}}, "evt_9")

    with django_capture_on_commit_callbacks(execute=False):
        services.webhook_delivery_process(delivery_id=delivery.pk)

    assert SyncRun.objects.get().only_ids == {"streettext": ["ct_9"]}


def test_a_mapping_that_does_not_read_the_sender_is_not_triggered(
    ghl: Connection, mapping: Mapping, django_capture_on_commit_callbacks: Any
) -> None:
    Mapping.objects.filter(pk=mapping.pk).update(direction=Direction.TO_GHL)
    delivery = _record(ghl, "ContactCreate", {"locationId": LOCATION, "id": "c-1"}, "w-2")

    services.webhook_delivery_process(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert delivery.status == Status.IGNORED
    assert delivery.error == "no enabled mapping reads contact records from this connection"
    assert not SyncRun.objects.exists()


def test_task_and_note_events_name_the_record_under_its_contact(ghl: Connection) -> None:
    target = services.webhook_event_target(
        source="ghl", event_type="TaskCreate", payload={"id": "t1", "contactId": "c1"}
    )
    assert target == services.EventTarget(object_type="task", record_id="c1/t1", contact_id="c1")
    # GHL sends some task events without contactId: the bare id is kept, processing resolves it.
    bare = services.webhook_event_target(source="ghl", event_type="TaskCreate", payload={"id": "t9"})
    assert bare == services.EventTarget(object_type="task", record_id="t9", contact_id="")


def test_a_task_event_without_its_contact_resolves_the_task_through_its_link_or_a_scan(
    ghl: Connection, mapping: Mapping, django_capture_on_commit_callbacks: Any
) -> None:
    Mapping.objects.filter(pk=mapping.pk).update(object_type="task")
    RecordLink.objects.create(
        ghl_connection=ghl,
        streettext_connection=mapping.streettext_connection,
        object_type="task",
        ghl_id="c-7/known-task",
        streettext_id="tk_1",
    )
    known = _record(ghl, "TaskComplete", {"locationId": LOCATION, "id": "known-task"}, "w-known")
    unknown = _record(ghl, "TaskCreate", {"locationId": LOCATION, "id": "new-task"}, "w-unknown")
    assert known.status == unknown.status == Status.QUEUED

    with django_capture_on_commit_callbacks(execute=False):
        services.webhook_delivery_process(delivery_id=known.pk)
    run = SyncRun.objects.get(webhook_deliveries=known)
    assert run.only_ids == {"ghl": ["c-7/known-task"]}
    run.status = SyncRun.Status.SUCCEEDED
    run.save()

    with django_capture_on_commit_callbacks(execute=False):
        services.webhook_delivery_process(delivery_id=unknown.pk)
    scan = SyncRun.objects.get(webhook_deliveries=unknown)
    # Never linked: its id alone addresses nothing in GHL, so a scan run (changes since the cursor) finds it.
    assert (scan.only_ids, scan.scope) == ({}, SyncRun.Scope.CHANGES)


def test_a_streettext_contact_created_event_runs_the_enrich_pattern(
    ghl: Connection, streettext: Connection, django_capture_on_commit_callbacks: Any
) -> None:
    (pattern,) = preset_create(key="contact_data_sync", ghl=ghl, streettext=streettext)
    delivery = _record(streettext, "contact.created", {"id": "evt_1", "data": {"contact": {"id": "ct_9"}}}, "evt_1")

    with django_capture_on_commit_callbacks(execute=False):
        services.webhook_delivery_process(delivery_id=delivery.pk)

    run = SyncRun.objects.get(webhook_deliveries=delivery)
    assert run.mapping_id == pattern.pk
    assert run.only_ids == {"streettext": ["ct_9"]}


def test_task_events_trigger_task_mappings_when_there_are_some(
    ghl: Connection, mapping: Mapping, django_capture_on_commit_callbacks: Any
) -> None:
    Mapping.objects.filter(pk=mapping.pk).update(object_type="task")
    delivery = _record(ghl, "TaskComplete", {"locationId": LOCATION, "id": "task-1", "contactId": "c-7"}, "w-task")

    with django_capture_on_commit_callbacks(execute=False):
        services.webhook_delivery_process(delivery_id=delivery.pk)

    assert SyncRun.objects.get().only_ids == {"ghl": ["c-7/task-1"]}


@pytest.mark.parametrize(
    ("event_type", "payload", "expected_id"),
    [
        ("TaskCreate", {"id": "task-1", "contactId": "c-7"}, "c-7"),
        ("NoteDelete", {"id": "note-1", "contactId": "c-8"}, "c-8"),
        ("AppointmentUpdate", {"appointment": {"id": "appt-1", "contactId": "c-9"}}, "c-9"),
    ],
)
def test_task_note_and_appointment_events_sync_their_contact(
    ghl: Connection,
    mapping: Mapping,
    django_capture_on_commit_callbacks: Any,
    event_type: str,
    payload: dict[str, Any],
    expected_id: str,
) -> None:
    delivery = _record(ghl, event_type, {"locationId": LOCATION, **payload}, f"w-{event_type}")

    with django_capture_on_commit_callbacks(execute=False):
        services.webhook_delivery_process(delivery_id=delivery.pk)

    assert SyncRun.objects.get().only_ids == {"ghl": [expected_id]}


def test_a_webhook_during_an_active_run_is_deferred_then_retried_in_one_run(
    ghl: Connection, mapping: Mapping, django_capture_on_commit_callbacks: Any
) -> None:
    active = SyncRun.objects.create(mapping=mapping, trigger=SyncRun.Trigger.SCHEDULE, status=SyncRun.Status.RUNNING)
    first = _record(ghl, "ContactUpdate", {"locationId": LOCATION, "id": "c-1"}, "w-a")
    second = _record(ghl, "ContactDelete", {"locationId": LOCATION, "id": "c-2"}, "w-b")
    again = _record(ghl, "ContactTagUpdate", {"locationId": LOCATION, "id": "c-1"}, "w-c")

    for delivery in (first, second, again):
        services.webhook_delivery_process(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        assert delivery.status == Status.DEFERRED
        assert delivery.pending_mapping_ids == [mapping.pk]
        assert f"run #{active.pk}" in delivery.error

    # Still busy: the retry leaves them deferred.
    assert services.webhook_deliveries_retry()["still_deferred"] == 3
    SyncRun.objects.filter(pk=active.pk).update(status=SyncRun.Status.SUCCEEDED)

    with django_capture_on_commit_callbacks(execute=False):
        result = services.webhook_deliveries_retry()

    assert result["runs"] == 1
    run = SyncRun.objects.get(trigger=SyncRun.Trigger.WEBHOOK)
    assert run.only_ids == {"ghl": ["c-1", "c-2"]}
    for delivery in (first, second, again):
        delivery.refresh_from_db()
        assert delivery.status == Status.PROCESSED
        assert (delivery.pending_mapping_ids, delivery.error) == ([], "")
        assert list(delivery.runs.all()) == [run]


def test_the_retry_rescues_queued_deliveries_whose_task_was_lost(
    ghl: Connection, mapping: Mapping, django_capture_on_commit_callbacks: Any
) -> None:
    delivery = _record(ghl, "ContactUpdate", {"locationId": LOCATION, "id": "c-1"}, "w-lost")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(received_at=datetime.now(tz=UTC) - timedelta(minutes=10))

    with django_capture_on_commit_callbacks(execute=False):
        result = services.webhook_deliveries_retry()

    assert result["rescued"] == 1
    delivery.refresh_from_db()
    assert delivery.status == Status.PROCESSED


def test_the_retry_prunes_old_deliveries(ghl: Connection, settings: Any) -> None:
    delivery = _record(ghl, "InvoiceCreate", {}, "w-old")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(received_at=datetime.now(tz=UTC) - timedelta(days=31))

    assert services.webhook_deliveries_retry()["pruned"] == 1


# -- pure helpers ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["2025-01-28T14:35:00Z", "2025-01-28T14:35:00", 1738075000, "1738075000", 1738075000000, 1738075000.5],
)
def test_timestamps_are_iso_or_unix_seconds_or_milliseconds(value: Any) -> None:
    parsed = signatures.parse_timestamp(value)

    assert parsed.tzinfo is not None
    assert parsed.year == 2025


def test_the_streettext_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"s3cret", b"1700000000.{}", hashlib.sha256).hexdigest()

    assert signatures.streettext_signature_header(secret="s3cret", body=b"{}", timestamp=1700000000) == (
        f"t=1700000000,v1={expected}"
    )


# -- admin and sandbox --------------------------------------------------------------------------------------------


def test_the_connection_page_shows_the_webhook_url(admin_client: Client, ghl: Connection, settings: Any) -> None:
    page = admin_client.get(reverse("admin:integrations_connection_change", args=[ghl.pk]))
    assert f"http://testserver/webhooks/ghl/{ghl.webhook_token}/" in page.content.decode()

    settings.WEBHOOK_PUBLIC_BASE_URL = "https://sync.example.com"
    page = admin_client.get(reverse("admin:integrations_connection_change", args=[ghl.pk]))
    assert f"https://sync.example.com/webhooks/ghl/{ghl.webhook_token}/" in page.content.decode()


def test_the_admin_saves_a_write_only_webhook_secret(admin_client: Client, streettext: Connection) -> None:
    url = reverse("admin:integrations_connection_change", args=[streettext.pk])
    data = {
        "name": streettext.name,
        "system": streettext.system,
        "base_url": streettext.base_url,
        "location_id": "",
        "auth_type": streettext.auth_type,
        "secret": "",
        "webhook_secret": "new-webhook-secret",
    }

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:2000]
    streettext.refresh_from_db()
    assert streettext.webhook_secret == "new-webhook-secret"
    assert "new-webhook-secret" not in admin_client.get(url).content.decode()


def test_the_delivery_list_is_read_only(admin_client: Client, ghl: Connection) -> None:
    delivery = _record(ghl, "InvoiceCreate", {}, "w-admin")

    assert admin_client.get(reverse("admin:integrations_webhookdelivery_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:integrations_webhookdelivery_change", args=[delivery.pk])).status_code == 200
    assert admin_client.get(reverse("admin:integrations_webhookdelivery_add")).status_code == 403


def test_tokens_are_unique_and_url_safe(ghl: Connection, streettext: Connection) -> None:
    assert ghl.webhook_token != streettext.webhook_token
    assert len(ghl.webhook_token) >= 40
    assert reverse("webhooks:ghl", kwargs={"token": ghl.webhook_token}).endswith(f"/{ghl.webhook_token}/")


def test_the_sandbox_publishes_its_test_public_keys(client: Client) -> None:
    response = client.get("/sandbox/_control/webhooks/keys")

    assert response.status_code == 200
    assert response.json()["ed25519"].startswith("-----BEGIN PUBLIC KEY-----")
    assert response.json() == sandbox_webhooks.sandbox_webhook_public_keys()


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_control_endpoint_signs_and_sends_a_delivery(
    live_server: Any, ghl: Connection, sandbox_keys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from integrations import enqueue

    enqueued: list[int] = []
    monkeypatch.setattr(enqueue, "process_webhook", enqueued.append)
    url = live_server.url + services.webhook_path(ghl)
    request = {
        "system": "ghl",
        "url": url,
        "event_type": "ContactCreate",
        "payload": {"locationId": LOCATION, "id": "c-5"},
    }

    sent = Client().post("/sandbox/_control/webhooks/send", data=request, content_type="application/json")
    unsigned = Client().post(
        "/sandbox/_control/webhooks/send", data={**request, "sign_with": "none"}, content_type="application/json"
    )

    assert sent.status_code == 200
    assert sent.json()["status"] == 200, sent.json()
    assert sent.json()["response"] == {"ok": True, "status": "queued"}
    assert unsigned.json()["status"] == 401
    delivery = WebhookDelivery.objects.get()
    assert (delivery.record_id, delivery.webhook_id) == ("c-5", sent.json()["payload"]["webhookId"])
    assert enqueued == [delivery.pk]


@pytest.mark.parametrize("setting", ["GHL_WEBHOOK_ED25519_PUBLIC_KEY", "GHL_WEBHOOK_RSA_PUBLIC_KEY"])
def test_a_broken_key_setting_is_a_401_not_a_500(
    client: Client, ghl: Connection, sandbox_keys: Any, settings: Any, setting: str
) -> None:
    setattr(settings, setting, "-----BEGIN PUBLIC KEY-----\nbroken\n-----END PUBLIC KEY-----")
    sign_with = "ed25519" if "ED25519" in setting else "rsa"

    response = post_signed_ghl(client, ghl, ghl_body(), sign_with)

    assert response.status_code == 401
    assert response.json()["error"] == f"{setting} is not a PEM public key"


def test_deliveries_beyond_the_per_minute_limit_get_429(
    client: Client, ghl: Connection, sandbox_keys: Any, settings: Any
) -> None:
    settings.WEBHOOK_MAX_PER_MINUTE = 3
    answers = [post_signed_ghl(client, ghl, ghl_body(webhookId=f"wh-rate-{i}")).status_code for i in range(5)]
    assert answers == [200, 200, 200, 429, 429]
    refused = post_signed_ghl(client, ghl, ghl_body(webhookId="wh-rate-9"))
    assert refused["Retry-After"] == "60"
    assert WebhookDelivery.objects.count() == 3


# -- hostile input: every webhook input gets a 4xx, never a 500 (Hardening #3) -----------------------------------


def post_st_raw(client: Client, connection: Connection, body: bytes, header: str) -> Any:
    return client.post(
        reverse("webhooks:streettext", kwargs={"token": connection.webhook_token}),
        data=body,
        content_type="application/json",
        headers={signatures.STREETTEXT_SIGNATURE_HEADER: header},
    )


def st_signed_header(body: bytes, timestamp: str, secret: str = ST_SECRET) -> str:
    """A header signed over any `t` text (what a sender holding the secret can produce)."""
    signature = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


@pytest.mark.parametrize("timestamp", ["²", "١٢٣", "𝟗𝟗", "12³"])
def test_a_streettext_timestamp_of_unicode_digits_is_a_401_not_a_500(streettext: Connection, timestamp: str) -> None:
    client = Client(raise_request_exception=False)
    body = st_body()
    for header in (f"t={timestamp},v1=00", st_signed_header(body, timestamp)):
        response = post_st_raw(client, streettext, body, header)

        assert response.status_code == 401, header
        assert response.json() == {"ok": False, "error": signatures.MSG_ST_MALFORMED}


@pytest.mark.parametrize("v1", ["ä" * 64, "€", "\u200b" + "0" * 63])
def test_a_streettext_signature_with_non_ascii_characters_is_a_401(streettext: Connection, v1: str) -> None:
    client = Client(raise_request_exception=False)
    header = f"t={int(datetime.now(tz=UTC).timestamp())},v1={v1}"

    # The test client sends str headers as they are (a WSGI server would decode them as latin-1).
    response = post_st_raw(client, streettext, st_body(), header)

    assert response.status_code == 401
    assert response.json()["error"] == signatures.MSG_ST_BAD_SIGNATURE


def deep_json(depth: int) -> bytes:
    return b'{"type": "contact.updated", "id": "evt_deep", "data": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("depth", [100, 1_000, 100_000])
def test_validly_signed_deeply_nested_json_is_a_400(
    streettext: Connection, ghl: Connection, sandbox_keys: Any, depth: int, settings: Any
) -> None:
    settings.WEBHOOK_MAX_BODY_BYTES = 1_000_000
    client = Client(raise_request_exception=False)
    body = deep_json(depth)

    now = str(int(datetime.now(tz=UTC).timestamp()))
    st_answer = post_st_raw(client, streettext, body, st_signed_header(body, now))
    ghl_answer = post_signed_ghl(client, ghl, body)

    for response in (st_answer, ghl_answer):
        assert response.status_code == 400
        assert response.json()["error"] == views.MSG_TOO_DEEP.format(limit=settings.WEBHOOK_MAX_JSON_DEPTH)


@pytest.mark.parametrize("timestamp", ["²", "١٧٠٠٠٠٠٠٠٠", " ²³ ", "1e999", "-0x10", "NaN"])
def test_a_validly_signed_ghl_timestamp_that_is_not_a_time_is_a_400(
    ghl: Connection, sandbox_keys: Any, timestamp: str
) -> None:
    client = Client(raise_request_exception=False)
    body = json.dumps({"type": "ContactUpdate", "webhookId": "wh-odd-ts", "timestamp": timestamp, "id": "c-1"}).encode()

    response = post_signed_ghl(client, ghl, body)

    assert response.status_code == 400
    assert response.json()["error"] == signatures.MSG_BAD_TIMESTAMP.format(value=timestamp)


@pytest.mark.parametrize("field", ["type", "webhookId"])
def test_a_validly_signed_ghl_body_whose_id_fields_are_not_scalars_is_a_400(
    ghl: Connection, sandbox_keys: Any, field: str
) -> None:
    client = Client(raise_request_exception=False)
    payload: dict[str, Any] = {
        "type": "ContactUpdate",
        "webhookId": "wh-odd-field",
        "timestamp": datetime.now(tz=UTC).isoformat(),
        "id": "c-1",
    }
    payload[field] = [[["x"]], {"a": 1}]

    response = post_signed_ghl(client, ghl, json.dumps(payload).encode())

    assert response.status_code == 400
    assert response.json()["error"] == views.MSG_NOT_TEXT.format(field=field)


@pytest.mark.django_db(transaction=True)
def test_the_per_minute_limit_holds_under_parallel_senders(
    live_server: Any, streettext: Connection, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import requests

    from integrations import enqueue

    monkeypatch.setattr(enqueue, "process_webhook", lambda *args: None)  # no broker in this test
    settings.WEBHOOK_MAX_PER_MINUTE = 30
    senders, each = 20, 3
    url = live_server.url + reverse("webhooks:streettext", kwargs={"token": streettext.webhook_token})
    start = threading.Barrier(senders)
    answers: list[int] = []

    def send(sender: int) -> None:
        bodies = [st_body(delivery_id=f"evt_{sender}_{n}") for n in range(each)]
        stamp = int(datetime.now(tz=UTC).timestamp())
        headers = [st_signed_header(body, str(stamp)) for body in bodies]
        start.wait()
        for body, header in zip(bodies, headers, strict=True):
            answer = requests.post(
                url,
                data=body,
                headers={"Content-Type": "application/json", signatures.STREETTEXT_SIGNATURE_HEADER: header},
                timeout=30,
            )
            answers.append(answer.status_code)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(set(answers)) == [200, 429]
    assert answers.count(200) == 30
    assert WebhookDelivery.objects.count() == 30
