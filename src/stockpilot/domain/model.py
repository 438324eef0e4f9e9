"""Vocabulary of the inventory core: pure values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class LocationKind(StrEnum):
    WAREHOUSE = "warehouse"
    THREE_PL = "3pl"
    STORE = "store"
    FBA = "fba"


class BackorderPolicy(StrEnum):
    DENY = "deny"
    ALLOW = "allow"
    ALLOW_NOTIFY = "allow_notify"


class MovementKind(StrEnum):
    RECEIVE = "receive"
    ADJUST = "adjust"
    SET = "set"
    RESERVE = "reserve"
    RELEASE = "release"
    EXPIRE = "expire"
    COMMIT = "commit"
    FULFIL = "fulfil"
    CANCEL = "cancel"
    RETURN = "return"
    TRANSFER = "transfer"
    INCOMING = "incoming"  # units ordered from a supplier (+) or no longer expected (-): only `incoming` changes


class ReservationStatus(StrEnum):
    ACTIVE = "active"
    RELEASED = "released"
    EXPIRED = "expired"
    COMMITTED = "committed"


class OrderStatus(StrEnum):
    OPEN = "open"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Delta:
    """Signed change to the buckets of one (SKU, location) level, as recorded in a ledger entry."""

    on_hand: int = 0
    committed: int = 0
    reserved: int = 0
    incoming: int = 0

    @property
    def available(self) -> int:
        return self.on_hand - self.committed - self.reserved

    def is_zero(self) -> bool:
        return not (self.on_hand or self.committed or self.reserved or self.incoming)


@dataclass(frozen=True, slots=True)
class Levels:
    """Quantities of one SKU at one location (or summed over locations)."""

    on_hand: int = 0
    committed: int = 0
    reserved: int = 0
    incoming: int = 0

    @property
    def available(self) -> int:
        return self.on_hand - self.committed - self.reserved

    def before(self, delta: Delta) -> Levels:
        """The levels as they were before `delta` was applied to reach these."""
        return Levels(
            self.on_hand - delta.on_hand,
            self.committed - delta.committed,
            self.reserved - delta.reserved,
            self.incoming - delta.incoming,
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "on_hand": self.on_hand,
            "committed": self.committed,
            "reserved": self.reserved,
            "available": self.available,
            "incoming": self.incoming,
        }


def availability_floor(policy: BackorderPolicy, backorder_cap: int | None) -> int | None:
    """Lowest `available` a sale may leave behind at one location; None means no floor.

    `deny` never sells below zero; the backorder policies may go negative, down to the cap when one is set.
    """
    if policy is BackorderPolicy.DENY:
        return 0
    if backorder_cap is None:
        return None
    return -backorder_cap


def movement_delta(kind: MovementKind, quantity: int) -> Delta:
    """The bucket changes for the movements whose effect depends only on the quantity."""
    match kind:
        case MovementKind.RECEIVE:
            return Delta(on_hand=quantity)
        case MovementKind.RESERVE:
            return Delta(reserved=quantity)
        case MovementKind.RELEASE | MovementKind.EXPIRE:
            return Delta(reserved=-quantity)
        case MovementKind.COMMIT:
            # Commit of a reservation moves units from reserved to committed; `available` is unchanged.
            return Delta(reserved=-quantity, committed=quantity)
        case MovementKind.FULFIL:
            return Delta(on_hand=-quantity, committed=-quantity)
        case MovementKind.CANCEL:
            return Delta(committed=-quantity)
        case MovementKind.RETURN:
            return Delta(on_hand=quantity)
    raise ValueError(f"movement {kind} needs an explicit delta")
