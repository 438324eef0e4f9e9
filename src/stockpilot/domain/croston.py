"""Croston-family forecasts for intermittent demand (Croston, SBA, TSB), vectorised across SKUs.

Daily e-commerce demand is mostly zeros for the long tail; averaging it directly mixes "how often" with "how
much". These methods smooth the two separately. The recursions run one day at a time over a vector of SKUs, so
100,000 SKUs cost 365 vector steps, not 36.5 million scalar ones.

Input: `history` of shape (skus, days), oldest first, NaN where a day was not observed (before a SKU existed).
An unobserved day updates nothing; every observed day, zero or not, counts towards the interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class CrostonMethod(StrEnum):
    CROSTON = "croston"
    SBA = "sba"
    TSB = "tsb"


@dataclass(frozen=True, slots=True)
class CrostonResult:
    """Final state per SKU. `forecast` is units/day; `mse` the smoothed one-step-ahead squared error (NaN until
    a first forecast could be checked); `interval` the smoothed days between demands (1/probability for TSB)."""

    forecast: np.ndarray
    mse: np.ndarray
    size: np.ndarray
    interval: np.ndarray
    errors: np.ndarray


def croston_family(
    history: np.ndarray,
    *,
    method: CrostonMethod | str = CrostonMethod.SBA,
    alpha: float = 0.1,
    beta: float = 0.05,
    mse_alpha: float = 0.0228,
) -> CrostonResult:
    """Run the chosen recursion over every row of `history` at once.

    Croston/SBA (alpha smooths size and interval, updated only on demand days): forecast = c * size / interval,
    c = 1 - alpha/2 for SBA (removes Croston's known upward bias), 1 for Croston.
    TSB (alpha smooths size on demand days, beta smooths the demand probability every observed day):
    forecast = probability * size; it decays through long runs of zeros.
    Initialisation at a SKU's first demand: size = that demand, interval = observed days up to and including it.
    The MSE is smoothed with `mse_alpha` (0.0228 is a 30-day half-life), starting as a running mean (weight
    max(mse_alpha, 1/n)) so its first values are not biased by an arbitrary start.
    """
    method = CrostonMethod(method)
    x = np.ascontiguousarray(np.asarray(history, dtype=np.float64).T)  # (days, skus): each day contiguous
    n = x.shape[1]
    valid_all = ~np.isnan(x)
    size = np.zeros(n)
    level = np.zeros(n)  # interval (Croston/SBA) or probability (TSB)
    since = np.zeros(n)  # observed days since the last demand, counting the current one
    mse = np.zeros(n)
    errors = np.zeros(n)
    forecast = np.zeros(n)
    started = np.zeros(n, dtype=bool)
    factor = 1.0 - alpha / 2.0 if method is CrostonMethod.SBA else 1.0
    tsb = method is CrostonMethod.TSB

    for t in range(x.shape[0]):
        valid = valid_all[t]
        demand_t = np.where(valid, x[t], 0.0)
        checked = valid & started
        if checked.any():
            errors += checked
            weight = np.maximum(mse_alpha, 1.0 / np.maximum(errors, 1.0))
            err2 = (demand_t - forecast) ** 2
            mse += np.where(checked, weight * (err2 - mse), 0.0)
        since += valid
        demand = demand_t > 0.0
        first = demand & ~started
        later = demand & started
        size = np.where(first, demand_t, np.where(later, size + alpha * (demand_t - size), size))
        if tsb:
            level = np.where(first, 1.0 / np.maximum(since, 1.0), level)
            level = np.where(checked, level + beta * (demand - level), level)
        else:
            level = np.where(first, since, np.where(later, level + alpha * (since - level), level))
        since = np.where(demand, 0.0, since)
        started |= demand
        forecast = level * size if tsb else np.where(started, factor * size / np.where(started, level, 1.0), 0.0)

    interval = np.where(started, 1.0 / np.where(level > 0, level, np.nan), np.nan) if tsb else np.where(
        started, level, np.nan
    )
    return CrostonResult(
        forecast=forecast,
        mse=np.where(errors > 0, mse, np.nan),
        size=np.where(started, size, np.nan),
        interval=interval,
        errors=errors.astype(np.int64),
    )
