"""The template a mapping or an automation was made from, for its page (`{% template_origin original "mapping" %}`)."""

from __future__ import annotations

from typing import Any

from django import template

from configs.models import TemplateUse

register = template.Library()


@register.simple_tag
def template_origin(obj: Any, kind: str) -> TemplateUse | None:
    """The TemplateUse of this object (template and version), or None when it was not made from a template."""
    if obj is None or getattr(obj, "pk", None) is None:
        return None
    return TemplateUse.objects.select_related("template").filter(kind=kind, object_id=obj.pk).first()
