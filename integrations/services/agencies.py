"""GoHighLevel agency installs: list an agency's locations and keep one connection per chosen location.

An agency (Company) installs the Marketplace app once ("Connect a GoHighLevel agency", integrations/services/oauth.py
`oauth_agency_authorize_url`). Its locations come from `GET /locations/search?companyId=…`; each chosen location becomes
a Connection with its own location token (`POST /oauth/locationToken`), renewed on its own from the agency's token
when it expires (oauth.py `_location_refresh`). More locations can be chosen from the same list later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from integrations.clients import exceptions as exc
from integrations.clients.ghl_agency import GhlAgencyClient
from integrations.models import Connection, GhlAgency, System
from integrations.services import oauth

logger = logging.getLogger(__name__)

AGENCY_LOCATION_CONNECTED = "Connected through the agency “{agency}” (location token from the agency's token)."
LOCATIONS_CONNECTED = "{count} location(s) connected: {names}."
LOCATIONS_ALREADY = "Already connected (left as they are): {names}."
LOCATION_FAILED = "{name}: no location token: {error}"
LOCATIONS_NONE_CHOSEN = "Choose at least one location."
LOCATIONS_UNKNOWN = "Not a location of this agency (the list may have changed; nothing was done for them): {ids}."
LOCATIONS_CUT = "The agency has more than {count} locations; the first {count} are listed."


@dataclass(frozen=True)
class AgencyLocation:
    id: str
    name: str
    address: str
    connection: Connection | None


@dataclass(frozen=True)
class ConnectOutcome:
    connected: list[Connection]
    already: list[Connection]
    failed: list[str]  # messages
    unknown: list[str]  # ids not in the agency's list


def agency_create(*, name: str, base_url: str) -> GhlAgency:
    agency = GhlAgency(name=name, base_url=base_url)
    agency.full_clean()
    agency.save()
    return agency


def agency_client(*, agency: GhlAgency) -> GhlAgencyClient:
    def provider(*, force: bool = False) -> str:
        return oauth.agency_access_token(agency=agency, force=force)

    return GhlAgencyClient(
        base_url=agency.base_url,
        token=oauth.agency_access_token(agency=agency),
        company_id=agency.company_id,
        token_provider=provider,
    )


def agency_locations(*, agency: GhlAgency) -> tuple[list[AgencyLocation], bool]:
    """The agency's locations, each with its connection if it has one; True as well when the list was cut short."""
    if not agency.company_id:
        raise exc.ApiAuthError(oauth.OAUTH_AGENCY_NOT_CONNECTED)
    found, cut = agency_client(agency=agency).all_locations()
    connections = {c.location_id: c for c in Connection.objects.filter(agency=agency)}
    locations = []
    for item in found:
        location_id = str(item.get("id") or item.get("_id") or "")
        if not location_id:
            continue
        address = ", ".join(str(item[k]) for k in ("address", "city", "country") if item.get(k))
        name = str(item.get("name") or location_id)
        locations.append(AgencyLocation(location_id, name, address, connections.get(location_id)))
    return locations, cut


def agency_connect_locations(*, agency: GhlAgency, location_ids: list[str]) -> ConnectOutcome:
    """One connection per chosen location, each with its own location token; chosen ones already connected stay.

    The agency's list is read again first: only its own locations are connected, under the names GHL gives them.
    No API call runs inside a transaction: each token is obtained first, then its connection is saved.
    """
    listed = {location.id: location for location in agency_locations(agency=agency)[0]}
    chosen = list(dict.fromkeys(i for i in location_ids if i))
    outcome = ConnectOutcome(connected=[], already=[], failed=[], unknown=[i for i in chosen if i not in listed])
    for location_id in chosen:
        location = listed.get(location_id)
        if location is None:
            continue
        if location.connection is not None:
            outcome.already.append(location.connection)
            continue
        try:
            grant = oauth.oauth_location_grant(agency=agency, location_id=location_id)
        except exc.ApiError as e:
            outcome.failed.append(LOCATION_FAILED.format(name=location.name, error=e))
            continue
        outcome.connected.append(_connection_create(agency=agency, location=location, grant=grant))
    logger.info(
        "Agency %s: %d location(s) connected, %d already, %d failed",
        agency.pk,
        len(outcome.connected),
        len(outcome.already),
        len(outcome.failed),
    )
    return outcome


def _connection_create(*, agency: GhlAgency, location: AgencyLocation, grant: oauth.TokenGrant) -> Connection:
    with transaction.atomic():
        existing = Connection.objects.select_for_update().filter(agency=agency, location_id=location.id).first()
        if existing is not None:  # chosen twice at once (two tabs): the first one stays
            return existing
        connection = Connection(
            name=location.name,
            system=System.GHL,
            base_url=agency.base_url,
            location_id=location.id,
            auth_type=Connection.AuthType.OAUTH,
            agency=agency,
            oauth_user_type=oauth.USER_TYPE_LOCATION,
            oauth_company_id=agency.company_id,
            status=Connection.Status.OK,
            status_detail=AGENCY_LOCATION_CONNECTED.format(agency=agency.name),
            status_checked_at=timezone.now(),
        )
        oauth.oauth_store_access(connection, grant)
        connection.full_clean()
        connection.save()
    return connection
