"""The dashboard overview's poll at many SKUs: the at-risk list, before and after reading candidates only.

Builds a SQLite catalog of N SKUs (default 50,000) with stock, a stored policy (mean daily demand, reorder point,
an explanation JSON like the planner writes) and about 1% of SKUs that run out within 7 days; then times, in the
same run:
  baseline  the forecast view over every SKU (what /live/overview did: every SKU and policy row into Python,
            then the at-risk rule), filtered to at-risk;
  current   PlanService.view(at_risk_only=True): the database picks the candidates (available <= 0 or below
            mean x horizon), the exact rule runs on those only;
and the whole DashboardService.overview() (every section) with the current path.
Rows read into Python are counted exactly (SKU rows + policy rows); the two at-risk lists must be equal.

Usage: python bench/dashboard_overview.py [--skus 50000] [--repeat 5] [--db PATH]
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, insert, select

from stockpilot.adapters.db import at_risk_store, demand_store
from stockpilot.adapters.db.tables import locations, sku_policies, skus, stock_levels
from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.domain.clock import ManualClock
from stockpilot.services.dashboard import DashboardService

EXPLANATION = {"method": "ewma", "surge": False, "recent_velocity": 1.2, "long_velocity": 1.1, "event_factor": 1.0,
               "observations": 365, "service_level": 0.95, "z": 1.645, "lead_time_days": 7.0,
               "lead_time_spread_days": 1.0, "supplier": "ACME", "abc_class": None, "eoq": None, "rule": "stockpilot"}


def seed(sp, n: int, rng: random.Random, now: datetime) -> None:
    def work(conn):
        loc = conn.execute(insert(locations).values(code="WH", name="WH", kind="warehouse", priority=1,
                                                    created_at=now).returning(locations.c.id)).scalar_one()
        for start in range(0, n, 5000):
            rows, levels, policies = [], [], []
            for k in range(start, min(n, start + 5000)):
                mean = rng.uniform(0.2, 6.0)
                at_risk = rng.random() < 0.01
                on_hand = rng.randint(0, int(mean * 6)) if at_risk else rng.randint(int(mean * 9) + 1, 400)
                rows.append({"id": k + 1, "sku": f"SKU-{k:06d}", "title": f"Item {k}", "options": {},
                             "backorder_policy": "deny", "on_hand": on_hand, "committed": 0, "reserved": 0,
                             "incoming": 0, "created_at": now, "updated_at": now})
                levels.append({"sku_id": k + 1, "location_id": loc, "on_hand": on_hand, "committed": 0,
                               "reserved": 0, "incoming": 0, "updated_at": now})
                policies.append({"sku_id": k + 1, "policy": "stockpilot", "mean_daily": mean, "std_daily": mean / 2,
                                 "demand_class": "smooth", "reorder_point": int(mean * 9),
                                 "safety_stock": int(mean * 2), "order_up_to": int(mean * 30),
                                 "explanation": EXPLANATION, "computed_at": now, "updated_at": now})
            conn.execute(insert(skus), rows)
            conn.execute(insert(stock_levels), levels)
            conn.execute(insert(sku_policies), policies)
    sp.db.write(work)


def timed(fn, repeat: int) -> tuple[float, object]:
    result, times = None, []
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skus", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    path = Path(args.db) if args.db else Path(tempfile.mkdtemp()) / "overview.db"
    clock = ManualClock(datetime(2026, 12, 1, 12, tzinfo=UTC))
    sp = build(Settings(database_url=f"sqlite:///{path}"), clock=clock)
    seed(sp, args.skus, random.Random(42), clock.now())

    def baseline():
        return [r for r in sp.plan.view(horizon_days=7, at_risk_only=False, limit=None) if r["at_risk"]]

    def current():
        return sp.plan.view(horizon_days=7, at_risk_only=True, limit=None)

    base_s, base = timed(baseline, args.repeat)
    cur_s, cur = timed(current, args.repeat)
    assert base == cur, "the candidate path must give the same at-risk list"
    overview_s, _ = timed(lambda: DashboardService(sp.ctx, sp.plan).overview(), args.repeat)
    with sp.db.read() as conn:
        all_rows = len(demand_store.sku_index(conn))
        policy_rows = conn.execute(select(func.count()).select_from(sku_policies)).scalar_one()
        candidates = len(at_risk_store.at_risk_candidates(conn, 7))
    sp.close()
    figures = {
        "skus": args.skus, "at_risk": len(cur), "repeat": args.repeat,
        "rows_read_baseline": all_rows + policy_rows, "rows_read_current": 2 * candidates,
        "rows_ratio": round((all_rows + policy_rows) / max(1, 2 * candidates), 1),
        "at_risk_view_seconds_baseline": round(base_s, 4), "at_risk_view_seconds_current": round(cur_s, 4),
        "speedup": round(base_s / cur_s, 1) if cur_s else None, "overview_seconds_current": round(overview_s, 4),
    }
    print(f"{args.skus:,} SKUs, {len(cur)} at risk within 7 days (median of {args.repeat})")
    print(f"  baseline (view over every SKU): {base_s * 1000:8.1f} ms, {all_rows + policy_rows:,} rows into Python")
    print(f"  current  (candidates only):     {cur_s * 1000:8.1f} ms, {2 * candidates:,} rows into Python "
          f"({figures['speedup']}x faster, {figures['rows_ratio']}x fewer rows)")
    print(f"  whole overview (every section): {overview_s * 1000:8.1f} ms")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
