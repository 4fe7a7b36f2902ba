"""Live mode of the sandbox's GHL: one location behaves like live GoHighLevel instead of its spec.

A location in live mode answers after a latency drawn from a distribution (GHL answers in roughly 150–600 ms), always
enforces GHL's own limits (100 requests / 10 s per location, a daily limit) whatever the sandbox's settings say, and
shows each of GHL's documented live deviations from its own spec that is switched on. Each deviation is reported in an
issue of GoHighLevel's public API-docs repository (or of another public integration); docs/ghl-facts.md and
sandbox/README.md list them with their sources. Set it with services.sandbox_set_live or POST /sandbox/_control/live.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sandbox.ratelimit import DAILY_LIMIT

# -- the deviations (name -> source, what the location does) -----------------------------------------------------------
SEARCH_SHAPE = "search_shape"
CREATE_422_CREATED = "create_422_created"
ADDITIONAL_EMAILS = "additional_emails"
PHONE_FILTER_EMPTY = "phone_filter_empty"
NO_LOCATION_ACCESS = "no_location_access"
UPSERT_PHONE_ONLY_422 = "upsert_phone_only_422"


@dataclass(frozen=True)
class Deviation:
    name: str
    source: str
    behaviour: str


DEVIATIONS: dict[str, Deviation] = {
    d.name: d
    for d in (
        Deviation(
            SEARCH_SHAPE,
            "GoHighLevel/highlevel-api-docs#314",
            "POST /contacts/search answers each contact with the street line as `address` (no `address1`) and "
            "`dateOfBirth` as epoch milliseconds (UTC midnight of the date)",
        ),
        Deviation(
            CREATE_422_CREATED,
            "GoHighLevel/highlevel-api-docs#64",
            "a contact create (POST /contacts/, and an upsert that creates) stores the contact, then answers 422",
        ),
        Deviation(
            ADDITIONAL_EMAILS,
            "GoHighLevel/highlevel-api-docs#262",
            "reads (get, search, list, the contact in write answers) carry `additionalEmails` [{email}]; a write "
            'naming it is refused with 422 ["property additionalEmails should not exist"] (as the spec refuses it)',
        ),
        Deviation(
            PHONE_FILTER_EMPTY,
            "GoHighLevel/highlevel-api-docs#289",
            "a POST /contacts/search filter {field: phone, operator: eq} finds no contact, also inside an OR group",
        ),
        Deviation(
            NO_LOCATION_ACCESS,
            "n8n-io/n8n#11353",
            'every request for the location answers 403 "The token does not have access to this location"',
        ),
        Deviation(
            UPSERT_PHONE_ONLY_422,
            "n8n-io/n8n#11353",
            "POST /contacts/upsert with a phone and no email answers 422 and changes nothing",
        ),
    )
}
# What a location in live mode shows unless told otherwise: every deviation of an ordinary location. A token without
# access to the location is a setting of one connection, not of the API: switched on only when asked for.
DEFAULT_DEVIATIONS = frozenset(DEVIATIONS) - {NO_LOCATION_ACCESS}
DEFAULT_LATENCY = (0.150, 0.600)  # seconds
LIVE_RATE_LIMIT = 100  # GHL's burst limit: 100 requests per 10 seconds per location (docs/ghl-facts.md)
LIVE_RATE_WINDOW_SECONDS = 10.0

MSG_CREATED_YET_422 = "Unprocessable Entity (sandbox live mode: the contact was created all the same, see #64)"
MSG_UPSERT_PHONE_ONLY = "email should not be empty (sandbox live mode: an upsert with only a phone, see n8n #11353)"


class LiveModeError(ValueError):
    """Bad live-mode settings (unknown deviation, latency out of order)."""


@dataclass(frozen=True)
class LiveMode:
    latency: tuple[float, float] = DEFAULT_LATENCY
    deviations: frozenset[str] = DEFAULT_DEVIATIONS
    daily_limit: int = DAILY_LIMIT

    def has(self, name: str) -> bool:
        return name in self.deviations

    def as_json(self) -> dict[str, Any]:
        return {"latency": list(self.latency), "deviations": sorted(self.deviations), "daily_limit": self.daily_limit}


def live_mode_build(
    *,
    latency: tuple[float, float] | list[float] | None = None,
    deviations: Iterable[str] | None = None,
    daily_limit: int | None = None,
) -> LiveMode:
    """A checked LiveMode; None picks the default (150–600 ms, every ordinary deviation, GHL's daily limit)."""
    bounds = tuple(DEFAULT_LATENCY if latency is None else latency)
    if (
        len(bounds) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in bounds)
        or not 0 <= bounds[0] <= bounds[1] <= 60
    ):
        raise LiveModeError("latency must be two numbers of seconds, 0 <= low <= high <= 60")
    lo, hi = bounds
    chosen = DEFAULT_DEVIATIONS if deviations is None else frozenset(deviations)
    unknown = sorted(chosen - set(DEVIATIONS))
    if unknown:
        raise LiveModeError(f"unknown deviation(s) {', '.join(unknown)}; known: {', '.join(sorted(DEVIATIONS))}")
    limit = DAILY_LIMIT if daily_limit is None else daily_limit
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise LiveModeError("daily_limit must be a positive whole number")
    return LiveMode(latency=(float(lo), float(hi)), deviations=chosen, daily_limit=limit)


def live_mode_of(stored: Any) -> LiveMode | None:
    """The live mode a SandboxAccount.live value describes; None for the spec-ideal location (or unreadable data)."""
    if not isinstance(stored, dict):
        return None
    try:
        return live_mode_build(
            latency=stored.get("latency"), deviations=stored.get("deviations"), daily_limit=stored.get("daily_limit")
        )
    except (LiveModeError, TypeError, ValueError):
        return None


def location_counter(location: str, what: str = "requests") -> str:
    """The name of a live location's own request counter (requests, or "429"), among the GHL counters of
    /sandbox/_control/stats: what the locations benchmark reads per location."""
    return f"live:{location[:24]}:{what}"


def live_latency_wait(mode: LiveMode) -> float:
    """Wait one drawn latency (uniform between low and high); returns the seconds waited."""
    lo, hi = mode.latency
    seconds = random.uniform(lo, hi) if hi > lo else lo
    if seconds > 0:
        time.sleep(seconds)
    return seconds
