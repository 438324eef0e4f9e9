"""Signing deliveries the way each platform does, written independently of the code under test."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"  # the repo's parent holds shared/


def fixture(relative: str) -> Any:
    return json.loads((FIXTURES / relative).read_text())


def _b64_hmac(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def body_of(payload: Any) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def shopify_headers(secret: str, body: bytes, topic: str, shop: str, *, webhook_id: str | None = None,
                    event_id: str | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json", "X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": shop,
        "X-Shopify-API-Version": "2025-07", "X-Shopify-Hmac-Sha256": _b64_hmac(secret.encode(), body),
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()), "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
        "X-Shopify-Triggered-At": "2025-07-01T12:00:00.000000Z",
    }


def woocommerce_headers(secret: str, body: bytes, topic: str, source: str, *, delivery_id: str | None = None
                        ) -> dict[str, str]:
    resource, event = topic.split(".")
    return {
        "Content-Type": "application/json", "X-WC-Webhook-Source": source, "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource, "X-WC-Webhook-Event": event, "X-WC-Webhook-ID": "12",
        "X-WC-Webhook-Delivery-ID": delivery_id or uuid.uuid4().hex,
        "X-WC-Webhook-Signature": _b64_hmac(secret.encode(), body),
    }


def standard_headers(secret: str, body: bytes, timestamp: int, *, msg_id: str | None = None) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    key = base64.b64decode(secret.removeprefix("whsec_")) if secret.startswith("whsec_") else secret.encode()
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return {"Content-Type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": f"v1,{_b64_hmac(key, signed)}"}
