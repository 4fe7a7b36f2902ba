"""The project's guides (`docs/*.md`) as admin pages, so a help text's "see docs/…" opens in the browser.

Only staff who are logged in read them (the admin's login wraps the view); a name outside `docs/` answers 404.
Markdown is rendered with raw HTML off: the page shows what the file says, never markup from it."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

DOCS_DIR = Path(settings.BASE_DIR) / "docs"
NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# "docs/webhooks.md" in a help text or message, with an optional "#section".
DOCS_REFERENCE = re.compile(r"docs/([a-z0-9][a-z0-9-]*)\.md(#[\w-]+)?")


def docs_names() -> list[str]:
    return sorted(p.stem for p in DOCS_DIR.glob("*.md"))


def docs_url(name: str) -> str:
    return reverse("admin:docs_page", args=[name])


def docs_linked(text: str) -> SafeString:
    """`text` escaped, with each "docs/<name>.md" made a link to its page (an unknown name stays text)."""
    known = set(docs_names())
    parts: list[str] = []
    last = 0
    for match in DOCS_REFERENCE.finditer(text):
        parts.append(format_html("{}", text[last : match.start()]))
        name = match.group(1)
        if name in known:
            parts.append(format_html('<a href="{}{}">{}</a>', docs_url(name), match.group(2) or "", match.group(0)))
        else:
            parts.append(format_html("{}", match.group(0)))
        last = match.end()
    parts.append(format_html("{}", text[last:]))
    return mark_safe("".join(parts))  # noqa: S308 - every part is escaped by format_html


@cache
def _renderer() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def _render(name: str, text: str) -> str:
    md = _renderer()
    tokens = md.parse(text)
    for token in tokens:
        in_repository_link = False
        for child in token.children or []:
            if child.type == "link_close" and in_repository_link:
                child.tag, in_repository_link = "span", False
            if child.type != "link_open":
                continue
            href = str(child.attrGet("href") or "")
            # Links between the guides ("reliability.md#retries") open the other guide's page.
            sibling = re.fullmatch(r"(?:\./|docs/)?([a-z0-9][a-z0-9-]*)\.md(#[\w-]+)?", href)
            if sibling:
                child.attrSet("href", docs_url(sibling.group(1)) + (sibling.group(2) or ""))
            elif href and not re.match(r"[a-z][a-z0-9+.-]*:|#|/", href):
                # A file of the repository outside docs/ (../sandbox/README.md): no page to open, so its path is
                # said, not linked.
                path = re.sub(r"^(\.\./)+", "", href)
                child.tag, child.attrs, in_repository_link = "span", {"title": f"In the repository: {path}"}, True
    return str(md.renderer.render(tokens, md.options, {}))


def docs_view(request: HttpRequest, name: str, admin_context: dict[str, object]) -> HttpResponse:
    if not NAME.match(name) or name not in docs_names():
        raise Http404("No such guide.")
    text = (DOCS_DIR / f"{name}.md").read_text(encoding="utf-8")
    title = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), name)
    context = {
        **admin_context,
        "title": title,
        "body": mark_safe(_render(name, text)),  # noqa: S308 - raw HTML is off in the renderer
        "guides": [(n, docs_url(n)) for n in docs_names()],
        "current": name,
    }
    return TemplateResponse(request, "admin/docs/page.html", context)
