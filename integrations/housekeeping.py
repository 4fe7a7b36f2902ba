"""The stale check, run by every worker on a thread of its own, besides beat's every-minute message.

A message waits in the queue behind the work a worker holds: a worker whose runs hang (a dead database connection, a
stuck API call) never gets to the stale check meant to notice them, and beat's next message waits behind the first.
This thread needs no message and no free execution slot, opens a fresh database connection each time (one that died
with a restarted server is never used again), and runs what `mark_stale_runs_task` runs. Each step is a conditional
update, so several workers (and beat's message) checking at once change each run once."""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import connection
from django.utils import timezone

logger = logging.getLogger(__name__)

_stop = threading.Event()
_thread: threading.Thread | None = None


def stale_check() -> dict[str, int]:
    """Runs whose worker died are marked stale; pending runs (and automation polls) whose task was lost are sent
    again; what ended stale raises (or updates) its mapping's or automation's alerts at once."""
    from alerts.services import alerts_for_stale
    from automations.services import polls as automation_polls
    from integrations.services import runs

    started = timezone.now()
    polls = automation_polls.automation_polls_recover()
    found = {"stale": runs.sync_run_mark_stale(), **runs.sync_run_recover_pending()}
    if found["stale"] or found.get("lost") or polls.get("polls_stale") or polls.get("polls_lost"):
        try:  # the alerts of what was just ended stale, at once (an alert that cannot be raised never stops the check)
            alerts_for_stale(since=started)
        except Exception:
            logger.exception("Alerts for stale runs and polls could not be raised")
    return found


def _loop(interval: float) -> None:
    while not _stop.wait(interval):
        try:
            found = stale_check()
            if any(found.values()):
                logger.warning("Worker stale check: %s", found)
        except Exception:  # the database may be down: try again next time, the thread must not die
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
