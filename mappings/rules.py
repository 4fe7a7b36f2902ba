"""Conditions on a record's values, for rule lists edited in the admin (lead scoring, tagging, follow-ups).

A condition is {"field": name, "op": operator, "value": ...}, or {"all": [conditions]} / {"any": [conditions]}.
Pure functions: no DB, no HTTP.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

OPERATORS = ("eq", "ne", "contains", "not_contains", "exists", "not_exists", "gt", "lt", "in", "within_days")
MSG_RULES_NOT_LIST = "rules must be a list of objects"
MSG_RULE_SHAPE = 'rule {index}: needs "when" (a condition) and {needs}'
MSG_CONDITION_SHAPE = 'condition {where}: use {{"field", "op", "value"}} or {{"all": [...]}} / {{"any": [...]}}'
MSG_OPERATOR = 'condition {where}: unknown operator "{op}". Known: {known}'


def _text(value: Any) -> str:
    return str(value).strip().lower()


def condition_holds(condition: dict[str, Any], values: dict[str, Any]) -> bool:
    """True when the record's values satisfy the condition (text compares ignore case and outer spaces)."""
    if "all" in condition:
        return all(condition_holds(c, values) for c in condition["all"])
    if "any" in condition:
        return any(condition_holds(c, values) for c in condition["any"])
    actual = values.get(condition["field"])
    op, expected = condition.get("op", "eq"), condition.get("value")
    empty = actual is None or actual == "" or actual == []
    if op == "exists":
        return not empty
    if op == "not_exists":
        return empty
    if op in ("contains", "not_contains"):
        if isinstance(actual, list):
            found = _text(expected) in {_text(item) for item in actual}
        else:
            found = not empty and _text(expected) in _text(actual)
        return found if op == "contains" else not found
    if op == "in":
        return not empty and _text(actual) in {_text(item) for item in (expected or [])}
    if op == "within_days":
        # A date-time field (ISO 8601) no older than `value` days: "a new lead".
        try:
            moment = datetime.fromisoformat(str(actual).replace("Z", "+00:00"))
            days = float(expected)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment >= datetime.now(UTC) - timedelta(days=days)
    if op in ("gt", "lt"):
        try:
            a, b = float(actual), float(expected)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
        return a > b if op == "gt" else a < b
    same = (actual is None and expected is None) or (not empty and _text(actual) == _text(expected))
    return same if op == "eq" else not same


def condition_fields(condition: dict[str, Any]) -> set[str]:
    if "all" in condition or "any" in condition:
        return set().union(*(condition_fields(c) for c in condition.get("all") or condition.get("any") or []))
    return {condition["field"]} if "field" in condition else set()


def check_condition(condition: Any, where: str) -> None:
    """Raise ValueError with a clear message when a condition is malformed."""
    if not isinstance(condition, dict):
        raise ValueError(MSG_CONDITION_SHAPE.format(where=where))
    if "all" in condition or "any" in condition:
        items = condition.get("all") if "all" in condition else condition.get("any")
        if not isinstance(items, list) or not items:
            raise ValueError(MSG_CONDITION_SHAPE.format(where=where))
        for i, item in enumerate(items):
            check_condition(item, f"{where}.{i + 1}")
        return
    if not isinstance(condition.get("field"), str) or not condition["field"]:
        raise ValueError(MSG_CONDITION_SHAPE.format(where=where))
    op = condition.get("op", "eq")
    if op not in OPERATORS:
        raise ValueError(MSG_OPERATOR.format(where=where, op=op, known=", ".join(OPERATORS)))


def check_rules(rules: Any, *, needs: str) -> None:
    """Each rule is {"when": condition, <needs>: ...}."""
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise ValueError(MSG_RULES_NOT_LIST)
    for i, rule in enumerate(rules, start=1):
        if "when" not in rule or needs not in rule:
            raise ValueError(MSG_RULE_SHAPE.format(index=i, needs=f'"{needs}"'))
        check_condition(rule["when"], str(i))


# What a follow-up rule does when its condition holds, and the keys each action needs.
FOLLOWUP_ACTIONS: dict[str, tuple[str, ...]] = {
    "task": ("title",),
    "workflow": ("workflow_id",),
    "campaign": ("campaign_id",),
    "followers": ("followers",),
}
MSG_FOLLOWUP_ACTION = 'rule {index}: unknown action "{action}". Known: {known}'
MSG_FOLLOWUP_NEEDS = 'rule {index}: a "{action}" rule needs {needs}'


def check_followup_rules(rules: Any) -> None:
    """Each rule is {"when": condition, "action": task | workflow | campaign | followers, and what the action needs}."""
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise ValueError(MSG_RULES_NOT_LIST)
    for i, rule in enumerate(rules, start=1):
        action = rule.get("action", "task")
        if action not in FOLLOWUP_ACTIONS:
            raise ValueError(MSG_FOLLOWUP_ACTION.format(index=i, action=action, known=", ".join(FOLLOWUP_ACTIONS)))
        if "when" not in rule:
            raise ValueError(MSG_RULE_SHAPE.format(index=i, needs='"when"'))
        missing = [key for key in FOLLOWUP_ACTIONS[action] if not rule.get(key)]
        if missing:
            raise ValueError(
                MSG_FOLLOWUP_NEEDS.format(index=i, action=action, needs=", ".join(f'"{k}"' for k in missing))
            )
        if action == "followers" and not (
            isinstance(rule["followers"], list) and all(isinstance(f, str) and f for f in rule["followers"])
        ):
            raise ValueError(
                MSG_FOLLOWUP_NEEDS.format(index=i, action=action, needs='"followers" as a list of user ids')
            )
        check_condition(rule["when"], str(i))


def rule_key(rule: dict[str, Any]) -> str:
    """A follow-up rule's identity (what "once per contact and rule" counts): its name, else what it does."""
    action = rule.get("action", "task")
    target = rule.get("workflow_id") or rule.get("campaign_id") or ",".join(rule.get("followers") or [])
    return str(rule.get("name") or rule.get("title") or f"{action}:{target}")[:120]
