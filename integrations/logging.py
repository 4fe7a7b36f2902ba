"""Keep secrets out of logs: every log record passes through this filter (see LOGGING in settings)."""

from __future__ import annotations

import logging
import re

# Bearer tokens, API-key headers, OAuth token fields, and anything that looks like key=value for a secret name.
_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-~+/=]+"),
    re.compile(
        r"(?i)((?:x-api-key|authorization|api[_-]?key|access_token|refresh_token|client_secret|token|password)"
        r"[\"']?\s*[:=]\s*[\"']?)[^\s\"',&}]+"
    ),
]
REDACTED = "[redacted]"


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True
