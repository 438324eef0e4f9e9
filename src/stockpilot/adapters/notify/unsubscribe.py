"""Signed links for waitlist messages: `.../unsubscribe/<token>` and `.../waitlist/confirm/<token>` name the
entry they came from; the embeddable form carries a signed form token.

Same scheme as the PO acknowledge links (adapters/suppliers/ack.py): `v1.<base64url(json)>.<base64url(HMAC-SHA256)>`
with a domain prefix per purpose, so an ack token never verifies here and an unsubscribe token never confirms.
No expiry on unsubscribe (an old email must still let the contact leave) nor on confirmation; a form token is
good for `FORM_TOKEN_SECONDS` after the form was served.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

_VERSION = "v1"
_DOMAIN = b"stockpilot:waitlist-unsubscribe:"
_CONFIRM = b"stockpilot:waitlist-confirm:"
_FORM = b"stockpilot:waitlist-form:"
FORM_TOKEN_SECONDS = 2 * 3600


class UnsubscribeTokenInvalid(ValueError):
    """Malformed, signed with another secret, or tampered with."""


def sign_unsubscribe(entry_id: int, secret: str) -> str:
    return _sign({"w": int(entry_id)}, secret, _DOMAIN)


def verify_unsubscribe(token: str, secret: str) -> int:
    """The waitlist entry id of an authentic token; UnsubscribeTokenInvalid otherwise."""
    return int(_verify(token, secret, _DOMAIN, "unsubscribe link")["w"])


def sign_confirmation(entry_id: int, secret: str) -> str:
    return _sign({"w": int(entry_id)}, secret, _CONFIRM)


def verify_confirmation(token: str, secret: str) -> int:
    return int(_verify(token, secret, _CONFIRM, "confirmation link")["w"])


def sign_form(sku: str, issued_at: int, secret: str) -> str:
    """The embeddable form's token: which SKU it was served for, and when (epoch seconds)."""
    return _sign({"s": sku, "t": int(issued_at)}, secret, _FORM)


def verify_form(token: str, sku: str, now: int, secret: str) -> None:
    body = _verify(token, secret, _FORM, "form token")
    if body.get("s") != sku:
        raise UnsubscribeTokenInvalid("form token was issued for another product")
    if not 0 <= now - int(body["t"]) <= FORM_TOKEN_SECONDS:
        raise UnsubscribeTokenInvalid("form has expired: reload the page and try again")


def _sign(body: dict[str, object], secret: str, domain: bytes) -> str:
    signed = f"{_VERSION}.{_b64encode(json.dumps(body, separators=(',', ':')).encode())}"
    return f"{signed}.{_b64encode(_mac(secret, signed, domain))}"


def _verify(token: str, secret: str, domain: bytes, what: str) -> dict[str, object]:
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != _VERSION:
        raise UnsubscribeTokenInvalid(f"{what} is malformed")
    signed = f"{parts[0]}.{parts[1]}"
    try:
        given = _b64decode(parts[2])
    except ValueError:
        raise UnsubscribeTokenInvalid(f"{what} is malformed") from None
    if not hmac.compare_digest(given, _mac(secret, signed, domain)):  # constant time
        raise UnsubscribeTokenInvalid(f"{what} signature does not match")
    return dict(json.loads(_b64decode(parts[1])))  # only a payload we signed is parsed


def _mac(secret: str, signed: str, domain: bytes) -> bytes:
    return hmac.new(secret.encode(), domain + signed.encode(), hashlib.sha256).digest()


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
