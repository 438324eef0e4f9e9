"""Customer backorder notices, pure: when an order's units are expected, and when a new date is worth an email."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, timedelta


def eta_for_units(needed: int, supply: Iterable[tuple[date, int]], today: date,
                  shortest_lead_days: float | None) -> date | None:
    """When `needed` more units (this order's place in the queue) will have arrived.

    `supply` is the open POs' (expected date, units due), soonest first: the date of the PO whose cumulative units
    reach `needed`. Not enough on order: today + the shortest lead time of a supplier offering it (what a new PO
    placed now could do); no supplier: unknown (None).
    """
    if needed <= 0:
        return today
    arrived = 0
    for expected, units in supply:
        arrived += units
        if arrived >= needed:
            return expected
    if shortest_lead_days is None:
        return None
    return today + timedelta(days=math.ceil(shortest_lead_days))


def order_eta(line_etas: Iterable[date | None]) -> date | None:
    """The order ships whole: its last line's date; unknown if any line's is."""
    etas = list(line_etas)
    if not etas or any(e is None for e in etas):
        return None
    return max(e for e in etas if e is not None)


def worth_an_update(told: date | None, now: date | None, margin_days: int) -> bool:
    """A new ETA is sent when it moves by more than the margin, or when a date appears or disappears."""
    if told is None or now is None:
        return (told is None) != (now is None)
    return abs((now - told).days) > margin_days
