"""The catalog reads of placing demand (SKU and location refs, routing options) on the bare cursor.

The same queries as catalog_store's, which the rest of the code keeps using; these run on every reservation and
direct order, so they skip SQLAlchemy Core's per-statement cost (see adapters/db/raw.py).
"""

from __future__ import annotations

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


def sku_ref(conn: Connection, sku: str) -> SkuRef | None:
    row = raw.execute(conn, _SKU_REF, (sku,)).fetchone()
    return SkuRef(row[0], row[1], BackorderPolicy(row[2]), row[3], row[4]) if row else None


def location_ref(conn: Connection, code: str) -> LocationRef | None:
    row = raw.execute(conn, _LOCATION_REF, (code,)).fetchone()
    return LocationRef(*row) if row else None


def routing_options(conn: Connection, sku_id: int) -> list[tuple[LocationRef, int]]:
    rows = raw.execute(conn, _ROUTING_OPTIONS, (sku_id,)).fetchall()
    return [(LocationRef(r[0], r[1], r[2]), int(r[3])) for r in rows]
