"""Failures people can act on: grouped by cause on the start page, a mapping's state from its real runs, the record
page about its own record, and figures that equal what their links open."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations.failure_selectors import failure_cause
from integrations.models import Connection, MappingRecordState, RecordHistory, RecordLink, SyncRun
from integrations.services.records import record_retry_request, record_sync_request
from integrations.services.sync.outcomes import REASON_PARENT_FAILED
from mappings.models import Mapping
from mappings.transforms import MSG_INVALID_PHONE

pytestmark = pytest.mark.django_db


def _phone_error(value: str) -> str:
    return "phone: " + MSG_INVALID_PHONE.format(value=value, region="US")


@pytest.mark.parametrize(
    ("error", "kind", "field"),
    [
        (_phone_error("+1 555"), "… is not a valid phone number for region US", "phone"),
        (_phone_error("12") + "; email: bad", "… is not a valid phone number for region US", "phone"),
        (
            REASON_PARENT_FAILED.format(parent="contact", parent_id="g-77", why=_phone_error("x")),
            "its contact could not be synced first: … is not a valid phone number for region US",
            "phone",
        ),
        (
            "StreetText answered 422: the contact s-123 is archived",
            "StreetText answered 422: the contact … is archived",
            "",
        ),
        (
            'StreetText rejected the record (422): phone: invalid ("00011")',
            "StreetText rejected the record (422): invalid (…)",
            "phone",
        ),
        (
            "GoHighLevel refused the data (422): email: already taken; phone: bad",
            "GoHighLevel refused the data (422): already taken",
            "email",
        ),
        ("", "(no message)", ""),
    ],
)
def test_a_failures_cause_is_its_field_and_its_message_without_values(error: str, kind: str, field: str) -> None:
    assert failure_cause(error) == (kind, field)


@pytest.fixture
def pair() -> dict[str, Any]:
    ghl = Connection.objects.create(
        name="G", system="ghl", base_url="https://ghl.invalid", location_id="loc", auth_type="pit"
    )
    st = Connection.objects.create(name="S", system="streettext", base_url="https://st.invalid", auth_type="api_key")
    contacts = Mapping.objects.create(
        name="Contacts", ghl_connection=ghl, streettext_connection=st, object_type="contact", direction="both"
    )
    notes = Mapping.objects.create(
        name="Follow-ups from notes", ghl_connection=ghl, streettext_connection=st, object_type="note"
    )
    return {"ghl": ghl, "st": st, "contacts": contacts, "notes": notes}


def _run(mapping: Mapping, **fields: Any) -> SyncRun:
    return SyncRun.objects.create(mapping=mapping, **{"trigger": "schedule", "status": "partial", **fields})


def _failed(run: SyncRun, error: str, **fields: Any) -> RecordHistory:
    return RecordHistory.objects.create(
        run=run, mapping=run.mapping, direction="to_streettext", action="failed", error=error, **fields
    )


def test_one_bad_phone_number_is_one_row_per_mapping_and_cause(admin_client: Client, pair: dict[str, Any]) -> None:
    contacts, notes = pair["contacts"], pair["notes"]
    # The same bad phone, seen by three runs of the contacts mapping and by six child notes whose contact failed.
    for number in range(3):
        _failed(_run(contacts), _phone_error(f"+1 555 01{number}"), ghl_id="g-1", email="ann@example.com")
    for number in range(6):
        newest_note = _failed(
            _run(notes),
            REASON_PARENT_FAILED.format(parent="contact", parent_id="g-1", why=_phone_error("+1 555 010")),
            ghl_id=f"g-1/n-{number}",
        )
    other = _failed(_run(contacts), "email: not an email address", ghl_id="g-2")

    page = admin_client.get(reverse("admin:index"))
    html = page.content.decode()

    causes = [(c.mapping.name, c.field, c.count) for c in page.context["failure_causes"]]
    assert causes == [("Contacts", "email", 1), ("Follow-ups from notes", "phone", 6), ("Contacts", "phone", 3)]
    assert [c.newest.pk for c in page.context["failure_causes"]][:2] == [other.pk, newest_note.pk]
    section = html[html.index('id="ss-failures"') :]
    section = section[: section.index("</table>")]
    assert section.count("<tr>") == 1 + 3  # the header and one row per cause, not ten rows of the same phone
    assert reverse("admin:integrations_recordhistory_change", args=[newest_note.pk]) in section
    assert "is not a valid phone number for region US" in section
    visible = re.sub(r'title="[^"]*"', "", section)  # the newest example's full error is a tooltip
    assert "+1 555" not in visible  # the values differ per record; the cause does not


def test_a_failed_one_record_retry_never_repaints_a_healthy_mapping(admin_client: Client, pair: dict[str, Any]) -> None:
    contacts = pair["contacts"]
    earlier = _run(contacts, status="partial", processed=10, failed=1)
    bad = _failed(earlier, _phone_error("x"), ghl_id="g-1", streettext_id="s-1")
    healthy = _run(contacts, status="succeeded", processed=10)
    # Retry of the one failed record, and "Sync this record now": both fail (the phone is still bad).
    retry = record_retry_request(failed=bad, requested_by="ann")
    SyncRun.objects.filter(pk=retry.pk).update(status="failed", failed=1)
    one = record_sync_request(mapping=contacts, ghl_id="g-1", requested_by="ann")
    SyncRun.objects.filter(pk=one.pk).update(status="failed", failed=1)
    _run(contacts, status="failed", dry_run=True, trigger="manual")

    start = admin_client.get(reverse("admin:index"))
    listing = admin_client.get(reverse("admin:mappings_mapping_changelist")).content.decode()

    shown = {m.pk: (m.last_run_id, m.last_run_status) for m in start.context["mappings"]}
    assert shown[contacts.pk] == (healthy.pk, "succeeded")
    assert reverse("admin:integrations_syncrun_change", args=[healthy.pk]) in listing
    assert reverse("admin:integrations_syncrun_change", args=[retry.pk]) not in listing


def test_the_record_page_shows_its_own_rows_mappings_and_retry(admin_client: Client, pair: dict[str, Any]) -> None:
    contacts, notes = pair["contacts"], pair["notes"]
    link = RecordLink.objects.create(
        ghl_connection=pair["ghl"],
        streettext_connection=pair["st"],
        object_type="contact",
        ghl_id="g-1",
        streettext_id="s-1",
        label="Ann Lee",
    )
    own = _failed(_run(contacts), _phone_error("x"), ghl_id="g-1", streettext_id="s-1")
    # A follow-up of the notes mapping names the contact (it enrols it): its run and Retry are the notes mapping's.
    foreign = _failed(_run(notes), "GoHighLevel answered 422: workflow missing", ghl_id="g-1")

    page = admin_client.get(reverse("admin:record", args=["ghl"]) + "?id=g-1")
    html = page.content.decode()

    runs_linked = set(re.findall(r"/admin/integrations/syncrun/(\d+)/change/", html))
    assert runs_linked == {str(own.run_id)}
    assert [r.pk for r in page.context["story"].failed] == [own.pk]
    assert [m.pk for m in page.context["story"].mappings] == [contacts.pk]
    assert str(foreign.run_id) not in runs_linked
    assert link.pk


def test_last_synced_is_the_newest_run_that_touched_the_record(admin_client: Client, pair: dict[str, Any]) -> None:
    link = RecordLink.objects.create(
        ghl_connection=pair["ghl"],
        streettext_connection=pair["st"],
        object_type="contact",
        ghl_id="g-1",
        streettext_id="s-1",
        last_synced_at=timezone.now() - timedelta(days=10),
    )
    recent = timezone.now() - timedelta(hours=1)
    MappingRecordState.objects.create(mapping=pair["contacts"], link=link, synced_at=recent)
    run = _run(pair["contacts"], status="succeeded")
    row = RecordHistory.objects.create(
        run=run, mapping=pair["contacts"], direction="to_streettext", action="updated", ghl_id="g-1"
    )
    RecordHistory.objects.filter(pk=row.pk).update(created_at=recent - timedelta(minutes=5))

    page = admin_client.get(reverse("admin:record", args=["ghl"]) + "?id=g-1")

    assert page.context["story"].last_synced_at == recent
    local = timezone.localtime(recent)
    assert f"<dt>Last synced</dt><dd>{local:%d %b %Y %H:%M:%S}</dd>" in page.content.decode()


def test_the_run_pages_history_figure_is_what_its_link_opens(admin_client: Client, pair: dict[str, Any]) -> None:
    run = _run(pair["contacts"], status="succeeded", processed=300, updated=78, skipped=222)
    RecordHistory.objects.bulk_create(
        RecordHistory(run=run, mapping=run.mapping, direction="to_streettext", action="updated", ghl_id=f"g-{i}")
        for i in range(78)
    )

    html = admin_client.get(reverse("admin:integrations_syncrun_change", args=[run.pk])).content.decode()
    link = re.search(r'<a href="([^"]*run__id__exact=\d+)">([\d,+]+) row\(s\)</a>', html)
    assert link is not None, html[html.find("Record history") : html.find("Record history") + 300]
    opened = admin_client.get(link.group(1).replace("&amp;", "&"))

    assert link.group(2) == "78"
    assert opened.context["cl"].result_count == 78
    assert "of 300 record(s) looked at; 222 unchanged ones are counted, not kept" in html
