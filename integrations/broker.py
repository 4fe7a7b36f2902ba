"""The embedded broker (kombu's filesystem transport), tuned for a prompt worker shutdown.

Celery's loop for brokers without an event loop drains for 2 s at a time and checks for a shutdown only between
drains (and drains once more after noticing it), so a worker took 2-4 s to stop after SIGTERM while idle: close to
honcho's 5 s before SIGKILL on Ctrl-C. Draining in short slices keeps the same polling and stops in well under a
second. Redis and RabbitMQ are not affected (they have an event loop).
"""

from __future__ import annotations

from kombu import Connection
from kombu.transport.filesystem import Transport as _FilesystemTransport

# Seconds per drain; also the longest a new message waits before it is seen.
DRAIN_SLICE_SECONDS = 0.25


class FilesystemTransport(_FilesystemTransport):
    def drain_events(self, connection: Connection, timeout: float | None = None) -> None:  # type: ignore[override]
        # Only bounded waits are cut (Celery's loop passes 2 s); "wait forever" (None) keeps its meaning. The ignore:
        # kombu-stubs type the virtual transport's signature differently from its base class.
        super().drain_events(connection, timeout=timeout if timeout is None else min(timeout, DRAIN_SLICE_SECONDS))
