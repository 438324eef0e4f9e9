"""The SKUs that can be at risk within a horizon, selected by the database instead of read whole into Python.

Open POs only ever push a stockout later (they add stock), so a SKU with positive available `a` and mean daily
demand `d` runs out no sooner than a / d days from now. A SKU can therefore be at risk within `h` days only if
a <= 0 or a < d * h: that filter (with a little slack for float rounding) is a superset of the at-risk SKUs, and
the forecast view then applies the exact rule (open POs at their ETA) to these candidates only. At 50,000 SKUs the
view read every SKU and every policy row (with its JSON explanation) on each 5-second dashboard poll; now it reads
the few that can run out.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, func, or_, select

from stockpilot.adapters.db.demand_store import SkuRow
from stockpilot.adapters.db.tables import sku_policies, skus

SLACK = 1e-6  # units: keeps the SQL filter a superset of numpy's a / d < h at the boundary


def candidates_query(horizon_days: float) -> Select[Any]:
    available = skus.c.on_hand - skus.c.committed - skus.c.reserved
    mean = func.coalesce(sku_policies.c.mean_daily, 0.0)
    return (select(skus.c.id).select_from(skus.outerjoin(sku_policies, sku_policies.c.sku_id == skus.c.id))
            .where(or_(available <= 0, available < mean * horizon_days + SLACK)))


def at_risk_candidates(conn: Connection, horizon_days: float) -> list[SkuRow]:
    """Candidate SKUs (see the module docstring) by id, in the row shape of demand_store.sku_index."""
    ids = candidates_query(horizon_days).subquery()
    rows = conn.execute(select(skus.c.id, skus.c.sku, skus.c.created_at, skus.c.on_hand, skus.c.committed,
                               skus.c.reserved, skus.c.incoming).where(skus.c.id.in_(select(ids.c.id)))
                        .order_by(skus.c.id))
    return [SkuRow(*r) for r in rows]
