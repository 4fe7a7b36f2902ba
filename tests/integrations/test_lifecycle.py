"""One lifecycle for sync runs and automation polls (integrations/services/lifecycle.py): every rule checked on both
models, through the same services, the same task base and each app's own periodic recovery."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

import config.celery
from automations import tasks as automation_tasks
from automations.models import Automation, AutomationPoll
from automations.services import polls
from integrations import housekeeping
from integrations import tasks as integration_tasks
from integrations.models import Connection, RunLifecycle, SyncRun
from integrations.services import runs
from integrations.services.lifecycle import REQUEUED_NOTE, Lifecycle
from integrations.services.schedules import periodic_task_sync
from mappings.models import Mapping

pytestmark = pytest.mark.django_db
Status = RunLifecycle.Status


@dataclass
class Kind:
    """One model under the lifecycle: its services, how to make a row, its task and its app's periodic recovery."""

    lifecycle: Lifecycle[Any]
    make: Callable[..., Any]
    task: Any
    engine: str  # the engine's entry point the task calls
    recovery: Callable[[], dict[str, int]]
    recovery_entry: str  # its periodic task's name (setup_periodic_tasks)
    scheduled: str  # the beat task of its owner's schedule


def _connections() -> tuple[Connection, Connection]:
    ghl = Connection.objects.create(name="g", system="ghl", base_url="http://x", location_id="l", auth_type="pit")
    st = Connection.objects.create(name="s", system="streettext", base_url="http://x", auth_type="api_key")
    return ghl, st


def _run_kind() -> Kind:
    ghl, st = _connections()
    names = itertools.count()

    def make(**fields: Any) -> SyncRun:
        mapping = Mapping.objects.create(name=f"m{next(names)}", ghl_connection=ghl, streettext_connection=st)
        return SyncRun.objects.create(mapping=mapping, trigger="manual", **fields)

    return Kind(
        runs.RUNS,
        make,
        integration_tasks.run_sync_task,
        "integrations.services.sync.sync_run_execute",
        integration_tasks.mark_stale_runs_task,
        "Mark stale sync runs",
        "integrations.tasks.scheduled_sync_task",
    )


def _poll_kind() -> Kind:
    ghl, st = _connections()
    names = itertools.count()

    def make(**fields: Any) -> AutomationPoll:
        automation = Automation.objects.create(
            name=f"a{next(names)}", ghl_connection=ghl, streettext_connection=st, trigger_key="search-contacts"
        )
        return AutomationPoll.objects.create(automation=automation, trigger="manual", **fields)

    return Kind(
        polls.POLLS,
        make,
        automation_tasks.run_poll_task,
        "automations.services.engine.automation_poll_execute",
        automation_tasks.recover_polls_task,
        "Recover automation polls",
        "automations.tasks.scheduled_poll_task",
    )


@pytest.fixture(params=["sync run", "automation poll"])
def kind(request: pytest.FixtureRequest) -> Kind:
    return _run_kind() if request.param == "sync run" else _poll_kind()


@pytest.fixture
def sent() -> Iterator[list[dict[str, Any]]]:
    """Tasks sent to the broker, kept from it (a session worker could run them)."""
    found: list[dict[str, Any]] = []
    with mock.patch.object(config.celery.app, "send_task", lambda name, **kw: found.append({"name": name, **kw})):
        yield found


def _status(row: Any) -> str:
    row.refresh_from_db()
    return str(row.status)


def test_a_pending_one_is_claimed_once(kind: Kind) -> None:
    row = kind.make()
    claimed = kind.lifecycle.claim(row.pk)
    assert claimed is not None
    assert (claimed.status, claimed.attempts) == (Status.RUNNING, 1)
    assert claimed.started_at == claimed.heartbeat_at is not None
    assert kind.lifecycle.claim(row.pk) is None  # a second delivery of the same message finds nothing to claim


def test_the_heartbeat_adds_counts_and_says_when_the_work_is_no_longer_its_workers(kind: Kind) -> None:
    row = kind.make()
    kind.lifecycle.claim(row.pk)
    assert kind.lifecycle.beat(row.pk, {"failed": 2, "skipped": 0}) is True
    assert kind.lifecycle.beat(row.pk, {"failed": 1}) is True
    row.refresh_from_db()
    assert row.failed == 3
    type(row).objects.filter(pk=row.pk).update(status=Status.STALE)  # the stale check ended it meanwhile
    assert kind.lifecycle.beat(row.pk, {"failed": 1}) is False
    row.refresh_from_db()
    assert (row.status, row.failed) == (Status.STALE, 3)  # nothing more written


def test_a_released_one_waits_for_its_retry_then_is_claimed_again(
    kind: Kind, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.SYNC_PENDING_GRACE_SECONDS = 60
    row = kind.make()
    kind.lifecycle.claim(row.pk)
    kind.lifecycle.release(row.pk, error="server error (503)")
    kind.lifecycle.retry_due(row.pk, countdown=300)
    row.refresh_from_db()
    assert (row.status, row.error) == (Status.PENDING, "Retrying after: server error (503)")
    due = row.next_attempt_at
    with django_capture_on_commit_callbacks(execute=False) as sends:
        # Waiting for its retry is not lost: left alone until the retry is overdue by the grace.
        assert kind.lifecycle.recover_pending(now=due + timedelta(seconds=59)) == {"requeued": 0, "lost": 0}
    assert sends == []
    claimed = kind.lifecycle.claim(row.pk)
    assert claimed is not None
    assert (claimed.attempts, claimed.error, claimed.next_attempt_at) == (2, "", None)


# The final status from the counts, for every combination: an error fails it; failures beside work done make it
# partial; failures alone fail it with the model's own words; else it succeeded.
OUTCOMES = [
    (error, failed, done) for error in ("", "the trigger could not be read") for failed in (0, 3) for done in (0, 2)
]


@pytest.mark.parametrize(("error", "failed", "done"), OUTCOMES)
def test_finish_sets_the_status_from_the_counts(kind: Kind, error: str, failed: int, done: int) -> None:
    row = kind.make()
    kind.lifecycle.claim(row.pk)
    done_count = type(row).DONE_COUNTS[0]
    type(row).objects.filter(pk=row.pk).update(failed=failed, **{done_count: done})
    ended = kind.lifecycle.finish(row, error=error)
    if error:
        expected = (Status.FAILED, error)
    elif failed and done:
        expected = (Status.PARTIAL, "")
    elif failed:
        expected = (Status.FAILED, type(row).EVERY_ONE_FAILED)
    else:
        expected = (Status.SUCCEEDED, "")
    assert (ended.status, ended.error) == expected
    assert ended.finished_at is not None


def test_finish_and_fail_never_change_one_that_already_ended(kind: Kind) -> None:
    row = kind.make()
    kind.lifecycle.claim(row.pk)
    assert kind.lifecycle.recover(now=timezone.now() + timedelta(hours=1))["stale"] == 1
    assert kind.lifecycle.finish(row).status == Status.STALE  # a worker that was declared dead finishes late
    kind.lifecycle.fail(row.pk, error="RuntimeError: boom")
    assert _status(row) == Status.STALE


def test_the_task_base_fails_the_work_when_the_task_gives_up(kind: Kind, sent: list[dict[str, Any]]) -> None:
    row = kind.make()
    # The hook drops the connection the task used (a worker's); the test's one database connection must stay.
    with (
        mock.patch(kind.engine, side_effect=RuntimeError("boom")),
        mock.patch("integrations.task_base.close_old_connections"),
    ):
        result = kind.task.apply(args=(row.pk,))
    assert result.failed()
    row.refresh_from_db()
    assert (row.status, row.error) == (Status.FAILED, "RuntimeError: boom")
    # Work that is not pending (already claimed or ended) is not run again.
    assert kind.task.apply(args=(row.pk,)).get()["status"] == "not claimed"
    assert sent == []


def test_a_handed_over_one_is_sent_again_with_its_retry_count(kind: Kind, sent: list[dict[str, Any]]) -> None:
    row = kind.make()
    kind.lifecycle.claim(row.pk)
    kind.lifecycle.release(row.pk, error="worker stopping")
    kind.lifecycle.hand_over(row.pk, retries=2)
    assert [(s["name"], s["args"], s["retries"], s["countdown"]) for s in sent] == [(kind.task.name, (row.pk,), 2, 10)]
    row.refresh_from_db()
    assert row.next_attempt_at > timezone.now() + timedelta(seconds=8)


def test_the_recovery_ends_dead_ones_and_sends_lost_ones_again_then_gives_up(
    kind: Kind, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.SYNC_PENDING_GRACE_SECONDS, settings.SYNC_PENDING_MAX_REQUEUES = 60, 2
    now = timezone.now()
    dead = kind.make(status=Status.RUNNING, heartbeat_at=now - timedelta(hours=1))
    # Alive (its heartbeat younger than the stale limit) but not working through a backlog right now (older than the
    # grace): a sync run that beat within the grace would keep every pending run from counting as lost (fair turns).
    alive = kind.make(status=Status.RUNNING, heartbeat_at=now - timedelta(seconds=120))
    lost = kind.make()
    type(lost).objects.filter(pk=lost.pk).update(created_at=now - timedelta(hours=1), attempts=1)
    results = []
    with django_capture_on_commit_callbacks(execute=False) as sends:
        for step in range(5):
            results.append(kind.lifecycle.recover(now=now + timedelta(seconds=31 * step)))
    assert results == [
        {"stale": 1, "requeued": 1, "lost": 0},
        {"stale": 0, "requeued": 0, "lost": 0},  # sent again 31 s ago: given the grace again
        {"stale": 0, "requeued": 1, "lost": 0},
        {"stale": 0, "requeued": 0, "lost": 0},
        {"stale": 0, "requeued": 0, "lost": 1},  # SYNC_PENDING_MAX_REQUEUES reached
    ]
    assert len(sends) == 2
    assert _status(dead) == Status.STALE
    assert dead.error.startswith("The worker stopped sending progress for 300 s")
    assert kind.lifecycle.resumes in dead.error
    assert _status(alive) == Status.RUNNING
    lost.refresh_from_db()
    assert (lost.status, lost.requeued) == (Status.STALE, 2)
    assert lost.error == kind.lifecycle.lost_error.format(minutes=3, times=2)
    assert f"this {kind.lifecycle.noun} " in lost.error


def test_a_lost_one_is_sent_again_with_its_retry_budget(
    kind: Kind, sent: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    lost = kind.make()
    type(lost).objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(hours=1), attempts=3)
    with django_capture_on_commit_callbacks(execute=True):
        assert kind.lifecycle.recover_pending() == {"requeued": 1, "lost": 0}
    assert sent == [{"name": kind.task.name, "args": (lost.pk,), "retries": 3, "countdown": None}]
    lost.refresh_from_db()
    assert (lost.status, lost.requeued, lost.error) == (Status.PENDING, 1, REQUEUED_NOTE)


def test_a_stale_run_and_a_stale_poll_are_each_recovered_by_their_own_apps_periodic_task() -> None:
    """Each app recovers its own work: the sync runs' stale check leaves polls alone (integrations never reaches into
    automations), automations' own every-minute task ends the dead poll; every worker's thread runs both."""
    old = timezone.now() - timedelta(hours=1)
    dead_run = _run_kind().make(status=Status.RUNNING, heartbeat_at=old)
    dead_poll = _poll_kind().make(status=Status.RUNNING, heartbeat_at=old)

    assert integration_tasks.mark_stale_runs_task() == {"stale": 1, "requeued": 0, "lost": 0}
    assert (_status(dead_run), _status(dead_poll)) == (Status.STALE, Status.RUNNING)
    assert automation_tasks.recover_polls_task() == {"stale": 1, "requeued": 0, "lost": 0}
    assert _status(dead_poll) == Status.STALE

    # Both are beat entries of their own, every minute, as `setup_periodic_tasks` creates them on deploy.
    call_command("setup_periodic_tasks", stdout=open("/dev/null", "w"))  # noqa: SIM115
    entries = {
        entry.name: (entry.task, entry.interval.every, entry.interval.period, entry.enabled)
        for entry in PeriodicTask.objects.select_related("interval")
    }
    assert entries["Mark stale sync runs"] == ("integrations.tasks.mark_stale_runs_task", 1, "minutes", True)
    assert entries["Recover automation polls"] == ("automations.tasks.recover_polls_task", 1, "minutes", True)

    # The workers' own stale-check thread runs every app's registered recovery.
    dead_run.__class__.objects.filter(pk=dead_run.pk).update(status=Status.RUNNING)
    dead_poll.__class__.objects.filter(pk=dead_poll.pk).update(status=Status.RUNNING)
    found = housekeeping.stale_check()
    assert (found["sync runs"]["stale"], found["automation polls"]["stale"]) == (1, 1)


def test_the_schedule_of_a_mapping_and_of_an_automation_is_kept_by_one_helper(kind: Kind) -> None:
    owner = kind.make().mapping if kind.lifecycle is runs.RUNS else kind.make().automation

    def sync(minutes: int, enabled: bool = True) -> PeriodicTask | None:
        return periodic_task_sync(
            owner=owner, minutes=minutes, enabled=enabled, name=f"#{owner.pk}", task=kind.scheduled, description="d"
        )

    task = sync(5)
    assert task is not None
    owner.refresh_from_db()
    assert owner.periodic_task_id == task.pk
    assert (task.task, task.interval.every, json.loads(task.args), task.enabled) == (
        kind.scheduled,
        5,
        [owner.pk],
        True,
    )
    again = sync(10, enabled=False)
    assert again is not None
    assert again.pk == task.pk  # the same entry, changed
    assert (again.interval.every, again.enabled) == (10, False)
    assert sync(0) is None
    owner.refresh_from_db()
    assert owner.periodic_task_id is None
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()


def test_the_engines_heartbeat_stops_a_worker_whose_work_was_ended() -> None:
    """The engines' heartbeats (a sync run's page progress, a poll's counts) raise once the stale check ended the
    work, so a worker declared dead stops at its next page instead of writing on beside the next run."""
    run = _run_kind().make()
    poll = _poll_kind().make()
    runs.RUNS.claim(run.pk)
    polls.POLLS.claim(poll.pk)
    runs.sync_run_add_progress(run=run, counts={"created": 1}, total=5)
    polls.automation_poll_beat(poll=poll, handled=1)
    assert integration_tasks.mark_stale_runs_task()["stale"] == 0  # both alive
    SyncRun.objects.filter(pk=run.pk).update(status=Status.STALE)
    AutomationPoll.objects.filter(pk=poll.pk).update(status=Status.STALE)
    with pytest.raises(runs.RunLost):
        runs.sync_run_add_progress(run=run, counts={"created": 1})
    with pytest.raises(polls.PollLost):
        polls.automation_poll_beat(poll=poll, handled=1)
    run.refresh_from_db()
    poll.refresh_from_db()
    assert (run.created, run.total, poll.handled) == (1, 5, 1)


def test_a_schedules_beat_entry_requests_work_once_while_one_is_active(
    kind: Kind, sent: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    made = kind.make()
    owner = made.mapping if isinstance(made, SyncRun) else made.automation
    made.delete()
    owner_name = type(owner).__name__.lower()
    task = config.celery.app.tasks[kind.scheduled]
    with django_capture_on_commit_callbacks(execute=True):
        first = task(owner.pk)
        again = task(owner.pk)
    row = kind.lifecycle.model._default_manager.get()
    assert first == {owner_name: owner.pk, "id": row.pk, "status": Status.PENDING}
    assert again["status"] == "skipped"
    assert f"#{row.pk}); wait for it to finish" in again["reason"]
    assert [s["args"] for s in sent] == [(row.pk,)]  # its task, queued once
    assert task(owner.pk + 1000) == {owner_name: owner.pk + 1000, "status": "missing"}
