"""Every page the admin crawl reaches, after a sync and after an edit: no form inside another form (a browser drops
the inner `<form>` tag and closes the outer form at the inner `</form>`, so the page's Save buttons stop working),
and every change page saved unchanged as a browser would post it saves, and changes nothing."""

from __future__ import annotations

import re
from collections import deque
from datetime import datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.html
import pytest
from django.apps import apps
from django.core.management import call_command
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import reverse

from automations.models import Automation, AutomationPoll
from automations.services.engine import automation_poll_execute
from integrations.models import MappingRecordState, SyncRun
from integrations.services import sync
from mappings.models import FieldMapping, Mapping
from sandbox.management.commands.seed_demo import DEMO_MAPPING_NAME

pytestmark = pytest.mark.django_db(transaction=True)

CHANGE_PAGE = re.compile(r"^/admin/(?P<app>\w+)/(?P<model>\w+)/(?P<pk>\d+)/change/$")
# Sort, filter and page links vary only the query string, and runs, history rows and links are alike: a few of each
# shape of path. Every mapping, connection and automation of the demo is crawled (fewer than this of each).
PAGES_PER_PATH = 2
CHANGE_PAGES_PER_MODEL = 8
MAX_PAGES = 400
# Never followed: they log out, delete, or answer with a download, not a page to read.
SKIP = re.compile(r"/logout/|/delete/|/password/|/history/\d+/|\?_popup=|/sandbox/")


class _FormNesting(HTMLParser):
    """Which `<form>` opens while another is still open (a tokenizer: it keeps the nesting a browser would undo)."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.nested: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "form":
            return
        named = dict(attrs)
        name = named.get("id") or named.get("action") or "(a form)"
        if self.open:
            self.nested.append((self.open[-1], name))
        self.open.append(name or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.open:
            self.open.pop()


def forms_nested(html: str) -> list[tuple[str, str]]:
    parser = _FormNesting()
    parser.feed(html)
    parser.close()
    return parser.nested


def _shape(path: str) -> str:
    """Pages alike: ids are numbers, and the catalog's 123 operation pages are one form generated from the spec."""
    return re.sub(r"^/admin/catalog/(?!raw/)[\w-]+/", "/admin/catalog/OP/", re.sub(r"/\d+/", "/N/", path))


def crawl(client: Client, start: str = "/admin/") -> dict[str, str]:
    """GET every admin page reachable from `start` by links (a few per path shape): url -> HTML."""
    pages: dict[str, str] = {}
    seen = {start}
    per_shape: dict[str, int] = {}
    queue = deque([start])
    while queue and len(pages) < MAX_PAGES:
        url = queue.popleft()
        response = client.get(url)
        assert response.status_code in (200, 302), (url, response.status_code)
        if response.status_code != 200 or not response.get("Content-Type", "").startswith("text/html"):
            continue
        html = response.content.decode()
        pages[url] = html
        for href in re.findall(r'href="([^"#]+)"', html):
            target = urljoin(url, href.replace("&amp;", "&"))
            parts = urlsplit(target)
            if CHANGE_PAGE.match(parts.path):
                target = parts.path  # "?_changelist_filters=…" only changes where Save returns to
            if parts.netloc or not parts.path.startswith("/admin/") or SKIP.search(target) or target in seen:
                continue
            seen.add(target)
            shape = _shape(parts.path) + ("?" if parts.query else "")
            limit = CHANGE_PAGES_PER_MODEL if CHANGE_PAGE.match(parts.path) else PAGES_PER_PATH
            if per_shape.get(shape, 0) >= (limit if not parts.query else 1):
                continue
            per_shape[shape] = per_shape.get(shape, 0) + 1
            queue.append(target)
    return pages


def _synced_demo(live_server: Any) -> Mapping:
    """The demo (every preset mapping and both automations), each mapping synced once, each automation polled."""
    call_command("seed_demo", base_url=live_server.url, size=12)
    for mapping in Mapping.objects.order_by("pk"):
        run = SyncRun.objects.create(mapping=mapping, trigger=SyncRun.Trigger.MANUAL)
        sync.sync_run_execute(run_id=run.pk)
    for automation in Automation.objects.order_by("pk"):
        poll = AutomationPoll.objects.create(automation=automation, trigger=AutomationPoll.Trigger.MANUAL)
        automation_poll_execute(poll_id=poll.pk)
    return Mapping.objects.get(name=DEMO_MAPPING_NAME)


def _edit_mapping(mapping: Mapping) -> None:
    """What a person does after a sync: another transform on one field (the mapping's configuration changes)."""
    row = FieldMapping.objects.filter(mapping=mapping, target_field="email").order_by("pk").first()
    assert row is not None
    row.transforms = [*row.transforms, {"name": "lower", "params": {}}]
    row.save()


def _model_of(url: str) -> Any:
    match = CHANGE_PAGE.match(urlsplit(url).path)
    return apps.get_model(match["app"], match["model"]) if match else None


def _stored(model: Any, pk: str) -> dict[str, Any]:
    """The stored values, times to the second (as the page shows and posts them back)."""
    values = model_to_dict(model.objects.get(pk=pk))
    return {k: v.replace(microsecond=0) if isinstance(v, datetime) else v for k, v in values.items()}


def save_unchanged(client: Client, url: str, html: str) -> str | None:
    """Post the page's own form back as a browser would (every field as shown, "Save and continue editing").

    Returns None when the page offers no save (a read-only page), else the message the saved page shows."""
    match = CHANGE_PAGE.match(urlsplit(url).path)
    assert match is not None
    document = lxml.html.fromstring(html)
    found = document.xpath(f'//form[@id="{match["model"]}_form"]')
    if not found or not found[0].xpath('.//input[@type="submit"][@name="_continue"]'):
        return None
    values = [*list(found[0].form_values()), ("_continue", "Save and continue editing")]
    response = client.post(url, data=_as_post(values), follow=True)
    assert response.status_code == 200, url
    shown = [str(m) for m in response.context["messages"]] if response.context else []
    errors = re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.content.decode(), re.S)
    assert errors == [], (url, errors)
    assert response.redirect_chain, (url, "the form came back instead of saving", shown)
    return " ".join(shown)


def _as_post(values: list[tuple[str, str]]) -> dict[str, list[str]]:
    data: dict[str, list[str]] = {}
    for name, value in values:
        data.setdefault(name, []).append(value)
    return data


def _save_every_change_page(client: Client, pages: dict[str, str]) -> list[str]:
    saved = []
    for url, html in pages.items():
        model = _model_of(url)
        if model is None:
            continue
        pk = CHANGE_PAGE.match(urlsplit(url).path)["pk"]  # type: ignore[index]
        before = _stored(model, pk)
        message = save_unchanged(client, url, html)
        if message is None:
            continue
        assert "was changed successfully" in message, (url, message)
        assert _stored(model, pk) == before, url
        saved.append(url)
    return saved


def test_no_page_of_the_admin_nests_a_form_and_every_change_page_saves_unchanged(
    admin_client: Client, live_server: Any
) -> None:
    mapping = _synced_demo(live_server)
    mapping_page = reverse("admin:mappings_mapping_change", args=[mapping.pk])

    # After a sync: nothing edited, so no mapping asks for a re-sync, and every page saves as it is.
    after_sync = crawl(admin_client)
    assert all(forms_nested(html) == [] for html in after_sync.values())
    assert mapping_page in after_sync
    assert all('id="resync-notice"' not in html for html in after_sync.values())
    saved = _save_every_change_page(admin_client, after_sync)
    shapes = {_shape(urlsplit(u).path) for u in saved}
    for expected in ("mappings/mapping", "integrations/connection", "automations/automation"):
        assert any(expected in shape for shape in shapes), (expected, sorted(shapes))

    # After an edit: the demo mapping's page shows the re-sync notice with its own buttons, and still nests nothing.
    # Every change page is read again (their lists and filters are as they were) and saved again.
    _edit_mapping(mapping)
    assert MappingRecordState.objects.filter(mapping=mapping).exists()
    after_edit = {url: admin_client.get(url).content.decode() for url in after_sync if CHANGE_PAGE.match(url)}
    nested = {url: forms_nested(html) for url, html in after_edit.items() if forms_nested(html)}
    assert nested == {}
    assert 'id="resync-notice"' in after_edit[mapping_page]
    assert _save_every_change_page(admin_client, after_edit) == saved
