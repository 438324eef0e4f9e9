"""Domain events derived from a change of levels. Pure: before/after figures in, events out."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from stockpilot.domain.model import Levels


class EventKind(StrEnum):
    STOCK_CHANGED = "StockChanged"
    LOW_STOCK = "LowStock"
    WENT_OUT_OF_STOCK = "WentOutOfStock"
    BACK_IN_STOCK = "BackInStock"
    OVERSOLD = "Oversold"


@dataclass(frozen=True, slots=True)
class DomainEvent:
    kind: EventKind
    sku: str
    location: str | None
    payload: dict[str, Any] = field(default_factory=dict)


def derive_events(
    *,
    sku: str,
    location: str,
    movement: str,
    reference: str | None,
    location_before: Levels,
    location_after: Levels,
    total_before: Levels,
    total_after: Levels,
    low_stock_threshold: int | None,
) -> list[DomainEvent]:
    """Events for one applied ledger entry.

    StockChanged is per location; the threshold events look at the SKU's total `available` across locations,
    because "out of stock" is what a buyer on any channel experiences. Each threshold event fires only when
    the total crosses the line, so replays of steady states stay quiet.
    """
    events: list[DomainEvent] = []
    if location_before != location_after:
        events.append(
            DomainEvent(
                EventKind.STOCK_CHANGED,
                sku,
                location,
                {
                    "movement": movement,
                    "reference": reference,
                    "before": location_before.as_dict(),
                    "after": location_after.as_dict(),
                    "total_available": total_after.available,
                },
            )
        )
    was, now = total_before.available, total_after.available
    if was == now:
        return events
    common = {"movement": movement, "reference": reference, "available_before": was, "available": now}
    if was > 0 >= now:
        events.append(DomainEvent(EventKind.WENT_OUT_OF_STOCK, sku, None, common))
    if was <= 0 < now:
        events.append(DomainEvent(EventKind.BACK_IN_STOCK, sku, None, common))
    if now < 0 and now < was:
        events.append(DomainEvent(EventKind.OVERSOLD, sku, None, {**common, "oversold_units": -now}))
    if (
        low_stock_threshold is not None
        and 0 < now <= low_stock_threshold
        and not (0 < was <= low_stock_threshold)
    ):
        events.append(
            DomainEvent(EventKind.LOW_STOCK, sku, None, {**common, "threshold": low_stock_threshold})
        )
    return events
