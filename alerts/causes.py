"""The cause of an error message: the message with what differs from record to record taken out (ids, addresses,
numbers, quoted values), so a hundred records failing for one reason are one cause. Pure."""

from __future__ import annotations

import hashlib
import re

CAUSE_MAX_CHARS = 200
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"https?://\S+"), "<url>"),
    (re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), "<email>"),
    (re.compile(r"“[^”]*”|\"[^\"]*\"|'[^']*'"), "“…”"),
    # Ids: long runs of letters and digits mixed, hex, uuids.
    (re.compile(r"\b(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{12,}\b"), "<id>"),
    (re.compile(r"\+?\d[\d\s().-]{5,}\d"), "<number>"),
    # Long numbers (record numbers, times); short ones stay: a status code (422, 503) is part of the cause.
    (re.compile(r"\b\d{4,}\b"), "#"),
    (re.compile(r"\s+"), " "),
)


def cause_of(error: str) -> str:
    """'StreetText refused contact 8f3a…: phone “+44 20 7946” is invalid' → 'StreetText refused contact <id>: phone
    “…” is invalid'. The first line only: a traceback or a body after it is an example, not the cause."""
    text = (error or "").strip().splitlines()[0] if (error or "").strip() else ""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    text = text.strip()
    return (text[: CAUSE_MAX_CHARS - 1] + "…") if len(text) > CAUSE_MAX_CHARS else text or "no error message"


def cause_digest(cause: str) -> str:
    return hashlib.sha256(cause.encode()).hexdigest()[:16]
