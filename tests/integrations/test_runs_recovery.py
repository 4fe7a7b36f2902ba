"""The stale check's rules for pending runs whose task is gone (Hardening #2); the worker-level proof is in
test_crash.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from integrations.models import SyncRun
from integrations.services.runs import RUNS, sync_run_claim, sync_run_release, sync_run_request
from mappings.models import Direction
from tests.integrations.support import build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def mapping(settings: Any) -> Any:
    settings.SYNC_PENDING_GRACE_SECONDS, settings.SYNC_PENDING_MAX_REQUEUES = 60, 2
    return build_world("http://127.0.0.1:1", direction=Direction.TO_STREETTEXT, size=10).mapping


def test_a_lost_pending_run_is_sent_again_twice_then_ends_stale_and_frees_the_mapping(
    mapping: Any, django_capture_on_commit_callbacks: Any
) -> None:
    run = SyncRun.objects.create(mapping=mapping, trigger=SyncRun.Trigger.MANUAL)
    start = run.created_at
    results = []
    with django_capture_on_commit_callbacks(execute=False) as sends:
        for minute in range(6):
            results.append(RUNS.recover_pending(now=start + timedelta(seconds=60 * minute + 1)))

    assert results == [
        {"requeued": 0, "lost": 0},  # requested a second ago
        {"requeued": 1, "lost": 0},  # due + 60 s grace passed: its task was lost
        {"requeued": 0, "lost": 0},  # sent again a minute ago: give it the grace again
        {"requeued": 1, "lost": 0},
        {"requeued": 0, "lost": 0},
        {"requeued": 0, "lost": 1},  # SYNC_PENDING_MAX_REQUEUES reached
    ]
    assert len(sends) == 2
    run.refresh_from_db()
    assert (run.status, run.requeued) == (SyncRun.Status.STALE, 2)
    assert run.error == RUNS.lost_error.format(minutes=3, times=2)
    sync_run_request(mapping=mapping, trigger=SyncRun.Trigger.MANUAL)  # "Sync now" works again


def test_a_run_waiting_for_its_retry_is_left_alone_until_the_retry_is_overdue(
    mapping: Any, django_capture_on_commit_callbacks: Any
) -> None:
    run = SyncRun.objects.create(mapping=mapping, trigger=SyncRun.Trigger.MANUAL)
    claimed = sync_run_claim(run_id=run.pk)
    assert claimed is not None
    sync_run_release(run=claimed, error="StreetText server error (503)")
    RUNS.retry_due(run.pk, countdown=300)  # what the task records once Celery chose the countdown
    run.refresh_from_db()
    due = run.next_attempt_at
    assert due is not None

    with django_capture_on_commit_callbacks(execute=False) as sends:
        assert RUNS.recover_pending(now=due) == {"requeued": 0, "lost": 0}
        assert RUNS.recover_pending(now=due + timedelta(seconds=59)) == {"requeued": 0, "lost": 0}
        assert RUNS.recover_pending(now=due + timedelta(seconds=61)) == {"requeued": 1, "lost": 0}

    assert len(sends) == 1
    run.refresh_from_db()
    assert (run.status, run.attempts, run.requeued) == (SyncRun.Status.PENDING, 1, 1)


def test_the_resent_task_keeps_the_retry_budget(
    mapping: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    from celery import current_app

    from integrations.tasks import run_sync_task

    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(current_app, "send_task", lambda name, **kw: sent.append({"name": name, **kw}))
    run = SyncRun.objects.create(mapping=mapping, trigger=SyncRun.Trigger.MANUAL)
    # Started three times; the retry after the third attempt was lost with its worker.
    SyncRun.objects.filter(pk=run.pk).update(attempts=3, created_at=run.created_at - timedelta(hours=1))

    with django_capture_on_commit_callbacks(execute=True):
        RUNS.recover_pending()

    assert sent == [{"name": run_sync_task.name, "args": (run.pk,), "retries": 3, "countdown": None}]
