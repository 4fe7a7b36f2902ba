"""One item's actions, each exactly once.

The item's row (automation, item id, version) is stored before any action runs. Each action then has a row whose
state moves PENDING → SENDING (a conditional update, committed before the request leaves) → DONE or FAILED (stored
as soon as the answer is in). So:
- a crash or retry resumes the item at its first action not DONE; a DONE action is never sent again;
- an action left SENDING had no answer (the worker died, or the request timed out): it is *in doubt*. A create the
  API lets us look up is looked for (and taken as done when found; sent again only after
  SYNC_CREATE_IN_DOUBT_WAIT_SECONDS without finding it); an action that is harmless to repeat is sent again; any other
  is not sent again by itself: the item fails saying so, and Retry sends it once someone has checked;
- a transient error that means the request did not land (429, 503, the worker stopping) puts the action back to
  PENDING and gives the poll back for the task's retry.

The steps form a tree (automations/steps.py), walked from the top each time the item runs: a step whose condition
does not hold is stored "not met"; a router stores the paths it took, so a later pass walks the same ones; a wait
stores its step WAITING and the item WAITING with its resume time, and the pass stops there — nothing is held in
memory. automation_waits_resume (services/waits.py) ends the wait (the step DONE, the item PENDING) and hands the item
to a poll, whose pass goes over every step already done and on from the wait.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from automations import values as v
from automations.actions import ActionContext, ActionFailed, Executor, InDoubtWaiting, Sent, executor_for
from automations.models import Automation, AutomationAction, AutomationActionRun, AutomationItem
from automations.steps import NOTE_NOT_MET, StepTree, choose_paths, holds, paths_note, wait_end
from integrations.clients import exceptions as exc

logger = logging.getLogger(__name__)

MSG_IN_DOUBT = (
    "No answer came for this action (the worker stopped, or the request timed out): it may have been done. It is "
    "not sent again by itself; check {system} and press Retry to send it again."
)
MSG_IN_DOUBT_WAIT = "Its answer was lost; looking for what it made before sending it again."
MSG_FOUND = "Its answer was lost; found what it made, so it was not sent again."
MSG_RESENT = "Its answer was lost and nothing it would have made was found; sent again."
MSG_REPEATED = "Its answer was lost; sent again (repeating it changes nothing)."
MSG_NO_ANSWER = "No answer: {error}"
MSG_WILL_RETRY = "Not done yet, will retry: {error}"
MSG_UNREADABLE = "Done; its answer could not be read."
MSG_STOPPED = "Not run: action {position} failed."
MSG_BUSY = "Another poll is running this action."
RESPONSE_MAX_CHARS = 4000
# How far back a lost create is looked for, before the time it was sent (the other system's clock may differ).
FIND_MARGIN = timedelta(minutes=2)


def _landed_maybe(error: exc.ApiError) -> bool:
    """Whether a request that failed this way may still have been carried out (the engine's rule for creates: a
    timeout, or a 502/504 from a gateway that gave up waiting)."""
    if isinstance(error, exc.ApiTimeout):
        return True
    return isinstance(error, exc.ApiServerError) and error.status_code in (502, 504)


def _response_text(response: Any) -> str:
    if response is None:
        return ""
    text = response if isinstance(response, str) else json.dumps(response, ensure_ascii=False, default=str)
    return text if len(text) <= RESPONSE_MAX_CHARS else text[:RESPONSE_MAX_CHARS] + " … (cut)"


def item_values(item: AutomationItem, automation: Automation) -> dict[str, Any]:
    """What an action's fields are mapped from: the item's fields (dotted names), and about the trigger."""
    values = v.flatten(item.item or {})
    values.update(
        {
            "trigger.id": item.item_id,
            "trigger.version": item.version,
            "trigger.change": item.change,
            "automation.name": automation.name,
        }
    )
    return values


def action_outputs(index: int, ids: dict[str, Any]) -> dict[str, Any]:
    """An earlier action's result for the later ones' fields: {actions.1.id}."""
    return {f"actions.{index}.{key}": value for key, value in (ids or {}).items()}


@dataclass
class _Walk:
    """One item's pass over the step tree."""

    item: AutomationItem
    runs: dict[int | None, AutomationActionRun]
    values: dict[str, Any]
    failure: str = ""
    until: datetime | None = None


GO, WAIT, FAIL = "go", "wait", "fail"


class ItemRunner:
    """Runs items' steps for one poll (one worker at a time per automation: the poll's claim)."""

    def __init__(self, *, automation: Automation, poll: Any) -> None:
        self.automation = automation
        self.poll = poll
        self.ctx = ActionContext(automation)
        self.tree = StepTree.of(automation)
        self.actions: list[AutomationAction] = self.tree.main
        self._executors: dict[int, Executor | ActionFailed] = {}

    def executor(self, action: AutomationAction) -> Executor:
        if action.pk not in self._executors:
            try:
                self._executors[action.pk] = executor_for(self.ctx, action)
            except ActionFailed as e:
                self._executors[action.pk] = e
        found = self._executors[action.pk]
        if isinstance(found, ActionFailed):
            raise found
        return found

    def ensure_runs(self, items: list[AutomationItem], steps: list[AutomationAction] | None = None) -> None:
        """The main line's steps (or a path's, once taken) get their rows (PENDING) up front, so the history lists
        them from the start; the steps of paths not taken get none."""
        steps = self.actions if steps is None else steps
        if not items or not steps:
            return
        have = set(
            AutomationActionRun.objects.filter(item__in=items, action__in=steps).values_list("item_id", "action_id")
        )
        rows = [
            AutomationActionRun(
                item=item, action=step, position=self.tree.numbers.get(step.pk, 0), label=str(step)[:200]
            )
            for item in items
            for step in steps
            if (item.pk, step.pk) not in have
        ]
        AutomationActionRun.objects.bulk_create(rows, ignore_conflicts=True)

    # -- one item ----------------------------------------------------------------------------------------------
    def run(self, item: AutomationItem) -> str:
        """Run the item's steps not done yet, in order; returns the item's status (done, failed, or waiting: stored
        with its resume time, resumed by automation_waits_resume). Transient API errors propagate (the item stays
        pending, its steps' states as stored)."""
        self.ensure_runs([item])
        runs = {r.action_id: r for r in AutomationActionRun.objects.filter(item=item)}
        walk = _Walk(item=item, runs=runs, values=item_values(item, self.automation))
        outcome = self._walk(self.tree.main, walk)
        now = timezone.now()
        if outcome == FAIL:
            AutomationActionRun.objects.filter(item=item, state=AutomationActionRun.State.PENDING).update(
                state=AutomationActionRun.State.SKIPPED, note=walk.failure
            )
            status = AutomationItem.Status.FAILED
            updates: dict[str, Any] = {"error": item.error[:4000], "finished_at": now, "resume_at": None}
        elif outcome == WAIT:
            status = AutomationItem.Status.WAITING
            updates = {"error": "", "finished_at": None, "resume_at": walk.until}
        else:
            status = AutomationItem.Status.DONE
            updates = {"error": "", "finished_at": now, "resume_at": None}
        AutomationItem.objects.filter(pk=item.pk).update(status=status, **updates)
        item.status = status
        item.resume_at = updates["resume_at"]
        return status

    def _row(self, walk: _Walk, step: AutomationAction) -> AutomationActionRun:
        run = walk.runs.get(step.pk)
        if run is None:
            # A path's step entered now, or a step added after the item was stored.
            self.ensure_runs([walk.item], [step])
            run = AutomationActionRun.objects.get(item=walk.item, action=step)
            walk.runs[step.pk] = run
        return run

    def _walk(self, steps: list[AutomationAction], walk: _Walk) -> str:
        State = AutomationActionRun.State
        for step in steps:
            number = self.tree.numbers.get(step.pk, 0)
            run = self._row(walk, step)
            if run.state in (State.NOT_MET, State.CANCELLED):
                continue
            if run.state == State.FAILED:
                walk.failure = MSG_STOPPED.format(position=number)
                walk.item.error = walk.item.error or run.error
                return FAIL
            if run.state == State.WAITING:
                # Only automation_waits_resume ends a wait (it marks the step done as it claims the item).
                walk.until = walk.item.resume_at
                return WAIT
            if run.state != State.DONE and not holds(step.condition, walk.values):
                AutomationActionRun.objects.filter(pk=run.pk).update(
                    state=State.NOT_MET, note=NOTE_NOT_MET, finished_at=timezone.now()
                )
                continue
            if step.kind == AutomationAction.Kind.ROUTER:
                outcome = self._route(step, run, walk)
            elif step.kind == AutomationAction.Kind.WAIT:
                outcome = self._wait(step, run, walk)
            else:
                outcome = self._act(step, run, number, walk)
            if outcome != GO:
                return outcome
        return GO

    def _route(self, step: AutomationAction, run: AutomationActionRun, walk: _Walk) -> str:
        paths = self.tree.paths.get(step.pk, [])
        if run.state == AutomationActionRun.State.DONE:
            taken = set((run.result_ids or {}).get("paths") or [])
            chosen = [p for p in paths if p.pk in taken]
        else:
            chosen = choose_paths(paths, step.router_mode, walk.values)
            AutomationActionRun.objects.filter(pk=run.pk).update(
                state=AutomationActionRun.State.DONE,
                result_ids={"paths": [p.pk for p in chosen], "names": [p.name for p in chosen]},
                note=paths_note(chosen)[:300],
                poll=self.poll,
                started_at=timezone.now(),
                finished_at=timezone.now(),
            )
        for path in chosen:
            steps = self.tree.steps.get(path.pk, [])
            self.ensure_runs([walk.item], steps)
            outcome = self._walk(steps, walk)
            if outcome != GO:
                return outcome
        return GO

    def _wait(self, step: AutomationAction, run: AutomationActionRun, walk: _Walk) -> str:
        if run.state == AutomationActionRun.State.DONE:
            return GO
        now = timezone.now()
        until, note = wait_end(step, walk.values, now=now, cap_days=settings.AUTOMATION_WAIT_MAX_DAYS)
        if until is None:
            AutomationActionRun.objects.filter(pk=run.pk).update(
                state=AutomationActionRun.State.DONE, note=note, poll=self.poll, started_at=now, finished_at=now
            )
            return GO
        # The step and the item together: a crash between them cannot leave a wait that nothing resumes.
        with transaction.atomic():
            AutomationActionRun.objects.filter(pk=run.pk).update(
                state=AutomationActionRun.State.WAITING, note=note, poll=self.poll, started_at=now, finished_at=None
            )
            AutomationItem.objects.filter(pk=walk.item.pk).update(
                status=AutomationItem.Status.WAITING, resume_at=until, finished_at=None, error=""
            )
        walk.item.resume_at = walk.until = until
        return WAIT

    def _act(self, action: AutomationAction, run: AutomationActionRun, number: int, walk: _Walk) -> str:
        if run.state == AutomationActionRun.State.DONE:
            walk.values.update(action_outputs(number, run.result_ids))
            return GO
        try:
            sent = self._execute(action, run, walk.values)
        except ActionFailed as e:
            AutomationActionRun.objects.filter(pk=run.pk).update(
                state=AutomationActionRun.State.FAILED, error=str(e)[:4000], finished_at=timezone.now()
            )
            walk.item.error = f"Action {number} ({action}): {e}"
            walk.failure = MSG_STOPPED.format(position=number)
            return FAIL
        walk.values.update(action_outputs(number, sent.ids))
        return GO

    def _execute(self, action: AutomationAction, run: AutomationActionRun, values: dict[str, Any]) -> Sent:
        executor = self.executor(action)
        if run.state == AutomationActionRun.State.SENDING:
            found = self._in_doubt(action, executor, run)
            if found is not None:
                return found
            payload = run.payload
        else:
            payload = executor.build(values)
            claimed = AutomationActionRun.objects.filter(
                pk=run.pk, state__in=[AutomationActionRun.State.PENDING, AutomationActionRun.State.SKIPPED]
            ).update(
                state=AutomationActionRun.State.SENDING,
                attempts=F("attempts") + 1,
                poll=self.poll,
                payload=payload,
                started_at=timezone.now(),
                finished_at=None,
                error="",
                note="",
            )
            if not claimed:
                # Only another poll of this automation could have moved it: never send it from here as well.
                raise ActionFailed(MSG_BUSY)
        return self._send(executor, run, payload)

    def _send(self, executor: Executor, run: AutomationActionRun, payload: dict[str, Any]) -> Sent:
        sending = AutomationActionRun.objects.filter(pk=run.pk, state=AutomationActionRun.State.SENDING)
        try:
            sent = executor.send(payload)
        except exc.ApiBadResponse:
            # A 2xx whose body cannot be read: it was done.
            sent = Sent(ids={}, note=MSG_UNREADABLE)
        except exc.TransientApiError as e:
            if _landed_maybe(e) and not executor.idempotent(payload):
                # In doubt: stays SENDING; the next attempt looks for it first (_in_doubt).
                sending.update(error=MSG_NO_ANSWER.format(error=e)[:4000])
            else:
                sending.update(state=AutomationActionRun.State.PENDING, error=MSG_WILL_RETRY.format(error=e)[:4000])
            raise
        except exc.ApiError as e:
            raise ActionFailed(str(e)) from e
        note = " ".join(filter(None, [run.note, sent.note]))
        sending.update(
            state=AutomationActionRun.State.DONE,
            result_ids=sent.ids,
            response=_response_text(sent.response),
            error="",
            note=note[:300],
            finished_at=timezone.now(),
        )
        return sent

    def _in_doubt(self, action: AutomationAction, executor: Executor, run: AutomationActionRun) -> Sent | None:
        """An action sent without an answer. Returns what it made when found (stored DONE); None when it may be sent
        again (re-claimed); raises InDoubtWaiting to look again later, ActionFailed when it must not be repeated."""
        payload = run.payload or {}
        started = run.started_at or timezone.now()
        if executor.can_find:
            exclude = self._claimed_ids(action, run)
            found = executor.find(payload, since=started - FIND_MARGIN, exclude=exclude)
            if found is not None:
                AutomationActionRun.objects.filter(pk=run.pk, state=AutomationActionRun.State.SENDING).update(
                    state=AutomationActionRun.State.DONE,
                    result_ids=found.ids,
                    response=_response_text(found.response),
                    error="",
                    note=MSG_FOUND,
                    finished_at=timezone.now(),
                )
                return found
            waited = (timezone.now() - started).total_seconds()
            if waited < settings.SYNC_CREATE_IN_DOUBT_WAIT_SECONDS:
                AutomationActionRun.objects.filter(pk=run.pk).update(note=MSG_IN_DOUBT_WAIT)
                raise InDoubtWaiting(MSG_IN_DOUBT_WAIT)
            note = MSG_RESENT
        elif executor.idempotent(payload):
            note = MSG_REPEATED
        else:
            raise ActionFailed(MSG_IN_DOUBT.format(system=action.get_system_display()))
        # Sent again: the conditional update on the attempt count keeps two resumptions from both sending it.
        again = AutomationActionRun.objects.filter(
            pk=run.pk, state=AutomationActionRun.State.SENDING, attempts=run.attempts
        ).update(attempts=F("attempts") + 1, poll=self.poll, started_at=timezone.now(), note=note)
        if not again:
            raise ActionFailed(MSG_BUSY)
        run.note = note
        return None

    def _claimed_ids(self, action: AutomationAction, run: AutomationActionRun) -> set[str]:
        """Ids other runs of this action already made: a look-up must not take one of them for this run's."""
        rows = (
            AutomationActionRun.objects.filter(action=action, state=AutomationActionRun.State.DONE)
            .exclude(pk=run.pk)
            .filter(finished_at__gte=(run.started_at or timezone.now()) - FIND_MARGIN * 5)
            .values_list("result_ids", flat=True)
        )
        return {str(ids.get("id")) for ids in rows if isinstance(ids, dict) and ids.get("id")}
