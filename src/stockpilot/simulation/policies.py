"""Each policy's reorder point and order-up-to level, from observed sales only, through the project's domain code.

Every function takes `sales`: rows x days of what was SOLD (censored by stockouts; lost sales are invisible),
oldest first, ending with the last day the decision may know. Nothing here sees true demand.

- stockpilot: `domain.demand.estimate_batch` (Syntetos-Boylan class; EWMA for smooth/erratic, SBA for
  intermittent/lumpy; surge lift) and `domain.policy.policy_batch` (safety stock z x sqrt(L sd^2 + d^2 sL^2),
  reorder point, order-up-to = reorder point + cover) — the functions `services/plan.py` runs nightly. As there,
  the stored reorder point and order-up-to are rounded up to whole units.
- naive / naive_surge: `domain.policy.naive_batch` (average daily sales x lead time x (1 + uplift), plus cover;
  the surge variant uses the higher of the average and the last 14 days' rate).
- days_of_cover: min = average daily sales x (lead time + extra days), max = min + cover days of sales.
- static_minmax: the same min/max, computed once from the warm-up and never revisited.
Order quantities for all of them are rounded by `domain.policy.round_order_quantities` (MOQ, pack) in the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stockpilot.domain.demand import estimate_batch
from stockpilot.domain.policy import naive_batch, policy_batch


@dataclass(frozen=True)
class Levels:
    reorder_point: np.ndarray
    order_up_to: np.ndarray
    mean_daily: np.ndarray  # the rate the policy believes (for the at-risk projection)


def _ceil(a: np.ndarray) -> np.ndarray:
    return np.ceil(np.asarray(a) - 1e-9)


def average(sales: np.ndarray, days: int) -> np.ndarray:
    window = sales[:, -days:]
    return window.mean(axis=1) if window.shape[1] else np.zeros(sales.shape[0])


def stockpilot_levels(sales: np.ndarray, *, lead: np.ndarray, lead_sd: np.ndarray, service: np.ndarray,
                      cover_days: float, eoq_costs: dict[str, object] | None = None) -> Levels:
    """`eoq_costs` (unit_cost, ordering_cost, holding_cost_rate) switches order-up-to to reorder point + EOQ,
    as planning does when STOCKPILOT_ORDERING_COST and STOCKPILOT_HOLDING_RATE are set."""
    demand = estimate_batch(sales)
    p = policy_batch(demand.mean_daily, demand.std_daily, lead_time_days=lead, lead_time_std_days=lead_sd,
                     service_level=service, cover_days=cover_days, **(eoq_costs or {}))
    return Levels(_ceil(p.reorder_point), _ceil(p.order_up_to), demand.mean_daily)


def naive_levels(sales: np.ndarray, *, lead: np.ndarray, uplift: np.ndarray, cover_days: float,
                 average_days: int, surge_days: int | None) -> Levels:
    avg = average(sales, average_days)
    recent = None if surge_days is None else average(sales, surge_days)
    # naive_batch takes one uplift; rows differ in uplift, so run it once per distinct value
    rop, up_to = np.empty(len(avg)), np.empty(len(avg))
    for u in np.unique(uplift):
        rows = uplift == u
        b = naive_batch(avg[rows], lead_time_days=lead[rows], uplift=float(u), cover_days=cover_days,
                        recent_daily_sales=None if recent is None else recent[rows])
        rop[rows], up_to[rows] = b.reorder_point, b.order_up_to
    rate = avg if recent is None else np.maximum(avg, recent)
    return Levels(_ceil(rop), _ceil(up_to), rate)


def cover_levels(sales: np.ndarray, *, lead: np.ndarray, extra_days: np.ndarray, cover_days: float,
                 average_days: int) -> Levels:
    avg = average(sales, average_days)
    minimum = avg * (lead + extra_days)
    return Levels(_ceil(minimum), _ceil(minimum + avg * cover_days), avg)
