"""The admin app with StreetSync's own site (start page, grouped screens); replaces "django.contrib.admin"."""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class StreetSyncAdminConfig(AdminConfig):
    default_site = "integrations.admin_site.StreetSyncAdminSite"

    def ready(self) -> None:
        super().ready()  # discovers every app's admin
        from django.contrib import admin

        from integrations.admin_hardening import admin_site_harden

        admin_site_harden(admin.site)
