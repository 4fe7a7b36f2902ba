"""Create the built-in user roles (groups), and optionally make users viewers."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.services.roles import HOW_TO_ADD_VIEWER, VIEWER_GROUP, role_viewer_grant, roles_ensure


class Command(BaseCommand):
    help = f"Create or refresh the '{VIEWER_GROUP}' group: read-only access to sync runs, record history and links."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--viewer",
            action="append",
            default=[],
            metavar="USERNAME",
            help="Make this existing user a viewer (staff status + the Viewer group). Repeat for more users.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        roles_ensure()
        User = get_user_model()
        for username in options["viewer"]:
            user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
            if user is None:
                raise CommandError(f"No user named '{username}'. Create it first (Users → Add user), then run this.")
            role_viewer_grant(user=user)
            self.stdout.write(f"'{username}' is now a viewer (staff status on, in the {VIEWER_GROUP} group).")
        self.stdout.write(f"Role ready: {VIEWER_GROUP}. {HOW_TO_ADD_VIEWER}")
