"""0 × 500 on hostile input (Hypothesis): every admin form, the catalog's generated forms and raw request, every
query parameter the admin reads, object ids in admin URLs, and both webhook endpoints with validly signed bodies.

Hostile means what a browser, a script or a sender holding the webhook key can send: NUL characters, lone
surrogates (sent as the invalid UTF-8 a client would send, or as a JSON `\\ud800` escape), JSON nested thousands of
levels deep or hundreds of KB large, numbers as strings, odd Unicode digits ('١٢٣', '½', '²', '𝟗') and numbers too
big for a column. Each gets a 4xx with a message, or a form shown again with its errors (200), or is accepted; never
a 500; and what was refused stored nothing. Run on PostgreSQL too (DATABASE_URL): SQLite stores a NUL that PostgreSQL
refuses.

`derandomize=True`: the same examples on every run (the CI's and yours), so a failure can be replayed.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from unittest import mock
from urllib.parse import quote, urlencode, urlsplit

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client
from django.urls import NoReverseMatch, reverse
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from integrations import input_checks
from integrations.catalog.loader import get_catalog
from integrations.catalog.models import CatalogExecution
from integrations.models import (
    Connection,
    ProcessHeartbeat,
    RateLimitWindow,
    RecordHistory,
    RecordLink,
    SyncRun,
    WebhookDelivery,
)
from mappings.models import Mapping
from sandbox import webhooks as sandbox_webhooks
from tests.integrations.support import build_world

# The admin is fuzzed on the sandbox over real HTTP (a live server: transactional); the webhooks need only rows.
live = pytest.mark.django_db(transaction=True)

FUZZ = settings(
    max_examples=50,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

DEEP = 100_000
# Texts that break something somewhere: stored text (NUL, surrogates), parsers (depth, size), numbers.
SPECIMENS = [
    "\x00",
    "id\x00x",
    "\ud800",
    "a\udfffb",
    "١٢٣",
    "½",
    "²",
    "𝟗",
    "-1",
    "0",
    "9" * 25,
    "1e999",
    "NaN",
    "0x10",
    " ",
    "",
    "\u202e\u2066x",
    "\ufeff1",
    "true",
    "null",
    '{"a": "\\u0000"}',
    '["\\ud800"]',
    '{"\\u0000": 1}',
    '{"x": "\\udc00"}',
    "[" * 40 + "]" * 40,
    "[" * DEEP + "]" * DEEP,
    '{"a":' * 2000 + "1" + "}" * 2000,
    "[" + ",".join(["1"] * 60_000) + "]",
    '"' + "x" * 100_000 + '"',
    "/../_control/stats",
    "%2e%2e",
]
# The ones that broke something, drawn more often than the rest.
NASTY = ["\x00", "id\x00x", "\ud800", '{"a": "\\u0000"}', '["\\ud800"]', "[" * DEEP + "]" * DEEP, "½", "9" * 25]
hostile_text = st.one_of(
    st.sampled_from(NASTY), st.sampled_from(SPECIMENS), st.sampled_from(SPECIMENS), st.text(max_size=12)
)


def _form_body(data: list[tuple[str, str]]) -> bytes:
    # What a client sends: a lone surrogate goes out as the (invalid) UTF-8 bytes a careless encoder writes.
    return urlencode(data, encoding="utf-8", errors="surrogatepass").encode("ascii")


def _query(data: list[tuple[str, str]]) -> str:
    return urlencode(data, encoding="utf-8", errors="surrogatepass")


# -- the world: both connections on the sandbox over real HTTP, a mapping, runs, history, links, an automation ----


@pytest.fixture
def _no_background_work() -> Iterator[None]:
    """Work an accepted request queues (Sync now, Retry, a poll) is kept from the broker: a worker the test session
    started earlier would otherwise run it while the fuzz compares the tables before and after each refused request."""
    from config.celery import app

    with mock.patch.object(app, "send_task"):
        yield


@pytest.fixture
def world(live_server: Any, settings: Any, _no_background_work: None) -> dict[str, Any]:
    settings.CUSTOM_FIELDS_PAGE_WAIT_SECONDS = 0.2
    settings.API_TRANSPORT_RETRIES = 0
    world = build_world(live_server.url, size=10)
    run = SyncRun.objects.create(mapping=world.mapping, trigger="manual", status="partial", processed=2, failed=1)
    history = RecordHistory.objects.create(
        run=run, mapping=world.mapping, direction="to_ghl", action="failed", ghl_id="g-1", error="bad phone"
    )
    link = RecordLink.objects.create(
        ghl_connection=world.ghl,
        streettext_connection=world.streettext,
        object_type="contact",
        ghl_id="g-1",
        streettext_id="s-1",
    )

    return {
        "ghl": world.ghl,
        "st": world.streettext,
        "mapping": world.mapping,
        "run": run,
        "history": history,
        "link": link,
    }


class _FormFields(HTMLParser):
    """The fields of a page's main POST form (the one with the CSRF token and most fields), with their values."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[list[tuple[str, str]]] = []
        self._current: list[tuple[str, str]] | None = None
        self._select: str | None = None
        self._select_value: str | None = None
        self._select_first: str | None = None
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "").lower() == "post":
            self._current = []
            self.forms.append(self._current)
        if self._current is None:
            return
        name = a.get("name", "")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind in ("submit", "button", "file", "image"):
                return
            self._current.append((name, a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select" and name:
            self._select, self._select_value, self._select_first = name, None, None
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in a:
                self._select_value = value
        elif tag == "textarea" and name:
            self._textarea, self._text = name, ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None
        elif tag == "select" and self._select is not None and self._current is not None:
            self._current.append((self._select, self._select_value or self._select_first or ""))
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._current is not None:
            self._current.append((self._textarea, self._text))
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data

    def main_form(self) -> list[tuple[str, str]]:
        with_token = [f for f in self.forms if any(n == "csrfmiddlewaretoken" for n, _ in f)] or self.forms
        return max(with_token, key=len) if with_token else []


def _form_of(client: Client, url: str) -> list[tuple[str, str]] | None:
    response = client.get(url)
    if response.status_code != 200:
        return None
    parser = _FormFields()
    parser.feed(response.content.decode())
    fields = [(n, v) for n, v in parser.main_form() if n != "csrfmiddlewaretoken"]
    return fields or None


def _url(name: str, *args: Any) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _admin_form_targets(client: Client, world: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """Every add and change form the admin has (one object each), and the product's own form pages."""
    urls: list[str] = []
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        urls.append(reverse("admin:{}_{}_add".format(*info)))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            urls.append(reverse("admin:{}_{}_change".format(*info), args=[first.pk]))
        del model_admin
    urls += [
        u
        for u in (
            _url("admin:mappings_mapping_presets"),
            _url("admin:automations_automation_presets"),
            _url("admin:catalog_raw"),
            _url("admin:catalog_operation", "create-contact"),
            _url("admin:catalog_operation", "get-free-slots"),
        )
        if u
    ]
    targets = {}
    for url in urls:
        fields = _form_of(client, url)
        if fields:
            targets[url] = fields
    # Buttons that post to views of their own: Retry on the record page, Sync now, Rerun, Test connection.
    mapping, run, history = world["mapping"], world["run"], world["history"]
    targets[reverse("admin:record_sync", args=["ghl"]) + "?id=g-1"] = [("retry", str(history.pk))]
    targets[reverse("admin:record_sync", args=["streettext"]) + "?id=s-1"] = [("mapping", str(mapping.pk))]
    targets[reverse("admin:mappings_mapping_sync", args=[mapping.pk])] = [("dry_run", "1"), ("scope", "linked")]
    targets[reverse("admin:integrations_syncrun_rerun", args=[run.pk])] = [("failed_only", "1")]
    targets[reverse("admin:integrations_connection_test", args=[world["ghl"].pk])] = [("next", "/admin/")]
    return targets


def _row_counts() -> dict[str, int]:
    """Rows of the product's tables (not the catalog's execution log, which records refused sends by design, nor the
    rate-limit governor's windows, which a request that was sent updates, nor the heartbeats a Celery worker of the
    test session writes on its own)."""
    counts = {}
    for label in ("integrations", "mappings", "automations", "alerts", "configs"):
        for model in apps.get_app_config(label).get_models():
            if model in (CatalogExecution, RateLimitWindow, ProcessHeartbeat):
                continue
            counts[model._meta.label] = model._default_manager.count()
    return counts


def _changed(before: dict[str, int]) -> dict[str, tuple[int, int]]:
    after = _row_counts()
    return {name: (before.get(name, 0), count) for name, count in after.items() if before.get(name, 0) != count}


def _no_500(response: Any, what: str, *, record: bool = True) -> None:
    assert response.status_code < 500, (what, response.status_code, response.content[:500])
    if 400 <= response.status_code < 500:
        # A refusal says why (the 400 page's message, a JSON error or Django's own 4xx page).
        assert response.content.strip(), what
    if record:
        event(f"{response.status_code}")


@pytest.fixture
def fuzz_client(admin_client: Client) -> Client:
    admin_client.raise_request_exception = False
    return admin_client


@live
def test_every_admin_form_refuses_hostile_values_without_a_500(world: dict[str, Any], fuzz_client: Client) -> None:
    targets = _admin_form_targets(fuzz_client, world)
    # Every registered admin's add page at least, and the product's own forms.
    assert len(targets) >= 20, sorted(targets)

    @FUZZ
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        url = data.draw(st.sampled_from(sorted(targets)), label="form")
        fields = list(targets[url])
        names = sorted({name for name, _ in fields})
        chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True), label="fields")
        values = {name: data.draw(hostile_text, label=name) for name in chosen}
        body = [(n, values.get(n, v)) for n, v in fields]
        before = _row_counts()
        response = fuzz_client.generic("POST", url, _form_body(body), content_type="application/x-www-form-urlencoded")
        _no_500(response, f"POST {url} {values!r:.300}")
        if response.status_code != 302:
            assert _row_counts() == before, f"POST {url} stored something half-way: {_changed(before)}"

    fuzz()


# Swept over every form (each field at once) and every page (each parameter at once) before the random mixtures: what
# breaks one field or parameter of one page is found on every run, whatever the draw.
# Deep enough to overflow Python's parser (about 1,000 levels), small enough to repeat in every field of a page.
SWEEP = ["\x00", '{"a": "\\u0000", "\\ud800": ["\\udc00"]}', "[" * 3000 + "]" * 3000, "½", "١٢٣", "9" * 25]

# Forms are slower to answer (some save and test a connection): the values that broke a form.
FORM_SWEEP = [SWEEP[0], SWEEP[1], SWEEP[2]]


@live
def test_every_admin_form_with_each_hostile_value_in_every_field(world: dict[str, Any], fuzz_client: Client) -> None:
    targets = _admin_form_targets(fuzz_client, world)
    for url, fields in sorted(targets.items()):
        for value in FORM_SWEEP:
            body = [(name, value) for name, _ in fields]
            before = _row_counts()
            response = fuzz_client.generic(
                "POST", url, _form_body(body), content_type="application/x-www-form-urlencoded"
            )
            _no_500(response, f"POST {url} all fields {value[:30]!r}", record=False)
            if response.status_code != 302:
                assert _row_counts() == before, f"POST {url} stored something half-way: {_changed(before)}"


@live
def test_every_json_field_of_the_catalog_and_the_raw_body_refuse_deep_and_unstorable_json(
    world: dict[str, Any], fuzz_client: Client
) -> None:
    catalog = get_catalog()
    ghl = world["ghl"]
    targets = [
        (reverse("admin:catalog_raw"), {"method": "POST", "path": "/contacts/", "version": "2021-07-28"}, ["body"]),
        *(
            (
                reverse("admin:catalog_operation", args=[op.key]),
                {},
                [f.form_name for f in op.fields if f.kind == "json"],
            )
            for op in catalog.operations
            if any(f.kind == "json" for f in op.fields)
        ),
    ]
    assert len(targets) > 10
    for url, base, names in targets:
        for value in (SWEEP[1], SWEEP[2]):
            body = [("connection", str(ghl.pk)), *base.items(), *((name, value) for name in names)]
            before = _row_counts()
            response = fuzz_client.generic(
                "POST", url, _form_body(body), content_type="application/x-www-form-urlencoded"
            )
            _no_500(response, f"POST {url} {value[:30]!r}", record=False)
            assert response.status_code == 200, url  # the form again, with the JSON field's error
            assert _row_counts() == before
            assert CatalogExecution.objects.filter(path="/contacts/", method="POST").count() == 0


@live
def test_every_catalog_form_and_the_raw_request_refuse_hostile_values(
    world: dict[str, Any], fuzz_client: Client
) -> None:
    catalog = get_catalog()
    keys = sorted(op.key for op in catalog.operations)
    ghl = world["ghl"]

    @FUZZ
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        key = data.draw(st.sampled_from([*keys, "RAW", "RAW"]), label="operation")
        if key == "RAW":
            url = reverse("admin:catalog_raw")
            names = ["method", "path", "version", "body"]
            base = {"method": "POST", "path": "/contacts/", "version": "2021-07-28", "body": "{}"}
        else:
            url = reverse("admin:catalog_operation", args=[key])
            names = [f.form_name for f in catalog.operation(key).fields] or ["connection"]
            base = {}
        chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True), label="fields")
        values = {**base, **{name: data.draw(hostile_text, label=name) for name in chosen}}
        body = [("connection", str(ghl.pk)), *values.items()]
        before = _row_counts()
        response = fuzz_client.generic("POST", url, _form_body(body), content_type="application/x-www-form-urlencoded")
        _no_500(response, f"POST {url} {values!r:.300}")
        assert _row_counts() == before

    fuzz()


# Query parameters the admin's own views read (records, catalog, mappings, automations), and Django admin's.
PARAMETERS = [
    "q", "o", "p", "e", "all", "id", "page", "connection", "kind", "category", "search", "direction", "object_type",
    "preset", "refresh_fields", "status", "trigger", "action", "system", "mapping", "mapping__id__exact", "run",
    "run__id__exact", "_changelist_filters", "_to_field", "_popup", "state", "code", "error",
]  # fmt: skip


def _get_targets(client: Client, world: dict[str, Any]) -> dict[str, list[str]]:
    """Pages that read query parameters (each changelist, change page, the product's pages), each with the parameter
    names it reads: its own query's, and those its links use (filters, sorting, paging)."""
    mapping, run = world["mapping"], world["run"]
    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        urls.append(reverse("admin:{}_{}_changelist".format(*info)))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            urls.append(reverse("admin:{}_{}_change".format(*info), args=[first.pk]))
    urls += [
        u
        for u in (
            _url("admin:records"),
            (_url("admin:record", "ghl") or "") + "?id=g-1",
            (_url("admin:record", "streettext") or "") + "?id=s-1&page=1",
            _url("admin:catalog_index"),
            _url("admin:catalog_operation", "get-free-slots"),
            (_url("admin:catalog_picker", "users") or "") + f"?connection={world['ghl'].pk}&search=a",
            _url("admin:mappings_mapping_preview", mapping.pk),
            _url("admin:mappings_mapping_presets"),
            _url("admin:automations_automation_presets"),
            _url("admin:integrations_syncrun_progress", run.pk),
            "/oauth/ghl/callback?state=x&code=y",
        )
        if u and not u.startswith("?")
    ]
    targets: dict[str, list[str]] = {}
    for url in urls:
        names = {part.split("=", 1)[0] for part in urlsplit(url).query.split("&") if part}
        html = client.get(url).content.decode(errors="replace")
        for href in re.findall(r'href="[^"?#]*\?([^"#]+)"', html):
            names.update(part.split("=", 1)[0] for part in href.replace("&amp;", "&").split("&"))
        targets[url] = sorted(n for n in names if n)
    return targets


@live
def test_every_page_with_each_hostile_value_in_every_parameter(world: dict[str, Any], fuzz_client: Client) -> None:
    targets = _get_targets(fuzz_client, world)
    for url, names in sorted(targets.items()):
        path = urlsplit(url).path
        for value in SWEEP:
            target = f"{path}?{_query([(name, value) for name in names or PARAMETERS])}"
            _no_500(fuzz_client.get(target), f"GET {target[:300]}", record=False)
            if re.search(r"/\d+/change/$", path):
                other = re.sub(r"/\d+/change/$", "/" + quote(value[:100], safe="") + "/change/", path)
                _no_500(fuzz_client.get(other), f"GET {other[:300]}", record=False)


@live
def test_every_query_parameter_and_object_id_refuses_hostile_values(world: dict[str, Any], fuzz_client: Client) -> None:
    targets = _get_targets(fuzz_client, world)
    urls = sorted(targets)
    change_urls = [u for u in urls if re.search(r"/\d+/change/$", u)]

    @FUZZ
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        if data.draw(st.integers(0, 4), label="where") == 0:
            # An object id in the URL path (change, history, delete pages read it).
            url = data.draw(st.sampled_from(change_urls), label="page")
            value = data.draw(hostile_text, label="id")
            target = re.sub(r"/\d+/change/$", "/" + quote(value, safe="", errors="surrogatepass") + "/change/", url)
            if len(target) > 4000:
                return
        else:
            url = data.draw(st.sampled_from(urls), label="page")
            # Mostly what this page reads; now and then what another page reads.
            own = st.sampled_from(targets[url]) if targets[url] else st.sampled_from(PARAMETERS)
            names = st.one_of(own, own, own, st.sampled_from(PARAMETERS))
            chosen = data.draw(st.lists(names, min_size=1, max_size=3, unique=True), label="params")
            params = [(name, data.draw(hostile_text, label=name)) for name in chosen]
            parts = urlsplit(url)
            kept = [q for q in parts.query.split("&") if q and q.split("=", 1)[0] not in chosen]
            query = "&".join([*kept, _query(params)])
            target = f"{parts.path}?{query}"
        response = fuzz_client.get(target)
        _no_500(response, f"GET {target[:300]}")

    fuzz()


# -- webhooks: validly signed bodies with hostile field values --------------------------------------------------

GHL_EVENTS = ["ContactUpdate", "TaskCreate", "NoteDelete", "AppointmentCreate", "OpportunityCreate"]
ST_EVENTS = ["contact.created", "contact.updated", "contact.deleted"]
DEEP_MARK = "__deep__"


def _hostile_json_value() -> st.SearchStrategy[Any]:
    """A field value as a sender could put it in the body: hostile text, a number as a string or not, big numbers,
    or a marker replaced by JSON too deep to build here."""
    return st.one_of(
        hostile_text,
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False),
        st.just(DEEP_MARK),
        st.lists(hostile_text, max_size=2),
    )


def _body(fields: dict[str, Any], *, deep: int) -> bytes:
    # ensure_ascii: a NUL or a lone surrogate goes out as the JSON escape a sender would use ("\u0000", "\ud800").
    text = json.dumps(fields, ensure_ascii=True)
    return text.replace(json.dumps(DEEP_MARK), "[" * deep + "]" * deep).encode()


def _fresh_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def connections(db: Any) -> dict[str, Connection]:
    ghl = Connection.objects.create(
        name="G", system="ghl", base_url="https://ghl.invalid", location_id="loc-1", auth_type="pit"
    )
    st_conn = Connection.objects.create(
        name="S", system="streettext", base_url="https://st.invalid", auth_type="api_key"
    )
    Mapping.objects.create(name="m", ghl_connection=ghl, streettext_connection=st_conn)
    return {"ghl": ghl, "st": st_conn}


@pytest.fixture
def trusted_keys(settings: Any) -> None:
    keys = sandbox_webhooks.sandbox_webhook_public_keys()
    settings.GHL_WEBHOOK_ED25519_PUBLIC_KEY = keys["ed25519"]
    settings.GHL_WEBHOOK_RSA_PUBLIC_KEY = keys["rsa"]
    settings.WEBHOOK_MAX_BODY_BYTES = 1_000_000
    settings.WEBHOOK_MAX_PER_MINUTE = 1_000_000


@pytest.fixture
def no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    # The delivery is what is under test; its processing task (sync runs) is the worker's and not started here.
    from integrations import enqueue

    monkeypatch.setattr(enqueue, "process_webhook", lambda delivery_id: None)


def _webhook_outcome(response: Any, before: int, what: str) -> None:
    _no_500(response, what)
    payload = response.json()
    assert payload["ok"] is (response.status_code == 200), what
    if response.status_code != 200:
        assert payload["error"], what
        assert WebhookDelivery.objects.count() == before, f"{what}: refused but stored"
    event(f"{response.status_code} {payload.get('error', 'accepted')[:50]}")


def test_signed_ghl_webhooks_with_hostile_fields_get_a_4xx_never_a_500(
    connections: dict[str, Connection], trusted_keys: None, no_broker: None
) -> None:
    client = Client(raise_request_exception=False)
    url = reverse("webhooks:ghl", kwargs={"token": connections["ghl"].webhook_token})
    location = connections["ghl"].location_id
    normal: dict[str, Any] = {
        "type": st.sampled_from(GHL_EVENTS),
        "webhookId": st.uuids().map(str),
        "timestamp": st.builds(_fresh_ms),
        "locationId": st.just(location),
        "id": st.uuids().map(str),
        "contactId": st.uuids().map(str),
        "appointment.id": st.uuids().map(str),
        "appointment.contactId": st.uuids().map(str),
        "assignedTo": st.just("u1"),
    }

    @FUZZ
    @given(data=st.data(), scheme=st.sampled_from(["ed25519", "rsa"]))
    def fuzz(data: st.DataObject, scheme: str) -> None:
        hostile = data.draw(st.lists(st.sampled_from(sorted(normal)), min_size=1, max_size=2, unique=True))
        flat = {
            name: data.draw(_hostile_json_value() if name in hostile else strategy, label=name)
            for name, strategy in normal.items()
        }
        fields = {k: v for k, v in flat.items() if "." not in k}
        fields["appointment"] = {"id": flat["appointment.id"], "contactId": flat["appointment.contactId"]}
        body = _body(fields, deep=data.draw(st.sampled_from([50, 2_000, DEEP])))
        before = WebhookDelivery.objects.count()
        response = client.post(
            url,
            data=body,
            content_type="application/json",
            headers=sandbox_webhooks.sandbox_webhook_sign_ghl(body=body, sign_with=scheme),
        )
        _webhook_outcome(response, before, f"GHL {hostile} {body[:200]!r}")

    fuzz()


def test_signed_streettext_webhooks_with_hostile_fields_get_a_4xx_never_a_500(
    connections: dict[str, Connection], no_broker: None, settings: Any
) -> None:
    import hashlib
    import hmac

    settings.WEBHOOK_MAX_PER_MINUTE = 1_000_000
    settings.WEBHOOK_MAX_BODY_BYTES = 1_000_000
    connection: Connection = connections["st"]
    connection.webhook_secret = "whsec-hostile"
    connection.save()
    client = Client(raise_request_exception=False)
    url = reverse("webhooks:streettext", kwargs={"token": connection.webhook_token})
    normal: dict[str, Any] = {
        "id": st.uuids().map(str),
        "type": st.sampled_from(ST_EVENTS),
        "data.contact.id": st.uuids().map(str),
        "created_at": st.just("2026-01-01T00:00:00Z"),
    }

    @FUZZ
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        hostile = data.draw(st.lists(st.sampled_from(sorted(normal)), min_size=1, max_size=2, unique=True))
        flat = {
            name: data.draw(_hostile_json_value() if name in hostile else strategy, label=name)
            for name, strategy in normal.items()
        }
        fields = {"id": flat["id"], "type": flat["type"], "created_at": flat["created_at"]}
        fields["data"] = {"contact": {"id": flat["data.contact.id"]}}
        body = _body(fields, deep=data.draw(st.sampled_from([50, 2_000, DEEP])))
        stamp = str(int(time.time()))
        signature = hmac.new(b"whsec-hostile", stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        before = WebhookDelivery.objects.count()
        response = client.post(
            url,
            data=body,
            content_type="application/json",
            headers={"X-StreetText-Signature": f"t={stamp},v1={signature}"},
        )
        _webhook_outcome(response, before, f"StreetText {hostile} {body[:200]!r}")

    fuzz()


def test_a_nul_in_any_ghl_webhook_field_is_refused_with_a_message(
    connections: dict[str, Connection], trusted_keys: None, no_broker: None
) -> None:
    """The issue's 9 fields, one by one: each was a 500 (PostgreSQL DataError) for 7 of them."""
    client = Client(raise_request_exception=False)
    url = reverse("webhooks:ghl", kwargs={"token": connections["ghl"].webhook_token})
    statuses = {}
    for number, path in enumerate(
        ["type", "webhookId", "locationId", "id", "contactId", "appointment.id", "appointment.contactId", "timestamp"]
    ):
        fields: dict[str, Any] = {
            "type": "AppointmentCreate" if path.startswith("appointment") else "TaskCreate",
            "webhookId": f"w-{number}",
            "timestamp": _fresh_ms(),
            "locationId": connections["ghl"].location_id,
            "id": "t-1",
            "contactId": "c-1",
            "appointment": {"id": "a-1", "contactId": "c-1"},
        }
        if "." in path:
            outer, inner = path.split(".")
            fields[outer][inner] = "x\x00y"
        else:
            fields[path] = "x\x00y"
        body = json.dumps(fields).encode()
        response = client.post(
            url,
            data=body,
            content_type="application/json",
            headers=sandbox_webhooks.sandbox_webhook_sign_ghl(body=body),
        )
        statuses[path] = (response.status_code, response.json().get("error", ""))
    assert {path: status for path, (status, _) in statuses.items()} == dict.fromkeys(statuses, 400)
    assert all("NUL" in error for _, error in statuses.values()), statuses
    assert WebhookDelivery.objects.count() == 0


# -- the shared checks themselves --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": "\\u0000"}', "The JSON.a contains a NUL character"),
        ('{"\\u0000": 1}', "A key in The JSON contains a NUL character"),
        ('["\\ud800"]', "The JSON contains an unpaired surrogate (\\ud800)"),
        ("[" * 33 + "]" * 33, "The JSON is nested more than 32 levels deep"),
        ("[" * DEEP + "]" * DEEP, "The JSON is nested more than 32 levels deep"),
        ("{", "Not valid JSON"),
    ],
)
def test_the_shared_json_parser_refuses_with_a_message(text: str, message: str) -> None:
    with pytest.raises(input_checks.InputRefused, match=re.escape(message)):
        input_checks.json_parse(text)


def test_the_shared_json_parser_keeps_what_is_fine() -> None:
    # A surrogate pair is an emoji, not a lone surrogate; 32 levels are allowed.
    assert input_checks.json_parse('{"a": "\\ud83d\\ude00"}') == {"a": "😀"}
    assert input_checks.json_parse("[" * 32 + "]" * 32) is not None
    assert [input_checks.row_id(v) for v in ("12", "١٢٣", "½", "9" * 25, " 7 ", "")] == [12, None, None, None, 7, None]
