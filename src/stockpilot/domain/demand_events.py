"""Planned events (a promotion, a season): a date range whose days multiply the forecast.

The forecast is a rate used over a horizon (a lead time, a cover period), so what matters is the mean
multiplier over the days from `today` to `today + horizon`; overlapping events multiply on the days they share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    """Days `start`..`end` (both inclusive) sell `multiplier` times the usual rate."""

    start: date
    end: date
    multiplier: float
    name: str = ""

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("a planned event ends on or after its start")
        if not (self.multiplier >= 0 and math.isfinite(self.multiplier)):
            raise ValueError("a planned event's multiplier is a finite number >= 0")


def event_factor(events: Sequence[PlannedEvent], *, today: date, horizon_days: float) -> float:
    """Mean multiplier over [today, today + horizon_days) for one SKU."""
    return float(event_factors(events, today=today, horizon_days=horizon_days, n_rows=1)[0])


def event_factors(
    events: Sequence[PlannedEvent],
    *,
    today: date,
    horizon_days: float | np.ndarray,
    n_rows: int,
    event_rows: np.ndarray | None = None,
) -> np.ndarray:
    """Mean multiplier per row over [today, today + horizon) (a fractional last day counts in part; a horizon
    of 0 takes today's multiplier). `event_rows` (bool, events x rows) restricts events to some rows; rows that
    share the same set of events share one daily profile, so the cost is per distinct set, not per row."""
    h = np.broadcast_to(np.asarray(horizon_days, dtype=np.float64), (n_rows,))
    if not events:
        return np.ones(n_rows)
    if np.any(h < 0) or not np.all(np.isfinite(h)):
        raise ValueError("horizon_days must be finite and >= 0")
    days = math.ceil(float(h.max())) + 1
    mask = np.ones((len(events), n_rows), bool) if event_rows is None else np.asarray(event_rows, dtype=bool)
    if mask.shape != (len(events), n_rows):
        raise ValueError("event_rows must have shape (events, rows)")
    patterns, inverse = np.unique(mask.T, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    whole = np.floor(h).astype(np.int64)
    part = h - whole
    factors = np.empty(n_rows)
    for p, pattern in enumerate(patterns):
        daily = np.ones(days)
        for event, applies in zip(events, pattern, strict=True):
            lo, hi = max((event.start - today).days, 0), min((event.end - today).days + 1, days)
            if applies and lo < hi:
                daily[lo:hi] *= event.multiplier
        cum = np.concatenate(([0.0], np.cumsum(daily)))
        sel = inverse == p
        hs, ws = h[sel], whole[sel]
        with np.errstate(divide="ignore", invalid="ignore"):
            factors[sel] = np.where(hs > 0, (cum[ws] + part[sel] * daily[ws]) / hs, daily[0])
    return factors
