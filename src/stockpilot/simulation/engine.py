"""The simulation core: every policy variant x every SKU stepped one day at a time, as whole numpy arrays.

Rows are (variant, SKU) pairs: row = variant_index x n + sku. A day, for every row at once:
1. start of day: purchase orders due today arrive (the delivered share of what was ordered; the rest is never
   shipped and leaves `on_order` too); a replenishment cycle whose order arrived closes;
2. customers ask for the day's true demand; sales = min(demand, on hand); the rest is LOST (no backorders: the
   UCI retailer's customers did not wait, and a lost sale is the honest cost of a stockout for giftware);
3. end of day: position = on hand + on order; position <= reorder point orders up to the order-up-to level,
   rounded by the domain's MOQ/pack rule; the order arrives after the lead time drawn for (SKU, day) — the same
   draw whichever policy placed it (common random numbers);
4. every `review_days`, each policy re-estimates its levels from the SALES it has observed so far (for its own
   row: a policy that ran out sees its own censored history), never from demand and never from a later day.

Days before `warmup_days` are history: every row's observed sales there are the data's. Stock starts at each
policy's own order-up-to level on the first simulated day; the first `settle_days` are not measured.
No clock, no I/O: `progress(days_done)` is the only call out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from stockpilot.domain.coverage import at_risk_batch, stockout_days_batch
from stockpilot.domain.policy import round_order_quantities, should_reorder
from stockpilot.simulation.model import Catalog, SimConfig, Variant, variants
from stockpilot.simulation.policies import Levels, cover_levels, naive_levels, stockpilot_levels
from stockpilot.simulation.supply import SupplyDraws

ACCUMULATORS = ("demand", "sold", "lost", "lost_revenue", "onhand_units", "onhand_value", "stockout_days",
                "orders", "ordered_units", "cycles", "bad_cycles")


@dataclass
class Trace:
    """Every row's day-by-day figures (tests and plots of single SKUs; off by default: R x days each)."""

    initial: np.ndarray
    on_hand: np.ndarray  # end of day
    sold: np.ndarray
    lost: np.ndarray
    ordered: np.ndarray
    received: np.ndarray
    on_order_end: np.ndarray  # on order after the last day


@dataclass
class SimResult:
    variants: list[Variant]
    n: int
    eval_days: int
    totals: dict[str, np.ndarray]  # name -> (rows,) sums over the measured days
    risk_predicted: np.ndarray  # (n, measured days) bool: the default Stockpilot rows' 7-day at-risk flag
    risk_happened: np.ndarray  # (n, measured days) bool: a stockout within the next risk_days days
    trace: Trace | None = None
    extra: dict[str, float] = field(default_factory=dict)

    def rows(self, variant: Variant) -> slice:
        k = self.variants.index(variant)
        return slice(k * self.n, (k + 1) * self.n)


def simulate(catalog: Catalog, config: SimConfig, draws: SupplyDraws, *,
             progress: Callable[[int], None] | None = None, trace: bool = False) -> SimResult:
    n, total_days = len(catalog), catalog.days
    start, measure_from = config.warmup_days, config.warmup_days + config.settle_days
    if n == 0:
        raise ValueError("no SKUs to simulate")
    if measure_from >= total_days:
        raise ValueError(f"{total_days} days of demand leave nothing to measure after {config.warmup_days} days of "
                         f"warm-up and {config.settle_days} of settling")
    vs = variants(config)
    rows_total = len(vs) * n
    sku = np.tile(np.arange(n), len(vs))
    knob = np.repeat([v.knob for v in vs], n)
    family = {p: np.flatnonzero(np.repeat([v.policy == p for v in vs], n)) for p in {v.policy for v in vs}}
    lead, lead_sd = catalog.lead_time_days[sku], catalog.lead_time_std_days[sku]
    moq, pack = catalog.moq[sku], catalog.pack_size[sku]
    price, cost = catalog.unit_price[sku], catalog.unit_cost[sku]
    demand_by_day = np.ascontiguousarray(catalog.demand.T)  # (days, n): one day's column is contiguous
    lead_by_day = np.ascontiguousarray(draws.lead_days.T)
    fill_by_day = np.ascontiguousarray(draws.fill.T)

    sales = np.zeros((rows_total, total_days))
    sales[:, :start] = catalog.demand[sku, :start]  # warm-up: what the data sold is what every policy observed
    horizon = draws.max_lead + 1
    pipe_ordered = np.zeros((rows_total, horizon))
    pipe_delivered = np.zeros((rows_total, horizon))
    on_hand, on_order = np.zeros(rows_total), np.zeros(rows_total)
    cycle_open = np.zeros(rows_total, bool)
    cycle_bad = np.zeros(rows_total, bool)
    cycle_due = np.full(rows_total, -1, np.int64)
    rop, up_to, believed = np.zeros(rows_total), np.zeros(rows_total), np.zeros(rows_total)
    acc = {name: np.zeros(rows_total) for name in ACCUMULATORS}
    default_sp = next((v for v in vs if v.policy == "stockpilot" and v.is_default), None)
    sp_rows = slice(vs.index(default_sp) * n, (vs.index(default_sp) + 1) * n) if default_sp else slice(0, 0)
    measured = total_days - measure_from
    predicted = np.zeros((n if default_sp else 0, measured), bool)
    event = np.zeros((n if default_sp else 0, measured), bool)
    tr = None
    if trace:
        z = np.zeros((rows_total, total_days))
        tr = Trace(np.zeros(rows_total), z.copy(), sales, z.copy(), z.copy(), z.copy(), np.zeros(rows_total))

    def relevel(t: int, static_too: bool) -> None:
        known = sales[:, max(0, t - config.history_days):t]  # days before t: nothing later exists yet
        for policy, rows in family.items():
            if policy == "static_minmax" and not static_too:
                continue
            h = known[rows]
            if policy in ("stockpilot", "stockpilot_eoq"):
                eoq = None if policy == "stockpilot" else {
                    "unit_cost": cost[rows], "ordering_cost": config.costs.ordering_cost,
                    "holding_cost_rate": config.costs.holding_rate}
                lv: Levels = stockpilot_levels(h, lead=lead[rows], lead_sd=lead_sd[rows], service=knob[rows],
                                               cover_days=config.cover_days, eoq_costs=eoq)
            elif policy in ("naive", "naive_surge"):
                lv = naive_levels(h, lead=lead[rows], uplift=knob[rows], cover_days=config.cover_days,
                                  average_days=config.average_days,
                                  surge_days=config.surge_days if policy == "naive_surge" else None)
            else:
                lv = cover_levels(h, lead=lead[rows], extra_days=knob[rows], cover_days=config.cover_days,
                                  average_days=config.average_days)
            rop[rows], up_to[rows], believed[rows] = lv.reorder_point, lv.order_up_to, lv.mean_daily

    for t in range(start, total_days):
        if (t - start) % config.review_days == 0:
            relevel(t, static_too=t == start)
        if t == start:
            on_hand[:] = up_to
            if tr is not None:
                tr.initial[:] = on_hand
        slot = t % horizon
        arrived = pipe_delivered[:, slot].copy()
        on_hand += arrived
        on_order -= pipe_ordered[:, slot]
        pipe_ordered[:, slot] = 0.0
        pipe_delivered[:, slot] = 0.0
        closing = cycle_open & (cycle_due == t)
        cycle_open &= ~closing

        wanted = demand_by_day[t][sku]
        sold = np.minimum(wanted, on_hand)
        lost = wanted - sold
        on_hand -= sold
        sales[:, t] = sold
        cycle_bad |= cycle_open & (lost > 0)

        position = on_hand + on_order
        need = np.where(should_reorder(position, rop), np.maximum(up_to - position, 0.0), 0.0)
        qty, _ = round_order_quantities(need, moq, pack)
        qty = qty.astype(np.float64)
        placed = np.flatnonzero(qty > 0)
        if placed.size:
            lt = lead_by_day[t][sku[placed]]
            slots = (t + lt) % horizon
            q = qty[placed]
            pipe_ordered[placed, slots] += q
            pipe_delivered[placed, slots] += np.floor(q * fill_by_day[t][sku[placed]])
            on_order[placed] += q
            fresh = placed[~cycle_open[placed]]
            cycle_open[fresh], cycle_bad[fresh] = True, False
            cycle_due[fresh] = t + lead_by_day[t][sku[fresh]]

        if t >= measure_from:
            acc["demand"] += wanted
            acc["sold"] += sold
            acc["lost"] += lost
            acc["lost_revenue"] += lost * price
            acc["onhand_units"] += on_hand
            acc["onhand_value"] += on_hand * cost
            acc["stockout_days"] += lost > 0
            acc["orders"] += qty > 0
            acc["ordered_units"] += qty
            acc["cycles"] += closing
            acc["bad_cycles"] += closing & cycle_bad
            if default_sp is not None:
                k = t - measure_from
                event[:, k] = (lost[sp_rows] > 0) | (on_hand[sp_rows] <= 0)
                predicted[:, k] = _at_risk(on_hand[sp_rows], believed[sp_rows], pipe_ordered[sp_rows], t, horizon,
                                           config.risk_days)
        if tr is not None:
            tr.on_hand[:, t], tr.lost[:, t], tr.ordered[:, t], tr.received[:, t] = on_hand, lost, qty, arrived
        if progress is not None:
            progress(t - start + 1)
    if tr is not None:
        tr.on_order_end[:] = on_order
    # the prediction made at the end of day k is about days k+1 .. k+risk_days; the last ones have no full outcome
    r = config.risk_days
    happened = np.zeros_like(event)
    for j in range(1, r + 1):
        happened[:, :-j] |= event[:, j:]
    usable = max(0, measured - r)
    return SimResult(vs, n, measured, acc, predicted[:, :usable], happened[:, :usable], tr)


def _at_risk(available: np.ndarray, mean: np.ndarray, pipe: np.ndarray, t: int, horizon: int, days: int
             ) -> np.ndarray:
    """The forecast view's flag (domain.coverage): stock runs out within `days` days at the believed rate, open
    POs arriving at their due day. Made at the end of day t, so "today" is day t + 1."""
    rows, slots = np.nonzero(pipe)
    eta = (slots - (t + 1)) % horizon
    out = stockout_days_batch(available, mean, rows, eta.astype(np.float64), pipe[rows, slots])
    return at_risk_batch(out, days)
