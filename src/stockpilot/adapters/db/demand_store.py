"""Daily demand per SKU: imported history plus what the orders themselves say, as one matrix for planning."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Connection, select

from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.tables import demand_history, planned_events, skus


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
    Planning reads a year for every SKU, so this reads on the bare driver cursor with the day offset computed in
    SQL, and scatters into the matrix with NumPy: no Row or date object per record.
    """
    start = today - timedelta(days=days)
    units = np.zeros((len(rows), days), dtype=np.float64)
    if not rows:
        return units
    ids = np.fromiter((r.id for r in rows), dtype=np.int64, count=len(rows))
    index = np.full(int(ids.max()) + 1, -1, dtype=np.int64)
    index[ids] = np.arange(len(rows))
    sqlite = conn.dialect.name == "sqlite"
    offset = ("CAST(julianday(day) - julianday(:start) AS INTEGER)" if sqlite else "(day - CAST(:start AS date))")
    history = _fetch(conn, f"SELECT sku_id, {offset}, units FROM demand_history WHERE day >= :start AND day < :end",
                     {"start": start.isoformat(), "end": today.isoformat()})
    _scatter(units, index, history)
    placed = ("CAST(julianday(substr(o.created_at, 1, 10)) - julianday(:start) AS INTEGER)" if sqlite else
              "(CAST(o.created_at AT TIME ZONE 'UTC' AS date) - CAST(:start AS date))")
    since = ("substr(o.created_at, 1, 10) >= :start AND substr(o.created_at, 1, 10) < :end" if sqlite else
             "o.created_at >= CAST(:start_ts AS timestamptz) AND o.created_at < CAST(:end_ts AS timestamptz)")
    ordered = _fetch(conn, f"SELECT l.sku_id, {placed}, l.quantity - l.cancelled FROM order_lines l "
                           f"JOIN orders o ON o.id = l.order_id WHERE {since}",
                     {"start": start.isoformat(), "end": today.isoformat(),
                      "start_ts": f"{start}T00:00:00+00:00", "end_ts": f"{today}T00:00:00+00:00"})
    _scatter(units, index, ordered)

    first_seen = np.array([(r.created_at.date() - start).days for r in rows], dtype=np.int64)
    first_day = _fetch(conn, f"SELECT sku_id, MIN({offset}), 0 FROM demand_history GROUP BY sku_id",
                       {"start": start.isoformat()})
    if len(first_day):
        known = (first_day[:, 0] < len(index)) & (index[np.minimum(first_day[:, 0], len(index) - 1)] >= 0)
        rows_of = index[first_day[known, 0]]
        np.minimum.at(first_seen, rows_of, first_day[known, 1])
    unobserved = np.clip(first_seen, 0, days)
    mask = np.arange(days)[None, :] < unobserved[:, None]
    units[mask] = np.nan
    return units


def _fetch(conn: Connection, sql: str, params: dict[str, Any]) -> np.ndarray:
    """(sku_id, day offset, units) triples as an int64 array, straight from the driver."""
    if conn.dialect.name != "sqlite":  # SQLite's driver takes :name, psycopg %(name)s
        sql = re.sub(r":(\w+)", r"%(\1)s", sql)
        params = {k: v for k, v in params.items() if f"%({k})s" in sql}
    else:
        params = {k: v for k, v in params.items() if f":{k}" in sql}
    # The DB-API cursor's plain tuples: NumPy probing SQLAlchemy Row objects costs ~10 us a row.
    found = conn.exec_driver_sql(sql, params).cursor.fetchall()
    return np.array(found, dtype=np.int64).reshape(-1, 3)


def _scatter(units: np.ndarray, index: np.ndarray, triples: np.ndarray) -> None:
    if not len(triples):
        return
    sku, day, qty = triples[:, 0], triples[:, 1], triples[:, 2]
    keep = (sku < len(index)) & (day >= 0) & (day < units.shape[1])
    rows = index[np.where(keep, sku, 0)]
    keep &= rows >= 0
    np.add.at(units, (rows[keep], day[keep]), qty[keep])


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
