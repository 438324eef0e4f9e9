"""Signed acknowledge links: the supplier clicks `.../ack/<token>` and we know which PO revision it confirms.

Token: `v1.<base64url(json payload)>.<base64url(HMAC-SHA256)>`. The MAC covers a domain prefix plus the version and
payload, so a token signed for something else with the same secret never verifies here. The payload carries the PO
number, revision and expiry (Unix seconds); nothing secret is in it, only its integrity matters.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import UTC, datetime

_VERSION = "v1"
_DOMAIN = b"stockpilot:po-ack:"
_MIN_SECRET_BYTES = 16


class AckTokenError(ValueError):
    """The token cannot be accepted."""


class AckTokenInvalid(AckTokenError):
    """Malformed, signed with another secret, or tampered with."""


class AckTokenExpired(AckTokenError):
    """Authentic but past its expiry; `po_number` and `revision` still say what it was for."""

    def __init__(self, po_number: str, revision: int, expired_at: datetime) -> None:
        super().__init__(f"acknowledge link for {po_number} revision {revision} expired at {expired_at.isoformat()}")
        self.po_number = po_number
        self.revision = revision
        self.expired_at = expired_at


def sign_ack(po_number: str, revision: int, secret: str | bytes, expires_at: datetime) -> str:
    if not po_number:
        raise ValueError("po_number is required")
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
        raise ValueError(f"revision must be a non-negative integer, got {revision!r}")
    body = json.dumps(
        {"po": po_number, "rev": revision, "exp": int(_aware(expires_at, "expires_at").timestamp())},
        separators=(",", ":"),
    ).encode()
    signed = f"{_VERSION}.{_b64encode(body)}"
    return f"{signed}.{_b64encode(_mac(_key(secret), signed))}"


def verify_ack(token: str, secret: str | bytes, now: datetime) -> tuple[str, int]:
    """(po_number, revision) of an authentic, unexpired token; AckTokenInvalid / AckTokenExpired otherwise."""
    key = _key(secret)
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3 or parts[0] != _VERSION:
        raise AckTokenInvalid("acknowledge link is malformed")
    signed = f"{parts[0]}.{parts[1]}"
    try:
        given = _b64decode(parts[2])
    except ValueError:
        raise AckTokenInvalid("acknowledge link is malformed") from None
    if not hmac.compare_digest(given, _mac(key, signed)):  # constant time: no byte-by-byte oracle
        raise AckTokenInvalid("acknowledge link signature does not match (tampered or another secret)")
    # Only a payload we signed ourselves is parsed from here on.
    data = json.loads(_b64decode(parts[1]))
    po_number, revision = str(data["po"]), int(data["rev"])
    expires_at = datetime.fromtimestamp(int(data["exp"]), UTC)
    if _aware(now, "now") >= expires_at:
        raise AckTokenExpired(po_number, revision, expires_at)
    return po_number, revision


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if len(key) < _MIN_SECRET_BYTES:
        raise ValueError(f"the acknowledge-link secret must be at least {_MIN_SECRET_BYTES} bytes")
    return key


def _mac(key: bytes, signed: str) -> bytes:
    return hmac.new(key, _DOMAIN + signed.encode(), hashlib.sha256).digest()


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(str(exc)) from None
    if _b64encode(raw) != text:  # the decoder skips stray characters; accept only the one canonical spelling
        raise ValueError("not canonical base64url")
    return raw
