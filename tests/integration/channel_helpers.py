"""Shared set-up for the channel webhook tests: an app with a TestClient, the runtime, signed posts."""

from __future__ import annotations

import copy
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from tests.support.channel_signing import body_of, fixture, shopify_headers

SHOP = "activepieces-test.myshopify.com"
SHOP_SECRET = "shpss_test_secret"


def add_shopify(client: TestClient, **extra: Any) -> None:
    created = client.post("/api/v1/channels", json={"kind": "shopify", "name": "shop", "secret": SHOP_SECRET,
                                                    "shop_domain": SHOP, **extra})
    assert created.status_code == 201, created.text


def post_shopify(client: TestClient, topic: str, payload: Any, *, secret: str = SHOP_SECRET, shop: str = SHOP,
                 **ids: str) -> Response:
    body = body_of(payload)
    return client.post("/webhooks/shopify", content=body, headers=shopify_headers(secret, body, topic, shop, **ids))


def shopify_order(order_id: int = 5324830114101, quantity: int = 1, sku: str = "sku-hosted-1",
                  updated_at: str = "2023-03-24T12:37:27-04:00") -> dict[str, Any]:
    """The captured orders/create body, with the id, quantity or SKU changed where a test needs to."""
    order = copy.deepcopy(fixture("shopify/orders_create_captured_activepieces.json"))
    order["id"], order["updated_at"] = order_id, updated_at
    order["line_items"][0]["quantity"] = order["line_items"][0]["fulfillable_quantity"] = quantity
    order["line_items"][0]["sku"] = sku
    return order


def deliveries(client: TestClient, status: str | None = None) -> list[dict[str, Any]]:
    answer = client.get("/api/v1/webhook-deliveries", params={"status": status} if status else {})
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]
