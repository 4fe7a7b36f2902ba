"""GoHighLevel calls made with an agency (Company) token: the agency's locations.

Location APIs do not take an agency token; each chosen location gets a location token of its own
(integrations/clients/ghl_oauth.py `location_token`). Reference: github.com/GoHighLevel/highlevel-api-docs
apps/locations.json, GET /locations/search (security Agency-Access, scope locations.readonly).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from integrations.clients.ghl import GhlClient, TokenProvider
from integrations.ratelimit import RatePolicy

# GET /locations/search answers at most this many a page ("limit"; GHL's default is 10).
LOCATION_PAGE_SIZE = 100
# An agency with more locations than this is listed in part (the page says so).
MAX_LOCATIONS = 2000


class GhlAgencyClient(GhlClient):
    """An agency-scoped client; GHL's burst limit counts per resource, here the company (docs/ghl-facts.md)."""

    LOCATIONS_SEARCH_PATH = "/locations/search"

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        company_id: str,
        timeout: tuple[float, float] | None = None,
        token_provider: TokenProvider | None = None,
    ) -> None:
        super().__init__(base_url=base_url, token=token, location_id="", timeout=timeout, token_provider=token_provider)
        self.company_id = company_id

    def rate_limit_key(self) -> str | None:
        return f"ghl-company:{self.company_id}"

    def rate_limit_policy(self) -> RatePolicy | None:
        policy = super().rate_limit_policy()
        return None if policy is None else replace(policy, key=f"ghl-company:{self.company_id}")

    def search_locations(self, *, skip: int = 0, limit: int = LOCATION_PAGE_SIZE) -> list[dict[str, Any]]:
        """One page of the agency's locations: [{id, name, address, city, email, …}]."""
        path = self.LOCATIONS_SEARCH_PATH
        params = {"companyId": self.company_id, "skip": str(skip), "limit": str(limit), "order": "asc"}
        return self._items(self._call("locations", "GET", path, params=params), "locations", path)

    def all_locations(self) -> tuple[list[dict[str, Any]], bool]:
        """Every location of the agency, page by page; True as well when MAX_LOCATIONS cut the list short."""
        found: list[dict[str, Any]] = []
        while len(found) < MAX_LOCATIONS:
            page = self.search_locations(skip=len(found))
            found.extend(page)
            if len(page) < LOCATION_PAGE_SIZE:
                return found, False
        return found[:MAX_LOCATIONS], True
