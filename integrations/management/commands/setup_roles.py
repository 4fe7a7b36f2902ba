"""Create the built-in user roles (groups)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from integrations.services.roles import VIEWER_GROUP, roles_ensure


class Command(BaseCommand):
    help = f"Create or refresh the '{VIEWER_GROUP}' group: read-only access to sync runs, record history and links."

    def handle(self, *args: Any, **options: Any) -> None:
        roles_ensure()
        self.stdout.write(f"Role ready: {VIEWER_GROUP} (add users to this group in Authentication → Groups).")
