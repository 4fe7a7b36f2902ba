"""Built-in roles. "Viewer": reads sync runs, record history and links; sees no connection, secret or setting."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

VIEWER_GROUP = "Viewer"
VIEWER_PERMISSIONS = (
    ("integrations", "view_syncrun"),
    ("integrations", "view_recordhistory"),
    ("integrations", "view_recordlink"),
)


def roles_ensure() -> Group:
    """Create or refresh the Viewer group with exactly its view permissions (idempotent)."""
    group, _ = Group.objects.get_or_create(name=VIEWER_GROUP)
    permissions = [
        Permission.objects.get(content_type__app_label=app, codename=codename) for app, codename in VIEWER_PERMISSIONS
    ]
    group.permissions.set(permissions)
    return group
