"""Applying a channel's order commands through the core (OrderService), each step idempotent.

The order's reference is `<kind>:<store>:<platform order id>`, unique in `orders`: placing it again is a replay
with no second effect, and cancel / fulfil / return are idempotent in the core, so a delivery processed twice (a
worker that died after applying, before recording) changes nothing the second time.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.db import delivery_processing_store
from stockpilot.domain.channel_messages import (
    CancelOrder,
    FulfilOrder,
    PlaceOrder,
    ReturnStock,
    Unprocessable,
)
from stockpilot.domain.errors import IdempotencyConflict
from stockpilot.domain.model import MovementKind, OrderStatus
from stockpilot.domain.reservations import RequestedLine
from stockpilot.services.channel_lines import resolve_sku
from stockpilot.services.context import Context
from stockpilot.services.orders import OrderService


def order_reference(channel: dict[str, Any], order_id: str) -> str:
    store = channel["shop_domain"] or channel["store_hash"] or channel["name"]
    return f"{channel['kind']}:{store}:{order_id}"


class ChannelOrders:
    """Each command runs inside the processor's one write transaction, with the order's watermark: a create and a
    cancel of one order processed at the same instant by two workers queue on the watermark row (PostgreSQL) or
    the writer (SQLite), so the older one sees the newer one's mark and is ignored; nothing can cross."""

    def __init__(self, ctx: Context, orders: OrderService) -> None:
        self.ctx = ctx
        self.orders = orders

    def apply(self, conn: Connection, channel: dict[str, Any],
              command: PlaceOrder | CancelOrder | FulfilOrder | ReturnStock) -> dict[str, Any]:
        reference = order_reference(channel, command.order_id)
        updated_at = getattr(command, "updated_at", None)
        if updated_at is not None and not delivery_processing_store.advance_watermark(
                conn, channel["id"], f"order:{command.order_id}", updated_at, self.ctx.clock.now()):
            return {"order": reference, "ignored": f"older than a delivery already applied ({updated_at})"}
        existing = delivery_processing_store.order_by_reference(conn, reference)
        if isinstance(command, PlaceOrder):
            return self._place(conn, channel, reference, command, existing)
        if isinstance(command, CancelOrder):
            if existing is None:
                # Nothing was committed for it; the watermark makes a late, older orders/create a no-op.
                return {"order": reference, "ignored": "not known to Stockpilot: nothing was committed"}
            if command.only_if_open and existing["status"] != OrderStatus.OPEN:
                return {"order": reference, "ignored": f"already {existing['status']}"}
            cancelled = self.orders.close_in(conn, existing["id"], MovementKind.CANCEL)
            return {"order": reference, "cancelled": cancelled["status"]}
        if existing is None:
            raise Unprocessable("unknown_order", f"{reference} was never placed in Stockpilot")
        if isinstance(command, FulfilOrder):
            fulfilled = self.orders.close_in(conn, existing["id"], MovementKind.FULFIL)
            return {"order": reference, "fulfilled": fulfilled["status"]}
        return self._returns(conn, channel, reference, existing["id"], command)

    def _place(self, conn: Connection, channel: dict[str, Any], reference: str, command: PlaceOrder,
               existing: dict[str, Any] | None) -> dict[str, Any]:
        if existing is not None:
            return {"order": reference, "placed": False, "status": existing["status"]}
        location = channel["location"] if command.at_channel_location else None
        # Every line resolves before anything is applied (an unknown SKU raises Unprocessable first).
        lines = [RequestedLine(resolve_sku(conn, channel["name"], line), line.quantity, location)
                 for line in command.lines]
        try:
            placed, _created = self.orders.place_in(conn, reference, lines, source=channel["name"],
                                                    customer_email=command.customer_email,
                                                    customer_phone=command.customer_phone, describe=False)
        except IdempotencyConflict:  # placed meanwhile by a redelivery with other lines (an edited order)
            return {"order": reference, "placed": False}
        return {"order": reference, "placed": True, "order_id": placed["id"],
                "lines": [{"sku": ln["sku"], "location": ln["location"], "quantity": ln["quantity"]}
                          for ln in placed["lines"]]}

    def _returns(self, conn: Connection, channel: dict[str, Any], reference: str, order_id: int,
                 command: ReturnStock) -> dict[str, Any]:
        resolved = [(resolve_sku(conn, channel["name"], item.line), item) for item in command.lines]
        returned = []
        for sku, item in resolved:
            self.orders.record_return_in(conn, order_id, sku=sku, quantity=item.line.quantity,
                                         restock=item.restock, idempotency_key=f"{reference}:{item.key}",
                                         reason=f"{channel['name']} refund")
            returned.append({"sku": sku, "quantity": item.line.quantity, "restocked": item.restock})
        return {"order": reference, "returned": returned}
