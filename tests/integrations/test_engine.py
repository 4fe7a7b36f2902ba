"""The sync engine in-process (no worker) against the sandbox over real HTTP: matching, conflicts, deletes, resume."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from integrations.models import Connection, RecordHistory, RecordLink, SyncCursor, SyncRun
from integrations.services import sync
from integrations.services.runs import RUNS
from mappings.models import Direction, Mapping
from sandbox import services as sandbox
from tests.integrations.support import GHL_TOKEN, ST_KEY, World, build_world, sandbox_contacts

pytestmark = pytest.mark.django_db(transaction=True)
Action = RecordHistory.Action


@pytest.fixture(autouse=True)
def _fast(settings: Any) -> None:
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000
    settings.SYNC_PAGE_SIZE = 20
    settings.API_BACKOFF_FACTOR = 0


def execute(world: World, **kwargs: Any) -> SyncRun:
    run = SyncRun.objects.create(mapping=world.mapping, trigger=SyncRun.Trigger.MANUAL, **kwargs)
    sync.sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def st_patch(world: World, contact_id: str, **fields: Any) -> None:
    r = requests.patch(
        f"{world.streettext.base_url}/v1/contacts/{contact_id}", json=fields, headers={"X-Api-Key": ST_KEY}, timeout=10
    )
    assert r.status_code == 200, r.text


def ghl_put(world: World, contact_id: str, **fields: Any) -> None:
    r = requests.put(
        f"{world.ghl.base_url}/contacts/{contact_id}",
        json=fields,
        headers={"Authorization": f"Bearer {GHL_TOKEN}", "Version": "2021-07-28"},
        timeout=10,
    )
    assert r.status_code == 200, r.text


# -- pure helpers -------------------------------------------------------------------------------------------------


def test_match_values_are_normalised() -> None:
    assert sync.match_value("email", "  Ann@Example.COM ", region="US") == "ann@example.com"
    assert sync.match_value("phone", "(415) 555-0100", region="US") == "+14155550100"
    assert sync.match_value("phone", "020 7946 0018", region="GB") == "+442079460018"
    assert sync.match_value("phone", "call me", region="US") is None
    assert sync.match_value("email", "", region="US") is None


def test_blank_values_compare_equal_and_digests_ignore_spaces_and_list_order() -> None:
    assert sync.same_value(None, "")
    assert sync.same_value([], None)
    assert sync.same_value(" a ", "a")
    assert not sync.same_value("a", "A")
    assert sync.digest(" a ") == sync.digest("a")
    assert sync.digest("") == sync.digest(None)
    assert sync.digest("a") != sync.digest("A")
    # Lists (tags) compare as sets of items, whatever their order and letter case.
    assert sync.digest(["b", "A"], as_list=True) == sync.digest(["a", "B"], as_list=True)
    assert sync.digest(["a"], as_list=True) != sync.digest(["a", "b"], as_list=True)


# -- runs ---------------------------------------------------------------------------------------------------------


def test_cursor_moves_only_after_a_page_is_stored_and_a_crashed_run_resumes(live_server: Any) -> None:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT)
    total = world.seeded["ghl_total"]
    # The second search page fails for good (401): the run stops after storing page one.
    sandbox.sandbox_fault_add(system="ghl", kind="status", status=401, count=1, path_contains="contacts/search", skip=1)

    first = execute(world)

    assert first.status == SyncRun.Status.FAILED
    assert first.processed == 20
    cursor = SyncCursor.objects.get(mapping=world.mapping, system="ghl")
    assert cursor.position  # stored after page one
    world.ghl.refresh_from_db()
    assert world.ghl.status == Connection.Status.NEEDS_REAUTH
    written_once = {r.ghl_id for r in RecordHistory.objects.filter(run=first)}

    second = execute(world)

    assert second.processed == total - 20
    again = {r.ghl_id for r in RecordHistory.objects.filter(run=second)}
    assert not written_once & again, "records of the stored page were processed twice"
    # Every GHL contact was handled exactly once across both runs; nothing duplicated on StreetText.
    assert len(written_once | again) == total
    emails = [c["email"] for c in sandbox_contacts("streettext") if c.get("email")]
    assert len(emails) == len({e.lower() for e in emails})


def test_a_killed_runs_heartbeat_goes_stale_and_frees_the_mapping() -> None:
    from datetime import timedelta

    from django.utils import timezone

    mapping = Mapping.objects.create(
        name="m",
        ghl_connection=Connection.objects.create(
            name="g", system="ghl", base_url="http://x", location_id="l", auth_type="pit"
        ),
        streettext_connection=Connection.objects.create(
            name="s", system="streettext", base_url="http://x", auth_type="api_key"
        ),
    )
    run = SyncRun.objects.create(
        mapping=mapping, trigger="manual", status="running", heartbeat_at=timezone.now() - timedelta(minutes=10)
    )
    assert RUNS.mark_stale(older_than=timedelta(minutes=5)) == 1
    run.refresh_from_db()
    assert run.status == SyncRun.Status.STALE
    assert "resumes from the cursor" in run.error


def test_two_way_conflict_newest_wins_and_no_edit_is_lost(live_server: Any) -> None:
    world = build_world(live_server.url, direction=Direction.BOTH)
    execute(world)
    execute(world)
    links = list(RecordLink.objects.exclude(streettext_id="")[:2])
    a, b = links
    # Record a: edited on GHL first, then on StreetText (StreetText is newer and must win).
    ghl_put(world, a.ghl_id, lastName="FromGhl")
    st_patch(world, a.streettext_id, last_name="FromStreetText")
    # Record b: edited only on GHL; that edit must reach StreetText.
    ghl_put(world, b.ghl_id, lastName="OnlyGhl")

    run = execute(world)

    st = {c["id"]: c for c in sandbox_contacts("streettext")}
    ghl = {c["id"]: c for c in sandbox_contacts("ghl")}
    assert ghl[a.ghl_id]["lastName"] == "FromStreetText"
    assert st[a.streettext_id]["last_name"] == "FromStreetText"
    assert st[b.streettext_id]["last_name"] == "OnlyGhl"
    assert RecordHistory.objects.filter(run=run, reason__contains="conflict").exists()
    quiet = execute(world)
    assert (quiet.created, quiet.updated) == (0, 0)


def test_conflict_policy_one_side_wins(live_server: Any) -> None:
    world = build_world(live_server.url, direction=Direction.BOTH, conflict_policy=Mapping.ConflictPolicy.GHL_WINS)
    execute(world)
    link = RecordLink.objects.exclude(streettext_id="").first()
    assert link is not None
    st_patch(world, link.streettext_id, last_name="StreetTextLater")
    ghl_put(world, link.ghl_id, lastName="GhlEarlier")  # later in time, but policy decides anyway
    st_patch(world, link.streettext_id, last_name="StreetTextLatest")

    execute(world)

    st = {c["id"]: c for c in sandbox_contacts("streettext")}
    assert st[link.streettext_id]["last_name"] == "GhlEarlier"


def test_delete_policies(live_server: Any) -> None:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT)
    execute(world)
    links = list(RecordLink.objects.all()[:3])
    for link in links:
        r = requests.delete(
            f"{world.ghl.base_url}/contacts/{link.ghl_id}",
            headers={"Authorization": f"Bearer {GHL_TOKEN}", "Version": "2021-07-28"},
            timeout=10,
        )
        assert r.status_code == 200

    def rerun(policy: str, link: RecordLink) -> RecordHistory:
        Mapping.objects.filter(pk=world.mapping.pk).update(delete_policy=policy)
        world.mapping.refresh_from_db()
        run = execute(world, only_ids={"ghl": [link.ghl_id]})
        return RecordHistory.objects.get(run=run)

    ignored = rerun(Mapping.DeletePolicy.IGNORE, links[0])
    assert (ignored.action, ignored.streettext_id) == (Action.SKIPPED, links[0].streettext_id)
    assert RecordLink.objects.filter(pk=links[0].pk).exists()

    unlinked = rerun(Mapping.DeletePolicy.UNLINK, links[1])
    assert unlinked.action == Action.SKIPPED
    assert "link removed" in unlinked.reason
    assert not RecordLink.objects.filter(pk=links[1].pk).exists()
    assert links[1].streettext_id in {c["id"] for c in sandbox_contacts("streettext")}

    deleted = rerun(Mapping.DeletePolicy.DELETE, links[2])
    assert deleted.action == Action.DELETED
    assert links[2].streettext_id not in {c["id"] for c in sandbox_contacts("streettext")}


def test_create_missing_off_only_updates_matches(live_server: Any) -> None:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT, create_missing=False)
    st_before = len(sandbox_contacts("streettext"))

    run = execute(world)

    assert run.created == 0
    assert run.updated > 0
    assert len(sandbox_contacts("streettext")) == st_before


def test_two_records_matching_one_target_do_not_share_it(live_server: Any) -> None:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT)
    # Two GHL contacts with the same email: the second must not be linked to the first one's StreetText contact.
    ghl_account = sandbox.SandboxAccount.objects.get(system="ghl")
    for i in (1, 2):
        sandbox.sandbox_record_put(
            account=ghl_account,
            object_type="contact",
            record_id=f"dup-{i}",
            data={"firstName": f"Dup{i}", "email": "twin@example.com", "locationId": ghl_account.account_id},
        )
    run = execute(world)
    rows = RecordHistory.objects.filter(run=run, ghl_id__startswith="dup-").order_by("ghl_id")
    assert [r.action for r in rows] == [Action.CREATED, Action.FAILED]
    assert "already linked" in rows[1].error


def test_cancel_stops_at_a_page_boundary_and_the_next_run_resumes(live_server: Any) -> None:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT)
    total = world.seeded["ghl_total"]
    run = SyncRun.objects.create(mapping=world.mapping, trigger=SyncRun.Trigger.MANUAL)
    from integrations.services import runs as run_services

    original = run_services.sync_run_add_progress
    pages: list[int] = []

    def cancel_after_first_page(**kwargs: Any) -> None:
        original(**kwargs)
        if kwargs["counts"].get("processed") and not pages:
            pages.append(1)
            run_services.sync_run_cancel(run=SyncRun.objects.get(pk=run.pk), requested_by="tester")

    import unittest.mock

    with unittest.mock.patch.object(run_services, "sync_run_add_progress", cancel_after_first_page):
        sync.sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.CANCELLED
    assert "tester" in run.error
    # Exactly one page was processed and stored; its cursor moved.
    assert run.processed == 20
    assert RecordHistory.objects.filter(run=run).count() == 20
    assert SyncCursor.objects.get(mapping=world.mapping, system="ghl").position
    rest = execute(world)
    assert rest.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL)
    assert run.processed + rest.processed == total


def test_cancel_of_a_pending_run_ends_it_at_once(live_server: Any) -> None:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT)
    from integrations.services import runs as run_services

    run = SyncRun.objects.create(mapping=world.mapping, trigger=SyncRun.Trigger.MANUAL)
    run_services.sync_run_cancel(run=run, requested_by="tester")
    assert run.status == SyncRun.Status.CANCELLED
    assert sync.sync_run_execute(run_id=run.pk) is None
    with pytest.raises(run_services.SyncRequestRefused):
        run_services.sync_run_cancel(run=run)
