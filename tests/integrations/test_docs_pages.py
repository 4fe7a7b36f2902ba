"""Help texts that say "see docs/…" link to the guide, served as an admin page to logged-in staff only."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from integrations.docs_admin import _render, docs_names
from integrations.models import Connection
from tests.integrations.support import build_world

pytestmark = pytest.mark.django_db


def test_every_guide_opens_as_a_page_and_links_to_the_others(admin_client: Client) -> None:
    names = docs_names()
    assert {"architecture", "webhooks", "oauth", "reliability"} <= set(names)
    for name in names:
        page = admin_client.get(reverse("admin:docs_page", args=[name]))
        assert page.status_code == 200, name
        html = page.content.decode()
        assert '<article class="ss-docs-body" id="ss-docs"><h1>' in html, name
        # A link to another guide opens that guide's page, not a .md file the browser cannot show.
        assert not re.search(r'href="[^":]*\.md[#"]', html), name


def test_guides_are_for_logged_in_staff_and_only_the_guides(client: Client, admin_client: Client) -> None:
    url = reverse("admin:docs_page", args=["architecture"])
    assert client.get(url).status_code == 302  # to the login page
    for name in ("nope", "..", "README", "Architecture"):
        assert admin_client.get(f"/admin/docs/{name}/").status_code == 404, name


def test_markdown_is_shown_never_run() -> None:
    html = _render("x", "# Title\n\n<script>alert(1)</script>\n\n[next](reliability.md#retries)")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert 'href="/admin/docs/reliability/#retries"' in html


@pytest.mark.django_db(transaction=True)
def test_help_texts_link_to_their_guide(admin_client: Client, live_server: Any) -> None:
    world = build_world(live_server.url)
    mapping_page = admin_client.get(reverse("admin:mappings_mapping_change", args=[world.mapping.pk])).content.decode()
    assert f'<a href="{reverse("admin:docs_page", args=["architecture"])}">docs/architecture.md</a>' in mapping_page
    Connection.objects.filter(pk=world.ghl.pk).update(status="ok")
    ghl_page = admin_client.get(reverse("admin:integrations_connection_change", args=[world.ghl.pk])).content.decode()
    assert f'<a href="{reverse("admin:docs_page", args=["webhooks"])}">docs/webhooks.md</a>' in ghl_page


def test_a_file_outside_the_guides_is_named_not_linked(admin_client: Client) -> None:
    html = admin_client.get(reverse("admin:docs_page", args=["ghl-facts"])).content.decode()
    assert '<span title="In the repository: sandbox/README.md' in html
    assert 'href="../sandbox/README.md' not in html
