"""Templates in a real browser: save a mapping and an automation as a template from the mapping's page, apply it to an
agency's three locations (a preview first, one shared StreetText workspace), edit the template, preview the update of
the three locations and update them; each location's mapping then has the new setting."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.urls import reverse

from automations.models import Automation
from automations.presets import automation_create_from_preset
from configs import documents
from configs.models import Template, TemplateUse
from integrations.models import Connection, GhlAgency
from mappings.models import FieldMapping, Mapping
from mappings.services import mapping_create_with_defaults
from tests.browser.conftest import ADMIN_PASSWORD, WIDTH, log_in, messages, shot, submit

pytestmark = pytest.mark.django_db(transaction=True)

LOCATIONS = ("Alpha Dental", "Bravo Roofing", "Charlie Gym")
UPPER = [{"name": "trim", "params": {}}, {"name": "upper", "params": {}}]


def _connection(name: str, system: str, *, location_id: str = "", agency: GhlAgency | None = None) -> Connection:
    c = Connection(name=name, system=system, base_url="https://api.example.test", location_id=location_id)
    c.auth_type = "pit" if system == "ghl" else "api_key"
    c.api_secret = f"secret-{name}"
    c.agency = agency
    c.save()
    return c


def test_save_apply_edit_and_update_a_template(
    page: Any, live_server: Any, admin_user: Any, page_errors: list[str]
) -> None:
    pilot = _connection("Pilot GHL", "ghl", location_id="pilot")
    shared = _connection("Shared StreetText", "streettext")
    mapping = mapping_create_with_defaults(name="Contacts", ghl_connection=pilot, streettext_connection=shared)
    automation = automation_create_from_preset(
        key="opportunity_won", ghl=pilot, streettext=shared, inputs={"tag": "vip"}, enabled=False
    )
    agency = GhlAgency.objects.create(name="Acme agency", base_url="https://api.example.test")
    locations = [_connection(n, "ghl", location_id=f"loc-{i}", agency=agency) for i, n in enumerate(LOCATIONS)]
    log_in(page, "admin", ADMIN_PASSWORD)

    # Save as template, from the mapping's page; the automation is ticked too.
    page.goto(reverse("admin:mappings_mapping_change", args=[mapping.pk]))
    submit(page, page.get_by_test_id("save-as-template"))
    assert page.locator(f'input[name="mappings"][value="{mapping.pk}"]').is_checked()
    page.check(f'input[name="automations"][value="{automation.pk}"]')
    page.fill("#id_name", "Starter")
    submit(page, page.locator("input[name=_continue]"))
    template = Template.objects.get()
    assert page.get_by_text("No location uses it yet").is_visible()

    # Apply to the agency's three locations: a preview first, which writes nothing.
    submit(page, page.get_by_test_id("template-apply"))
    for location in locations:
        page.check(f'input[name="location"][value="{location.pk}"]')
    page.select_option("#id_shared_streettext", str(shared.pk))
    submit(page, page.get_by_test_id("template-preview"))
    assert page.locator("#template-report-summary").inner_text() == (
        "Preview: 3 location(s) would be set up from version 1."
    )
    assert page.locator(".template-location").count() == 3
    assert page.get_by_role("cell", name="Contacts · Bravo Roofing").is_visible()
    assert not TemplateUse.objects.exists()
    shot(page, "template-apply-preview")
    submit(page, page.get_by_test_id("template-apply-chosen"))
    assert messages(page) == ["3 location(s) set up from version 1."]
    assert Mapping.objects.filter(ghl_connection__agency=agency).count() == 3
    assert Automation.objects.filter(ghl_connection__agency=agency).count() == 3

    # Edit the template: GHL → StreetText last names in capitals.
    page.goto(reverse("admin:configs_template_change", args=[template.pk]))
    assert page.locator("#template-locations tbody tr").count() == 3
    doc = copy.deepcopy(template.document)
    for row in doc["mappings"][0]["field_mappings"]:
        if row["direction"] == "to_streettext" and row["target_field"] == "last_name":
            row["transforms"] = UPPER
    page.fill("#id_text", documents.dump(doc))
    submit(page, page.locator("input[name=_save]"))
    assert messages(page) == ["Starter is at version 2 now: 3 location(s) use an older one."]
    assert page.locator("#template-outdated").is_visible()
    shot(page, "template-outdated")

    # Update the three locations: the preview names the setting that changes in each.
    submit(page, page.get_by_test_id("template-update-preview"))
    assert page.locator("#template-report-summary").inner_text() == (
        "Preview: 3 location(s) would be set up from version 2."
    )
    assert page.locator("code", has_text="field_mappings[to_streettext:last_name].transforms").count() == 3
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    shot(page, "template-update-preview")
    submit(page, page.get_by_test_id("template-update"))
    assert messages(page) == ["3 location(s) set up from version 2."]
    for location in locations:
        row = FieldMapping.objects.get(
            mapping__ghl_connection=location, direction="to_streettext", target_field="last_name"
        )
        assert row.transforms == UPPER
    assert set(TemplateUse.objects.values_list("version", flat=True)) == {2}
    # Each copy's page names the template and the version last applied to it.
    copy_of_bravo = Mapping.objects.get(ghl_connection=locations[1])
    page.goto(reverse("admin:mappings_mapping_change", args=[copy_of_bravo.pk]))
    assert page.get_by_test_id("template-origin").inner_text().strip().lower() == "template “starter” v2"
    shot(page, "template-origin")
    # The pilot mapping the template came from is untouched.
    pilot_row = FieldMapping.objects.get(mapping=mapping, direction="to_streettext", target_field="last_name")
    assert pilot_row.transforms != UPPER
    assert page_errors == []
