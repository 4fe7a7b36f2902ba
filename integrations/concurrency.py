"""One gate for the threads that write one page of a sync run together (integrations/services/sync/lanes.py).

A run keeps the API busy while it waits for answers: a page's writes run on a few threads. Everything those threads
do runs one thread at a time, holding the page's gate — the engine's bookkeeping, the adapters, the run's database
connection (handed to them: Django's connections are per thread, and one connection must never serve two threads at
once) — except where a thread *waits*: on the network (an HTTP request in flight, `waiting()` in the client base) or
in a sleep (the rate-limit governor's, a retry's backoff). So the page's database work and its in-memory state are
used exactly as in a sequential run, one step at a time, while up to N requests are in flight.

Code that waits wraps the wait in `waiting()`; code called back from inside a wait (urllib3's retry hooks, which
consult the governor) takes the gate back with `holding()`. On a thread that is not one of a page's writers (the
run's own thread, the web, a plain worker) both do nothing.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.db import connections

T = TypeVar("T")
R = TypeVar("R")
_local = threading.local()


class Gate:
    """A lock that one writer thread at a time holds while it is not waiting."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @contextmanager
    def entered(self) -> Iterator[None]:
        """This thread becomes one of the gate's writers, holding it for the block (except while it waits)."""
        if getattr(_local, "gate", None) is not None:
            raise RuntimeError("a thread writes for one gate at a time")
        self._lock.acquire()
        _local.gate, _local.holding = self, True
        try:
            yield
        finally:
            if _local.holding:
                self._lock.release()
            _local.gate, _local.holding = None, False


def _current() -> tuple[Gate | None, bool]:
    return getattr(_local, "gate", None), bool(getattr(_local, "holding", False))


@contextmanager
def waiting() -> Iterator[None]:
    """A wait (a request in flight, a sleep): the other writers of the page may go on meanwhile."""
    gate, holding = _current()
    if gate is None or not holding:
        yield
        return
    _local.holding = False
    gate._lock.release()
    try:
        yield
    finally:
        gate._lock.acquire()
        _local.holding = True


@contextmanager
def holding() -> Iterator[None]:
    """Inside a wait, code that is not waiting (it reads or writes shared state): the gate is taken back for it."""
    gate, held = _current()
    if gate is None or held:
        yield
        return
    gate._lock.acquire()
    _local.holding = True
    try:
        yield
    finally:
        _local.holding = False
        gate._lock.release()


def in_writer() -> bool:
    """This thread is one of a page's writers (tests)."""
    return _current()[0] is not None


def run_lanes(
    lanes: list[list[T]], work: Callable[[T], None], *, size: int, on_drain: Callable[[], None] | None = None
) -> None:
    """`work(item)` for every item of every lane, on up to `size` threads sharing one gate and the calling thread's
    database connections: a lane's items one after the other, lanes in order. The first error stops the lanes (work
    in flight finishes, nothing new starts) and is raised here, on the calling thread.

    `on_drain` runs once no lane is left to start, as one more writer (holding the gate but for its waits), while the
    last writes are still in flight: the next page's reads go out meanwhile instead of after them."""
    if size <= 1 or len(lanes) <= 1 or in_writer():
        for lane in lanes:
            for item in lane:
                work(item)
        if on_drain is not None:
            on_drain()
        return
    gate = Gate()
    run_connections = {alias: connections[alias] for alias in connections}
    todo = deque(lanes)
    stop = threading.Event()
    errors: list[BaseException] = []
    drain = deque([on_drain] if on_drain is not None else [])

    def writer() -> None:
        # Django's connections are per thread: this one uses the run's, and only while it holds the gate.
        for alias, conn in run_connections.items():
            connections[alias] = conn
        try:
            with gate.entered():
                while todo and not stop.is_set():
                    for item in todo.popleft():
                        if stop.is_set():
                            break
                        work(item)
                if drain and not stop.is_set():
                    drain.popleft()()
        except BaseException as e:  # noqa: BLE001 - handed to the run's thread and raised there
            errors.append(e)
            stop.set()
        finally:
            for alias in run_connections:
                del connections[alias]

    for conn in run_connections.values():
        conn.inc_thread_sharing()
    threads = [threading.Thread(target=writer, name=f"writer-{n}", daemon=True) for n in range(min(size, len(lanes)))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    except BaseException:
        # Interrupted while waiting (a time limit, a signal): the writers finish what is in flight, start nothing
        # more, and leave the connection before the run's thread uses it again.
        stop.set()
        for thread in threads:
            thread.join()
        raise
    finally:
        for conn in run_connections.values():
            conn.dec_thread_sharing()
    if errors:
        raise errors[0]


def map_at_once(fn: Callable[[T], R], items: list[T], *, size: int) -> list[R]:
    """[fn(item) for item in items], up to `size` at once (each its own lane), in the order of `items`."""
    results: dict[int, R] = {}
    indexed = list(enumerate(items))

    def one(pair: tuple[int, T]) -> None:
        results[pair[0]] = fn(pair[1])

    run_lanes([[pair] for pair in indexed], one, size=size)
    return [results[index] for index, _ in indexed]
