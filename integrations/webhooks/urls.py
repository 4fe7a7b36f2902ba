"""Incoming webhooks, one URL per connection: /webhooks/ghl/<token>/ and /webhooks/streettext/<token>/."""

from __future__ import annotations

from django.urls import URLPattern, path, re_path

from integrations.webhooks import views

app_name = "webhooks"

urlpatterns: list[URLPattern] = [
    path("ghl/<str:token>/", views.ghl_webhook, name="ghl"),
    path("streettext/<str:token>/", views.streettext_webhook, name="streettext"),
    # Without the trailing slash too: a POST cannot follow APPEND_SLASH's redirect.
    re_path(r"^ghl/(?P<token>[^/]+)$", views.ghl_webhook),
    re_path(r"^streettext/(?P<token>[^/]+)$", views.streettext_webhook),
]
