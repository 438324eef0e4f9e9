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
    x = np.asarray(history, dtype=np.float64).T.copy()  # (days, skus): each day contiguous; ours to modify
    n = x.shape[1]
    nan = np.isnan(x)
    valid_all = None
    if nan.any():
        valid_all = (~nan).astype(np.float64)
        x[nan] = 0.0
    size = np.zeros(n)
    level = np.zeros(n)  # interval (Croston/SBA) or probability (TSB)
    since = np.zeros(n)  # observed days since the last demand, counting the current one
    mse = np.zeros(n)
    errors = np.zeros(n)
    forecast = np.zeros(n)
    started = np.zeros(n)  # 0/1 floats: masks as multipliers keep each step to a few in-place passes
    factor = 1.0 - alpha / 2.0 if method is CrostonMethod.SBA else 1.0
    tsb = method is CrostonMethod.TSB
    err = np.empty(n)
    gain = np.empty(n)
    demand = np.empty(n)

    for t in range(x.shape[0]):
        xt = x[t]
        checked = started if valid_all is None else started * valid_all[t]
        # smoothed MSE of the one-step-ahead error: weight max(mse_alpha, 1/n), applied where checked
        errors += checked
        np.subtract(xt, forecast, out=err)
        err *= err
        err -= mse
        err *= np.maximum(mse_alpha, 1.0 / np.maximum(errors, 1.0))
        err *= checked
        mse += err
        since += 1.0 if valid_all is None else valid_all[t]
        np.greater(xt, 0.0, out=demand)
        # gain: 1 at a SKU's first demand (take the value), alpha at later demands, 0 otherwise
        np.multiply(started, alpha - 1.0, out=gain)
        gain += 1.0
        gain *= demand
        size += gain * (xt - size)
        if tsb:
            level += demand * (1.0 - started) * (1.0 / np.maximum(since, 1.0) - level)
            level += beta * checked * (demand - level)
        else:
            level += gain * (since - level)
        since *= 1.0 - demand
        np.maximum(started, demand, out=started)
        if tsb:
            np.multiply(level, size, out=forecast)
        else:
            np.divide(size, np.where(level > 0, level, 1.0), out=forecast)
            forecast *= factor

    started = started > 0
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
