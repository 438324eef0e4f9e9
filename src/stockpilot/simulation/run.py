"""One scenario end to end: SKUs -> common random numbers -> the policy simulation -> figures -> operations."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stockpilot.adapters.retail_transactions import load_transactions
from stockpilot.simulation import catalog as catalogs
from stockpilot.simulation.engine import SimResult, simulate
from stockpilot.simulation.frontier import equal_fill_savings
from stockpilot.simulation.metrics import figures, risk_scores
from stockpilot.simulation.model import CLASSES, POLICIES, Catalog
from stockpilot.simulation.scenario import Scenario
from stockpilot.simulation.supply import draw_supply

SUMMARY_FIELDS = ("fill_rate", "fill_rate_p10", "cycle_service", "stockout_days_per_sku_year", "lost_units_per_year",
                  "lost_revenue_per_year", "avg_inventory_value", "days_of_cover", "pos_per_sku_year",
                  "total_cost_per_year", "calibration_points")
GOAL_SAVING = 0.15


@dataclass
class Outcome:
    scenario: Scenario
    catalog: Catalog
    result: SimResult
    rows: list[dict[str, Any]]
    savings: dict[str, dict[str, dict[str, float | str | None]]]  # class -> other policy -> Stockpilot's figures
    savings_eoq: dict[str, dict[str, dict[str, float | str | None]]]  # the same for stockpilot_eoq
    risk: dict[str, Any]
    operations: dict[str, Any] | None
    seconds: dict[str, float]
    data_counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The figures per policy (default knobs, all SKUs) and the goals: the CLI's last output line."""
        policies = {}
        for r in self.rows:
            if r["default"] and r["demand_class"] == "all":
                policies[r["policy"]] = {k: _round(r[k]) for k in SUMMARY_FIELDS}
        for name, s in self.savings.get("all", {}).items():
            policies[name]["stockpilot_inventory_saving_at_equal_fill"] = _round(s["saving"])
        for name, s in self.savings_eoq.get("all", {}).items():
            policies[name]["stockpilot_eoq_inventory_saving_at_equal_fill"] = _round(s["saving"])
        return {
            "scenario": self.scenario.name, "source": self.scenario.source, "skus": len(self.catalog),
            "measured_days": self.result.eval_days, "seed": self.scenario.seed, "policies": policies,
            "calibration_points": self.calibration(), "at_risk_7d": self.risk,
            "operations": self.operations, "goals": self.goals(), "seconds": self.seconds,
        }

    def calibration(self) -> dict[str, float | None]:
        return {r["demand_class"]: _round(r["calibration_points"]) for r in self.rows
                if r["policy"] == "stockpilot" and r["default"]}

    def goals(self) -> dict[str, Any]:
        """Judged on `stockpilot` as shipped (30 days of cover, service 0.95); stockpilot_eoq is reported beside."""
        cal = self.calibration()
        out: dict[str, Any] = {}
        for cls, limit in (("smooth", 1.0), ("intermittent", 2.0)):
            value = cal.get(cls)
            out[f"calibration_{cls}_within_{limit:g}pt"] = None if value is None else abs(value) <= limit
        for other in ("naive", "days_of_cover", "static_minmax"):
            s = self.savings.get("all", {}).get(other, {}).get("saving")
            out[f"inventory_saving_vs_{other}_at_equal_fill_ge_15pct"] = None if s is None else s >= GOAL_SAVING
        if self.operations is not None:
            out["zero_duplicate_pos"] = self.operations["duplicate_pos"] == 0
            share = self.operations["oversells_resolved_without_person_share"]
            out["oversells_resolved_without_person_ge_99pct"] = None if share is None else share >= 0.99
        return out


def _round(v: Any) -> Any:
    return round(v, 4) if isinstance(v, float) else v


def build_catalog(s: Scenario) -> tuple[Catalog, dict[str, int]]:
    if s.source == "retail":
        if not s.data:
            raise ValueError("a retail scenario needs a data file (--data FILE)")
        daily = load_transactions(Path(s.data))
        cat = catalogs.from_daily(daily, skus=s.skus, seed=s.seed, warmup_days=s.sim.warmup_days, days=s.days,
                                  min_sale_days=s.min_sale_days)
        return cat, daily.counts
    return catalogs.generated(skus=s.skus, days=s.days or 365, seed=s.seed, warmup_days=s.sim.warmup_days), {}


def run_scenario(s: Scenario, *, on_start: Callable[[int], None] | None = None,
                 progress: Callable[[int], None] | None = None,
                 ops_progress: Callable[[str], None] | None = None) -> Outcome:
    """`on_start(days to simulate)` once the SKUs are known, then `progress(days done)`."""
    t0 = time.perf_counter()
    cat, counts = build_catalog(s)
    t1 = time.perf_counter()
    draws = draw_supply(cat.codes, cat.lead_time_days, cat.lead_time_std_days, cat.days, seed=s.seed,
                        full_fill_probability=s.sim.full_fill_probability)
    if on_start is not None:
        on_start(cat.days - s.sim.warmup_days)
    result = simulate(cat, s.sim, draws, progress=progress)
    t2 = time.perf_counter()
    rows = figures(result, cat, s.sim.costs)
    savings = {c: equal_fill_savings(rows, c) for c in ("all", *CLASSES)}
    savings_eoq = {c: equal_fill_savings(rows, c, "stockpilot_eoq") for c in ("all", *CLASSES)}
    ops = None
    if s.ops.enabled:
        from stockpilot.simulation.operations import run_operations  # the service stack only when asked for

        ops = run_operations(s.ops, seed=s.seed, progress=ops_progress)
    t3 = time.perf_counter()
    seconds = {"load": round(t1 - t0, 3), "simulate": round(t2 - t1, 3), "operations": round(t3 - t2, 3),
               "total": round(t3 - t0, 3),
               "sku_days_per_second": round(len(cat) * (cat.days - s.sim.warmup_days) / max(t2 - t1, 1e-9), 1),
               "variant_rows": len(result.variants) * len(cat)}
    return Outcome(s, cat, result, rows, savings, savings_eoq, risk_scores(result), ops, seconds, counts)


__all__ = ["POLICIES", "Outcome", "run_scenario"]
