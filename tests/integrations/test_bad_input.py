"""Generated bad input: forms, webhook bodies and odd API answers get a clear error, never a crash (hypothesis)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from integrations.adapters import ghl as ghl_adapter
from integrations.adapters import streettext as st_adapter
from integrations.clients.exceptions import ApiError
from integrations.models import Connection
from integrations.webhooks import signatures
from mappings.forms import FieldMappingForm, MappingForm
from mappings.models import FieldMapping, Mapping
from mappings.pipeline import ChainError, ChainSyntaxError, parse_chain, validate_chain
from sandbox import webhooks as sandbox_webhooks

pytestmark = pytest.mark.django_db
ST_SECRET = "whsec-property-test"
SLOW_OK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


@pytest.fixture
def mapping() -> Mapping:
    ghl = Connection.objects.create(name="G", system="ghl", base_url="http://x", location_id="l", auth_type="pit")
    st_conn = Connection.objects.create(name="S", system="streettext", base_url="http://x", auth_type="api_key")
    return Mapping.objects.create(name="m", ghl_connection=ghl, streettext_connection=st_conn)


@SLOW_OK
@given(text=st.text(max_size=80))
def test_any_transform_chain_text_parses_or_is_refused_clearly(text: str) -> None:
    message = "ok"
    try:
        validate_chain(parse_chain(text))
    except (ChainSyntaxError, ChainError) as e:
        message = str(e)
    assert message  # refusals always say why


@SLOW_OK
@given(
    data=st.dictionaries(
        st.sampled_from(["target_field", "source", "source_kind", "transforms", "direction"]), st.text(max_size=40)
    )
)
def test_field_mapping_form_never_crashes(mapping: Mapping, data: dict[str, str]) -> None:
    form = FieldMappingForm(data=data, instance=FieldMapping(mapping=mapping))
    if not form.is_valid():
        assert all(str(message) for messages in form.errors.values() for message in messages)


@SLOW_OK
@given(
    rules=st.text(max_size=40),
    region=st.text(max_size=4),
    schedule=st.text(max_size=4),
    followups=st.one_of(st.text(max_size=40), json_values.map(json.dumps)),
)
def test_mapping_form_never_crashes(mapping: Mapping, rules: str, region: str, schedule: str, followups: str) -> None:
    data = {
        "name": "m",
        "object_type": "contact",
        "ghl_connection": mapping.ghl_connection_id,
        "streettext_connection": mapping.streettext_connection_id,
        "direction": "to_streettext",
        "match_rules": rules,
        "phone_region": region,
        "conflict_policy": "newest_wins",
        "mode": "sync",
        "delete_policy": "unlink",
        "schedule_minutes": schedule,
        "followup_rules": followups,
    }
    form = MappingForm(data=data, instance=mapping)
    form.is_valid()


@SLOW_OK
@given(
    payload=st.dictionaries(
        st.sampled_from(
            ["id", "firstName", "email", "phone", "tags", "customFields", "dateUpdated", "dnd", "searchAfter"]
        ),
        json_values,
    )
)
def test_odd_ghl_contacts_are_read_or_refused_with_an_api_error(payload: dict[str, Any]) -> None:
    try:
        record = ghl_adapter.contact_to_record(payload)
    except ApiError:
        return
    assert isinstance(record.values, dict)


@SLOW_OK
@given(
    payload=st.dictionaries(
        st.sampled_from(["id", "first_name", "email", "phone", "tags", "custom", "updated_at", "opted_out"]),
        json_values,
    )
)
def test_odd_streettext_contacts_are_read_or_refused_with_an_api_error(payload: dict[str, Any]) -> None:
    try:
        record = st_adapter.contact_to_record(payload)
    except ApiError:
        return
    assert isinstance(record.values, dict)


@SLOW_OK
@given(body=st.binary(max_size=300), signature=st.text(max_size=60))
def test_webhook_endpoints_answer_4xx_to_unsigned_garbage(mapping: Mapping, body: bytes, signature: str) -> None:
    client = Client(raise_request_exception=False)
    ghl = client.post(
        reverse("webhooks:ghl", kwargs={"token": mapping.ghl_connection.webhook_token}),
        data=body,
        content_type="application/json",
        headers={"x-ghl-signature": signature, "x-wh-signature": signature},
    )
    streettext = client.post(
        reverse("webhooks:streettext", kwargs={"token": mapping.streettext_connection.webhook_token}),
        data=body,
        content_type="application/json",
        headers={"X-StreetText-Signature": signature},
    )
    assert 400 <= ghl.status_code < 500
    assert 400 <= streettext.status_code < 500
    assert ghl.json()["ok"] is False


# -- signed bodies: what a sender holding the key can send gets past the signature check and reaches the parser ------

# Digits that str.isdigit() accepts and int() may not, and times that are no times.
odd_times = st.sampled_from(
    ["²", "١٢٣", "𝟗", "12³", "", " ", "1e999", "-1", "9" * 40, "NaN", "2026-13-45", "T", "0x10"]
)
deep = st.integers(min_value=1, max_value=100_000).map(lambda n: "[" * n + "]" * n)


def _fresh_times() -> st.SearchStrategy[Any]:
    now = datetime.now(tz=UTC)
    return st.sampled_from([now.isoformat(), int(now.timestamp() * 1000), str(int(now.timestamp()))])


def _fresh_seconds() -> st.SearchStrategy[str]:
    return st.just(str(int(datetime.now(tz=UTC).timestamp())))


# Repeated branches weigh the draw towards deliveries that get through to the handler.
fresh = st.deferred(_fresh_times)
ghl_timestamps = st.one_of(fresh, fresh, fresh, odd_times, json_values, st.integers(), st.floats())
events = st.sampled_from(["ContactUpdate", "TaskCreate", "NoteDelete", "AppointmentCreate", "Nope"])
ghl_events = st.one_of(events, events, events, st.text(), json_values)
ids = st.one_of(st.uuids().map(str), st.uuids().map(str), st.uuids().map(str), json_values)


@st.composite
def signed_ghl_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["event", "deep", "raw"]))
    if kind == "raw":
        return draw(st.binary(max_size=300))
    fields: dict[str, Any] = {
        "type": draw(ghl_events),
        "webhookId": draw(ids),
        "timestamp": draw(ghl_timestamps),
        "locationId": "l",
        "id": draw(st.one_of(st.text(max_size=70), json_values)),
        "contactId": draw(st.one_of(st.text(max_size=10), json_values)),
        "appointment": draw(json_values),
    }
    text = json.dumps(fields)
    if kind == "deep":
        text = text[:-1] + ', "nested": ' + draw(deep) + "}"
    return text.encode()


@st.composite
def signed_streettext_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["event", "deep", "raw"]))
    if kind == "raw":
        return draw(st.binary(max_size=300))
    fields = {
        "id": draw(ids),
        "type": draw(st.one_of(st.sampled_from(["contact.created", "contact.deleted", "x"]), st.text(), json_values)),
        "data": draw(st.one_of(st.fixed_dictionaries({"contact": st.fixed_dictionaries({"id": ids})}), json_values)),
    }
    text = json.dumps(fields)
    if kind == "deep":
        text = text[:-1] + ', "nested": ' + draw(deep) + "}"
    return text.encode()


@pytest.fixture
def trusted_sandbox_keys(settings: Any) -> None:
    keys = sandbox_webhooks.sandbox_webhook_public_keys()
    settings.GHL_WEBHOOK_ED25519_PUBLIC_KEY = keys["ed25519"]
    settings.GHL_WEBHOOK_RSA_PUBLIC_KEY = keys["rsa"]
    settings.WEBHOOK_MAX_BODY_BYTES = 1_000_000


def _refused_or_accepted(response: Any) -> None:
    assert response.status_code == 200 or 400 <= response.status_code < 500, response.content[:300]
    assert response.json()["ok"] is (response.status_code == 200)
    # --hypothesis-show-statistics lists what the generated deliveries got (they must reach past the signature).
    event(f"{response.status_code} {response.json().get('error', 'accepted')[:40]}")


@SLOW_OK
@given(body=signed_ghl_bodies(), scheme=st.sampled_from(["ed25519", "rsa"]))
def test_signed_ghl_webhooks_get_a_4xx_or_are_accepted_never_a_500(
    mapping: Mapping, trusted_sandbox_keys: None, body: bytes, scheme: str
) -> None:
    client = Client(raise_request_exception=False)
    response = client.post(
        reverse("webhooks:ghl", kwargs={"token": mapping.ghl_connection.webhook_token}),
        data=body,
        content_type="application/json",
        headers=sandbox_webhooks.sandbox_webhook_sign_ghl(body=body, sign_with=scheme),
    )
    # Signed, so the signature check passes: whatever happens next is the parser's and the handler's doing.
    assert response.status_code != 401 or "signature" not in response.json()["error"]
    _refused_or_accepted(response)


@SLOW_OK
@given(
    body=signed_streettext_bodies(),
    timestamp=st.one_of(st.deferred(_fresh_seconds), st.deferred(_fresh_seconds), odd_times, st.text()),
)
def test_signed_streettext_webhooks_get_a_4xx_or_are_accepted_never_a_500(
    mapping: Mapping, body: bytes, timestamp: str
) -> None:
    connection = mapping.streettext_connection
    connection.webhook_secret = ST_SECRET
    connection.save()
    signature = hmac.new(ST_SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    client = Client(raise_request_exception=False)
    response = client.post(
        reverse("webhooks:streettext", kwargs={"token": connection.webhook_token}),
        data=body,
        content_type="application/json",
        headers={"X-StreetText-Signature": f"t={timestamp},v1={signature}"},
    )
    if timestamp.isascii() and timestamp.isdigit() and len(timestamp) < 12:
        assert response.status_code != 401 or response.json()["error"] != signatures.MSG_ST_BAD_SIGNATURE
    _refused_or_accepted(response)
