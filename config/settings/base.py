"""Settings shared by every environment. Values come from the environment (django-environ)."""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=False):
    env.read_env(str(BASE_DIR / ".env"))

# ------------------------------------------------------------------------------
# General
# ------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=False)
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = True
USE_TZ = True
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ------------------------------------------------------------------------------
# Email: alerts go to ADMINS (or, if unset, to superusers with an address).
# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-email-url
# ------------------------------------------------------------------------------
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", default="StreetSync <streetsync@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_SUBJECT_PREFIX = "[StreetSync] "
ADMINS = [("Admin", email) for email in env.list("DJANGO_ADMIN_EMAILS", default=[])]
# A mapping whose runs fail this many times in a row sends one alert.
ALERT_FAILED_RUNS = env.int("ALERT_FAILED_RUNS", default=3)

# ------------------------------------------------------------------------------
# Database: SQLite by default, PostgreSQL (or any dj-database-url) with DATABASE_URL
# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-db-url
# ------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
# Seconds a connection is kept between requests (0: one per request). Long-lived for a server answering many small
# requests, e.g. the sandbox in `manage.py benchmark`.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=0)
# No ATOMIC_REQUESTS: some admin pages call the APIs (test connection, preview), and network calls must not run
# inside a transaction (with SQLite's IMMEDIATE mode that would also hold the write lock). Services open short
# atomic blocks themselves; the admin's own save views are atomic anyway.
# A connection is checked before it is reused (after a database restart it may be dead).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if "postgresql" in DATABASES["default"]["ENGINE"]:
    # A server that vanished without closing its connections (a crashed host, a dropped network path, a restarted
    # container) must not leave a worker waiting for an answer for ever: connecting gives up after
    # DATABASE_CONNECT_TIMEOUT s, and TCP keepalives plus a TCP user timeout end a dead connection after about
    # DATABASE_DEAD_AFTER_SECONDS s (libpq parameters: https://www.postgresql.org/docs/current/libpq-connect.html).
    _dead_after = env.int("DATABASE_DEAD_AFTER_SECONDS", default=30)
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options.setdefault("connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=10))
    _options.setdefault("keepalives", 1)
    _options.setdefault("keepalives_idle", max(1, _dead_after // 3))
    _options.setdefault("keepalives_interval", max(1, _dead_after // 6))
    _options.setdefault("keepalives_count", 3)
    _options.setdefault("tcp_user_timeout", _dead_after * 1000)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one SQLite file: wait for locks instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

# ------------------------------------------------------------------------------
# Apps
# ------------------------------------------------------------------------------
INSTALLED_APPS = [
    "integrations.admin_apps.StreetSyncAdminConfig",  # django.contrib.admin with the StreetSync site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_celery_beat",
    "integrations",
    "mappings",
    "automations",
    "configs",
    "alerts",
    "sandbox",
]

MIDDLEWARE = [
    # /healthz, answered before host validation and the HTTPS redirect (integrations/ops_views.py).
    "integrations.ops_views.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Text no page can store (NUL, lone surrogates) in any parameter, form value or path: a 400 naming the field.
    "integrations.middleware.BadInputMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

STATIC_URL = "static/"
# Where `manage.py collectstatic` puts the files that WhiteNoise serves in production (docs/deploy.md).
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", default=str(VAR_DIR / "static")))

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# ------------------------------------------------------------------------------
# Secrets at rest: Fernet keys, newest first. Old keys stay to decrypt until
# `manage.py rotate_secrets` has re-encrypted everything with the first one.
# https://cryptography.io/en/latest/fernet/#cryptography.fernet.MultiFernet
# ------------------------------------------------------------------------------
FIELD_ENCRYPTION_KEYS: list[str] = env.list("FIELD_ENCRYPTION_KEYS", default=[])

# ------------------------------------------------------------------------------
# Celery: https://docs.celeryq.dev/en/stable/userguide/configuration.html
# Default broker is kombu's filesystem transport: no server needed.
# ------------------------------------------------------------------------------


def filesystem_broker_options(broker_dir: Path) -> dict[str, object]:
    """kombu's filesystem transport options for one folder (created here: the transport expects it to exist)."""
    for folder in ("queue", "processed", "control"):
        (broker_dir / folder).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(broker_dir / "queue"),
        "data_folder_out": str(broker_dir / "queue"),
        "processed_folder": str(broker_dir / "processed"),
        "control_folder": str(broker_dir / "control"),
        "store_processed": False,
    }


BROKER_DIR = Path(env("CELERY_BROKER_DIR", default=str(VAR_DIR / "broker")))
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(BROKER_DIR)
    # kombu's filesystem transport, polling in short slices so a worker stops within honcho's grace (Ctrl-C).
    CELERY_BROKER_TRANSPORT = "integrations.broker:FilesystemTransport"
# The queue tasks are sent to and workers read when given no -Q (Celery's own default: "celery").
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 60 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 55 * 60
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# django-celery-beat's DatabaseScheduler, which also writes beat's heartbeat for /healthz (integrations/heartbeats.py).
CELERY_BEAT_SCHEDULER = "integrations.heartbeats:HeartbeatScheduler"
# Task modules outside an app package (autodiscover_tasks only looks at INSTALLED_APPS).
CELERY_IMPORTS = ["integrations.webhooks.tasks", "integrations.catalog.tasks"]

# ------------------------------------------------------------------------------
# GoHighLevel
# ------------------------------------------------------------------------------
GHL_DEFAULT_BASE_URL = "https://services.leadconnectorhq.com"
# Seconds: (connect, read) for every API call.
API_TIMEOUT = (env.float("API_CONNECT_TIMEOUT", default=5.0), env.float("API_READ_TIMEOUT", default=30.0))
# Seconds an admin page waits for a connection's custom fields before showing ids (integrations/custom_fields.py).
CUSTOM_FIELDS_PAGE_WAIT_SECONDS = env.float("CUSTOM_FIELDS_PAGE_WAIT_SECONDS", default=1.0)
# Transport retries for idempotent calls (GET/PUT/DELETE); see integrations/clients/base.py.
API_TRANSPORT_RETRIES = env.int("API_TRANSPORT_RETRIES", default=3)
API_BACKOFF_FACTOR = env.float("API_BACKOFF_FACTOR", default=0.5)

# Where connections may send credentials (integrations/clients/addresses.py, docs/security.md): https only, never to
# link-local / cloud-metadata addresses, not to loopback or private addresses. The built-in sandbox (a /sandbox/ path
# while SANDBOX_ENABLED) is exempt from the https and private rules; these lists name other hosts that are.
CONNECTION_ALLOW_HTTP_HOSTS: list[str] = env.list("CONNECTION_ALLOW_HTTP_HOSTS", default=[])
CONNECTION_ALLOW_PRIVATE_HOSTS: list[str] = env.list("CONNECTION_ALLOW_PRIVATE_HOSTS", default=[])

# ------------------------------------------------------------------------------
# Sync engine
# ------------------------------------------------------------------------------
SYNC_PAGE_SIZE = env.int("SYNC_PAGE_SIZE", default=100)
# Fair turns between locations: a run of the change feed gives its worker up after a page when another location's run
# waits, and is queued again behind it (integrations/services/sync/run.py). Off: every run keeps its worker to the end.
SYNC_FAIR_TURNS = env.bool("SYNC_FAIR_TURNS", default=True)
# Writes of one page a run sends at once (integrations/services/sync/lanes.py): GHL answers in 150-600 ms, so one
# request at a time uses a third of its 10 / s. Each still takes a slot from the shared rate-limit governor first;
# a record's writes stay one after the other. 1 = one request at a time, as before.
SYNC_WRITE_CONCURRENCY = env.int("SYNC_WRITE_CONCURRENCY", default=8)
# A running sync whose heartbeat is older than this is considered dead (worker killed).
SYNC_STALE_AFTER_SECONDS = env.int("SYNC_STALE_AFTER_SECONDS", default=300)
# Every worker also runs the stale check itself this often, on a thread of its own: beat's message can wait behind the
# runs a stuck worker holds (integrations/housekeeping.py). 0 = beat's message only.
SYNC_STALE_CHECK_SECONDS = env.int("SYNC_STALE_CHECK_SECONDS", default=60)
# A run whose database connection died waits this long for the database to answer again, then its task retries it.
SYNC_DATABASE_WAIT_SECONDS = env.float("SYNC_DATABASE_WAIT_SECONDS", default=60.0)
# PostgreSQL: a sync run's session commits asynchronously (synchronous_commit off; a record link is committed right
# after each create). A worker crash loses nothing committed; a database server crash may lose its last ~0.6 s of
# commits (docs/reliability.md). False: every commit waits for the disk.
SYNC_ASYNC_COMMIT = env.bool("SYNC_ASYNC_COMMIT", default=True)
# Keep a history row for every unchanged record seen again on a rescan (debugging); off: they are only counted.
SYNC_HISTORY_KEEP_UNCHANGED = env.bool("SYNC_HISTORY_KEEP_UNCHANGED", default=False)
# Record history older than this many days is deleted by a daily task (0 = keep for ever).
SYNC_HISTORY_RETENTION_DAYS = env.int("SYNC_HISTORY_RETENTION_DAYS", default=90)
# GHL notes and appointments have no location-wide listing: a scheduled run lists every contact's (one request per
# contact) at most once per this many hours; webhooks keep them fresh in between. Manual runs always scan.
# GHL notes and appointments have no location-wide listing (one request per contact): scheduled runs scan a slice of
# the contacts each, sized to the location's daily budget (integrations/services/budget.py), so that a full pass takes
# at least this many hours; webhooks keep them fresh in between. Manual runs finish the pass under way. 0 = no pacing:
# every scheduled run reads every contact (small test installs only).
SYNC_CHILD_RESCAN_HOURS = env.float("SYNC_CHILD_RESCAN_HOURS", default=24.0)
# GHL tasks: a full listing (one request per 100 tasks) at most once per this many hours; the task webhooks keep them
# fresh in between (GHL's task search has no updated-since filter, docs/ghl-facts.md). Manual runs always list.
SYNC_TASK_RESCAN_HOURS = env.float("SYNC_TASK_RESCAN_HOURS", default=24.0)
# GHL's daily request limit per location when it has not reported one yet (X-RateLimit-Limit-Daily).
GHL_DAILY_LIMIT = env.int("GHL_DAILY_LIMIT", default=200_000)
# Of a location's daily budget (Connection.daily_budget_percent of the limit), the share the per-contact scans may
# spend, split between the mappings that scan; the rest is kept for webhook-driven and manual runs, the change feeds,
# task listings, deletion checks and automation polls, which are never deferred.
GHL_BUDGET_SCAN_SHARE = env.float("GHL_BUDGET_SCAN_SHARE", default=0.6)
# Deletion checks of a GHL source (one listing request per 500 contacts, per 100 tasks) run no more often than keeps
# their daily cost within this share of the location's budget (more rarely than deletion_check_minutes says, at scale).
GHL_BUDGET_DELETION_SHARE = env.float("GHL_BUDGET_DELETION_SHARE", default=0.1)
# A scan's unspent allowance is kept for at most this many hours (a paused schedule does not save up a day's burst).
GHL_BUDGET_CREDIT_HOURS = env.float("GHL_BUDGET_CREDIT_HOURS", default=2.0)
# A create whose answer was lost (timeout) may still land: the retry looks for it on the target for up to this many
# seconds after it was sent before creating again.
SYNC_CREATE_IN_DOUBT_WAIT_SECONDS = env.float("SYNC_CREATE_IN_DOUBT_WAIT_SECONDS", default=30.0)
# A pending run not claimed this long after it was due (requested, or its retry's countdown ran out) lost its task
# (a worker stopped while holding the message): the stale check re-sends it, at most SYNC_PENDING_MAX_REQUEUES times,
# then ends it stale so the mapping can run again (integrations/services/runs.py, docs/reliability.md).
SYNC_PENDING_GRACE_SECONDS = env.int("SYNC_PENDING_GRACE_SECONDS", default=120)
SYNC_PENDING_MAX_REQUEUES = env.int("SYNC_PENDING_MAX_REQUEUES", default=3)
# run_sync_task's autoretry after a transient API error: countdown = random(0, backoff * 2^retry) up to the max.
SYNC_RETRY_BACKOFF_SECONDS = env.int("SYNC_RETRY_BACKOFF_SECONDS", default=5)
SYNC_RETRY_BACKOFF_MAX_SECONDS = env.int("SYNC_RETRY_BACKOFF_MAX_SECONDS", default=300)
SYNC_RETRY_JITTER = env.bool("SYNC_RETRY_JITTER", default=True)
SYNC_MAX_RETRIES = env.int("SYNC_MAX_RETRIES", default=5)

# ------------------------------------------------------------------------------
# Automations (docs/automations.md)
# ------------------------------------------------------------------------------
# A poll reads at most this many pages of its trigger; the next poll continues from the page after (nothing is missed
# or read twice: the position is stored with each page).
AUTOMATION_MAX_PAGES_PER_POLL = env.int("AUTOMATION_MAX_PAGES_PER_POLL", default=50)
# A wait step waits at most this many days, whatever its duration or date says (docs/automations.md).
AUTOMATION_WAIT_MAX_DAYS = env.int("AUTOMATION_WAIT_MAX_DAYS", default=365)
# The every-minute resume of waits that ended hands at most this many items per automation to one poll.
AUTOMATION_RESUME_BATCH = env.int("AUTOMATION_RESUME_BATCH", default=500)
# A webhook's poll starts this many seconds after the webhook: GoHighLevel's search shows a change a few seconds late.
AUTOMATION_EVENT_DELAY_SECONDS = env.int("AUTOMATION_EVENT_DELAY_SECONDS", default=5)
# A webhook that finds its automation's poll already running asks again this often, this many times.
AUTOMATION_EVENT_RETRY_SECONDS = env.int("AUTOMATION_EVENT_RETRY_SECONDS", default=15)
AUTOMATION_EVENT_RETRIES = env.int("AUTOMATION_EVENT_RETRIES", default=8)

# ------------------------------------------------------------------------------
# Incoming webhooks (docs/webhooks.md)
# ------------------------------------------------------------------------------
# GHL x-ghl-signature key, shown in the Marketplace app settings: PEM, or base64 of the 32 raw bytes. Empty = only
# x-wh-signature (RSA) deliveries are accepted.
GHL_WEBHOOK_ED25519_PUBLIC_KEY = env("GHL_WEBHOOK_ED25519_PUBLIC_KEY", default="")
# GHL x-wh-signature key (PEM). Empty = the key GHL publishes, shipped in integrations/webhooks/keys/
# (docs/ghl-facts.md);
# set this when GHL announces a rotation.
GHL_WEBHOOK_RSA_PUBLIC_KEY = env("GHL_WEBHOOK_RSA_PUBLIC_KEY", default="")
# Deliveries whose signed timestamp is older (or further in the future) than this are refused.
GHL_WEBHOOK_MAX_AGE_SECONDS = env.int("GHL_WEBHOOK_MAX_AGE_SECONDS", default=300)
STREETTEXT_WEBHOOK_MAX_AGE_SECONDS = env.int("STREETTEXT_WEBHOOK_MAX_AGE_SECONDS", default=300)
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=256 * 1024)
# Accepted deliveries per connection per minute; more get 429 with Retry-After (GHL and StreetText retry those).
WEBHOOK_MAX_PER_MINUTE = env.int("WEBHOOK_MAX_PER_MINUTE", default=600)
# Bodies nested deeper than this are refused (GHL and StreetText events are a few levels deep).
WEBHOOK_MAX_JSON_DEPTH = env.int("WEBHOOK_MAX_JSON_DEPTH", default=32)
# Public address shown in the admin's webhook URLs (e.g. https://sync.example.com). Empty = the admin's own address.
WEBHOOK_PUBLIC_BASE_URL = env("WEBHOOK_PUBLIC_BASE_URL", default="")
# Delivery records (the replay guard and audit list) are deleted after this many days.
# Deepest JSON any form or raw request takes (integrations/input_checks.py); webhooks have their own limit.
INPUT_MAX_JSON_DEPTH = env.int("INPUT_MAX_JSON_DEPTH", default=32)
WEBHOOK_DELIVERY_KEEP_DAYS = env.int("WEBHOOK_DELIVERY_KEEP_DAYS", default=30)

# ------------------------------------------------------------------------------
# Built-in sandbox of both APIs (demo and tests only)
# ------------------------------------------------------------------------------
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=False)
# This app's own address(es) as host:port: only a /sandbox/ URL on one of these is "the built-in sandbox" that may be
# reached over http on a loopback address (integrations/clients/addresses.py). The web server's HOST and PORT (as
# scripts/run and the Procfile use them) by default.
_SANDBOX_PORT = env("PORT", default="8000")
SANDBOX_HOSTS: list[str] = env.list(
    "SANDBOX_HOSTS",
    default=sorted(
        {
            f"{env('HOST', default='127.0.0.1')}:{_SANDBOX_PORT}",
            f"127.0.0.1:{_SANDBOX_PORT}",
            f"localhost:{_SANDBOX_PORT}",
        }
    ),
)
SANDBOX_RATE_LIMIT = env.int("SANDBOX_RATE_LIMIT", default=100)
SANDBOX_RATE_WINDOW_SECONDS = env.float("SANDBOX_RATE_WINDOW_SECONDS", default=10.0)

# ------------------------------------------------------------------------------
# Logging: secrets are scrubbed by integrations.logging.RedactingFilter
# ------------------------------------------------------------------------------
# LOG_FORMAT=json: one JSON object per line (time, level, logger, message, exception) for a log collector.
LOG_FORMAT = env("LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "integrations.logging.RedactingFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "integrations.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["redact"],
        }
    },
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {"django.server": {"level": "WARNING"}},
}

# ------------------------------------------------------------------------------
# GoHighLevel OAuth: one Marketplace app per deployment, installed on many locations.
# https://marketplace.gohighlevel.com/docs/Authorization/OAuth2.0 (docs/ghl-facts.md#authentication)
# ------------------------------------------------------------------------------
GHL_OAUTH_CLIENT_ID = env("GHL_OAUTH_CLIENT_ID", default="")
GHL_OAUTH_CLIENT_SECRET = env("GHL_OAUTH_CLIENT_SECRET", default="")
GHL_OAUTH_AUTHORIZE_URL = env(
    "GHL_OAUTH_AUTHORIZE_URL", default="https://marketplace.gohighlevel.com/v2/oauth/chooselocation"
)
# Empty = "<connection base URL>/oauth/token" (GHL's token URL is on the API host).
GHL_OAUTH_TOKEN_URL = env("GHL_OAUTH_TOKEN_URL", default="https://services.leadconnectorhq.com/oauth/token")
# Empty = built from the request: https://<host>/oauth/ghl/callback. Must match the app's registered redirect URL.
GHL_OAUTH_REDIRECT_URI = env("GHL_OAUTH_REDIRECT_URI", default="")
# What "Connect with GoHighLevel" asks for: the sync's scopes plus every scope the spec names for an operation of the
# catalog (integrations/catalog/; a test keeps this list covering them). The Marketplace app must offer them all.
GHL_OAUTH_SCOPES: list[str] = env.list(
    "GHL_OAUTH_SCOPES",
    default=[
        "contacts.readonly",
        "contacts.write",
        "locations.readonly",
        "locations.write",
        "locations/customFields.readonly",
        "locations/tags.readonly",
        "locations/tags.write",
        "locations/tasks.readonly",
        "businesses.readonly",
        "businesses.write",
        "calendars.readonly",
        "calendars.write",
        "calendars/events.readonly",
        "calendars/events.write",
        "calendars/groups.readonly",
        "calendars/groups.write",
        "calendars/resources.readonly",
        "calendars/resources.write",
        "opportunities.readonly",
        "opportunities.write",
        "users.readonly",
        "users.write",
        "conversations.readonly",
        "conversations/message.readonly",
        "conversations/message.write",
        "conversations/livechat.write",
        "workflows.readonly",
        "campaigns.readonly",
        "companies.readonly",
        "associations.readonly",
        "associations.write",
        "associations/relation.readonly",
        "associations/relation.write",
        "blogs/list.readonly",
        "blogs/posts.readonly",
        "blogs/post.write",
        "blogs/post-update.write",
        "blogs/author.readonly",
        "blogs/category.readonly",
        "blogs/check-slug.readonly",
        # The rest of the spec's operations in the catalog (issue 21).
        "conversations.write",
        "locations/customFields.write",
        "locations/customValues.readonly",
        "locations/customValues.write",
        "locations/templates.readonly",
        "objects/schema.readonly",
        "objects/schema.write",
        "objects/record.readonly",
        "objects/record.write",
        "oauth.readonly",
    ],
)
# Refresh an access token this many seconds before it expires.
GHL_OAUTH_REFRESH_MARGIN_SECONDS = env.int("GHL_OAUTH_REFRESH_MARGIN_SECONDS", default=300)

# ------------------------------------------------------------------------------
# ---- Rate limits: one governor per API account, shared by every worker on every machine
# (integrations/ratelimit.py). Backend: auto = Redis when RATE_LIMIT_REDIS_URL is set, else the database;
# "local" = this process only (single-process dev, tests without a database); "off".
# ------------------------------------------------------------------------------
RATE_LIMIT_BACKEND = env("RATE_LIMIT_BACKEND", default="auto")
RATE_LIMIT_REDIS_URL = env(
    "RATE_LIMIT_REDIS_URL",
    default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else "",
)
RATE_LIMIT_KEY_PREFIX = env("RATE_LIMIT_KEY_PREFIX", default="streetsync:rl:")
# acquire() gives up (a transient error: the task retries later) after waiting this long for one slot.
RATE_LIMIT_MAX_WAIT_SECONDS = env.float("RATE_LIMIT_MAX_WAIT_SECONDS", default=300.0)
# Upper bound of one transport-level 429 wait (Retry-After / X-RateLimit-Interval-Milliseconds + 0-20 % jitter).
API_RATE_LIMIT_MAX_RETRY_WAIT = env.float("API_RATE_LIMIT_MAX_RETRY_WAIT", default=60.0)
# GHL: 100 requests / 10 s per location (docs/ghl-facts.md); X-RateLimit-Max / -Interval-Milliseconds announcements
# replace these. The governor keeps a margin for the skew between our window (opened when a request is sent) and
# GHL's (when it arrives; latency varies): `MARGIN_REQUESTS` fewer per window and a window `MARGIN_SECONDS` longer,
# i.e. 99 per 10.3 s (96 % of the limit): with a page's writes in flight together at GHL's latency, 0.1 s let
# requests bunch up into 429s (`manage.py benchmark --only latency`, docs/performance.md). HEADROOM (< 1) takes a share
# off the limit as well, for an API whose count is less exact.
GHL_RATE_LIMIT_MAX = env.int("GHL_RATE_LIMIT_MAX", default=100)
GHL_RATE_LIMIT_WINDOW_SECONDS = env.float("GHL_RATE_LIMIT_WINDOW_SECONDS", default=10.0)
GHL_RATE_LIMIT_MARGIN_REQUESTS = env.int("GHL_RATE_LIMIT_MARGIN_REQUESTS", default=1)
GHL_RATE_LIMIT_MARGIN_SECONDS = env.float("GHL_RATE_LIMIT_MARGIN_SECONDS", default=0.3)
GHL_RATE_LIMIT_HEADROOM = env.float("GHL_RATE_LIMIT_HEADROOM", default=1.0)
# StreetText: 120 requests / 10 s per API key (docs/streettext-api.md); 0 = not governed.
STREETTEXT_RATE_LIMIT_MAX = env.int("STREETTEXT_RATE_LIMIT_MAX", default=120)
STREETTEXT_RATE_LIMIT_WINDOW_SECONDS = env.float("STREETTEXT_RATE_LIMIT_WINDOW_SECONDS", default=10.0)
STREETTEXT_RATE_LIMIT_HEADROOM = env.float("STREETTEXT_RATE_LIMIT_HEADROOM", default=0.95)

# ------------------------------------------------------------------------------
# Operations: /healthz and /metrics (integrations/ops_views.py, docs/deploy.md)
# ------------------------------------------------------------------------------
# Workers and beat write a heartbeat this often (integrations/heartbeats.py) ...
HEARTBEAT_INTERVAL_SECONDS = env.float("HEARTBEAT_INTERVAL_SECONDS", default=15.0)
# ... and /healthz reports them down when the newest is older than this.
HEALTH_WORKER_MAX_AGE_SECONDS = env.int("HEALTH_WORKER_MAX_AGE_SECONDS", default=60)
HEALTH_BEAT_MAX_AGE_SECONDS = env.int("HEALTH_BEAT_MAX_AGE_SECONDS", default=60)
# Seconds /healthz waits for the broker before reporting it down.
HEALTH_BROKER_TIMEOUT_SECONDS = env.float("HEALTH_BROKER_TIMEOUT_SECONDS", default=2.0)
# Bearer token Prometheus sends to /metrics (a logged-in staff user may read it too). Empty: staff only, 404 to others.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
