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
from stockpilot.domain.model import MovementKind, OrderStatus
from stockpilot.domain.reservations import RequestedLine
from stockpilot.services.allocation import KnownSku
from stockpilot.services.channel_lines import resolve_known_sku, resolve_sku, resolve_sku_ref
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
        if isinstance(command, PlaceOrder):
            return self._place(conn, channel, reference, command)
        existing = delivery_processing_store.order_by_reference(conn, reference)
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

    def _place(self, conn: Connection, channel: dict[str, Any], reference: str,
               command: PlaceOrder) -> dict[str, Any]:
        # The reference first: an order placed before (a redelivery, another topic of the same order) is found
        # by this one INSERT ... ON CONFLICT, whatever its lines resolve to now. What follows runs under the
        # delivery's savepoint, so a line that does not resolve (Unprocessable) rolls the claim back with it.
        order_id = self.orders.claim_in(conn, reference, channel["name"])
        if order_id is None:
            existing = delivery_processing_store.order_by_reference(conn, reference)
            assert existing is not None, f"order {reference} vanished inside its own transaction"
            return {"order": reference, "placed": False, "status": existing["status"]}
        location = channel["location"] if command.at_channel_location else None
        # Every line resolves before any stock is taken (an unknown SKU raises Unprocessable first); a routed
        # line's SKU comes with its routing options, so the core reads neither again.
        now = self.ctx.clock.now()
        known: dict[str, KnownSku] = {}
        lines = []
        for line in command.lines:
            sku = (resolve_known_sku(conn, channel["name"], line, now) if location is None
                   else KnownSku(resolve_sku_ref(conn, channel["name"], line)))
            known[sku.ref.sku] = sku
            lines.append(RequestedLine(sku.ref.sku, line.quantity, location))
        placed = self.orders.fill_in(conn, order_id, reference, lines, channel["name"], known=known,
                                     customer_email=command.customer_email, customer_phone=command.customer_phone)
        return {"order": reference, "placed": True, "order_id": placed["id"], "lines": placed["lines"]}

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
