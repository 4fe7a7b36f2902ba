"""Create the first admin user if there is none. Password from DJANGO_ADMIN_PASSWORD, or generated and printed once."""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the admin user (username from DJANGO_ADMIN_USER, default 'admin') if no superuser exists."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("Admin user exists; password unchanged.")
            return
        username = os.environ.get("DJANGO_ADMIN_USER", "admin")
        password = os.environ.get("DJANGO_ADMIN_PASSWORD", "")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        if generated:
            self.stdout.write(self.style.WARNING(f"Created admin user '{username}' with password: {password}"))
            self.stdout.write("It is shown only this once; set DJANGO_ADMIN_PASSWORD to choose your own.")
        else:
            self.stdout.write(f"Created admin user '{username}' with the password from DJANGO_ADMIN_PASSWORD.")
