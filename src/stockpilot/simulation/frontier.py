"""Fill rate against inventory: each policy's sweep is a curve; compare policies at equal fill rate.

A policy's curve is its variants' (fill rate, average inventory value) points sorted by fill rate; inventory at a
given fill rate is interpolated linearly between the two neighbouring points (piecewise-linear, monotone after
taking the running maximum of fill rate, so a noisy non-monotone sweep cannot invent a cheap point). Outside a
curve's measured range there is no answer (None), never an extrapolation.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def curve(rows: list[dict[str, Any]], policy: str, demand_class: str) -> tuple[np.ndarray, np.ndarray]:
    pts = sorted((r["fill_rate"], r["avg_inventory_value"]) for r in rows
                 if r["policy"] == policy and r["demand_class"] == demand_class and r["fill_rate"] is not None)
    if not pts:
        return np.array([]), np.array([])
    fill = np.maximum.accumulate(np.array([p[0] for p in pts]))
    inv = np.maximum.accumulate(np.array([p[1] for p in pts]))
    return fill, inv


def inventory_at(rows: list[dict[str, Any]], policy: str, demand_class: str, fill_rate: float) -> float | None:
    fill, inv = curve(rows, policy, demand_class)
    if fill.size == 0 or fill_rate < fill[0] - 1e-12 or fill_rate > fill[-1] + 1e-12:
        return None
    return float(np.interp(fill_rate, fill, inv))


def equal_fill_savings(rows: list[dict[str, Any]], demand_class: str, challenger: str = "stockpilot"
                       ) -> dict[str, dict[str, float | str | None]]:
    """Per other policy: Stockpilot's inventory against theirs at the same fill rate, measured two ways —
    at THEIR default's fill rate (Stockpilot's curve interpolated) and at STOCKPILOT's default fill rate (their
    curve interpolated). `saving` = 1 - Stockpilot / theirs, from the first way when its fill rate lies on
    Stockpilot's curve, else from the second (`saving_at` says which); None when neither curve reaches."""
    mine = next((r for r in rows if r["demand_class"] == demand_class and r["default"]
                 and r["policy"] == challenger), None)
    out: dict[str, dict[str, float | str | None]] = {}
    for r in rows:
        if r["demand_class"] != demand_class or not r["default"] or r["policy"].startswith("stockpilot"):
            continue
        if r["fill_rate"] is None or mine is None or mine["fill_rate"] is None:
            continue
        sp_there = inventory_at(rows, challenger, demand_class, r["fill_rate"])
        them_here = inventory_at(rows, r["policy"], demand_class, mine["fill_rate"])
        at_theirs = (1 - sp_there / r["avg_inventory_value"]) if sp_there is not None and r["avg_inventory_value"] \
            else None
        at_mine = (1 - mine["avg_inventory_value"] / them_here) if them_here else None
        saving, where = (at_theirs, "their_fill") if at_theirs is not None else (at_mine, "stockpilot_fill") \
            if at_mine is not None else (None, None)
        out[r["policy"]] = {
            "their_fill_rate": r["fill_rate"], "their_inventory": r["avg_inventory_value"],
            "stockpilot_inventory_at_their_fill": sp_there, "saving_at_their_fill": at_theirs,
            "stockpilot_fill_rate": mine["fill_rate"], "stockpilot_inventory": mine["avg_inventory_value"],
            "their_inventory_at_stockpilot_fill": them_here, "saving_at_stockpilot_fill": at_mine,
            "saving": saving, "saving_at": where,
        }
    return out
