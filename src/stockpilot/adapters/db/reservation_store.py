"""Rows of reservations and orders: state transitions are conditional updates, so each happens once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from stockpilot.adapters.db import raw
from stockpilot.adapters.db.ledger import LocationRef, SkuRef
from stockpilot.adapters.db.tables import (
    locations,
    order_lines,
    orders,
    reservation_lines,
    reservations,
    skus,
)
from stockpilot.domain.model import BackorderPolicy

# The hot path's statements run on the bare driver cursor (adapters/db/raw.py).
_CLAIM = "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (reference) DO NOTHING RETURNING id"
_CLAIM_RESERVATION = raw.Sql(
    f"INSERT INTO reservations (reference, status, source, expires_at, created_at, updated_at) {_CLAIM}"
)
_CLAIM_ORDER = raw.Sql(
    f"INSERT INTO orders (reference, status, source, reservation_id, created_at, updated_at) {_CLAIM}"
)


def claim_reference(conn: Connection, reference: str, source: str, expires_at: datetime,
                    now: datetime) -> int | None:
    """Insert the reservation header; None if the reference is taken (a replay, possibly concurrent)."""
    ts = raw.time_value(conn, now)
    row = raw.execute(conn, _CLAIM_RESERVATION, (
        reference, "active", source, raw.time_value(conn, expires_at), ts, ts,
    )).fetchone()
    return row[0] if row else None


_LINES_INSERT = raw.Sql("INSERT INTO reservation_lines (reservation_id, sku_id, location_id, quantity) "
                        "VALUES (?, ?, ?, ?)")


def insert_reservation_lines(conn: Connection, reservation_id: int, lines: list[dict[str, int]]) -> None:
    rows = [(reservation_id, line["sku_id"], line["location_id"], line["quantity"]) for line in lines]
    if len(rows) == 1:
        raw.execute(conn, _LINES_INSERT, rows[0])
    else:
        raw.executemany(conn, _LINES_INSERT, rows)


_TRANSITION = raw.Sql("UPDATE reservations SET status = ?, updated_at = ? WHERE id = ? AND status = 'active'")


def transition(conn: Connection, reservation_id: int, status: str, now: datetime) -> bool:
    """Move an active reservation to `status`; False if another transaction already moved it."""
    return raw.execute(conn, _TRANSITION, (str(status), raw.time_value(conn, now), reservation_id)).rowcount == 1


def set_expiry(conn: Connection, reservation_id: int, expires_at: datetime, now: datetime) -> bool:
    result = conn.execute(
        update(reservations)
        .where(reservations.c.id == reservation_id, reservations.c.status == "active")
        .values(expires_at=expires_at, updated_at=now)
    )
    return result.rowcount == 1


def link_order(conn: Connection, reservation_id: int, order_id: int) -> None:
    conn.execute(update(reservations).where(reservations.c.id == reservation_id).values(order_id=order_id))


def reservation_header(conn: Connection, *, reservation_id: int | None = None,
                       reference: str | None = None) -> dict[str, Any] | None:
    stmt = select(reservations)
    stmt = stmt.where(reservations.c.id == reservation_id) if reservation_id is not None else stmt.where(
        reservations.c.reference == reference
    )
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def reservation_line_rows(conn: Connection, reservation_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(reservation_lines.c.id, reservation_lines.c.sku_id, reservation_lines.c.location_id,
               reservation_lines.c.quantity, skus.c.sku, skus.c.backorder_policy, skus.c.backorder_cap,
               skus.c.low_stock_threshold, locations.c.code.label("location"),
               locations.c.priority.label("location_priority"))
        .join(skus, skus.c.id == reservation_lines.c.sku_id)
        .join(locations, locations.c.id == reservation_lines.c.location_id)
        .where(reservation_lines.c.reservation_id == reservation_id)
        .order_by(reservation_lines.c.id)
    ).mappings().all()
    return [dict(r) for r in rows]


_OVERDUE = (
    "SELECT reservations.id FROM reservations WHERE reservations.status = 'active' "
    "AND reservations.expires_at <= ? {on_sku}ORDER BY reservations.expires_at, reservations.id LIMIT ?"
)
_ON_SKU = ("AND reservations.id IN (SELECT reservation_lines.reservation_id FROM reservation_lines "
           "WHERE reservation_lines.sku_id = ?) ")
# Lock the whole batch up front, in one total order, before any level row is touched: two transactions
# expiring overlapping sets (a buyer of each SKU of the same multi-SKU carts) then queue on the first
# shared reservation instead of deadlocking on each other's level rows. After the wait, PostgreSQL
# re-checks the WHERE, so reservations another transaction just expired drop out. (SQLite: no-op.)
_LOCKED = " FOR UPDATE OF reservations"
_OVERDUE_LOCKED = raw.Sql(_OVERDUE.format(on_sku=""), _OVERDUE.format(on_sku="") + _LOCKED)
_OVERDUE_ON_SKU_LOCKED = raw.Sql(_OVERDUE.format(on_sku=_ON_SKU), _OVERDUE.format(on_sku=_ON_SKU) + _LOCKED)
# Lock-free: "could expiring holds free anything for this SKU?" (a refusal checks this before any lock).
_ANY_OVERDUE_ON_SKU = raw.Sql(_OVERDUE.format(on_sku=_ON_SKU))


def overdue_reservation_ids(conn: Connection, now: datetime, *, sku_id: int | None = None,
                            limit: int = 100) -> list[int]:
    ts = raw.time_value(conn, now)
    if sku_id is None:
        cursor = raw.execute(conn, _OVERDUE_LOCKED, (ts, limit))
    else:
        cursor = raw.execute(conn, _OVERDUE_ON_SKU_LOCKED, (ts, sku_id, limit))
    return [row[0] for row in cursor.fetchall()]


def has_overdue_on_sku(conn: Connection, sku_id: int, now: datetime) -> bool:
    """True if some active hold on the SKU is past its expiry (read without taking any lock)."""
    return raw.execute(conn, _ANY_OVERDUE_ON_SKU, (raw.time_value(conn, now), sku_id, 1)).fetchone() is not None


def claim_order_reference(conn: Connection, reference: str, source: str, reservation_id: int | None,
                          now: datetime) -> int | None:
    ts = raw.time_value(conn, now)
    row = raw.execute(conn, _CLAIM_ORDER, (reference, "open", source, reservation_id, ts, ts)).fetchone()
    return row[0] if row else None


def insert_order_lines(conn: Connection, order_id: int, lines: list[dict[str, int]]) -> None:
    conn.execute(
        insert(order_lines),
        [{"order_id": order_id, "fulfilled": 0, "cancelled": 0, "returned": 0, **line} for line in lines],
    )


def order_header(conn: Connection, *, order_id: int | None = None, reference: str | None = None,
                 for_update: bool = False) -> dict[str, Any] | None:
    stmt = select(orders)
    stmt = stmt.where(orders.c.id == order_id) if order_id is not None else stmt.where(
        orders.c.reference == reference
    )
    if for_update:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def order_line_rows(conn: Connection, order_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(order_lines, skus.c.sku, skus.c.backorder_policy, skus.c.backorder_cap,
               skus.c.low_stock_threshold, locations.c.code.label("location"),
               locations.c.priority.label("location_priority"))
        .join(skus, skus.c.id == order_lines.c.sku_id)
        .join(locations, locations.c.id == order_lines.c.location_id)
        .where(order_lines.c.order_id == order_id)
        .order_by(order_lines.c.id)
    ).mappings().all()
    return [dict(r) for r in rows]


def update_order_line(conn: Connection, line_id: int, **values: int) -> None:
    conn.execute(update(order_lines).where(order_lines.c.id == line_id).values(**values))


def set_order_status(conn: Connection, order_id: int, status: str, now: datetime) -> None:
    conn.execute(update(orders).where(orders.c.id == order_id).values(status=status, updated_at=now))


def line_sku_ref(line: dict[str, Any]) -> SkuRef:
    """The SKU reference of a reservation or order line row (as read by the queries above)."""
    return SkuRef(line["sku_id"], line["sku"], BackorderPolicy(line["backorder_policy"]), line["backorder_cap"],
                  line["low_stock_threshold"])


def line_location_ref(line: dict[str, Any]) -> LocationRef:
    return LocationRef(line["location_id"], line["location"], line["location_priority"])


def transition_order(conn: Connection, order_id: int, from_status: str, to_status: str, now: datetime) -> bool:
    result = conn.execute(
        update(orders)
        .where(orders.c.id == order_id, orders.c.status == from_status)
        .values(status=to_status, updated_at=now)
    )
    return result.rowcount == 1
