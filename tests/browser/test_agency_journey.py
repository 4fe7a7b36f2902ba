"""An agency install in the browser: add the agency, approve it at GoHighLevel (the sandbox's consent page), choose
every location with one box, and find each location's connection."""

from __future__ import annotations

import re
from typing import Any

from integrations.models import Connection, GhlAgency
from integrations.services import agencies
from sandbox import services as sandbox
from tests.browser.conftest import ADMIN_PASSWORD, log_in, messages, shot, submit

LOCATIONS = {"loc-a": "Alpha Dental", "loc-b": "Bravo Roofing", "loc-c": "Charlie Gym"}


def test_connect_an_agency_and_all_its_locations(
    page: Any, live_server: Any, admin_user: Any, page_errors: list[str]
) -> None:
    for location_id, name in LOCATIONS.items():
        sandbox.sandbox_account_create(system="ghl", account_id=location_id, secret=f"pit-{location_id}", name=name)
    log_in(page, "admin", ADMIN_PASSWORD)

    page.goto("/admin/integrations/ghlagency/add/")
    page.fill("#id_name", "Acme agency")
    page.fill("#id_base_url", f"{live_server.url}/sandbox/ghl")
    shot(page, "agency-add")
    submit(page, page.locator("input[name=_save]"))
    # The sandbox's "choose a sub-account" page stands for GHL's consent page.
    with page.expect_navigation(url=re.compile(r".*/admin/integrations/ghlagency/\d+/locations/$")):
        page.locator("a", has_text="Alpha Dental").click()

    assert messages(page) == ["Acme agency: Connected with OAuth (agency token) for company sandbox-company."]
    assert page.locator("#agency-locations tbody tr").count() == 3
    shot(page, "agency-locations")
    page.check("#choose-all")
    assert page.locator('#agency-locations input[name="location"]:checked').count() == 3
    submit(page, page.get_by_test_id("connect-locations"))

    names = "Alpha Dental, Bravo Roofing, Charlie Gym"
    assert messages(page) == [agencies.LOCATIONS_CONNECTED.format(count=3, names=names)]
    assert page.locator('#agency-locations input[name="location"]').count() == 0
    shot(page, "agency-locations-connected")
    agency = GhlAgency.objects.get()
    assert sorted(Connection.objects.filter(agency=agency).values_list("location_id", flat=True)) == list(LOCATIONS)
    page.locator("#agency-locations a", has_text="Bravo Roofing").click()
    page.wait_for_url(re.compile(r".*/admin/integrations/connection/\d+/change/$"))
    assert page.get_by_text("Token from the agency “Acme agency”").is_visible()
    shot(page, "agency-location-connection")
    assert page_errors == []
