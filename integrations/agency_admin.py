"""Admin for GoHighLevel agency installs: connect the agency (OAuth, Company token), then choose its locations.

Adding an agency saves its name and API root and goes straight to GoHighLevel's consent page; the callback
(/oauth/ghl/callback) brings the user back to the agency's *Locations* page, where every location of the agency is
listed with a box to tick and, for those already connected, their connection. Ticking more later adds them.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from integrations.clients import exceptions as exc
from integrations.models import GhlAgency
from integrations.services import agencies as agency_services
from integrations.services import oauth as oauth_services
from integrations.templatetags.streetsync import badge

AGENCY_STATUS_TONES = {"ok": "ok", "needs_reauth": "bad", "untested": "muted"}
CONNECT_PERMISSION = "integrations.add_connection"


@admin.register(GhlAgency)
class GhlAgencyAdmin(admin.ModelAdmin):
    list_display = ["name", "company_id", "health", "location_count"]
    search_fields = ["name", "company_id"]
    fields = ["name", "base_url", "company_id", "health", "status_detail", "oauth_expiry"]
    readonly_fields = ["company_id", "health", "status_detail", "oauth_expiry"]
    change_form_template = "admin/integrations/ghlagency/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[GhlAgency]:
        return super().get_queryset(request).annotate(location_total=Count("connections"))

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "base_url":
            # A plain input: the admin's URL widget would show the default as "Currently: …" on the add page.
            kwargs.update(assume_scheme="https", widget=forms.URLInput(attrs={"class": "vURLField"}))
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["name", "base_url"] if obj is None else super().get_fields(request, obj)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        from django.conf import settings

        return {"base_url": settings.GHL_DEFAULT_BASE_URL, **super().get_changeform_initial_data(request)}

    @admin.display(description="Health", ordering="status")
    def health(self, obj: GhlAgency) -> str:
        return badge(AGENCY_STATUS_TONES.get(obj.status, "muted"), obj.get_status_display())

    @admin.display(description="Connected locations", ordering="location_total")
    def location_count(self, obj: GhlAgency) -> str:
        url = reverse("admin:integrations_ghlagency_locations", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, getattr(obj, "location_total", 0))

    @admin.display(description="Agency token expires")
    def oauth_expiry(self, obj: GhlAgency) -> str:
        if not obj.oauth_expires_at:
            return "Not connected yet: press “Connect with GoHighLevel” at the top of the page."
        return f"{timezone.localtime(obj.oauth_expires_at):%d %b %Y %H:%M} (renewed automatically)"

    def response_add(self, request: HttpRequest, obj: GhlAgency, post_url_continue: str | None = None) -> Any:
        """Straight on to GoHighLevel's consent page: an agency is of no use before it is connected."""
        try:
            url = oauth_services.oauth_agency_authorize_url(agency=obj, request_or_redirect_uri=request)
        except oauth_services.OAuthError as e:
            self.message_user(request, e.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:integrations_ghlagency_change", args=[obj.pk]))
        return HttpResponseRedirect(url)

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/oauth/connect/", wrap(self.connect_view), name="integrations_ghlagency_oauth_connect"),
            path("<int:pk>/locations/", wrap(self.locations_view), name="integrations_ghlagency_locations"),
            *super().get_urls(),
        ]

    def connect_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """POST: (re)connect the agency with GoHighLevel (OAuth, Company token)."""
        agency = get_object_or_404(GhlAgency, pk=pk)
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:integrations_ghlagency_change", args=[pk]))
        if not self.has_change_permission(request, agency):
            raise PermissionDenied
        try:
            url = oauth_services.oauth_agency_authorize_url(agency=agency, request_or_redirect_uri=request)
        except oauth_services.OAuthError as e:
            self.message_user(request, e.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:integrations_ghlagency_change", args=[pk]))
        return HttpResponseRedirect(url)

    def locations_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The agency's locations with a box each; POST connects the ticked ones (one connection each)."""
        agency = get_object_or_404(GhlAgency, pk=pk)
        if not self.has_view_permission(request, agency):
            raise PermissionDenied
        can_connect = request.user.has_perm(CONNECT_PERMISSION)
        status = 200
        if request.method == "POST":
            if not can_connect:
                raise PermissionDenied
            chosen = request.POST.getlist("location")
            if not chosen:
                self.message_user(request, agency_services.LOCATIONS_NONE_CHOSEN, messages.ERROR)
                status = 400
            else:
                try:
                    outcome = agency_services.agency_connect_locations(agency=agency, location_ids=chosen)
                except exc.ApiError as e:
                    self.message_user(request, str(e), messages.ERROR)
                    return HttpResponseRedirect(request.path)
                _report(self, request, outcome)
                if outcome.unknown and not outcome.connected:
                    status = 400
                else:
                    return HttpResponseRedirect(request.path)
        locations: list[agency_services.AgencyLocation] = []
        cut = False
        error = ""
        try:
            locations, cut = agency_services.agency_locations(agency=agency)
        except exc.ApiError as e:
            error = str(e)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Locations of {agency.name}",
            "opts": self.model._meta,
            "agency": agency,
            "locations": locations,
            "connected_count": sum(1 for location in locations if location.connection is not None),
            "choosable": can_connect and any(location.connection is None for location in locations),
            "cut_message": agency_services.LOCATIONS_CUT.format(count=len(locations)) if cut else "",
            "error": error,
            "can_connect": can_connect,
        }
        return TemplateResponse(request, "admin/integrations/ghlagency/locations.html", context, status=status)


def _report(model_admin: GhlAgencyAdmin, request: HttpRequest, outcome: agency_services.ConnectOutcome) -> None:
    if outcome.connected:
        names = ", ".join(c.name for c in outcome.connected)
        model_admin.message_user(
            request,
            agency_services.LOCATIONS_CONNECTED.format(count=len(outcome.connected), names=names),
            messages.SUCCESS,
        )
    if outcome.already:
        names = ", ".join(c.name for c in outcome.already)
        model_admin.message_user(request, agency_services.LOCATIONS_ALREADY.format(names=names), messages.INFO)
    for failure in outcome.failed:
        model_admin.message_user(request, failure, messages.ERROR)
    if outcome.unknown:
        ids = ", ".join(outcome.unknown[:10])
        model_admin.message_user(request, agency_services.LOCATIONS_UNKNOWN.format(ids=ids), messages.ERROR)
