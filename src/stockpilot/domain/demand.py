"""Demand estimation from daily demand history: classify, estimate rate and spread, lift for surges and events.

One implementation, vectorised: `estimate_batch` takes a 2-D array (rows = SKUs, columns = days, oldest first,
zeros included, NaN for days not observed, e.g. before a SKU existed) and returns arrays; `estimate_demand` is
that function on one row. Nothing here reads a clock: the caller passes `today` when planned events matter.

Per SKU:
1. Classify (Syntetos-Boylan-Croston 2005) over the whole history: ADI = observed days / demand days (the mean
   inter-demand interval), CV2 = squared coefficient of variation of the non-zero sizes; cut-offs 1.32 and 0.49.
   Fewer than `min_observations` observed days is "new"; no observed day at all "no_history"; observed but never
   sold "no_demand".
2. Smooth, erratic and new: mean and standard deviation over the last `window_days` with exponential weights of
   half-life `half_life_days`. Intermittent and lumpy: a Croston-family method (SBA by default, see
   DemandConfig), its spread the square root of the smoothed MSE of its one-step-ahead errors.
3. Surge: the last `surge_window_days` selling `surge_ratio` times faster than the long window (and at least
   `surge_min_units` units over `surge_min_days` distinct days, so one order is not a trend, and `surge_z`
   standard deviations above what the days before it would predict, so a slow mover's noise is not a trend
   either) raises the mean to the recent velocity; the spread is scaled by the same factor (the coefficient of
   variation is kept).
4. Planned events: the forecast is multiplied by the mean event multiplier over the days it will be used for
   (`today` .. `today + horizon_days`), the spread by the same factor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

import numpy as np

from stockpilot.domain.croston import CrostonMethod, croston_family
from stockpilot.domain.demand_events import PlannedEvent, event_factors


class DemandClass(StrEnum):
    SMOOTH = "smooth"
    ERRATIC = "erratic"
    INTERMITTENT = "intermittent"
    LUMPY = "lumpy"
    NEW = "new"
    NO_HISTORY = "no_history"
    NO_DEMAND = "no_demand"


class DemandMethod(StrEnum):
    EWMA = "ewma"
    CROSTON = "croston"
    SBA = "sba"
    TSB = "tsb"
    NONE = "none"


CLASSES: tuple[DemandClass, ...] = tuple(DemandClass)
METHODS: tuple[DemandMethod, ...] = tuple(DemandMethod)
_C = {c: np.int8(i) for i, c in enumerate(CLASSES)}
_M = {m: np.int8(i) for i, m in enumerate(METHODS)}


@dataclass(frozen=True, slots=True)
class DemandConfig:
    """Tunables. Defaults and why:

    - half_life_days 30: a month-old day weighs half of yesterday; over the 90-day window the oldest weighs 1/8,
      leaving an effective sample of ~75 days, enough for a stable spread, while a quarter-long drift is followed.
      Sudden shifts are the surge detector's job, not the weighting's.
    - intermittent_method "sba": on daily buckets SBA updates only on demand days, so a slow mover's reorder
      point does not swing after every sale or every quiet day, and it is the best-evidenced unbiased variant on
      stationary intermittent demand. TSB's strength, decaying the forecast of items that stopped selling, matters
      less in a reorder-point system: an item that does not sell does not deplete, so it never triggers an order.
      "tsb" is available (beta smooths its daily demand probability).
    - mse_half_life_days 30: the Croston-family spread uses the same memory as the smooth branch.
    - surge_z 3: a slow mover's 14-day sum is skewed, so a normal-looking 2.33 still flags ~3% of stationary
      intermittent SKUs (measured); 3 keeps that near 1% and does not change what is caught among fast movers.
    """

    window_days: int = 90
    half_life_days: float = 30.0
    adi_cutoff: float = 1.32
    cv2_cutoff: float = 0.49
    min_observations: int = 28
    intermittent_method: CrostonMethod = CrostonMethod.SBA
    alpha: float = 0.1
    beta: float = 0.05
    mse_half_life_days: float = 30.0
    surge_window_days: int = 14
    surge_ratio: float = 1.5
    surge_min_units: float = 5.0
    surge_min_days: int = 3
    surge_z: float = 3.0
    chunk_rows: int = 8192


DEFAULT_CONFIG = DemandConfig()


@dataclass(frozen=True, slots=True)
class DemandEstimate:
    """One SKU's forecast and every figure behind it (for the decision log)."""

    mean_daily: float
    std_daily: float
    method: DemandMethod
    demand_class: DemandClass
    surge: bool
    recent_velocity: float
    long_velocity: float
    observations: int
    demand_days: int
    adi: float
    cv2: float
    base_mean_daily: float
    base_std_daily: float
    event_factor: float
    config: DemandConfig = field(default=DEFAULT_CONFIG, repr=False)

    def reasons(self) -> tuple[str, ...]:
        """Short sentences a decision log can show as they are."""
        c = self.config
        out = [f"{self.demand_class} demand: {self.observations} days observed, {self.demand_days} with sales"
               + (f", ADI {self.adi:.2f}, CV2 {self.cv2:.2f}" if math.isfinite(self.adi) else "")]
        if self.method is DemandMethod.EWMA:
            out.append(f"mean {self.base_mean_daily:.3f}/day ± {self.base_std_daily:.3f} over {c.window_days} days "
                       f"weighted to recent days (half-life {c.half_life_days:g} d)")
        elif self.method is not DemandMethod.NONE:
            out.append(f"{self.method.upper()} {self.base_mean_daily:.3f}/day ± {self.base_std_daily:.3f} "
                       f"(alpha {c.alpha:g}, spread from smoothed one-step MSE)")
        if self.surge:
            out.append(f"surge: last {c.surge_window_days} d at {self.recent_velocity:.3f}/day vs "
                       f"{self.long_velocity:.3f}/day over {c.window_days} d; forecast raised")
        if self.event_factor != 1.0:
            out.append(f"planned events: forecast x{self.event_factor:.3f}")
        return tuple(out)


@dataclass(frozen=True, slots=True)
class DemandBatch:
    """`estimate_batch` output: one array per DemandEstimate field, index = row of the history."""

    mean_daily: np.ndarray
    std_daily: np.ndarray
    method_code: np.ndarray
    class_code: np.ndarray
    surge: np.ndarray
    recent_velocity: np.ndarray
    long_velocity: np.ndarray
    observations: np.ndarray
    demand_days: np.ndarray
    adi: np.ndarray
    cv2: np.ndarray
    base_mean_daily: np.ndarray
    base_std_daily: np.ndarray
    event_factor: np.ndarray
    config: DemandConfig = DEFAULT_CONFIG

    def __len__(self) -> int:
        return int(self.mean_daily.shape[0])

    def row(self, i: int) -> DemandEstimate:
        return DemandEstimate(
            mean_daily=float(self.mean_daily[i]),
            std_daily=float(self.std_daily[i]),
            method=METHODS[int(self.method_code[i])],
            demand_class=CLASSES[int(self.class_code[i])],
            surge=bool(self.surge[i]),
            recent_velocity=float(self.recent_velocity[i]),
            long_velocity=float(self.long_velocity[i]),
            observations=int(self.observations[i]),
            demand_days=int(self.demand_days[i]),
            adi=float(self.adi[i]),
            cv2=float(self.cv2[i]),
            base_mean_daily=float(self.base_mean_daily[i]),
            base_std_daily=float(self.base_std_daily[i]),
            event_factor=float(self.event_factor[i]),
            config=self.config,
        )

    def is_class(self, demand_class: DemandClass | str) -> np.ndarray:
        return self.class_code == _C[DemandClass(demand_class)]


def estimate_demand(
    history: Sequence[float] | np.ndarray,
    *,
    config: DemandConfig = DEFAULT_CONFIG,
    today: date | None = None,
    events: Sequence[PlannedEvent] = (),
    horizon_days: float | None = None,
) -> DemandEstimate:
    """One SKU: `estimate_batch` on a single row."""
    row = np.asarray(history, dtype=np.float64).reshape(1, -1)
    return estimate_batch(row, config=config, today=today, events=events, horizon_days=horizon_days).row(0)


def estimate_batch(
    history: np.ndarray,
    *,
    config: DemandConfig = DEFAULT_CONFIG,
    today: date | None = None,
    events: Sequence[PlannedEvent] = (),
    event_rows: np.ndarray | None = None,
    horizon_days: float | np.ndarray | None = None,
) -> DemandBatch:
    """Estimate every row of `history` (skus x days). Rows are processed in chunks of `config.chunk_rows` so
    temporaries stay in cache and memory stays bounded whatever the number of SKUs.

    `events` apply to every row unless `event_rows` (bool, events x skus) says which rows each one concerns;
    they need `today` and `horizon_days` (scalar or per row: the days the forecast will cover, e.g. lead time).
    """
    hist = np.asarray(history)
    if hist.ndim != 2:
        raise ValueError("history must be 2-D: rows = SKUs, columns = days (oldest first)")
    n = hist.shape[0]
    out = {name: np.empty(n) for name in (
        "mean_daily", "std_daily", "recent_velocity", "long_velocity", "adi", "cv2", "base_mean_daily",
        "base_std_daily")}
    out |= {"method_code": np.empty(n, np.int8), "class_code": np.empty(n, np.int8),
            "surge": np.empty(n, bool), "observations": np.empty(n, np.int64), "demand_days": np.empty(n, np.int64)}
    step = max(1, config.chunk_rows)
    for lo in range(0, n, step):
        _estimate_chunk(np.asarray(hist[lo:lo + step], dtype=np.float64), config, out, slice(lo, lo + step))

    if events:
        if today is None or horizon_days is None:
            raise ValueError("planned events need today and horizon_days")
        factor = event_factors(events, today=today, horizon_days=horizon_days, n_rows=n, event_rows=event_rows)
        out["mean_daily"] *= factor
        out["std_daily"] *= factor
    else:
        factor = np.ones(n)
    return DemandBatch(event_factor=factor, config=config, **out)


def _ew_weights(days: int, half_life: float) -> np.ndarray:
    """Weights oldest first: the most recent day weighs 1, a day `half_life` older weighs 1/2."""
    age = np.arange(days - 1, -1, -1, dtype=np.float64)
    return np.power(0.5, age / half_life)


def _estimate_chunk(x: np.ndarray, c: DemandConfig, out: dict[str, np.ndarray], rows: slice) -> None:
    nan = np.isnan(x)
    has_nan = bool(nan.any())
    x0 = np.where(nan, 0.0, x) if has_nan else x
    valid = (~nan).astype(np.float64) if has_nan else None

    def count(cols: slice) -> np.ndarray:
        return valid[:, cols].sum(axis=1) if valid is not None else np.full(x.shape[0], float(len(range(
            *cols.indices(x.shape[1])))))

    # 1. classification over the whole history (zeros add nothing to the sums of sizes)
    obs = count(slice(None))
    sale = x0 > 0.0
    k = sale.sum(axis=1).astype(np.float64)
    s1 = x0.sum(axis=1)
    s2 = np.einsum("ij,ij->i", x0, x0)
    with np.errstate(divide="ignore", invalid="ignore"):
        adi = np.where(k > 0, obs / k, np.inf)
        mean_nz = np.where(k > 0, s1 / k, 0.0)
        cv2 = np.where(k > 0, np.maximum(s2 / k - mean_nz**2, 0.0) / np.where(mean_nz > 0, mean_nz, 1.0) ** 2, np.nan)
    long_adi = adi >= c.adi_cutoff
    long_cv = cv2 >= c.cv2_cutoff
    cls = np.where(long_adi, np.where(long_cv, _C[DemandClass.LUMPY], _C[DemandClass.INTERMITTENT]),
                   np.where(long_cv, _C[DemandClass.ERRATIC], _C[DemandClass.SMOOTH])).astype(np.int8)
    cls[k == 0] = _C[DemandClass.NO_DEMAND]
    cls[obs < c.min_observations] = _C[DemandClass.NEW]
    cls[obs == 0] = _C[DemandClass.NO_HISTORY]

    # 2a. exponentially weighted mean and spread over the window (reliability-weighted unbiased variance)
    w_days = min(c.window_days, x.shape[1])
    win = slice(x.shape[1] - w_days, None)
    w = _ew_weights(w_days, c.half_life_days)
    xw = x0[:, win]
    if valid is not None:
        v1, v2 = valid[:, win] @ w, valid[:, win] @ (w * w)
    else:
        v1, v2 = np.full(x.shape[0], w.sum()), np.full(x.shape[0], (w * w).sum())
    m1 = xw @ w
    m2 = (xw * xw) @ w
    with np.errstate(divide="ignore", invalid="ignore"):
        ew_mean = np.where(v1 > 0, m1 / v1, 0.0)
        denom = v1 - v2 / np.where(v1 > 0, v1, 1.0)
        ew_var = np.where(denom > 1e-12, (m2 - v1 * ew_mean**2) / np.where(denom > 1e-12, denom, 1.0), 0.0)
    mean = ew_mean
    std = np.sqrt(np.maximum(ew_var, 0.0))
    method = np.full(x.shape[0], _M[DemandMethod.EWMA], np.int8)

    # 2b. Croston family for the intermittent and lumpy rows only
    inter = (cls == _C[DemandClass.INTERMITTENT]) | (cls == _C[DemandClass.LUMPY])
    if inter.any():
        mse_alpha = 1.0 - 0.5 ** (1.0 / c.mse_half_life_days)
        cr = croston_family(x[inter], method=c.intermittent_method, alpha=c.alpha, beta=c.beta, mse_alpha=mse_alpha)
        mean[inter] = cr.forecast
        std[inter] = np.where(np.isnan(cr.mse), std[inter], np.sqrt(cr.mse))
        method[inter] = _M[DemandMethod(c.intermittent_method.value)]
    none = (cls == _C[DemandClass.NO_HISTORY]) | (cls == _C[DemandClass.NO_DEMAND])
    mean[none], std[none], method[none] = 0.0, 0.0, _M[DemandMethod.NONE]

    # 3. surge: recent velocity against the long window's
    r_days = min(c.surge_window_days, x.shape[1])
    rec = slice(x.shape[1] - r_days, None)
    r_obs, l_obs = count(rec), count(win)
    r_units = x0[:, rec].sum(axis=1)
    before = slice(0, x.shape[1] - r_days)  # every observed day before the recent ones: the noise baseline
    b_obs = count(before)
    b_units = x0[:, before].sum(axis=1)
    b_sq = np.einsum("ij,ij->i", x0[:, before], x0[:, before])
    with np.errstate(divide="ignore", invalid="ignore"):
        recent = np.where(r_obs > 0, r_units / r_obs, 0.0)
        long = np.where(l_obs > 0, xw.sum(axis=1) / l_obs, 0.0)
        b_mean = np.where(b_obs > 0, b_units / b_obs, 0.0)
        b_std = np.sqrt(np.maximum(np.where(b_obs > 1, (b_sq - b_obs * b_mean**2) / (b_obs - 1), 0.0), 0.0))
        surge = ((r_units >= c.surge_min_units) & (sale[:, rec].sum(axis=1) >= c.surge_min_days)
                 & (recent >= c.surge_ratio * long) & (recent > mean)
                 & (r_units >= r_obs * b_mean + c.surge_z * np.sqrt(r_obs) * b_std))
        lift = np.where(surge & (mean > 0), recent / np.where(mean > 0, mean, 1.0), 1.0)
    out["base_mean_daily"][rows], out["base_std_daily"][rows] = mean, std
    out["mean_daily"][rows] = np.where(surge, recent, mean)
    out["std_daily"][rows] = np.where(surge & (mean <= 0), np.sqrt(recent), std * lift)
    out["method_code"][rows], out["class_code"][rows], out["surge"][rows] = method, cls, surge
    out["recent_velocity"][rows], out["long_velocity"][rows] = recent, long
    out["observations"][rows], out["demand_days"][rows] = obs.astype(np.int64), k.astype(np.int64)
    out["adi"][rows], out["cv2"][rows] = adi, cv2
