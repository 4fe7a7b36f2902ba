"""The start page's alert inbox, as an include of its own (templates/alerts/inbox.html): `{% alerts_inbox %}`."""

from __future__ import annotations

from typing import Any

from django import template

from alerts.selectors import alert_inbox

register = template.Library()


@register.inclusion_tag("alerts/inbox.html", takes_context=True)
def alerts_inbox(context: template.Context) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.has_perm("alerts.view_alert"):
        return {"show": False}
    return {
        "show": True,
        "inbox": alert_inbox(),
        "can_acknowledge": user.has_perm("alerts.change_alert"),
        "here": request.get_full_path() if request is not None else "",
        "csrf_token": context.get("csrf_token"),
    }
