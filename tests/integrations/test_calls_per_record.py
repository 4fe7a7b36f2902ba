"""GHL requests per record: a page of StreetText contacts created in GHL, then the same contacts updated, against the
sandbox over real HTTP (live_server), counted by the sandbox's request counters. Rate limits are off: what is
counted is the engine's and the adapter's calls, not the governor's waits."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.models import SyncRun
from integrations.services.sync import sync_run_execute
from mappings.models import Mapping
from sandbox import services as sandbox
from sandbox.models import SandboxRecord
from tests.integrations.support import st_contacts_to_ghl

pytestmark = pytest.mark.django_db(transaction=True)

PAGE = 100
# Goal (docs: `manage.py benchmark --only calls`): at most 1.2 GHL requests per created or updated contact.
MAX_PER_RECORD = 1.2


@pytest.fixture(autouse=True)
def _no_limits(settings: Any) -> None:
    settings.RATE_LIMIT_BACKEND = "off"
    settings.SANDBOX_RATE_LIMIT = 1_000_000
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 1_000_000
    settings.SYNC_PAGE_SIZE = PAGE


def _sync(mapping: Mapping) -> tuple[SyncRun, int]:
    """One run, and the GHL requests it sent."""
    sandbox.sandbox_stats_reset()
    run = SyncRun.objects.create(mapping=mapping, trigger=SyncRun.Trigger.MANUAL)
    sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run, sandbox.sandbox_stats()["ghl"]["requests"]


def _ghl_last_names() -> set[str]:
    rows = SandboxRecord.objects.filter(account__system="ghl", object_type="contact", deleted=False)
    return {str(r.data.get("lastName")) for r in rows}


def test_a_page_of_creates_costs_one_upsert_each_and_one_search_per_match_rule(live_server: Any) -> None:
    mapping = st_contacts_to_ghl(live_server.url, PAGE, word="calls")

    run, ghl_requests = _sync(mapping)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.created == PAGE
    # Each contact: one upsert. The page: one OR search per match rule (email, phone), nothing per record.
    assert ghl_requests <= PAGE + 2 + 1, ghl_requests
    assert ghl_requests / run.created <= MAX_PER_RECORD


def test_a_page_of_one_field_updates_costs_one_put_each_and_one_read_of_the_page(live_server: Any) -> None:
    mapping = st_contacts_to_ghl(live_server.url, PAGE, word="calls")
    first, _ = _sync(mapping)
    assert first.created == PAGE
    for record in SandboxRecord.objects.filter(account__system="streettext", object_type="contact"):
        data = {**record.data, "last_name": "Recounted"}
        sandbox.sandbox_record_put(account=record.account, object_type="contact", record_id=record.record_id, data=data)

    run, ghl_requests = _sync(mapping)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.updated == PAGE
    assert _ghl_last_names() == {"Recounted"}
    # Each contact: one PUT. The page: the linked contacts read in one search by id.
    assert ghl_requests <= PAGE + 1 + 1, ghl_requests
    assert ghl_requests / run.updated <= MAX_PER_RECORD
