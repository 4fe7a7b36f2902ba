"""Built-in roles. "Viewer": reads sync runs, record history and links, the operations catalog with its execution
log, automations with their polls and items history, and alerts; sees no connection, secret or setting, and runs
nothing (acknowledging an alert is a change)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, Group, Permission

VIEWER_GROUP = "Viewer"
VIEWER_PERMISSIONS = (
    ("integrations", "view_syncrun"),
    ("integrations", "view_recordhistory"),
    ("integrations", "view_recordlink"),
    ("integrations", "view_catalogexecution"),
    ("automations", "view_automation"),
    ("automations", "view_automationaction"),
    ("automations", "view_automationfieldmapping"),
    ("automations", "view_automationpoll"),
    ("automations", "view_automationitem"),
    ("alerts", "view_alert"),
)
# Where people are told to go; Authentication → Groups only edits a group's permissions, not its members.
HOW_TO_ADD_VIEWER = (
    "To make someone a viewer: open Users and roles → Users → their user, tick “Staff status” (without it they "
    f"cannot log in to the admin), choose “{VIEWER_GROUP}” under Groups, and save. "
    "Or run: manage.py setup_roles --viewer USERNAME"
)


def roles_ensure() -> Group:
    """Create or refresh the Viewer group with exactly its view permissions (idempotent)."""
    group, _ = Group.objects.get_or_create(name=VIEWER_GROUP)
    permissions = [
        Permission.objects.get(content_type__app_label=app, codename=codename) for app, codename in VIEWER_PERMISSIONS
    ]
    group.permissions.set(permissions)
    return group


def role_viewer_grant(*, user: AbstractUser) -> AbstractUser:
    """Make `user` a viewer: staff status (needed to log in to the admin) and the Viewer group."""
    group = roles_ensure()
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    user.groups.add(group)
    return user
