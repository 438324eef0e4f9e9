"""Signed "cancel my backordered order" links: `.../backorders/cancel/<token>` names the order.

The scheme of the unsubscribe and acknowledge links (`v1.<base64url(json)>.<base64url(HMAC-SHA256)>`) with a domain
prefix of its own, so a token minted for another purpose never verifies here. No expiry: the order's own state
decides (only an open order can be cancelled, and only once). A text message carries the `short` form, the MAC cut
to its first 16 bytes (128 bits, still far beyond guessing), so notice, date and link fit one SMS segment; only
those two MAC lengths verify.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from stockpilot.adapters.notify.unsubscribe import _b64decode, _b64encode

_VERSION = "v1"
_DOMAIN = b"stockpilot:backorder-cancel:"


class CancelTokenInvalid(ValueError):
    """Malformed, signed with another secret, or tampered with."""


_SHORT = 16  # bytes of MAC in a texted link


def sign_cancel(order_id: int, secret: str, *, short: bool = False) -> str:
    signed = f"{_VERSION}.{_b64encode(json.dumps({'o': int(order_id)}, separators=(',', ':')).encode())}"
    mac = _mac(secret, signed)
    return f"{signed}.{_b64encode(mac[:_SHORT] if short else mac)}"


def verify_cancel(token: str, secret: str) -> int:
    """The order id of an authentic token; CancelTokenInvalid otherwise."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != _VERSION:
        raise CancelTokenInvalid("cancel link is malformed")
    signed = f"{parts[0]}.{parts[1]}"
    try:
        given = _b64decode(parts[2])
    except ValueError:
        raise CancelTokenInvalid("cancel link is malformed") from None
    if len(given) not in (_SHORT, hashlib.sha256().digest_size):
        raise CancelTokenInvalid("cancel link signature does not match")
    if not hmac.compare_digest(given, _mac(secret, signed)[:len(given)]):  # constant time
        raise CancelTokenInvalid("cancel link signature does not match")
    return int(json.loads(_b64decode(parts[1]))["o"])  # only a payload we signed is parsed


def _mac(secret: str, signed: str) -> bytes:
    return hmac.new(secret.encode(), _DOMAIN + signed.encode(), hashlib.sha256).digest()
