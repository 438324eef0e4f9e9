"""The platforms' webhook signing schemes, as pure functions of (secret, headers, raw body). No I/O.

Every comparison is constant-time (`hmac.compare_digest`), so a forger learns nothing from how long a refusal took.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac


def hmac_sha256_base64(secret: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret, message, hashlib.sha256).digest()).decode("ascii")


def same(expected: str, given: str | None) -> bool:
    """Constant-time equality of two header values (a missing header never matches)."""
    if given is None:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.strip().encode("utf-8"))


def shopify_valid(secret: str, body: bytes, header: str | None) -> bool:
    """X-Shopify-Hmac-Sha256 = base64(HMAC-SHA256(app client secret, raw body))."""
    return same(hmac_sha256_base64(secret.encode("utf-8"), body), header)


def woocommerce_valid(secret: str, body: bytes, header: str | None) -> bool:
    """X-WC-Webhook-Signature = base64(HMAC-SHA256(webhook secret, raw body)): the same construction as Shopify's."""
    return same(hmac_sha256_base64(secret.encode("utf-8"), body), header)


def standard_secret_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: base64-decoded after the `whsec_` prefix.

    A secret without the prefix is taken as the raw key (BigCommerce tells apps to base64-encode their client
    secret into a Standard Webhooks secret; registering the client secret itself is the same key).
    """
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            raise ValueError("a whsec_ secret must be base64 after the prefix") from None
    return secret.encode("utf-8")


def standard_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">` (Standard Webhooks)."""
    signed = msg_id.encode("utf-8") + b"." + timestamp.encode("utf-8") + b"." + body
    return "v1," + hmac_sha256_base64(standard_secret_key(secret), signed)


def standard_valid(secret: str, msg_id: str | None, timestamp: str | None, body: bytes,
                   header: str | None, *, now_epoch: float, tolerance_seconds: float = 300) -> bool:
    """Verify `webhook-signature` (space-separated `v1,<sig>` entries: any may match, for secret rotation) and that
    `webhook-timestamp` is within the tolerance of now (a captured delivery cannot be replayed days later)."""
    if not msg_id or not timestamp or not header:
        return False
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now_epoch - sent) > tolerance_seconds:
        return False
    expected = standard_signature(secret, msg_id, timestamp, body)
    # Compare every entry (no early exit), so timing does not tell which one matched.
    matches = [same(expected, entry) for entry in header.split() if entry.startswith("v1,")]
    return any(matches)
