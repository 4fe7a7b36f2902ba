"""Template helpers for the admin: colour-coded badges and progress bars (the same HTML the list columns use)."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from integrations.models import SyncRun
from integrations.selectors import RUN_STATUS_TONES

register = template.Library()


@register.simple_tag
def badge(tone: str, label: str) -> SafeString:
    """A coloured label; the colour repeats what the words say (never the only carrier of meaning)."""
    return format_html('<span class="ss-badge ss-{}">{}</span>', tone or "muted", label)


# Short words for narrow columns; the full label is the badge's tooltip.
SHORT_RUN_STATUS = {SyncRun.Status.PARTIAL: "Partial", SyncRun.Status.STALE: "Stale"}


@register.simple_tag
def run_status_badge(status: str, short: bool = False) -> SafeString:
    try:
        value = SyncRun.Status(status)
    except ValueError:
        return badge("muted", status)
    tone = RUN_STATUS_TONES.get(value, "muted")
    if short and value in SHORT_RUN_STATUS:
        return format_html(
            '<span class="ss-badge ss-{}" title="{}">{}</span>', tone, value.label, SHORT_RUN_STATUS[value]
        )
    return badge(tone, str(value.label))


@register.simple_tag
def progress_bar(percent: int | None, tone: str = "info", label: str = "") -> SafeString:
    """A bar with its percentage in words; no percentage (unknown total) draws an indeterminate bar."""
    if percent is None:
        return format_html(
            '<span class="ss-bar ss-bar-unknown ss-{}" role="progressbar" aria-label="{}">'
            '<span class="ss-bar-fill"></span></span>',
            tone,
            label or "Progress unknown",
        )
    return format_html(
        '<span class="ss-bar ss-{}" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="{}"'
        ' aria-label="{}"><span class="ss-bar-fill" style="width:{}%"></span></span>',
        tone,
        percent,
        label or f"{percent} %",
        percent,
    )
