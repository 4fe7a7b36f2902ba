"""Where an API client may send credentials: the rules for a connection's base URL (docs/security.md).

https only; http only for the built-in sandbox or hosts in CONNECTION_ALLOW_HTTP_HOSTS. No user:password in the URL.
Never a link-local or cloud-metadata address; loopback and private addresses only for the built-in sandbox or hosts in
CONNECTION_ALLOW_PRIVATE_HOSTS. The "built-in sandbox" is a path under /sandbox/ on this app's own address (a
host:port in SANDBOX_HOSTS) while SANDBOX_ENABLED is on (demo and tests; a deploy check refuses it in production): the
/sandbox/ prefix alone opens nothing, or any loopback or private service could be handed the key by naming its path so.

A request path (what a client appends to the base URL) must stay under the base URL: `request_path_problem()` refuses
`.`/`..` segments in any spelling (`%2e%2e`, `%252e`, a backslash), checked by every client before it sends.

Checked on input (the admin form and the model field's validator, with a DNS lookup) and again by every client before
it sends anything (without DNS), so a row edited behind the admin's back cannot point a client elsewhere.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MSG_NOT_A_URL = "Enter a full address such as https://services.leadconnectorhq.com."
MSG_SCHEME = (
    "Use an https:// address. http:// is allowed only for the built-in sandbox or for hosts listed in "
    "CONNECTION_ALLOW_HTTP_HOSTS."
)
MSG_CREDENTIALS = "Remove the user name and password from the address: credentials go in the token / API key field."
MSG_QUERY = "The address must not have a query (?…) or a fragment (#…)."
MSG_METADATA = "{host} is a link-local or cloud metadata address: connections cannot use it."
MSG_PRIVATE = (
    "{host} is a loopback or private network address. If the API really is there (a proxy on your network), list "
    "the host in CONNECTION_ALLOW_PRIVATE_HOSTS."
)
MSG_PATH_START = "The path must start with a single / (the connection's base URL comes before it)"
MSG_PATH_DOTS = (
    "The path must not contain . or .. segments (in any spelling, such as %2e%2e) or backslashes: it stays under the "
    "connection's base URL."
)
MSG_PATH_CONTROL = "The path must not contain control characters."

SANDBOX_PATH = "/sandbox/"
# Percent-decoding rounds a path gets before its segments are judged ("%252e" is "%2e" is "."); more is refused.
MAX_DECODE_ROUNDS = 4
# Cloud metadata services by name (AWS, GCP, Azure, Alibaba, Oracle, DigitalOcean use the link-local addresses below).
METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
# Metadata addresses outside the link-local ranges: AWS over IPv6, Alibaba Cloud.
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")})


def _literal_ip(host: str) -> IPAddress | None:
    """The address a host name stands for without DNS: IPv6, dotted IPv4, and the legacy forms the C resolver also
    takes as addresses (2852039166, 0xa9fea9fe, 0251.0376.0251.0376)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def _resolve(host: str, port: int | None) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []  # unknown host: "Test connection" says it is unreachable
    addresses = []
    for info in infos:
        try:
            addresses.append(ipaddress.ip_address(str(info[4][0]).split("%")[0]))
        except ValueError:
            continue
    return addresses


def _unwrap(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        return address.ipv4_mapped or address.sixtofour or address
    return address


def _is_metadata(address: IPAddress) -> bool:
    return address.is_link_local or address in METADATA_ADDRESSES


def _is_private(address: IPAddress) -> bool:
    # Not globally routable: loopback, RFC 1918, shared (100.64/10), unique-local, reserved, unspecified; and multicast.
    return not address.is_global or address.is_multicast


def _listed(host: str, setting: str) -> bool:
    return host in {name.strip().lower().rstrip(".") for name in getattr(settings, setting, [])}


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _own_sandbox(parts: Any, host: str) -> bool:
    """The built-in sandbox: SANDBOX_ENABLED, a path under /sandbox/, and this app's own host:port (SANDBOX_HOSTS)."""
    if not settings.SANDBOX_ENABLED or not (parts.path.rstrip("/") + "/").startswith(SANDBOX_PATH):
        return False
    own = f"{host}:{parts.port or _default_port(parts.scheme)}"
    listed = {str(entry).strip().lower().rstrip(".") for entry in getattr(settings, "SANDBOX_HOSTS", [])}
    return own in listed


def base_url_problem(url: str, *, resolve: bool = False) -> str | None:
    """Why credentials must not be sent to `url` (a message for the user), or None when the address is acceptable.

    `resolve` also checks the addresses the host name resolves to (input validation); clients check without DNS.
    """
    try:
        parts = urlsplit(str(url).strip())
        port = parts.port
    except ValueError:
        return MSG_NOT_A_URL
    host = (parts.hostname or "").rstrip(".").lower()
    if parts.scheme not in ("http", "https") or not host:
        return MSG_SCHEME if parts.scheme and parts.scheme not in ("http", "https") else MSG_NOT_A_URL
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return MSG_CREDENTIALS
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        return MSG_QUERY
    sandbox = _own_sandbox(parts, host)
    if parts.scheme == "http" and not (sandbox or _listed(host, "CONNECTION_ALLOW_HTTP_HOSTS")):
        return MSG_SCHEME
    if host in METADATA_HOSTS:
        return MSG_METADATA.format(host=host)
    literal = _literal_ip(host)
    addresses = [literal] if literal is not None else (_resolve(host, port) if resolve else [])
    if literal is None and (host == "localhost" or host.endswith(".localhost")):
        addresses.append(ipaddress.ip_address("127.0.0.1"))
    for address in (_unwrap(a) for a in addresses):
        if _is_metadata(address):
            return MSG_METADATA.format(host=host)
        if _is_private(address) and not (sandbox or _listed(host, "CONNECTION_ALLOW_PRIVATE_HOSTS")):
            return MSG_PRIVATE.format(host=host)
    return None


def validate_base_url(value: str) -> None:
    """Django validator for a connection's base URL (model field and admin form; resolves the host)."""
    problem = base_url_problem(value, resolve=True)
    if problem:
        raise ValidationError(problem, code="base_url")


def request_path_problem(path: str) -> str | None:
    """Why `path` must not be appended to a base URL (a message for the user), or None.

    The path is percent-decoded until it no longer changes (a server or proxy may decode it once more than we do)
    and must then have no `.`/`..` segment and no backslash (which some servers read as /), so it cannot climb out
    of the base URL's path (`/../_control/stats` from `/sandbox/ghl`). The query string is not judged."""
    if not path.startswith("/") or path.startswith("//"):
        return MSG_PATH_START
    decoded = path.split("?", 1)[0]
    for _ in range(MAX_DECODE_ROUNDS):
        once = unquote(decoded, errors="replace")
        if once == decoded:
            break
        decoded = once
    else:
        return MSG_PATH_DOTS
    if any(ord(c) < 32 or ord(c) == 127 for c in decoded):
        return MSG_PATH_CONTROL
    if "\\" in decoded or any(segment in (".", "..") for segment in decoded.split("/")):
        return MSG_PATH_DOTS
    return None
