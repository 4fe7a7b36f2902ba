"""Worker and beat liveness for /healthz and /metrics: each process writes a timestamp to the database.

Why not Celery's own worker heartbeats: they travel as events over the broker (the Procfiles run workers with
`--without-heartbeat --without-gossip` to keep the broker quiet, and kombu's filesystem transport has no fanout), and
reading them means a `ping` broadcast that waits for answers on every health check. A row in the shared database is
read in one query by any web process on any machine.

- A worker starts a daemon thread when it is ready (`worker_ready`) that writes its row every
  HEARTBEAT_INTERVAL_SECONDS, and deletes the row when it stops cleanly (`worker_shutdown`). A worker killed with
  SIGKILL leaves its row, which grows old and is reported down after HEALTH_WORKER_MAX_AGE_SECONDS.
- Beat writes its row from its scheduling loop (`HeartbeatScheduler.tick`, the DatabaseScheduler that
  CELERY_BEAT_SCHEDULER names), so the row says the loop that sends periodic tasks is turning, not only that the
  process exists.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import datetime
from typing import Any

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone
from django_celery_beat.schedulers import DatabaseScheduler

from integrations.models import ProcessHeartbeat

logger = logging.getLogger(__name__)

Kind = ProcessHeartbeat.Kind


def heartbeat_write(*, kind: str, name: str, started_at: datetime) -> None:
    """Say that process `name` of `kind` is alive now. Never raises: a database hiccup must not stop a worker."""
    now = timezone.now()
    try:
        if not ProcessHeartbeat.objects.filter(kind=kind, name=name).update(seen_at=now):
            ProcessHeartbeat.objects.update_or_create(
                kind=kind, name=name, defaults={"seen_at": now, "started_at": started_at}
            )
    except DatabaseError as e:
        logger.warning("Could not write the %s heartbeat of %s: %s", kind, name, e)


def heartbeat_forget(*, kind: str, name: str) -> None:
    """The process stops cleanly: remove its row, so health says at once that it is gone."""
    try:
        ProcessHeartbeat.objects.filter(kind=kind, name=name).delete()
    except DatabaseError as e:
        logger.warning("Could not remove the %s heartbeat of %s: %s", kind, name, e)


class _HeartbeatThread(threading.Thread):
    def __init__(self, *, kind: str, name: str) -> None:
        super().__init__(name=f"streetsync-{kind}-heartbeat", daemon=True)
        self.kind, self.process_name = kind, name
        self.started = timezone.now()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            heartbeat_write(kind=self.kind, name=self.process_name, started_at=self.started)
            # Its own database connection: closed after each write, so none lingers between beats.
            connection.close()
            self.stopping.wait(settings.HEARTBEAT_INTERVAL_SECONDS)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=1)  # it waits on an Event: it ends at once unless a write is under way
        heartbeat_forget(kind=self.kind, name=self.process_name)
        connection.close()


_worker_thread: list[_HeartbeatThread] = []


@worker_ready.connect
def _start_worker_heartbeat(sender: Any = None, **kwargs: Any) -> None:
    name = str(getattr(sender, "hostname", "") or f"celery@{socket.gethostname()}")
    thread = _HeartbeatThread(kind=Kind.WORKER, name=name)
    _worker_thread.append(thread)
    thread.start()


@worker_shutdown.connect
def _stop_worker_heartbeat(sender: Any = None, **kwargs: Any) -> None:
    while _worker_thread:
        _worker_thread.pop().stop()


class HeartbeatScheduler(DatabaseScheduler):
    """django-celery-beat's scheduler that also writes beat's heartbeat from its loop (at most every interval)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._heartbeat_name = f"{socket.gethostname()}:{os.getpid()}"
        self._heartbeat_started = timezone.now()
        self._heartbeat_last = 0.0
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        interval = float(super().tick(*args, **kwargs))
        every = float(settings.HEARTBEAT_INTERVAL_SECONDS)
        now = time.monotonic()
        if now - self._heartbeat_last >= every:
            close_old_connections()
            heartbeat_write(kind=Kind.BEAT, name=self._heartbeat_name, started_at=self._heartbeat_started)
            self._heartbeat_last = now
        # Wake up in time for the next beat even when no periodic task is due for longer.
        return min(interval, every)

    def close(self) -> None:
        heartbeat_forget(kind=Kind.BEAT, name=self._heartbeat_name)
        super().close()
