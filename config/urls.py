from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from integrations.oauth_views import ghl_oauth_callback

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("webhooks/", include("integrations.webhooks.urls")),
    path("oauth/ghl/callback", ghl_oauth_callback, name="ghl-oauth-callback"),
]
if settings.SANDBOX_ENABLED:
    urlpatterns.append(path("sandbox/", include("integrations.sandbox.urls")))
