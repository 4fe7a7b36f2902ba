"""The Viewer role reads runs and history, and nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from integrations.models import Connection, SyncRun
from integrations.services.roles import roles_ensure
from mappings.models import Mapping

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer_client() -> Client:
    user = get_user_model().objects.create_user(username="viewer", password="pw-viewer-123", is_staff=True)
    user.groups.add(roles_ensure())
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def run() -> SyncRun:
    ghl = Connection(name="G", system="ghl", base_url="http://x", location_id="l", auth_type="pit")
    ghl.api_secret = "very-secret-pit"
    ghl.save()
    st = Connection.objects.create(name="S", system="streettext", base_url="http://x", auth_type="api_key")
    mapping = Mapping.objects.create(name="Contacts", ghl_connection=ghl, streettext_connection=st)
    return SyncRun.objects.create(mapping=mapping, trigger="manual", status="partial", failed=1, created=2)


def test_viewer_sees_runs_and_history(viewer_client: Client, run: SyncRun) -> None:
    for url in (
        reverse("admin:integrations_syncrun_changelist"),
        reverse("admin:integrations_syncrun_change", args=[run.pk]),
        reverse("admin:integrations_recordhistory_changelist"),
        reverse("admin:integrations_recordlink_changelist"),
    ):
        response = viewer_client.get(url)
        assert response.status_code == 200, url
        assert b"very-secret-pit" not in response.content


def test_viewer_cannot_see_connections_or_mappings_or_start_runs(viewer_client: Client, run: SyncRun) -> None:
    for url in (
        reverse("admin:integrations_connection_changelist"),
        reverse("admin:integrations_connection_change", args=[run.mapping.ghl_connection_id]),
        reverse("admin:mappings_mapping_changelist"),
        reverse("admin:mappings_mapping_preview", args=[run.mapping_id]),
    ):
        assert viewer_client.get(url).status_code in (302, 403), url
    assert viewer_client.post(reverse("admin:mappings_mapping_sync", args=[run.mapping_id])).status_code in (302, 403)
    assert SyncRun.objects.count() == 1
    changelist = viewer_client.get(reverse("admin:integrations_syncrun_changelist"))
    assert b"rerun_failed" not in changelist.content


def test_admin_has_the_rerun_action(admin_client: Any, run: SyncRun) -> None:
    changelist = admin_client.get(reverse("admin:integrations_syncrun_changelist"))
    assert b"rerun_failed" in changelist.content
