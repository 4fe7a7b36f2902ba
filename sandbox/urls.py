"""Sandbox routes, mounted at /sandbox/ when SANDBOX_ENABLED.

GHL paths mirror https://services.leadconnectorhq.com under ghl/, one pattern per path template of GHL's spec
(sandbox/catalog/urls.py; like GHL's Express router they match with or without a trailing slash); OAuth's form
endpoints and the catch-all follow. StreetText paths follow docs/streettext-api.md under streettext/. Every route is
reachable (tests/sandbox/test_sandbox_routes.py): Django takes the first match, so a pattern behind an earlier one
that matches all its paths would only look served.
"""

from __future__ import annotations

from django.urls import URLPattern, path, re_path

from sandbox import oauth, streettext, urls_children, views, webhooks
from sandbox.catalog import urls as catalog_urls

app_name = "sandbox"

urlpatterns: list[URLPattern] = [
    # Every operation of GHL's spec, routed like GHL (sandbox/catalog/urls.py): first, so they win.
    *catalog_urls.urlpatterns,
    # OAuth 2.0 (sandbox/oauth.py): token endpoints on the API host, consent page outside ghl/.
    re_path(r"^ghl/oauth/token/?$", oauth.token, name="ghl-oauth-token"),
    re_path(r"^ghl/oauth/locationToken/?$", oauth.location_token, name="ghl-oauth-location-token"),
    path("ghl-oauth/authorize", oauth.authorize, name="ghl-oauth-authorize"),
    # Anything else under ghl/ answers like GHL (NestJS) does, and keeps APPEND_SLASH from redirecting.
    re_path(r"^ghl/", views.ghl_view({}), name="ghl-not-found"),
    # StreetText
    path(
        "streettext/v1/workspace",
        views.streettext_view({"GET": streettext.workspace_get}),
        name="streettext-workspace",
    ),
    path(
        "streettext/v1/contacts",
        views.streettext_view({"GET": streettext.contact_list, "POST": streettext.contact_create}),
        name="streettext-contacts",
    ),
    path(
        "streettext/v1/contacts/<str:contact_id>",
        views.streettext_view(
            {"GET": streettext.contact_get, "PATCH": streettext.contact_update, "DELETE": streettext.contact_delete}
        ),
        name="streettext-contact",
    ),
    # Tasks, notes, appointments, organizations (sandbox/urls_children.py)
    *urls_children.streettext_patterns,
    re_path(r"^streettext/", views.streettext_view({}), name="streettext-not-found"),
    # Control (tests, demo, benchmarks)
    path("_control/faults", views.control_faults, name="control-faults"),
    path("_control/reset", views.control_reset, name="control-reset"),
    path("_control/stats", views.control_stats, name="control-stats"),
    path("_control/spec-rejections", views.control_spec_rejections, name="control-spec-rejections"),
    path("_control/rate-limit/reset", views.control_rate_limit_reset, name="control-rate-limit-reset"),
    path("_control/accounts", views.control_accounts, name="control-accounts"),
    path("_control/live", views.control_live, name="control-live"),
    path("_control/seed", views.control_seed, name="control-seed"),
    path("_control/webhooks/keys", webhooks.control_webhook_keys, name="control-webhook-keys"),
    path("_control/webhooks/send", webhooks.control_webhook_send, name="control-webhook-send"),
    path("_control/oauth/expire", oauth.control_oauth_expire, name="control-oauth-expire"),
]
