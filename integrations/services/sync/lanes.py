"""A page's writes, several at once: a run keeps the target API busy while it waits for answers.

GHL answers in 150-600 ms; one request at a time uses about a third of the 10 per second it allows. The page's items
are split into *lanes*: items that share a record (source id, target id), a match key or a contact key (email, phone:
GHL's upsert matches on them) or a parent (a contact's tasks and notes) fall into one lane and are written one after
the other, in page order, so one record is never written twice at once and a same-page duplicate is found as before.
Up to SYNC_WRITE_CONCURRENCY threads take lanes in page order.

The threads run the engine's ordinary code, one at a time, holding the page's gate (integrations/concurrency.py),
with the run's database connection handed to them: only waits (a request in flight, the governor's or a retry's
sleep) run outside it. So history rows, record links, write-ahead PendingCreates, states and counts are made exactly
as in a sequential run; every request still takes its slot from the shared rate-limit governor first. The first
error (a transient API error, an auth failure, the worker stopping) stops the lanes: writes in flight finish, no new
one starts, and the error is raised on the run's thread as it would be from a sequential loop. Follow-up rules run
after every lane has finished, so a contact is written before the tasks its rules make.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

from integrations import concurrency

T = TypeVar("T")


def lanes_of(items: list[T], keys_of: Callable[[T], Iterable[Hashable]]) -> list[list[T]]:
    """`items` split into lanes: two items sharing a key are in one lane (transitively), each lane in page order,
    the lanes ordered by their first item."""
    parent: list[int] = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[Hashable, int] = {}
    for index, item in enumerate(items):
        for key in keys_of(item):
            if key in owner:
                a, b = root(owner[key]), root(index)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                owner[key] = index
    grouped: dict[int, list[T]] = {}
    for index, item in enumerate(items):
        grouped.setdefault(root(index), []).append(item)
    return [grouped[r] for r in sorted(grouped)]


def write_lanes(
    lanes: list[list[T]], write: Callable[[T], None], *, size: int, on_drain: Callable[[], None] | None = None
) -> None:
    """`write(item)` for every item of every lane: a lane's items one after the other, up to `size` lanes at once;
    `on_drain` once no lane is left to start (the next page read ahead while the last writes are in flight)."""
    concurrency.run_lanes(lanes, write, size=size, on_drain=on_drain)
