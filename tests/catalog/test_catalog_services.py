"""catalog_prepare / catalog_execute / catalog_raw_request / pickers / pruning, on `responses` mocks of GHL."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import requests
import responses
from django.contrib.auth import get_user_model
from django.utils import timezone

from integrations import ratelimit
from integrations.catalog.loader import get_catalog
from integrations.catalog.models import CatalogExecution
from integrations.catalog.services import (
    LOG_MAX_CHARS,
    MSG_NOT_GHL,
    MSG_NOT_SENT,
    MSG_PICKER_FAILED,
    PICKER_TIMEOUT,
    CatalogInputError,
    catalog_execute,
    catalog_execution_prune,
    catalog_picker_options,
    catalog_prepare,
    catalog_raw_request,
)
from integrations.models import Connection, System
from tests.catalog.conftest import MOCK_GHL

pytestmark = pytest.mark.django_db

CONTEXT = {"locationId": "loc1", "companyId": ""}


def op(key: str) -> Any:
    return get_catalog().operation(key)


# -- preparing a request -----------------------------------------------------------------------------------------


def test_blank_location_fields_take_the_connections_and_optional_empty_bodies_are_not_sent() -> None:
    plan = catalog_prepare(operation=op("list-calendars"), params={"groupId": ""}, context=CONTEXT)
    create = catalog_prepare(operation=op("create-business"), body={"name": "Acme"}, context=CONTEXT)

    assert (plan.query, plan.body, plan.send_body) == ({"locationId": "loc1"}, None, False)
    assert create.body == {"name": "Acme", "locationId": "loc1"}


def test_find_contact_sends_a_filter_for_each_input_given_and_needs_one() -> None:
    plan = catalog_prepare(operation=op("find-contact"), params={"phone": "+14155550100"}, context=CONTEXT)

    assert plan.body == {
        "locationId": "loc1",
        "pageLimit": 1,
        "filters": [{"group": "OR", "filters": [{"field": "phone", "operator": "eq", "value": "+14155550100"}]}],
    }
    with pytest.raises(CatalogInputError) as info:
        catalog_prepare(operation=op("find-contact"), params={}, context=CONTEXT)
    assert info.value.messages == ["Give at least one of: email, phone, id"]


def test_a_json_body_keeps_its_keys_and_gets_the_defaults_it_leaves_out() -> None:
    plan = catalog_prepare(operation=op("search-contacts"), body={"query": "ada", "pageLimit": 50}, context=CONTEXT)

    assert plan.body == {"locationId": "loc1", "pageLimit": 50, "query": "ada"}


def test_unknown_names_and_missing_path_values_are_problems_of_the_input() -> None:
    with pytest.raises(CatalogInputError) as unknown:
        catalog_prepare(operation=op("get-contact"), params={"contact_id": "c1"}, context=CONTEXT)
    with pytest.raises(CatalogInputError) as missing:
        catalog_prepare(operation=op("get-contact"), params={}, context=CONTEXT)

    assert unknown.value.messages == ["Get Contact has no parameter contact_id"]
    assert missing.value.messages == ["contactId should not be empty"]


def test_a_required_body_without_fields_is_an_empty_object() -> None:
    plan = catalog_prepare(
        operation=op("add-contact-to-workflow"), params={"contactId": "c1", "workflowId": "w1"}, context=CONTEXT
    )

    assert (plan.body, plan.send_body) == ({}, True)


# -- running and logging --------------------------------------------------------------------------------------------


def test_a_run_is_logged_with_who_when_what_and_the_answer(
    mock_connection: Connection, mocked: responses.RequestsMock
) -> None:
    user = get_user_model().objects.create_user(username="operator")
    mocked.get(f"{MOCK_GHL}/opportunities/pipelines", json={"pipelines": [{"id": "p1", "name": "Sales"}]})

    run = catalog_execute(connection=mock_connection, key="list-pipelines", user=user, origin="admin")

    assert run.ok
    assert run.items == [{"id": "p1", "name": "Sales"}]
    log = CatalogExecution.objects.get()
    assert run.log == log
    assert (log.operation_key, log.operation_name, log.origin) == ("list-pipelines", "List Pipelines", "admin")
    assert (log.connection, log.connection_name, log.user) == (mock_connection, "GHL", user)
    assert (log.outcome, log.status_code, log.method, log.path) == ("succeeded", 200, "GET", "/opportunities/pipelines")
    assert log.query == {"locationId": "loc1"}
    assert json.loads(log.response_body) == {"pipelines": [{"id": "p1", "name": "Sales"}]}
    assert log.finished_at is not None
    assert log.finished_at >= log.started_at


def test_secrets_never_reach_the_log(mock_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.post(
        f"{MOCK_GHL}/users/",
        json={"id": "u1", "email": "new@example.com", "apiKey": "leaked-key-987654", "note": "Bearer abc.def.ghi"},
        status=201,
    )
    body = {
        "companyId": "co1",
        "firstName": "Ann",
        "lastName": "Lee",
        "email": "new@example.com",
        "password": "Very secret words",
        "type": "account",
        "role": "user",
    }

    run = catalog_execute(connection=mock_connection, key="create-user", body=body)

    assert run.ok, run.messages
    assert mocked.calls[0].request.headers["Authorization"] == "Bearer tok-secret-123"
    log = CatalogExecution.objects.get()
    stored = json.dumps([getattr(log, f.attname) for f in CatalogExecution._meta.concrete_fields], default=str)
    for secret in ("Very secret words", "secret words", "leaked-key-987654", "abc.def.ghi", "tok-secret-123"):
        assert secret not in stored
    assert json.loads(log.request_body)["password"] == "[redacted]"
    assert json.loads(log.response_body)["apiKey"] == "[redacted]"
    assert json.loads(log.request_body)["locationIds"] == ["loc1"]


def test_a_request_the_spec_refuses_is_logged_as_not_sent_with_ghls_messages(
    mock_connection: Connection, mocked: responses.RequestsMock
) -> None:
    run = catalog_execute(connection=mock_connection, key="create-opportunity", body={"name": "Deal"})

    assert run.outcome == "not_sent"
    assert run.error == MSG_NOT_SENT
    assert "pipelineId should not be empty" in run.messages
    assert "status should not be empty" in run.messages
    assert len(mocked.calls) == 0
    log = CatalogExecution.objects.get()
    assert (log.outcome, log.status_code) == ("not_sent", None)
    assert "contactId should not be empty" in log.error


def test_a_refusal_by_ghl_is_logged_as_failed_with_its_status_and_messages(
    mock_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.post(
        f"{MOCK_GHL}/businesses/",
        status=422,
        json={"statusCode": 422, "message": ["name must be shorter"], "error": "Unprocessable Entity"},
    )

    run = catalog_execute(connection=mock_connection, key="create-business", body={"name": "x" * 10})

    assert (run.outcome, run.status_code, run.messages) == ("failed", 422, ["name must be shorter"])
    log = CatalogExecution.objects.get()
    assert (log.outcome, log.status_code) == ("failed", 422)
    assert "name must be shorter" in log.error


def test_the_rate_limit_governor_stops_a_catalog_call_when_the_days_quota_is_spent(
    mock_connection: Connection, mocked: responses.RequestsMock
) -> None:
    ratelimit.exhaust("ghl:loc1", resume_at=timezone.now() + timedelta(hours=2))

    run = catalog_execute(connection=mock_connection, key="list-workflows")

    assert run.outcome == "failed"
    assert "daily request quota is used up" in run.error
    assert len(mocked.calls) == 0


def test_a_big_answer_is_cut_in_the_log_and_says_so(
    mock_connection: Connection, mocked: responses.RequestsMock
) -> None:
    contacts = [{"id": f"c{i}", "email": f"person{i}@example.com"} for i in range(2000)]
    mocked.get(f"{MOCK_GHL}/contacts/", json={"contacts": contacts, "count": 2000})

    run = catalog_execute(connection=mock_connection, key="list-contacts-deprecated", params={"limit": 100})

    assert len(run.items) == 2000  # the caller gets everything; only the log is cut
    log = CatalogExecution.objects.get()
    assert log.truncated
    assert len(log.response_body) < LOG_MAX_CHARS + 20
    assert log.response_body.endswith("… (cut)")


def test_operations_run_on_ghl_connections_only(db: Any) -> None:
    streettext = Connection(name="ST", system=System.STREETTEXT, base_url="https://st.example", auth_type="api_key")
    streettext.api_secret = "key-123456"
    streettext.save()

    run = catalog_execute(connection=streettext, key="list-workflows")

    assert (run.outcome, run.error) == ("not_sent", MSG_NOT_GHL.format(name="ST"))


def test_log_false_writes_nothing(mock_connection: Connection, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{MOCK_GHL}/campaigns/", json={"campaigns": []})

    assert catalog_execute(connection=mock_connection, key="list-campaigns", log=False).ok
    assert not CatalogExecution.objects.exists()


def test_a_raw_request_takes_the_specs_version_for_a_known_route_and_is_logged(
    mock_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.get(f"{MOCK_GHL}/locations/loc1/tags", json={"tags": [{"id": "t1", "name": "vip"}]})

    run = catalog_raw_request(connection=mock_connection, method="get", path="/locations/loc1/tags")

    assert run.ok
    assert mocked.calls[0].request.headers["Version"] == "2021-07-28"
    log = CatalogExecution.objects.get()
    assert (log.operation_key, log.origin, log.method, log.path) == (
        "raw-request",
        "raw",
        "GET",
        "/locations/loc1/tags",
    )


def test_a_raw_request_to_an_unknown_route_needs_a_version(mock_connection: Connection) -> None:
    run = catalog_raw_request(connection=mock_connection, method="GET", path="/snapshots/")

    assert run.outcome == "not_sent"
    assert "give the Version header" in run.error


# -- pickers --------------------------------------------------------------------------------------------------------


def test_a_picker_lists_values_with_readable_labels(
    mock_connection: Connection, mocked: responses.RequestsMock
) -> None:
    mocked.get(
        f"{MOCK_GHL}/opportunities/pipelines",
        json={
            "pipelines": [
                {"id": "p1", "name": "Sales", "stages": [{"id": "s1", "name": "New"}, {"id": "s2", "name": "Won"}]}
            ]
        },
    )
    mocked.post(
        f"{MOCK_GHL}/contacts/search",
        json={"contacts": [{"id": "c1", "firstName": "Ada", "lastName": "Lovelace"}], "total": 1},
    )

    stages = catalog_picker_options(connection=mock_connection, key="pipeline-stages")
    contacts = catalog_picker_options(connection=mock_connection, key="contacts", search="ada")

    assert stages.options == [("s1", "Sales › New"), ("s2", "Sales › Won")]
    assert contacts.options == [("c1", "Ada Lovelace")]
    assert json.loads(mocked.calls[1].request.body or "") == {"locationId": "loc1", "pageLimit": 20, "query": "ada"}
    assert not CatalogExecution.objects.exists()  # lookups are not logged


def test_a_picker_that_cannot_load_says_so_and_uses_a_short_timeout(
    mock_connection: Connection, mocked: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    timeouts: list[Any] = []
    original = requests.Session.request

    def spy(self: requests.Session, *args: Any, **kwargs: Any) -> Any:
        timeouts.append(kwargs.get("timeout"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", spy)
    mocked.get(f"{MOCK_GHL}/calendars/", body=requests.exceptions.ConnectTimeout("slow"))

    result = catalog_picker_options(connection=mock_connection, key="calendars")

    assert result.options == []
    assert result.error == MSG_PICKER_FAILED.format(error="GoHighLevel did not answer in time")
    assert timeouts == [PICKER_TIMEOUT]


# -- pruning --------------------------------------------------------------------------------------------------------


def test_old_log_rows_are_pruned_after_the_history_retention(mock_connection: Connection, settings: Any) -> None:
    settings.SYNC_HISTORY_RETENTION_DAYS = 30
    now = timezone.now()
    for days in (31, 29, 1):
        CatalogExecution.objects.create(
            operation_key="list-workflows", outcome="succeeded", started_at=now - timedelta(days=days)
        )

    assert catalog_execution_prune(now=now) == 1
    assert catalog_execution_prune(now=now, days=0) == 0
    assert sorted((now - r.started_at).days for r in CatalogExecution.objects.all()) == [1, 29]


def test_the_prune_task_runs_hourly_from_the_code_defined_schedule(settings: Any) -> None:
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    from integrations.catalog.tasks import prune_catalog_executions_task

    settings.SYNC_HISTORY_RETENTION_DAYS = 1
    CatalogExecution.objects.create(
        operation_key="list-workflows", outcome="succeeded", started_at=timezone.now() - timedelta(days=3)
    )
    call_command("setup_periodic_tasks")

    task = PeriodicTask.objects.get(name="Prune old catalog executions")
    assert task.task == prune_catalog_executions_task.name == "integrations.catalog.tasks.prune_catalog_executions_task"
    assert (task.interval.every, task.interval.period) == (60, "minutes")
    assert prune_catalog_executions_task.apply().get() == {"deleted": 1}
