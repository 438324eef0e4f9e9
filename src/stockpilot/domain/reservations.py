"""Pure rules for reservation requests: merging lines and ranking locations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from stockpilot.domain.errors import ValidationFailed


@dataclass(frozen=True, slots=True)
class RequestedLine:
    sku: str
    quantity: int
    location: str | None = None


@dataclass(frozen=True, slots=True)
class LocationOption:
    code: str
    priority: int
    available: int


def merge_lines(lines: Iterable[RequestedLine]) -> list[RequestedLine]:
    """Sum lines for the same (SKU, location) so the availability check sees the cart's whole demand.

    The result is sorted by (SKU, location) which is also the order rows are locked in: two carts touching the
    same SKUs in opposite orders lock them in the same order and cannot deadlock.
    """
    totals: dict[tuple[str, str | None], int] = {}
    for line in lines:
        if line.quantity <= 0:
            raise ValidationFailed(f"{line.sku}: quantity must be positive, got {line.quantity}")
        key = (line.sku, line.location)
        totals[key] = totals.get(key, 0) + line.quantity
    if not totals:
        raise ValidationFailed("a reservation needs at least one line")
    ordered = sorted(totals.items(), key=lambda item: (item[0][0], item[0][1] is None, item[0][1] or ""))
    return [RequestedLine(sku, qty, loc) for (sku, loc), qty in ordered]


def rank_locations(options: Sequence[LocationOption]) -> list[LocationOption]:
    """Routing order: lowest priority number first, then the most available, then code for determinism."""
    return sorted(options, key=lambda o: (o.priority, -o.available, o.code))


def units_per_sku(lines: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Total units per SKU over (sku, quantity) pairs: how a replay is compared with what was first asked."""
    totals: dict[str, int] = {}
    for sku, quantity in lines:
        totals[sku] = totals.get(sku, 0) + quantity
    return totals
