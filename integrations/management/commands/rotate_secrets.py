"""Re-encrypt stored secrets with the first key of FIELD_ENCRYPTION_KEYS (key rotation)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from integrations.services.connections import connection_rotate_secrets


class Command(BaseCommand):
    help = (
        "After putting a new key first in FIELD_ENCRYPTION_KEYS (keeping the old ones after it), re-encrypt every "
        "stored secret with the new key. Then the old keys can be removed."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = connection_rotate_secrets()
        self.stdout.write(f"Re-encrypted the secrets of {count} connection(s) with the newest key.")
