"""The stale check, run by every worker on a thread of its own, besides beat's every-minute message.

A message waits in the queue behind the work a worker holds: a worker whose runs hang (a dead database connection, a
stuck API call) never gets to the stale check meant to notice them, and beat's next message waits behind the first.
This thread needs no message and no free execution slot, opens a fresh database connection each time (one that died
with a restarted server is never used again), and runs what each app's periodic recovery runs: every app registers the
lifecycles it owns (`housekeeping_register`; sync runs in integrations/apps.py, automation polls in automations'). Each
step is a conditional update, so several workers (and beat's messages) checking at once change each row once."""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import connection
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

_stop = threading.Event()
_thread: threading.Thread | None = None


# Every lifecycle the thread recovers, by the dotted path of its `Lifecycle` (integrations/services/lifecycle.py). Each
# app registers its own in its AppConfig.ready(), so this module never imports the apps whose work it checks.
_lifecycles: dict[str, str] = {}


def housekeeping_register(name: str, lifecycle: str) -> None:
    """Have every worker's thread run `lifecycle`'s recovery too (what the app's periodic task runs)."""
    _lifecycles[name] = lifecycle


def stale_check() -> dict[str, dict[str, int]]:
    """Each registered lifecycle's recovery: work whose worker died ends stale; pending work whose task was lost is
    sent again. One that fails (the database is down) does not keep the others from running."""
    found: dict[str, dict[str, int]] = {}
    for name, path in _lifecycles.items():
        try:
            found[name] = import_string(path).recover()
        except Exception:
            logger.exception("Worker stale check of %s failed; trying again next time", name)
    return found


def _loop(interval: float) -> None:
    while not _stop.wait(interval):
        try:
            found = stale_check()
            if any(any(counts.values()) for counts in found.values()):
                logger.warning("Worker stale check: %s", found)
        except Exception:  # the thread must not die
            logger.exception("Worker stale check failed; trying again in %s s", interval)
        finally:
            connection.close()


def housekeeping_start() -> bool:
    """Start the worker's stale-check thread (every SYNC_STALE_CHECK_SECONDS; 0 = beat's message only)."""
    global _thread
    interval = float(settings.SYNC_STALE_CHECK_SECONDS)
    if interval <= 0 or (_thread is not None and _thread.is_alive()):
        return False
    _stop.clear()
    _thread = threading.Thread(target=_loop, args=(interval,), name="streetsync-stale-check", daemon=True)
    _thread.start()
    logger.info("Worker stale check every %s s", interval)
    return True


def housekeeping_stop() -> None:
    _stop.set()
