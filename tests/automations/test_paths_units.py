"""Paths and waits, the pure parts: the step tree and its numbering, which paths a router takes, until when a wait
waits (capped), how a wait is written in the admin; and the forms' refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from automations.forms import parse_wait, path_problems
from automations.models import AutomationAction, AutomationPath, minutes_text
from automations.steps import StepTree, choose_paths, wait_end

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
OVER = {"field": "monetaryValue", "op": "gt", "value": 1000}
OVER_100 = {"field": "monetaryValue", "op": "gt", "value": 100}


def _step(pk: int, position: int, kind: str = "action", path: int | None = None, **options: Any) -> AutomationAction:
    return AutomationAction(pk=pk, position=position, kind=kind, path_id=path, **options)


def _path(pk: int, router: int, position: int, condition: Any = None, otherwise: bool = False) -> AutomationPath:
    return AutomationPath(
        pk=pk, router_id=router, position=position, name=f"p{pk}", condition=condition or {}, otherwise=otherwise
    )


def test_the_tree_numbers_steps_depth_first_and_never_reaches_a_router_inside_its_own_path() -> None:
    steps = [
        _step(1, 1, "router"),
        _step(2, 2),
        _step(3, 1, path=10),
        _step(4, 1, "wait", path=11),
        _step(5, 2, path=11),
        _step(6, 1, "router", path=12),  # a router inside its own path: a loop, unreachable
    ]
    paths = [_path(11, 1, 2, otherwise=True), _path(10, 1, 1, OVER), _path(12, 6, 1, OVER)]
    tree = StepTree.build(steps, paths)
    assert [s.pk for s in tree.main] == [1, 2]
    assert [s.pk for s in tree.walk()] == [1, 3, 4, 5, 2]
    assert tree.numbers == {1: 1, 3: 2, 4: 3, 5: 4, 2: 5}
    assert 6 not in tree.numbers
    assert [tree.depth(s) for s in tree.walk()] == [0, 1, 1, 1, 0]


@pytest.mark.parametrize(
    ("value", "mode", "taken"),
    [
        (5000, "first", ["p10"]),
        (5000, "all", ["p10", "p11"]),
        (500, "first", ["p11"]),
        (500, "all", ["p11"]),
        (5, "first", ["p12"]),
        (5, "all", ["p12"]),
        (None, "all", ["p12"]),
    ],
)
def test_a_router_takes_the_first_or_every_matching_path_else_otherwise(
    value: Any, mode: str, taken: list[str]
) -> None:
    paths = [_path(10, 1, 1, OVER), _path(11, 1, 2, OVER_100), _path(12, 1, 3, otherwise=True)]
    assert [p.name for p in choose_paths(paths, mode, {"monetaryValue": value})] == taken


def test_no_otherwise_path_and_nothing_matching_takes_nothing() -> None:
    assert choose_paths([_path(10, 1, 1, OVER)], "all", {"monetaryValue": 1}) == []


def test_a_wait_ends_after_its_duration_at_a_date_field_and_never_after_the_cap() -> None:
    day = _step(1, 1, "wait", wait_minutes=1440)
    assert wait_end(day, {}, now=NOW, cap_days=365)[0] == NOW + timedelta(days=1)
    until = _step(2, 1, "wait", wait_until="dueDate")
    due = "2026-01-03T09:00:00Z"
    assert wait_end(until, {"dueDate": due}, now=NOW, cap_days=365)[0] == datetime(2026, 1, 3, 9, tzinfo=UTC)
    # Epoch milliseconds (GHL's habit) too.
    assert wait_end(until, {"dueDate": 1767517200000}, now=NOW, cap_days=365)[0] == datetime(2026, 1, 4, 9, tzinfo=UTC)
    # Past, missing, unreadable: not waited, saying why.
    assert wait_end(until, {"dueDate": "2025-01-01"}, now=NOW, cap_days=365)[0] is None
    none, note = wait_end(until, {}, now=NOW, cap_days=365)
    assert none is None
    assert "holds no date" in note
    # The cap: a date years away waits at most cap days.
    capped, note = wait_end(until, {"dueDate": "2030-01-01T00:00:00Z"}, now=NOW, cap_days=30)
    assert capped == NOW + timedelta(days=30)
    assert "cap of 30 days" in note


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("1d", (1440, "")),
        ("2h 30m", (150, "")),
        ("45", (45, "")),
        ("until dueDate", (None, "dueDate")),
        ("UNTIL actions.1.dueAt", (None, "actions.1.dueAt")),
    ],
)
def test_a_wait_is_written_as_a_duration_or_until_a_field(text: str, parsed: tuple[int | None, str]) -> None:
    assert parse_wait(text) == parsed
    if parsed[0]:
        assert parse_wait(minutes_text(parsed[0])) == parsed  # written back the way it reads


@pytest.mark.parametrize("text", ["1 day", "tomorrow", "1w", "until", "-5m"])
def test_a_wait_that_cannot_be_read_is_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_wait(text)


def test_a_path_from_a_file_needs_a_name_and_a_condition_unless_otherwise() -> None:
    assert path_problems(AutomationPath(name="A", condition=OVER)) == {}
    assert path_problems(AutomationPath(name="Else", otherwise=True)) == {}
    assert set(path_problems(AutomationPath(name="", condition={}))) == {"name", "condition"}
    assert "otherwise" in path_problems(AutomationPath(name="E", condition=OVER, otherwise=True))["condition"]
    assert (
        "unknown operator"
        in path_problems(AutomationPath(name="B", condition={"field": "x", "op": "has"}))["condition"]
    )
