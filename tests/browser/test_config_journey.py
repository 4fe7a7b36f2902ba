"""Configuration as files in a real browser: edit a mapping twice, read its versions and what changed, roll back; export
a mapping and an automation, delete them, import the file (a dry run first) and find them as they were."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from automations.models import Automation
from automations.presets import automation_create_from_preset
from configs.models import ConfigVersion
from configs.services import config_document
from mappings.models import Mapping
from mappings.presets import preset_create
from tests.browser.conftest import ADMIN_PASSWORD, WIDTH, log_in, messages, shot, submit
from tests.integrations.support import build_world

pytestmark = pytest.mark.django_db(transaction=True)


def _fits(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH, page.url


def test_versions_rollback_export_and_import(
    page: Any, live_server: Any, admin_user: Any, page_errors: list[str], tmp_path: Any
) -> None:
    world = build_world(live_server.url, size=10)
    mapping = preset_create(key="lead_qualification", ghl=world.ghl, streettext=world.streettext)[0]
    automation = automation_create_from_preset(
        key="opportunity_won", ghl=world.ghl, streettext=world.streettext, inputs={"tag": "vip"}
    )
    original = config_document(mapping)
    log_in(page, "admin", ADMIN_PASSWORD)

    # Edit the mapping twice through its page.
    change = reverse("admin:mappings_mapping_change", args=[mapping.pk])
    for minutes in ("7", "11"):
        page.goto(change)
        page.fill("#id_schedule_minutes", minutes)
        submit(page, page.locator("input[name=_continue]"))
        assert not page.locator(".errornote").count(), page.locator(".errornote").inner_text()
    mapping.refresh_from_db()
    assert mapping.schedule_minutes == 11

    # Its versions: the state before the first edit, then one per save; the newest compares with the one before.
    page.goto(change)
    page.get_by_role("link", name="Versions").click()
    _fits(page)
    shot(page, "config-versions")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 3
    rows.first.locator("a").first.click()
    diff = page.locator("#ss-config-diff")
    assert "schedule_minutes" in diff.inner_text()
    assert "7" in diff.inner_text()
    assert "11" in diff.inner_text()
    _fits(page)
    shot(page, "config-version-diff")

    # Roll back to version 1 (from its own page): the mapping is as it was, and the rollback is a version too.
    first = ConfigVersion.objects.get(kind="mapping", object_id=mapping.pk, number=1)
    page.goto(reverse("admin:configs_configversion_change", args=[first.pk]))
    submit(page, page.locator("#ss-rollback"))
    assert any("as it was in version 1 again" in m for m in messages(page))
    mapping.refresh_from_db()
    assert config_document(mapping) == original
    assert ConfigVersion.objects.filter(kind="mapping", object_id=mapping.pk).count() == 4

    # Export the mapping and the automation as one file.
    page.goto(reverse("admin:configs_export") + f"?mappings={mapping.pk}")
    page.check(f"#ss-export input[name=automations][value='{automation.pk}']")
    assert page.is_checked(f"#ss-export input[name=mappings][value='{mapping.pk}']")
    _fits(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download").click()
    path = tmp_path / "config.yaml"
    download.value.save_as(path)
    text = path.read_text()
    assert mapping.name in text
    assert automation.name in text
    expected = {"mapping": config_document(mapping), "automation": config_document(automation)}

    # A fresh start: both deleted; the file imports them again, identical (a dry run first writes nothing).
    Automation.objects.all().delete()
    Mapping.objects.all().delete()
    page.goto(reverse("admin:configs_import"))
    page.set_input_files("#id_file", str(path))
    assert page.is_checked("#id_dry_run")
    submit(page, page.get_by_role("button", name="Import"))
    assert "Dry run: 2 created" in page.locator("#ss-import-report").inner_text()
    assert not Mapping.objects.exists()
    _fits(page)
    shot(page, "config-import-dry-run")
    page.set_input_files("#id_file", str(path))
    page.uncheck("#id_dry_run")
    submit(page, page.get_by_role("button", name="Import"))
    assert "2 created" in page.locator("#ss-import-report").inner_text()
    assert config_document(Mapping.objects.get()) == expected["mapping"]
    assert config_document(Automation.objects.get()) == expected["automation"]
    assert page_errors == []
