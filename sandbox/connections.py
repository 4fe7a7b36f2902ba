"""The app's connections to its own sandbox (the demo, the benchmarks and the model check make them alike)."""

from __future__ import annotations

from integrations.models import Connection, System

PATHS = {System.GHL: "/sandbox/ghl", System.STREETTEXT: "/sandbox/streettext"}


def sandbox_connection(*, system: str, name: str, base_url: str, secret: str, location_id: str = "") -> Connection:
    """A saved Connection to the sandbox's GHL (a location, a private integration token) or StreetText (an API key),
    served by this app at `base_url`."""
    ghl = system == System.GHL
    connection = Connection(
        name=name,
        system=system,
        base_url=f"{base_url}{PATHS[System(system)]}",
        location_id=location_id if ghl else "",
        auth_type=Connection.AuthType.PRIVATE_TOKEN if ghl else Connection.AuthType.API_KEY,
    )
    connection.api_secret = secret
    connection.save()
    return connection
