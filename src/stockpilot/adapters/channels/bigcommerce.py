"""BigCommerce webhooks: thin payloads ({scope, store_id, data: {type, id}, hash, created_at, producer}).

The order itself is read back through the V2 Orders API (`GET /v2/orders/{id}` and `/v2/orders/{id}/products`,
header `X-Auth-Token`), so a delivery is applied with the order's state when it is processed, never a stale one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from stockpilot.adapters.channels.contact import customer_email, customer_phone
from stockpilot.adapters.channels.payload import field, identifier, integer, optional_timestamp, text_or_none
from stockpilot.domain.channel_messages import (
    CancelOrder,
    ChannelLine,
    Command,
    FulfilOrder,
    NoEffect,
    PlaceOrder,
    SetCount,
    Unprocessable,
)

ORDER_TOPICS = ("store/order/created", "store/order/statusUpdated")
SKU_INVENTORY_TOPIC = "store/sku/inventory/updated"
TOPICS = (*ORDER_TOPICS, SKU_INVENTORY_TOPIC)
PUSH_DEFAULT_LOCATION = "1"  # as the outbound pusher names a store without locations (its item keys)
# V2 order status ids (GET /v2/order_statuses).
INCOMPLETE = 0
SHIPPED, REFUNDED, CANCELLED, DECLINED, COMPLETED = 2, 4, 5, 6, 10


def default_api_url(store_hash: str) -> str:
    return f"https://api.bigcommerce.com/stores/{store_hash}"


def order_id_of(payload: dict[str, Any]) -> str:
    data = field(payload, "data")
    if not isinstance(data, dict) or data.get("type") not in (None, "order"):
        raise Unprocessable("invalid_field", "data must describe an order")
    return identifier(data.get("id"), "data.id")


def variant_of(payload: dict[str, Any]) -> str:
    """`store/sku/inventory/updated` names the variant (and the value it set), not the count after it: read it."""
    data = field(payload, "data")
    inventory = data.get("inventory") if isinstance(data, dict) else None
    if not isinstance(inventory, dict):
        raise Unprocessable("invalid_field", "data.inventory must describe the SKU's inventory")
    return identifier(inventory.get("variant_id"), "data.inventory.variant_id")


def parse_inventory(payload: dict[str, Any], variant_id: str, item: dict[str, Any] | None) -> list[Command]:
    """The variant's on-hand count as the Inventory API reports it now (summed over the store's locations), as
    the channel's own count; ordered by the webhook's `created_at`."""
    if item is None:
        return [NoEffect(f"variant {variant_id} has no inventory record")]
    locations = [loc for loc in item.get("locations") or [] if isinstance(loc, dict)]
    if not locations:
        return [NoEffect(f"variant {variant_id} is not stocked at any location")]
    on_hand = sum(integer(loc.get("total_inventory_onhand", 0), "total_inventory_onhand") for loc in locations)
    where = str(locations[0].get("location_id")) if len(locations) == 1 else "all"
    created = payload.get("created_at")
    if isinstance(created, bool) or not isinstance(created, int):
        raise Unprocessable("invalid_field", "created_at must be a Unix time")
    identity = item.get("identity") if isinstance(item.get("identity"), dict) else {}
    return [SetCount(item=ChannelLine(0, text_or_none(identity.get("sku")), (variant_id,)),
                     item_key=f"variant:{variant_id}@{where}", on_hand=on_hand,
                     updated_at=datetime.fromtimestamp(created, UTC))]


def parse(scope: str, order: dict[str, Any], products: list[dict[str, Any]]) -> list[Command]:
    """Commands for an order as read from the API (the webhook only said which order changed)."""
    if scope not in ORDER_TOPICS:
        raise Unprocessable("unsupported_topic", f"BigCommerce scope {scope!r} is not handled")
    order_id = identifier(order.get("id"), "id")
    status = integer(field(order, "status_id"), "status_id")
    updated_at = optional_timestamp(order.get("date_modified"), "date_modified")
    if status == INCOMPLETE:
        return [NoEffect("the order is incomplete (checkout not finished)")]
    if status in (CANCELLED, DECLINED):
        return [CancelOrder(order_id, updated_at)]
    if status == REFUNDED:
        return [CancelOrder(order_id, updated_at, only_if_open=True)]
    lines = tuple(line for line in (_line(p) for p in products) if line)
    if not lines:
        return [NoEffect("the order has no stocked lines")]
    place = PlaceOrder(order_id, lines, updated_at, customer_email=customer_email(order, "billing_address.email"),
                       customer_phone=customer_phone(order, ("billing_address.phone", "billing_address.country_iso2")))
    return [place, FulfilOrder(order_id, updated_at)] if status in (SHIPPED, COMPLETED) else [place]


def _line(product: dict[str, Any]) -> ChannelLine | None:
    quantity = integer(product.get("quantity"), "products[].quantity")
    ids = tuple(str(product[k]) for k in ("variant_id", "product_id") if product.get(k) not in (None, 0, ""))
    sku = text_or_none(product.get("sku"))
    if quantity <= 0 or (sku is None and not ids):
        return None
    return ChannelLine(quantity, sku, ids)


class ApiRefused(Exception):
    """The store refused our credentials: retrying cannot help (the outbox makes the delivery dead at once)."""

    permanent = True


@dataclass(frozen=True)
class BigCommerceApi:
    api_url: str  # https://api.bigcommerce.com/stores/{store_hash}
    token: str
    timeout: float = 10.0

    def order(self, order_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The order and its products. A 404 is Unprocessable (parked); 5xx, 429 and network errors raise, so the
        outbox retries with backoff."""
        headers = {"X-Auth-Token": self.token, "Accept": "application/json"}
        base = self.api_url.rstrip("/")
        with httpx.Client(timeout=self.timeout, headers=headers) as client:
            order = self._get(client, f"{base}/v2/orders/{order_id}", {})
            products = self._get(client, f"{base}/v2/orders/{order_id}/products", {"limit": 250})
        if not isinstance(order, dict) or not isinstance(products, list):
            raise Unprocessable("unexpected_api_answer", f"order {order_id}: unexpected shapes from the API")
        return order, [p for p in products if isinstance(p, dict)]

    def cancel_order(self, order_id: str) -> dict[str, Any]:
        """`PUT /v2/orders/{id}` {"status_id": 5}: the order is Cancelled in the store (backorder cancel link).

        401/403 and 404 cannot be helped by retrying (permanent); 5xx, 429 and network errors raise to retry. Setting
        a status the order already has is harmless, so a redelivery is safe."""
        url = f"{self.api_url.rstrip('/')}/v2/orders/{order_id}"
        headers = {"X-Auth-Token": self.token, "Accept": "application/json", "Content-Type": "application/json"}
        with httpx.Client(timeout=self.timeout, headers=headers) as client:
            response = client.put(url, json={"status_id": CANCELLED})
        if response.status_code in (401, 403):
            raise ApiRefused(f"BigCommerce API refused the token ({response.status_code}) for {url}")
        if response.status_code == 404:
            raise ApiRefused(f"BigCommerce has no order {order_id} ({url})")
        response.raise_for_status()
        answer = response.json()
        return {"status_id": answer.get("status_id") if isinstance(answer, dict) else None}

    def variant_inventory(self, variant_id: str) -> dict[str, Any] | None:
        """GET /v3/inventory/items?variant_id:in=ID: the variant's identity and per-location levels (or None)."""
        headers = {"X-Auth-Token": self.token, "Accept": "application/json"}
        with httpx.Client(timeout=self.timeout, headers=headers) as client:
            answer = self._get(client, f"{self.api_url.rstrip('/')}/v3/inventory/items", {"variant_id:in": variant_id})
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list):
            raise Unprocessable("unexpected_api_answer", f"variant {variant_id}: unexpected shape from the API")
        return next((d for d in data if isinstance(d, dict)), None)

    @staticmethod
    def _get(client: httpx.Client, url: str, params: dict[str, Any]) -> Any:
        response = client.get(url, params=params)
        if response.status_code in (401, 403):
            raise ApiRefused(f"BigCommerce API refused the token ({response.status_code}) for {url}")
        if response.status_code == 404:
            raise Unprocessable("order_not_found", f"BigCommerce has no {url}")
        if response.status_code == 204:
            return []  # V2 answers an empty list with 204
        response.raise_for_status()
        return response.json()
