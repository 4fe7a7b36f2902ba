"""gunicorn settings: `gunicorn -c config/gunicorn.py config.wsgi` (docs/deploy.md). Every value comes from the
environment, with defaults for one machine behind a reverse proxy. https://docs.gunicorn.org/en/stable/settings.html
"""

from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


# Where the reverse proxy reaches the app. GUNICORN_BIND wins; else HOST:PORT (PORT as platforms set it).
bind = [os.environ.get("GUNICORN_BIND") or f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"]
# Processes × threads: the admin's pages are short, but a few wait on GoHighLevel or StreetText (test connection,
# preview, custom fields), so each process has threads. WEB_CONCURRENCY is the name most platforms use.
workers = _int("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 8))
threads = _int("GUNICORN_THREADS", 4)
worker_class = "gthread"
# A request may wait on an API for up to API_READ_TIMEOUT (30 s) and a few transport retries.
timeout = _int("GUNICORN_TIMEOUT", 120)
# On SIGTERM (a deploy, systemctl stop) requests in flight get this long to finish.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Recycle a process now and then, so a slow leak in a library cannot grow for ever.
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 200)
# The reverse proxy's address: gunicorn then trusts its X-Forwarded-Proto / -For headers.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
proxy_allow_ips = forwarded_allow_ips
# gunicorn's runtime control socket (gunicornc): off unless a path is given, so two servers on one machine (or a
# read-only home directory) do not trip over its default path.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]

# Access log and errors on stdout/stderr (the process manager collects them); LOG_FORMAT=json as the app's logs.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
_formatter = "json" if os.environ.get("LOG_FORMAT") == "json" else "plain"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    # The same filter as the app's logs: a token in a query string never reaches a log line.
    "filters": {"redact": {"()": "integrations.logging.RedactingFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "integrations.logging.JsonFormatter"},
    },
    "handlers": {
        "error_console": {
            "class": "logging.StreamHandler",
            "formatter": _formatter,
            "filters": ["redact"],
            "stream": "ext://sys.stderr",
        },
        "console": {
            "class": "logging.StreamHandler",
            "formatter": _formatter,
            "filters": ["redact"],
            "stream": "ext://sys.stdout",
        },
    },
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["error_console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
    },
}
