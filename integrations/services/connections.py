"""Connection services: save with write-only secrets, test, mark status."""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from integrations import crypto
from integrations.clients import exceptions as exc
from integrations.clients.ghl import GHL_NO_LOCATION_ACCESS
from integrations.models import Connection, GhlAgency, System
from integrations.services.connection_status import connection_mark, connection_needs_reauth

logger = logging.getLogger(__name__)

TEST_OK_GHL = "OK: the token is accepted and location {location} is reachable."
TEST_OK_STREETTEXT = "OK: the API key is accepted by workspace {workspace}."
TEST_TOKEN_REJECTED = "Token rejected: GoHighLevel answered 401. Paste a new Private Integration Token or reconnect."
TEST_LOCATION_FORBIDDEN = (
    "Location not found for this token: GoHighLevel answered {status}. Check the location id and that the token "
    "belongs to that sub-account."
)
TEST_KEY_REJECTED = "API key rejected: StreetText answered {status}. Paste a new API key."
TEST_NOT_FOUND = "Not found (404): the base URL or the location id is wrong."
TEST_UNREACHABLE = "Host unreachable: {base_url} could not be reached."
TEST_TIMEOUT = "Host did not answer in time: {base_url}."
TEST_NO_SECRET = "No credentials stored yet: enter the token or API key first."
TEST_FAILED = "Test failed: {error}"
TEST_CREDENTIALS_UNUSABLE = (
    "The stored token or API key contains characters that cannot be sent (only printable ASCII is allowed): "
    "enter it again."
)
TEST_CRASHED = "Test failed: an unexpected error ({kind}); the details are in the server log."
SECRET_NOT_ASCII = (
    "Only printable ASCII characters are allowed (letters, digits and symbols, no spaces). The value contains "
    "{what}: paste it again from the source, or type it."
)
SECRET_TOO_LONG = "At most {limit} characters."
SECRET_MAX_LENGTH = 4096


@dataclass(frozen=True)
class ConnectionTestResult:
    ok: bool
    message: str


def _describe(char: str) -> str:
    if char.isspace():
        return "a space"
    if unicodedata.category(char) in ("Cf", "Cc", "Zs", "Zl", "Zp"):
        return f"an invisible character ({unicodedata.name(char, f'U+{ord(char):04X}').lower()})"
    return f"the character “{char}”"


def secret_validate(secret: str) -> None:
    """A token, API key or webhook secret must be printable ASCII: it goes into an HTTP header or an HMAC, and a pasted
    zero-width space or curly quote would make it unusable (and, in an exception, visible). Raises ValidationError."""
    if len(secret) > SECRET_MAX_LENGTH:
        raise ValidationError(SECRET_TOO_LONG.format(limit=SECRET_MAX_LENGTH), code="secret_length")
    bad = next((char for char in secret if not 0x20 < ord(char) < 0x7F), None)
    if bad is not None:
        raise ValidationError(SECRET_NOT_ASCII.format(what=_describe(bad)), code="secret_characters")


def connection_set_secret(*, connection: Connection, secret: str) -> Connection:
    """Store a new PIT or API key, encrypted. An empty value keeps the stored one (the field is write-only).

    Raises ValidationError when the value cannot be sent (see `secret_validate`)."""
    if secret:
        secret_validate(secret.strip())
        connection.api_secret = secret.strip()
        connection.status = Connection.Status.UNTESTED
        connection.status_detail = ""
    return connection


def connection_test(*, connection: Connection) -> ConnectionTestResult:
    """Call a cheap endpoint and say clearly what happened; the outcome is stored on the connection."""
    from integrations.adapters.clients import ghl_client_for, streettext_client_for

    if not connection.has_secret:
        return ConnectionTestResult(False, TEST_NO_SECRET)
    try:
        if connection.system == System.GHL:
            location = ghl_client_for(connection).get_location()
            result = ConnectionTestResult(True, TEST_OK_GHL.format(location=location.get("name") or location.get("id")))
        else:
            workspace = streettext_client_for(connection).get_workspace()
            result = ConnectionTestResult(
                True, TEST_OK_STREETTEXT.format(workspace=workspace.get("name") or workspace.get("id"))
            )
    except exc.ApiCredentialsUnusable:
        result = ConnectionTestResult(False, TEST_CREDENTIALS_UNUSABLE)
    except exc.ApiLocationForbidden as e:
        result = ConnectionTestResult(False, str(e))
    except exc.ApiAuthError as e:
        if connection.system == System.GHL:
            message = (
                TEST_TOKEN_REJECTED if e.status_code == 401 else TEST_LOCATION_FORBIDDEN.format(status=e.status_code)
            )
        else:
            message = TEST_KEY_REJECTED.format(status=e.status_code)
        result = ConnectionTestResult(False, message)
    except exc.ApiNotFound:
        result = ConnectionTestResult(False, TEST_NOT_FOUND)
    except exc.ApiTimeout:
        result = ConnectionTestResult(False, TEST_TIMEOUT.format(base_url=connection.base_url))
    except exc.ApiConnectionError:
        result = ConnectionTestResult(False, TEST_UNREACHABLE.format(base_url=connection.base_url))
    except exc.ApiError as e:
        result = ConnectionTestResult(False, TEST_FAILED.format(error=e))
    except crypto.SecretDecryptionError as e:
        result = ConnectionTestResult(False, str(e))
    except Exception as e:  # a button in the admin answers in words, never with a 500 page
        # The traceback goes to the log through the redacting filter; the page only names the kind of error.
        logger.exception("Test connection of connection %s failed unexpectedly", connection.pk)
        result = ConnectionTestResult(False, TEST_CRASHED.format(kind=type(e).__name__))
    if result.ok:
        connection_mark(connection=connection, status=Connection.Status.OK, detail=result.message)
    elif (
        "rejected" in result.message
        or GHL_NO_LOCATION_ACCESS in result.message
        or "Location not found" in result.message
        or result.message == (TEST_CREDENTIALS_UNUSABLE)
    ):
        connection_needs_reauth(connection=connection, detail=result.message)
    else:
        connection_mark(connection=connection, status=Connection.Status.ERROR, detail=result.message)
    return result


@transaction.atomic
def connection_rotate_secrets() -> int:
    """Re-encrypt every stored secret with the first FIELD_ENCRYPTION_KEYS key. Returns the number of rows changed."""
    changed = 0
    # Connections, and the agencies whose tokens give their locations theirs.
    for model in (Connection, GhlAgency):
        for row in model.objects.select_for_update().all():
            dirty = []
            for name in model.ENCRYPTED_FIELDS:
                value = getattr(row, name)
                if value:
                    setattr(row, name, crypto.rotate(value))
                    dirty.append(name)
            if dirty:
                row.save(update_fields=dirty)
                changed += 1
    return changed
