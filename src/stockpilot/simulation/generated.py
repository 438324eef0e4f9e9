"""Generated demand: smooth, erratic, intermittent, lumpy, trending, seasonal, with flash sales.

Each SKU draws from its own stream (seed, index), so a SKU's series does not depend on how many SKUs run.
Archetype i % 6: 0 smooth (Poisson, 2-30/day), 1 erratic (Poisson-gamma, CV ~1), 2 intermittent (a sale on
5-30% of days, 1-3 units), 3 lumpy (a sale on 3-15% of days, sizes geometric with mean 5-30), 4 trending
(smooth, rate x1.0-2.5 over the horizon), 5 seasonal (smooth, +-50% yearly cycle and a weekly pattern).
Flash sales: on `flash_days_per_year` random days a SKU sells 3-8x its rate (any archetype).
"""

from __future__ import annotations

import numpy as np


def generate_demand(n: int, days: int, *, seed: int, flash_days_per_year: float = 2.0
                    ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(codes, demand (n, days), unit price) for n generated SKUs."""
    demand = np.zeros((n, days))
    price = np.zeros(n)
    t = np.arange(days, dtype=np.float64)
    for i in range(n):
        rng = np.random.default_rng([seed, i, 7])
        kind = i % 6
        price[i] = round(float(rng.uniform(1.0, 30.0)), 2)
        if kind in (0, 4, 5):
            rate = np.full(days, rng.uniform(2.0, 30.0))
            if kind == 4:
                rate = rate * np.linspace(1.0, rng.uniform(1.0, 2.5), days)
            if kind == 5:
                phase = rng.uniform(0, 2 * np.pi)
                rate = rate * (1 + 0.5 * np.sin(2 * np.pi * t / 365.0 + phase)) * (1 + 0.2 * np.sin(2 * np.pi * t / 7))
        elif kind == 1:
            rate = rng.gamma(1.0, rng.uniform(2.0, 20.0), days)
        elif kind == 2:
            rate = (rng.random(days) < rng.uniform(0.05, 0.30)) * (1.0 + rng.integers(0, 3, days))
        else:
            sizes = rng.geometric(1.0 / rng.uniform(5.0, 30.0), days)
            rate = (rng.random(days) < rng.uniform(0.03, 0.15)) * sizes.astype(np.float64)
        flash = rng.random(days) < flash_days_per_year / 365.0
        if kind in (2, 3):
            series = rate * np.where(flash, rng.uniform(3, 8, days), 1.0)
        else:
            series = rng.poisson(rate * np.where(flash, rng.uniform(3, 8, days), 1.0)).astype(np.float64)
        demand[i] = np.rint(series)
    return [f"GEN-{i:05d}" for i in range(n)], demand, price
