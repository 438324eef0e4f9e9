"""Ad pausing rules, pure: when an ad set's products are all unsellable, when it may run again, what a pause saved.

An ad set advertises one or more SKUs. Each SKU has a *sellable headroom*: how many more units a buyer could order
now. For `deny` that is `available` (on hand - committed - reserved, over all locations). A SKU whose backorder
policy lets buyers order below zero is still sellable (the shop chose to take those orders, and an ad that brings
them is not wasted): its headroom is `available + cap`, unlimited without a cap. `backorders_keep_running=False`
judges every SKU on `available` alone (for shops that would rather not advertise what ships late).

- pause: every SKU of the ad set has headroom <= 0, and Stockpilot has no pause on it yet;
- resume: Stockpilot paused it, and some SKU has headroom >= `threshold` continuously for the hold time (a durable
  timer booked when the level is first reached, cancelled when it drops below): a count hovering at 0/1 does not
  flap the ad set;
- forget: a person had the ad set paused when we looked (or changed it after our pause); once stock is back we
  stop watching that episode, so the next stock-out is judged afresh.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from stockpilot.domain.model import BackorderPolicy

UNLIMITED = 10**12  # headroom of a SKU with uncapped backorders: larger than any real threshold

PLATFORMS = ("meta", "google")


class AdSetState(StrEnum):
    RUNNING = "running"  # no pause of ours: watching for a stock-out
    PAUSING = "pausing"  # an `ads.pause` action is in the outbox
    PAUSED = "paused"  # we paused it and it is ours to resume
    RESUMING = "resuming"  # an `ads.resume` action is in the outbox
    LEFT = "left"  # a person owns this episode (had it paused, re-activated or changed it, or our call failed)


class Step(StrEnum):
    PAUSE = "pause"
    START_HOLD = "start_hold"  # book the resume timer
    BREAK_HOLD = "break_hold"  # cancel it: stock fell below the threshold again
    FORGET = "forget"  # a LEFT episode ends: stock is back
    NOTHING = "nothing"


@dataclass(frozen=True)
class SkuStock:
    sku: str
    available: int
    policy: BackorderPolicy
    backorder_cap: int | None


def headroom(stock: SkuStock, *, backorders_keep_running: bool = True) -> int:
    if stock.policy is BackorderPolicy.DENY or not backorders_keep_running:
        return stock.available
    if stock.backorder_cap is None:
        return UNLIMITED
    return stock.available + stock.backorder_cap


def next_step(state: AdSetState, headrooms: Iterable[int], threshold: int, *, hold_pending: bool) -> Step:
    """What the ad set's current stock asks for, given its state (decided from state, so replays are harmless)."""
    if threshold < 1:
        raise ValueError("resume threshold must be at least 1")
    values = list(headrooms)
    best = max(values) if values else 0
    if state is AdSetState.RUNNING:
        return Step.PAUSE if values and best <= 0 else Step.NOTHING
    if state is AdSetState.PAUSED:
        if best >= threshold:
            return Step.NOTHING if hold_pending else Step.START_HOLD
        return Step.BREAK_HOLD if hold_pending else Step.NOTHING
    if state is AdSetState.LEFT:
        return Step.FORGET if best >= threshold else Step.NOTHING
    return Step.NOTHING  # an action is in flight: its outcome decides


def daily_spend_micros(total: Decimal, days: int) -> int:
    """Average daily spend over `days`, in millionths of the account currency (Google's unit; Meta gives units)."""
    if days <= 0:
        raise ValueError("days must be positive")
    return int((total * 1_000_000 / days).to_integral_value(rounding=ROUND_HALF_UP))


def spend_saved_micros(daily_micros: int | None, paused_for: timedelta) -> int | None:
    """Estimated spend avoided: recent daily spend x time paused (None when the spend is unknown)."""
    if daily_micros is None:
        return None
    seconds = max(paused_for.total_seconds(), 0.0)
    return int(Decimal(daily_micros) * Decimal(str(seconds)) / 86400)


def money(micros: int | None) -> str:
    """Micros as a two-decimal amount for people (the decision log, the CLI)."""
    if micros is None:
        return "unknown"
    return str((Decimal(micros) / 1_000_000).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
