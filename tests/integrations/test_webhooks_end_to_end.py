"""Webhooks for real: the sandbox signs and POSTs to the app on live_server; a real Celery worker does the work."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
import requests

from integrations.models import RecordHistory, RecordLink, SyncCursor, SyncRun, WebhookDelivery
from integrations.webhooks.services import webhook_path
from integrations.webhooks.tasks import retry_deferred_webhooks_task
from mappings.models import Direction
from sandbox.webhooks import sandbox_webhook_public_keys, sandbox_webhook_send
from tests.conftest import wait_for
from tests.integrations.support import GHL_TOKEN, LOCATION, build_world, run_via_worker, sandbox_contacts, wait_finished

pytestmark = pytest.mark.worker

Status = WebhookDelivery.Status


@pytest.fixture(autouse=True)
def _trust_sandbox_keys(settings: Any) -> None:
    """The app (live_server runs in this process) trusts the sandbox's test keys; StreetText limits are lifted."""
    keys = sandbox_webhook_public_keys()
    settings.GHL_WEBHOOK_ED25519_PUBLIC_KEY = keys["ed25519"]
    settings.GHL_WEBHOOK_RSA_PUBLIC_KEY = keys["rsa"]
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000


def _send_contact_update(live_url: str, world: Any, contact_id: str, **fields: Any) -> Any:
    sent = sandbox_webhook_send(
        system="ghl",
        url=live_url + webhook_path(world.ghl),
        event_type="ContactUpdate",
        payload={"locationId": LOCATION, "id": contact_id, **fields},
        sign_with="ed25519",
    )
    assert sent.status == 200, sent.response
    return sent


def _delivery_with_status(webhook_id: str, status: str) -> WebhookDelivery | None:
    return WebhookDelivery.objects.filter(webhook_id=webhook_id, status=status).first()


def test_a_signed_contact_update_runs_a_webhook_sync_of_exactly_that_contact(live_server: Any, worker: Any) -> None:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT, size=20)
    first = run_via_worker(world.mapping)
    assert first.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL), first.error
    link = RecordLink.objects.order_by("pk").first()
    assert link is not None
    cursor_before = SyncCursor.objects.get(mapping=world.mapping, system="ghl").position
    assert cursor_before

    # Someone edits the contact in GHL; GHL sends ContactUpdate.
    edited = requests.put(
        f"{world.ghl.base_url}/contacts/{link.ghl_id}",
        json={"lastName": "Webhook-Edited"},
        headers={"Authorization": f"Bearer {GHL_TOKEN}", "Version": "2021-07-28"},
        timeout=10,
    )
    assert edited.status_code == 200, edited.text
    sent = _send_contact_update(live_server.url, world, link.ghl_id, lastName="Webhook-Edited")

    run = wait_for(
        lambda: SyncRun.objects.filter(mapping=world.mapping, trigger=SyncRun.Trigger.WEBHOOK).first(),
        message="no webhook run was requested",
    )
    run = wait_finished(run)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.only_ids == {"ghl": [link.ghl_id]}
    assert (run.processed, run.updated) == (1, 1)
    row = RecordHistory.objects.get(run=run)
    assert (row.ghl_id, row.streettext_id, row.action) == (
        link.ghl_id,
        link.streettext_id,
        RecordHistory.Action.UPDATED,
    )
    assert row.changes["last_name"]["after"] == "Webhook-Edited"
    assert row.changes["last_name"]["before"] != "Webhook-Edited"
    st_contact = next(c for c in sandbox_contacts("streettext") if c["id"] == link.streettext_id)
    assert st_contact["last_name"] == "Webhook-Edited"
    delivery = WebhookDelivery.objects.get(webhook_id=sent.payload["webhookId"])
    assert delivery.status == Status.PROCESSED
    assert list(delivery.runs.all()) == [run]
    # The webhook run left the mapping's cursor where the full run put it (the reconciliation poll's position).
    assert SyncCursor.objects.get(mapping=world.mapping, system="ghl").position == cursor_before


def test_a_webhook_during_an_active_run_is_deferred_then_processed_by_the_periodic_retry(
    live_server: Any, worker: Any
) -> None:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT, size=20)
    busy = SyncRun.objects.create(mapping=world.mapping, trigger=SyncRun.Trigger.MANUAL, status=SyncRun.Status.RUNNING)
    ids = [c["id"] for c in sandbox_contacts("ghl")[:2]]

    sent = [_send_contact_update(live_server.url, world, contact_id) for contact_id in ids]
    webhook_ids = [s.payload["webhookId"] for s in sent]
    for webhook_id in webhook_ids:
        wait_for(partial(_delivery_with_status, webhook_id, Status.DEFERRED), message=f"{webhook_id} not deferred")
    assert not SyncRun.objects.filter(trigger=SyncRun.Trigger.WEBHOOK).exists()

    # The active run ends; the every-minute retry requests one run for both contacts.
    SyncRun.objects.filter(pk=busy.pk).update(status=SyncRun.Status.SUCCEEDED)
    retry_deferred_webhooks_task.delay()

    run = wait_for(
        lambda: SyncRun.objects.filter(mapping=world.mapping, trigger=SyncRun.Trigger.WEBHOOK).first(),
        message="the retry requested no run",
    )
    run = wait_finished(run)
    assert run.only_ids == {"ghl": ids}
    assert run.processed == 2
    assert set(RecordHistory.objects.filter(run=run).values_list("ghl_id", flat=True)) == set(ids)
    for webhook_id in webhook_ids:
        delivery = WebhookDelivery.objects.get(webhook_id=webhook_id)
        assert delivery.status == Status.PROCESSED
        assert list(delivery.runs.all()) == [run]


def test_two_way_with_webhooks_and_polling_has_no_echo_and_loses_no_edit(live_server: Any, worker: Any) -> None:
    world = build_world(live_server.url, direction=Direction.BOTH, size=20)
    assert run_via_worker(world.mapping).status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL)
    assert run_via_worker(world.mapping).updated == 0  # settled
    a, b = RecordLink.objects.exclude(streettext_id="").order_by("pk")[:2]

    # Between runs: an edit on GHL (announced by a webhook) and an edit on StreetText (seen only by polling).
    edited = requests.put(
        f"{world.ghl.base_url}/contacts/{a.ghl_id}",
        json={"lastName": "Edited-In-GHL"},
        headers={"Authorization": f"Bearer {GHL_TOKEN}", "Version": "2021-07-28"},
        timeout=10,
    )
    assert edited.status_code == 200
    edited = requests.patch(
        f"{world.streettext.base_url}/v1/contacts/{b.streettext_id}",
        json={"last_name": "Edited-In-StreetText"},
        headers={"X-Api-Key": "st-key-e2e"},
        timeout=10,
    )
    assert edited.status_code == 200
    _send_contact_update(live_server.url, world, a.ghl_id, lastName="Edited-In-GHL")
    webhook_run = wait_finished(
        wait_for(lambda: SyncRun.objects.filter(mapping=world.mapping, trigger=SyncRun.Trigger.WEBHOOK).first())
    )
    assert webhook_run.updated == 1

    poll = run_via_worker(world.mapping, trigger=SyncRun.Trigger.SCHEDULE)

    # The poll carries the StreetText edit to GHL; what the webhook run wrote to StreetText comes back only as an
    # echo (skipped), and the GHL edit is not written a second time.
    updates = RecordHistory.objects.filter(run=poll, action=RecordHistory.Action.UPDATED)
    assert [(u.direction, u.streettext_id) for u in updates] == [(Direction.TO_GHL, b.streettext_id)]
    ghl = {c["id"]: c for c in sandbox_contacts("ghl")}
    st = {c["id"]: c for c in sandbox_contacts("streettext")}
    assert ghl[a.ghl_id]["lastName"] == st[a.streettext_id]["last_name"] == "Edited-In-GHL"
    assert ghl[b.ghl_id]["lastName"] == st[b.streettext_id]["last_name"] == "Edited-In-StreetText"
    # And then it is quiet: nothing we wrote comes back as a change.
    quiet = run_via_worker(world.mapping, trigger=SyncRun.Trigger.SCHEDULE)
    assert (quiet.created, quiet.updated, quiet.failed) == (0, 0, 0)
