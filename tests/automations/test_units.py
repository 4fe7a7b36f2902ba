"""Pure parts of automations, without a database: flat values, versions, relative times, each paging style as the
catalog's triggers declare it, and what is new, updated, existing or skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from automations import paging
from automations import values as v
from automations.classify import (
    REASON_ALREADY_MET,
    REASON_BASELINE,
    REASON_FILTER,
    REASON_NO_NEW,
    REASON_NO_UPDATED,
    ItemShape,
    Known,
    Rules,
    classify,
)
from integrations.catalog.selectors import catalog_operation, catalog_operations

START = datetime(2026, 3, 1, tzinfo=UTC)
SHAPE = ItemShape("id", "updatedAt")


# ------------------------------------------------------------------------------
# Values
# ------------------------------------------------------------------------------
def test_items_flatten_to_dotted_names_with_custom_fields_by_id() -> None:
    item = {
        "id": "o1",
        "contact": {"email": "a@x.io", "tags": ["vip"], "address": {"city": "Leeds"}},
        "customFields": [{"id": "cf1", "value": 10}, {"id": "cf2", "field_value": "x"}],
        "tags": ["a", "b"],
    }
    flat = v.flatten(item)
    assert flat["contact.email"] == "a@x.io"
    assert flat["contact.tags"] == ["vip"]
    assert flat["contact.address.city"] == "Leeds"
    assert (flat["customFields.cf1"], flat["customFields.cf2"]) == (10, "x")
    assert flat["tags"] == ["a", "b"]


def test_versions_are_the_updated_time_or_a_digest_of_the_content() -> None:
    version, moment = v.version_of({"id": "1", "updatedAt": "2026-03-02T10:00:00.5Z"}, "updatedAt")
    assert version == "2026-03-02T10:00:00.500Z"
    assert moment == datetime(2026, 3, 2, 10, 0, 0, 500000, tzinfo=UTC)
    # Epoch milliseconds read the same way.
    assert v.version_of({"d": 1772445600500}, "d")[0] == "2026-03-02T10:00:00.500Z"
    # No updated time: the content decides; paging bookkeeping (searchAfter) does not count.
    a = v.version_of({"id": "1", "body": "hi", "searchAfter": [1, "1"]}, None)[0]
    b = v.version_of({"id": "1", "body": "hi", "searchAfter": [2, "1"]}, None)[0]
    c = v.version_of({"id": "1", "body": "hello"}, None)[0]
    assert a == b != c
    assert a.startswith("c:")


def test_items_without_an_id_are_one_answer_or_known_by_their_content() -> None:
    assert v.id_of({"slots": []}, None, many=False) == "answer"
    assert v.id_of({"name": "Room"}, None, many=True).startswith("c:")
    assert v.id_of({"_id": "n1"}, "_id", many=True) == "n1"


def test_relative_times_in_trigger_parameters() -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    params = {"startTime": "{now_ms-1d}", "endTime": "{now_ms+30d}", "since": "{now_iso-12h}", "x": "{now}"}
    resolved = v.resolve_relative(params, now)
    assert resolved["startTime"] == int((now - timedelta(days=1)).timestamp() * 1000)
    assert resolved["endTime"] == int((now + timedelta(days=30)).timestamp() * 1000)
    assert resolved["since"] == "2026-03-02T00:00:00.000Z"
    assert resolved["x"] == "{now}"  # not a form it knows: left as typed


def test_changes_between_two_versions_leave_paging_bookkeeping_out() -> None:
    before = {"id": "1", "status": "open", "contact": {"tags": ["a"]}, "searchAfter": [1]}
    after = {"id": "1", "status": "won", "contact": {"tags": ["a", "b"]}, "searchAfter": [2]}
    assert v.changes_between(before, after) == {
        "contact.tags": {"before": ["a"], "after": ["a", "b"]},
        "status": {"before": "open", "after": "won"},
    }
    assert v.changes_between(None, after) == {}


# ------------------------------------------------------------------------------
# Paging, read from the spec through the catalog
# ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "style", "size_name", "location"),
    [
        ("search-contacts", paging.SEARCH_AFTER, "pageLimit", "body_json"),
        ("search-opportunities", paging.START_AFTER, "limit", "query"),
        ("list-contacts-deprecated", paging.START_AFTER, "limit", "query"),
        ("get-contacts-by-business", paging.SKIP, "limit", "query"),
        ("list-businesses-by-location", paging.SKIP, "limit", "query"),
        ("filter-users-by-email", paging.SKIP, "limit", "body"),
        ("get-blog-posts", paging.OFFSET, "limit", "query"),
        ("list-appointment-notes", paging.OFFSET, "limit", "query"),
        ("get-messages-by-conversation", paging.LAST_ID, "limit", "query"),
        ("search-conversations", paging.START_AFTER_DATE, "limit", "query"),
        ("get-contact-tasks", paging.NONE, None, "query"),
        ("list-calendar-events", paging.NONE, None, "query"),
    ],
)
def test_each_triggers_paging_is_read_from_its_spec(key: str, style: str, size_name: str | None, location: str) -> None:
    found = paging.paging_for(catalog_operation(key))
    assert (found.style, found.size_name, found.location) == (style, size_name, location)


def test_every_catalog_trigger_has_a_paging_style() -> None:
    styles = {op.key: paging.paging_for(op).style for op in catalog_operations(kind="trigger")}
    assert set(styles.values()) <= {
        paging.SEARCH_AFTER,
        paging.START_AFTER,
        paging.SKIP,
        paging.OFFSET,
        paging.PAGE,
        paging.LAST_ID,
        paging.START_AFTER_DATE,
        paging.NONE,
    }
    assert len(styles) == 72


def _items(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"id": f"i{k}", "searchAfter": [k, f"i{k}"], "sort": [k * 10]} for k in range(start, start + n)]


def test_search_after_follows_the_last_items_cursor_and_stops_on_a_short_page() -> None:
    pager = paging.paging_for(catalog_operation("search-contacts"))
    first = pager.first(3)
    assert first == {"pageLimit": 3}
    _, body = pager.apply({}, {"pageLimit": 20, "page": 2, "query": "x"}, first)
    assert body == {"pageLimit": 3, "page": 2, "query": "x"}
    second = pager.next(first, {}, _items(3), 3)
    assert second == {"pageLimit": 3, "searchAfter": [2, "i2"]}
    _, body = pager.apply({}, {"page": 2}, second)
    assert "page" not in body  # GHL refuses page with searchAfter
    assert pager.next(second, {}, _items(2, 3), 3) is None


def test_start_after_follows_the_answers_meta() -> None:
    pager = paging.paging_for(catalog_operation("search-opportunities"))
    values = pager.first(2)
    data = {"meta": {"startAfterId": "o2", "startAfter": 1700, "nextPage": 2}}
    following = pager.next(values, data, _items(2), 2)
    assert following == {"limit": 2, "startAfterId": "o2", "startAfter": 1700}
    # The last page says so (no next page), and an answer repeating its cursor ends the scan.
    assert pager.next(values, {"meta": {"startAfterId": "o4", "startAfter": 1, "nextPage": None}}, _items(2), 2) is None
    assert pager.next(following, data, _items(2), 2) is None


def test_skip_and_offset_count_what_was_read_in_the_type_the_spec_gives() -> None:
    by_business = paging.paging_for(catalog_operation("get-contacts-by-business"))
    assert by_business.size_is_text  # the spec types limit and skip as strings
    values = by_business.first(2)
    assert values == {"limit": "2", "skip": "0"}
    assert by_business.next(values, {}, _items(2), 2) == {"limit": "2", "skip": "2"}
    blogs = paging.paging_for(catalog_operation("get-blog-posts"))
    assert blogs.next(blogs.first(5), {}, _items(5), 5) == {"limit": 5, "offset": 5}
    assert blogs.next(blogs.first(5), {}, _items(4), 5) is None


def test_messages_and_conversations_page_by_their_last_item() -> None:
    messages = paging.paging_for(catalog_operation("get-messages-by-conversation"))
    data = {"messages": {"lastMessageId": "m9", "nextPage": True, "messages": []}}
    assert messages.next(messages.first(2), data, _items(2), 2) == {"limit": 2, "lastMessageId": "m9"}
    assert messages.next(messages.first(2), {"messages": {"nextPage": False}}, _items(2), 2) is None
    conversations = paging.paging_for(catalog_operation("search-conversations"))
    assert conversations.next(conversations.first(2), {}, _items(2), 2) == {"limit": 2, "startAfterDate": 10}


def test_page_numbers_count_up() -> None:
    pager = paging.Paging(paging.PAGE, "limit", "query", False, 10)
    values = pager.first(10)
    assert values == {"limit": 10, "page": 1}
    assert pager.next(values, {}, _items(10), 10) == {"limit": 10, "page": 2}
    assert pager.page_size({"limit": "25"}, None) == 25
    assert pager.page_size({}, None) == 10


# ------------------------------------------------------------------------------
# New, updated, existing, skipped
# ------------------------------------------------------------------------------
def _item(updated: str, created: str = "2026-01-01T00:00:00Z", **fields: Any) -> dict[str, Any]:
    return {"id": "o1", "updatedAt": updated, "createdAt": created, **fields}


def test_an_item_seen_first_is_new_after_the_start_and_existing_before() -> None:
    rules = Rules(start_from=START)
    new = classify(
        _item("2026-03-05T00:00:00Z", "2026-03-04T00:00:00Z"), shape=SHAPE, known=None, rules=rules, first_scan=True
    )
    assert new is not None
    assert (new.change, new.status) == ("new", "pending")
    existing = classify(_item("2026-02-01T00:00:00Z"), shape=SHAPE, known=None, rules=rules, first_scan=True)
    assert existing is not None
    assert (existing.change, existing.status, existing.reason) == ("baseline", "skipped", REASON_BASELINE)
    # An old record changed after the start, never seen before: updated, not new.
    old = classify(_item("2026-03-05T00:00:00Z"), shape=SHAPE, known=None, rules=rules, first_scan=False)
    assert old is not None
    assert old.change == "updated"


def test_items_without_timestamps_are_existing_during_the_first_scan_only() -> None:
    shape = ItemShape("id", None)
    rules = Rules(start_from=START)
    first = classify({"id": "t1", "title": "a"}, shape=shape, known=None, rules=rules, first_scan=True)
    later = classify({"id": "t2", "title": "b"}, shape=shape, known=None, rules=rules, first_scan=False)
    assert first is not None
    assert later is not None
    assert (first.change, later.change) == ("baseline", "new")


def test_a_version_already_recorded_is_not_handled_again_and_a_new_one_is_updated() -> None:
    rules = Rules(start_from=START)
    item = _item("2026-03-05T00:00:00Z", status="open")
    known = Known(versions={"2026-03-05T00:00:00.000Z"}, latest=item)
    assert classify(item, shape=SHAPE, known=known, rules=rules, first_scan=False) is None
    changed = _item("2026-03-06T00:00:00Z", status="won")
    decision = classify(changed, shape=SHAPE, known=known, rules=rules, first_scan=False)
    assert decision is not None
    assert (decision.change, decision.status) == ("updated", "pending")
    assert decision.changes["status"] == {"before": "open", "after": "won"}


def test_new_or_updated_only() -> None:
    item = _item("2026-03-05T00:00:00Z", "2026-03-05T00:00:00Z")
    no_new = classify(item, shape=SHAPE, known=None, rules=Rules(start_from=START, on_new=False), first_scan=False)
    assert no_new is not None
    assert (no_new.status, no_new.reason) == ("skipped", REASON_NO_NEW)
    known = Known(versions={"x"}, latest=_item("2026-03-04T00:00:00Z"))
    no_updated = classify(
        item, shape=SHAPE, known=known, rules=Rules(start_from=START, on_updated=False), first_scan=False
    )
    assert no_updated is not None
    assert (no_updated.status, no_updated.reason) == ("skipped", REASON_NO_UPDATED)


def test_only_when_watched_fields_changed() -> None:
    rules = Rules(start_from=START, watch_fields=("pipelineStageId",))
    before = _item("2026-03-04T00:00:00Z", pipelineStageId="s1", name="A")
    known = Known(versions={"2026-03-04T00:00:00.000Z"}, latest=before)
    renamed = classify(
        _item("2026-03-05T00:00:00Z", pipelineStageId="s1", name="B"),
        shape=SHAPE,
        known=known,
        rules=rules,
        first_scan=False,
    )
    moved = classify(
        _item("2026-03-05T00:00:00Z", pipelineStageId="s2", name="A"),
        shape=SHAPE,
        known=known,
        rules=rules,
        first_scan=False,
    )
    assert renamed is not None
    assert moved is not None
    assert (renamed.status, moved.status) == ("skipped", "pending")
    assert "pipelineStageId" in renamed.reason


def test_only_items_where_and_only_when_the_condition_starts_to_hold() -> None:
    condition = {"field": "status", "op": "eq", "value": "won"}
    rules = Rules(start_from=START, condition=condition, entered=True)
    open_ = _item("2026-03-04T00:00:00Z", status="open")
    won = _item("2026-03-05T00:00:00Z", status="won")
    won_edited = _item("2026-03-06T00:00:00Z", status="won", monetaryValue=5)
    filtered = classify(
        open_,
        shape=SHAPE,
        known=Known({"v0"}, _item("2026-03-03T00:00:00Z", status="open")),
        rules=rules,
        first_scan=False,
    )
    assert filtered is not None
    assert (filtered.status, filtered.reason) == ("skipped", REASON_FILTER)
    entered = classify(won, shape=SHAPE, known=Known({"v1"}, open_), rules=rules, first_scan=False)
    assert entered is not None
    assert entered.status == "pending"
    again = classify(won_edited, shape=SHAPE, known=Known({"v2"}, won), rules=rules, first_scan=False)
    assert again is not None
    assert (again.status, again.reason) == ("skipped", REASON_ALREADY_MET)
    # Tags: "only tagged vip" on the flat values (contact.tags of an opportunity).
    vip = {"field": "contact.tags", "op": "contains", "value": "VIP"}
    tagged = classify(
        _item("2026-03-05T00:00:00Z", "2026-03-05T00:00:00Z", contact={"tags": ["vip"]}),
        shape=SHAPE,
        known=None,
        rules=Rules(start_from=START, condition=vip),
        first_scan=False,
    )
    assert tagged is not None
    assert tagged.status == "pending"
