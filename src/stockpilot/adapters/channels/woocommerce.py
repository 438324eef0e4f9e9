"""WooCommerce webhooks: the body is the REST v3 resource (an order) at the moment of the event.

WooCommerce reduces stock when an order reaches processing, on-hold or completed (payment received or expected),
and returns it on cancelled / refunded / failed; Stockpilot follows the same statuses.
"""

from __future__ import annotations

from typing import Any

from stockpilot.adapters.channels.contact import customer_email, customer_phone
from stockpilot.adapters.channels.payload import (
    field,
    identifier,
    integer,
    object_list,
    optional_timestamp,
    text_or_none,
    timestamp,
)
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

TOPICS = ("order.created", "order.updated", "product.updated")
COMMITTING = {"processing", "on-hold", "completed"}
RELEASING = {"cancelled", "failed"}


def parse(topic: str, order: dict[str, Any]) -> list[Command]:
    if topic not in TOPICS:
        raise Unprocessable("unsupported_topic", f"WooCommerce topic {topic!r} is not handled")
    if topic == "product.updated":
        return [_product(order)]
    order_id = identifier(order.get("id"), "id")
    status = order.get("status")
    updated_at = optional_timestamp(order.get("date_modified_gmt"), "date_modified_gmt")
    if status in RELEASING:
        return [CancelOrder(order_id, updated_at)]
    if status == "refunded":
        # A refunded open order gives its units back; one refunded after shipping keeps them shipped (restocking
        # a return is a separate product stock change in WooCommerce).
        return [CancelOrder(order_id, updated_at, only_if_open=True)]
    if status not in COMMITTING:
        return [NoEffect(f"order status {status!r} does not hold stock")]
    lines = tuple(line for line in (_line(item) for item in object_list(order, "line_items")) if line)
    if not lines:
        return [NoEffect("the order has no stocked lines")]
    place = PlaceOrder(order_id, lines, updated_at, customer_email=customer_email(order, "billing.email"),
                       customer_phone=customer_phone(order, ("billing.phone", "billing.country"),
                                                     ("shipping.phone", "shipping.country")))
    return [place, FulfilOrder(order_id, updated_at)] if status == "completed" else [place]


def _line(item: dict[str, Any]) -> ChannelLine | None:
    quantity = integer(item.get("quantity"), "line_items[].quantity")
    if quantity <= 0:
        return None
    # The variation first: a variation's product_id is its variable parent, shared by every size and colour.
    ids = tuple(str(item[k]) for k in ("variation_id", "product_id") if item.get(k) not in (None, 0, "0", ""))
    sku = text_or_none(item.get("sku"))
    if sku is None and not ids:
        return None
    return ChannelLine(quantity, sku, ids)


def _product(product: dict[str, Any]) -> SetCount | NoEffect:
    """A product's (or variation's) own stock count changed in WooCommerce (an admin edit, another plugin).

    WooCommerce sends `product.updated` for a variation too (hook `woocommerce_update_product_variation`), its
    body read from `/products/{variation id}`: `type: variation`, `parent_id`, a `_links.up` to the parent. The
    variation's own id is its listing, whichever parent it has. Only a tracked count means anything
    (`manage_stock: true` with an integer `stock_quantity`); a variable product's stock lives on its variations.
    The item key is the outbound pusher's (`product:ID` / `variation:ID`), so the echo of a push is recognised."""
    product_id = identifier(product.get("id"), "id")
    if product.get("type") == "variable":
        return NoEffect("a variable product: its variations carry the stock")
    if product.get("manage_stock") is not True or product.get("stock_quantity") is None:
        return NoEffect("stock is not tracked for this product")
    role = "variation" if _is_variation(product) else "product"
    return SetCount(item=ChannelLine(0, text_or_none(product.get("sku")), (product_id,)),
                    item_key=f"{role}:{product_id}", on_hand=integer(product["stock_quantity"], "stock_quantity"),
                    updated_at=timestamp(field(product, "date_modified_gmt"), "date_modified_gmt"))


def _is_variation(product: dict[str, Any]) -> bool:
    """`type` and `parent_id` say so in the products endpoint's shape; the variations endpoint's older shape
    (the REST docs' example) has neither, only the `up` link to its parent product."""
    if product.get("type") == "variation" or product.get("parent_id"):
        return True
    links = product.get("_links")
    return isinstance(links, dict) and bool(links.get("up"))
