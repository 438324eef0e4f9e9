"""The statements of placing demand (SKU and location refs, routing options, order lines) on the bare cursor.

The same queries as catalog_store's and reservation_store's, which the rest of the code keeps using; these run on
every reservation, direct order and channel order, so they skip SQLAlchemy Core's per-statement cost (see
adapters/db/raw.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.db import raw
from stockpilot.adapters.db.ledger import LocationRef, SkuRef
from stockpilot.domain.model import BackorderPolicy

_SKU_REF = raw.Sql("SELECT id, sku, backorder_policy, backorder_cap, low_stock_threshold FROM skus WHERE sku = ?")
_LOCATION_REF = raw.Sql("SELECT id, code, priority FROM locations WHERE code = ?")
# Every location, with the SKU's availability there (0 where it has no level row yet).
_ROUTING_OPTIONS = raw.Sql(
    "SELECT locations.id, locations.code, locations.priority, "
    "coalesce((stock_levels.on_hand - stock_levels.committed) - stock_levels.reserved, 0) AS available "
    "FROM locations LEFT OUTER JOIN stock_levels "
    "ON stock_levels.location_id = locations.id AND stock_levels.sku_id = ?"
)


# The same routing options, with "does an active hold on the SKU lie past its expiry?" (lock-free, as
# reservation_store.has_overdue_on_sku): evaluated once per statement, it spares the locking expiry query when no
# hold is overdue, which is nearly always.
_OVERDUE_ON = ("EXISTS (SELECT 1 FROM reservations WHERE reservations.status = 'active' AND reservations.expires_at "
               "<= ? AND reservations.id IN (SELECT reservation_lines.reservation_id FROM reservation_lines "
               "WHERE reservation_lines.sku_id = {sku_id}))")
_ROUTING_OPTIONS_AND_OVERDUE = raw.Sql(
    "SELECT locations.id, locations.code, locations.priority, "
    "coalesce((stock_levels.on_hand - stock_levels.committed) - stock_levels.reserved, 0) AS available, "
    + _OVERDUE_ON.format(sku_id="?") + " AS overdue "
    "FROM locations LEFT OUTER JOIN stock_levels "
    "ON stock_levels.location_id = locations.id AND stock_levels.sku_id = ?"
)
_CONTACT = raw.Sql("INSERT INTO order_contacts (order_id, email, phone) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")


_LINES_PER_INSERT = 200  # well inside every driver's bound-parameter limit; one statement for any real order


@cache
def _order_lines(count: int) -> raw.Sql:
    return raw.Sql("INSERT INTO order_lines (order_id, sku_id, location_id, quantity, fulfilled, cancelled, returned) "
                   "VALUES " + ", ".join(["(?, ?, ?, ?, 0, 0, 0)"] * count))


@cache
def _line_sku(external_ids: int, by_sku: bool) -> raw.Sql:
    """A channel line's SKU: its listings in the order of its external ids, then the SKU string (rank decides)."""
    branches = [f"SELECT sku_id, {rank} AS rank FROM channel_listings WHERE channel = ? AND external_id = ?"
                for rank in range(external_ids)]
    if by_sku:
        branches.append(f"SELECT id AS sku_id, {external_ids} AS rank FROM skus WHERE sku = ?")
    return raw.Sql(
        "SELECT s.id, s.sku, s.backorder_policy, s.backorder_cap, s.low_stock_threshold FROM ("
        + " UNION ALL ".join(branches) + ") candidates JOIN skus s ON s.id = candidates.sku_id "
        "ORDER BY candidates.rank LIMIT 1"
    )


@cache
def _line_routing(external_ids: int, by_sku: bool) -> raw.Sql:
    """_line_sku's SKU with the routing options (and overdue flag) of _ROUTING_OPTIONS_AND_OVERDUE: one row per
    location (a row with NULL location columns when there is none)."""
    return raw.Sql(
        "WITH found AS (" + _line_sku(external_ids, by_sku).sqlite + ") "
        "SELECT found.id, found.sku, found.backorder_policy, found.backorder_cap, found.low_stock_threshold, "
        "locations.id, locations.code, locations.priority, "
        "coalesce((stock_levels.on_hand - stock_levels.committed) - stock_levels.reserved, 0), "
        + _OVERDUE_ON.format(sku_id="found.id") +
        " FROM found LEFT OUTER JOIN locations ON 1 = 1 LEFT OUTER JOIN stock_levels "
        "ON stock_levels.location_id = locations.id AND stock_levels.sku_id = found.id"
    )


def _line_params(channel: str, external_ids: Sequence[str], sku: str | None) -> list[Any]:
    params: list[Any] = []
    for external_id in external_ids:
        params += (channel, external_id)
    if sku is not None:
        params.append(sku)
    return params


def line_sku_routing(conn: Connection, channel: str, external_ids: Sequence[str], sku: str | None, now: datetime
                     ) -> tuple[SkuRef, list[tuple[LocationRef, int]], bool] | None:
    """line_sku_ref and, for that SKU, routing_options_and_overdue: what a routed channel line needs, in ONE
    statement (None: no such SKU)."""
    if not external_ids and sku is None:
        return None
    params = [*_line_params(channel, external_ids, sku), raw.time_value(conn, now)]
    rows = raw.execute(conn, _line_routing(len(external_ids), sku is not None), params).fetchall()
    if not rows:
        return None
    first = rows[0]
    ref = SkuRef(first[0], first[1], BackorderPolicy(first[2]), first[3], first[4])
    options = [(LocationRef(r[5], r[6], r[7]), int(r[8])) for r in rows if r[5] is not None]
    return ref, options, bool(first[9]) and bool(options)


def line_sku_ref(conn: Connection, channel: str, external_ids: Sequence[str], sku: str | None) -> SkuRef | None:
    """The SKU a channel's line is (a listing of one of its ids first, else the SKU string), in ONE statement."""
    if not external_ids and sku is None:
        return None
    params = _line_params(channel, external_ids, sku)
    row = raw.execute(conn, _line_sku(len(external_ids), sku is not None), params).fetchone()
    return SkuRef(row[0], row[1], BackorderPolicy(row[2]), row[3], row[4]) if row else None


def sku_ref(conn: Connection, sku: str) -> SkuRef | None:
    row = raw.execute(conn, _SKU_REF, (sku,)).fetchone()
    return SkuRef(row[0], row[1], BackorderPolicy(row[2]), row[3], row[4]) if row else None


def location_ref(conn: Connection, code: str) -> LocationRef | None:
    row = raw.execute(conn, _LOCATION_REF, (code,)).fetchone()
    return LocationRef(*row) if row else None


def routing_options(conn: Connection, sku_id: int) -> list[tuple[LocationRef, int]]:
    rows = raw.execute(conn, _ROUTING_OPTIONS, (sku_id,)).fetchall()
    return [(LocationRef(r[0], r[1], r[2]), int(r[3])) for r in rows]


def routing_options_and_overdue(conn: Connection, sku_id: int, now: datetime
                                ) -> tuple[list[tuple[LocationRef, int]], bool]:
    """routing_options, and whether some active hold on the SKU is overdue at `now`, in one statement."""
    rows = raw.execute(conn, _ROUTING_OPTIONS_AND_OVERDUE, (raw.time_value(conn, now), sku_id, sku_id)).fetchall()
    return [(LocationRef(r[0], r[1], r[2]), int(r[3])) for r in rows], any(bool(r[4]) for r in rows)


def insert_order_lines(conn: Connection, order_id: int, lines: Sequence[tuple[int, int, int]]) -> None:
    """The order's lines, (sku_id, location_id, quantity) each, in one multi-row INSERT (nothing shipped yet);
    deferred within raw.deferring (nothing reads its answer)."""
    for start in range(0, len(lines), _LINES_PER_INSERT):
        chunk = lines[start:start + _LINES_PER_INSERT]
        params: list[int] = []
        for sku_id, location_id, quantity in chunk:
            params += (order_id, sku_id, location_id, quantity)
        raw.defer(conn, _order_lines(len(chunk)), params)


def save_contact(conn: Connection, order_id: int, email: str | None, phone: str | None) -> None:
    """As backorder_store.save_contact: who placed the order (either may be None, not both)."""
    raw.defer(conn, _CONTACT, (order_id, email, phone))
