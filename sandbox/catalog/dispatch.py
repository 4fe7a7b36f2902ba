"""Serving one catalog operation: one of the engine's generic kinds, or the action an area registered for it.

Importing `actions` here (and not from the engine) registers the areas' actions and hooks before the first request,
and keeps the engine free of imports back from the areas that build on it.
"""

from __future__ import annotations

from collections.abc import Mapping

from sandbox.catalog import actions  # noqa: F401  (registers the areas' actions and hooks)
from sandbox.catalog.engine import ACTIONS, HANDLERS, Call
from sandbox.catalog.rules import Rule
from sandbox.ghl import GhlRequest, Result


def handle(rule: Rule, req: GhlRequest, params: Mapping[str, str]) -> Result:
    """Serve one operation (views.ghl_view has checked the request against the spec)."""
    call = Call(rule=rule, req=req, params=dict(params))
    if rule.action is not None and rule.kind not in HANDLERS:
        return ACTIONS[rule.action](call)
    return HANDLERS[rule.kind](call)
