"""Secrets stay secret: encrypted at rest, rotatable, absent from logs, errors and history; production refuses to
start without its secrets."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from integrations import crypto
from integrations.logging import RedactingFilter, redact
from integrations.models import Connection, RecordHistory, SyncRun
from integrations.services import sync
from integrations.services.connections import connection_rotate_secrets
from tests.integrations.support import build_world

ROOT = Path(__file__).resolve().parents[2]


def test_redaction_removes_tokens_and_keys() -> None:
    text = redact('Authorization: Bearer abc.def-123 and {"api_key": "k-999", "refresh_token": "r-1"} X-Api-Key: zz')
    for secret in ("abc.def-123", "k-999", "r-1", "zz"):
        assert secret not in text


def test_log_records_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="test.redaction"):
        logger.info("calling with %s", "Bearer very-secret-token")
    assert "very-secret-token" not in caplog.text


@pytest.mark.django_db
def test_secrets_are_encrypted_and_keys_rotate(settings: Any) -> None:
    connection = Connection(name="c", system="streettext", base_url="http://x", auth_type="api_key")
    connection.api_secret = "st-key-123"
    connection.save()
    assert "st-key-123" not in connection.api_secret_encrypted
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *settings.FIELD_ENCRYPTION_KEYS]
    assert connection_rotate_secrets() == 1
    connection.refresh_from_db()
    assert connection.api_secret == "st-key-123"
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # old keys removed: still readable
    assert Connection.objects.get(pk=connection.pk).api_secret == "st-key-123"
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.SecretDecryptionError):
        _ = Connection.objects.get(pk=connection.pk).api_secret


@pytest.mark.django_db(transaction=True)
def test_a_rejected_token_never_appears_in_run_errors_or_history(live_server: Any, settings: Any) -> None:
    settings.SANDBOX_STREETTEXT_RATE_LIMIT = 10_000
    world = build_world(live_server.url)
    world.streettext.api_secret = "leaky-secret-value-42"
    world.streettext.save()
    run = SyncRun.objects.create(mapping=world.mapping, trigger="manual")

    sync.sync_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert "rejected the credentials" in run.error
    world.streettext.refresh_from_db()
    assert world.streettext.status == Connection.Status.NEEDS_REAUTH
    texts = [run.error, world.streettext.status_detail]
    texts += [f"{h.error} {h.reason} {h.changes}" for h in RecordHistory.objects.filter(run=run)]
    assert all("leaky-secret-value-42" not in t for t in texts)


def _production(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FIELD_ENCRYPTION"))}
    clean.update({"DJANGO_SETTINGS_MODULE": "config.settings.production", **env})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def test_production_refuses_to_start_without_its_secrets() -> None:
    result = _production({"DJANGO_ALLOWED_HOSTS": "sync.example.com"}, "check")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr
    result = _production({"DJANGO_ALLOWED_HOSTS": "sync.example.com", "DJANGO_SECRET_KEY": "x" * 60}, "check")
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS" in result.stderr


def test_production_passes_check_deploy() -> None:
    result = _production(
        {
            "DJANGO_ALLOWED_HOSTS": "sync.example.com",
            "DJANGO_SECRET_KEY": "k3y-" + "pQ7rS9tU1vW3xY5zA7bC9dE1fG3hJ5kL7mN9pQ1rS3tU5vW7xY9z",
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        },
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stdout + result.stderr


PRODUCTION_ENV = {
    "DJANGO_ALLOWED_HOSTS": "sync.example.com",
    "DJANGO_SECRET_KEY": "k3y-" + "pQ7rS9tU1vW3xY5zA7bC9dE1fG3hJ5kL7mN9pQ1rS3tU5vW7xY9z",
}


@pytest.mark.parametrize(
    ("env", "check_id", "words"),
    [
        ({"FIELD_ENCRYPTION_KEYS": "not-a-fernet-key"}, "integrations.E001", "is not a Fernet key"),
        ({"FIELD_ENCRYPTION_KEYS": f"{Fernet.generate_key().decode()},short"}, "integrations.E001", "entry 2"),
        ({"SANDBOX_ENABLED": "true"}, "integrations.E010", "/sandbox/_control/*"),
        ({"FIELD_ENCRYPTION_KEYS": "Y2RjZGRjZGNkY2RjZGNkY2RjZGNkY2RjZGNkY2RjZGM="}, "integrations.E011", "published"),
        ({"GHL_OAUTH_TOKEN_URL": "http://services.leadconnectorhq.com/oauth/token"}, "integrations.E013", "https"),
        ({"GHL_WEBHOOK_ED25519_PUBLIC_KEY": "not-a-key"}, "integrations.E002", "every GoHighLevel webhook"),
        ({"WEBHOOK_PUBLIC_BASE_URL": "http://sync.example.com"}, "integrations.W014", "in clear"),
        ({"CONNECTION_ALLOW_HTTP_HOSTS": "proxy.internal"}, "integrations.W015", "without TLS"),
        ({"RATE_LIMIT_BACKEND": "local"}, "integrations.W016", "do not share"),
    ],
)
def test_check_deploy_refuses_unsafe_production_settings(env: dict[str, str], check_id: str, words: str) -> None:
    result = _production(
        {**PRODUCTION_ENV, "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(), **env},
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert check_id in output
    assert words in output


def test_a_bad_encryption_key_fails_the_plain_check_too(settings: Any) -> None:
    from django.core import checks

    settings.FIELD_ENCRYPTION_KEYS = ["nope"]
    assert [e.id for e in checks.run_checks(tags=[checks.Tags.security])] == ["integrations.E001"]
