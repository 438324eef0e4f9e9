"""Orders: placed directly or committed from a reservation; fulfilled, cancelled, returned."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.db import history_store, ledger, placement_store
from stockpilot.adapters.db import reservation_store as store
from stockpilot.domain.errors import Conflict, IdempotencyConflict, NotFound, ValidationFailed
from stockpilot.domain.model import Delta, MovementKind, OrderStatus
from stockpilot.domain.reservations import RequestedLine, merge_lines, units_per_sku
from stockpilot.services.allocation import Allocator, KnownSku, resolve
from stockpilot.services.context import Context
from stockpilot.services.expiry import expire_overdue_on_sku
from stockpilot.services.lookups import require_location, require_sku
from stockpilot.services.stock import client_key


def create_order_from_placements(conn: Connection, *, reference: str, source: str, reservation_id: int | None,
                                 lines: list[dict[str, int]], now: datetime) -> int:
    order_id = store.claim_order_reference(conn, reference, source, reservation_id, now)
    if order_id is None:
        raise Conflict(f"order reference {reference!r} is already taken")
    store.insert_order_lines(conn, order_id, lines)
    return order_id


def describe_order(conn: Connection, order_id: int) -> dict[str, Any]:
    header = store.order_header(conn, order_id=order_id)
    if header is None:
        raise NotFound(f"unknown order {order_id}")
    return {
        "id": header["id"],
        "reference": header["reference"],
        "status": header["status"],
        "source": header["source"],
        "reservation_id": header["reservation_id"],
        "created_at": header["created_at"].isoformat(),
        "lines": [
            {
                "sku": line["sku"],
                "location": line["location"],
                "quantity": line["quantity"],
                "fulfilled": line["fulfilled"],
                "cancelled": line["cancelled"],
                "returned": line["returned"],
            }
            for line in store.order_line_rows(conn, order_id)
        ],
    }


class OrderService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def place(self, reference: str, lines: list[RequestedLine], source: str = "api", *,
              customer_email: str | None = None, customer_phone: str | None = None) -> tuple[dict[str, Any], bool]:
        """Commit stock straight into an order (a sale that had no reservation). Replays return the order.

        `customer_email` / `customer_phone` (E.164; from the channel payload or the API) are kept with the order
        for backorder notices."""
        if not isinstance(reference, str) or not reference.strip():
            raise ValidationFailed("reference is required")
        merged = merge_lines(lines)
        return self.ctx.db.write(lambda conn: self._place(conn, reference, merged, source, customer_email,
                                                          customer_phone))

    def place_in(self, conn: Connection, reference: str, lines: list[RequestedLine], source: str = "api", *,
                 customer_email: str | None = None, customer_phone: str | None = None,
                 describe: bool = True) -> tuple[dict[str, Any], bool]:
        """`place` inside the caller's write transaction (a channel delivery applied whole, with its watermark).

        describe=False: a new order comes back as {id, reference, lines: [{sku, location, quantity}]} from what
        was just placed, without reading it back (the channel processor's hot path)."""
        if not isinstance(reference, str) or not reference.strip():
            raise ValidationFailed("reference is required")
        return self._place(conn, reference, merge_lines(lines), source, customer_email, customer_phone,
                           describe=describe)

    def _place(self, conn: Connection, reference: str, merged: list[RequestedLine], source: str,
               customer_email: str | None, customer_phone: str | None = None, *,
               describe: bool = True) -> tuple[dict[str, Any], bool]:
        now = self.ctx.clock.now()
        order_id = store.claim_order_reference(conn, reference, source, None, now)
        if order_id is None:
            existing = store.order_header(conn, reference=reference)
            assert existing is not None
            described = describe_order(conn, existing["id"])
            if units_per_sku((ln["sku"], ln["quantity"]) for ln in described["lines"]) != units_per_sku(
                (ln.sku, ln.quantity) for ln in merged
            ):
                raise IdempotencyConflict(f"order reference {reference!r} was already used for different lines")
            return described, False
        brief = self._fill(conn, order_id, reference, merged, source, customer_email, customer_phone, now)
        if not describe:
            return {"id": order_id, "reference": reference, "lines": brief}, True
        return describe_order(conn, order_id), True

    def claim_in(self, conn: Connection, reference: str, source: str) -> int | None:
        """The header of a new order, in the caller's write transaction; None when the reference is taken.

        With fill_in, `place_in` in two steps: a channel claims the reference before it resolves the lines, so a
        redelivery of an order placed before is recognised by the one INSERT ... ON CONFLICT, with no read first
        (and whatever the lines resolve to now). The caller's transaction must roll back if fill_in raises."""
        if not isinstance(reference, str) or not reference.strip():
            raise ValidationFailed("reference is required")
        return store.claim_order_reference(conn, reference, source, None, self.ctx.clock.now())

    def fill_in(self, conn: Connection, order_id: int, reference: str, lines: list[RequestedLine], source: str, *,
                customer_email: str | None = None, customer_phone: str | None = None,
                known: Mapping[str, KnownSku] | None = None) -> dict[str, Any]:
        """Take the stock of a claimed order: {id, reference, lines: [{sku, location, quantity}]}. `known`: SKUs
        (and their routing) read in this transaction already, not read again."""
        brief = self._fill(conn, order_id, reference, merge_lines(lines), source, customer_email, customer_phone,
                           self.ctx.clock.now(), known)
        return {"id": order_id, "reference": reference, "lines": brief}

    def _fill(self, conn: Connection, order_id: int, reference: str, merged: list[RequestedLine], source: str,
              customer_email: str | None, customer_phone: str | None, now: datetime,
              known: Mapping[str, KnownSku] | None = None) -> list[dict[str, Any]]:
        allocator = Allocator(conn, now, MovementKind.COMMIT, f"order:{order_id}", reference, source,
                              expire_overdue_on_sku)
        rows: list[tuple[int, int, int]] = []
        brief: list[dict[str, Any]] = []
        for line in merged:
            sku, location = resolve(conn, line, known)
            hit = known.get(line.sku) if known else None
            for placed in allocator.place(line, sku, location, hit.routing if hit else None):
                rows.append((placed.sku.id, placed.location.id, placed.quantity))
                brief.append({"sku": placed.sku.sku, "location": placed.location.code, "quantity": placed.quantity})
        placement_store.insert_order_lines(conn, order_id, rows)
        if customer_email or customer_phone:  # in this transaction: the notice consumer must find it
            placement_store.save_contact(conn, order_id, customer_email, customer_phone)
        return brief

    def get(self, order_id: int) -> dict[str, Any]:
        with self.ctx.db.read() as conn:
            return describe_order(conn, order_id)

    def fulfil(self, order_id: int) -> dict[str, Any]:
        """Ship every open unit: on_hand and committed both fall. Idempotent."""
        return self._close(order_id, MovementKind.FULFIL)

    def cancel(self, order_id: int) -> dict[str, Any]:
        """Cancel every unshipped unit: committed falls, so the units are available again. Idempotent."""
        return self._close(order_id, MovementKind.CANCEL)

    def cancel_in(self, conn: Connection, order_id: int) -> dict[str, Any]:
        """cancel() inside the caller's transaction (a use case that records its own facts with the cancel)."""
        return self._close_in(conn, order_id, MovementKind.CANCEL)

    def close_in(self, conn: Connection, order_id: int, kind: MovementKind) -> dict[str, Any]:
        """fulfil() (kind FULFIL) or cancel() (CANCEL) inside the caller's write transaction."""
        return self._close_in(conn, order_id, kind)

    def _close(self, order_id: int, kind: MovementKind) -> dict[str, Any]:
        return self.ctx.db.write(lambda conn: self._close_in(conn, order_id, kind))

    def _close_in(self, conn: Connection, order_id: int, kind: MovementKind) -> dict[str, Any]:
        now = self.ctx.clock.now()
        header = store.order_header(conn, order_id=order_id, for_update=True)
        if header is None:
            raise NotFound(f"unknown order {order_id}")
        if header["status"] != OrderStatus.OPEN:
            if (header["status"], kind) in ((OrderStatus.FULFILLED, MovementKind.FULFIL),
                                            (OrderStatus.CANCELLED, MovementKind.CANCEL)):
                return describe_order(conn, order_id)
            raise Conflict(f"order {order_id} is {header['status']}")
        # Claim the transition first: a concurrent close of the same order waits here, then sees it done.
        target = OrderStatus.FULFILLED if kind is MovementKind.FULFIL else OrderStatus.CANCELLED
        if not store.transition_order(conn, order_id, OrderStatus.OPEN, target, now):
            return self._close_after_race(conn, order_id, target)
        for line in store.order_line_rows(conn, order_id):
            open_units = line["quantity"] - line["fulfilled"] - line["cancelled"]
            if open_units <= 0:
                continue
            delta = (Delta(on_hand=-open_units, committed=-open_units) if kind is MovementKind.FULFIL
                     else Delta(committed=-open_units))
            applied = ledger.apply(
                conn, sku=store.line_sku_ref(line), location=store.line_location_ref(line), kind=kind,
                delta=delta, floor=None, source=header["source"], reference=header["reference"],
                idempotency_key=f"order:{order_id}:{kind.value}:{line['id']}", now=now,
            )
            if applied is None:
                level = ledger.read_level(conn, line["sku_id"], line["location_id"])
                raise Conflict(
                    f"cannot fulfil {open_units} of {line['sku']} at {line['location']}: "
                    f"only {level.on_hand if level else 0} on hand (backordered)"
                )
            column = "fulfilled" if kind is MovementKind.FULFIL else "cancelled"
            store.update_order_line(conn, line["id"], **{column: line[column] + open_units})
        return describe_order(conn, order_id)

    def _close_after_race(self, conn: Connection, order_id: int, target: OrderStatus) -> dict[str, Any]:
        header = store.order_header(conn, order_id=order_id)
        assert header is not None
        if header["status"] == target:
            return describe_order(conn, order_id)
        raise Conflict(f"order {order_id} is {header['status']}")

    def record_return(self, order_id: int, *, sku: str, quantity: int, restock: bool, idempotency_key: str,
                      location: str | None = None, reason: str | None = None) -> dict[str, Any]:
        """Record returned units of a shipped line; with `restock`, they go back on hand (sellable again)."""
        if quantity <= 0:
            raise ValidationFailed(f"quantity must be positive, got {quantity}")
        return self.ctx.db.write(lambda conn: self.record_return_in(
            conn, order_id, sku=sku, quantity=quantity, restock=restock, idempotency_key=idempotency_key,
            location=location, reason=reason))

    def record_return_in(self, conn: Connection, order_id: int, *, sku: str, quantity: int, restock: bool,
                         idempotency_key: str, location: str | None = None, reason: str | None = None
                         ) -> dict[str, Any]:
        """`record_return` inside the caller's write transaction."""
        if quantity <= 0:
            raise ValidationFailed(f"quantity must be positive, got {quantity}")
        key = client_key(idempotency_key)
        now = self.ctx.clock.now()
        header = store.order_header(conn, order_id=order_id, for_update=True)
        if header is None:
            raise NotFound(f"unknown order {order_id}")
        previous = history_store.movement_by_key(conn, key)
        if previous is not None:
            if previous["reference"] != header["reference"] or previous["sku"] != sku:
                raise IdempotencyConflict("idempotency key was already used for another return")
            return describe_order(conn, order_id)
        lines = [ln for ln in store.order_line_rows(conn, order_id) if ln["sku"] == sku]
        returnable = sum(ln["fulfilled"] - ln["returned"] for ln in lines)
        if quantity > returnable:
            raise Conflict(f"{sku}: only {returnable} shipped unit(s) can be returned on order {order_id}")
        remaining = quantity
        for line in lines:
            take = min(remaining, line["fulfilled"] - line["returned"])
            if take <= 0:
                continue
            store.update_order_line(conn, line["id"], returned=line["returned"] + take)
            remaining -= take
            target = require_location(conn, location) if location else store.line_location_ref(line)
            delta = Delta(on_hand=take) if restock else Delta()
            ledger.apply(
                conn, sku=require_sku(conn, sku), location=target, kind=MovementKind.RETURN, delta=delta,
                floor=None, source=header["source"], reference=header["reference"],
                idempotency_key=key if remaining == 0 else f"{key}:{line['id']}", now=now,
                reason=reason or ("restocked" if restock else "not restocked"),
            )
            if remaining == 0:
                break
        return describe_order(conn, order_id)
