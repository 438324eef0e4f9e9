"""Amazon (SP-API, polled): what a polled change means, as commands. Amazon sends no webhooks for these, so the
poller (services/amazon_polling.py) stores each change it finds as an inbound delivery of one of these topics:

- `fba/inventory/summary`: one `inventorySummaries[]` element of GET /fba/inventory/v1/summaries (details=true),
  plus `polledAt`. The count is what Amazon holds for sale or for its customers' orders at the FBA location:
  `fulfillableQuantity + reservedQuantity.pendingCustomerOrderQuantity` (Stockpilot's `committed` carries those
  orders, so counting only fulfillable would take them off twice). Inbound, researching and unfulfillable units
  are not sellable stock.
- `orders/v0/order`: `{"order": <Orders API order>, "items": <its orderItems>}`.
"""

from __future__ import annotations

from typing import Any

from stockpilot.adapters.channels.payload import field, identifier, integer, object_list, text_or_none, timestamp
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

INVENTORY_TOPIC = "fba/inventory/summary"
ORDER_TOPIC = "orders/v0/order"
TOPICS = (INVENTORY_TOPIC, ORDER_TOPIC)
# OrderStatus values (Orders API v0). Pending: placed, payment not yet authorised, units already promised.
COMMITTING = {"Pending", "Unshipped", "PartiallyShipped"}
SHIPPED = {"Shipped", "InvoiceUnconfirmed"}
CANCELLED = {"Canceled"}


def parse(topic: str, body: dict[str, Any]) -> list[Command]:
    if topic == INVENTORY_TOPIC:
        return [_summary(body)]
    if topic == ORDER_TOPIC:
        return _order(body)
    raise Unprocessable("unsupported_topic", f"Amazon topic {topic!r} is not handled")


def _summary(summary: dict[str, Any]) -> SetCount | NoEffect:
    sku = text_or_none(summary.get("sellerSku"))
    if sku is None:
        raise Unprocessable("missing_field", "'sellerSku' is required")
    details = summary.get("inventoryDetails")
    if not isinstance(details, dict):
        return NoEffect("no inventoryDetails (details=true was not honoured)")
    reserved = details.get("reservedQuantity") if isinstance(details.get("reservedQuantity"), dict) else {}
    count = integer(field(details, "fulfillableQuantity"), "fulfillableQuantity") + integer(
        reserved.get("pendingCustomerOrderQuantity", 0), "pendingCustomerOrderQuantity")
    # The sandbox (and items never changed) leave lastUpdatedTime empty: the poll's time orders them then.
    updated = text_or_none(summary.get("lastUpdatedTime")) or field(summary, "polledAt")
    ids = tuple(str(summary[k]) for k in ("fnSku", "asin") if text_or_none(summary.get(k)))
    marketplace = text_or_none(summary.get("marketplaceId")) or "marketplace"
    return SetCount(item=ChannelLine(0, sku, ids), item_key=f"fba:{sku}@{marketplace}", on_hand=count,
                    updated_at=timestamp(updated, "lastUpdatedTime"))


def _order(body: dict[str, Any]) -> list[Command]:
    order = field(body, "order")
    if not isinstance(order, dict):
        raise Unprocessable("invalid_field", "order must be an object")
    order_id = identifier(order.get("AmazonOrderId"), "AmazonOrderId")
    status = order.get("OrderStatus")
    updated_at = timestamp(field(order, "LastUpdateDate"), "LastUpdateDate")
    if status in CANCELLED:
        return [CancelOrder(order_id, updated_at)]
    if status not in COMMITTING | SHIPPED:
        return [NoEffect(f"order status {status!r} does not hold stock")]
    lines = tuple(line for line in (_line(item) for item in object_list(body, "items")) if line)
    if not lines:
        return [NoEffect("the order has no stocked lines")]
    # AFN: Amazon ships from its fulfilment centres, i.e. from the channel's FBA location; MFN: the merchant ships.
    place = PlaceOrder(order_id, lines, updated_at, at_channel_location=order.get("FulfillmentChannel") == "AFN")
    return [place, FulfilOrder(order_id, updated_at)] if status in SHIPPED else [place]


def _line(item: dict[str, Any]) -> ChannelLine | None:
    quantity = integer(item.get("QuantityOrdered", 0), "OrderItems[].QuantityOrdered")
    sku = text_or_none(item.get("SellerSKU"))
    ids = (str(item["ASIN"]),) if text_or_none(item.get("ASIN")) else ()
    if quantity <= 0 or (sku is None and not ids):
        return None
    return ChannelLine(quantity, sku, ids)
