"""One check of every request's query parameters, form values and URL path for text no page can use.

A NUL character (`%00`) in a search box, a filter, an object id in the URL or any form field reaches a PostgreSQL
query or row as a `DataError` (a 500 and an e-mail to the admins) wherever a form or view does not happen to refuse
it first; a lone surrogate cannot be encoded at all. Refusing it here, once, with a 400 that names the field, covers
every admin page, form and parameter (the ones that exist and the ones added later). The webhook endpoints read their
own bodies (a JSON body is checked there: integrations/webhooks/views.py) and the built-in sandbox is a test fake:
both are left alone.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from integrations.input_checks import text_problem

MSG_TITLE = "This request cannot be used"
WHERE_PATH = "The address"
WHERE_PARAMETER = "The parameter {name!r}"
WHERE_FIELD = "The field {name!r}"
WHERE_NAME = "A field name"
# Their own boundary (webhooks) or not the product (the sandbox): bodies must stay unread here.
SKIP_PREFIXES = ("/webhooks/", "/sandbox/")


def request_problem(request: HttpRequest) -> str | None:
    """Why the request cannot be served (a message naming the field), or None."""
    problem = text_problem(request.path, where=WHERE_PATH)
    if problem:
        return problem
    sources = [(request.GET, WHERE_PARAMETER)]
    if request.method == "POST":
        sources.append((request.POST, WHERE_FIELD))
    for data, where in sources:
        for name, values in data.lists():
            problem = text_problem(name, where=WHERE_NAME)
            for value in values:
                problem = problem or text_problem(value, where=where.format(name=name[:60]))
            if problem:
                return problem
    return None


def bad_input_response(request: HttpRequest, message: str) -> HttpResponse:
    """A 400 page that says what was wrong; nothing was changed."""
    response = TemplateResponse(
        request,
        "admin/bad_input.html",
        {"title": MSG_TITLE, "message": message, "site_header": "StreetSync"},
        status=400,
    )
    return response.render()


class BadInputMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(SKIP_PREFIXES):
            problem = request_problem(request)
            if problem:
                return bad_input_response(request, problem)
        return self.get_response(request)
