"""`stockpilot check`: recompute every level from the ledger and report drift or broken invariants."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from stockpilot.adapters.db.tables import (
    locations,
    movements,
    order_lines,
    orders,
    reservation_lines,
    reservations,
    skus,
    stock_levels,
)
from stockpilot.services.context import Context

BUCKETS = ("on_hand", "committed", "reserved", "incoming")


@dataclass
class CheckReport:
    levels_checked: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class CheckService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def run(self) -> CheckReport:
        with self.ctx.db.read() as conn:  # one snapshot: figures from one moment
            return check(conn)


def check(conn: Connection) -> CheckReport:
    report = CheckReport()
    names = dict(conn.execute(select(skus.c.id, skus.c.sku)).all())
    codes = dict(conn.execute(select(locations.c.id, locations.c.code)).all())

    def where(sku_id: int, location_id: int | None = None) -> dict[str, Any]:
        place = {"sku": names.get(sku_id, sku_id)}
        if location_id is not None:
            place["location"] = codes.get(location_id, location_id)
        return place

    fold = {
        (r.sku_id, r.location_id): (r.on_hand, r.committed, r.reserved, r.incoming)
        for r in conn.execute(
            select(
                movements.c.sku_id,
                movements.c.location_id,
                func.sum(movements.c.d_on_hand).label("on_hand"),
                func.sum(movements.c.d_committed).label("committed"),
                func.sum(movements.c.d_reserved).label("reserved"),
                func.sum(movements.c.d_incoming).label("incoming"),
            ).group_by(movements.c.sku_id, movements.c.location_id)
        )
    }
    held = _sum_by_level(
        conn,
        select(reservation_lines.c.sku_id, reservation_lines.c.location_id, func.sum(reservation_lines.c.quantity))
        .join(reservations, reservations.c.id == reservation_lines.c.reservation_id)
        .where(reservations.c.status == "active")
        .group_by(reservation_lines.c.sku_id, reservation_lines.c.location_id),
    )
    open_units = _sum_by_level(
        conn,
        select(
            order_lines.c.sku_id,
            order_lines.c.location_id,
            func.sum(order_lines.c.quantity - order_lines.c.fulfilled - order_lines.c.cancelled),
        )
        .join(orders, orders.c.id == order_lines.c.order_id)
        .group_by(order_lines.c.sku_id, order_lines.c.location_id),
    )
    totals: dict[int, list[int]] = {}
    for row in conn.execute(select(stock_levels)).mappings():
        report.levels_checked += 1
        key = (row["sku_id"], row["location_id"])
        actual = tuple(row[b] for b in BUCKETS)
        expected = fold.pop(key, (0, 0, 0, 0))
        if tuple(int(x or 0) for x in expected) != actual:
            report.problems.append({
                "problem": "ledger_drift", **where(*key),
                "levels": dict(zip(BUCKETS, actual, strict=True)),
                "ledger": dict(zip(BUCKETS, (int(x or 0) for x in expected), strict=True)),
            })
        for bucket in BUCKETS:
            if row[bucket] < 0:
                report.problems.append({"problem": f"negative_{bucket}", **where(*key), "value": row[bucket]})
        if row["reserved"] != held.get(key, 0):
            report.problems.append({"problem": "reserved_mismatch", **where(*key), "reserved": row["reserved"],
                                    "active_reservations": held.get(key, 0)})
        if row["committed"] != open_units.get(key, 0):
            report.problems.append({"problem": "committed_mismatch", **where(*key),
                                    "committed": row["committed"], "open_order_units": open_units.get(key, 0)})
        sums = totals.setdefault(row["sku_id"], [0, 0, 0, 0])
        for i, value in enumerate(actual):
            sums[i] += value
    for key in fold:
        report.problems.append({"problem": "ledger_without_level", **where(*key)})
    for row in conn.execute(select(skus)).mappings():
        stored = [row[b] for b in BUCKETS]
        summed = totals.get(row["id"], [0, 0, 0, 0])
        if stored != summed:
            report.problems.append({
                "problem": "sku_total_drift", **where(row["id"]),
                "totals": dict(zip(BUCKETS, stored, strict=True)),
                "sum_of_levels": dict(zip(BUCKETS, summed, strict=True)),
            })
    return report


def _sum_by_level(conn: Connection, stmt: Any) -> dict[tuple[int, int], int]:
    return {(r[0], r[1]): int(r[2] or 0) for r in conn.execute(stmt)}
