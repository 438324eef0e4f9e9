"""Figures per policy variant and demand class from a SimResult (pure arithmetic on its sums).

Definitions (over the measured days; "per year" = scaled by 365 / measured days):
- fill_rate: units sold / units demanded (aggregate); fill_rate_p10: the 10th percentile of per-SKU fill rates
  (SKUs with demand in the measured days);
- cycle_service: replenishment cycles (an order placed until it arrives) without a lost sale / cycles;
  calibration = cycle_service - target (Stockpilot only: its knob IS the target cycle service level), in points;
- stockout_days_per_sku_year: days with a lost sale; lost_units, lost_revenue (at the SKU's price) per year;
- avg_inventory_value: mean over days of the sum of on-hand x unit cost; days_of_cover = average on-hand units /
  average daily demand;
- pos_per_sku_year: orders placed (one SKU's PO line each);
- total_cost per year = holding_rate x avg_inventory_value + ordering_cost x orders + lost units x (price - cost)
  x lost_margin_factor.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stockpilot.simulation.engine import SimResult
from stockpilot.simulation.model import CLASSES, Catalog, Costs, Variant


def figures(result: SimResult, catalog: Catalog, costs: Costs) -> list[dict[str, Any]]:
    """One row per (variant, class) with class 'all' first."""
    out = []
    margin = np.maximum(catalog.unit_price - catalog.unit_cost, 0.0)
    groups = {"all": np.ones(len(catalog), bool)} | {c: catalog.demand_class == c for c in CLASSES}
    for v in result.variants:
        rows = result.rows(v)
        t = {k: a[rows] for k, a in result.totals.items()}
        for name, mask in groups.items():
            if not mask.any():
                continue
            out.append(_row(v, name, {k: a[mask] for k, a in t.items()}, margin[mask], result.eval_days, costs))
    return out


def _row(v: Variant, demand_class: str, t: dict[str, np.ndarray], margin: np.ndarray, days: int,
         costs: Costs) -> dict[str, Any]:
    year = 365.0 / days
    n = len(t["demand"])
    demand, sold = t["demand"].sum(), t["sold"].sum()
    has = t["demand"] > 0
    per_sku = t["sold"][has] / t["demand"][has]
    cycles = t["cycles"].sum()
    csl = float(1 - t["bad_cycles"].sum() / cycles) if cycles else None
    inv_value = float(t["onhand_value"].sum() / days)
    daily_demand = demand / days
    lost_cost = float((t["lost"] * margin).sum() * costs.lost_margin_factor * year)
    holding = costs.holding_rate * inv_value
    ordering = float(costs.ordering_cost * t["orders"].sum() * year)
    return {
        "policy": v.policy, "knob": v.knob, "default": v.is_default, "demand_class": demand_class, "skus": n,
        "fill_rate": float(sold / demand) if demand else None,
        "fill_rate_p10": float(np.percentile(per_sku, 10)) if per_sku.size else None,
        "cycle_service": csl,
        "target_service": v.knob if v.policy.startswith("stockpilot") else None,
        "calibration_points": (100 * (csl - v.knob)) if v.policy.startswith("stockpilot") and csl is not None
        else None,
        "stockout_days_per_sku_year": float(t["stockout_days"].sum() / n * year),
        "lost_units_per_year": float(t["lost"].sum() * year),
        "lost_revenue_per_year": float(t["lost_revenue"].sum() * year),
        "avg_inventory_value": inv_value,
        "days_of_cover": float(t["onhand_units"].sum() / days / daily_demand) if daily_demand else None,
        "pos_per_sku_year": float(t["orders"].sum() / n * year),
        "holding_cost_per_year": holding, "ordering_cost_per_year": ordering, "lost_sales_cost_per_year": lost_cost,
        "total_cost_per_year": holding + ordering + lost_cost,
    }


def risk_scores(result: SimResult) -> dict[str, float | int | None]:
    """The 7-day at-risk flag of the default Stockpilot rows against what happened: precision, recall, Brier
    score of the flag taken as a probability of 0 or 1 (= the share of wrong calls)."""
    p, y = result.risk_predicted, result.risk_happened
    tp = int((p & y).sum())
    flagged, positives, total = int(p.sum()), int(y.sum()), int(p.size)
    return {
        "samples": total, "flagged": flagged, "stockouts": positives,
        "precision": tp / flagged if flagged else None,
        "recall": tp / positives if positives else None,
        "brier": float(np.mean(p != y)) if total else None,
    }
