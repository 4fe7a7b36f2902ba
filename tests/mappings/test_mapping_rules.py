"""Rule conditions and the rule transforms (lead scoring and tagging)."""

from __future__ import annotations

import pytest

from mappings.pipeline import apply_field_mapping, parse_chain, validate_chain
from mappings.rules import check_rules, condition_holds
from mappings.transforms import TransformValueError

LEAD = {"tags": ["VIP", "webinar"], "email": "ann@example.com", "city": "Austin", "deals": "3", "phone": None}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "tags", "op": "contains", "value": "vip"}, True),
        ({"field": "tags", "op": "not_contains", "value": "vip"}, False),
        ({"field": "email", "op": "contains", "value": "@example.com"}, True),
        ({"field": "phone", "op": "exists"}, False),
        ({"field": "phone", "op": "not_exists"}, True),
        ({"field": "city", "op": "eq", "value": " austin "}, True),
        ({"field": "city", "op": "in", "value": ["Dallas", "Austin"]}, True),
        ({"field": "deals", "op": "gt", "value": 2}, True),
        ({"field": "deals", "op": "lt", "value": 2}, False),
        ({"field": "city", "op": "gt", "value": 2}, False),
        ({"all": [{"field": "city", "op": "eq", "value": "Austin"}, {"field": "phone", "op": "exists"}]}, False),
        ({"any": [{"field": "city", "op": "eq", "value": "Austin"}, {"field": "phone", "op": "exists"}]}, True),
    ],
)
def test_conditions(condition: dict, expected: bool) -> None:
    assert condition_holds(condition, LEAD) is expected


def test_score_and_rule_tags_read_the_whole_record() -> None:
    chain = validate_chain(
        parse_chain(
            'score(rules=[{"when": {"field": "tags", "op": "contains", "value": "vip"}, "points": 50},'
            ' {"when": {"field": "city", "op": "eq", "value": "Austin"}, "points": 10}], base=5)'
        )
    )
    assert apply_field_mapping(source_kind="record", source="", transforms=chain, values=LEAD) == 65
    tags = validate_chain(
        parse_chain('rule_tags(rules=[{"when": {"field": "deals", "op": "gt", "value": 2}, "tag": "hot-lead"}])')
    )
    assert apply_field_mapping(source_kind="record", source="", transforms=tags, values=LEAD) == [
        "VIP",
        "webinar",
        "hot-lead",
    ]
    with pytest.raises(TransformValueError, match="Whole record"):
        apply_field_mapping(source_kind="field", source="city", transforms=chain, values=LEAD)


def test_bad_rules_are_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match='needs "when"'):
        check_rules([{"points": 1}], needs="points")
    with pytest.raises(ValueError, match='unknown operator "like"'):
        check_rules([{"when": {"field": "a", "op": "like"}, "points": 1}], needs="points")
    from mappings.pipeline import ChainError

    with pytest.raises(ChainError, match="points"):
        validate_chain(parse_chain('score(rules=[{"when": {"field": "a"}, "points": "many"}])'))


def test_within_days_selects_recent_records() -> None:
    from datetime import UTC, datetime, timedelta

    recent = (datetime.now(UTC) - timedelta(days=2)).isoformat().replace("+00:00", "Z")
    old = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    condition = {"field": "created_at", "op": "within_days", "value": 7}
    assert condition_holds(condition, {"created_at": recent})
    assert not condition_holds(condition, {"created_at": old})
    assert not condition_holds(condition, {"created_at": "yesterday"})
    assert not condition_holds(condition, {})


def test_follow_up_rules_name_an_action_and_what_it_needs() -> None:
    from mappings.rules import check_followup_rules, rule_key

    check_followup_rules(
        [
            {"when": {"field": "tags", "op": "contains", "value": "hot"}, "title": "Call"},
            {"when": {"field": "tags", "op": "contains", "value": "vip"}, "action": "workflow", "workflow_id": "wf1"},
            {"when": {"field": "tags", "op": "exists"}, "action": "campaign", "campaign_id": "cp1"},
            {"when": {"field": "tags", "op": "exists"}, "action": "followers", "followers": ["u1", "u2"]},
        ]
    )
    for bad, message in (
        ([{"when": {"field": "x"}, "action": "sms"}], 'unknown action "sms"'),
        ([{"when": {"field": "x"}, "action": "workflow"}], 'needs "workflow_id"'),
        ([{"when": {"field": "x"}, "action": "followers", "followers": "u1"}], "a list of user ids"),
        ([{"action": "campaign", "campaign_id": "c"}], '"when"'),
        ([{"when": {"field": "x"}}], 'needs "title"'),
    ):
        with pytest.raises(ValueError, match=message):
            check_followup_rules(bad)
    assert rule_key({"action": "workflow", "workflow_id": "wf1", "when": {}}) == "workflow:wf1"
    assert rule_key({"name": "n", "title": "t"}) == "n"
