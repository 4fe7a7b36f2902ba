"""The generated parts of docs/catalog.md: every operation with its status, and every trigger's items.

Run `python -m integrations.catalog.docs` after changing operations.toml; a test fails while the file is stale.
Needs no Django settings: the loader reads only operations.toml and the vendored specs.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from integrations.catalog.loader import Catalog, CatalogOperation, get_catalog

DOCS_FILE = Path(__file__).resolve().parents[2] / "docs" / "catalog.md"
SECTIONS = ("operations", "triggers", "excluded")


def _status(op: CatalogOperation) -> str:
    parts = ["available"]
    if op.spec.deprecated:
        parts.append("deprecated in GHL's spec")
    return "; ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def operations_markdown(catalog: Catalog) -> str:
    """One table per category: every operation of the catalog, then the seed's entries it cannot offer."""
    lines: list[str] = []
    for category in catalog.categories:
        ops = [op for op in catalog.operations if op.category == category.key]
        triggers = sum(1 for op in ops if op.is_trigger)
        missing = [nb for nb in catalog.not_built if nb.category == category.key]
        seed = (
            f"the seed counts {category.seed_triggers} and {category.seed_actions}"
            if category.seed_triggers or category.seed_actions
            else "beyond the seed, which names none"
        )
        lines += [
            f"### {category.label}",
            "",
            f"{triggers} triggers and {len(ops) - triggers} actions ({seed}).",
            "",
            "| operation | kind | request | GHL spec | status |",
            "|---|---|---|---|---|",
        ]
        for op in ops:
            lines.append(
                f"| {_cell(op.name)} (`{op.key}`) | {op.kind} | `{op.method} {op.path}` | "
                f"`{op.app}/{op.operation_id}` | {_status(op)} |"
            )
        for nb in missing:
            lines.append(f"| {_cell(nb.name)} | {nb.kind} | — | — | **not available**: {_cell(nb.why)} |")
        lines.append("")
    total = len(catalog.operations)
    triggers = sum(1 for op in catalog.operations if op.is_trigger)
    offered = len({op.spec.key for op in catalog.operations})
    spec_total = offered + len(catalog.excluded) + len(catalog.uncovered)
    lines.append(
        f"In all: {total} operations ({triggers} triggers, {total - triggers} actions) covering {offered} of the "
        f"{spec_total} operations of GoHighLevel's spec ({len(catalog.excluded)} excluded by name, listed under "
        f"*Excluded*; {len(catalog.uncovered)} missing)."
    )
    return "\n".join(lines)


def excluded_markdown(catalog: Catalog) -> str:
    """The spec operations the catalog leaves out on purpose, each with its reason."""
    lines = ["| spec operation | request | why not in the catalog |", "|---|---|---|"]
    for item in catalog.excluded:
        lines.append(f"| `{item.spec_ref}` | `{item.spec.method} {item.spec.path}` | {_cell(item.why)} |")
    return "\n".join(lines)


def triggers_markdown(catalog: Catalog) -> str:
    """Where each trigger's items are, their id and updated fields, and where that was read."""
    lines = [
        "| trigger | items in the answer | id | updated | from |",
        "|---|---|---|---|---|",
    ]
    for op in catalog.operations:
        if not op.is_trigger or op.items is None:
            continue
        items = op.items
        where = f"`{items.path}`" if items.path else "the answer itself"
        where += ", a list" if items.many else ", one item"
        ident = f"`{items.id_field}`" if items.id_field else "none"
        updated = f"`{items.updated_field}`" if items.updated_field else "**none**"
        source = "response schema" if items.from_spec else "operations.toml"
        lines.append(f"| {_cell(op.name)} | {where} | {ident} | {updated} | {source} |")
    return "\n".join(lines)


def generated(catalog: Catalog) -> dict[str, str]:
    return {
        "operations": operations_markdown(catalog),
        "triggers": triggers_markdown(catalog),
        "excluded": excluded_markdown(catalog),
    }


def _replacer(body: str) -> Callable[[re.Match[str]], str]:
    return lambda match: match.group(1) + body + "\n" + match.group(2)


def render_docs(text: str, catalog: Catalog) -> str:
    """The docs text with each generated section replaced between its markers."""
    for name, body in generated(catalog).items():
        pattern = re.compile(rf"(<!-- catalog:{name} -->\n).*?(<!-- /catalog:{name} -->)", re.DOTALL)
        if not pattern.search(text):
            raise ValueError(f"docs/catalog.md has no <!-- catalog:{name} --> section")
        text = pattern.sub(_replacer(body), text)
    return text


def main() -> int:
    text = DOCS_FILE.read_text(encoding="utf-8")
    updated = render_docs(text, get_catalog())
    if updated != text:
        DOCS_FILE.write_text(updated, encoding="utf-8")
        sys.stdout.write(f"updated {DOCS_FILE}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
