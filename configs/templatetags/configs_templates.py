"""Templates on other apps' pages: the one a mapping or an automation was made from (`{% template_origin original
"mapping" as origin %}`), and the list an agency's locations page offers to apply."""

from __future__ import annotations

from typing import Any

from django import template

from configs.models import Template, TemplateUse

register = template.Library()


@register.simple_tag
def template_origin(obj: Any, kind: str) -> TemplateUse | None:
    """The TemplateUse of this object (template and version), or None when it was not made from a template."""
    if obj is None or getattr(obj, "pk", None) is None:
        return None
    return TemplateUse.objects.select_related("template").filter(kind=kind, object_id=obj.pk).first()


@register.simple_tag
def template_list() -> list[Template]:
    """Every template, by name (an agency's locations page offers to apply each)."""
    return list(Template.objects.order_by("name")[:50])
