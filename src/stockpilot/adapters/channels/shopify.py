"""Shopify webhooks (REST-shaped JSON bodies): topics to commands.

Bodies are the resource itself (an order, a refund, an inventory level), as in shopify_python_api's fixtures without
the wrapping key. Order lines carry `sku` and `variant_id`; inventory levels carry `inventory_item_id`.
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
    ListingUpkeep,
    NoEffect,
    PlaceOrder,
    ReturnLine,
    ReturnStock,
    SetCount,
    Unprocessable,
)

TOPICS = ("orders/create", "orders/cancelled", "orders/fulfilled", "refunds/create", "inventory_levels/update",
          "products/update", "checkouts/create", "checkouts/update")


def parse(topic: str, payload: dict[str, Any]) -> list[Command]:
    if topic == "orders/create":
        return [_place(payload)]
    if topic == "orders/cancelled":
        order_id = identifier(payload.get("id"), "id")
        return [CancelOrder(order_id, optional_timestamp(payload.get("updated_at"), "updated_at"))]
    if topic == "orders/fulfilled":
        # The body is the whole order: placing first (a replay if it is known) means a missed orders/create
        # still ends with the units shipped rather than a fulfilment of nothing.
        place = _place(payload)
        if isinstance(place, NoEffect):
            return [place]
        return [place, FulfilOrder(place.order_id, place.updated_at)]
    if topic == "refunds/create":
        return [_refund(payload)]
    if topic == "inventory_levels/update":
        return [_inventory_level(payload)]
    if topic == "products/update":
        return [_product(payload)]
    if topic in ("checkouts/create", "checkouts/update"):
        return [_checkout(payload)]
    raise Unprocessable("unsupported_topic", f"Shopify topic {topic!r} is not handled")


def _line(item: dict[str, Any]) -> ChannelLine | None:
    quantity = integer(item.get("current_quantity", item.get("quantity")), "line_items[].quantity")
    sku = text_or_none(item.get("sku"))
    variant = item.get("variant_id")
    if quantity <= 0 or (sku is None and variant is None) or item.get("gift_card") is True:
        return None  # a custom line (no product), a gift card or a removed line: not stock
    return ChannelLine(quantity, sku, (str(variant),) if variant is not None else ())


# Where an order carries the buyer's phone, with the country that reads a national number.
_PHONES = (("phone", "billing_address.country_code"), ("customer.phone", "billing_address.country_code"),
           ("shipping_address.phone", "shipping_address.country_code"),
           ("billing_address.phone", "billing_address.country_code"))


def _place(order: dict[str, Any]) -> PlaceOrder | NoEffect:
    order_id = identifier(order.get("id"), "id")
    lines = tuple(line for line in (_line(item) for item in object_list(order, "line_items")) if line)
    if not lines:
        return NoEffect("the order has no stocked lines")
    return PlaceOrder(order_id, lines, optional_timestamp(order.get("updated_at"), "updated_at"),
                      customer_email=customer_email(order, "email", "contact_email", "customer.email"),
                      customer_phone=customer_phone(order, *_PHONES))


def _refund(refund: dict[str, Any]) -> ReturnStock | NoEffect:
    order_id = identifier(refund.get("order_id"), "order_id")
    refund_id = identifier(refund.get("id"), "id")
    lines: list[ReturnLine] = []
    for item in object_list(refund, "refund_line_items"):
        restock_type = item.get("restock_type") or ("return" if refund.get("restock") else "no_restock")
        if restock_type == "no_restock":
            continue  # money back, the goods stay where they are
        if restock_type == "cancel":
            # Units refunded before shipping: the core cancels whole orders only, so this waits for a person.
            raise Unprocessable("partial_cancel_unsupported",
                                f"refund {refund_id} cancels unshipped units of order {order_id}")
        line_item = item.get("line_item") if isinstance(item.get("line_item"), dict) else {}
        quantity = integer(field(item, "quantity"), "refund_line_items[].quantity")
        variant = line_item.get("variant_id")
        line = ChannelLine(quantity, text_or_none(line_item.get("sku")),
                           (str(variant),) if variant is not None else ())
        key = f"refund:{refund_id}:{identifier(item.get('id', item.get('line_item_id')), 'refund line id')}"
        lines.append(ReturnLine(line, restock=True, key=key))
    if not lines:
        return NoEffect("the refund restocks nothing")
    return ReturnStock(order_id, tuple(lines))


def _inventory_level(level: dict[str, Any]) -> SetCount | NoEffect:
    item_id = identifier(level.get("inventory_item_id"), "inventory_item_id")
    location_id = identifier(level.get("location_id"), "location_id")
    if level.get("available") is None:
        return NoEffect("the item is not tracked at this location")
    return SetCount(
        item=ChannelLine(0, None, (item_id,)),
        item_key=f"inventory_item:{item_id}@{location_id}",
        on_hand=integer(level["available"], "available"),
        updated_at=timestamp(field(level, "updated_at"), "updated_at"),
    )


def _product(product: dict[str, Any]) -> ListingUpkeep | NoEffect:
    """Each variant's id (role `variant`) and inventory item id (role `inventory_item`) to its SKU: order lines
    and inventory_levels/update then find the SKU by id even after a merchant renames it, and pushes address it."""
    product_id = identifier(product.get("id"), "id")
    entries: list[tuple[str, str, str]] = []
    for variant in object_list(product, "variants"):
        sku = text_or_none(variant.get("sku"))
        if sku is None:
            continue  # no SKU on the channel: only a mapping made by hand can tie it to Stockpilot
        if variant.get("id") is not None:
            entries.append((str(variant["id"]), sku, "variant"))
        if variant.get("inventory_item_id") is not None:
            entries.append((str(variant["inventory_item_id"]), sku, "inventory_item"))
    if not entries:
        return NoEffect("no variant carries a SKU")
    return ListingUpkeep(f"product:{product_id}", tuple(entries),
                         optional_timestamp(product.get("updated_at"), "updated_at"))


def _checkout(checkout: dict[str, Any]) -> NoEffect:
    """A checkout is demand intent, not a sale: most are abandoned, so holding stock for one would refuse real
    buyers. It is kept (the delivery, `ignored`, with the lines it wanted) and holds nothing; a storefront that
    wants a hold reserves through POST /api/v1/reservations, which expires on its own."""
    token = text_or_none(checkout.get("token")) or str(checkout.get("id") or "?")
    wanted = [f"{line.quantity} x {line.sku or ','.join(line.external_ids)}"
              for line in (_line(item) for item in object_list(checkout, "line_items")) if line]
    return NoEffect(f"checkout {token}: demand intent ({'; '.join(wanted) or 'no stocked lines'}), nothing held")
