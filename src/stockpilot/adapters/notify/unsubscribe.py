"""Signed unsubscribe links for waitlist emails: `.../unsubscribe/<token>` names the entry it came from.

Same scheme as the PO acknowledge links (adapters/suppliers/ack.py): `v1.<base64url(json)>.<base64url(HMAC-SHA256)>`
with a domain prefix of its own, so an ack token never verifies here. No expiry: an old email must still let the
contact leave.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

_VERSION = "v1"
_DOMAIN = b"stockpilot:waitlist-unsubscribe:"


class UnsubscribeTokenInvalid(ValueError):
    """Malformed, signed with another secret, or tampered with."""


def sign_unsubscribe(entry_id: int, secret: str) -> str:
    body = json.dumps({"w": int(entry_id)}, separators=(",", ":")).encode()
    signed = f"{_VERSION}.{_b64encode(body)}"
    return f"{signed}.{_b64encode(_mac(secret, signed))}"


def verify_unsubscribe(token: str, secret: str) -> int:
    """The waitlist entry id of an authentic token; UnsubscribeTokenInvalid otherwise."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != _VERSION:
        raise UnsubscribeTokenInvalid("unsubscribe link is malformed")
    signed = f"{parts[0]}.{parts[1]}"
    try:
        given = _b64decode(parts[2])
    except ValueError:
        raise UnsubscribeTokenInvalid("unsubscribe link is malformed") from None
    if not hmac.compare_digest(given, _mac(secret, signed)):  # constant time
        raise UnsubscribeTokenInvalid("unsubscribe link signature does not match")
    return int(json.loads(_b64decode(parts[1]))["w"])  # only a payload we signed is parsed


def _mac(secret: str, signed: str) -> bytes:
    return hmac.new(secret.encode(), _DOMAIN + signed.encode(), hashlib.sha256).digest()


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(str(exc)) from None
    if _b64encode(raw) != text:  # accept only the canonical spelling
        raise ValueError("not canonical base64url")
    return raw
