"""Webhook signatures and freshness: pure functions over bytes, strings and keys, with typed errors.

GoHighLevel (docs/ghl-facts.md):
`x-ghl-signature` = base64 Ed25519 signature of the raw body (preferred; the key is shown
per app in the Marketplace settings), else `x-wh-signature` = base64 RSA PKCS#1 v1.5 SHA-256 signature of the raw body
(GHL publishes the key; it ships in keys/). The body carries `timestamp` and `webhookId`.
StreetText (docs/streettext-api.md "Webhooks"): `X-StreetText-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

PUBLISHED_GHL_RSA_KEY_PATH = Path(__file__).resolve().parent / "keys" / "ghl-webhook-rsa-public.pem"

GHL_ED25519_HEADER = "x-ghl-signature"
GHL_RSA_HEADER = "x-wh-signature"
STREETTEXT_SIGNATURE_HEADER = "X-StreetText-Signature"
STREETTEXT_DELIVERY_HEADER = "X-StreetText-Delivery"

MSG_NO_SIGNATURE = "missing signature: send x-ghl-signature (Ed25519) or x-wh-signature (RSA-SHA256)"
MSG_ED25519_NO_KEY = "x-ghl-signature cannot be checked: GHL_WEBHOOK_ED25519_PUBLIC_KEY is not set"
MSG_BAD_SIGNATURE = "invalid {scheme} signature"
MSG_NOT_BASE64 = "{header} is not base64"
MSG_ST_NO_SIGNATURE = f"missing signature: send {STREETTEXT_SIGNATURE_HEADER}"
MSG_ST_MALFORMED = f"malformed {STREETTEXT_SIGNATURE_HEADER}: expected t=<unix seconds>,v1=<hex>"
MSG_ST_BAD_SIGNATURE = "invalid HMAC-SHA256 signature"
MSG_BAD_TIMESTAMP = "timestamp {value!r} is not an ISO 8601 time or a Unix time"
MSG_BAD_TIMESTAMP_OTHER = "timestamp ({what}) is not an ISO 8601 time or a Unix time"
MSG_STALE = "timestamp is {seconds} s old; deliveries older than {max_age} s are refused"
MSG_FUTURE = "timestamp is {seconds} s in the future; more than {max_age} s ahead is refused"

# Unix times above this are milliseconds (10^11 s is the year 5138).
_MS_THRESHOLD = 100_000_000_000
# More digits than this is no time we accept (and int() of thousands of digits is refused by Python itself).
_MAX_DIGITS = 20
# A refused value is echoed in the answer and the log only when its repr is at most this long.
_MAX_ECHO = 60


class WebhookVerificationError(Exception):
    """The delivery cannot be trusted; the message says why (shown to the sender)."""


class SignatureMissing(WebhookVerificationError):
    pass


class SignatureInvalid(WebhookVerificationError):
    pass


class KeyNotConfigured(WebhookVerificationError):
    pass


class TimestampInvalid(WebhookVerificationError):
    """The timestamp is not a time at all (a client error, not an authentication failure)."""


class TimestampStale(WebhookVerificationError):
    """Too old or too far in the future: possibly a replay of an old delivery."""


# -- keys -------------------------------------------------------------------------------------------------------------


def _pem_text(text: str) -> bytes:
    # PEM from an environment variable often arrives with literal "\n".
    return text.strip().replace("\\n", "\n").encode()


@lru_cache(maxsize=8)
def load_ed25519_public_key(text: str) -> Ed25519PublicKey:
    """A PEM (SubjectPublicKeyInfo) or the base64 of the 32 raw key bytes."""
    if "BEGIN" in text:
        try:
            key = serialization.load_pem_public_key(_pem_text(text))
        except (ValueError, UnsupportedAlgorithm) as e:
            raise KeyNotConfigured("GHL_WEBHOOK_ED25519_PUBLIC_KEY is not a PEM public key") from e
        if not isinstance(key, Ed25519PublicKey):
            raise KeyNotConfigured("GHL_WEBHOOK_ED25519_PUBLIC_KEY is not an Ed25519 public key")
        return key
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as e:
        raise KeyNotConfigured("GHL_WEBHOOK_ED25519_PUBLIC_KEY is neither a PEM nor 32 base64 bytes") from e


@lru_cache(maxsize=8)
def load_rsa_public_key(text: str) -> RSAPublicKey:
    """A PEM public key (SubjectPublicKeyInfo or PKCS#1)."""
    try:
        key = serialization.load_pem_public_key(_pem_text(text))
    except (ValueError, UnsupportedAlgorithm) as e:
        raise KeyNotConfigured("GHL_WEBHOOK_RSA_PUBLIC_KEY is not a PEM public key") from e
    if not isinstance(key, RSAPublicKey):
        raise KeyNotConfigured("GHL_WEBHOOK_RSA_PUBLIC_KEY is not an RSA public key")
    return key


@lru_cache(maxsize=1)
def published_ghl_rsa_key() -> str:
    """The RSA key GoHighLevel publishes in its docs/oauth/WebhookAuthentication.md (docs/ghl-facts.md), in keys/."""
    return PUBLISHED_GHL_RSA_KEY_PATH.read_text()


# -- GoHighLevel ------------------------------------------------------------------------------------------------------


def _b64(value: str, header: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as e:
        raise SignatureInvalid(MSG_NOT_BASE64.format(header=header)) from e


def verify_ed25519(*, body: bytes, signature: str, public_key: Ed25519PublicKey) -> None:
    try:
        public_key.verify(_b64(signature, GHL_ED25519_HEADER), body)
    except InvalidSignature as e:
        raise SignatureInvalid(MSG_BAD_SIGNATURE.format(scheme="Ed25519")) from e


def verify_rsa_sha256(*, body: bytes, signature: str, public_key: RSAPublicKey) -> None:
    try:
        public_key.verify(_b64(signature, GHL_RSA_HEADER), body, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as e:
        raise SignatureInvalid(MSG_BAD_SIGNATURE.format(scheme="RSA-SHA256")) from e


def verify_ghl(*, body: bytes, ed25519_signature: str, rsa_signature: str, ed25519_key: str, rsa_key: str) -> str:
    """Check a GHL delivery; returns the scheme used ("ed25519" or "rsa").

    Like the official SDKs: x-ghl-signature wins when present; x-wh-signature (being retired by GHL) is the fallback,
    also when no Ed25519 key is configured yet.
    """
    if ed25519_signature and ed25519_key:
        verify_ed25519(body=body, signature=ed25519_signature, public_key=load_ed25519_public_key(ed25519_key))
        return "ed25519"
    if rsa_signature:
        verify_rsa_sha256(body=body, signature=rsa_signature, public_key=load_rsa_public_key(rsa_key))
        return "rsa"
    if ed25519_signature:
        raise KeyNotConfigured(MSG_ED25519_NO_KEY)
    raise SignatureMissing(MSG_NO_SIGNATURE)


# -- StreetText -------------------------------------------------------------------------------------------------------


def streettext_signature(*, secret: str, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of "<timestamp>.<body>"."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def streettext_signature_header(*, secret: str, body: bytes, timestamp: int) -> str:
    return f"t={timestamp},v1={streettext_signature(secret=secret, body=body, timestamp=timestamp)}"


def parse_streettext_header(header: str) -> tuple[int, list[str]]:
    """(t, [v1 signatures]); several v1 values are allowed so a sender can sign with old and new secret."""
    if not header.strip():
        raise SignatureMissing(MSG_ST_NO_SIGNATURE)
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureInvalid(MSG_ST_MALFORMED)
        if key == "t":
            if not _is_ascii_digits(value):
                raise SignatureInvalid(MSG_ST_MALFORMED)
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value.strip().lower())
    if timestamp is None or not signatures:
        raise SignatureInvalid(MSG_ST_MALFORMED)
    return timestamp, signatures


def verify_streettext(*, body: bytes, header: str, secret: str) -> datetime:
    """Check the HMAC; returns the signed time (check it with `check_fresh`)."""
    timestamp, signatures = parse_streettext_header(header)
    expected = streettext_signature(secret=secret, body=body, timestamp=timestamp).encode()
    # compare_digest refuses str with non-ASCII characters (TypeError): compare bytes, and only hex can match anyway.
    if not any(c.isascii() and hmac.compare_digest(expected, c.encode()) for c in signatures):
        raise SignatureInvalid(MSG_ST_BAD_SIGNATURE)
    return parse_timestamp(timestamp)


# -- time -------------------------------------------------------------------------------------------------------------


def _is_ascii_digits(text: str) -> bool:
    # str.isdigit() is true for "²", "١" or "𝟗" too, which int() then refuses: only 0-9 are digits here.
    return 0 < len(text) <= _MAX_DIGITS and text.isascii() and text.isdigit()


def _bad_timestamp(value: Any) -> TimestampInvalid:
    """The refusal, echoing the value when it is short text or a number (never a whole nested body)."""
    if isinstance(value, str | int | float) and not isinstance(value, bool) and len(repr(value)) <= _MAX_ECHO:
        return TimestampInvalid(MSG_BAD_TIMESTAMP.format(value=value))
    kinds = {bool: "true or false", list: "a list", dict: "an object", type(None): "null"}
    what = kinds.get(type(value), "a value too long to show")
    return TimestampInvalid(MSG_BAD_TIMESTAMP_OTHER.format(what=what))


def parse_timestamp(value: Any) -> datetime:
    """An ISO 8601 string (naive = UTC) or a Unix time in seconds or milliseconds (number or digits)."""
    original = value
    if isinstance(value, str) and _is_ascii_digits(value.strip()):
        value = int(value.strip())
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = value / 1000 if abs(value) >= _MS_THRESHOLD else value
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError) as e:
            raise _bad_timestamp(original) from e
    if isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError as e:
            raise _bad_timestamp(original) from e
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
    raise _bad_timestamp(original)


def check_fresh(*, timestamp: datetime, now: datetime, max_age_seconds: int) -> None:
    """Refuse a delivery signed more than `max_age_seconds` ago, or as far in the future (clock skew window)."""
    try:
        age = now - timestamp
    except OverflowError as e:  # a time near year 1 or 9999 with an offset
        raise TimestampInvalid(MSG_BAD_TIMESTAMP.format(value=timestamp.isoformat())) from e
    limit = timedelta(seconds=max_age_seconds)
    if age > limit:
        raise TimestampStale(MSG_STALE.format(seconds=int(age.total_seconds()), max_age=max_age_seconds))
    if -age > limit:
        raise TimestampStale(MSG_FUTURE.format(seconds=int(-age.total_seconds()), max_age=max_age_seconds))
