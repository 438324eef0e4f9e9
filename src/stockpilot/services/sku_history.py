"""One SKU's daily history for its chart: units on hand at the end of each day (folded back from the ledger) and
units demanded (orders + imported history, as planning counts them), plus the projection ahead.
Days before the SKU was observed (created, or its first imported day) are None, as in planning."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.db import dashboard_store

MIN_DAYS = 14


@dataclass(frozen=True)
class DailyHistory:
    days: list[date]  # oldest first, today last
    on_hand: list[int]  # at the end of each day (today: now)
    demand: list[float | None]  # None: the SKU was not observed yet that day
    projection_days: list[date]  # today, then the days ahead
    projected_available: list[float]  # available falling at the mean daily rate, open POs landing at their ETA


def daily_history(conn: Connection, sku: str, today: date, *, days: int = 60, ahead: int = 21,
                  mean_daily: float = 0.0, open_pos: list[dict[str, Any]] | None = None) -> DailyHistory | None:
    head = dashboard_store.sku_head(conn, sku)
    if head is None:
        return None
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time(), UTC)
    per_day_demand, first_import = dashboard_store.demand_by_day(conn, head.id, since)
    seen_from = min(head.created_at.astimezone(UTC).date(), first_import or today)
    demand: list[float | None] = [None if first + timedelta(days=k) < seen_from
                                  else float(per_day_demand.get(first + timedelta(days=k), 0)) for k in range(days)]
    changes = dashboard_store.on_hand_changes(conn, head.id, since)
    per_day = [0] * days
    for at, delta in changes:
        index = (at.astimezone(UTC).date() - first).days
        if 0 <= index < days:
            per_day[index] += delta
    on_hand = [0] * days
    level = head.on_hand
    for k in range(days - 1, -1, -1):  # the end of day k is the end of day k+1 minus what day k+1 changed
        on_hand[k] = level
        level -= per_day[k]
    # A young SKU gets a short chart, not weeks of zeros before it existed (at least MIN_DAYS are drawn).
    observed = next((k for k, v in enumerate(demand) if v is not None), days)
    start = max(0, min(observed, days - MIN_DAYS))
    available = head.on_hand - head.committed - head.reserved
    arrivals: dict[int, float] = {}
    for po in open_pos or []:
        eta = date.fromisoformat(po["eta"]) if po.get("eta") else today
        arrivals[max(0, (eta - today).days)] = arrivals.get(max(0, (eta - today).days), 0.0) + po["quantity"]
    projected, running = [], float(available)
    for k in range(ahead + 1):
        running += arrivals.get(k, 0.0) - (mean_daily if k else 0.0)
        projected.append(running)
    return DailyHistory(
        days=[first + timedelta(days=k) for k in range(start, days)], on_hand=on_hand[start:],
        demand=demand[start:],
        projection_days=[today + timedelta(days=k) for k in range(ahead + 1)], projected_available=projected,
    )
