"""Configuration as files: export, import (validated like the admin's forms, with a dry run), versions and rollback.

An import is all or nothing: every mapping and automation of the file is checked with the same forms the admin uses,
and if anything is wrong nothing is written and the report says what and where. A dry run does all of it and rolls
back, so its report is exactly what the real import would do."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import models, transaction

from automations.forms import ActionInlineForm, AutomationForm, FieldRowForm, path_problems, step_what, wait_text
from automations.models import Automation, AutomationAction, AutomationFieldMapping, AutomationPath
from automations.services.automations import automation_save
from configs import documents
from configs.models import ConfigVersion
from mappings.forms import FieldMappingForm, MappingForm
from mappings.models import FieldMapping, Mapping
from mappings.services import mapping_save

Kind = ConfigVersion.Kind
MODELS: dict[str, type[models.Model]] = {Kind.MAPPING: Mapping, Kind.AUTOMATION: Automation}
NOTE_EDITED = "edited in the admin"
NOTE_FIRST = "as it was before its first recorded edit"
NOTE_IMPORTED = "imported from a file"
NOTE_ROLLED_BACK = "rolled back to version {number}"
MSG_NOTHING_WRITTEN = "Nothing was imported: fix the errors above and import the file again."
MSG_NAME_MISSING = "{where}: “name” is required."

User = AbstractBaseUser | AnonymousUser | None


@dataclass
class ImportLine:
    kind: str
    name: str
    action: str  # created, updated, unchanged
    changes: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    dry_run: bool
    lines: list[ImportLine] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if self.errors:
            return MSG_NOTHING_WRITTEN
        counts = {a: sum(1 for line in self.lines if line.action == a) for a in ("created", "updated", "unchanged")}
        verb = "would be" if self.dry_run else "were"
        return f"{counts['created']} created, {counts['updated']} updated, {counts['unchanged']} unchanged ({verb} " + (
            "imported: a dry run wrote nothing)." if self.dry_run else "imported)."
        )


class _Invalid(Exception):
    """Raised inside the import's transaction so nothing of a bad file stays."""


def _author(user: User) -> Any:
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def _kind_of(obj: models.Model) -> str:
    return Kind.MAPPING if isinstance(obj, Mapping) else Kind.AUTOMATION


def config_document(obj: models.Model) -> dict[str, Any]:
    """The document of one mapping or automation as it is stored now."""
    if isinstance(obj, Mapping):
        return documents.mapping_document(obj)
    assert isinstance(obj, Automation)
    return documents.automation_document(obj)


def config_export(*, mappings: list[Mapping], automations: list[Automation], fmt: str = "yaml") -> str:
    """A configuration file of these mappings and automations (connections by name, secrets never included)."""
    return documents.dump(documents.file_document(mappings=mappings, automations=automations), fmt)


# -- versions ----------------------------------------------------------------------------------------------------------
def config_version_record(*, obj: models.Model, author: User = None, note: str = NOTE_EDITED) -> ConfigVersion | None:
    """Store the object's configuration as a new version, unless it is the same as the latest one."""
    kind = _kind_of(obj)
    document = config_document(obj)
    latest = ConfigVersion.objects.filter(kind=kind, object_id=obj.pk).order_by("-number").first()
    if latest is not None and latest.document == document:
        return None
    number = (latest.number if latest is not None else 0) + 1
    return ConfigVersion.objects.create(
        kind=kind,
        object_id=obj.pk,
        name=str(obj),
        number=number,
        document=document,
        author=_author(author),
        note=note,
    )


def config_version_baseline(*, kind: str, object_id: int | None) -> None:
    """Before the first recorded edit of an object made before versions were kept: its stored state as version 1."""
    if object_id is None or ConfigVersion.objects.filter(kind=kind, object_id=object_id).exists():
        return
    obj = MODELS[kind]._default_manager.filter(pk=object_id).first()
    if obj is not None:
        config_version_record(obj=obj, note=NOTE_FIRST)


@transaction.atomic
def config_rollback(*, version: ConfigVersion, author: User = None) -> ImportReport:
    """Make the object as it was in `version` (by its id: a later rename does not matter); a new version says so."""
    report = ImportReport(dry_run=False)
    model = MODELS[version.kind]
    obj = model._default_manager.filter(pk=version.object_id).first()
    if obj is None:
        report.errors.append(f"{version}: the {version.get_kind_display().lower()} was deleted since.")
        return report
    config_version_baseline(kind=version.kind, object_id=version.object_id)
    document = dict(version.document)
    try:
        with transaction.atomic():
            line = _import_one(version.kind, document, report, author=author, target=obj, note_number=version.number)
            if report.errors:
                raise _Invalid
    except _Invalid:
        return report
    report.lines.append(line)
    return report


# -- import ------------------------------------------------------------------------------------------------------------
def config_import(*, text: str, dry_run: bool = False, author: User = None) -> ImportReport:
    """Import a configuration file: each mapping and automation created or updated by name; all or nothing."""
    report = ImportReport(dry_run=dry_run)
    try:
        data = documents.load(text)
    except documents.DocumentError as e:
        report.errors.append(str(e))
        return report
    try:
        with transaction.atomic():
            for kind, key in ((Kind.MAPPING, "mappings"), (Kind.AUTOMATION, "automations")):
                for index, doc in documents.children(data, key, where="The file", errors=report.errors):
                    report.lines.append(_import_one(kind, doc, report, author=author, index=index))
            if report.errors or dry_run:
                raise _Invalid
    except _Invalid:
        pass
    return report


def _import_one(
    kind: str,
    doc: dict[str, Any],
    report: ImportReport,
    *,
    author: User,
    index: int = 0,
    target: models.Model | None = None,
    note_number: int | None = None,
) -> ImportLine:
    model = MODELS[kind]
    name = " ".join(str(doc.get("name") or "").split())
    where = f"{kind} “{name}”" if name else f"{kind} #{index}"
    if not name:
        report.errors.append(MSG_NAME_MISSING.format(where=where))
        return ImportLine(kind, name, "unchanged")
    obj = target or model._default_manager.filter(name__iexact=name).first()
    before = config_document(obj) if obj is not None else None
    if obj is not None and target is None:
        config_version_baseline(kind=kind, object_id=obj.pk)
    if kind == Kind.MAPPING:
        assert obj is None or isinstance(obj, Mapping)
        obj = _import_mapping(doc, obj, where=where, errors=report.errors)
    else:
        assert obj is None or isinstance(obj, Automation)
        obj = _import_automation(doc, obj, where=where, errors=report.errors)
    if obj is None:
        return ImportLine(kind, name, "unchanged")
    after = config_document(obj)
    if before is None:
        line = ImportLine(kind, obj.name, "created")
    else:
        changed = [path for path, _, _ in documents.diff(before, after)]
        line = ImportLine(kind, obj.name, "updated" if changed else "unchanged", changed)
    note = NOTE_ROLLED_BACK.format(number=note_number) if note_number is not None else NOTE_IMPORTED
    config_version_record(obj=obj, author=author, note=note)
    return line


def _form_errors(form: Any, *, where: str, errors: list[str], extra: dict[str, Any] | None = None) -> Any:
    """Validate `form`'s instance with the admin's own form (its values as the form would show them, posted back)."""
    data: dict[str, Any] = {}
    for name in form.fields:
        value = form[name].value()
        stored = getattr(form.instance, name, None)
        if isinstance(stored, datetime):
            value = stored  # a widget shows whole seconds; the document's instant is kept to the microsecond
        if value is not None:
            data[name] = value
    data.update(extra or {})
    bound = type(form)(data=data, instance=form.instance, **getattr(form, "_ss_kwargs", {}))
    if not bound.is_valid():
        for name, messages in bound.errors.items():
            label = "" if name == "__all__" else f"{name}: "
            errors.extend(f"{where}: {label}{message}" for message in messages)
        return None
    return bound.instance


def _form(form_class: Any, instance: models.Model, **kwargs: Any) -> Any:
    form = form_class(instance=instance, **kwargs)
    form._ss_kwargs = kwargs
    return form


def _save(save: Any, obj: models.Model, *, where: str, errors: list[str]) -> bool:
    try:
        save(obj)
    except ValidationError as e:
        errors.extend(f"{where}: {message}" for message in e.messages)
        return False
    return True


def _import_mapping(doc: dict[str, Any], obj: Mapping | None, *, where: str, errors: list[str]) -> Mapping | None:
    mapping = obj if obj is not None else Mapping()
    count = len(errors)
    documents.apply_fields(mapping, doc, where=where, errors=errors, skip=frozenset({"field_mappings"}))
    # The mapping's own form only once its fields could be read; its field mappings are checked either way.
    checked = _form_errors(_form(MappingForm, mapping), where=where, errors=errors) if len(errors) == count else None
    rows = []
    for index, item in documents.children(doc, "field_mappings", where=where, errors=errors):
        row = FieldMapping(mapping=mapping if mapping.pk else None)
        row_where = f"{where}, field mapping #{index}"
        documents.apply_fields(row, item, where=row_where, errors=errors)
        form = _form(FieldMappingForm, row, object_type=mapping.object_type, mapping_direction=mapping.direction)
        if _form_errors(form, where=row_where, errors=errors) is not None:
            rows.append((row, item))
    if checked is None or len(errors) > count:
        return None
    if not _save(lambda m: mapping_save(mapping=m), mapping, where=where, errors=errors):
        return None
    mapping.field_mappings.all().delete()
    for row, item in rows:
        row.mapping = mapping
        # What the form does not show is still the document's (a custom field's name when it was picked).
        for name in ("target_label", "source_label"):
            if name in item:
                setattr(row, name, item[name] or "")
        if not _save(lambda r: (r.full_clean(), r.save()), row, where=where, errors=errors):
            return None
    return mapping


def _import_automation(
    doc: dict[str, Any], obj: Automation | None, *, where: str, errors: list[str]
) -> Automation | None:
    automation = obj if obj is not None else Automation()
    count = len(errors)
    documents.apply_fields(automation, doc, where=where, errors=errors, skip=frozenset({"actions"}))
    if len(errors) == count:
        _form_errors(_form(AutomationForm, automation), where=where, errors=errors)
    steps = _import_steps(doc, automation, where=where, errors=errors)
    if len(errors) > count:
        return None
    if not _save(lambda a: automation_save(automation=a), automation, where=where, errors=errors):
        return None
    automation.actions.all().delete()  # their paths and the paths' steps go with them
    _save_steps(steps, automation, None)
    return automation


# A step as read from a document: the action, its field rows, and (a router) its paths with their own steps.
_Step = tuple[AutomationAction, list[AutomationFieldMapping], list[tuple[AutomationPath, list[Any]]]]


def _import_steps(doc: dict[str, Any], automation: Automation, *, where: str, errors: list[str]) -> list[_Step]:
    steps: list[_Step] = []
    for index, item in documents.children(doc, "actions", where=where, errors=errors):
        step_where = f"{where}, action #{index}"
        action = AutomationAction(automation=automation if automation.pk else None)
        documents.apply_fields(action, item, where=step_where, errors=errors, skip=frozenset({"fields", "paths"}))
        extra = {"what": step_what(action), "wait": wait_text(action)}
        if _form_errors(_form(ActionInlineForm, action), where=step_where, errors=errors, extra=extra) is None:
            continue
        rows = []
        for row_index, row_doc in documents.children(item, "fields", where=step_where, errors=errors):
            row = AutomationFieldMapping()
            row_where = f"{step_where}, field #{row_index}"
            documents.apply_fields(row, row_doc, where=row_where, errors=errors)
            if _form_errors(_form(FieldRowForm, row, action=action), where=row_where, errors=errors) is not None:
                rows.append(row)
        paths = []
        if item.get("paths") and action.kind != AutomationAction.Kind.ROUTER:
            errors.append(f"{step_where}: only a paths step has paths.")
        for path_index, path_doc in documents.children(item, "paths", where=step_where, errors=errors):
            path_where = f"{step_where}, path #{path_index}"
            path = AutomationPath()
            documents.apply_fields(path, path_doc, where=path_where, errors=errors, skip=frozenset({"actions"}))
            for name, message in path_problems(path).items():
                errors.append(f"{path_where}: {name}: {message}")
            paths.append((path, _import_steps(path_doc, automation, where=path_where, errors=errors)))
        steps.append((action, rows, paths))
    return steps


def _save_steps(steps: list[_Step], automation: Automation, path: AutomationPath | None) -> None:
    for action, rows, paths in steps:
        action.automation, action.path = automation, path
        action.save()
        for row in rows:
            row.action = action
            row.save()
        for child, child_steps in paths:
            child.automation, child.router = automation, action
            child.save()
            _save_steps(child_steps, automation, child)
