"""The operations catalog in a real browser: browse the catalog, pick a record from a picker, run the operation, read
the answer, and find the run in the execution log."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse

from integrations.catalog.models import CatalogExecution
from integrations.catalog.services import catalog_execute
from integrations.models import Connection
from sandbox import ratelimit
from sandbox.demo import sandbox_seed_demo, sandbox_seed_demo_catalog, sandbox_seed_demo_children
from tests.browser.conftest import ADMIN_PASSWORD, log_in, shot, submit
from tests.integrations.support import GHL_TOKEN, LOCATION, ST_KEY, sandbox_ghl_connection

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass(frozen=True)
class Journey:
    search: str  # what the person types in the catalog's search box
    key: str  # the operation they open
    name: str
    field: str  # the field with the picker
    picker_label: str  # the option they pick (its label)
    other_fields: dict[str, str]  # what they type into the other fields


def _sandbox_connection(live_url: str) -> Connection:
    ratelimit.rate_limit_reset()
    sandbox_seed_demo(ghl_location_id=LOCATION, ghl_token=GHL_TOKEN, streettext_api_key=ST_KEY, size=10)
    sandbox_seed_demo_children(ghl_location_id=LOCATION, streettext_api_key=ST_KEY)
    sandbox_seed_demo_catalog(ghl_location_id=LOCATION)
    return sandbox_ghl_connection(live_url, name="Acme GHL")


def _free_slots(connection: Connection) -> Journey:
    """Get Free Slots with the calendar picked from the location's calendars (the sandbox's demo calendars)."""
    calendars = catalog_execute(connection=connection, key="list-calendars", log=False)
    assert calendars.ok, f"the sandbox serves no calendars yet: {calendars.error}"
    calendar = calendars.items[0]
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return Journey(
        search="slots",
        key="get-free-slots",
        name="Get Free Slots",
        field="path__calendarId",
        picker_label=calendar["name"],
        other_fields={
            "query__startDate": str(int(start.timestamp() * 1000)),
            "query__endDate": str(int((start + timedelta(days=7)).timestamp() * 1000)),
        },
    )


def _contacts_by_business(connection: Connection) -> Journey:
    """Get Contacts by Business with the business picked from the location's businesses."""
    made = catalog_execute(connection=connection, key="create-business", body={"name": "Harbour Bakery"}, log=False)
    assert made.ok, made.messages
    business = made.data["buiseness"]
    contacts = catalog_execute(connection=connection, key="search-contacts", body={"pageLimit": 2}, log=False)
    linked = catalog_execute(
        connection=connection,
        key="bulk-business-update",
        body={"ids": [c["id"] for c in contacts.items], "businessId": business["id"]},
        log=False,
    )
    assert linked.ok, linked.messages
    return Journey(
        search="business",
        key="get-contacts-by-business",
        name="Get Contacts by Business",
        field="path__businessId",
        picker_label="Harbour Bakery",
        other_fields={},
    )


@pytest.mark.parametrize("build", [_free_slots, _contacts_by_business], ids=["free-slots", "contacts-by-business"])
def test_browse_pick_run_and_find_it_in_the_log(
    page: Any, live_server: Any, admin_user: Any, page_errors: list[str], build: Any
) -> None:
    connection = _sandbox_connection(live_server.url)
    journey: Journey = build(connection)
    log_in(page, "admin", ADMIN_PASSWORD)

    # The start page's Catalog group leads to the catalog; the search box finds the operation.
    page.get_by_role("link", name="Operations", exact=True).click()
    page.wait_for_url(re.compile(r".*/admin/catalog/$"))
    assert page.locator("tr[data-key]").count() == 194
    page.get_by_role("searchbox", name="Search the catalog").fill(journey.search)
    submit(page, page.get_by_role("button", name="Search"))
    assert page.locator(f"tr[data-key='{journey.key}']").is_visible()
    shot(page, f"catalog-{journey.key}-01-search")
    page.get_by_role("link", name=journey.name, exact=True).click()
    page.wait_for_url(re.compile(rf".*/admin/catalog/{journey.key}/$"))

    # The picker beside the id field loads the connection's records; picking one fills the field.
    field = page.locator(f"[name='{journey.field}']")
    picker = page.locator(f"select[data-picker-for='{journey.field}']")
    picker.locator("option", has_text=journey.picker_label).wait_for(state="attached")
    picker.select_option(label=_label_of(picker, journey))
    picked = field.input_value()
    assert picked
    assert picked in _label_of(picker, journey)
    for name, value in journey.other_fields.items():
        page.locator(f"[name='{name}']").fill(value)
    shot(page, f"catalog-{journey.key}-02-picked")

    submit(page, page.get_by_role("button", name="Run"))
    result = page.locator("#ss-result")
    assert result.locator("[data-result=outcome]").inner_text() == "Succeeded", result.inner_text()
    assert "HTTP 200" in result.inner_text()
    assert page.locator("#ss-response").inner_text().strip().startswith("{")
    shot(page, f"catalog-{journey.key}-03-result")

    # The run is in the log, with who ran it and the request that was sent.
    execution = CatalogExecution.objects.get(operation_key=journey.key)
    page.locator("#ss-result-log").click()
    page.wait_for_url(re.compile(rf".*/catalogexecution/{execution.pk}/change/$"))
    row = page.locator("#content-main").inner_text()
    assert journey.name in row
    assert picked in row  # the picked id is in the request's path
    assert "Succeeded" in row
    page.goto(reverse("admin:integrations_catalogexecution_changelist"))
    assert page.locator("#result_list tbody tr").count() == 1
    assert "admin" in page.locator("#result_list tbody tr").inner_text()
    shot(page, f"catalog-{journey.key}-04-log")
    assert page_errors == []


def _label_of(picker: Any, journey: Journey) -> str:
    """The full text of the option whose label starts with the journey's (labels end with the id in brackets)."""
    texts = [t for t in picker.locator("option").all_inner_texts() if t.startswith(journey.picker_label)]
    assert texts, picker.locator("option").all_inner_texts()
    return str(texts[0])
