"""Planning's demand matrix from a packed series per SKU, brought up to date by reading only what is new.

A year of daily demand for 100,000 SKUs is tens of millions of (SKU, day) rows in orders and imported history;
reading them all every night costs about 1.5 us a row in the driver alone. `demand_series` keeps each SKU's days
as one int32 array, and `demand_series_meta.through_day` says up to which day (exclusive) every non-stale series
is complete (days past an array's end are zeros). A recompute then reads:
- one row per SKU (the arrays),
- the source rows of the days since through_day (normally one day of orders),
- every source row of the SKUs whose series is missing or stale (`mark_stale`: an import or a cancellation changed
  their past days), and rebuilds those.
`read` builds the matrix inside the caller's read transaction and returns the cache changes; `save` applies them
in the write transaction, guarded by a compare-and-set of through_day, so two recomputes racing cannot both
append the same days.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Connection, insert, select, update

from stockpilot.adapters.db import demand_store as source
from stockpilot.adapters.db import raw
from stockpilot.adapters.db.tables import demand_series, demand_series_meta

DTYPE = np.dtype("<i4")
KEEP_DAYS = 800  # a series is trimmed to about two planning windows; older days are never read again
REBUILD_INLINE = 2000  # up to this many SKUs are rebuilt with an IN list; more: one scan of everything


@dataclass
class SeriesUpdate:
    expected_through: date | None  # what through_day was when read (compare-and-set)
    through_day: date
    rows: list[dict[str, Any]] = field(default_factory=list)  # full series rows to write (upsert)


def read(conn: Connection, rows: list[Any], today: date, days: int) -> tuple[np.ndarray, SeriesUpdate]:
    """The (SKUs x days) matrix before `today` (NaN before a SKU was observed), and the cache changes."""
    start = today - timedelta(days=days)
    units = np.zeros((len(rows), days), dtype=np.float64)
    through = conn.execute(select(demand_series_meta.c.through_day).where(demand_series_meta.c.id == 1)
                           ).scalar_one_or_none()
    update_ = SeriesUpdate(through, today)
    if not rows:
        return units, update_
    index = source.row_index(rows)
    cached = _cached(conn)
    fresh = through is not None and through <= today
    rebuild = [k for k, r in enumerate(rows) if not fresh or r.id not in cached or cached[r.id].stale]
    keep = np.ones(len(rows), dtype=bool)
    keep[rebuild] = False
    first_seen = np.full(len(rows), days, dtype=np.int64)
    # Series written on the same day share a start and a length: decode each such group in one frombuffer.
    groups: dict[tuple[date, int], list[int]] = {}
    for k in np.flatnonzero(keep).tolist():
        entry = cached[rows[k].id]
        groups.setdefault((entry.start_day, len(entry.units)), []).append(k)
        first_seen[k] = (entry.observed_from - start).days
    for (start_day, size), members in groups.items():
        block = np.frombuffer(b"".join(cached[rows[k].id].units for k in members), dtype=DTYPE)
        block = block.reshape(len(members), size // DTYPE.itemsize)
        offset = (start_day - start).days
        lo, hi = max(offset, 0), min(offset + block.shape[1], days)
        if hi > lo:
            units[members, lo:hi] = block[:, lo - offset:hi - offset]

    if fresh and through < today:  # the days since the last recompute, for every SKU kept from the cache
        kept_index = index.copy()
        kept_index[[rows[k].id for k in rebuild]] = -1  # rebuilt rows read their whole window below
        new_units = np.zeros((len(rows), (today - through).days), dtype=np.float64)
        source.scatter(new_units, kept_index, source.demand_triples(conn, through, today))
        shift = (through - start).days
        touched = np.flatnonzero(new_units.any(axis=1))
        for k in touched:
            lo = max(shift, 0)
            units[k, lo:] += new_units[k, lo - shift:]
            entry = cached[rows[k].id]
            update_.rows.append(_extended(rows[k].id, np.frombuffer(entry.units, dtype=DTYPE), entry.start_day,
                                          through, new_units[k], entry.observed_from, today))

    if rebuild:
        only = [rows[k].id for k in rebuild] if len(rebuild) <= REBUILD_INLINE else None
        mask = np.full(len(index), -1, dtype=np.int64)
        mask[[rows[k].id for k in rebuild]] = rebuild
        fresh_units = np.zeros((len(rows), days), dtype=np.float64)
        source.scatter(fresh_units, mask, source.demand_triples(conn, start, today, only))
        for k in rebuild:
            units[k] = fresh_units[k]
            first_seen[k] = (rows[k].created_at.date() - start).days
        rebuilt_first = first_seen.copy()
        source.earliest_import(rebuilt_first, mask, source.first_imports(conn, start))
        for k in rebuild:
            first_seen[k] = rebuilt_first[k]
            observed = start + timedelta(days=int(first_seen[k]))
            update_.rows.append({"sku_id": rows[k].id, "start_day": start, "stale": False,
                                 "units": units[k].astype(DTYPE).tobytes(), "observed_from": observed})
    source.mask_unobserved(units, first_seen)
    return units, update_


@dataclass(frozen=True, slots=True)
class _Cached:
    start_day: date
    units: bytes
    observed_from: date
    stale: bool


def _cached(conn: Connection) -> dict[int, _Cached]:
    """Every series, on the bare driver cursor (a Row per SKU costs more than the rest of the read)."""
    found = conn.exec_driver_sql("SELECT sku_id, start_day, units, observed_from, stale FROM demand_series"
                                 ).cursor.fetchall()

    days: dict[Any, date] = {}  # few distinct values: parse each once (SQLite hands back text)

    def day(value: Any) -> date:
        if value not in days:
            days[value] = value if isinstance(value, date) else date.fromisoformat(value)
        return days[value]

    return {sku_id: _Cached(day(start), units, day(seen), bool(stale)) for sku_id, start, units, seen, stale in found}


def _extended(sku_id: int, array: np.ndarray, start_day: date, through: date, new: np.ndarray, observed: date,
              today: date) -> dict[str, Any]:
    """The series with the new days appended (zeros between its end and through_day), trimmed to KEEP_DAYS."""
    gap = (through - start_day).days - len(array)
    full = np.concatenate([array, np.zeros(max(gap, 0), dtype=DTYPE), new.astype(DTYPE)])
    if gap < 0:  # the series already reached past through_day (cannot happen with the CAS; be safe)
        full = np.concatenate([array[:(through - start_day).days], new.astype(DTYPE)])
    cut = max(0, len(full) - KEEP_DAYS)
    return {"sku_id": sku_id, "start_day": start_day + timedelta(days=cut), "stale": False,
            "units": full[cut:].tobytes(), "observed_from": observed}


def save(conn: Connection, update_: SeriesUpdate) -> bool:
    """Write the cache changes if nobody else moved through_day meanwhile; False: another recompute won."""
    meta = demand_series_meta
    if update_.expected_through is None:
        won = conn.execute(select(meta.c.id).where(meta.c.id == 1)).first() is None
        if won:
            conn.execute(insert(meta).values(id=1, through_day=update_.through_day))
    else:
        won = conn.execute(update(meta).where(meta.c.id == 1, meta.c.through_day == update_.expected_through)
                           .values(through_day=update_.through_day)).rowcount == 1
    if not won:
        return False
    rows = [(r["sku_id"], r["start_day"].isoformat(), r["units"], r["observed_from"].isoformat(), r["stale"])
            for r in update_.rows]
    if rows:
        raw.executemany(conn, _UPSERT, rows)
    return True


_UPSERT = raw.Sql(
    "INSERT INTO demand_series (sku_id, start_day, units, observed_from, stale) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (sku_id) DO UPDATE SET start_day = excluded.start_day, units = excluded.units, "
    "observed_from = excluded.observed_from, stale = excluded.stale",
    "INSERT INTO demand_series (sku_id, start_day, units, observed_from, stale) "
    "VALUES (?, CAST(? AS date), ?, CAST(? AS date), ?) "
    "ON CONFLICT (sku_id) DO UPDATE SET start_day = excluded.start_day, units = excluded.units, "
    "observed_from = excluded.observed_from, stale = excluded.stale",
)


def mark_stale(conn: Connection, sku_ids: Iterable[int]) -> None:
    """Past days of these SKUs changed (history imported, an order cancelled): rebuild them next time."""
    ids = sorted(set(sku_ids))
    for lo in range(0, len(ids), 5000):
        conn.execute(update(demand_series).where(demand_series.c.sku_id.in_(ids[lo:lo + 5000])).values(stale=True))
