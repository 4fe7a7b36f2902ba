"""Keep secrets out of logs: every log record passes through this filter (see LOGGING in settings).

Two nets: patterns (a bearer token, `api_key=…`, `X-Api-Key: …`) and the secrets themselves — every credential a
client sends is remembered here, and any text that contains it, as written or as Python escapes it in a repr
('k\\u200bey'), loses it. Both apply to the message, to the formatted traceback and to the stack of the record.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

# Bearer tokens, API-key headers, OAuth token fields, and anything that looks like key=value for a secret name.
_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-~+/=]+"),
    re.compile(
        r"(?i)((?:x-api-key|authorization|api[_-]?key|access_token|refresh_token|client_secret|token|password)"
        r"[\"']?\s*[:=]\s*[\"']?)[^\s\"',&}]+"
    ),
]
REDACTED = "[redacted]"
# Shorter values are not remembered: they would blank out ordinary words.
MIN_SECRET_LENGTH = 6
MAX_REMEMBERED = 512

_secrets: OrderedDict[str, None] = OrderedDict()
_lock = threading.Lock()


def _forms(secret: str) -> set[str]:
    """The secret as written, and as it appears inside a repr or ascii() (escaped non-ASCII, quotes, backslashes)."""
    return {
        secret,
        repr(secret)[1:-1],
        ascii(secret)[1:-1],
        secret.encode("unicode_escape").decode("ascii"),
    }


def remember_secret(secret: str) -> None:
    """Redact this value wherever it shows up in a log record from now on (clients call it for what they send)."""
    if len(secret) < MIN_SECRET_LENGTH:
        return
    with _lock:
        for form in _forms(secret):
            _secrets[form] = None
            _secrets.move_to_end(form)
        while len(_secrets) > MAX_REMEMBERED:
            _secrets.popitem(last=False)


def redact(text: str) -> str:
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


_traceback_formatter = logging.Formatter()


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not drop the record; logging reports it later
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set: the traceback (and the exception's repr in it) is cleaned once.
            record.exc_text = _traceback_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


# gunicorn's access log passes its atoms as the record's args: these become fields of the JSON line.
_ACCESS_FIELDS = {"h": "remote", "r": "request", "s": "status", "b": "bytes", "L": "duration_seconds", "a": "agent"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line (LOG_FORMAT=json): time, level, logger, message, and the traceback when there is one.

    Runs after RedactingFilter (a handler's filters come first), so what it writes is already cleaned.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            entry.update({name: record.args.get(atom) for atom, name in _ACCESS_FIELDS.items()})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)
