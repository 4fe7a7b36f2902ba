"""Which adapter serves which (system, object type)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from integrations.adapters.ghl import GhlContactAdapter
from integrations.adapters.streettext import StreetTextContactAdapter

if TYPE_CHECKING:
    from integrations.adapters.base import RecordAdapter
    from integrations.models import Connection

ADAPTERS: dict[tuple[str, str], Callable[[Connection], RecordAdapter]] = {
    ("ghl", "contact"): GhlContactAdapter,
    ("streettext", "contact"): StreetTextContactAdapter,
}
