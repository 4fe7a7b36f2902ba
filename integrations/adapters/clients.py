"""Build an API client from a Connection; shared by the adapters and "Test connection"."""

from __future__ import annotations

from typing import TYPE_CHECKING

from integrations.clients.base import BaseClient
from integrations.clients.ghl import GhlClient, TokenProvider
from integrations.clients.streettext import StreetTextClient

if TYPE_CHECKING:
    from integrations.models import Connection


def connection_secret(connection: Connection) -> str:
    """The credential to send: the OAuth access token for OAuth connections, else the stored API secret."""
    if connection.auth_type == "oauth":
        return connection.oauth_access_token
    return connection.api_secret


def ghl_client_for(connection: Connection, *, token_provider: TokenProvider | None = None) -> GhlClient:
    """A GhlClient for a GHL connection (PIT or OAuth). OAuth tokens are refreshed ahead of expiry and on 401."""
    token = connection_secret(connection)
    if connection.auth_type == "oauth":
        from integrations.services.oauth import oauth_access_token, oauth_token_provider

        token = oauth_access_token(connection=connection)
        token_provider = token_provider or oauth_token_provider(connection)
    return GhlClient(
        base_url=connection.base_url,
        token=token,
        location_id=connection.location_id,
        token_provider=token_provider,
    )


def streettext_client_for(connection: Connection) -> StreetTextClient:
    """A StreetTextClient for a StreetText connection."""
    return StreetTextClient(base_url=connection.base_url, api_key=connection_secret(connection))


def client_for(connection: Connection) -> BaseClient:
    """The API client for any connection, chosen by its system."""
    if connection.system == "ghl":
        return ghl_client_for(connection)
    if connection.system == "streettext":
        return streettext_client_for(connection)
    raise LookupError(f"No API client for system {connection.system!r}")
