"""Which adapter serves which (system, object type)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from integrations.adapters.ghl import GhlContactAdapter
from integrations.adapters.ghl_opportunities import GhlOpportunityAdapter
from integrations.adapters.ghl_related import (
    GhlAppointmentAdapter,
    GhlBusinessAdapter,
    GhlNoteAdapter,
    GhlTaskAdapter,
)
from integrations.adapters.streettext import StreetTextContactAdapter
from integrations.adapters.streettext_related import (
    StreetTextAppointmentAdapter,
    StreetTextDealAdapter,
    StreetTextNoteAdapter,
    StreetTextOrganizationAdapter,
    StreetTextTaskAdapter,
)

if TYPE_CHECKING:
    from integrations.adapters.base import RecordAdapter
    from integrations.models import Connection

ADAPTERS: dict[tuple[str, str], Callable[[Connection], RecordAdapter]] = {
    ("ghl", "contact"): GhlContactAdapter,
    ("streettext", "contact"): StreetTextContactAdapter,
    ("ghl", "task"): GhlTaskAdapter,
    ("ghl", "note"): GhlNoteAdapter,
    ("ghl", "appointment"): GhlAppointmentAdapter,
    ("ghl", "business"): GhlBusinessAdapter,
    ("streettext", "task"): StreetTextTaskAdapter,
    ("streettext", "note"): StreetTextNoteAdapter,
    ("streettext", "appointment"): StreetTextAppointmentAdapter,
    ("streettext", "business"): StreetTextOrganizationAdapter,
    ("ghl", "opportunity"): GhlOpportunityAdapter,
    ("streettext", "opportunity"): StreetTextDealAdapter,
}


def adapter_for(connection: Connection, object_type: str) -> RecordAdapter:
    """The adapter for this connection's system and this object type."""
    try:
        factory = ADAPTERS[(connection.system, object_type)]
    except KeyError as e:
        raise LookupError(f"No adapter for {object_type} on {connection.get_system_display()}") from e
    return factory(connection)
