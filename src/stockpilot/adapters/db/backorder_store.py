"""Rows and reads of customer backorder notices: order contacts, which units of an order are short, open supply."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.tables import (
    backorder_notices,
    order_contacts,
    order_lines,
    orders,
    purchase_order_lines,
    purchase_orders,
    reservations,
    skus,
    stock_levels,
    supplier_offers,
)

OPEN_PO_STATUSES = ("sent", "acknowledged", "partially_received")  # committed to a supplier, units still due
_outstanding = order_lines.c.quantity - order_lines.c.fulfilled - order_lines.c.cancelled


def save_contact(conn: Connection, order_id: int, email: str | None, phone: str | None = None) -> None:
    """Who placed the order (either may be None, not both: the table's check)."""
    conn.execute(insert_or_ignore(conn, order_contacts).values(order_id=order_id, email=email, phone=phone)
                 .on_conflict_do_nothing())


def contact(conn: Connection, order_id: int) -> dict[str, str | None] | None:
    """{"email", "phone"} of the order's customer, or None when the order came without either."""
    row = conn.execute(select(order_contacts.c.email, order_contacts.c.phone)
                       .where(order_contacts.c.order_id == order_id)).mappings().first()
    return dict(row) if row else None


def short_lines(conn: Connection, order_id: int) -> list[dict[str, Any]]:
    """The order's open lines that on_hand at their location does not cover, with how many units are short.

    The same rule as releasing backorders on a receipt (po_store.released_backorders): units go to the oldest open
    orders first, so a line is short by what of it lies beyond on_hand in that queue.
    """
    short = []
    mine = conn.execute(select(order_lines.c.id, order_lines.c.sku_id, order_lines.c.location_id, skus.c.sku)
                        .join(skus, skus.c.id == order_lines.c.sku_id)
                        .where(order_lines.c.order_id == order_id, _outstanding > 0)).all()
    for line in mine:
        on_hand = conn.execute(select(stock_levels.c.on_hand).where(
            stock_levels.c.sku_id == line.sku_id, stock_levels.c.location_id == line.location_id)).scalar_one_or_none()
        queue = conn.execute(
            select(order_lines.c.id, _outstanding.label("outstanding"))
            .join(orders, orders.c.id == order_lines.c.order_id)
            .where(order_lines.c.sku_id == line.sku_id, order_lines.c.location_id == line.location_id,
                   orders.c.status == "open", _outstanding > 0)
            .order_by(orders.c.id, order_lines.c.id)).all()
        cumulative = 0
        for row in queue:
            cumulative += row.outstanding
            if row.id == line.id:
                units = min(row.outstanding, max(0, cumulative - (on_hand or 0)))
                if units > 0:
                    short.append({"sku_id": line.sku_id, "sku": line.sku, "units": units})
                break
    return short


def units_needed_through(conn: Connection, sku_id: int, order_id: int) -> int:
    """Units of the SKU that must still arrive before every open order up to and including this one is covered."""
    ahead = conn.execute(select(func.coalesce(func.sum(_outstanding), 0))
                         .join(orders, orders.c.id == order_lines.c.order_id)
                         .where(order_lines.c.sku_id == sku_id, orders.c.status == "open", orders.c.id <= order_id,
                                _outstanding > 0)).scalar_one()
    on_hand = conn.execute(select(skus.c.on_hand).where(skus.c.id == sku_id)).scalar_one()
    return max(0, int(ahead) - int(on_hand))


def open_supply(conn: Connection, sku_id: int) -> list[tuple[date, int]]:
    """(expected date, units still due) of the SKU's open POs, soonest first."""
    due = purchase_order_lines.c.quantity - purchase_order_lines.c.received
    rows = conn.execute(select(purchase_orders.c.eta, due.label("due"))
                        .join(purchase_orders, purchase_orders.c.id == purchase_order_lines.c.po_id)
                        .where(purchase_order_lines.c.sku_id == sku_id,
                               purchase_orders.c.status.in_(OPEN_PO_STATUSES), purchase_orders.c.eta.is_not(None),
                               due > 0)
                        .order_by(purchase_orders.c.eta, purchase_orders.c.id)).all()
    return [(r.eta, int(r.due)) for r in rows]


def shortest_lead_days(conn: Connection, sku_id: int) -> float | None:
    return conn.execute(select(func.min(supplier_offers.c.lead_time_days))
                        .where(supplier_offers.c.sku_id == sku_id, supplier_offers.c.available.is_(True))
                        ).scalar_one_or_none()


def notice(conn: Connection, order_id: int, *, lock: bool = False) -> dict[str, Any] | None:
    stmt = select(backorder_notices).where(backorder_notices.c.order_id == order_id)
    row = conn.execute(stmt.with_for_update() if lock else stmt).mappings().first()
    return dict(row) if row else None


def claim_notice(conn: Connection, order_id: int, email: str | None, phone: str | None, eta: date | None,
                 now: datetime) -> bool:
    """The first notice of a backordered order; False if one already exists (a replay, a second short line).
    `email` and `phone`: where this and the later notices go (an email when there is one, else a text)."""
    stmt = (insert_or_ignore(conn, backorder_notices)
            .values(order_id=order_id, email=email, phone=phone, status="backordered", eta=eta, notices=1,
                    created_at=now, updated_at=now)
            .on_conflict_do_nothing().returning(backorder_notices.c.order_id))
    return conn.execute(stmt).scalar_one_or_none() is not None


def update_notice(conn: Connection, order_id: int, now: datetime, **values: Any) -> None:
    conn.execute(update(backorder_notices).where(backorder_notices.c.order_id == order_id)
                 .values(updated_at=now, **values))


def waiting_orders_of_sku(conn: Connection, sku_id: int) -> list[int]:
    """Orders told they are backordered that still wait for this SKU (oldest first)."""
    rows = conn.execute(select(backorder_notices.c.order_id).distinct()
                        .join(order_lines, order_lines.c.order_id == backorder_notices.c.order_id)
                        .where(backorder_notices.c.status == "backordered", order_lines.c.sku_id == sku_id,
                               _outstanding > 0)
                        .order_by(backorder_notices.c.order_id))
    return [r.order_id for r in rows]


def order_by_reference(conn: Connection, reference: str) -> dict[str, Any] | None:
    """The order a ledger entry names: its own reference, or (a reservation's commit is recorded under the
    reservation's reference) the order that reservation became."""
    columns = (orders.c.id, orders.c.reference, orders.c.status, orders.c.source)
    row = conn.execute(select(*columns).where(orders.c.reference == reference)).mappings().first()
    if row is None:
        row = conn.execute(select(*columns).join(reservations, reservations.c.order_id == orders.c.id)
                           .where(reservations.c.reference == reference)).mappings().first()
    return dict(row) if row else None


def sku_id_of(conn: Connection, sku: str) -> int | None:
    return conn.execute(select(skus.c.id).where(skus.c.sku == sku)).scalar_one_or_none()


def order_by_reference_id(conn: Connection, order_id: int, *, lock: bool = False) -> dict[str, Any] | None:
    stmt = select(orders.c.id, orders.c.reference, orders.c.status, orders.c.source).where(orders.c.id == order_id)
    row = conn.execute(stmt.with_for_update() if lock else stmt).mappings().first()
    return dict(row) if row else None


def line_skus(conn: Connection, order_id: int) -> list[str]:
    rows = conn.execute(select(skus.c.sku).join(order_lines, order_lines.c.sku_id == skus.c.id)
                        .where(order_lines.c.order_id == order_id).order_by(order_lines.c.id))
    return list(dict.fromkeys(r.sku for r in rows))
