"""Daily demand per SKU: imported history plus what the orders themselves say, as one matrix for planning."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Connection, func, select

from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.tables import demand_history, order_lines, orders, planned_events, skus


def sku_index(conn: Connection) -> list[Any]:
    """Every SKU (id, sku, created_at, totals), by id: the row order of the planning matrix."""
    return conn.execute(
        select(skus.c.id, skus.c.sku, skus.c.created_at, skus.c.on_hand, skus.c.committed, skus.c.reserved,
               skus.c.incoming).order_by(skus.c.id)
    ).all()


def daily_matrix(conn: Connection, rows: list[Any], today: date, days: int) -> np.ndarray:
    """units[sku row, day] for the `days` days before `today` (oldest first); NaN before a SKU was observed.

    A SKU is observed from its first imported day or its creation, whichever is earlier. Order demand is what
    was ordered (cancellations taken off: a cancelled sale is not demand), on the UTC day the order was placed.
    """
    start = today - timedelta(days=days)
    position = {r.id: i for i, r in enumerate(rows)}
    units = np.zeros((len(rows), days), dtype=np.float64)
    first_seen = {r.id: r.created_at.date() for r in rows}
    for sku_id, day, quantity in conn.execute(
        select(demand_history.c.sku_id, demand_history.c.day, demand_history.c.units)
        .where(demand_history.c.day >= start, demand_history.c.day < today)
    ):
        if sku_id in position:
            units[position[sku_id], (day - start).days] += quantity
            first_seen[sku_id] = min(first_seen[sku_id], day)
    for sku_id, day in conn.execute(
        select(demand_history.c.sku_id, func.min(demand_history.c.day)).group_by(demand_history.c.sku_id)
    ):
        if sku_id in first_seen:
            first_seen[sku_id] = min(first_seen[sku_id], day)
    since = datetime.combine(start, time.min).replace(tzinfo=rows[0].created_at.tzinfo) if rows else None
    if since is not None:
        for sku_id, placed, quantity, cancelled in conn.execute(
            select(order_lines.c.sku_id, orders.c.created_at, order_lines.c.quantity, order_lines.c.cancelled)
            .join(orders, orders.c.id == order_lines.c.order_id)
            .where(orders.c.created_at >= since)
        ):
            offset = (placed.date() - start).days
            if sku_id in position and 0 <= offset < days:
                units[position[sku_id], offset] += quantity - cancelled
    for sku_id, seen in first_seen.items():
        unobserved = (seen - start).days
        if unobserved > 0:
            units[position[sku_id], :min(unobserved, days)] = np.nan
    return units


def upsert_history(conn: Connection, values: Iterable[dict[str, Any]]) -> int:
    """Set imported daily units; the file is the truth for the (SKU, day) pairs it names."""
    batch = list(values)
    if not batch:
        return 0
    stmt = insert_or_ignore(conn, demand_history)
    stmt = stmt.on_conflict_do_update(index_elements=["sku_id", "day"], set_={"units": stmt.excluded.units})
    conn.execute(stmt, batch)
    return len(batch)


def events_between(conn: Connection, start: date, end: date) -> list[Any]:
    return conn.execute(
        select(planned_events).where(planned_events.c.ends_on >= start, planned_events.c.starts_on <= end)
        .order_by(planned_events.c.id)
    ).all()
