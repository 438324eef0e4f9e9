"""Forecast view: days of cover, projected stockout considering open purchase orders, SKUs at risk.

Time is in days from the start of `today` (the caller's date); stock depletes at the mean daily rate and each
open PO adds its quantity at the start of its ETA day (an overdue PO counts as arriving today). The level is
then piecewise linear, so the stockout time is found analytically, not by walking day by day:
before the k-th arrival (k = 0 for none yet) the stock would run out at t_k = (available + Q_k) / d, Q_k the
quantity of the first k POs; t_k grows with k, so the stockout is the first t_k that comes before the next ETA.
A PO arriving exactly when stock reaches zero is in time.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_RISK_DAYS = 7


@dataclass(frozen=True, slots=True)
class OpenPO:
    eta: dt.date
    quantity: float


def days_of_cover_batch(available: np.ndarray | float, mean_daily: np.ndarray | float) -> np.ndarray:
    """available / mean daily demand; inf with stock and no demand, 0 with no stock."""
    a = np.maximum(np.asarray(available, dtype=np.float64), 0.0)
    d = np.asarray(mean_daily, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a <= 0, 0.0, np.where(d > 0, a / np.where(d > 0, d, 1.0), np.inf))


def days_of_cover(available: float, mean_daily: float) -> float:
    return float(days_of_cover_batch(available, mean_daily))


def stockout_days_batch(
    available: np.ndarray | float,
    mean_daily: np.ndarray | float,
    po_rows: np.ndarray | None = None,
    po_eta_days: np.ndarray | None = None,
    po_quantity: np.ndarray | None = None,
) -> np.ndarray:
    """Days from now until stock first runs out (0 = out or oversold now, inf = never at the current rate).
    Open POs are flat arrays: the SKU row each belongs to, its ETA in days from today, its quantity."""
    a, d = np.broadcast_arrays(np.asarray(available, dtype=np.float64), np.asarray(mean_daily, dtype=np.float64))
    a, d = a.reshape(-1), d.reshape(-1)
    demand = d > 0
    safe_d = np.where(demand, d, 1.0)
    n = a.shape[0]
    first_eta = np.full(n, np.inf)
    out = np.full(n, np.inf)
    if po_rows is not None and len(po_rows) > 0:
        rows = np.asarray(po_rows, dtype=np.int64)
        eta = np.maximum(np.asarray(po_eta_days, dtype=np.float64), 0.0)
        qty = np.asarray(po_quantity, dtype=np.float64)
        order = np.lexsort((eta, rows))
        rows, eta, qty = rows[order], eta[order], qty[order]
        starts = np.r_[True, rows[1:] != rows[:-1]]
        ends = np.r_[rows[1:] != rows[:-1], True]
        cum = np.cumsum(qty)
        start_idx = np.maximum.accumulate(np.where(starts, np.arange(len(rows)), 0))
        q_k = cum - (cum[start_idx] - qty[start_idx])  # quantity of this PO and the earlier ones of its SKU
        next_eta = np.where(ends, np.inf, np.r_[eta[1:], np.inf])
        first_eta[rows[starts]] = eta[starts]
        with np.errstate(over="ignore"):
            t_k = (a[rows] + q_k) / safe_d[rows]
        hit = demand[rows] & (t_k < next_eta)
        np.minimum.at(out, rows[hit], t_k[hit])
    with np.errstate(over="ignore"):
        t0 = a / safe_d
    out = np.where(demand & (t0 < first_eta), t0, out)
    out = np.where(a <= 0, 0.0, out)
    return np.maximum(out, 0.0)


def projected_stockout(
    available: float, mean_daily: float, open_pos: Sequence[OpenPO] = (), *, today: dt.date,
) -> dt.date | None:
    """The date stock is projected to run out (None: not at the current rate)."""
    days = stockout_days(available, mean_daily, open_pos, today=today)
    return None if math.isinf(days) else today + dt.timedelta(days=math.floor(days))


def stockout_days(available: float, mean_daily: float, open_pos: Sequence[OpenPO] = (), *, today: dt.date) -> float:
    return float(stockout_days_batch(
        available, mean_daily, np.zeros(len(open_pos), dtype=np.int64),
        np.array([(p.eta - today).days for p in open_pos], dtype=np.float64),
        np.array([p.quantity for p in open_pos], dtype=np.float64),
    )[0])


def at_risk_batch(stockout_days: np.ndarray, horizon_days: float = DEFAULT_RISK_DAYS) -> np.ndarray:
    """Stock runs out within the next `horizon_days` days (today counts as day 0)."""
    return np.asarray(stockout_days) < horizon_days


def at_risk(
    available: float, mean_daily: float, open_pos: Sequence[OpenPO] = (), *, today: dt.date,
    horizon_days: float = DEFAULT_RISK_DAYS,
) -> bool:
    return bool(at_risk_batch(np.array([stockout_days(available, mean_daily, open_pos, today=today)]), horizon_days))
