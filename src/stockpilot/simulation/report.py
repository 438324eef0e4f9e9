"""Writing a run's figures: results.json (everything), results.csv (one row per policy variant and class), and
fill_rate_vs_inventory.png (each policy's sweep as a curve, one panel per demand class; matplotlib, Agg)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from stockpilot.simulation.frontier import curve
from stockpilot.simulation.model import CLASSES, POLICIES
from stockpilot.simulation.run import Outcome

PLOT = "fill_rate_vs_inventory.png"
COLOURS = {"naive": "#d62728", "naive_surge": "#ff7f0e", "days_of_cover": "#2ca02c", "static_minmax": "#9467bd",
           "stockpilot": "#1f77b4", "stockpilot_eoq": "#17becf"}


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    return v


def write_all(outcome: Outcome, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    s = outcome.scenario
    doc = {
        "summary": outcome.summary(),
        "scenario": {"name": s.name, "source": s.source, "data": s.data, "skus": s.skus, "days": s.days,
                     "seed": s.seed, "warmup_days": s.sim.warmup_days, "settle_days": s.sim.settle_days,
                     "review_days": s.sim.review_days, "cover_days": s.sim.cover_days,
                     "costs": vars(s.sim.costs), "sweeps": {k: list(v) for k, v in s.sim.sweeps.items()}},
        "data_counts": outcome.data_counts,
        "classes": {c: int((outcome.catalog.demand_class == c).sum()) for c in (*CLASSES, "new", "no_demand")},
        "rows": outcome.rows,
        "equal_fill": outcome.savings,
        "equal_fill_eoq": outcome.savings_eoq,
        "at_risk_7d": outcome.risk,
        "operations": outcome.operations,
    }
    paths = [out_dir / "results.json", out_dir / "results.csv", out_dir / PLOT]
    paths[0].write_text(json.dumps(_clean(doc), indent=2) + "\n", encoding="utf-8")
    with paths[1].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(outcome.rows[0]))
        writer.writeheader()
        writer.writerows(outcome.rows)
    plot(outcome.rows, paths[2])
    return paths


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [c for c in ("all", *CLASSES) if any(r["demand_class"] == c for r in rows)]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), squeeze=False)
    for ax, cls in zip(axes[0], panels, strict=True):
        for policy in POLICIES:
            fill, inv = curve(rows, policy, cls)
            if fill.size == 0:
                continue
            ax.plot(inv / 1000.0, 100 * fill, "o-", ms=3, lw=1.2, color=COLOURS[policy], label=policy)
            default = next(r for r in rows if r["policy"] == policy and r["demand_class"] == cls and r["default"])
            ax.plot(default["avg_inventory_value"] / 1000.0, 100 * default["fill_rate"], "s", ms=7,
                    mfc="none", color=COLOURS[policy])
        n = next(r["skus"] for r in rows if r["demand_class"] == cls)
        ax.set_title(f"{cls} ({n} SKUs)", fontsize=9)
        ax.set_xlabel("average inventory (cost, thousands)", fontsize=8)
        ax.set_ylabel("unit fill rate (%)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.suptitle("Fill rate against inventory per policy (each point one knob setting; square = the default)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
