"""Supply terms by a stated rule, and the common random numbers every policy shares.

Assignment (deterministic from the code and the price, so any subset of a file gets the same terms):
h = CRC-32 of the code.
- supplier = SUPPLIERS[h % 5]: its stated lead time mean and spread (days);
- unit cost = price x (0.45 + 0.15 x ((h >> 8) % 100) / 100): a 40-55% gross margin;
- pack size = (1, 6, 12)[(h >> 16) % 3], lowered to the largest of (12, 6, 1) not above a week of the SKU's
  warm-up demand, so a slow mover is not forced into a year's stock per order; MOQ = one pack.

Draws (per SKU, seeded by (seed, CRC-32 of the code), so a SKU's draws do not depend on which other SKUs run):
- lead_days[i, t]: the lead time of an order placed on day t, gamma-distributed with the supplier's mean and
  spread (right-skewed, as lead times are; the policies assume a normal one), rounded, at least 1 day;
- fill[i, t]: the share of that order delivered: 1 with `full_fill_probability`, else uniform 50-100%.
Every policy placing an order for SKU i on day t gets the same lead time and fill: differences between
policies are the policies', not the dice's.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

SUPPLIERS: tuple[tuple[str, float, float], ...] = (
    ("UK-FAST", 3.0, 1.0), ("UK-WHOLESALE", 7.0, 2.0), ("EU-MAKER", 10.0, 3.0), ("EU-IMPORT", 14.0, 4.0),
    ("ASIA-FACTORY", 28.0, 7.0),
)
PACKS = (1, 6, 12)


def code_hash(code: str) -> int:
    return zlib.crc32(code.encode("utf-8"))


@dataclass(frozen=True)
class Terms:
    supplier: list[str]
    lead_time_days: np.ndarray
    lead_time_std_days: np.ndarray
    unit_cost: np.ndarray
    pack_size: np.ndarray
    moq: np.ndarray


def assign_terms(codes: list[str], unit_price: np.ndarray, warmup_mean_daily: np.ndarray) -> Terms:
    h = np.array([code_hash(c) for c in codes], dtype=np.int64)
    sup = h % len(SUPPLIERS)
    lead = np.array([SUPPLIERS[k][1] for k in sup])
    spread = np.array([SUPPLIERS[k][2] for k in sup])
    cost = np.round(unit_price * (0.45 + 0.15 * ((h >> 8) % 100) / 100.0), 4)
    pack = np.array([PACKS[k] for k in (h >> 16) % 3], dtype=np.int64)
    week = 7.0 * np.asarray(warmup_mean_daily, dtype=np.float64)
    for size in (12, 6):
        pack = np.where((pack >= size) & (week < size), np.where(size == 12, 6, 1), pack)
    pack = np.where(week < pack, 1, pack)
    return Terms([SUPPLIERS[k][0] for k in sup], lead, spread, cost, pack, pack.copy())


@dataclass(frozen=True)
class SupplyDraws:
    lead_days: np.ndarray  # int64 (n, days)
    fill: np.ndarray  # float64 (n, days)

    @property
    def max_lead(self) -> int:
        return int(self.lead_days.max()) if self.lead_days.size else 1


def draw_supply(codes: list[str], lead: np.ndarray, spread: np.ndarray, days: int, *, seed: int,
                full_fill_probability: float) -> SupplyDraws:
    n = len(codes)
    lead_days = np.empty((n, days), dtype=np.int64)
    fill = np.empty((n, days))
    for i, code in enumerate(codes):
        rng = np.random.default_rng([seed, code_hash(code), 1])
        mean, sd = float(lead[i]), float(spread[i])
        if sd > 0:
            shape = (mean / sd) ** 2
            draw = rng.gamma(shape, mean / shape, days)
        else:
            draw = np.full(days, mean)
        lead_days[i] = np.maximum(1, np.rint(draw)).astype(np.int64)
        full = rng.random(days) < full_fill_probability
        fill[i] = np.where(full, 1.0, rng.uniform(0.5, 1.0, days))
    return SupplyDraws(lead_days, fill)
