from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import admin
from django.http import FileResponse, HttpRequest
from django.urls import include, path
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET
from django.views.generic import RedirectView

from integrations.oauth_views import ghl_oauth_callback
from integrations.ops_views import healthz, metrics

FAVICON = Path(__file__).resolve().parent.parent / "integrations" / "static" / "integrations" / "favicon.ico"


@require_GET
@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> FileResponse:
    """Browsers ask for /favicon.ico on any page (even where no <link rel=icon> is); answer it, not a 404."""
    return FileResponse(FAVICON.open("rb"), content_type="image/x-icon")


urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("webhooks/", include("integrations.webhooks.urls")),
    path("oauth/ghl/callback", ghl_oauth_callback, name="ghl-oauth-callback"),
    # Answered by HealthCheckMiddleware first; the route names it (reverse) and serves it if the middleware is left out.
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
]
if settings.SANDBOX_ENABLED:
    urlpatterns.append(path("sandbox/", include("sandbox.urls")))
