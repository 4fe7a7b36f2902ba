"""Operations beyond the seed run as automation steps: "Send a Message" (the most used GHL action on Zapier) sends
one SMS per trigger item through the same catalog runner, and every trigger beyond the seed polls, against the sandbox
over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from automations.models import AutomationActionRun, AutomationPoll
from integrations.catalog.selectors import catalog_operations
from integrations.models import System
from sandbox.models import SandboxRecord
from tests.automations.support import build_catalog_world, field, make_automation, poll_here

pytestmark = pytest.mark.django_db(transaction=True)


def test_send_a_message_runs_as_an_automation_step_once_per_item(live_server: Any) -> None:
    world = build_catalog_world(live_server.url, size=10)
    automation = make_automation(
        world,
        body={"pageLimit": 20},
        actions=[
            (
                System.GHL,
                "send-message",
                [
                    field("type", "SMS", "template"),
                    field("contactId", "id"),
                    field("message", "Hello {firstName}, thanks for signing up", "template"),
                ],
            )
        ],
    )

    poll = poll_here(automation)

    assert poll.status == AutomationPoll.Status.SUCCEEDED, poll.error
    assert poll.handled == poll.new > 0
    runs = AutomationActionRun.objects.filter(action__operation="send-message")
    assert runs.count() == poll.handled
    assert set(runs.values_list("state", flat=True)) == {AutomationActionRun.State.DONE}
    sent = SandboxRecord.objects.filter(
        object_type="conversations.messages", data__body__startswith="Hello ", data__body__endswith="signing up"
    )
    assert sent.count() == poll.handled


def test_file_answers_are_offered_as_actions_and_never_as_triggers() -> None:
    triggers = {op.key for op in catalog_operations(kind="trigger")}
    actions = {op.key for op in catalog_operations(kind="action")}

    assert {"get-message-recording", "download-transcription"} <= actions - triggers
    assert "send-message" in actions


def test_every_trigger_beyond_the_seed_polls_through_the_automation_engine(live_server: Any) -> None:
    from tests.catalog.test_catalog_data import SEED
    from tests.catalog.test_every_operation import SAMPLES
    from tests.catalog.test_every_operation import World as SampleWorld

    world = build_catalog_world(live_server.url, size=10)
    samples = SampleWorld(world.ghl)
    seed_names = {name for _, _, name, _ in SEED}
    beyond_seed = [op.key for op in catalog_operations(kind="trigger") if op.name not in seed_names]
    assert len(beyond_seed) == 20

    failed = {}
    for key in beyond_seed:
        sample = SAMPLES[key]
        automation = make_automation(
            world, trigger=key, params=samples.fill(sample.params), body=samples.fill(sample.body), name=key
        )
        poll = poll_here(automation)
        if poll.status != AutomationPoll.Status.SUCCEEDED or (sample.at_least_one_item and not poll.seen):
            failed[key] = (poll.status, poll.seen, poll.error)

    assert failed == {}
