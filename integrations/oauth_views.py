"""GoHighLevel OAuth views: start the flow from the admin, and the fixed callback URL (/oauth/ghl/callback)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from integrations.docs_admin import docs_linked
from integrations.models import Connection, GhlAgency
from integrations.services import oauth as oauth_services

CHANGE_PERMISSION = "integrations.change_connection"


def _change_url(pk: int | None) -> str:
    if pk is None:
        return reverse("admin:integrations_connection_changelist")
    return reverse("admin:integrations_connection_change", args=[pk])


@require_POST
def ghl_oauth_connect(request: HttpRequest, pk: int) -> HttpResponse:
    """Admin button: send the browser to GHL's consent page (wrapped by admin_view in ConnectionAdmin.get_urls)."""
    connection = get_object_or_404(Connection, pk=pk)
    if not request.user.has_perm(CHANGE_PERMISSION):
        raise PermissionDenied
    user_type = request.POST.get("user_type") or oauth_services.USER_TYPE_LOCATION
    try:
        url = oauth_services.oauth_authorize_url(
            connection=connection, request_or_redirect_uri=request, user_type=user_type
        )
    except oauth_services.OAuthError as e:
        messages.error(request, docs_linked(e.message))  # "see docs/oauth.md" opens the guide
        return HttpResponseRedirect(_change_url(pk))
    return HttpResponseRedirect(url)


@transaction.non_atomic_requests  # the token exchange is HTTP; the service writes in its own short transaction
@staff_member_required
@require_GET
def ghl_oauth_callback(request: HttpRequest) -> HttpResponse:
    """GHL redirects here with ?code=…&state=… (or ?error=…); back to the connection with a message."""
    if not request.user.has_perm(CHANGE_PERMISSION):
        raise PermissionDenied
    state = request.GET.get("state", "")
    target = oauth_services.oauth_state_target(state=state)
    back = _agency_url(target[1]) if target and target[0] == "agency" else _change_url(target[1] if target else None)
    error = request.GET.get("error", "")
    if error:
        messages.error(request, oauth_services.OAUTH_DENIED.format(error=error[:100]))
        return HttpResponseRedirect(back)
    complete = (
        oauth_services.oauth_agency_complete if target and target[0] == "agency" else oauth_services.oauth_complete
    )
    try:
        done: Connection | GhlAgency = complete(state=state, code=request.GET.get("code", ""), session=request.session)
    except oauth_services.OAuthError as e:
        messages.error(request, e.message)
        return HttpResponseRedirect(back)
    messages.success(request, f"{done.name}: {done.status_detail}")
    if isinstance(done, GhlAgency):
        # On to the agency's locations, to choose which to connect.
        return HttpResponseRedirect(reverse("admin:integrations_ghlagency_locations", args=[done.pk]))
    return HttpResponseRedirect(_change_url(done.pk))


def _agency_url(pk: int) -> str:
    return reverse("admin:integrations_ghlagency_change", args=[pk])
