"""StreetText routes for tasks, notes, appointments, organisations, deals and activities; spliced into urls.py before
the catch-all `^streettext/` route. (GHL's tasks, notes, appointments and businesses are routed from GHL's spec:
sandbox/catalog/urls.py.)"""

from __future__ import annotations

from django.urls import URLPattern, path

from sandbox import streettext_children as stc
from sandbox import views

_ST_PATHS = {
    "tasks": stc.TASK,
    "notes": stc.NOTE,
    "appointments": stc.APPOINTMENT,
    "organizations": stc.ORGANIZATION_RESOURCE,
    "deals": stc.DEAL,
}

streettext_patterns: list[URLPattern] = [
    # Contact activities (docs/streettext-api.md, "Contact activities")
    path(
        "streettext/v1/contacts/<str:contact_id>/activities",
        views.streettext_view({"GET": stc.contact_activity_list, "POST": stc.contact_activity_create}),
        name="streettext-contact-activities",
    ),
    path(
        "streettext/v1/activities",
        views.streettext_view({"GET": stc.collection_handlers(stc.ACTIVITY)["GET"]}),
        name="streettext-activities",
    ),
    path(
        "streettext/v1/activities/<str:record_id>",
        views.streettext_view(stc.activity_item_handlers()),
        name="streettext-activity",
    ),
]
for _segment, _resource in _ST_PATHS.items():
    streettext_patterns += [
        path(
            f"streettext/v1/{_segment}",
            views.streettext_view(stc.collection_handlers(_resource)),
            name=f"streettext-{_segment}",
        ),
        path(
            f"streettext/v1/{_segment}/<str:record_id>",
            views.streettext_view(stc.item_handlers(_resource)),
            name=f"streettext-{_resource.singular}",
        ),
    ]
