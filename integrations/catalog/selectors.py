"""Reads over the catalog (operations, categories, scopes, a trigger's items) and over its execution log."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from integrations.catalog.loader import (
    KINDS,
    CatalogOperation,
    Category,
    Items,
    Picker,
    UnknownCatalogOperation,
    get_catalog,
)
from integrations.catalog.models import CatalogExecution

__all__ = [
    "CategoryCount",
    "UnknownCatalogOperation",
    "catalog_categories",
    "catalog_execution_recent",
    "catalog_operation",
    "catalog_operations",
    "catalog_picker",
    "catalog_required_scopes",
    "catalog_trigger_items",
]


def catalog_operations(
    *, kind: str | None = None, category: str | None = None, search: str = ""
) -> tuple[CatalogOperation, ...]:
    """The catalog's operations in the seed's order, narrowed by kind (trigger/action), category and search text
    (words matched against name, description, operationId, method and path)."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    words = search.lower().split()
    found = []
    for op in get_catalog().operations:
        if kind is not None and op.kind != kind:
            continue
        if category is not None and op.category != category:
            continue
        if words:
            text = " ".join((op.name, op.description, op.operation_id, op.method, op.path, op.key)).lower()
            if not all(word in text for word in words):
                continue
        found.append(op)
    return tuple(found)


def catalog_operation(key: str) -> CatalogOperation:
    """One operation by its key; UnknownCatalogOperation when there is none."""
    return get_catalog().operation(key)


@dataclass(frozen=True)
class CategoryCount:
    category: Category
    triggers: int
    actions: int

    @property
    def total(self) -> int:
        return self.triggers + self.actions


def catalog_categories() -> list[CategoryCount]:
    """Every category with how many triggers and actions the catalog offers in it."""
    catalog = get_catalog()
    return [
        CategoryCount(
            category=category,
            triggers=sum(1 for op in catalog.operations if op.category == category.key and op.is_trigger),
            actions=sum(1 for op in catalog.operations if op.category == category.key and not op.is_trigger),
        )
        for category in catalog.categories
    ]


# Scopes the spec names that a Marketplace app cannot ask for: Delete Location's is GHL's own ("internal access
# only"), so "Connect with GoHighLevel" does not request it and GHL refuses that operation to apps.
UNREQUESTABLE_SCOPES = frozenset({"locations.internal-access-only"})


def catalog_required_scopes() -> tuple[str, ...]:
    """Every OAuth scope the spec's security requirements name for the catalog's operations that an app can
    request, sorted."""
    scopes = {scope for op in get_catalog().operations for scope in op.scopes}
    return tuple(sorted(scopes - UNREQUESTABLE_SCOPES))


def catalog_trigger_items(key: str) -> Items:
    """Where trigger `key`'s items are in its answer, and which fields are their id and updated time
    (`updated_field` None: the items carry none). `Items.extract(answer)` returns them."""
    op = catalog_operation(key)
    if not op.is_trigger or op.items is None:
        raise ValueError(f"{op.name} is not a trigger")
    return op.items


def catalog_picker(key: str) -> Picker | None:
    return get_catalog().pickers.get(key)


def catalog_execution_recent(*, key: str | None = None, limit: int = 10) -> QuerySet[CatalogExecution]:
    """The latest executions (of one operation), newest first, with connection and user in the same query."""
    rows = CatalogExecution.objects.select_related("connection", "user")
    if key is not None:
        rows = rows.filter(operation_key=key)
    return rows.order_by("-started_at", "-id")[:limit]
