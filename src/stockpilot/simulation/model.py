"""What a simulation runs on: the SKUs with their supply terms, the policy variants, the knobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np

POLICIES = ("naive", "naive_surge", "days_of_cover", "static_minmax", "stockpilot", "stockpilot_eoq")
CLASSES = ("smooth", "erratic", "intermittent", "lumpy")

# The service knob each policy family is swept over (the default is the rule as usually written down):
#   naive / naive_surge: the uplift on lead-time demand (0.2 = "+20%");
#   days_of_cover / static_minmax: extra days of demand in the minimum (7 = "lead time + 7 days");
#   stockpilot: the cycle service level its safety stock is set for (0.95 = STOCKPILOT_SERVICE_LEVEL's default);
#   stockpilot_eoq: the same, ordering up to reorder point + EOQ (STOCKPILOT_ORDERING_COST / _HOLDING_RATE set to
#   the cost knobs) instead of + 30 days of cover.
DEFAULT_SWEEPS: dict[str, tuple[float, ...]] = {
    "naive": (0.0, 0.2, 0.5, 1.0, 2.0, 4.0),
    "naive_surge": (0.0, 0.2, 0.5, 1.0, 2.0),
    "days_of_cover": (0.0, 7.0, 14.0, 28.0, 56.0),
    "static_minmax": (0.0, 7.0, 14.0, 28.0, 56.0),
    "stockpilot": (0.50, 0.70, 0.80, 0.90, 0.95, 0.98, 0.995),
    "stockpilot_eoq": (0.50, 0.70, 0.80, 0.90, 0.95, 0.98, 0.995),
}
DEFAULT_KNOB: dict[str, float] = {"naive": 0.2, "naive_surge": 0.2, "days_of_cover": 7.0, "static_minmax": 7.0,
                                  "stockpilot": 0.95, "stockpilot_eoq": 0.95}


@dataclass(frozen=True)
class Catalog:
    """SKUs x days of true demand (warm-up included, oldest first) and each SKU's terms."""

    codes: list[str]
    demand: np.ndarray  # float64 (n, days): what customers wanted; sales are what stock allowed
    unit_price: np.ndarray
    unit_cost: np.ndarray
    lead_time_days: np.ndarray  # the supplier's stated mean (what the policies are told)
    lead_time_std_days: np.ndarray  # its stated spread
    pack_size: np.ndarray
    moq: np.ndarray
    supplier: list[str]
    demand_class: np.ndarray  # reporting only: the class of the whole true series (smooth, ...)
    start: date = date(2026, 1, 1)

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def days(self) -> int:
        return int(self.demand.shape[1])


@dataclass(frozen=True)
class Costs:
    """Cost knobs of the total-cost figure (per year): holding = rate x average on-hand value; ordering = cost per
    PO line (one SKU's order); lost sales = the margin lost (price - cost) x `lost_margin_factor` per lost unit."""

    holding_rate: float = 0.25
    ordering_cost: float = 20.0
    lost_margin_factor: float = 1.0


@dataclass(frozen=True)
class SimConfig:
    warmup_days: int = 91  # history only: the policies see these days' demand as sales; no stock is simulated
    settle_days: int = 14  # simulated but not measured: every policy starts at its own order-up-to level
    review_days: int = 7  # every policy re-estimates its parameters this often (from observed sales only)
    history_days: int = 365  # the most history any estimate looks at (planning reads a year)
    average_days: int = 90  # the naive and days-of-cover rules average sales over this many days
    surge_days: int = 14  # the naive surge variant's recent rate
    cover_days: float = 30.0  # order-up-to = reorder point / minimum + this many days of demand, for every policy
    full_fill_probability: float = 0.95  # a PO arrives complete; otherwise 50-100% of it (drawn, CRN)
    risk_days: int = 7
    sweeps: dict[str, tuple[float, ...]] = field(default_factory=lambda: dict(DEFAULT_SWEEPS))
    costs: Costs = field(default_factory=Costs)

    def __post_init__(self) -> None:
        unknown = set(self.sweeps) - set(POLICIES)
        if unknown:
            raise ValueError(f"unknown policy in sweeps: {', '.join(sorted(unknown))}")
        for name, knobs in self.sweeps.items():
            if DEFAULT_KNOB[name] not in knobs:
                raise ValueError(f"sweep of {name} must include its default knob {DEFAULT_KNOB[name]:g}")


@dataclass(frozen=True)
class Variant:
    policy: str
    knob: float

    @property
    def is_default(self) -> bool:
        return DEFAULT_KNOB[self.policy] == self.knob

    @property
    def label(self) -> str:
        return f"{self.policy}@{self.knob:g}"


def variants(config: SimConfig) -> list[Variant]:
    return [Variant(p, float(k)) for p in POLICIES if p in config.sweeps for k in config.sweeps[p]]
