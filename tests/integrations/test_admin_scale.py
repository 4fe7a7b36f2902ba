"""The admin's record-history, runs and links pages at scale: a bounded number of queries per page, no query that
reads the whole history table (DISTINCT, COUNT(*) without a LIMIT, UPPER(…) or LIKE '%…%' searches), searches as
exact lookups on indexed columns, and still the right rows found. Times live in `manage.py benchmark --only admin`."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from integrations.admin_lists import CappedCountPaginator
from integrations.models import Connection, RecordHistory, RecordLink, SyncRun, System
from mappings.models import Direction, Mapping

pytestmark = pytest.mark.django_db

HISTORY = "integrations_recordhistory"
LINKS = "integrations_recordlink"
# Session, user, the capped count, the page's rows, the mapping filter's choices, and a little slack.
PAGE_QUERIES = 6


def _history_url(**params: Any) -> str:
    from django.utils.http import urlencode

    return reverse("admin:integrations_recordhistory_changelist") + ("?" + urlencode(params) if params else "")


@pytest.fixture
def world() -> dict[str, Any]:
    ghl = Connection.objects.create(
        name="G", system=System.GHL, base_url="https://g.invalid", location_id="loc", auth_type="pit"
    )
    st = Connection.objects.create(
        name="S", system=System.STREETTEXT, base_url="https://s.invalid", auth_type="api_key"
    )
    out = Mapping.objects.create(name="out", ghl_connection=ghl, streettext_connection=st)
    back = Mapping.objects.create(name="back", ghl_connection=ghl, streettext_connection=st, direction=Direction.TO_GHL)
    runs = [
        SyncRun.objects.create(mapping=out, trigger="manual", status=SyncRun.Status.SUCCEEDED),
        SyncRun.objects.create(mapping=back, trigger="manual", status=SyncRun.Status.PARTIAL, dry_run=True),
    ]
    actions = ["created", "updated", "skipped", "failed", "deleted"]
    rows = []
    for n in range(20):
        run = runs[n % 2]
        rows.append(
            RecordHistory(
                run=run,
                mapping=run.mapping,
                direction=run.mapping.direction,
                action=actions[n % 5],
                ghl_id=f"g-{n}",
                streettext_id=f"st-{n}",
                email=f"Person{n}@Example.com",
                phone=f"+1415555{n:04d}",
                changes={"lastName": {"before": "Old", "after": f"New{n}"}},
                dry_run=run.dry_run,
            )
        )
    RecordHistory.objects.bulk_create(rows)
    RecordLink.objects.bulk_create(
        [
            RecordLink(
                ghl_connection=ghl,
                streettext_connection=st,
                object_type="contact",
                ghl_id=f"g-{n}",
                streettext_id=f"st-{n}",
                label=f"Person {n}",
                email=f"Person{n}@Example.com",
            )
            for n in range(20)
        ]
    )
    return {"runs": runs, "out": out, "back": back}


def _get(client: Client, url: str) -> tuple[Any, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return response, [q["sql"] for q in queries.captured_queries]


def _on(table: str, sqls: list[str]) -> list[str]:
    return [s for s in sqls if f'"{table}"' in s]


def _assert_bounded(sqls: list[str], table: str = HISTORY) -> None:
    """Nothing reads the whole table: no DISTINCT, no COUNT without a LIMIT, no UPPER(…) or LIKE search."""
    on_table = _on(table, sqls)
    assert on_table, sqls
    for sql in on_table:
        upper = sql.upper()
        assert "DISTINCT" not in upper, sql
        assert "COUNT(" not in upper or " LIMIT " in upper, sql
        assert "UPPER(" not in upper, sql
        assert " LIKE " not in upper, sql
    # The count and the page: each once.
    assert len(on_table) <= 2, on_table


def _ghl_ids(response: Any) -> set[str]:
    return {row.ghl_id for row in response.context["cl"].result_list}


# ------------------------------------------------------------------------------------------------------------------
# Record history: lists and filters
# ------------------------------------------------------------------------------------------------------------------
FILTERS = {
    "unfiltered": {},
    "action": {"action__exact": "failed"},
    "direction": {"direction": "to_ghl"},
    "dry run": {"dry_run__exact": "1"},
    "run status": {"run__status__exact": "partial"},
    "facets asked for": {"_facets": "1"},
}


@pytest.mark.parametrize("params", FILTERS.values(), ids=FILTERS.keys())
def test_history_list_and_each_filter_read_the_table_at_most_twice_and_never_whole(
    admin_client: Client, world: dict[str, Any], params: dict[str, str], django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(PAGE_QUERIES):
        response, sqls = _get(admin_client, _history_url(**params))
    _assert_bounded(sqls)
    assert response.context["cl"].result_count > 0


def test_filters_by_mapping_and_run_find_their_rows(admin_client: Client, world: dict[str, Any]) -> None:
    run = world["runs"][0]
    for params, expected in [
        ({"mapping__id__exact": world["back"].pk}, {f"g-{n}" for n in range(1, 20, 2)}),
        ({"run__id__exact": run.pk}, {f"g-{n}" for n in range(0, 20, 2)}),
        ({"run__id__exact": run.pk, "action__exact": "failed"}, {"g-8", "g-18"}),
        ({"direction": "to_ghl"}, {f"g-{n}" for n in range(1, 20, 2)}),
        ({"dry_run__exact": "1"}, {f"g-{n}" for n in range(1, 20, 2)}),
    ]:
        response, sqls = _get(admin_client, _history_url(**params))
        _assert_bounded(sqls)
        assert _ghl_ids(response) == expected, params


def test_the_direction_filter_offers_fixed_choices(admin_client: Client, world: dict[str, Any]) -> None:
    response, sqls = _get(admin_client, _history_url())
    assert not [s for s in sqls if "DISTINCT" in s.upper()]
    assert b"StreetText \xe2\x86\x92 GoHighLevel" in response.content


def test_rendering_a_page_costs_no_query_per_row(
    admin_client: Client, world: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    _, few = _get(admin_client, _history_url(run__id__exact=world["runs"][0].pk, action__exact="failed"))
    _, many = _get(admin_client, _history_url())
    assert len(many) == len(few)


def test_past_the_cap_the_count_stops_and_says_so(
    admin_client: Client, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CappedCountPaginator, "cap", 5)
    response, sqls = _get(admin_client, _history_url())
    counts = [s for s in _on(HISTORY, sqls) if "COUNT(" in s.upper()]
    assert len(counts) == 1
    assert "LIMIT 6" in counts[0]
    assert b"5+ record history" in response.content
    # Under the cap, the exact count.
    response, _ = _get(admin_client, _history_url(run__id__exact=world["runs"][0].pk, action__exact="failed"))
    assert b"2 record history" in response.content


# ------------------------------------------------------------------------------------------------------------------
# Record history: searches
# ------------------------------------------------------------------------------------------------------------------
def _search(client: Client, text: str) -> tuple[Any, list[str]]:
    response, sqls = _get(client, _history_url(q=text))
    _assert_bounded(sqls)
    return response, _on(HISTORY, sqls)


@pytest.mark.parametrize(
    ("text", "column", "found"),
    [
        ("g-7", "ghl_id", {"g-7"}),
        ("st-7", "streettext_id", {"g-7"}),
        ("person7@example.com", "email", {"g-7"}),  # stored as Person7@Example.com
        ("PERSON7@EXAMPLE.COM", "email", {"g-7"}),
        ("(415) 555-0007", "phone", {"g-7"}),  # stored in E.164
        ("+14155550007", "phone", {"g-7"}),
    ],
)
def test_each_search_is_an_exact_lookup_and_finds_its_row(
    admin_client: Client,
    world: dict[str, Any],
    text: str,
    column: str,
    found: set[str],
    django_assert_max_num_queries: Any,
) -> None:
    with django_assert_max_num_queries(PAGE_QUERIES):
        response, sqls = _search(admin_client, text)
    assert _ghl_ids(response) == found
    compared = f'LOWER("{HISTORY}"."email") = ' if column == "email" else f'"{HISTORY}"."{column}" '
    assert all(compared in sql for sql in sqls), sqls


@pytest.mark.parametrize("typed", ["{pk}", "#{pk}"])
def test_a_run_number_finds_that_runs_rows_by_its_id(admin_client: Client, world: dict[str, Any], typed: str) -> None:
    run = world["runs"][1]
    response, sqls = _search(admin_client, typed.format(pk=run.pk))
    assert _ghl_ids(response) == {f"g-{n}" for n in range(1, 20, 2)}
    assert all(f'"{HISTORY}"."run_id" = {run.pk}' in sql for sql in sqls), sqls


def test_a_search_that_matches_nothing_finds_nothing(admin_client: Client, world: dict[str, Any]) -> None:
    for text in ("g-", "erson7", "nobody@example.com", "999999"):
        response, _ = _search(admin_client, text)
        assert _ghl_ids(response) == set(), text


# ------------------------------------------------------------------------------------------------------------------
# Runs, links, the record search
# ------------------------------------------------------------------------------------------------------------------
def test_the_run_list_stays_within_its_query_budget(
    admin_client: Client, world: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(10):
        response, sqls = _get(admin_client, reverse("admin:integrations_syncrun_changelist"))
    assert response.context["cl"].result_count == 2
    counts = [s for s in _on("integrations_syncrun", sqls) if "COUNT(" in s.upper()]
    assert counts
    assert all(" LIMIT " in s for s in counts), counts


@pytest.mark.parametrize(
    ("text", "found"),
    [("", {f"g-{n}" for n in range(20)}), ("PERSON3@example.com", {"g-3"}), ("st-3", {"g-3"}), ("person 1", None)],
)
def test_the_links_list_and_its_searches_use_indexed_lookups(
    admin_client: Client,
    world: dict[str, Any],
    text: str,
    found: set[str] | None,
    django_assert_max_num_queries: Any,
) -> None:
    url = reverse("admin:integrations_recordlink_changelist") + (f"?q={text}" if text else "")
    with django_assert_max_num_queries(PAGE_QUERIES):
        response, sqls = _get(admin_client, url)
    _assert_bounded(sqls, LINKS)
    ids = {link.ghl_id for link in response.context["cl"].result_list}
    # "person 1": a label by its first letters (Person 1, Person 10 … 19).
    assert ids == (found if found is not None else {"g-1", *{f"g-{n}" for n in range(10, 20)}})


def test_find_a_record_by_email_uses_the_lower_cased_index(admin_client: Client, world: dict[str, Any]) -> None:
    RecordLink.objects.filter(ghl_id="g-4").delete()  # found through its history rows alone
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse("admin:records") + "?q=PERSON4@EXAMPLE.COM")
    history = _on(HISTORY, [q["sql"] for q in queries.captured_queries])
    assert history
    assert all(f'LOWER("{HISTORY}"."email") = ' in s and " LIKE " not in s.upper() for s in history), history
    # The one record found: straight to its page.
    assert response["Location"] == reverse("admin:record", args=["ghl"]) + "?id=g-4"


@pytest.mark.skipif(connection.vendor != "sqlite", reason="plans of a tiny SQLite table; PostgreSQL: the benchmark")
@pytest.mark.parametrize(
    ("params", "index"),
    [
        ({}, "history_recent"),
        ({"action__exact": "failed"}, "history_action_recent"),
        ({"direction": "to_ghl"}, "history_direction_recent"),
        ({"mapping__id__exact": "{back}"}, "history_mapping_recent"),
        ({"run__id__exact": "{run}"}, "history_run_recent"),
        # Sorted by a column: When (either way) and Run have their index; Action and Direction are not sortable.
        ({"o": "0"}, "history_recent"),
        ({"o": "-0"}, "history_recent"),
        ({"o": "1"}, "history_run_recent"),
        ({"o": "2"}, ""),  # not sortable: newest first by id (the primary key)
        ({"o": "3"}, ""),
        ({"dry_run__exact": "1"}, "history_dry_run_recent"),
        ({"q": "g-7"}, "history_ghl_id"),
        ({"q": "person7@example.com"}, "history_email_lower"),
        ({"q": "(415) 555-0007"}, "history_phone"),
    ],
)
def test_each_page_reads_history_through_its_index(
    admin_client: Client, world: dict[str, Any], params: dict[str, str], index: str
) -> None:
    params = {k: v.format(back=world["back"].pk, run=world["runs"][0].pk) for k, v in params.items()}
    _, sqls = _get(admin_client, _history_url(**params))
    page = [s for s in _on(HISTORY, sqls) if "COUNT(" not in s.upper()]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + page[0])
        plan = " / ".join(str(row[-1]) for row in cursor.fetchall())
    assert index in plan, plan
    if "q" not in params:  # the page comes in index order: no sort of the matching rows
        if params.get("o") in ("0", "1"):  # ascending: only rows of equal time or run are sorted among themselves
            plan = plan.replace("USE TEMP B-TREE FOR RIGHT PART OF ORDER BY", "")
        assert "TEMP B-TREE" not in plan, plan


@pytest.mark.skipif(connection.vendor != "sqlite", reason="plans of a tiny SQLite table; PostgreSQL: the benchmark")
@pytest.mark.parametrize(
    ("column", "index"),
    [("record_page", "link_label_lower"), ("ghl_id", "link_ghl_id"), ("email_shown", ""), ("synced", "")],
)
@pytest.mark.parametrize("descending", [False, True])
def test_the_links_list_sorts_only_through_an_index(
    admin_client: Client, world: dict[str, Any], column: str, index: str, descending: bool
) -> None:
    response = admin_client.get(reverse("admin:integrations_recordlink_changelist"))
    position = response.context["cl"].list_display.index(column)
    url = reverse("admin:integrations_recordlink_changelist") + f"?o={'-' if descending else ''}{position}"
    _, sqls = _get(admin_client, url)
    page = [s for s in _on(LINKS, sqls) if "COUNT(" not in s.upper()]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + page[0])
        plan = " / ".join(str(row[-1]) for row in cursor.fetchall())
    if not index:  # not sortable: newest first, as unsorted
        assert page[0].endswith(f'ORDER BY "{LINKS}"."id" DESC'), page[0]
        return
    assert index in plan, plan
    # Only links of equal label or id are sorted among themselves.
    assert "TEMP B-TREE" not in plan.replace("USE TEMP B-TREE FOR RIGHT PART OF ORDER BY", ""), plan
