"""Create the first admin user if there is none, and say how to log in.

Password from DJANGO_ADMIN_PASSWORD, or generated. With --remember FILE a generated password is kept in FILE
(mode 0600, for the local demo's var/ folder) so `--show-login URL` can repeat it after the servers' start-up output.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

LOGIN_BOX_WIDTH = 72
PASSWORD_UNKNOWN = "(the one you chose; reset it with: manage.py changepassword {username})"  # noqa: S105 - a message, not a password


class Command(BaseCommand):
    help = "Create the admin user (username from DJANGO_ADMIN_USER, default 'admin') if no superuser exists."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--remember", metavar="FILE", help="Keep a generated password in FILE (mode 0600).")
        parser.add_argument(
            "--show-login",
            metavar="URL",
            help="Print only the closing block: URL, user name and password together (nothing is created).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        remember = Path(options["remember"]) if options.get("remember") else None
        if options.get("show_login"):
            self._show_login(options["show_login"], remember)
            return
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
        if generated and remember is not None:
            remember.parent.mkdir(parents=True, exist_ok=True)
            remember.write_text(json.dumps({"username": username, "password": password}))
            remember.chmod(0o600)
        if generated:
            self.stdout.write(self.style.WARNING(f"Created admin user '{username}' with password: {password}"))
            self.stdout.write("Set DJANGO_ADMIN_PASSWORD to choose your own.")
        else:
            self.stdout.write(f"Created admin user '{username}' with the password from DJANGO_ADMIN_PASSWORD.")

    def _show_login(self, url: str, remember: Path | None) -> None:
        """URL, user name and password in one block, the last thing `./scripts/run` prints."""
        User = get_user_model()
        admin = User.objects.filter(is_superuser=True).order_by("pk").first()
        username = admin.get_username() if admin else os.environ.get("DJANGO_ADMIN_USER", "admin")
        password = PASSWORD_UNKNOWN.format(username=username)
        candidates = [(os.environ.get("DJANGO_ADMIN_PASSWORD", ""), "from DJANGO_ADMIN_PASSWORD")]
        if remember is not None and remember.exists():
            stored = json.loads(remember.read_text())
            if stored.get("username") == username:
                candidates.append((str(stored.get("password", "")), f"generated; kept in {remember}"))
        for candidate, origin in candidates:
            # Only a password that still opens the account is shown (it may have been changed in the admin since).
            if candidate and admin is not None and admin.check_password(candidate):
                password = f"{candidate}   ({origin})"
                break
        rule = "=" * LOGIN_BOX_WIDTH
        lines = [rule, f"  Open       {url}", f"  User name  {username}", f"  Password   {password}", rule]
        lines.insert(-1, "  Ctrl-C stops the web server, the worker and beat.")
        self.stdout.write("\n".join(lines))
