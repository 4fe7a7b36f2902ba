"""Configuration as files: mappings and automations exported and imported (identical after a round trip into an empty
database), validated like the admin's forms (all or nothing, a dry run that writes nothing), versioned on every save,
compared and rolled back."""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from automations.models import Automation
from automations.presets import automation_create_from_preset
from configs import documents
from configs.models import ConfigVersion
from configs.services import config_document, config_export, config_import, config_rollback, config_version_record
from integrations.models import Connection
from mappings.models import FieldMapping, Mapping
from mappings.presets import preset_create

pytestmark = pytest.mark.django_db

PIT = "pit-very-secret-value"
# Ten levels of aliases, each ten times the one before: 10^10 values once expanded, from a few hundred bytes.
_LAUGHS = "streetsync_config: 1\nl0: &l0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 10)
)
ST_KEY = "st-very-secret-key"


@pytest.fixture
def connections() -> tuple[Connection, Connection]:
    ghl = Connection(name="Agency GHL", system="ghl", base_url="https://services.leadconnectorhq.com", location_id="l1")
    ghl.auth_type = "pit"
    ghl.api_secret = PIT
    ghl.save()
    st = Connection(name="Team StreetText", system="streettext", base_url="https://api.streettext.example")
    st.auth_type = "api_key"
    st.api_secret = ST_KEY
    st.save()
    return ghl, st


@pytest.fixture
def configured(connections: tuple[Connection, Connection]) -> tuple[list[Mapping], Automation]:
    ghl, st = connections
    mappings = preset_create(key="lead_qualification", ghl=ghl, streettext=st)
    mappings += preset_create(key="automated_followups", ghl=ghl, streettext=st)
    automation = automation_create_from_preset(key="opportunity_won", ghl=ghl, streettext=st, inputs={"tag": "vip"})
    return mappings, automation


def _everything() -> tuple[list[Mapping], list[Automation]]:
    return list(Mapping.objects.order_by("name")), list(Automation.objects.order_by("name"))


def _documents() -> dict[str, Any]:
    mappings, automations = _everything()
    return {
        "mappings": {m.name: config_document(m) for m in mappings},
        "automations": {a.name: config_document(a) for a in automations},
    }


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_a_round_trip_into_an_empty_database_gives_the_same_configuration(configured: Any, fmt: str) -> None:
    before = _documents()
    text = config_export(mappings=_everything()[0], automations=_everything()[1], fmt=fmt)
    assert PIT not in text
    assert ST_KEY not in text
    assert "Agency GHL" in text
    Automation.objects.all().delete()
    for mapping in Mapping.objects.all():
        mapping.delete()
    report = config_import(text=text)
    assert report.ok, report.errors
    assert {line.action for line in report.lines} == {"created"}
    assert _documents() == before
    # Imported mappings are scheduled like mappings saved in the admin.
    assert all(m.periodic_task is not None for m in Mapping.objects.filter(schedule_minutes__gt=0))


def test_importing_an_edited_file_updates_by_name_and_says_what_changed(configured: Any) -> None:
    mappings, automation = configured
    data = yaml.safe_load(config_export(mappings=mappings[:1], automations=[automation]))
    data["mappings"][0]["schedule_minutes"] = 7
    data["mappings"][0]["field_mappings"][0]["transforms"] = [{"name": "upper", "params": {}}]
    data["automations"][0]["enabled"] = False
    report = config_import(text=yaml.safe_dump(data))
    assert report.ok, report.errors
    changes = {line.name: line.changes for line in report.lines}
    first = data["mappings"][0]["field_mappings"][0]
    key = f"field_mappings[{first['direction']}:{first['target_field']}].transforms"
    assert sorted(changes[mappings[0].name]) == sorted(["schedule_minutes", key])
    assert changes[automation.name] == ["enabled"]
    mappings[0].refresh_from_db()
    assert mappings[0].schedule_minutes == 7
    assert Mapping.objects.count() == len(mappings)  # updated, not created again


def test_a_dry_run_reports_the_same_and_writes_nothing(configured: Any) -> None:
    mappings, _automation = configured
    data = yaml.safe_load(config_export(mappings=mappings[:1], automations=[]))
    data["mappings"][0]["schedule_minutes"] = 9
    data["mappings"].append({**data["mappings"][0], "name": "A brand new one"})
    before = _documents()
    versions = ConfigVersion.objects.count()
    report = config_import(text=yaml.safe_dump(data), dry_run=True)
    assert report.ok, report.errors
    assert [(line.name, line.action) for line in report.lines] == [
        (mappings[0].name, "updated"),
        ("A brand new one", "created"),
    ]
    assert "would be" in report.summary()
    assert _documents() == before
    assert ConfigVersion.objects.count() == versions


def test_a_bad_file_imports_nothing_and_says_where(configured: Any) -> None:
    mappings, _ = configured
    data = yaml.safe_load(config_export(mappings=mappings[:1], automations=[]))
    good = {**data["mappings"][0], "name": "Would be fine alone"}
    bad = json.loads(json.dumps(data["mappings"][0]))
    bad["name"] = "Broken"
    bad["streettext_connection"] = "No such workspace"
    worse = json.loads(json.dumps(data["mappings"][0]))
    worse["name"] = "Worse"
    worse["field_mappings"][0]["transforms"] = [{"name": "no_such_transform", "params": {}}]
    worse["frobnicate"] = 1
    data["mappings"] = [good, bad, worse]
    report = config_import(text=yaml.safe_dump(data))
    assert not report.ok
    text = "\n".join(report.errors)
    assert "mapping “Broken”: no StreetText connection is called “No such workspace”." in text
    assert "mapping “Worse”: unknown field “frobnicate”." in text
    assert "mapping “Worse”, field mapping #1" in text
    assert "no_such_transform" in text
    assert not Mapping.objects.filter(name__in=["Would be fine alone", "Broken", "Worse"]).exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("just: [a, list", "Not YAML or JSON"),
        ("mappings: []", "no “streetsync_config” key"),
        ("streetsync_config: 2", "format 2 is not known"),
        ("streetsync_config: 1\nmappings: {a: 1}", "“mappings” must be a list"),
        ("streetsync_config: 1\nmappings: [3]", "must be a mapping of fields"),
        ("streetsync_config: 1\nmappings: [{object_type: contact}]", "“name” is required"),
        (_LAUGHS, "more than 200,000 values"),
        ("[" * 5000 + "]" * 5000, "nests too deeply"),
    ],
)
def test_files_that_are_not_configurations_are_refused_clearly(text: str, message: str) -> None:
    report = config_import(text=text)
    assert not report.ok
    assert message in " ".join(report.errors)


def test_every_save_keeps_a_version_and_any_two_compare(configured: Any) -> None:
    mappings, _ = configured
    mapping = mappings[0]
    first = config_version_record(obj=mapping)
    assert first is not None
    assert first.number == 1
    assert config_version_record(obj=mapping) is None  # unchanged: no new version
    mapping.schedule_minutes = 3
    mapping.save()
    FieldMapping.objects.filter(mapping=mapping).update(transforms=[{"name": "trim", "params": {}}])
    second = config_version_record(obj=mapping)
    assert second is not None
    assert second.number == 2
    changed = [path for path, _, _ in documents.diff(first.document, second.document)]
    assert "schedule_minutes" in changed
    assert any(path.startswith("field_mappings[") and path.endswith(".transforms") for path in changed)


def test_a_rollback_restores_the_version_and_keeps_the_history(configured: Any) -> None:
    mappings, _ = configured
    mapping = mappings[0]
    old = config_document(mapping)
    first = config_version_record(obj=mapping)
    assert first is not None
    mapping.name = "Renamed since"
    mapping.schedule_minutes = 1
    mapping.save()
    mapping.field_mappings.all().delete()
    config_version_record(obj=mapping)
    report = config_rollback(version=first)
    assert report.ok, report.errors
    mapping.refresh_from_db()
    assert config_document(mapping) == old
    numbers = list(ConfigVersion.objects.filter(object_id=mapping.pk, kind="mapping").values_list("number", "note"))
    assert numbers == [(3, "rolled back to version 1"), (2, "edited in the admin"), (1, "edited in the admin")]


def test_the_admin_keeps_versions_shows_the_diff_and_rolls_back(admin_client: Client, configured: Any) -> None:
    _, automation = configured
    url = reverse("admin:automations_automation_change", args=[automation.pk])
    page = admin_client.get(url)
    assert reverse("admin:configs_configversion_changelist") in page.content.decode()
    version_list = reverse("admin:configs_configversion_changelist")
    # Two saves through the real admin form: the baseline and the edit are kept.
    _post_automation(admin_client, url, page, description="First change")
    _post_automation(admin_client, url, admin_client.get(url), description="Second change")
    versions = list(ConfigVersion.objects.filter(kind="automation", object_id=automation.pk).order_by("number"))
    assert [v.number for v in versions] == [1, 2, 3]
    assert versions[0].note == "as it was before its first recorded edit"
    listing = admin_client.get(version_list, {"kind__exact": "automation", "object_id": automation.pk})
    assert listing.status_code == 200
    detail = admin_client.get(reverse("admin:configs_configversion_change", args=[versions[2].pk]))
    body = detail.content.decode()
    assert "<code>description</code>" in body
    assert "Second change" in body
    assert "First change" in body
    compared = admin_client.get(
        reverse("admin:configs_configversion_change", args=[versions[2].pk]), {"compare": versions[0].pk}
    )
    assert "In version 1" in compared.content.decode()
    response = admin_client.post(reverse("admin:configs_rollback", args=[versions[0].pk]))
    assert response.status_code == 302
    automation.refresh_from_db()
    assert automation.description == versions[0].document["description"]
    assert ConfigVersion.objects.filter(kind="automation", object_id=automation.pk).count() == 4


def _post_automation(client: Client, url: str, page: Any, *, description: str) -> None:
    data: dict[str, Any] = {}
    adminform = page.context["adminform"].form
    for name, _field in adminform.fields.items():
        value = adminform[name].value()
        if value is None:
            continue
        if isinstance(value, bool):
            if value:
                data[name] = "on"
            continue
        if isinstance(value, datetime):  # the admin's split date and time widget
            data[f"{name}_0"], data[f"{name}_1"] = value.strftime("%Y-%m-%d"), value.strftime("%H:%M:%S")
            continue
        data[name] = value
    data["description"] = description
    for formset in page.context["inline_admin_formsets"]:
        fs = formset.formset
        data.update({f"{fs.prefix}-{k}": v for k, v in fs.management_form.initial.items()})
        for index, form in enumerate(fs.forms):
            for name in form.fields:
                value = form[name].value()
                if value is None or value is False:
                    continue
                data[f"{fs.prefix}-{index}-{name}"] = "on" if value is True else value
    response = client.post(url, data)
    if response.status_code != 302:
        errors = [response.context["adminform"].form.errors]
        errors += [fs.formset.errors for fs in response.context["inline_admin_formsets"]]
        raise AssertionError(f"not saved: {errors} {data}")


def test_the_admin_import_page_does_a_dry_run_then_imports(admin_client: Client, configured: Any) -> None:
    mappings, _ = configured
    data = yaml.safe_load(config_export(mappings=mappings[:1], automations=[]))
    data["mappings"][0]["name"] = "From a file"
    upload = SimpleUploadedFile("config.yaml", yaml.safe_dump(data).encode(), content_type="application/yaml")
    url = reverse("admin:configs_import")
    page = admin_client.post(url, {"file": upload, "dry_run": "on"})
    assert page.status_code == 200
    assert "Dry run: 1 created" in page.content.decode()
    assert not Mapping.objects.filter(name="From a file").exists()
    page = admin_client.post(url, {"text": yaml.safe_dump(data)})
    assert "1 created" in page.content.decode()
    assert Mapping.objects.filter(name="From a file").exists()
    bad = admin_client.post(url, {"text": "streetsync_config: 1\nmappings: [{name: x, nope: 1}]"})
    assert bad.status_code == 200
    assert "unknown field “nope”" in bad.content.decode()
    nul = admin_client.post(url, {"text": "streetsync_config: 1\x00"})
    assert nul.status_code == 400  # refused before any view reads it, with the field named
    assert "text" in nul.content.decode()
    binary = SimpleUploadedFile("config.yaml", b"streetsync_config: 1\x00\xff")
    assert "not UTF-8 text" in admin_client.post(url, {"file": binary}).content.decode()


def test_the_admin_export_page_downloads_the_chosen_ones(admin_client: Client, configured: Any) -> None:
    mappings, automation = configured
    url = reverse("admin:configs_export")
    page = admin_client.get(url, {"mappings": mappings[0].pk})
    assert page.status_code == 200
    response = admin_client.post(url, {"mappings": [mappings[0].pk], "automations": [automation.pk], "fmt": "json"})
    assert response["Content-Disposition"].startswith('attachment; filename="streetsync-config-')
    data = json.loads(response.content)
    assert [m["name"] for m in data["mappings"]] == [mappings[0].name]
    assert [a["name"] for a in data["automations"]] == [automation.name]
    assert admin_client.post(url, {"fmt": "yaml"}).status_code == 200  # nothing chosen: the form says so


def test_the_commands_export_and_import(configured: Any, tmp_path: Any) -> None:
    mappings, _ = configured
    target = tmp_path / "config.yaml"
    call_command("export_config", "--mapping", mappings[0].name, "-o", str(target), stdout=io.StringIO())
    data = yaml.safe_load(target.read_text())
    assert [m["name"] for m in data["mappings"]] == [mappings[0].name]
    assert data["automations"] == []
    data["mappings"][0]["name"] = "Copied by command"
    target.write_text(yaml.safe_dump(data))
    out = io.StringIO()
    call_command("import_config", str(target), "--dry-run", stdout=out)
    assert "“Copied by command”: created" in out.getvalue()
    assert not Mapping.objects.filter(name="Copied by command").exists()
    call_command("import_config", str(target), stdout=io.StringIO())
    assert Mapping.objects.filter(name="Copied by command").exists()
    target.write_text("streetsync_config: 1\nmappings: [{name: y, nope: 1}]")
    with pytest.raises(CommandError, match="Nothing was imported"):
        call_command("import_config", str(target), stdout=io.StringIO(), stderr=io.StringIO())


def _with_paths(ghl: Connection, st: Connection) -> Automation:
    """New opportunity → if monetaryValue > 1000 then a workflow, else wait a day then a task (and a tail step)."""
    from automations.models import AutomationAction, AutomationFieldMapping, AutomationPath

    automation = Automation.objects.create(
        name="Opportunity by value", ghl_connection=ghl, streettext_connection=st, trigger_key="search-opportunities"
    )
    router = AutomationAction.objects.create(
        automation=automation, position=1, kind="router", router_mode="all", name="By value"
    )
    high = AutomationPath.objects.create(
        automation=automation,
        router=router,
        position=1,
        name="High value",
        condition={"field": "monetaryValue", "op": "gt", "value": 1000},
    )
    low = AutomationPath.objects.create(automation=automation, router=router, position=2, name="Else", otherwise=True)
    flow = AutomationAction.objects.create(
        automation=automation, path=high, position=1, system="ghl", operation="add-contact-to-workflow"
    )
    AutomationFieldMapping.objects.create(action=flow, target_field="contactId", source="contactId")
    AutomationFieldMapping.objects.create(action=flow, target_field="workflowId", source="wf_1", source_kind="constant")
    AutomationAction.objects.create(automation=automation, path=low, position=1, kind="wait", wait_minutes=1440)
    AutomationAction.objects.create(automation=automation, path=low, position=2, kind="wait", wait_until="dueDate")
    task = AutomationAction.objects.create(
        automation=automation,
        path=low,
        position=3,
        operation="task.create",
        condition={"field": "status", "op": "eq", "value": "open"},
    )
    AutomationFieldMapping.objects.create(action=task, target_field="ghl_contact_id", source="contactId")
    AutomationFieldMapping.objects.create(
        action=task, target_field="title", source="Call {name}", source_kind="template"
    )
    AutomationAction.objects.create(automation=automation, position=2, operation="contact.tag", name="Tail")
    return automation


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_paths_and_waits_round_trip_into_an_empty_database(connections: Any, fmt: str) -> None:
    from automations.models import AutomationAction, AutomationPath

    automation = _with_paths(*connections)
    before = config_document(automation)
    paths = before["actions"][0]["paths"]
    assert [p["name"] for p in paths] == ["High value", "Else"]
    assert [s["kind"] for s in paths[1]["actions"]] == ["wait", "wait", "action"]
    text = config_export(mappings=[], automations=[automation], fmt=fmt)
    Automation.objects.all().delete()
    assert not AutomationAction.objects.exists()
    assert not AutomationPath.objects.exists()
    report = config_import(text=text)
    assert report.ok, report.errors
    imported = Automation.objects.get()
    assert config_document(imported) == before
    assert AutomationAction.objects.count() == 6
    assert AutomationPath.objects.count() == 2
    # Every path and every step of a path belongs to the imported automation.
    assert not AutomationPath.objects.exclude(automation=imported, router__automation=imported).exists()
    assert not AutomationAction.objects.exclude(automation=imported).exists()
    # Imported again: unchanged.
    assert [line.action for line in config_import(text=text).lines] == ["unchanged"]


def test_a_bad_path_or_wait_in_a_file_imports_nothing_and_says_where(connections: Any) -> None:
    automation = _with_paths(*connections)
    data = yaml.safe_load(config_export(mappings=[], automations=[automation]))
    before = config_document(automation)
    low = data["automations"][0]["actions"][0]["paths"][1]
    low["condition"] = {"field": "x", "op": "eq", "value": 1}  # an otherwise path with a condition
    low["actions"][0]["wait_minutes"] = 999_999_999  # beyond the cap
    data["automations"][0]["actions"][1]["paths"] = []  # paths on an action: only routers have them (empty: fine)
    report = config_import(text=yaml.safe_dump(data))
    assert not report.ok
    where = "automation “Opportunity by value”, action #1, path #2"
    assert any(e.startswith(f"{where}: condition: An otherwise path") for e in report.errors), report.errors
    assert any(e.startswith(f"{where}, action #1: wait: At most 365 days") for e in report.errors), report.errors
    assert config_document(Automation.objects.get()) == before
