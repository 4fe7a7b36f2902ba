"""An automation's steps as a tree, and the pure decisions its runner takes on one item: whether a step's condition
holds, which paths a router takes, until when a wait waits (docs/automations.md "Paths and waits").

The tree: the main line is the steps without a path, in order; a router step has paths, in order, each with its own
ordered steps (which may hold routers and waits too). Steps are numbered depth first (a router's paths' steps come
right after it), the number later steps use for an earlier one's result ({actions.3.id}). A step whose path chain
never reaches the main line (a router placed inside one of its own paths) is unreachable and never runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from automations import values as v
from automations.models import Automation, AutomationAction, AutomationPath, minutes_text
from mappings.rules import condition_holds

NOTE_NOT_MET = "Its condition did not hold."
NOTE_PATHS = "Took {paths}."
NOTE_NO_PATH = "No path matched; nothing taken."
NOTE_WAIT = "Waiting until {until} ({why})."
NOTE_WAIT_CAPPED = "the wait cap of {days} days"
NOTE_NO_DATE = "“{field}” holds no date and time ({value!r}); not waited."
NOTE_PAST = "{until} is already past; not waited."


@dataclass
class StepTree:
    main: list[AutomationAction] = field(default_factory=list)
    paths: dict[int, list[AutomationPath]] = field(default_factory=dict)  # router id → its paths
    steps: dict[int, list[AutomationAction]] = field(default_factory=dict)  # path id → its steps
    numbers: dict[int, int] = field(default_factory=dict)  # step id → its number (depth first, from 1)

    @classmethod
    def build(cls, actions: Iterable[AutomationAction], paths: Iterable[AutomationPath]) -> StepTree:
        tree = cls()
        ordered = sorted(actions, key=lambda a: (a.position, a.pk or 0))
        for path in sorted(paths, key=lambda p: (p.position, p.pk or 0)):
            tree.paths.setdefault(path.router_id, []).append(path)
        for action in ordered:
            if action.path_id is None:
                tree.main.append(action)
            else:
                tree.steps.setdefault(action.path_id, []).append(action)
        for number, step in enumerate(tree.walk(), start=1):
            tree.numbers[step.pk] = number
        return tree

    @classmethod
    def of(cls, automation: Automation) -> StepTree:
        """Three queries: the steps (with their fields) and the paths."""
        return cls.build(
            automation.actions.prefetch_related("field_mappings").all(),
            AutomationPath.objects.filter(automation=automation),
        )

    def walk(self, steps: list[AutomationAction] | None = None, seen: set[int] | None = None) -> list[AutomationAction]:
        """Every reachable step, depth first."""
        seen = set() if seen is None else seen
        out: list[AutomationAction] = []
        for step in self.main if steps is None else steps:
            if step.pk in seen:
                continue
            seen.add(step.pk)
            out.append(step)
            if step.kind == AutomationAction.Kind.ROUTER:
                for path in self.paths.get(step.pk, []):
                    out.extend(self.walk(self.steps.get(path.pk, []), seen))
        return out

    def depth(self, step: AutomationAction) -> int:
        """How many routers up the main line is (0 on the main line), for indenting the history."""
        by_path = {p.pk: p for paths in self.paths.values() for p in paths}
        by_id = {s.pk: s for s in self.walk()}
        depth, current = 0, step
        while current.path_id is not None and depth < 50:
            path = by_path.get(current.path_id)
            router = by_id.get(path.router_id) if path is not None else None
            if router is None:
                break
            depth, current = depth + 1, router
        return depth


def holds(condition: Mapping[str, Any] | None, values: Mapping[str, Any]) -> bool:
    """An empty condition always holds."""
    return not condition or condition_holds(dict(condition), dict(values))


def choose_paths(paths: list[AutomationPath], mode: str, values: Mapping[str, Any]) -> list[AutomationPath]:
    """The paths a router takes: the first matching (mode "first") or every matching ("all"), in order; the otherwise
    path (the first one marked so) when none matched."""
    matching = [p for p in paths if not p.otherwise and holds(p.condition, values)]
    if mode == AutomationAction.RouterMode.FIRST:
        matching = matching[:1]
    if matching:
        return matching
    return [p for p in paths if p.otherwise][:1]


def paths_note(chosen: list[AutomationPath]) -> str:
    if not chosen:
        return NOTE_NO_PATH
    names = ", ".join(f"path “{p.name}”" for p in chosen)
    return NOTE_PATHS.format(paths=names)


def wait_end(
    step: AutomationAction, values: Mapping[str, Any], *, now: datetime, cap_days: int
) -> tuple[datetime | None, str]:
    """(until, note): when a wait started now ends, at most `cap_days` from now; None when it does not wait (a date
    already past, or no date in the field), with the note saying why."""
    cap = now + timedelta(days=cap_days)
    if step.wait_until:
        raw = values.get(step.wait_until)
        until = v.parse_time(raw)
        if until is None:
            return None, NOTE_NO_DATE.format(field=step.wait_until, value=raw)[:300]
        if until <= now:
            return None, NOTE_PAST.format(until=v.iso(until))
        why = f"the date in {step.wait_until}"
    else:
        until = now + timedelta(minutes=step.wait_minutes or 0)
        if until <= now:
            return None, NOTE_PAST.format(until=v.iso(until))
        why = minutes_text(step.wait_minutes)
    if until > cap:
        until, why = cap, NOTE_WAIT_CAPPED.format(days=cap_days)
    return until, NOTE_WAIT.format(until=v.iso(until), why=why)[:300]
