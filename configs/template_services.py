"""Templates: mappings and automations saved once and applied to many GoHighLevel locations.

A template holds the configuration file's document (configs/documents.py: whatever a mapping or an automation exports
as, with every connection replaced by a placeholder). Applying it to a location fills the placeholders with that
location's GHL connection and a StreetText connection (its own, or one shared by all), names each copy
“<item> · <location>”, and writes it through the configuration import (configs/services.py: the admin's forms check
every field). Each location is all or nothing, in its own transaction; a preview does everything and rolls back, so
it shows exactly what applying would do. Every object written is remembered (TemplateUse) with the template's
version, so a changed template can update the locations that use an older one.

Invariants (tests/configs/test_templates.py): after an apply, every location applied has exactly one TemplateUse per
template item, each pointing at an existing object whose document is the template's item with the location's
connections and name; a location that failed, and every location of a preview, is as it was before.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from automations.models import Automation
from configs import documents, services
from configs.models import ConfigVersion, Template, TemplateUse
from integrations.models import Connection, System
from mappings.models import Mapping

Kind = ConfigVersion.Kind
KEYS = ((Kind.MAPPING, "mappings"), (Kind.AUTOMATION, "automations"))
PLACEHOLDERS = {"ghl_connection": "{{ghl}}", "streettext_connection": "{{streettext}}"}
NAME_SEPARATOR = " · "
NAME_MAX = 120

MSG_NOTHING_CHOSEN = "Choose at least one mapping or automation for the template."
MSG_NAME_TAKEN = "A template called “{name}” exists already."
MSG_NO_LOCATIONS = "Choose at least one GoHighLevel location."
MSG_NEEDS_STREETTEXT = "{location}: choose a StreetText connection (the template's items need one)."
MSG_NOT_GHL = "“{name}” is not a GoHighLevel connection."
MSG_NOT_STREETTEXT = "“{name}” is not a StreetText connection."
MSG_NAME_TWICE = "Two {system} connections are called “{name}”: rename one, then apply again."
MSG_NAME_EXISTS = "A {kind} called “{name}” exists already and was not made from this template: rename it, then apply."
MSG_PLACEHOLDER = "{where}: “{field}” must be {placeholder} or empty (a template names no connection)."
MSG_ITEM_TWICE = "Two {kind}s of the template are called “{name}”."
MSG_EMPTY = "The template holds no mapping and no automation."
MSG_CHANGED_MEANWHILE = "{location}: changed by someone else meanwhile; nothing was written for it, apply again."
NOTE_APPLIED = "from template “{template}” v{version}"
LINE_DROPPED = "no longer in the template: kept as it is"


@dataclass
class LocationReport:
    """What applying (or previewing) the template did for one location."""

    location: Connection
    streettext: Connection | None
    lines: list[services.ImportLine] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    from_version: int | None = None  # the version it used before (None: first time)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class ApplyReport:
    dry_run: bool
    version: int
    locations: list[LocationReport] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # about the request as a whole

    @property
    def ok(self) -> bool:
        return not self.errors and all(r.ok for r in self.locations)

    def summary(self) -> str:
        if self.errors:
            return "Nothing was applied: " + " ".join(self.errors)
        done = sum(1 for r in self.locations if r.ok)
        failed = len(self.locations) - done
        if self.dry_run:
            text = f"Preview: {done} location(s) would be set up from version {self.version}"
            return text + (f"; {failed} could not be (nothing is written for them)." if failed else ".")
        text = f"{done} location(s) set up from version {self.version}"
        return text + (f"; {failed} failed and were left as they were." if failed else ".")


@dataclass(frozen=True)
class LocationUse:
    """A location that uses the template: its connections and the (oldest) version its objects were applied at."""

    location: Connection
    streettext: Connection | None
    version: int
    objects: int


# -- making a template -------------------------------------------------------------------------------------------------
def template_document(*, mappings: Iterable[Mapping], automations: Iterable[Automation]) -> dict[str, Any]:
    """The configuration document of these objects with their connections replaced by placeholders."""
    doc = documents.file_document(mappings=list(mappings), automations=list(automations))
    for _, key in KEYS:
        for item in doc[key]:
            for name, placeholder in PLACEHOLDERS.items():
                if item.get(name):
                    item[name] = placeholder
    return doc


def template_check_document(doc: Any) -> list[str]:
    """What is wrong with a template's document (empty when nothing is): the file format, names, placeholders."""
    try:
        data = documents.load(documents.dump(doc, "json")) if isinstance(doc, dict) else documents.load(str(doc))
    except documents.DocumentError as e:
        return [str(e)]
    errors: list[str] = []
    count = 0
    for kind, key in KEYS:
        seen: set[str] = set()
        for index, item in documents.children(data, key, where="The template", errors=errors):
            count += 1
            name = " ".join(str(item.get("name") or "").split())
            where = f"{kind} “{name}”" if name else f"{kind} #{index}"
            if not name:
                errors.append(services.MSG_NAME_MISSING.format(where=where))
            elif name.lower() in seen:
                errors.append(MSG_ITEM_TWICE.format(kind=kind, name=name))
            seen.add(name.lower())
            for fname, placeholder in PLACEHOLDERS.items():
                if item.get(fname) not in (None, "", placeholder):
                    errors.append(MSG_PLACEHOLDER.format(where=where, field=fname, placeholder=placeholder))
    if not count and not errors:
        errors.append(MSG_EMPTY)
    return errors


def template_create(
    *, name: str, description: str = "", mappings: Iterable[Mapping] = (), automations: Iterable[Automation] = ()
) -> Template:
    """“Save as template”: these mappings and automations as a new template (version 1)."""
    mappings, automations = list(mappings), list(automations)
    if not mappings and not automations:
        raise ValidationError(MSG_NOTHING_CHOSEN)
    template = Template(name=" ".join(name.split()), description=description)
    template.document = template_document(mappings=mappings, automations=automations)
    errors = template_check_document(template.document)
    if errors:
        raise ValidationError(errors)
    template.full_clean()
    template.save()
    return template


def template_save(*, template: Template, document: Any) -> bool:
    """Store a new document (checked first; ValidationError when wrong); a changed document is one version more.
    True when it changed."""
    errors = template_check_document(document)
    if errors:
        raise ValidationError(errors)
    new = documents.load(documents.dump(document, "json")) if isinstance(document, dict) else documents.load(document)
    # Compared with what is stored: the caller may have edited template.document in place.
    stored = Template.objects.filter(pk=template.pk).values_list("document", flat=True).first()
    changed = new != stored
    if changed:
        template.document = new
        template.version += 1
        template.updated_at = timezone.now()
    template.full_clean()
    template.save()
    return changed


# -- applying it -------------------------------------------------------------------------------------------------------
def location_name(item: str, location: Connection) -> str:
    """The name of a template item's copy for one location: “<item> · <location>” (names are unique)."""
    return f"{item}{NAME_SEPARATOR}{location.name}"[:NAME_MAX]


def _needs_streettext(template: Template) -> bool:
    return any(item.get("streettext_connection") for _, key in KEYS for item in template.document.get(key) or [])


def _connection_errors(template: Template, location: Connection, streettext: Connection | None) -> list[str]:
    errors = []
    if location.system != System.GHL:
        errors.append(MSG_NOT_GHL.format(name=location.name))
    if streettext is not None and streettext.system != System.STREETTEXT:
        errors.append(MSG_NOT_STREETTEXT.format(name=streettext.name))
    if streettext is None and _needs_streettext(template):
        errors.append(MSG_NEEDS_STREETTEXT.format(location=location.name))
    # The documents name connections; a name two connections share would be a guess.
    for connection in (location, streettext):
        if connection is not None and (
            Connection.objects.filter(name=connection.name, system=connection.system).count() > 1
        ):
            label = documents.system_label(connection.system)
            errors.append(MSG_NAME_TWICE.format(system=label, name=connection.name))
    return errors


def _filled(item: dict[str, Any], *, name: str, location: Connection, streettext: Connection | None) -> dict[str, Any]:
    doc = copy.deepcopy(item)
    doc["name"] = name
    values = {"ghl_connection": location.name, "streettext_connection": streettext.name if streettext else None}
    for fname, placeholder in PLACEHOLDERS.items():
        if doc.get(fname) == placeholder:
            doc[fname] = values[fname]
    return doc


class _RollBack(Exception):
    pass


def _apply_location(
    template: Template, location: Connection, streettext: Connection | None, *, dry_run: bool, author: Any
) -> LocationReport:
    report = LocationReport(location=location, streettext=streettext)
    report.errors = _connection_errors(template, location, streettext)
    if report.errors:
        return report
    imported = services.ImportReport(dry_run=dry_run)
    note = NOTE_APPLIED.format(template=template.name, version=template.version)
    try:
        with transaction.atomic():
            uses = {
                (u.kind, u.item): u
                for u in TemplateUse.objects.select_for_update().filter(template=template, ghl_connection=location)
            }
            report.from_version = min((u.version for u in uses.values()), default=None)
            for kind, key in KEYS:
                model = services.MODELS[kind]
                for item in template.document.get(key) or []:
                    item_name = " ".join(str(item["name"]).split())
                    name = location_name(item_name, location)
                    use = uses.pop((kind, item_name), None)
                    target = model._default_manager.filter(pk=use.object_id).first() if use is not None else None
                    taken = model._default_manager.filter(name__iexact=name)
                    if target is not None:
                        taken = taken.exclude(pk=target.pk)
                    if taken.exists():
                        imported.errors.append(MSG_NAME_EXISTS.format(kind=kind, name=name))
                        continue
                    doc = _filled(item, name=name, location=location, streettext=streettext)
                    line = services.config_apply_one(kind, doc, imported, author=author, target=target, note=note)
                    report.lines.append(line)
                    if line.object_id is None or imported.errors:
                        continue
                    TemplateUse.objects.update_or_create(
                        template=template,
                        ghl_connection=location,
                        kind=kind,
                        item=item_name,
                        defaults={
                            "object_id": line.object_id,
                            "streettext_connection": streettext,
                            "version": template.version,
                            "applied_at": timezone.now(),
                        },
                    )
            for use in uses.values():
                obj = services.MODELS[use.kind]._default_manager.filter(pk=use.object_id).first()
                report.lines.append(services.ImportLine(use.kind, str(obj or use.item), LINE_DROPPED))
                use.delete()
            if imported.errors or dry_run:
                raise _RollBack
    except _RollBack:
        pass
    except IntegrityError:
        # Another apply or edit wrote the same names or uses between our checks and our writes: rolled back whole.
        imported.errors.append(MSG_CHANGED_MEANWHILE.format(location=location.name))
    report.errors = imported.errors
    return report


def template_apply(
    *,
    template: Template,
    locations: list[Connection],
    streettext: dict[int, Connection | None] | None = None,
    shared_streettext: Connection | None = None,
    dry_run: bool = False,
    author: Any = None,
) -> ApplyReport:
    """Apply the template to each location (its own StreetText connection from `streettext`, else the shared one).
    Each location is all or nothing; one failing leaves the others applied."""
    report = ApplyReport(dry_run=dry_run, version=template.version)
    if not locations:
        report.errors.append(MSG_NO_LOCATIONS)
        return report
    chosen = streettext or {}
    for location in dict.fromkeys(locations):
        st = chosen.get(location.pk) or shared_streettext
        report.locations.append(_apply_location(template, location, st, dry_run=dry_run, author=author))
    return report


def template_locations(*, template: Template) -> list[LocationUse]:
    """The locations using the template, each with its connections and the oldest version among its objects."""
    grouped: dict[int, list[TemplateUse]] = {}
    for use in TemplateUse.objects.filter(template=template).select_related("ghl_connection", "streettext_connection"):
        grouped.setdefault(use.ghl_connection_id, []).append(use)
    found = [
        LocationUse(
            location=uses[0].ghl_connection,
            streettext=uses[0].streettext_connection,
            version=min(u.version for u in uses),
            objects=len(uses),
        )
        for uses in grouped.values()
    ]
    return sorted(found, key=lambda u: u.location.name.lower())


def template_outdated(*, template: Template) -> list[LocationUse]:
    return [use for use in template_locations(template=template) if use.version < template.version]


def template_update_locations(*, template: Template, dry_run: bool = False, author: Any = None) -> ApplyReport:
    """“Update N locations”: apply the current version to every location on an older one, with the connections it
    was applied with."""
    outdated = template_outdated(template=template)
    report = ApplyReport(dry_run=dry_run, version=template.version)
    for use in outdated:
        report.locations.append(_apply_location(template, use.location, use.streettext, dry_run=dry_run, author=author))
    return report
