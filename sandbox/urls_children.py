"""Routes for tasks, notes, appointments and businesses/organisations; spliced into urls.py before the
catch-all `^ghl/` and `^streettext/` routes. Same conventions: GHL paths match with or without a trailing slash."""

from __future__ import annotations

from django.urls import URLPattern, path, re_path

from sandbox import ghl_children as gc
from sandbox import streettext_children as stc
from sandbox import views

_CONTACT = r"(?P<contact_id>[^/]+)"

ghl_patterns: list[URLPattern] = [
    # Contacts API (Version 2021-07-28)
    re_path(
        r"^ghl/contacts/bulk/business/?$",
        views.ghl_view({"POST": gc.contacts_bulk_business}),
        name="ghl-contacts-bulk-business",
    ),
    re_path(
        r"^ghl/contacts/business/(?P<business_id>[^/]+)/?$",
        views.ghl_view({"GET": gc.contacts_by_business}),
        name="ghl-contacts-by-business",
    ),
    re_path(
        rf"^ghl/contacts/{_CONTACT}/tasks/?$",
        views.ghl_view({"GET": gc.task_list, "POST": gc.task_create}),
        name="ghl-contact-tasks",
    ),
    re_path(
        rf"^ghl/contacts/{_CONTACT}/tasks/(?P<task_id>[^/]+)/completed/?$",
        views.ghl_view({"PUT": gc.task_completed}),
        name="ghl-contact-task-completed",
    ),
    re_path(
        rf"^ghl/contacts/{_CONTACT}/tasks/(?P<task_id>[^/]+)/?$",
        views.ghl_view({"GET": gc.task_get, "PUT": gc.task_update, "DELETE": gc.task_delete}),
        name="ghl-contact-task",
    ),
    re_path(
        rf"^ghl/contacts/{_CONTACT}/notes/?$",
        views.ghl_view({"GET": gc.note_list, "POST": gc.note_create}),
        name="ghl-contact-notes",
    ),
    re_path(
        rf"^ghl/contacts/{_CONTACT}/notes/(?P<note_id>[^/]+)/?$",
        views.ghl_view({"GET": gc.note_get, "PUT": gc.note_update, "DELETE": gc.note_delete}),
        name="ghl-contact-note",
    ),
    re_path(
        rf"^ghl/contacts/{_CONTACT}/appointments/?$",
        views.ghl_view({"GET": gc.contact_appointments}),
        name="ghl-contact-appointments",
    ),
    re_path(
        r"^ghl/locations/(?P<location_id>[^/]+)/tasks/search/?$",
        views.ghl_view({"POST": gc.task_search}),
        name="ghl-location-tasks-search",
    ),
    # Businesses API (Version 2021-07-28)
    re_path(
        r"^ghl/businesses/?$",
        views.ghl_view({"GET": gc.business_list, "POST": gc.business_create}),
        name="ghl-businesses",
    ),
    re_path(
        r"^ghl/businesses/(?P<business_id>[^/]+)/?$",
        views.ghl_view({"GET": gc.business_get, "PUT": gc.business_update, "DELETE": gc.business_delete}),
        name="ghl-business",
    ),
    # Calendars API (Version 2021-04-15 per its spec; a 2021-07-28 header is refused with 400 like any wrong Version)
    re_path(
        r"^ghl/calendars/events/appointments/?$",
        views.ghl_view({"POST": gc.appointment_create}),
        name="ghl-calendar-appointments",
    ),
    re_path(
        r"^ghl/calendars/events/appointments/(?P<event_id>[^/]+)/?$",
        views.ghl_view({"GET": gc.appointment_get, "PUT": gc.appointment_update}),
        name="ghl-calendar-appointment",
    ),
    re_path(
        r"^ghl/calendars/events/?$",
        views.ghl_view({"GET": gc.calendar_events}),
        name="ghl-calendar-events",
    ),
    re_path(
        r"^ghl/calendars/events/(?P<event_id>[^/]+)/?$",
        views.ghl_view({"DELETE": gc.calendar_event_delete}),
        name="ghl-calendar-event",
    ),
]

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
