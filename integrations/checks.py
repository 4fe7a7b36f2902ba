"""System checks for settings that would fail late or open a hole (`manage.py check`, `check --deploy`).

Always: the Fernet keys and the webhook public keys parse (otherwise every secret write, or every delivery, fails at
run time). On deploy: the sandbox is off (its /sandbox/_control/* endpoints are public and one POSTs to any URL), no
published test key is in use, OAuth and public webhook addresses are https, credentials are not sent over http, and
the rate-limit governor is shared by all processes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

# The keys committed in config/settings/test.py: public, so they protect nothing.
PUBLISHED_TEST_KEYS = frozenset(
    {"Y2RjZGRjZGNkY2RjZGNkY2RjZGNkY2RjZGNkY2RjZGM=", "dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q="}
)
PUBLISHED_TEST_SECRET_KEY = "test-only-secret-key-not-for-production"  # noqa: S105 - the test settings' key, named
FERNET_HINT = (
    'Generate one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


@register(Tags.security)
def check_encryption_keys(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Every FIELD_ENCRYPTION_KEYS entry is a Fernet key (32 url-safe base64 bytes)."""
    errors = []
    for position, key in enumerate(getattr(settings, "FIELD_ENCRYPTION_KEYS", []), start=1):
        try:
            Fernet(str(key).strip().encode())
        except (ValueError, TypeError):
            errors.append(
                Error(
                    f"FIELD_ENCRYPTION_KEYS entry {position} is not a Fernet key: secrets could not be stored or read.",
                    hint=FERNET_HINT,
                    id="integrations.E001",
                )
            )
    return errors


@register(Tags.security)
def check_webhook_keys(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """A configured GHL webhook public key parses (a broken one refuses every delivery with 401)."""
    from integrations.webhooks import signatures

    errors = []
    for name, load in (
        ("GHL_WEBHOOK_ED25519_PUBLIC_KEY", signatures.load_ed25519_public_key),
        ("GHL_WEBHOOK_RSA_PUBLIC_KEY", signatures.load_rsa_public_key),
    ):
        value = getattr(settings, name, "")
        if not value:
            continue
        try:
            load(value)
        except signatures.KeyNotConfigured as e:
            errors.append(Error(f"{e}: every GoHighLevel webhook would be refused.", id="integrations.E002"))
    return errors


def _not_https(value: str) -> bool:
    # Relative URLs (the sandbox's authorize page on this host) and empty values are not addresses elsewhere.
    scheme = urlsplit(value).scheme if value else ""
    return bool(scheme) and scheme != "https"


@register(Tags.security, deploy=True)
def check_deploy_settings(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    """Settings that are fine for the demo and the tests and unsafe on a server."""
    problems: list[Error | Warning] = []
    if getattr(settings, "SANDBOX_ENABLED", False):
        problems.append(
            Error(
                "SANDBOX_ENABLED is on: the fake APIs under /sandbox/ answer anyone, and /sandbox/_control/* "
                "(faults, resets, a server-side POST to any URL) needs no login.",
                hint="Unset SANDBOX_ENABLED (it is off by default in production).",
                id="integrations.E010",
            )
        )
    if PUBLISHED_TEST_KEYS & {str(key).strip() for key in getattr(settings, "FIELD_ENCRYPTION_KEYS", [])}:
        problems.append(
            Error(
                "FIELD_ENCRYPTION_KEYS holds a key published in config/settings/test.py: it protects nothing.",
                hint=FERNET_HINT,
                id="integrations.E011",
            )
        )
    if getattr(settings, "SECRET_KEY", "") == PUBLISHED_TEST_SECRET_KEY:
        problems.append(Error("DJANGO_SECRET_KEY is the test settings' published key.", id="integrations.E012"))
    for name in ("GHL_OAUTH_AUTHORIZE_URL", "GHL_OAUTH_TOKEN_URL", "GHL_OAUTH_REDIRECT_URI"):
        if _not_https(str(getattr(settings, name, ""))):
            problems.append(
                Error(
                    f"{name} is not an https:// address: OAuth codes, tokens or the client secret would travel in "
                    "clear.",
                    id="integrations.E013",
                )
            )
    if _not_https(str(getattr(settings, "WEBHOOK_PUBLIC_BASE_URL", ""))):
        problems.append(
            Warning(
                "WEBHOOK_PUBLIC_BASE_URL is not https: GoHighLevel and StreetText would post personal data in clear.",
                id="integrations.W014",
            )
        )
    if getattr(settings, "CONNECTION_ALLOW_HTTP_HOSTS", []):
        problems.append(
            Warning(
                "CONNECTION_ALLOW_HTTP_HOSTS is set: tokens and API keys for those hosts travel without TLS.",
                hint="Only for a proxy on a trusted network.",
                id="integrations.W015",
            )
        )
    if getattr(settings, "RATE_LIMIT_BACKEND", "auto") in ("local", "off"):
        problems.append(
            Warning(
                f"RATE_LIMIT_BACKEND={settings.RATE_LIMIT_BACKEND}: workers do not share GoHighLevel's rate limit, "
                "so several of them exceed it (429s).",
                hint="Use auto (Redis when RATE_LIMIT_REDIS_URL is set, else the database).",
                id="integrations.W016",
            )
        )
    return problems
