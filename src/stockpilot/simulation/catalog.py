"""SKUs for a simulation: from a transaction file's daily demand (selection rule below) or generated.

Selection rule for real data: a product code qualifies when it sold on at least `min_sale_days` distinct days
over the file and at least once in the first `warmup_days` (so it is on sale when the warm-up history ends).
`skus` of the qualifying codes are drawn at random with the run's seed (all of them when fewer qualify), then
sorted by code. Days before a code's first sale in the file count as observed zero-sale days: the file does not
say when a product was listed.
"""

from __future__ import annotations

import numpy as np

from stockpilot.adapters.retail_transactions import DailyDemand
from stockpilot.domain.demand import estimate_batch
from stockpilot.simulation.generated import generate_demand
from stockpilot.simulation.model import Catalog
from stockpilot.simulation.supply import assign_terms


class NotEnoughData(ValueError):
    pass


def classify(demand: np.ndarray) -> np.ndarray:
    """Reporting class of each whole true series (Syntetos-Boylan through the engine's own estimate)."""
    return estimate_batch(demand).class_names()


def from_daily(daily: DailyDemand, *, skus: int | None, seed: int, warmup_days: int, days: int | None,
               min_sale_days: int = 30) -> Catalog:
    demand = daily.demand
    if days is not None:
        demand = demand[:, : warmup_days + days]
    if demand.shape[1] <= warmup_days:
        raise NotEnoughData(f"the file covers {daily.days} days; the warm-up alone needs {warmup_days}")
    sale_days = (daily.demand > 0).sum(axis=1)
    early = (daily.demand[:, :warmup_days] > 0).any(axis=1)
    eligible = np.flatnonzero((sale_days >= min_sale_days) & early)
    if eligible.size == 0:
        raise NotEnoughData(f"no product code sold on {min_sale_days}+ days and within the first {warmup_days}")
    if skus is not None and skus < eligible.size:
        eligible = np.sort(np.random.default_rng([seed, 3]).choice(eligible, size=skus, replace=False))
    d = np.ascontiguousarray(demand[eligible])
    codes = [daily.codes[i] for i in eligible]
    return _catalog(codes, d, daily.unit_price[eligible], warmup_days, daily.start)


def generated(*, skus: int, days: int, seed: int, warmup_days: int) -> Catalog:
    codes, demand, price = generate_demand(skus, warmup_days + days, seed=seed)
    return _catalog(codes, demand, price, warmup_days, None)


def _catalog(codes: list[str], demand: np.ndarray, price: np.ndarray, warmup_days: int, start: object) -> Catalog:
    terms = assign_terms(codes, price, demand[:, :warmup_days].mean(axis=1))
    extra = {"start": start} if start is not None else {}
    return Catalog(codes=codes, demand=demand, unit_price=np.asarray(price, dtype=np.float64),
                   unit_cost=terms.unit_cost, lead_time_days=terms.lead_time_days,
                   lead_time_std_days=terms.lead_time_std_days, pack_size=terms.pack_size, moq=terms.moq,
                   supplier=terms.supplier, demand_class=classify(demand), **extra)
