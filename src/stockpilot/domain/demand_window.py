"""Per-SKU sums over a daily demand history (rows = SKUs, oldest first, NaN = not observed), in one pass.

Everything `demand.py` decides from is a sum over some span of days: the whole history (classification), the
rolling window with exponential weights (mean and spread), the recent days and the days before them (surge).
Rows are taken `chunk_rows` at a time so temporaries stay small and in cache whatever the number of SKUs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class WindowStats:
    observations: np.ndarray  # observed days, whole history
    demand_days: np.ndarray  # days with demand > 0, whole history
    total: np.ndarray  # sum of demand, whole history
    total_sq: np.ndarray  # sum of squared demand (= of squared non-zero sizes)
    ew_mean: np.ndarray  # exponentially weighted mean over the window
    ew_std: np.ndarray  # its reliability-weighted (unbiased) standard deviation
    window_obs: np.ndarray
    window_units: np.ndarray
    recent_obs: np.ndarray
    recent_units: np.ndarray
    recent_demand_days: np.ndarray
    before_obs: np.ndarray  # observed days before the recent span
    before_mean: np.ndarray
    before_std: np.ndarray


def ew_weights(days: int, half_life: float) -> np.ndarray:
    """Weights oldest first: the most recent day weighs 1, a day `half_life` older weighs 1/2."""
    age = np.arange(days - 1, -1, -1, dtype=np.float64)
    return np.power(0.5, age / half_life)


def window_stats(
    history: np.ndarray, *, window_days: int, half_life_days: float, recent_days: int, chunk_rows: int = 8192,
) -> WindowStats:
    n, days = history.shape
    names = WindowStats.__dataclass_fields__
    out = {name: np.empty(n) for name in names}
    w_days, r_days = min(window_days, days), min(recent_days, days)
    w = ew_weights(w_days, half_life_days)
    for lo in range(0, n, max(1, chunk_rows)):
        rows = slice(lo, lo + max(1, chunk_rows))
        _chunk(np.asarray(history[rows], dtype=np.float64), w, w_days, r_days, out, rows)
    return WindowStats(**out)


def _chunk(x: np.ndarray, w: np.ndarray, w_days: int, r_days: int, out: dict[str, np.ndarray], rows: slice) -> None:
    m, days = x.shape
    nan = np.isnan(x)
    valid = None
    if nan.any():
        valid = (~nan).astype(np.float64)
        x = np.where(nan, 0.0, x)  # a new array: the caller's history stays as it was

    def observed(lo: int) -> np.ndarray:
        return np.full(m, float(days - lo)) if valid is None else valid[:, lo:].sum(axis=1)

    win, rec = days - w_days, days - r_days
    sale = x > 0.0
    out["observations"][rows] = obs = observed(0)
    out["demand_days"][rows] = sale.sum(axis=1)
    out["total"][rows] = x.sum(axis=1)
    out["total_sq"][rows] = np.einsum("ij,ij->i", x, x)
    xw = x[:, win:]
    v1 = np.full(m, w.sum()) if valid is None else valid[:, win:] @ w
    v2 = np.full(m, (w * w).sum()) if valid is None else valid[:, win:] @ (w * w)
    m1, m2 = xw @ w, (xw * xw) @ w
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(v1 > 0, m1 / v1, 0.0)
        denom = v1 - v2 / np.where(v1 > 0, v1, 1.0)
        var = np.where(denom > 1e-12, (m2 - v1 * mean**2) / np.where(denom > 1e-12, denom, 1.0), 0.0)
    out["ew_mean"][rows], out["ew_std"][rows] = mean, np.sqrt(np.maximum(var, 0.0))
    out["window_obs"][rows], out["window_units"][rows] = observed(win), xw.sum(axis=1)
    r_obs = observed(rec)
    out["recent_obs"][rows], out["recent_units"][rows] = r_obs, x[:, rec:].sum(axis=1)
    out["recent_demand_days"][rows] = sale[:, rec:].sum(axis=1)
    b_obs = obs - r_obs
    b_units = out["total"][rows] - out["recent_units"][rows]
    b_sq = out["total_sq"][rows] - np.einsum("ij,ij->i", x[:, rec:], x[:, rec:])
    with np.errstate(divide="ignore", invalid="ignore"):
        b_mean = np.where(b_obs > 0, b_units / b_obs, 0.0)
        b_var = np.where(b_obs > 1, (b_sq - b_obs * b_mean**2) / (b_obs - 1), 0.0)
    out["before_obs"][rows], out["before_mean"][rows] = b_obs, b_mean
    out["before_std"][rows] = np.sqrt(np.maximum(b_var, 0.0))
