"""Daily demand per SKU: imported history plus what the orders themselves say, as one matrix for planning."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import Connection, select

from stockpilot.adapters.db import raw
from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.tables import demand_history, planned_events


class SkuRow(NamedTuple):
    id: int
    sku: str
    created_at: datetime
    on_hand: int
    committed: int
    reserved: int
    incoming: int


_SKU_INDEX = raw.Sql("SELECT id, sku, created_at, on_hand, committed, reserved, incoming FROM skus")


def sku_index(conn: Connection, sku: str | None = None) -> list[SkuRow]:
    """Every SKU (or the one named), by id — the row order of the planning matrix. Read on the driver: planning
    reads all of them, and a Row with UtcDateTime processing costs ~10 us each."""
    sql = _SKU_INDEX if sku is None else raw.Sql(_SKU_INDEX.sqlite + " WHERE sku = ?")
    found = raw.execute(conn, raw.Sql(sql.sqlite + " ORDER BY id"), () if sku is None else (sku,)).fetchall()
    return [SkuRow(i, code, _utc(at), oh, cm, rs, inc) for i, code, at, oh, cm, rs, inc in found]


def _utc(value: Any) -> datetime:
    """A UtcDateTime as the driver hands it back: naive UTC text on SQLite, aware on PostgreSQL."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def daily_matrix(conn: Connection, rows: list[Any], today: date, days: int) -> np.ndarray:
    """units[sku row, day] for the `days` days before `today` (oldest first); NaN before a SKU was observed.

    A SKU is observed from its first imported day or its creation, whichever is earlier. Order demand is what
    was ordered (cancellations taken off: a cancelled sale is not demand), on the UTC day the order was placed.
    This reads every SKU-day from the source tables; planning reads through demand_series (a packed cache kept
    up to date from these same reads) so a recompute does not scan a year of rows per SKU.
    """
    start = today - timedelta(days=days)
    units = np.zeros((len(rows), days), dtype=np.float64)
    if not rows:
        return units
    index = row_index(rows)
    scatter(units, index, demand_triples(conn, start, today))
    first_seen = np.array([(r.created_at.date() - start).days for r in rows], dtype=np.int64)
    earliest_import(first_seen, index, first_imports(conn, start))
    mask_unobserved(units, first_seen)
    return units


def row_index(rows: list[Any]) -> np.ndarray:
    """sku_id -> row of the matrix (-1: not planned)."""
    ids = np.fromiter((r.id for r in rows), dtype=np.int64, count=len(rows))
    index = np.full(int(ids.max()) + 1 if len(ids) else 1, -1, dtype=np.int64)
    index[ids] = np.arange(len(rows))
    return index


def demand_triples(conn: Connection, start: date, end: date, sku_ids: list[int] | None = None) -> np.ndarray:
    """(sku_id, day - start, units) of imported history and of orders on days in [start, end), read on the bare
    driver cursor with the day offset computed in SQL: no Row or date object per record."""
    sqlite = conn.dialect.name == "sqlite"
    only = f" AND {{col}} IN ({', '.join(str(int(i)) for i in sku_ids)})" if sku_ids is not None else ""
    offset = ("CAST(julianday(day) - julianday(:start) AS INTEGER)" if sqlite else "(day - CAST(:start AS date))")
    history = _fetch(conn, f"SELECT sku_id, {offset}, units FROM demand_history WHERE day >= :start AND day < :end"
                           + only.format(col="sku_id"), {"start": start.isoformat(), "end": end.isoformat()})
    placed = ("CAST(julianday(substr(o.created_at, 1, 10)) - julianday(:start) AS INTEGER)" if sqlite else
              "(CAST(o.created_at AT TIME ZONE 'UTC' AS date) - CAST(:start AS date))")
    since = ("substr(o.created_at, 1, 10) >= :start AND substr(o.created_at, 1, 10) < :end" if sqlite else
             "o.created_at >= CAST(:start_ts AS timestamptz) AND o.created_at < CAST(:end_ts AS timestamptz)")
    ordered = _fetch(conn, f"SELECT l.sku_id, {placed}, l.quantity - l.cancelled FROM order_lines l "
                           f"JOIN orders o ON o.id = l.order_id WHERE {since}" + only.format(col="l.sku_id"),
                     {"start": start.isoformat(), "end": end.isoformat(),
                      "start_ts": f"{start}T00:00:00+00:00", "end_ts": f"{end}T00:00:00+00:00"})
    return np.concatenate([history, ordered])


def first_imports(conn: Connection, start: date) -> np.ndarray:
    """(sku_id, first imported day - start, 0) for every SKU with imported history."""
    sqlite = conn.dialect.name == "sqlite"
    offset = ("CAST(julianday(day) - julianday(:start) AS INTEGER)" if sqlite else "(day - CAST(:start AS date))")
    return _fetch(conn, f"SELECT sku_id, MIN({offset}), 0 FROM demand_history GROUP BY sku_id",
                  {"start": start.isoformat()})


def earliest_import(first_seen: np.ndarray, index: np.ndarray, firsts: np.ndarray) -> None:
    """Lower each row's first observed day to its first imported day where that is earlier."""
    if not len(firsts):
        return
    known = firsts[:, 0] < len(index)
    rows = index[np.where(known, firsts[:, 0], 0)]
    known &= rows >= 0
    np.minimum.at(first_seen, rows[known], firsts[known, 1])


def mask_unobserved(units: np.ndarray, first_seen: np.ndarray) -> None:
    """NaN on each row's days before its first observed day (offsets from the matrix's first day)."""
    unobserved = np.clip(first_seen, 0, units.shape[1])
    units[np.arange(units.shape[1])[None, :] < unobserved[:, None]] = np.nan


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


def scatter(units: np.ndarray, index: np.ndarray, triples: np.ndarray) -> None:
    """Add (sku_id, day offset, units) triples into the matrix; SKUs not in `index` and days outside are ignored."""
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
