"""What the catalog's areas share: registering their handlers by name, and reading times and names."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sandbox import services
from sandbox.catalog.engine import ACTIONS, HOOKS, WRITE_HOOKS, Call
from sandbox.ghl import Result, unprocessable


def action(name: str) -> Callable[[Callable[[Call], Result]], Callable[[Call], Result]]:
    def register(function: Callable[[Call], Result]) -> Callable[[Call], Result]:
        ACTIONS[name] = function
        return function

    return register


def hook(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        HOOKS[name] = function
        return function

    return register


def written(resource: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        WRITE_HOOKS[resource] = function
        return function

    return register


def iso(moment: datetime) -> str:
    return services.to_iso(moment)


def slugify(text: Any) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text or "").lower()).strip("_") or "field"


def parse_moment(value: Any, name: str) -> datetime:
    """A time parameter: epoch ms, ISO 8601, or GHL's "mm-dd-yyyy"; 422 when it is none of them."""
    if isinstance(value, str) and re.fullmatch(r"\d{2}-\d{2}-\d{4}", value.strip()):
        month, day, year = (int(part) for part in value.strip().split("-"))
        try:
            return datetime(year, month, day, tzinfo=UTC)
        except ValueError:
            pass
    moment = services.parse_time(value)
    if moment is None:
        raise unprocessable([f"{name} must be a date (epoch milliseconds, ISO 8601 or mm-dd-yyyy)"])
    return moment


def time_of(data: Mapping[str, Any], key: str) -> datetime | None:
    return services.parse_time(data.get(key))
