"""Test settings. DATABASE_URL / CELERY_BROKER_URL switch the suite to PostgreSQL and Redis."""

from __future__ import annotations

from pathlib import Path

from .base import *  # noqa: F403
from .base import CELERY_BROKER_URL, DATABASES, VAR_DIR, env, filesystem_broker_options

# Test-only keys, not secrets: they protect nothing outside the test database.
SECRET_KEY = "test-only-secret-key-not-for-production"  # noqa: S105
FIELD_ENCRYPTION_KEYS = ["Y2RjZGRjZGNkY2RjZGNkY2RjZGNkY2RjZGNkY2RjZGM=", "dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q="]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SANDBOX_ENABLED = True
# Tests also start small HTTP servers of their own on the loopback interface (not under /sandbox/).
CONNECTION_ALLOW_HTTP_HOSTS = ["127.0.0.1", "localhost"]
CONNECTION_ALLOW_PRIVATE_HOSTS = ["127.0.0.1", "localhost"]
BROKER_DIR = Path(env("CELERY_BROKER_DIR", default=str(VAR_DIR / "test-broker")))
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(BROKER_DIR)
DEBUG = False
# Test workers run the stale check only when a test sends it (or asks for the worker's own, see postgres_cases.py).
SYNC_STALE_CHECK_SECONDS = env.int("SYNC_STALE_CHECK_SECONDS", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that a real Celery worker process sees the same test database.
    DATABASES["default"]["TEST"] = {"NAME": env("TEST_SQLITE_PATH", default=str(VAR_DIR / "test-db.sqlite3"))}

# ---- GoHighLevel OAuth against the sandbox (tests point connections at live_server).
GHL_OAUTH_CLIENT_ID = "sandbox-client-id"
GHL_OAUTH_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105
GHL_OAUTH_AUTHORIZE_URL = "/sandbox/ghl-oauth/authorize"
GHL_OAUTH_TOKEN_URL = ""  # "<connection base URL>/oauth/token"
