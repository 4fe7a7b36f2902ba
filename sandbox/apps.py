from __future__ import annotations

from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "sandbox"
    label = "sandbox"
    verbose_name = "Sandbox (built-in GHL and StreetText test servers)"

    def ready(self) -> None:
        from django.conf import settings

        if settings.SANDBOX_ENABLED:
            # Django's development server (runserver, and live_server in tests) writes headers and body in separate
            # small packets; with Nagle's algorithm on, each answer then waits ~40 ms for the client's delayed ACK.
            # The sandbox is served by that server, so switch Nagle off for it (socketserver's own switch).
            from django.core.servers.basehttp import WSGIRequestHandler

            WSGIRequestHandler.disable_nagle_algorithm = True
