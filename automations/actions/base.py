"""What every action has: its fields, how its payload is built from the trigger item, what one send returns, and
the errors that stop it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from automations.actions.errors import ActionFailed
from automations.models import Automation, AutomationAction
from integrations.clients import exceptions as exc
from mappings.pipeline import build_payload

if TYPE_CHECKING:
    from automations.actions.contacts import ContactResolver
    from integrations.clients.streettext import StreetTextClient

MSG_FIELDS = "Some fields could not be made from the item: {errors}"
MSG_REQUIRED = "{action} needs {names}; map them from the trigger item."
MSG_NO_STREETTEXT = "This automation has no StreetText connection; choose one for its StreetText actions."


class InDoubtWaiting(exc.TransientApiError):
    """A create whose answer was lost is not visible yet: look for it again a little later before sending it again."""


@dataclass(frozen=True)
class ActionField:
    """One field of an action, as the field picker offers it."""

    name: str
    label: str
    kind: str = "text"  # text | long_text | time | tags | bool | email | phone | contact | json
    required: bool = False
    help: str = ""


@dataclass
class Sent:
    """What one action did: the ids of what it created or changed, the answer, a note for the history."""

    ids: dict[str, Any]
    response: Any = None
    note: str = ""


class Executor(Protocol):
    """How one configured action builds, sends and (after a lost answer) finds what it sent."""

    can_find: bool

    def build(self, values: dict[str, Any]) -> dict[str, Any]: ...

    def send(self, payload: dict[str, Any]) -> Sent: ...

    def idempotent(self, payload: dict[str, Any]) -> bool: ...

    def find(self, payload: dict[str, Any], *, since: Any, exclude: set[str]) -> Sent | None: ...


class ActionContext:
    """What the actions of one poll share: the automation, a StreetText client, the contact resolver (with its cache:
    one contact looked up once per poll)."""

    def __init__(self, automation: Automation) -> None:
        self.automation = automation

    @cached_property
    def streettext(self) -> StreetTextClient:
        from integrations.adapters.clients import streettext_client_for

        connection = self.automation.streettext_connection
        if connection is None:
            raise ActionFailed(MSG_NO_STREETTEXT)
        return streettext_client_for(connection)

    @cached_property
    def resolver(self) -> ContactResolver:
        from automations.actions.contacts import ContactResolver

        return ContactResolver(self)


def mapped_values(action: AutomationAction, values: dict[str, Any], *, region: str) -> dict[str, Any]:
    """The action's fields from the trigger item, through their transform chains; a field whose chain fails fails the
    action (nothing half-made is sent)."""
    payload, errors = build_payload(list(action.field_mappings.all()), values, default_region=region)
    if errors:
        raise ActionFailed(MSG_FIELDS.format(errors="; ".join(f"{name}: {error}" for name, error in errors.items())))
    return payload


def blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}
