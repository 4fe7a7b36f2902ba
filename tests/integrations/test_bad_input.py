"""Generated bad input: forms, webhook bodies and odd API answers get a clear error, never a crash (hypothesis)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.adapters import ghl as ghl_adapter
from integrations.adapters import streettext as st_adapter
from integrations.clients.exceptions import ApiError
from integrations.models import Connection
from mappings.forms import FieldMappingForm, MappingForm
from mappings.models import FieldMapping, Mapping
from mappings.pipeline import ChainError, ChainSyntaxError, parse_chain, validate_chain

pytestmark = pytest.mark.django_db
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
def test_webhook_endpoints_answer_4xx_to_garbage(mapping: Mapping, body: bytes, signature: str) -> None:
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
