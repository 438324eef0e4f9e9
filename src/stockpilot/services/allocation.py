"""Placing demand on stock: the guarded take of one cart line, with routing, lazy expiry and backorders.

Shared by reservations (units go to `reserved`) and directly placed orders (units go to `committed`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from stockpilot.adapters.db import ledger, placement_store
from stockpilot.adapters.db import reservation_store as store
from stockpilot.adapters.db.ledger import LocationRef, SkuRef
from stockpilot.domain.errors import InsufficientStock, NotFound, ValidationFailed
from stockpilot.domain.model import Delta, MovementKind, availability_floor
from stockpilot.domain.reservations import LocationOption, RequestedLine, rank_locations

# What a routed line's SKU had, read with the SKU itself earlier in the same transaction: its routing options
# and whether a hold on it was overdue (placement_store.line_sku_routing).
Routing = tuple[list[tuple[LocationRef, int]], bool]


@dataclass(frozen=True, slots=True)
class KnownSku:
    """A SKU the caller already read in this transaction (a channel line resolved through its listing), and, for
    a routed line, its routing as read then."""

    ref: SkuRef
    routing: Routing | None = None


@dataclass(frozen=True, slots=True)
class Placement:
    sku: SkuRef
    location: LocationRef
    quantity: int


def resolve(conn: Connection, line: RequestedLine,
            known: Mapping[str, KnownSku] | None = None) -> tuple[SkuRef, LocationRef | None]:
    """The line's SKU and its explicit location, if any (the errors of services.lookups, on the hot path).

    `known`: SKUs the caller read in this transaction already, so the SKU is not read twice."""
    hit = known.get(line.sku) if known else None
    sku = hit.ref if hit else placement_store.sku_ref(conn, line.sku)
    if sku is None:
        raise NotFound(f"unknown SKU {line.sku!r}", sku=line.sku)
    if line.location is None:
        return sku, None
    location = placement_store.location_ref(conn, line.location)
    if location is None:
        raise NotFound(f"unknown location {line.location!r}", location=line.location)
    return sku, location


# Frees the holds of expired reservations on one SKU; returns how many reservations it expired.
ExpireOverdue = Callable[[Connection, int, datetime], int]


@dataclass
class Allocator:
    conn: Connection
    now: datetime
    kind: MovementKind  # RESERVE or COMMIT
    key_prefix: str
    reference: str
    source: str
    expire_overdue: ExpireOverdue
    _line_no: int = 0
    _expired: int = 0  # reservations this allocator expired (each may have freed units of other SKUs too)

    def _delta(self, quantity: int) -> Delta:
        return Delta(reserved=quantity) if self.kind is MovementKind.RESERVE else Delta(committed=quantity)

    def _take(self, sku: SkuRef, location: LocationRef, quantity: int, floor: int | None) -> bool:
        key = f"{self.key_prefix}:{self.kind.value}:{self._line_no}:{sku.id}:{location.id}"
        applied = ledger.apply(
            self.conn, sku=sku, location=location, kind=self.kind, delta=self._delta(quantity), floor=floor,
            source=self.source, reference=self.reference,
            idempotency_key=key, now=self.now,
        )
        return applied is not None

    def place(self, line: RequestedLine, sku: SkuRef, location: LocationRef | None,
              routing: Routing | None = None) -> list[Placement]:
        """Take `line.quantity` units or raise InsufficientStock; the caller's transaction is all-or-nothing.

        `routing`: the SKU's routing as read earlier in this transaction, before this allocator placed anything
        (the caller's lines are one per SKU): used only while no expiry here could have changed it since."""
        self._line_no += 1
        policy_floor = availability_floor(sku.backorder_policy, sku.backorder_cap)
        options: list[tuple[LocationRef, int]] = []
        overdue: bool | None = None  # unknown until read
        if location is None:
            if routing is None or self._expired:
                routing = placement_store.routing_options_and_overdue(self.conn, sku.id, self.now)
            options, overdue = routing
            if not options:
                raise ValidationFailed("no locations exist yet: create one first")
            visible = sum(max(available, 0) for _, available in options)
        else:
            level = ledger.read_level(self.conn, sku.id, location.id)
            visible = level.available if level else 0
        if policy_floor == 0 and visible < line.quantity and not (
            overdue if overdue is not None else store.has_overdue_on_sku(self.conn, sku.id, self.now)
        ):
            # Refused without taking a lock: this read is the committed state at this instant, and no overdue
            # hold could free units, so the stock truly was not there. A sold-out SKU's traffic never queues.
            raise InsufficientStock(line.sku, line.quantity, max(visible, 0), location.code if location else None)
        # An expired hold must never block a buyer, even when the expiry sweep lags behind. Free the SKU's
        # overdue holds *before* taking: every expirer then locks reservation rows before stock rows (a failed
        # guarded UPDATE that waited keeps its row lock on PostgreSQL, so expiring after a failed take could
        # deadlock against a concurrent expirer), and a buyer that finds the holds already being expired waits
        # for that transaction, then sees the freed units, instead of being refused while they are available.
        # The routed read already said whether any hold is overdue; when none is, the locking query (which
        # would lock nothing and expire nothing) is skipped.
        expired = self.expire_overdue(self.conn, sku.id, self.now) if overdue is not False else 0
        self._expired += expired
        if expired and location is None:
            # Expiry freed units: rank (and pick the backorder location) on the figures as they are now.
            options = placement_store.routing_options(self.conn, sku.id)
        if location is not None:
            return self._place_at(line, sku, location, policy_floor)
        return self._place_routed(line, sku, policy_floor, options)

    def _place_at(self, line: RequestedLine, sku: SkuRef, location: LocationRef,
                  policy_floor: int | None) -> list[Placement]:
        if self._take(sku, location, line.quantity, policy_floor):
            return [Placement(sku, location, line.quantity)]
        level = ledger.read_level(self.conn, sku.id, location.id)
        raise InsufficientStock(line.sku, line.quantity, level.available if level else 0, location.code)

    def _place_routed(self, line: RequestedLine, sku: SkuRef, policy_floor: int | None,
                      options: list[tuple[LocationRef, int]]) -> list[Placement]:
        ranked = rank_locations([LocationOption(ref.code, ref.priority, avail) for ref, avail in options])
        by_code = {ref.code: ref for ref, _ in options}
        # Whole line from one location first: fewest shipments.
        for option in ranked:
            if self._take(sku, by_code[option.code], line.quantity, 0):
                return [Placement(sku, by_code[option.code], line.quantity)]
        split = self._split(line, sku, ranked, by_code) if len(ranked) > 1 else []
        if split:
            return split
        if policy_floor != 0:
            primary = by_code[ranked[0].code]
            if self._take(sku, primary, line.quantity, policy_floor):
                return [Placement(sku, primary, line.quantity)]
        total = sum(max(avail, 0) for _, avail in placement_store.routing_options(self.conn, sku.id))
        raise InsufficientStock(line.sku, line.quantity, total)

    def _split(self, line: RequestedLine, sku: SkuRef, ranked: list[LocationOption],
               by_code: dict[str, LocationRef]) -> list[Placement]:
        """Spread the line over several locations when none holds it all; [] when the total falls short."""
        # Lock every level row of the SKU in location-id order (deadlock-free), then plan on exact figures.
        exact = {
            ref.code: (ledger.read_level(self.conn, sku.id, ref.id, for_update=True))
            for ref in sorted(by_code.values(), key=lambda r: r.id)
        }
        plan: list[tuple[LocationRef, int]] = []
        remaining = line.quantity
        for option in ranked:
            level = exact[option.code]
            take = min(remaining, level.available if level else 0)
            if take > 0:
                plan.append((by_code[option.code], take))
                remaining -= take
            if remaining == 0:
                break
        if remaining > 0:
            return []
        for location, quantity in plan:
            if not self._take(sku, location, quantity, 0):
                raise AssertionError("a locked level changed under its lock")
        return [Placement(sku, location, quantity) for location, quantity in plan]
