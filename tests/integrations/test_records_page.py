"""The record page: find one record by email, phone, name or either id, read its pair and its whole story across
runs, sync just that record again or retry it after a fix; viewers read, only people who may run syncs act."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.http import urlencode

from integrations import record_selectors
from integrations.models import RecordHistory, RecordLink, SyncRun
from integrations.services import sync
from integrations.services.records import record_only_ids
from integrations.services.roles import role_viewer_grant
from mappings.models import Direction, Mapping
from sandbox.models import SandboxRecord
from tests.integrations.support import World, build_world
from tests.integrations.test_admin_ux import demo as demo_data  # noqa: F401 - the shared demo data fixture

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fast(settings: Any) -> None:
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000
    settings.SANDBOX_RATE_LIMIT = 10_000


@pytest.fixture
def synced(live_server: Any) -> World:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT, size=30)
    execute(world.mapping)
    return world


def execute(mapping: Mapping, **kwargs: Any) -> SyncRun:
    run = SyncRun.objects.create(mapping=mapping, trigger=SyncRun.Trigger.MANUAL, **kwargs)
    sync.sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def record_url(system: str, record_id: str) -> str:
    return reverse("admin:record", args=[system]) + "?" + urlencode({"id": record_id})


def a_linked_contact() -> RecordLink:
    link = RecordLink.objects.filter(object_type="contact").exclude(email="").exclude(label="").order_by("pk").first()
    assert link is not None
    return link


def viewer_client() -> Client:
    user = get_user_model().objects.create_user(username="viewer", password="pw-viewer-123")
    role_viewer_grant(user=user)
    client = Client()
    client.force_login(user)
    return client


# -- finding --


def test_search_by_email_in_any_letter_case_goes_straight_to_the_one_record(
    admin_client: Client, synced: World
) -> None:
    link = a_linked_contact()

    page = admin_client.get(reverse("admin:records"), {"q": f"  {link.email.upper()} "})

    assert page.status_code == 302
    assert page["Location"] == record_url("ghl", link.ghl_id)


def test_search_by_either_id_and_by_the_first_letters_of_a_name(synced: World) -> None:
    link = a_linked_contact()

    for text in (link.ghl_id, link.streettext_id):
        _, found = record_selectors.record_search(text=text)
        assert [(f.ghl_id, f.streettext_id) for f in found] == [(link.ghl_id, link.streettext_id)]
    first_name = link.label.split()[0]
    query, found = record_selectors.record_search(text=first_name[:3].lower())
    assert query.kind == "id or name"
    assert link.ghl_id in {f.ghl_id for f in found}
    assert all(f.label.lower().startswith(first_name[:3].lower()) for f in found)
    # A name is matched from its start only: the middle of a name finds nothing.
    _, middle = record_selectors.record_search(text=link.label[1:4])
    assert link.ghl_id not in {f.ghl_id for f in middle}


def test_search_by_a_phone_typed_any_way_finds_the_rows_that_stored_it_in_e164(synced: World) -> None:
    row = RecordHistory.objects.exclude(phone="").filter(phone__startswith="+1").order_by("pk").first()
    assert row is not None
    national = f"({row.phone[2:5]}) {row.phone[5:8]}-{row.phone[8:]}"

    query, found = record_selectors.record_search(text=national)

    assert query.kind == "phone"
    assert row.ghl_id in {f.ghl_id for f in found}


def test_a_record_that_failed_and_was_never_linked_is_found_by_its_id(synced: World) -> None:
    failed = RecordHistory.objects.filter(action="failed").order_by("pk").first()
    assert failed is not None
    assert not RecordLink.objects.filter(ghl_id=failed.ghl_id).exists()

    _, found = record_selectors.record_search(text=failed.ghl_id)

    assert [(f.system, f.record_id, f.linked) for f in found] == [("ghl", failed.ghl_id, False)]


def test_searches_never_scan_the_history_table_with_like(admin_client: Client, synced: World) -> None:
    link = a_linked_contact()
    for text in (link.email, link.label[:3], link.ghl_id, "+1 415 555 0100"):
        with CaptureQueriesContext(connection) as queries:
            record_selectors.record_search(text=text)
        history_sql = [q["sql"] for q in queries.captured_queries if "integrations_recordhistory" in q["sql"]]
        assert history_sql
        assert not any(" LIKE " in sql.upper() for sql in history_sql), history_sql


# -- the page --


def test_the_record_page_shows_the_pair_with_names_and_the_story_across_runs(
    admin_client: Client, synced: World
) -> None:
    link = a_linked_contact()
    contact = SandboxRecord.objects.get(account__system="ghl", object_type="contact", record_id=link.ghl_id)
    contact.data = {**contact.data, "lastName": "Changedname"}
    contact.save()
    SandboxRecord.objects.filter(pk=contact.pk).update(updated_at=contact.updated_at.replace(year=2030))
    second = execute(synced.mapping)

    page = admin_client.get(record_url("streettext", link.streettext_id))  # from either side
    html = page.content.decode()

    assert page.status_code == 200
    story = page.context["story"]
    assert story.ghl_id == link.ghl_id
    assert story.streettext_id == link.streettext_id
    assert link.label in html
    assert link.email in html
    assert synced.ghl.name in html
    assert synced.streettext.name in html
    rows = [r["row"] for r in page.context["rows"]]
    assert [r.run_id for r in rows][:1] == [second.pk]  # newest first
    assert len({r.run_id for r in rows}) == 2  # both runs
    assert "Changedname" in html  # the diff of the second run
    assert "<del>" in html


def test_history_rows_and_link_rows_lead_to_the_record_page(admin_client: Client, synced: World) -> None:
    link = a_linked_contact()
    url = record_url("ghl", link.ghl_id).replace("&", "&amp;")

    links_page = admin_client.get(reverse("admin:integrations_recordlink_changelist"), {"q": link.ghl_id})
    history_page = admin_client.get(reverse("admin:integrations_recordhistory_changelist"), {"q": link.ghl_id})

    assert url in links_page.content.decode()
    assert url in history_page.content.decode()
    assert reverse("admin:records") in history_page.content.decode()  # "Find a record"


def test_sync_this_record_now_runs_the_mapping_for_that_record_only(
    admin_client: Client, synced: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = a_linked_contact()
    # Fixed in GHL (and another contact changed too, which this run must leave alone).
    other = RecordLink.objects.exclude(pk=link.pk).first()
    assert other is not None
    for record_id, last_name in ((link.ghl_id, "Fixedname"), (other.ghl_id, "Other")):
        contact = SandboxRecord.objects.get(account__system="ghl", object_type="contact", record_id=record_id)
        contact.data = {**contact.data, "lastName": last_name}
        contact.save()

    # The task is not sent (a worker of another test may be listening): the run is executed here, once.
    from integrations import enqueue

    sent: list[int] = []
    monkeypatch.setattr(enqueue, "run_sync", lambda run_id, **kw: sent.append(run_id))
    response = admin_client.post(
        reverse("admin:record_sync", args=["ghl"]) + "?" + urlencode({"id": link.ghl_id}),
        {"mapping": synced.mapping.pk},
        follow=True,
    )

    assert len(sent) == 1  # the run's task, held back
    run = SyncRun.objects.order_by("-pk").first()
    assert run is not None
    assert run.only_ids == {"ghl": [link.ghl_id]}
    assert run.scope == SyncRun.Scope.IDS
    assert run.requested_by == "admin"
    messages = [str(m) for m in response.context["messages"]]
    assert any(f"Run #{run.pk} queued for this record" in m for m in messages), messages
    # The run reads that one record again: one history row, for this record.
    sync.sync_run_execute(run_id=run.pk)
    rows = list(RecordHistory.objects.filter(run=run))
    assert [(r.ghl_id, r.action) for r in rows] == [(link.ghl_id, "updated")]
    assert rows[0].changes["last_name"]["after"] == "Fixedname"


def test_a_second_request_while_a_run_is_active_is_refused_with_the_reason(admin_client: Client, synced: World) -> None:
    link = a_linked_contact()
    active = SyncRun.objects.create(mapping=synced.mapping, trigger="manual", status="running")

    response = admin_client.post(
        reverse("admin:record_sync", args=["ghl"]) + "?" + urlencode({"id": link.ghl_id}),
        {"mapping": synced.mapping.pk},
        follow=True,
    )

    messages = [str(m) for m in response.context["messages"]]
    assert any(f"is already running (run #{active.pk})" in m for m in messages), messages
    assert SyncRun.objects.count() == 2


def test_retry_after_a_fix_reruns_the_failed_side_and_the_record_is_written(
    admin_client: Client, synced: World
) -> None:
    failed = RecordHistory.objects.filter(action="failed", mapping=synced.mapping).order_by("pk").first()
    assert failed is not None
    page = admin_client.get(record_url("ghl", failed.ghl_id))
    assert [r.pk for r in page.context["story"].failed] == [failed.pk]
    assert "Retry" in page.content.decode()
    # The fix: a phone StreetText accepts.
    contact = SandboxRecord.objects.get(account__system="ghl", object_type="contact", record_id=failed.ghl_id)
    contact.data = {**contact.data, "phone": "+14155550999"}
    contact.save()

    admin_client.post(
        reverse("admin:record_sync", args=["ghl"]) + "?" + urlencode({"id": failed.ghl_id}), {"retry": failed.pk}
    )

    run = SyncRun.objects.order_by("-pk").first()
    assert run is not None
    assert (run.trigger, run.only_ids, run.rerun_of_id) == ("rerun", {"ghl": [failed.ghl_id]}, failed.run_id)
    sync.sync_run_execute(run_id=run.pk)
    assert list(RecordHistory.objects.filter(run=run).values_list("action", flat=True)) == ["created"]
    after = admin_client.get(record_url("ghl", failed.ghl_id))
    assert after.context["story"].failed == []
    assert after.context["story"].link is not None


def test_enrich_mode_reads_the_target_side_for_one_record() -> None:
    mapping = Mapping(direction=Direction.TO_STREETTEXT, mode=Mapping.Mode.ENRICH)
    assert record_only_ids(mapping=mapping, ids={"ghl": "g1", "streettext": "s1"}) == {"streettext": ["s1"]}
    both = Mapping(direction=Direction.BOTH, mode=Mapping.Mode.SYNC)
    assert record_only_ids(mapping=both, ids={"ghl": "g1", "streettext": "s1"}) == {
        "ghl": ["g1"],
        "streettext": ["s1"],
    }


def test_a_viewer_reads_the_page_without_buttons_and_cannot_post(synced: World) -> None:
    link = a_linked_contact()
    viewer = viewer_client()

    page = viewer.get(record_url("ghl", link.ghl_id))
    html = page.content.decode()

    assert page.status_code == 200
    assert "Sync this record now" not in html
    assert "Retry" not in html
    assert reverse("admin:mappings_mapping_change", args=[synced.mapping.pk]) not in html
    refused = viewer.post(
        reverse("admin:record_sync", args=["ghl"]) + "?" + urlencode({"id": link.ghl_id}),
        {"mapping": synced.mapping.pk},
    )
    assert refused.status_code == 403
    assert not SyncRun.objects.filter(only_ids__ghl=[link.ghl_id]).exists()


def test_an_unknown_record_is_a_404(admin_client: Client, synced: World) -> None:
    assert admin_client.get(record_url("ghl", "no-such-id")).status_code == 404
    assert admin_client.get(record_url("nowhere", "x")).status_code == 404


# -- cost on the demo data --


# Measured on the demo data (search page 2, a search 4, record page 7) plus a small margin.
RECORD_QUERY_LIMITS = {"search page": 3, "search by email": 5, "record page": 9}


def test_the_record_pages_stay_within_their_query_budget(
    admin_client: Client,
    demo_data: dict[str, Any],  # noqa: F811 - the fixture imported above
    django_assert_max_num_queries: Any,
) -> None:
    row = demo_data["history"]
    urls = {
        "search page": reverse("admin:records"),
        "search by email": reverse("admin:records") + "?" + urlencode({"q": "nobody-there@example.com"}),
        "record page": record_url("ghl", row.ghl_id),
    }
    timings = {}
    for name, url in urls.items():
        admin_client.get(url)
        with django_assert_max_num_queries(RECORD_QUERY_LIMITS[name]):
            started = time.perf_counter()
            response = admin_client.get(url)
            timings[name] = time.perf_counter() - started
        assert response.status_code == 200, name
    slow = {name: f"{seconds * 1000:.0f} ms" for name, seconds in timings.items() if seconds > 1.0}
    assert slow == {}
