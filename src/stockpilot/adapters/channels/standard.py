"""A generic signed JSON channel (Standard Webhooks envelope: {type, timestamp, data}) for a POS or custom shop.

Types: `order.created` {id, lines: [{sku | external_id, quantity}], updated_at?}, `order.cancelled` {id},
`order.fulfilled` {id}, `inventory.updated` {sku | external_id, on_hand, updated_at}.
"""

from __future__ import annotations

from typing import Any

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
    PlaceOrder,
    SetCount,
    Unprocessable,
)

TOPICS = ("order.created", "order.cancelled", "order.fulfilled", "inventory.updated")


def parse(topic: str, envelope: dict[str, Any]) -> list[Command]:
    data = field(envelope, "data")
    if not isinstance(data, dict):
        raise Unprocessable("invalid_field", "data must be an object")
    if topic == "inventory.updated":
        item = _item(data, quantity=0)
        key = item.sku if item.sku else f"id:{item.external_ids[0]}"
        return [SetCount(item, key, integer(field(data, "on_hand"), "on_hand"),
                         timestamp(field(data, "updated_at"), "updated_at"))]
    if topic not in TOPICS:
        raise Unprocessable("unsupported_topic", f"type {topic!r} is not handled")
    order_id = identifier(data.get("id"), "data.id")
    updated_at = optional_timestamp(data.get("updated_at"), "updated_at")
    if topic == "order.cancelled":
        return [CancelOrder(order_id, updated_at)]
    if topic == "order.fulfilled":
        return [FulfilOrder(order_id, updated_at)]
    lines = tuple(_item(line, integer(field(line, "quantity"), "quantity")) for line in object_list(data, "lines"))
    if not lines:
        raise Unprocessable("invalid_field", "an order needs lines")
    return [PlaceOrder(order_id, lines, updated_at)]


def _item(obj: dict[str, Any], quantity: int) -> ChannelLine:
    sku = text_or_none(obj.get("sku"))
    external = obj.get("external_id")
    if sku is None and external in (None, ""):
        raise Unprocessable("invalid_field", "a line needs sku or external_id")
    return ChannelLine(quantity, sku, (str(external),) if external not in (None, "") else ())
