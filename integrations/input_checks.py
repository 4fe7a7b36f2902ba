"""What no input may carry, checked once where input enters: text PostgreSQL cannot store, JSON too deep to walk.

PostgreSQL refuses a NUL character in text and in jsonb (`DataError`, a 500 and an e-mail to the admins), and a lone
surrogate (`"\\ud800"`, which JSON may spell) cannot be encoded to UTF-8 at all; SQLite stores both, so only the
PostgreSQL CI would notice. Python's JSON parser gives up at about 1,000 levels with `RecursionError` (not a
`ValueError`), and code that recurses over a parsed value (repr, logging, the JSON encoder, jsonb) fails far earlier
than that on some platforms. So:

- `text_problem()` names what is wrong with one piece of text; `row_id()` reads an id typed in a parameter;
- `json_parse()` / `json_problem()` parse and walk JSON without recursion, refusing depth beyond
  `INPUT_MAX_JSON_DEPTH` and any key or string with a character that cannot be stored;

used by the webhook endpoints (integrations/webhooks/views.py), every form field that parses JSON (the catalog's
generated forms and raw request, mappings, automations), and `BadInputMiddleware` for every query parameter, form
value and URL path of the admin (integrations/middleware.py).
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings

MSG_NUL = "{where} contains a NUL character (\\u0000), which cannot be stored; remove it"
MSG_SURROGATE = "{where} contains an unpaired surrogate ({code}), which is not valid Unicode; remove it"
MSG_TOO_DEEP = "{where} is nested more than {limit} levels deep"
MSG_BAD_JSON = "Not valid JSON: {error}"
DEFAULT_MAX_JSON_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")


class InputRefused(ValueError):
    """Input that no part of the product can store or walk; the message says what and where."""


def max_json_depth() -> int:
    return int(getattr(settings, "INPUT_MAX_JSON_DEPTH", DEFAULT_MAX_JSON_DEPTH))


def text_problem(text: str, *, where: str = "The text") -> str | None:
    """Why `text` cannot be stored (a message for the user), or None."""
    if "\x00" in text:
        return MSG_NUL.format(where=where)
    surrogate = _SURROGATE.search(text)
    if surrogate:
        return MSG_SURROGATE.format(where=where, code=f"\\u{ord(surrogate.group()):04x}")
    return None


def row_id(value: Any) -> int | None:
    """A primary key typed in a URL or a form, or None: ASCII digits only (int() also reads other scripts' digits
    such as '١٢٣', which no link of ours carries) and within a bigint (a longer number is a DataError)."""
    text = str(value or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    return int(text)


def json_problem(value: Any, *, where: str = "The JSON", max_depth: int | None = None) -> str | None:
    """Why a parsed JSON value cannot be taken (too deep; a key or string that cannot be stored), or None.
    Iterative: the value may be as deep as the parser allowed."""
    limit = max_json_depth() if max_depth is None else max_depth
    stack: list[tuple[Any, int, str]] = [(value, 1, where)]
    while stack:
        item, level, path = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item, where=path)
            if problem:
                return problem
        elif isinstance(item, dict | list):
            if level > limit:
                return MSG_TOO_DEEP.format(where=where, limit=limit)
            if isinstance(item, dict):
                for key, child in item.items():
                    key_problem = text_problem(str(key), where=f"A key in {path}")
                    if key_problem:
                        return key_problem
                    stack.append((child, level + 1, f"{path}.{key}" if len(path) < 80 else path))
            else:
                stack.extend((child, level + 1, path) for child in item)
    return None


def json_parse(text: str | bytes, *, where: str = "The JSON", max_depth: int | None = None) -> Any:
    """Parse JSON that a person or a sender supplied; InputRefused with a clear message when it is not JSON, is too
    deep, or holds text that cannot be stored."""
    limit = max_json_depth() if max_depth is None else max_depth
    try:
        value = json.loads(text)
    except RecursionError:
        raise InputRefused(MSG_TOO_DEEP.format(where=where, limit=limit)) from None
    except (ValueError, UnicodeDecodeError) as e:
        raise InputRefused(MSG_BAD_JSON.format(error=e)) from None
    problem = json_problem(value, where=where, max_depth=limit)
    if problem:
        raise InputRefused(problem)
    return value
