"""Local development and the demo: embedded defaults, generated keys kept in var/."""

from __future__ import annotations

import json

from cryptography.fernet import Fernet
from django.core.management.utils import get_random_secret_key

from .base import *  # noqa: F403
from .base import VAR_DIR, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)


def _local_keys() -> dict[str, str]:
    """Generate the development keys once and keep them in var/ (never committed)."""
    path = VAR_DIR / "dev-keys.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    keys = {"secret_key": get_random_secret_key(), "encryption_key": Fernet.generate_key().decode()}
    path.write_text(json.dumps(keys))
    path.chmod(0o600)
    return keys


def env_or_generated(name: str, generated: str) -> str:
    """The environment's value, else the generated one as it is. Not `env(name, default=generated)`: django-environ
    reads a value starting with "$" as the name of another variable, and a generated secret key starts with "$" about
    one time in fifty (the first command then died in a RecursionError)."""
    return env.str(name, default="") or generated


_keys = _local_keys()
SECRET_KEY = env_or_generated("DJANGO_SECRET_KEY", _keys["secret_key"])
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[_keys["encryption_key"]])
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=True)
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# ---- GoHighLevel OAuth: without a real Marketplace app, "Connect with GoHighLevel" talks to the sandbox.
if SANDBOX_ENABLED and not env("GHL_OAUTH_CLIENT_ID", default=""):
    GHL_OAUTH_CLIENT_ID = "sandbox-client-id"
    GHL_OAUTH_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105  (the sandbox accepts any non-empty secret)
    GHL_OAUTH_AUTHORIZE_URL = "/sandbox/ghl-oauth/authorize"  # relative: the browser stays on this host
    GHL_OAUTH_TOKEN_URL = ""  # "<connection base URL>/oauth/token", i.e. the sandbox's own token endpoint
