"""Templates: mappings and automations saved once and applied to many GoHighLevel locations, each location all or
nothing, a preview that writes nothing, and “Update N locations” after the template changed.

The invariant checked after every apply: each location applied has one TemplateUse per template item, pointing at an
object that exists and whose document is the template's item with the location's name and connections filled in."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from automations.models import Automation
from automations.presets import automation_create_from_preset
from configs import documents, template_services
from configs.models import ConfigVersion, Template, TemplateUse
from configs.services import config_document
from integrations.models import Connection
from mappings.models import FieldMapping, Mapping
from mappings.services import mapping_create_with_defaults

pytestmark = pytest.mark.django_db

LOCATIONS = ("Alpha Dental", "Bravo Roofing", "Charlie Gym")


def _connection(name: str, system: str, location_id: str = "") -> Connection:
    c = Connection(name=name, system=system, base_url="https://api.example.test", location_id=location_id)
    c.auth_type = "pit" if system == "ghl" else "api_key"
    c.api_secret = f"secret-{name}"
    c.save()
    return c


@pytest.fixture
def source() -> tuple[Mapping, Automation]:
    ghl = _connection("Pilot GHL", "ghl", "pilot")
    st = _connection("Pilot StreetText", "streettext")
    mapping = mapping_create_with_defaults(name="Contacts", ghl_connection=ghl, streettext_connection=st)
    automation = automation_create_from_preset(
        key="opportunity_won", ghl=ghl, streettext=st, inputs={"tag": "vip"}, enabled=False
    )
    automation.name = "Won deals"
    automation.save()
    return mapping, automation


@pytest.fixture
def template(source: tuple[Mapping, Automation]) -> Template:
    mapping, automation = source
    return template_services.template_create(name="Starter", mappings=[mapping], automations=[automation])


@pytest.fixture
def locations() -> list[Connection]:
    return [_connection(name, "ghl", f"loc-{i}") for i, name in enumerate(LOCATIONS)]


@pytest.fixture
def shared() -> Connection:
    return _connection("Shared StreetText", "streettext")


def check_invariant(template: Template) -> None:
    """Every location using the template has one use per item, each on an existing object that is the item filled in
    for that location (at the version the use records, when it is the current one)."""
    items = {(kind, item["name"]) for kind, key in template_services.KEYS for item in template.document[key]}
    by_location: dict[int, set[tuple[str, str]]] = {}
    for use in TemplateUse.objects.filter(template=template):
        by_location.setdefault(use.ghl_connection_id, set()).add((use.kind, use.item))
        obj = template_services.services.MODELS[use.kind]._default_manager.get(pk=use.object_id)
        if use.version != template.version:
            continue
        item = next(i for i in template.document[use.kind + "s"] if i["name"] == use.item)
        want = template_services._filled(
            item,
            name=template_services.location_name(use.item, use.ghl_connection),
            location=use.ghl_connection,
            streettext=use.streettext_connection,
        )
        assert config_document(obj) == want, (use, documents.diff(want, config_document(obj)))
    for found in by_location.values():
        assert found == items


def test_save_as_template_keeps_the_document_and_names_no_connection(template: Template) -> None:
    assert template.version == 1
    text = documents.dump(template.document)
    assert "Pilot" not in text
    assert "secret" not in text
    [mapping] = template.document["mappings"]
    assert mapping["ghl_connection"] == "{{ghl}}"
    assert mapping["streettext_connection"] == "{{streettext}}"
    assert mapping["field_mappings"], "the field mappings travel with the template"
    assert template.document["automations"][0]["actions"]


def test_preview_lists_what_each_location_gets_and_writes_nothing(
    template: Template, locations: list[Connection], shared: Connection
) -> None:
    before = (Mapping.objects.count(), Automation.objects.count(), ConfigVersion.objects.count())
    report = template_services.template_apply(
        template=template, locations=locations, shared_streettext=shared, dry_run=True
    )
    assert report.ok, report
    assert [r.location.name for r in report.locations] == list(LOCATIONS)
    for r in report.locations:
        assert [(line.kind, line.name, line.action) for line in r.lines] == [
            ("mapping", f"Contacts · {r.location.name}", "created"),
            ("automation", f"Won deals · {r.location.name}", "created"),
        ]
    assert (Mapping.objects.count(), Automation.objects.count(), ConfigVersion.objects.count()) == before
    assert not TemplateUse.objects.exists()


def test_apply_to_three_locations_each_with_its_own_or_the_shared_streettext(
    template: Template, locations: list[Connection], shared: Connection
) -> None:
    own = _connection("Bravo StreetText", "streettext")
    report = template_services.template_apply(
        template=template, locations=locations, shared_streettext=shared, streettext={locations[1].pk: own}
    )
    assert report.ok, report
    for location in locations:
        mapping = Mapping.objects.get(name=f"Contacts · {location.name}")
        assert mapping.ghl_connection == location
        assert mapping.streettext_connection == (own if location == locations[1] else shared)
        automation = Automation.objects.get(name=f"Won deals · {location.name}")
        assert automation.ghl_connection == location
    assert TemplateUse.objects.filter(template=template).count() == 6
    assert {u.version for u in TemplateUse.objects.all()} == {1}
    assert ConfigVersion.objects.filter(note="from template “Starter” v1").count() == 6
    check_invariant(template)
    # Applying again changes nothing and creates nothing.
    again = template_services.template_apply(
        template=template, locations=locations, shared_streettext=shared, streettext={locations[1].pk: own}
    )
    assert {line.action for r in again.locations for line in r.lines} == {"unchanged"}
    assert Mapping.objects.count() == 4


def test_a_location_that_fails_is_left_as_it_was_and_the_others_are_applied(
    template: Template, locations: list[Connection], shared: Connection, source: tuple[Mapping, Automation]
) -> None:
    # Someone made an automation by hand with the name Bravo's copy would get.
    _, automation = source
    automation.name = f"Won deals · {LOCATIONS[1]}"
    automation.save()
    report = template_services.template_apply(template=template, locations=locations, shared_streettext=shared)
    assert not report.ok
    bravo = report.locations[1]
    assert bravo.errors == [
        f"A automation called “Won deals · {LOCATIONS[1]}” exists already and was not made from this template: "
        "rename it, then apply."
    ]
    # Its mapping came first and was valid: it is rolled back with the rest of the location.
    assert not Mapping.objects.filter(ghl_connection=locations[1]).exists()
    assert not TemplateUse.objects.filter(ghl_connection=locations[1]).exists()
    assert Mapping.objects.filter(ghl_connection__in=[locations[0], locations[2]]).count() == 2
    assert "1 failed" in report.summary()
    check_invariant(template)


def test_bad_requests_are_refused_before_anything_is_written(template: Template, shared: Connection) -> None:
    ghl = _connection("Lonely GHL", "ghl", "lonely")
    report = template_services.template_apply(template=template, locations=[ghl])
    assert report.locations[0].errors == [template_services.MSG_NEEDS_STREETTEXT.format(location="Lonely GHL")]
    report = template_services.template_apply(template=template, locations=[shared], shared_streettext=shared)
    assert template_services.MSG_NOT_GHL.format(name="Shared StreetText") in report.locations[0].errors
    _connection("Lonely GHL", "ghl", "other")  # a second connection with the same name
    report = template_services.template_apply(template=template, locations=[ghl], shared_streettext=shared)
    assert report.locations[0].errors == [
        template_services.MSG_NAME_TWICE.format(system="GoHighLevel", name="Lonely GHL")
    ]
    assert template_services.template_apply(template=template, locations=[]).errors == [
        template_services.MSG_NO_LOCATIONS
    ]
    assert Mapping.objects.count() == 1
    assert not TemplateUse.objects.exists()


def test_a_template_names_no_connection_and_its_items_are_unique(
    template: Template, source: tuple[Mapping, Automation]
) -> None:
    doc = dict(template.document)
    doc["mappings"] = [{**doc["mappings"][0], "ghl_connection": "Pilot GHL"}]
    with pytest.raises(ValidationError, match="must be"):
        template_services.template_save(template=template, document=doc)
    doc["mappings"] = [template.document["mappings"][0]] * 2
    with pytest.raises(ValidationError, match="Two mappings"):
        template_services.template_save(template=template, document=doc)
    with pytest.raises(ValidationError, match="exists"):
        template_services.template_create(name="Starter", mappings=[source[0]])
    with pytest.raises(ValidationError):
        template_services.template_create(name="Empty")
    template.refresh_from_db()
    assert template.version == 1


UPPER = [{"name": "trim", "params": {}}, {"name": "upper", "params": {}}]


def _edited(template: Template, chain: list[dict[str, Any]]) -> dict[str, Any]:
    doc = copy.deepcopy(template.document)
    for row in doc["mappings"][0]["field_mappings"]:
        if row["target_field"] == "last_name":
            row["transforms"] = chain
    return doc


def test_a_changed_template_updates_every_location_on_an_older_version(
    template: Template, locations: list[Connection], shared: Connection
) -> None:
    template_services.template_apply(template=template, locations=locations, shared_streettext=shared)
    assert template_services.template_save(template=template, document=_edited(template, UPPER))
    assert template.version == 2
    assert [u.location for u in template_services.template_outdated(template=template)] == locations

    preview = template_services.template_update_locations(template=template, dry_run=True)
    assert preview.ok
    for r in preview.locations:
        [mapping_line, automation_line] = r.lines
        assert mapping_line.action == "updated"
        assert mapping_line.changes == ["field_mappings[to_streettext:last_name].transforms"]
        assert automation_line.action == "unchanged"
        assert r.from_version == 1
    assert UPPER not in FieldMapping.objects.filter(target_field="last_name").values_list("transforms", flat=True)

    report = template_services.template_update_locations(template=template)
    assert report.ok
    for location in locations:
        row = FieldMapping.objects.get(mapping__ghl_connection=location, target_field="last_name")
        assert row.transforms == UPPER
    assert template_services.template_outdated(template=template) == []
    check_invariant(template)
    # Saving the same document again is no new version.
    assert not template_services.template_save(template=template, document=template.document)
    assert template.version == 2


def test_an_item_removed_from_the_template_is_kept_and_no_longer_followed(
    template: Template, locations: list[Connection], shared: Connection
) -> None:
    template_services.template_apply(template=template, locations=locations[:1], shared_streettext=shared)
    doc = template.document
    doc["automations"] = []
    template_services.template_save(template=template, document=doc)
    report = template_services.template_update_locations(template=template)
    assert [line.action for line in report.locations[0].lines] == ["unchanged", template_services.LINE_DROPPED]
    assert Automation.objects.filter(name=f"Won deals · {LOCATIONS[0]}").exists()
    assert list(TemplateUse.objects.values_list("kind", flat=True)) == ["mapping"]
    check_invariant(template)


# -- the admin ---------------------------------------------------------------------------------------------------------
def test_the_admin_saves_applies_previews_and_updates(
    admin_client: Any, source: tuple[Mapping, Automation], locations: list[Connection], shared: Connection
) -> None:
    mapping, automation = source
    add = reverse("admin:configs_template_add")
    page = admin_client.get(f"{add}?mappings={mapping.pk}")
    assert page.status_code == 200
    response = admin_client.post(
        add, {"name": "Starter", "description": "", "mappings": [mapping.pk], "automations": [automation.pk]}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    template = Template.objects.get()
    apply = reverse("admin:configs_template_apply", args=[template.pk])
    choice = {"location": [c.pk for c in locations], "shared_streettext": shared.pk}

    preview = admin_client.post(apply, {**choice, "preview": "1"})
    assert preview.status_code == 200
    assert "Contacts · Charlie Gym" in preview.content.decode()
    assert not TemplateUse.objects.exists()

    applied = admin_client.post(apply, {**choice, "apply": "1"})
    assert applied.status_code == 200
    assert TemplateUse.objects.count() == 6

    change = reverse("admin:configs_template_change", args=[template.pk])
    text = documents.dump(_edited(template, UPPER))
    saved = admin_client.post(change, {"name": "Starter", "description": "", "text": text})
    assert saved.status_code == 302
    page = admin_client.get(change)
    assert "3 locations use an older version" in page.content.decode()

    update = reverse("admin:configs_template_update", args=[template.pk])
    preview = admin_client.post(update, {"preview": "1"})
    assert "field_mappings[to_streettext:last_name].transforms" in preview.content.decode()
    admin_client.post(update, {"update": "1"})
    assert template_services.template_outdated(template=template) == []


@pytest.mark.parametrize(
    "post",
    [
        {"location": ["nope"], "preview": "1"},
        {"location": ["{ghl}", "999999"], "shared_streettext": "{st}", "apply": "1"},
        {"location": ["{st}"], "apply": "1"},
        {"location": ["{ghl}"], "shared_streettext": "{ghl}", "apply": "1"},
        {"location": ["{ghl}"], "streettext_{ghl}": "x", "apply": "1"},
        {"apply": "1"},
    ],
)
def test_the_apply_page_refuses_bad_input_with_a_400_and_writes_nothing(
    admin_client: Any, template: Template, locations: list[Connection], shared: Connection, post: dict[str, Any]
) -> None:
    def fill(value: str) -> str:
        return value.replace("{ghl}", str(locations[0].pk)).replace("{st}", str(shared.pk))

    data = {fill(k): [fill(v) for v in value] if isinstance(value, list) else fill(value) for k, value in post.items()}
    response = admin_client.post(reverse("admin:configs_template_apply", args=[template.pk]), data)
    assert response.status_code == 400
    assert Mapping.objects.count() == 1
    assert not TemplateUse.objects.exists()


def test_a_bad_document_is_refused_next_to_its_field_and_the_version_stays(
    admin_client: Any, template: Template
) -> None:
    change = reverse("admin:configs_template_change", args=[template.pk])
    doc = copy.deepcopy(template.document)
    doc["mappings"][0]["ghl_connection"] = "Pilot GHL"
    for text in (documents.dump(doc), "streetsync_config: 7\n", "[unclosed"):
        response = admin_client.post(change, {"name": "Starter", "description": "", "text": text})
        assert response.status_code == 200
        assert response.context["adminform"].form.errors
    template.refresh_from_db()
    assert template.version == 1


def test_a_write_that_collides_midway_rolls_the_location_back_and_says_so(
    template: Template, locations: list[Connection], shared: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two applies at once can both pass the name checks; the loser's database refusal is a report line, not a 500."""
    from django.db import IntegrityError

    real = TemplateUse.objects.update_or_create

    def collide(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("kind") == "automation":
            raise IntegrityError("duplicate key value violates unique constraint")
        return real(*args, **kwargs)

    monkeypatch.setattr(TemplateUse.objects, "update_or_create", collide)
    report = template_services.template_apply(template=template, locations=locations[:1], shared_streettext=shared)
    assert report.locations[0].errors == [template_services.MSG_CHANGED_MEANWHILE.format(location=LOCATIONS[0])]
    assert not Mapping.objects.filter(ghl_connection=locations[0]).exists()
    assert not TemplateUse.objects.exists()


def test_opened_from_an_agency_the_apply_page_ticks_its_locations(
    admin_client: Any, template: Template, locations: list[Connection]
) -> None:
    from integrations.models import GhlAgency

    agency = GhlAgency.objects.create(name="Acme agency", base_url="https://api.example.test")
    Connection.objects.filter(pk__in=[locations[0].pk, locations[2].pk]).update(agency=agency)
    page = admin_client.get(reverse("admin:configs_template_apply", args=[template.pk]), {"agency": agency.pk})
    assert page.status_code == 200
    assert page.context["chosen"] == {locations[0].pk, locations[2].pk}
    assert b"checked" in page.content


def test_applying_costs_the_same_statements_for_every_location(
    template: Template, locations: list[Connection], shared: Connection
) -> None:
    """The cost is per location and does not grow with the locations applied before it (no query over every use)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def statements(chosen: list[Connection]) -> int:
        with CaptureQueriesContext(connection) as queries:
            report = template_services.template_apply(template=template, locations=chosen, shared_streettext=shared)
        assert report.ok
        return len(queries.captured_queries)

    created = [statements([location]) for location in locations]
    assert len(set(created)) == 1, created
    updated = [statements([location]) for location in locations]  # nothing changes, every object is read again
    assert len(set(updated)) == 1, updated
    assert statements(locations) == sum(updated)


def test_the_template_list_counts_locations_in_one_query(
    admin_client: Any, template: Template, locations: list[Connection], shared: Connection
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = reverse("admin:configs_template_changelist")
    admin_client.get(url)
    with CaptureQueriesContext(connection) as one:
        admin_client.get(url)
    template_services.template_apply(template=template, locations=locations, shared_streettext=shared)
    for i in range(3):
        template_services.template_create(name=f"Other {i}", mappings=list(Mapping.objects.all()[:1]))
    with CaptureQueriesContext(connection) as many:
        page = admin_client.get(url)
    assert len(many.captured_queries) == len(one.captured_queries)
    assert page.context["cl"].result_list.get(pk=template.pk).location_total == 3


def test_a_viewer_may_not_apply_or_update(
    client: Any, template: Template, locations: list[Connection], shared: Connection
) -> None:
    from django.contrib.auth import get_user_model

    from integrations.services.roles import role_viewer_grant

    viewer = get_user_model().objects.create_user(username="viewer", password="pw-viewer-1")
    role_viewer_grant(user=viewer)
    client.force_login(viewer)
    apply = reverse("admin:configs_template_apply", args=[template.pk])
    assert client.get(apply).status_code == 403
    post = {"location": [locations[0].pk], "shared_streettext": shared.pk, "apply": "1"}
    assert client.post(apply, post).status_code == 403
    assert client.post(reverse("admin:configs_template_update", args=[template.pk]), {"update": "1"}).status_code == 403
    assert client.get(reverse("admin:configs_template_update", args=[template.pk])).status_code in (403, 405)
    assert not TemplateUse.objects.exists()
    assert Mapping.objects.count() == 1
