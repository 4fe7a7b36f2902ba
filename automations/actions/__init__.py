"""Automation actions: StreetText actions (actions/streettext.py) and the operations catalog's GoHighLevel actions
(actions/ghl.py), behind one interface (actions/base.py)."""

from __future__ import annotations

from automations.actions.base import ActionContext, ActionFailed, ActionField, Executor, InDoubtWaiting, Sent
from automations.actions.ghl import GhlExecutor, ghl_action_fields
from automations.actions.streettext import ACTIONS as STREETTEXT_ACTIONS
from automations.actions.streettext import StreetTextExecutor
from automations.models import AutomationAction
from integrations.catalog.loader import UnknownCatalogOperation
from integrations.catalog.selectors import catalog_operation
from integrations.models import System

__all__ = [
    "STREETTEXT_ACTIONS",
    "ActionContext",
    "ActionFailed",
    "ActionField",
    "Executor",
    "InDoubtWaiting",
    "Sent",
    "action_fields",
    "executor_for",
]


def executor_for(ctx: ActionContext, action: AutomationAction) -> Executor:
    """The executor of one configured action (ActionFailed when it names no known action)."""
    if action.system == System.STREETTEXT:
        return StreetTextExecutor(ctx, action)
    return GhlExecutor(ctx, action)


def action_fields(system: str, operation: str) -> list[ActionField]:
    """The fields an action offers to map ([] for an unknown one)."""
    if system == System.STREETTEXT:
        spec = STREETTEXT_ACTIONS.get(operation)
        return list(spec.all_fields) if spec else []
    try:
        op = catalog_operation(operation)
    except UnknownCatalogOperation:
        return []
    return [] if op.is_trigger else ghl_action_fields(op)
