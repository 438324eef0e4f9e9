"""Use cases that change on-hand stock directly: adjustments, counts (set), receipts and transfers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from stockpilot.adapters.db import history_store, ledger
from stockpilot.domain.errors import Conflict, IdempotencyConflict, ValidationFailed
from stockpilot.domain.model import Delta, MovementKind
from stockpilot.services.context import Context
from stockpilot.services.lookups import require_location, require_sku

ADJUSTMENT_KINDS = {MovementKind.ADJUST, MovementKind.RECEIVE, MovementKind.RETURN}


def client_key(key: str) -> str:
    """Caller-chosen keys live in their own namespace, apart from the keys the core derives itself."""
    if not isinstance(key, str) or not key.strip():
        raise ValidationFailed("idempotency_key is required")
    return f"client:{key.strip()}"


class StockService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def adjust(
        self,
        *,
        sku: str,
        location: str,
        idempotency_key: str,
        delta: int | None = None,
        on_hand: int | None = None,
        reason: str | None = None,
        kind: str = "adjust",
        source: str = "api",
    ) -> tuple[dict[str, Any], bool]:
        """Change on_hand by `delta`, or set it to a counted `on_hand`. Returns (movement, replayed?)."""
        if (delta is None) == (on_hand is None):
            raise ValidationFailed("give exactly one of delta or on_hand")
        if on_hand is not None and on_hand < 0:
            raise ValidationFailed(f"on_hand cannot be negative, got {on_hand}")
        if delta == 0:
            raise ValidationFailed("delta must not be zero")
        try:
            movement_kind = MovementKind.SET if on_hand is not None else MovementKind(kind)
        except ValueError:
            raise ValidationFailed(f"kind must be adjust, receive or return, got {kind!r}") from None
        if on_hand is None and movement_kind not in ADJUSTMENT_KINDS:
            raise ValidationFailed(f"kind must be adjust, receive or return, got {kind!r}")
        if movement_kind in (MovementKind.RECEIVE, MovementKind.RETURN) and (delta or 0) < 0:
            raise ValidationFailed(f"a {movement_kind.value} must add stock, got delta {delta}")
        key = client_key(idempotency_key)

        def work(conn: Connection) -> dict[str, Any]:
            existing = history_store.movement_by_key(conn, key)
            if existing is not None:
                return _replay(existing, sku, location, movement_kind, delta)
            sku_ref = require_sku(conn, sku)
            loc_ref = require_location(conn, location)
            now = self.ctx.clock.now()
            if on_hand is not None:
                current = ledger.read_level(conn, sku_ref.id, loc_ref.id, for_update=True)
                change = Delta(on_hand=on_hand - (current.on_hand if current else 0))
            else:
                change = Delta(on_hand=int(delta or 0))
            applied = ledger.apply(
                conn, sku=sku_ref, location=loc_ref, kind=movement_kind, delta=change, floor=None,
                source=source, reference=None, idempotency_key=key, now=now, reason=reason,
            )
            if applied is None:
                raise Conflict(f"{sku} at {location}: on_hand cannot go below zero (delta {change.on_hand})")
            found = history_store.movement_by_key(conn, key)
            assert found is not None
            return {**found, "replayed": False}

        try:
            result = self.ctx.db.write(work)
        except IntegrityError:
            # A concurrent request with the same key won the insert; ours rolled back whole.
            with self.ctx.db.read() as conn:
                existing = history_store.movement_by_key(conn, key)
            if existing is None:
                raise
            result = _replay(existing, sku, location, movement_kind, delta)
        return result, result.pop("replayed")

    def transfer(self, *, sku: str, from_location: str, to_location: str, quantity: int,
                 idempotency_key: str, reason: str | None = None, source: str = "api") -> dict[str, Any]:
        if quantity <= 0:
            raise ValidationFailed(f"quantity must be positive, got {quantity}")
        if from_location == to_location:
            raise ValidationFailed("from_location and to_location must differ")
        key = client_key(idempotency_key)

        def work(conn: Connection) -> dict[str, Any]:
            out_key, in_key = f"{key}:out", f"{key}:in"
            existing = history_store.movement_by_key(conn, out_key)
            if existing is not None:
                return {"movements": [existing, history_store.movement_by_key(conn, in_key)], "replayed": True}
            sku_ref = require_sku(conn, sku)
            src, dst = require_location(conn, from_location), require_location(conn, to_location)
            now = self.ctx.clock.now()
            legs = [(src, Delta(on_hand=-quantity), out_key, 0), (dst, Delta(on_hand=quantity), in_key, None)]
            for loc_ref, change, leg_key, floor in sorted(legs, key=lambda leg: leg[0].id):  # lock order
                applied = ledger.apply(
                    conn, sku=sku_ref, location=loc_ref, kind=MovementKind.TRANSFER, delta=change,
                    floor=floor, source=source, reference=key, idempotency_key=leg_key, now=now, reason=reason,
                )
                if applied is None:
                    available = ledger.read_level(conn, sku_ref.id, src.id)
                    raise Conflict(
                        f"{sku}: cannot transfer {quantity} from {from_location}, available "
                        f"{available.available if available else 0}"
                    )
            return {
                "movements": [history_store.movement_by_key(conn, out_key),
                              history_store.movement_by_key(conn, in_key)],
                "replayed": False,
            }

        try:
            return self.ctx.db.write(work)
        except IntegrityError:
            # As in adjust(): a concurrent request with the same key won the insert; ours rolled back whole.
            with self.ctx.db.read() as conn:
                existing = history_store.movement_by_key(conn, f"{key}:out")
                if existing is None:
                    raise
                return {"movements": [existing, history_store.movement_by_key(conn, f"{key}:in")],
                        "replayed": True}

    def movements(self, *, sku: str | None = None, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        with self.ctx.db.read() as conn:
            return history_store.list_movements(conn, sku=sku, after=after, limit=limit)

    def events(self, *, after: int = 0, limit: int = 100, sku: str | None = None,
               kind: str | None = None) -> list[dict[str, Any]]:
        with self.ctx.db.read() as conn:
            return history_store.list_events(conn, after=after, limit=limit, sku=sku, kind=kind)


def _replay(existing: dict[str, Any], sku: str, location: str, kind: MovementKind,
            delta: int | None) -> dict[str, Any]:
    """The earlier movement with this key, if the request is the same one; a different request is a conflict.

    A counted `on_hand` cannot be compared (its stored delta depends on the level at that time): kind, SKU and
    location must match.
    """
    same = existing["sku"] == sku and existing["location"] == location and existing["kind"] == kind.value
    if same and delta is not None:
        same = existing["delta"]["on_hand"] == delta
    if not same:
        raise IdempotencyConflict(
            f"idempotency key was already used for a different change ({existing['kind']} "
            f"{existing['delta']['on_hand']:+d} of {existing['sku']} at {existing['location']})"
        )
    return {**existing, "replayed": True}
