"""Secrets at rest: Fernet with a key list from settings, so keys can rotate without re-entering secrets."""

from __future__ import annotations

from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SECRET_UNREADABLE = "A stored secret cannot be decrypted with the configured FIELD_ENCRYPTION_KEYS."  # noqa: S105


class SecretDecryptionError(Exception):
    """A ciphertext was not made with any configured key."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty: secrets cannot be stored.")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS holds a key that is not a valid Fernet key.") from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptionError(SECRET_UNREADABLE) from exc


def encrypted_text(field_name: str) -> Any:
    """A model property that reads and writes a secret as plain text while the field `field_name` stores it encrypted:
    reading decrypts, writing encrypts, blank stays blank (the only way in and out of a stored secret). A property,
    so Django treats it as the hand-written ones it replaces (e.g. as a keyword of the model's constructor)."""

    def read(obj: Any) -> str:
        stored = getattr(obj, field_name)
        return decrypt(stored) if stored else ""

    def write(obj: Any, value: str) -> None:
        setattr(obj, field_name, encrypt(value) if value else "")

    return property(read, write)


def rotate(ciphertext: str) -> str:
    """Re-encrypt with the first (newest) key."""
    try:
        return fernet().rotate(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptionError(SECRET_UNREADABLE) from exc
