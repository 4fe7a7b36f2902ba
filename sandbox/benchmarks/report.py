"""What every benchmark section reports: rows of (figure, value, goal), printed by `manage.py benchmark` in a table."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

# --size: how much data each section builds. "default" finishes in a few minutes on 2 cores.
SIZES = ("default", "100k", "1m")


@dataclass(frozen=True)
class Row:
    """One measured figure. `ok` is None when the figure has no goal (shown for context only)."""

    section: str
    figure: str
    value: float
    unit: str = ""
    goal: str = ""
    ok: bool | None = None
    detail: str = ""

    def shown_value(self) -> str:
        if self.value >= 100 or float(self.value).is_integer():
            text = f"{self.value:,.0f}"
        elif self.value >= 10:
            text = f"{self.value:.1f}"
        else:
            text = f"{self.value:.3g}" if self.value < 0.1 else f"{self.value:.2f}"
        return f"{text} {self.unit}".strip()


def at_most(section: str, figure: str, value: float, limit: float, unit: str = "", detail: str = "") -> Row:
    return Row(section, figure, value, unit, f"≤ {limit:g} {unit}".strip(), value <= limit, detail)


def at_least(section: str, figure: str, value: float, floor: float, unit: str = "", detail: str = "") -> Row:
    return Row(section, figure, value, unit, f"≥ {floor:g} {unit}".strip(), value >= floor, detail)


def info(section: str, figure: str, value: float, unit: str = "", detail: str = "") -> Row:
    return Row(section, figure, value, unit, "", None, detail)


class Section(Protocol):
    """A benchmark section module: a name, its own command-line flags, and a run that returns rows."""

    NAME: str
    HELP: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, options: dict[str, Any], log: Callable[[str], None]) -> list[Row]: ...


def render(rows: list[Row]) -> str:
    """A plain-text table: section, figure, value, goal, verdict."""
    header = ("section", "figure", "value", "goal", "")
    body = [
        (
            r.section,
            r.figure + (f" ({r.detail})" if r.detail else ""),
            r.shown_value(),
            r.goal,
            "" if r.ok is None else ("ok" if r.ok else "MISSED"),
        )
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(str(c).rjust(w) if i == 2 else str(c).ljust(w) for i, (c, w) in pairs)

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(b) for b in body)]).rstrip()
