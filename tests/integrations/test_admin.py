"""The admin as a person uses it: connections, mappings with preview and Sync now, runs, history."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from integrations.clients.ghl import MSG_NO_LOCATION_ACCESS
from integrations.models import Connection, RecordHistory, SyncRun, System
from integrations.services.connections import (
    TEST_TOKEN_REJECTED,
    TEST_UNREACHABLE,
)
from mappings.models import Direction, FieldMapping, Mapping
from tests.integrations.support import GHL_TOKEN, build_world

# live_server answers from another thread: the data must be committed, so these tests use real transactions.
pytestmark = pytest.mark.django_db(transaction=True)


def test_changelists_load(admin_client: Any, live_server: Any) -> None:
    build_world(live_server.url)
    for name in ("connection", "syncrun", "recordhistory", "recordlink"):
        assert admin_client.get(reverse(f"admin:integrations_{name}_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:mappings_mapping_changelist")).status_code == 200


# Saving tests the connection: a closed local port, so no test ever calls a real GoHighLevel host.
CLOSED_PORT_URL = "http://127.0.0.1:9"


def test_connection_secret_is_write_only_and_encrypted(admin_client: Any, settings: Any) -> None:
    settings.API_TRANSPORT_RETRIES = 0
    response = admin_client.post(
        reverse("admin:integrations_connection_add"),
        {
            "name": "Acme",
            "system": "ghl",
            "base_url": CLOSED_PORT_URL,
            "location_id": "loc-1",
            "auth_type": "pit",
            "secret": "pit-super-secret-value",
        },
    )
    assert response.status_code == 302, response.content
    connection = Connection.objects.get(name="Acme")
    assert connection.api_secret == "pit-super-secret-value"
    assert "pit-super-secret-value" not in connection.api_secret_encrypted
    page = admin_client.get(reverse("admin:integrations_connection_change", args=[connection.pk]))
    assert b"pit-super-secret-value" not in page.content
    assert b"stored (encrypted)" in page.content
    # Saving without typing a secret keeps the stored one.
    admin_client.post(
        reverse("admin:integrations_connection_change", args=[connection.pk]),
        {
            "name": "Acme renamed",
            "system": "ghl",
            "base_url": CLOSED_PORT_URL,
            "location_id": "loc-1",
            "auth_type": "pit",
            "secret": "",
        },
    )
    connection.refresh_from_db()
    assert connection.name == "Acme renamed"
    assert connection.api_secret == "pit-super-secret-value"


def test_only_a_streettext_connection_asks_for_a_webhook_secret(admin_client: Any) -> None:
    ghl = Connection(name="G", system="ghl", base_url=CLOSED_PORT_URL, location_id="loc-1", auth_type="pit")
    ghl.api_secret = "t"
    ghl.save()
    st = Connection(name="S", system="streettext", base_url=CLOSED_PORT_URL, auth_type="api_key")
    st.api_secret = "k"
    st.save()

    def asks(connection: Connection) -> bool:
        page = admin_client.get(reverse("admin:integrations_connection_change", args=[connection.pk]))
        return b'name="webhook_secret"' in page.content

    assert (asks(ghl), asks(st)) == (False, True)


def test_connection_form_rejects_missing_location_and_secret(admin_client: Any) -> None:
    response = admin_client.post(
        reverse("admin:integrations_connection_add"),
        {"name": "x", "system": "ghl", "base_url": "https://h.example", "location_id": "", "auth_type": "pit"},
    )
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "location_id" in form.errors
    assert "secret" in form.errors


def _test_connection(admin_client: Any, connection: Connection) -> list[str]:
    response = admin_client.post(
        reverse("admin:integrations_connection_changelist"),
        {"action": "test_connections", "_selected_action": [connection.pk]},
        follow=True,
    )
    return [str(m) for m in response.context["messages"]]


def test_test_connection_reports_each_outcome(admin_client: Any, live_server: Any) -> None:
    world = build_world(live_server.url)
    assert "OK" in _test_connection(admin_client, world.ghl)[0]
    assert "OK" in _test_connection(admin_client, world.streettext)[0]

    world.ghl.api_secret = "wrong-token"
    world.ghl.save()
    assert TEST_TOKEN_REJECTED in _test_connection(admin_client, world.ghl)[0]
    world.ghl.refresh_from_db()
    assert world.ghl.status == Connection.Status.NEEDS_REAUTH

    world.ghl.api_secret = GHL_TOKEN
    world.ghl.location_id = "someone-elses-location"
    world.ghl.save()
    # GHL's 403 names the cause: the token is valid, not for this location (docs/ghl-facts.md#live-deviations).
    no_access = MSG_NO_LOCATION_ACCESS.format(location="someone-elses-location")
    assert no_access in _test_connection(admin_client, world.ghl)[0]

    world.ghl.base_url = "http://127.0.0.1:9/sandbox/ghl"
    world.ghl.save()
    assert TEST_UNREACHABLE.format(base_url=world.ghl.base_url) in _test_connection(admin_client, world.ghl)[0]


def test_preview_shows_a_real_source_record_and_writes_nothing(admin_client: Any, live_server: Any) -> None:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT)
    response = admin_client.get(reverse("admin:mappings_mapping_preview", args=[world.mapping.pk]))
    assert response.status_code == 200
    preview = response.context["preview"]
    assert preview.error == ""
    assert preview.record is not None
    assert {row.target_field for row in preview.rows} >= {"first_name", "email", "phone"}
    email_row = next(row for row in preview.rows if row.target_field == "email")
    assert email_row.target_value == (email_row.source_value or "").strip().lower() or email_row.source_value is None
    assert not SyncRun.objects.exists()
    assert not RecordHistory.objects.exists()
    # People read labels: the field written, where it comes from, and every source value.
    assert (email_row.target_label, email_row.source_description) == ("Email", "Source field: Email")
    first = next(row for row in preview.rows if row.target_field == "first_name")
    assert (first.target_label, first.source_description) == ("First name", "Source field: First name")
    html = response.content.decode()
    assert "First name <span" in html
    assert "Source field: firstName" not in html


def test_sync_now_button_queues_a_run_and_refuses_a_second(admin_client: Any, live_server: Any) -> None:
    world = build_world(live_server.url)
    url = reverse("admin:mappings_mapping_sync", args=[world.mapping.pk])
    first = admin_client.post(url)
    run = SyncRun.objects.get()
    assert first.status_code == 302
    assert first["Location"] == reverse("admin:integrations_syncrun_change", args=[run.pk])
    assert run.trigger == SyncRun.Trigger.MANUAL
    assert run.requested_by == "admin"
    second = admin_client.post(url, follow=True)
    assert any("already" in str(m) for m in second.context["messages"])
    assert SyncRun.objects.count() == 1
    page = admin_client.get(reverse("admin:integrations_syncrun_change", args=[run.pk]))
    assert b'http-equiv="refresh"' in page.content  # progress page refreshes while the run is active
    runs_list = admin_client.get(reverse("admin:integrations_syncrun_changelist"))
    assert b'http-equiv="refresh"' in runs_list.content
    # The run was really queued: a worker of this test session may be executing it now; the teardown in
    # tests/conftest.py (_settle_runs_before_flush) takes it back or lets it finish before the tables are emptied.


def test_mapping_form_rejects_unknown_fields_and_transforms(admin_client: Any, live_server: Any) -> None:
    world = build_world(live_server.url, direction=Direction.TO_STREETTEXT)
    mapping = world.mapping
    data = {
        "name": mapping.name,
        "object_type": "contact",
        "ghl_connection": world.ghl.pk,
        "streettext_connection": world.streettext.pk,
        "direction": Direction.TO_STREETTEXT,
        "enabled": "on",
        "match_rules": "link, email, phone",
        "phone_region": "US",
        "conflict_policy": Mapping.ConflictPolicy.NEWEST_WINS,
        "delete_policy": Mapping.DeletePolicy.UNLINK,
        "mode": Mapping.Mode.SYNC,
        "followup_rules": "[]",
        "create_missing": "on",
        "schedule_minutes": "5",
        "field_mappings-TOTAL_FORMS": "1",
        "field_mappings-INITIAL_FORMS": "0",
        "field_mappings-MIN_NUM_FORMS": "0",
        "field_mappings-MAX_NUM_FORMS": "1000",
        "field_mappings-0-position": "9",
        "field_mappings-0-direction": Direction.TO_STREETTEXT,
        "field_mappings-0-target_field": "nickname",
        "field_mappings-0-source_kind": "field",
        "field_mappings-0-source": "firstNam",
        "field_mappings-0-transforms": "trim | lowr",
    }
    response = admin_client.post(reverse("admin:mappings_mapping_change", args=[mapping.pk]), data)
    assert response.status_code == 200
    errors = str(response.context["inline_admin_formsets"][0].formset.errors)
    assert "nickname" in errors
    assert "firstNam" in errors
    assert "lowr" in errors

    data.update(
        {
            "field_mappings-0-target_field": "city",
            "field_mappings-0-source": "city",
            "field_mappings-0-transforms": "trim | title",
        }
    )
    response = admin_client.post(reverse("admin:mappings_mapping_change", args=[mapping.pk]), data)
    assert response.status_code == 302
    assert FieldMapping.objects.filter(mapping=mapping, target_field="city").exists()
    mapping.refresh_from_db()
    # The schedule is kept in django-celery-beat.
    task = PeriodicTask.objects.get(pk=mapping.periodic_task_id)
    assert task.interval.every == 5
    assert task.enabled


def test_record_history_search_and_filters(admin_client: Any, live_server: Any) -> None:
    world = build_world(live_server.url)
    run = SyncRun.objects.create(mapping=world.mapping, trigger="manual", status="succeeded")
    RecordHistory.objects.create(
        run=run,
        mapping=world.mapping,
        direction="to_streettext",
        action="updated",
        ghl_id="g-1",
        streettext_id="s-1",
        email="ann@example.com",
        changes={"last_name": {"before": "Old", "after": "New"}},
    )
    url = reverse("admin:integrations_recordhistory_changelist")
    page = admin_client.get(url, {"q": "ann@example.com"})
    assert b"<del>Old</del>" in page.content
    assert b"<ins>New</ins>" in page.content
    assert admin_client.get(url, {"action__exact": "failed"}).context["cl"].result_count == 0
    assert admin_client.get(url, {"run__id__exact": run.pk}).context["cl"].result_count == 1


def test_system_choices_limit_connections_per_side() -> None:
    field = Mapping._meta.get_field("ghl_connection")
    assert field.remote_field.limit_choices_to == {"system": System.GHL}


def test_one_click_pattern_creates_a_working_mapping(admin_client: Any, live_server: Any) -> None:
    world = build_world(live_server.url)
    page = admin_client.get(reverse("admin:mappings_mapping_presets"))
    assert b"Task orchestration" in page.content
    response = admin_client.post(
        reverse("admin:mappings_mapping_presets"),
        {"preset": "task_orchestration", "ghl_connection": world.ghl.pk, "streettext_connection": world.streettext.pk},
    )
    mapping = Mapping.objects.get(object_type="task")
    assert response["Location"] == reverse("admin:mappings_mapping_change", args=[mapping.pk])
    assert set(mapping.field_mappings.values_list("target_field", flat=True)) == {
        "title",
        "body",
        "due_at",
        "completed",
        "assignee",
    }
    # The created mapping passes its own admin form as it is.
    assert admin_client.get(reverse("admin:mappings_mapping_change", args=[mapping.pk])).status_code == 200


def test_followup_rules_are_validated(admin_client: Any, live_server: Any) -> None:
    from mappings.forms import MappingForm

    world = build_world(live_server.url)
    data = {
        "name": "m",
        "object_type": "contact",
        "ghl_connection": world.ghl.pk,
        "streettext_connection": world.streettext.pk,
        "direction": Direction.TO_STREETTEXT,
        "match_rules": "link, email",
        "phone_region": "US",
        "conflict_policy": "newest_wins",
        "mode": "sync",
        "delete_policy": "unlink",
        "schedule_minutes": "0",
        "followup_rules": '[{"name": "a", "when": {"field": "tags", "op": "like", "value": "x"}, "title": "T"}]',
    }
    form = MappingForm(data=data)
    assert not form.is_valid()
    assert 'unknown operator "like"' in form.errors["followup_rules"][0]
    data["followup_rules"] = '[{"name": "a", "when": {"field": "tags", "op": "contains", "value": "x"}, "title": "T"}]'
    assert MappingForm(data=data).is_valid()


def test_changelists_do_not_query_per_row(
    admin_client: Any, live_server: Any, django_assert_max_num_queries: Any
) -> None:
    world = build_world(live_server.url)
    for i in range(3):
        mapping = Mapping.objects.create(name=f"m{i}", ghl_connection=world.ghl, streettext_connection=world.streettext)
        for status in ("failed", "partial"):
            run = SyncRun.objects.create(mapping=mapping, trigger="manual", status=status)
            RecordHistory.objects.create(run=run, mapping=mapping, direction="to_streettext", action="created")
    urls = [
        reverse("admin:mappings_mapping_changelist"),
        reverse("admin:integrations_syncrun_changelist"),
        reverse("admin:integrations_recordhistory_changelist"),
        reverse("admin:integrations_recordlink_changelist"),
    ]
    for url in urls:
        with django_assert_max_num_queries(15):
            page = admin_client.get(url)
        assert page.status_code == 200
    assert b"Partial (some failed)" in admin_client.get(urls[0]).content
    # Nothing is running: the runs list does not refresh itself.
    assert b'http-equiv="refresh"' not in admin_client.get(urls[1]).content
