"""Events: the catalog's invariants, and real signed webhooks firing them at once through the test client, with the
poll engine against the sandbox over HTTP (the scheduled poll then finds the item handled)."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

import config.celery
from automations import forms as automation_forms
from automations.events import DELETED, EVENT_LIST, EVENTS, event_fields, events_for_webhook
from automations.models import Automation, AutomationItem, AutomationPoll
from automations.services.engine import automation_poll_execute
from automations.triggers import STREETTEXT_RESOURCES, trigger_choices
from integrations.catalog.selectors import catalog_operation
from integrations.models import System, WebhookDelivery
from integrations.services.roles import role_viewer_grant
from integrations.webhooks import services as webhook_services
from sandbox import webhooks as sandbox_webhooks
from tests.automations.support import (
    LOCATION,
    automation_form_data,
    build_world,
    field,
    ghl_run,
    make_automation,
    poll_here,
    records,
)
from tests.integrations.support import sandbox_ghl_connection

# GoHighLevel's webhook event names, as its documentation lists them (docs/ghl-facts.md#webhook-events).
GHL_DOCUMENTED = {
    "ContactCreate",
    "ContactUpdate",
    "ContactDelete",
    "ContactTagUpdate",
    "ContactDndUpdate",
    "OpportunityCreate",
    "OpportunityUpdate",
    "OpportunityDelete",
    "OpportunityStatusUpdate",
    "OpportunityStageUpdate",
    "OpportunityMonetaryValueUpdate",
    "OpportunityAssignedToUpdate",
    "InboundMessage",
    "OutboundMessage",
    "AppointmentCreate",
    "AppointmentUpdate",
    "AppointmentDelete",
    "TaskCreate",
    "TaskComplete",
    "TaskDelete",
    "NoteCreate",
    "NoteUpdate",
    "NoteDelete",
}
# StreetText's (docs/streettext-api.md#events).
ST_DOCUMENTED = {"contact.created", "contact.updated", "contact.deleted"}
# Operations that answer a file, not items: actions, never triggers (docs/catalog.md).
FILE_ANSWERS = {"get-message-recording", "download-transcription"}


# -- the catalog -----------------------------------------------------------------------------------------------------


def test_every_event_reads_a_real_trigger_listens_to_documented_webhooks_and_offers_fields() -> None:
    """Invariants: an event polls a catalog trigger answering items (or a StreetText listing); its webhook types are
    documented ones; a deletion has a webhook (nothing else can see it); its items have fields for the pickers."""
    assert len(EVENTS) == len(EVENT_LIST)
    for event in EVENT_LIST:
        if event.system == System.GHL:
            operation = catalog_operation(event.trigger_key)
            assert operation.is_trigger, event.key
            assert operation.items is not None, event.key
            assert set(event.webhooks) <= GHL_DOCUMENTED, event.key
        else:
            assert event.trigger_key in STREETTEXT_RESOURCES, event.key
            assert set(event.webhooks) <= ST_DOCUMENTED, event.key
        if event.kind == DELETED:
            assert event.webhooks, event.key
            assert not event.polled, event.key
        assert len(event_fields(event)) >= 4, event.key
    assert {e.key for e in events_for_webhook(System.GHL, "OpportunityStatusUpdate")} >= {
        "ghl.opportunity.won",
        "ghl.opportunity.lost",
        "ghl.opportunity.status",
    }
    assert events_for_webhook(System.GHL, "contact.created") == []


def test_file_answers_are_offered_as_actions_never_as_triggers_or_events() -> None:
    offered = {key for _, group in trigger_choices() for key, _ in group}
    for key in FILE_ANSWERS:
        assert not catalog_operation(key).is_trigger
        assert key not in offered
    assert not FILE_ANSWERS & {event.trigger_key for event in EVENT_LIST}


# -- webhooks firing events --------------------------------------------------------------------------------------------


@pytest.fixture
def sandbox_keys(settings: Any) -> None:
    keys = sandbox_webhooks.sandbox_webhook_public_keys()
    settings.GHL_WEBHOOK_ED25519_PUBLIC_KEY = keys["ed25519"]
    settings.GHL_WEBHOOK_RSA_PUBLIC_KEY = keys["rsa"]


def post_ghl(connection: Any, event_type: str, **payload: Any) -> Any:
    body = sandbox_webhooks.sandbox_webhook_body(
        system="ghl", event_type=event_type, payload={"locationId": LOCATION, **payload}
    )
    return Client().post(
        reverse("webhooks:ghl", kwargs={"token": connection.webhook_token}),
        data=body,
        content_type="application/json",
        headers=sandbox_webhooks.sandbox_webhook_sign_ghl(body=body),
    )


def webhook_polls(automation: Automation) -> list[AutomationPoll]:
    return list(automation.polls.filter(trigger=AutomationPoll.Trigger.WEBHOOK).order_by("pk"))


TASK = [field("ghl_contact_id", "id"), field("title", "Welcome {firstName}", "template")]


@pytest.mark.django_db(transaction=True)
def test_a_contact_create_webhook_fires_its_event_at_once_and_the_poll_does_not_run_it_twice(
    live_server: Any, sandbox_keys: None
) -> None:
    world = build_world(live_server.url, size=10)
    automation = make_automation(
        world,
        event="ghl.contact.new",
        on_updated=False,
        start_from=timezone.now(),
        actions=[(System.STREETTEXT, "task.create", TASK)],
    )
    assert poll_here(automation).handled == 0  # the demo contacts existed before the start
    before = len(records("streettext", "task"))
    contact = ghl_run(
        world, "create-contact", body={"locationId": LOCATION, "firstName": "Ada", "email": "ada@example.com"}
    )["contact"]

    with mock.patch.object(config.celery.app, "send_task") as sent:
        answer = post_ghl(world.ghl, "ContactCreate", id=contact["id"], firstName="Ada")
    assert answer.status_code == 200, answer.content
    [poll] = webhook_polls(automation)
    assert poll.status == AutomationPoll.Status.PENDING
    assert poll.requested_by.startswith("webhook ContactCreate ")
    run_poll = [c for c in sent.call_args_list if c.args[0] == "automations.tasks.run_poll_task"]
    assert [c.kwargs["args"] for c in run_poll] == [(poll.pk,)]
    delivery = WebhookDelivery.objects.latest("pk")
    assert "fired 1 automation(s)" in delivery.error

    automation_poll_execute(poll_id=poll.pk)
    poll.refresh_from_db()
    assert (poll.status, poll.new, poll.handled) == (AutomationPoll.Status.SUCCEEDED, 1, 1)
    tasks = records("streettext", "task")
    assert len(tasks) == before + 1
    assert tasks[-1]["title"] == "Welcome Ada"

    # The scheduled poll (the reconciliation) finds the item handled: the action does not run again.
    again = poll_here(automation, trigger=AutomationPoll.Trigger.SCHEDULE)
    assert (again.new, again.updated, again.handled) == (0, 0, 0)
    assert len(records("streettext", "task")) == before + 1
    assert AutomationItem.objects.filter(automation=automation, item_id=contact["id"]).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_webhook_fires_only_the_automations_of_its_location_and_event(live_server: Any, sandbox_keys: None) -> None:
    world = build_world(live_server.url, size=10)
    other = sandbox_ghl_connection(live_server.url, name="GHL other", location="loc-other", token="tok-other")
    automation = make_automation(world, event="ghl.contact.new", on_updated=False)
    updated = make_automation(world, name="On update", event="ghl.contact.updated", on_new=False)
    switched_off = make_automation(world, name="Off", event="ghl.contact.new", on_updated=False, enabled=False)
    # Another connection to the same location (an agency's OAuth one beside the token): its automations fire too.
    twin = sandbox_ghl_connection(live_server.url, name="GHL twin", location=LOCATION, token="tok-twin")
    on_twin = make_automation(world, name="On twin", event="ghl.contact.new", on_updated=False)
    Automation.objects.filter(pk=on_twin.pk).update(ghl_connection=twin)
    with mock.patch.object(config.celery.app, "send_task"):
        # Another location's contact (one webhook URL serves every location of the app): routed to its connection.
        assert post_ghl(world.ghl, "ContactCreate", id="c-x", locationId="loc-other").status_code == 200
        assert webhook_polls(automation) == []
        assert webhook_polls(on_twin) == []
        assert WebhookDelivery.objects.latest("pk").connection == other
        # An event type the automation does not listen to.
        assert post_ghl(world.ghl, "ContactDelete", id="c-x").status_code == 200
        assert webhook_polls(automation) == []
        assert webhook_polls(updated) == []
        # Its own: the automation fires, the switched-off one does not.
        assert post_ghl(world.ghl, "ContactCreate", id="c-y").status_code == 200
        assert len(webhook_polls(automation)) == 1
        assert len(webhook_polls(on_twin)) == 1
        assert webhook_polls(updated) == []
        assert webhook_polls(switched_off) == []
        # A refused delivery (bad signature) fires nothing.
        body = sandbox_webhooks.sandbox_webhook_body(
            system="ghl", event_type="ContactCreate", payload={"locationId": LOCATION, "id": "c-z"}
        )
        url = reverse("webhooks:ghl", kwargs={"token": world.ghl.webhook_token})
        refused = Client().post(url, data=body, content_type="application/json", headers={"x-ghl-signature": "AA=="})
        assert refused.status_code == 401
        assert len(webhook_polls(automation)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_webhook_that_finds_a_poll_going_asks_again_later_once(live_server: Any, sandbox_keys: None) -> None:
    cache.clear()
    world = build_world(live_server.url, size=10)
    automation = make_automation(world, event="ghl.contact.new", on_updated=False)
    # A poll waiting to start reads the item too: nothing more to do.
    waiting = AutomationPoll.objects.create(automation=automation, trigger=AutomationPoll.Trigger.SCHEDULE)
    with mock.patch.object(config.celery.app, "send_task") as sent:
        assert post_ghl(world.ghl, "ContactCreate", id="c-0").status_code == 200
    assert not [c for c in sent.call_args_list if c.args[0] == "automations.tasks.fire_event_task"]
    # A running one may have read past the item: ask again later, once for every webhook meanwhile.
    AutomationPoll.objects.filter(pk=waiting.pk).update(status=AutomationPoll.Status.RUNNING)
    with mock.patch.object(config.celery.app, "send_task") as sent:
        assert post_ghl(world.ghl, "ContactCreate", id="c-1").status_code == 200
        assert post_ghl(world.ghl, "ContactCreate", id="c-2").status_code == 200
    again = [c for c in sent.call_args_list if c.args[0] == "automations.tasks.fire_event_task"]
    assert len(again) == 1
    assert again[0].kwargs["args"][0] == automation.pk
    assert again[0].kwargs["countdown"] > 0
    assert webhook_polls(automation) == []
    # Once the poll is over, the task's request goes through.
    AutomationPoll.objects.filter(pk=waiting.pk).update(status=AutomationPoll.Status.SUCCEEDED)
    from automations.tasks import fire_event_task

    with mock.patch.object(config.celery.app, "send_task"):
        assert fire_event_task(*again[0].kwargs["args"])["fired"] is True
    assert len(webhook_polls(automation)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_deletion_is_fired_by_its_webhook_once_with_what_the_webhook_says(
    live_server: Any, sandbox_keys: None
) -> None:
    world = build_world(live_server.url, size=10)
    automation = make_automation(
        world,
        event="ghl.contact.deleted",
        actions=[
            (
                System.STREETTEXT,
                "contact.upsert",
                [field("email", "email"), field("last_name", "Deleted in GHL ({id})", "template")],
            )
        ],
    )
    with mock.patch.object(config.celery.app, "send_task"):
        assert post_ghl(world.ghl, "ContactDelete", id="c-gone", email="gone@example.com").status_code == 200
        # GHL sending the same deletion again (a new delivery id): it is one item.
        assert post_ghl(world.ghl, "ContactDelete", id="c-gone", email="gone@example.com").status_code == 200
    item = AutomationItem.objects.get(automation=automation)
    assert (item.item_id, item.version, item.change) == ("c-gone", "deleted", AutomationItem.Change.DELETED)
    [poll] = webhook_polls(automation)
    automation_poll_execute(poll_id=poll.pk)
    poll.refresh_from_db()
    # Nothing was read (a deletion cannot be polled); the item's action ran.
    assert (poll.status, poll.pages, poll.handled) == (AutomationPoll.Status.SUCCEEDED, 0, 1), poll.error
    item.refresh_from_db()
    assert item.status == AutomationItem.Status.DONE, item.error
    [contact] = [c for c in records("streettext", "contact") if c.get("email") == "gone@example.com"]
    assert contact["last_name"] == "Deleted in GHL (c-gone)"


@pytest.mark.django_db(transaction=True)
def test_an_inbound_message_webhook_is_recorded_as_having_fired_automations(
    live_server: Any, sandbox_keys: None
) -> None:
    """InboundMessage is no sync event: without an automation it is ignored, with one it fired it."""
    world = build_world(live_server.url, size=10)
    with mock.patch.object(config.celery.app, "send_task"):
        assert post_ghl(world.ghl, "InboundMessage", id="m-1", contactId="c-1").status_code == 200
        assert WebhookDelivery.objects.latest("pk").status == WebhookDelivery.Status.IGNORED
        automation = make_automation(
            world, trigger="search-conversations", event="ghl.message.inbound", each_message=True, on_updated=False
        )
        assert post_ghl(world.ghl, "InboundMessage", id="m-2", contactId="c-1").status_code == 200
    delivery = WebhookDelivery.objects.latest("pk")
    assert delivery.status == WebhookDelivery.Status.PROCESSED
    assert delivery.error == webhook_services.MSG_LISTENERS.format(count=1)
    assert len(webhook_polls(automation)) == 1


# -- the form: events, parameters from the spec, fields and sample items before any save ------------------------------


def _event_form(world: Any, event: str, **overrides: Any) -> dict[str, Any]:
    """The add page's post for an event: its new/updated boxes left to the event."""
    values: dict[str, Any] = {
        "name": f"Event {event}",
        "description": None,
        "ghl_connection": world.ghl.pk,
        "streettext_connection": world.streettext.pk,
        "event": event,
        "trigger_key": "",
        "trigger_body": "",
        "on_new": None,
        "on_updated": None,
    }
    return automation_form_data(**{**values, **overrides})


@pytest.mark.django_db(transaction=True)
def test_choosing_an_event_builds_the_form_from_the_spec_and_saves_what_the_event_means(
    admin_client: Client, live_server: Any
) -> None:
    world = build_world(live_server.url, size=10)
    add = reverse("admin:automations_automation_add")
    page = admin_client.get(add, {"event": "ghl.opportunity.won"})
    assert page.status_code == 200
    html = page.content.decode()
    # The events list, grouped per object; the raw catalog operations stay as "advanced".
    assert '<optgroup label="GoHighLevel: Opportunities">' in html
    assert "— none: a catalog operation (advanced) —" in html
    # The trigger's parameters as a form from the spec (a choice list for the spec's enum), not JSON.
    assert 'name="tp-pipeline_id"' in html
    assert 'name="tp-status"' in html
    assert '<option value="won">won</option>' in html
    # Before any save, the condition builder offers the event's item fields (the spec's item schema).
    catalog = page.context["catalog"]
    offered = {entry["value"] for entry in catalog["objectTypes"]["contact"]["trigger"]}
    assert {"status", "pipelineStageId", "monetaryValue", "contact.email"} <= offered

    made = admin_client.post(
        add, _event_form(world, "ghl.opportunity.won", **{"tp-pipeline_id": "pipe-1", "tp-limit": "50"})
    )
    assert made.status_code == 302, made.context["adminform"].form.errors
    automation = Automation.objects.get()
    assert (automation.event, automation.trigger_system, automation.trigger_key) == (
        "ghl.opportunity.won",
        System.GHL,
        "search-opportunities",
    )
    assert automation.trigger_params == {"limit": 50, "pipeline_id": "pipe-1"}
    assert (automation.on_new, automation.on_updated, automation.filter_entered) == (True, True, True)
    assert automation.record_filter == {"field": "status", "op": "eq", "value": "won"}

    # The stored automation's page shows its parameters in the form, not again in the JSON box.
    change = admin_client.get(reverse("admin:automations_automation_change", args=[automation.pk]))
    form = change.context["adminform"].form
    assert (form.initial["tp-limit"], form.initial["tp-pipeline_id"]) == (50, "pipe-1")

    # A viewer reads the event by its name and cannot read the account through the sample.
    viewer = get_user_model().objects.create_user(username="viewer", password="pw-viewer-123")
    role_viewer_grant(user=viewer)
    reader = Client()
    reader.force_login(viewer)
    shown = reader.get(reverse("admin:automations_automation_change", args=[automation.pk])).content.decode()
    assert "GoHighLevel: Opportunities: Opportunity won" in shown
    sample = reverse("admin:automations_automation_event_sample")
    assert reader.get(sample, {"event": "ghl.contact.new", "ghl_connection": str(world.ghl.pk)}).status_code == 403
    assert form.initial["trigger_params"] == {}


@pytest.mark.django_db(transaction=True)
def test_an_event_that_needs_a_choice_says_so_and_saves_nothing(admin_client: Client, live_server: Any) -> None:
    world = build_world(live_server.url, size=10)
    add = reverse("admin:automations_automation_add")
    calendar = admin_client.post(add, _event_form(world, "ghl.appointment.booked"))
    errors = calendar.context["adminform"].form.errors
    assert (
        automation_forms.MSG_EVENT_PARAMS.format(event="Appointment booked", names="calendarId or userId or groupId")
        in errors["trigger_params"]
    )
    status = admin_client.post(add, _event_form(world, "ghl.opportunity.status", record_filter=""))
    # The default condition's value is there to be chosen ("open"); an empty one is refused.
    assert status.status_code == 302
    tagged = admin_client.post(add, _event_form(world, "ghl.contact.tagged", name="Tagged"))
    assert "choose the value in the condition" in " ".join(tagged.context["adminform"].form.errors["record_filter"])
    unknown = admin_client.post(add, _event_form(world, "ghl.nope", name="Nope"))
    assert automation_forms.MSG_UNKNOWN_EVENT in " ".join(unknown.context["adminform"].form.errors["event"])
    assert list(Automation.objects.values_list("event", flat=True)) == ["ghl.opportunity.status"]


@pytest.mark.django_db(transaction=True)
def test_the_sample_endpoint_reads_three_items_from_the_account_and_refuses_bad_input(
    admin_client: Client, live_server: Any
) -> None:
    world = build_world(live_server.url, size=10)
    url = reverse("admin:automations_automation_event_sample")
    ghl, st = str(world.ghl.pk), str(world.streettext.pk)
    answer = admin_client.get(url, {"event": "ghl.contact.new", "ghl_connection": ghl})
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert data["ok"] is True
    assert len(data["items"]) == 3
    ghl_ids = {c["id"] for c in records("ghl", "contact")}
    assert {item["id"] for item in data["items"]} <= ghl_ids
    assert "email" in data["fields"]
    st = admin_client.get(url, {"event": "st.contact.new", "streettext_connection": st}).json()
    assert len(st["items"]) == 3
    assert {item["id"] for item in st["items"]} <= {c["id"] for c in records("streettext", "contact")}

    bad_inputs: list[dict[str, str]] = [
        {},
        {"event": "nope", "ghl_connection": ghl},
        {"event": "ghl.contact.new"},
        {"event": "ghl.contact.new", "ghl_connection": "x"},
        {"event": "ghl.contact.new", "ghl_connection": st},
        {"event": "ghl.contact.new", "ghl_connection": "999999"},
        {"event": "st.contact.new", "ghl_connection": ghl},
    ]
    for bad in bad_inputs:
        refused = admin_client.get(url, bad)
        assert refused.status_code == 400, (bad, refused.content)
        assert refused.json()["ok"] is False
    # A parameter the API refuses: said, not a 500.
    wrong = admin_client.get(url, {"event": "ghl.appointment.booked", "ghl_connection": ghl, "tp-startTime": "soon"})
    assert wrong.status_code == 200
    assert wrong.json()["ok"] is False
    assert wrong.json()["error"]


@pytest.mark.django_db(transaction=True)
def test_an_action_page_offers_the_events_fields_before_any_poll(admin_client: Client, live_server: Any) -> None:
    """The action field pickers come from the event's item schema, not from items a poll recorded."""
    world = build_world(live_server.url, size=10)
    for event, expected in (
        ("ghl.opportunity.won", {"status", "pipelineStageId", "contact.email", "trigger.change"}),
        ("ghl.message.inbound", {"direction", "body", "conversationId", "messageType"}),
        ("st.note.new", {"body", "contact_id", "created_at"}),
    ):
        automation = make_automation(world, name=event, event=event, actions=[(System.STREETTEXT, "task.create", TASK)])
        assert not automation.items.exists()
        action = automation.actions.get()
        page = admin_client.get(reverse("admin:automations_automationaction_change", args=[action.pk]))
        offered = {entry["value"] for entry in page.context["catalog"]["objectTypes"]["contact"]["trigger"]}
        assert expected <= offered, (event, expected - offered)


@pytest.mark.django_db(transaction=True)
def test_a_streettext_webhook_fires_the_events_of_its_workspace(live_server: Any) -> None:
    import json
    from datetime import UTC, datetime

    from integrations.webhooks import signatures

    world = build_world(live_server.url, size=10)
    world.streettext.webhook_secret = "whsec_events_test"
    world.streettext.save()
    new_contact = make_automation(
        world, name="ST new", system=System.STREETTEXT, trigger="contacts", event="st.contact.new"
    )
    ghl_new = make_automation(world, name="GHL new", event="ghl.contact.new")
    body = sandbox_webhooks.sandbox_webhook_body(
        system="streettext", event_type="contact.created", payload={"contact": {"id": "ct_new", "email": "n@e.com"}}
    )
    headers = {
        signatures.STREETTEXT_SIGNATURE_HEADER: signatures.streettext_signature_header(
            secret="whsec_events_test", body=body, timestamp=int(datetime.now(tz=UTC).timestamp())
        ),
        signatures.STREETTEXT_DELIVERY_HEADER: json.loads(body)["id"],
    }
    url = reverse("webhooks:streettext", kwargs={"token": world.streettext.webhook_token})
    with mock.patch.object(config.celery.app, "send_task"):
        answer = Client().post(url, data=body, content_type="application/json", headers=headers)
    assert answer.status_code == 200, answer.content
    assert len(webhook_polls(new_contact)) == 1
    assert webhook_polls(ghl_new) == []


@pytest.mark.django_db(transaction=True)
def test_an_event_automation_survives_a_configuration_round_trip(live_server: Any) -> None:
    from configs.services import config_document, config_export, config_import

    world = build_world(live_server.url, size=10)
    make_automation(
        world,
        name="Won",
        trigger="search-opportunities",
        event="ghl.opportunity.won",
        params={"limit": 100, "pipeline_id": "pipe-1", "status": "won"},
        record_filter={"field": "status", "op": "eq", "value": "won"},
        filter_entered=True,
    )
    before = config_document(Automation.objects.get())
    text = config_export(mappings=[], automations=list(Automation.objects.all()), fmt="yaml")
    Automation.objects.all().delete()
    report = config_import(text=text)
    assert report.ok, report.errors
    assert config_document(Automation.objects.get()) == before
