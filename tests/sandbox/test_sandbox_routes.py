"""Every sandbox route can be reached: none lies behind an earlier pattern that matches all of its paths first
(Django takes the first match, so such a route is dead code that only looks served)."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, resolve

from sandbox import urls as sandbox_urls

_GROUP = re.compile(r"\(\?P<(?P<name>[^>]+)>\[\^/\]\+\)")
_CONVERTER = re.compile(r"<(?:\w+:)?(?P<name>\w+)>")


def sample_paths(pattern: URLPattern) -> list[str]:
    """Concrete paths the pattern is written to serve: every parameter filled in, with and without the optional
    trailing slash of the GHL routes."""
    text = str(pattern.pattern)
    if text.startswith("^"):  # re_path
        body = _GROUP.sub(lambda m: f"sample-{m['name']}", text[1:].removesuffix("$"))
        body = body.replace("\\.", ".").replace("\\-", "-")
        variants = [body[:-2], body[:-2] + "/"] if body.endswith("/?") else [body]
        for variant in variants:
            assert not set(variant) & set("^$*+?()[]{}|\\"), f"cannot write a sample of {text!r}"
        return variants
    return [_CONVERTER.sub(lambda m: f"sample-{m['name']}", text)]


def test_every_sandbox_route_is_reached_by_the_paths_it_is_written_for() -> None:
    names = [p.name for p in sandbox_urls.urlpatterns]
    assert len(names) == len(set(names)), "route names must be unique to tell routes apart"
    shadowed = []
    for pattern in sandbox_urls.urlpatterns:
        for sample in sample_paths(pattern):
            match = resolve(f"/sandbox/{sample}")
            if match.url_name != pattern.name:
                shadowed.append(f"{pattern.name} ({sample}) -> {match.url_name}")
                break
    assert shadowed == []


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/sandbox/ghl/contacts/", "ghl-catalog-contacts"),
        ("/sandbox/ghl/contacts/abc/tasks/t1", "ghl-catalog-contacts-contactId-tasks-taskId"),
        ("/sandbox/ghl/no/such/thing", "ghl-not-found"),
        ("/sandbox/streettext/v1/contacts", "streettext-contacts"),
    ],
)
def test_known_paths_resolve_to_their_route(path: str, name: str) -> None:
    assert resolve(path).url_name == name
