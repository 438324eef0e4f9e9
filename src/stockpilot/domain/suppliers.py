"""Supplier ranking: hard filters first, then a weighted score. Pure: offers and measured performance in.

Every candidate comes back with its figures, the filter that excluded it (if any) and its score, so the decision
log can show why the chosen supplier won and why each other one did not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

# Performance assumed for a supplier with no measured outcomes yet: good but not perfect, so a proven supplier
# with real figures beats an unknown one of the same offer, and an unknown one is still chosen when it is better.
PRIOR_FILL_RATE = 0.95
PRIOR_ON_TIME_RATE = 0.90
PRIOR_DELIVERY_SUCCESS = 1.0


@dataclass(frozen=True)
class Weights:
    """Score weights; normalised so they need not sum to 1."""

    lead_time: float = 0.4
    fill_rate: float = 0.3
    unit_cost: float = 0.2
    channel: float = 0.1  # delivery success of the supplier's API / mailbox

    @classmethod
    def parse(cls, text: str) -> Weights:
        """`lead_time=0.5,fill_rate=0.2,...` (STOCKPILOT_SUPPLIER_WEIGHTS)."""
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, raw = part.partition("=")
            if name.strip() not in cls.__dataclass_fields__:
                raise ValueError(f"unknown supplier weight {name.strip()!r}")
            values[name.strip()] = float(raw)
        weights = cls(**values)
        if min(asdict(weights).values()) < 0 or sum(asdict(weights).values()) <= 0:
            raise ValueError("supplier weights must be non-negative and not all zero")
        return weights


@dataclass(frozen=True)
class Performance:
    """Measured over the last 30 days; None where there is nothing to measure yet."""

    fill_rate: float | None = None
    on_time_rate: float | None = None
    delivery_success: float | None = None
    lead_time_actual_days: float | None = None
    purchase_orders: int = 0


@dataclass(frozen=True)
class Offer:
    supplier: str
    unit_cost: Decimal
    lead_time_days: float
    lead_time_spread_days: float = 0.0
    moq: int = 1
    pack_size: int = 1
    capacity: int | None = None
    available: bool = True
    performance: Performance = field(default_factory=Performance)


@dataclass(frozen=True)
class Candidate:
    supplier: str
    excluded: str | None  # the hard filter that removed it, or None
    score: float | None
    figures: dict[str, Any]


@dataclass(frozen=True)
class Ranking:
    candidates: list[Candidate]  # best first; excluded ones last
    chosen: str | None
    over_capacity: bool  # no available supplier can take the whole quantity: the best one is chosen, capped
    reason: str

    def as_options(self) -> list[dict[str, Any]]:
        return [asdict(c) for c in self.candidates]


def rank(
    offers: list[Offer],
    quantity: int,
    *,
    today: date,
    needed_by: date | None = None,
    weights: Weights | None = None,
    exclude: frozenset[str] = frozenset(),
) -> Ranking:
    """Rank `offers` for ordering `quantity` units; `exclude` removes suppliers already tried for this need."""
    weights = weights or Weights()
    usable = [o for o in offers if o.supplier not in exclude and o.available]
    fits = [o for o in usable if o.capacity is None or o.capacity >= quantity]
    over_capacity = bool(usable) and not fits
    pool = fits or usable  # nobody can take it all: rank the available ones and cap (a person reviews it)
    on_time = [o for o in pool if needed_by is None or today + timedelta(days=o.lead_time_days) <= needed_by]
    pool = on_time or pool  # "meets the needed-by date when any can"

    scores = _scores(pool, weights)
    candidates: list[Candidate] = []
    for offer in offers:
        excluded = _why_excluded(offer, pool, exclude, quantity, needed_by)
        candidates.append(Candidate(offer.supplier, excluded, scores.get(offer.supplier), _figures(offer)))
    candidates.sort(key=lambda c: (c.excluded is not None, -(c.score or 0.0), c.supplier))
    chosen = candidates[0].supplier if candidates and candidates[0].excluded is None else None
    if chosen is None:
        reason = "no supplier on file for the SKU" if not offers else "no supplier available"
    else:
        best = candidates[0]
        reason = f"{chosen} scored {best.score:.3f}, the highest of {len(scores)} eligible"
        if over_capacity:
            reason += f"; no supplier can take {quantity} units in one order"
    return Ranking(candidates, chosen, over_capacity, reason)


def _why_excluded(offer: Offer, pool: list[Offer], exclude: frozenset[str], quantity: int,
                  needed_by: date | None) -> str | None:
    if offer in pool:
        return None
    if offer.supplier in exclude:
        return "already tried for this need"
    if not offer.available:
        return "reports no availability"
    if offer.capacity is not None and offer.capacity < quantity:
        return f"capacity {offer.capacity} < {quantity}"
    return f"lead time {offer.lead_time_days:g} d misses needed-by {needed_by}"


def _scores(pool: list[Offer], weights: Weights) -> dict[str, float]:
    if not pool:
        return {}
    total = weights.lead_time + weights.fill_rate + weights.unit_cost + weights.channel
    fastest = min(max(o.lead_time_days, 0.5) for o in pool)  # half a day floor: a 0-day offer is not infinitely good
    cheapest = min(o.unit_cost for o in pool)
    out: dict[str, float] = {}
    for o in pool:
        perf = o.performance
        lead = fastest / max(o.lead_time_days, 0.5)
        cost = float(cheapest / o.unit_cost) if o.unit_cost > 0 else 1.0
        fill = perf.fill_rate if perf.fill_rate is not None else PRIOR_FILL_RATE
        channel = perf.delivery_success if perf.delivery_success is not None else PRIOR_DELIVERY_SUCCESS
        score = (weights.lead_time * lead + weights.fill_rate * fill + weights.unit_cost * cost
                 + weights.channel * channel) / total
        out[o.supplier] = round(score, 6)
    return out


def _figures(o: Offer) -> dict[str, Any]:
    perf = o.performance
    return {
        "unit_cost": str(o.unit_cost),
        "lead_time_days": o.lead_time_days,
        "lead_time_spread_days": o.lead_time_spread_days,
        "moq": o.moq,
        "pack_size": o.pack_size,
        "capacity": o.capacity,
        "available": o.available,
        "fill_rate": perf.fill_rate,
        "on_time_rate": perf.on_time_rate,
        "delivery_success": perf.delivery_success,
        "measured_purchase_orders": perf.purchase_orders,
    }
