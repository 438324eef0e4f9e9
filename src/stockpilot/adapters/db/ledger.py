"""The ledger writer: the only code that changes stock levels.

Every change is one guarded UPDATE of the (SKU, location) row, the matching update of the SKU's totals, an
append-only movement row and the derived domain events, all in the caller's transaction. The guard is the
availability predicate itself, evaluated by the database on the locked row, so no unit can be taken twice
and no retry loop is needed: on PostgreSQL a waiting UPDATE re-checks the predicate against the row that the
previous holder committed; on SQLite writers are serialised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import Connection, Update, and_, bindparam, insert, select, update
from sqlalchemy.sql.elements import ColumnElement

from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.tables import events, movements, skus, stock_levels
from stockpilot.domain.events import DomainEvent, derive_events
from stockpilot.domain.model import BackorderPolicy, Delta, Levels, MovementKind


@dataclass(frozen=True, slots=True)
class SkuRef:
    id: int
    sku: str
    backorder_policy: BackorderPolicy
    backorder_cap: int | None
    low_stock_threshold: int | None


@dataclass(frozen=True, slots=True)
class LocationRef:
    id: int
    code: str
    priority: int


@dataclass(frozen=True, slots=True)
class Applied:
    location_after: Levels
    total_after: Levels
    movement_id: int
    events: list[DomainEvent]


_sl = stock_levels


@cache
def _level_update(guard_available: bool, guards: tuple[bool, bool, bool, bool]) -> Update:
    """Build (once per shape) the guarded UPDATE; only decreasing buckets get a predicate."""
    conditions: list[ColumnElement[bool]] = [
        _sl.c.sku_id == bindparam("p_sku"),
        _sl.c.location_id == bindparam("p_loc"),
    ]
    if guard_available:
        available = _sl.c.on_hand - _sl.c.committed - _sl.c.reserved
        conditions.append(available + bindparam("d_av") >= bindparam("p_floor"))
    for guarded, column, name in zip(
        guards,
        (_sl.c.on_hand, _sl.c.committed, _sl.c.reserved, _sl.c.incoming),
        ("d_oh", "d_cm", "d_rs", "d_in"),
        strict=True,
    ):
        if guarded:
            conditions.append(column + bindparam(name) >= 0)
    return (
        update(_sl)
        .where(and_(*conditions))
        .values(
            on_hand=_sl.c.on_hand + bindparam("d_oh"),
            committed=_sl.c.committed + bindparam("d_cm"),
            reserved=_sl.c.reserved + bindparam("d_rs"),
            incoming=_sl.c.incoming + bindparam("d_in"),
            updated_at=bindparam("p_now"),
        )
        .returning(_sl.c.on_hand, _sl.c.committed, _sl.c.reserved, _sl.c.incoming)
    )


_TOTALS_UPDATE = (
    update(skus)
    .where(skus.c.id == bindparam("p_sku"))
    .values(
        on_hand=skus.c.on_hand + bindparam("d_oh"),
        committed=skus.c.committed + bindparam("d_cm"),
        reserved=skus.c.reserved + bindparam("d_rs"),
        incoming=skus.c.incoming + bindparam("d_in"),
        updated_at=bindparam("p_now"),
    )
    .returning(skus.c.on_hand, skus.c.committed, skus.c.reserved, skus.c.incoming)
)

_LEVEL_SELECT = select(_sl.c.on_hand, _sl.c.committed, _sl.c.reserved, _sl.c.incoming).where(
    _sl.c.sku_id == bindparam("p_sku"), _sl.c.location_id == bindparam("p_loc")
)

_LEVEL_SELECT_FOR_UPDATE = _LEVEL_SELECT.with_for_update()  # SQLite: writers are already serialised
# FOR NO KEY UPDATE: the same strength as the totals UPDATE takes, so it still lets rows referencing the SKU in.
_SKU_LOCK = select(skus.c.id).where(skus.c.id == bindparam("p_sku")).with_for_update(key_share=True)
_MOVEMENT_INSERT = insert(movements).returning(movements.c.id)
_EVENT_INSERT = insert(events)


def lock_sku(conn: Connection, sku_id: int) -> None:
    """Lock order on PostgreSQL: a SKU's totals row before any of its level rows.

    Every change of a level also updates the SKU's totals row, so writers of one SKU queue on that row anyway.
    Taking it first makes the order the same for all of them. Without it, a transaction touching two locations
    (split routing, transfer, releasing or committing a multi-location hold) holds level 1 and the totals and
    then wants level 2, while a single take holds level 2 and wants the totals: a deadlock, which PostgreSQL
    breaks only after deadlock_timeout. (A guarded UPDATE that waited and then failed its re-check also keeps
    its row lock, so even refused takes left level locks behind in arbitrary order.) SQLite has one writer.
    """
    if conn.dialect.name != "sqlite":
        conn.execute(_SKU_LOCK, {"p_sku": sku_id})


def read_level(conn: Connection, sku_id: int, location_id: int, *, for_update: bool = False) -> Levels | None:
    if for_update:
        lock_sku(conn, sku_id)
    stmt = _LEVEL_SELECT_FOR_UPDATE if for_update else _LEVEL_SELECT
    row = conn.execute(stmt, {"p_sku": sku_id, "p_loc": location_id}).first()
    return Levels(*row) if row else None


def ensure_level(conn: Connection, sku_id: int, location_id: int, now: datetime) -> None:
    """Create the zero row for a (SKU, location) pair if it does not exist yet."""
    if read_level(conn, sku_id, location_id) is None:
        conn.execute(
            insert_or_ignore(conn, _sl)
            .values(sku_id=sku_id, location_id=location_id, on_hand=0, committed=0, reserved=0, incoming=0,
                    updated_at=now)
            .on_conflict_do_nothing()
        )


def apply(
    conn: Connection,
    *,
    sku: SkuRef,
    location: LocationRef,
    kind: MovementKind,
    delta: Delta,
    floor: int | None,
    source: str,
    reference: str | None,
    idempotency_key: str,
    now: datetime,
    reason: str | None = None,
) -> Applied | None:
    """Apply `delta` if the guards hold; None (and nothing written) if they do not.

    `floor` is the lowest `available` the change may leave (None: unguarded); it is only checked when the
    change lowers `available`. Buckets that decrease may never go below zero.
    """
    lock_sku(conn, sku.id)
    guard_available = floor is not None and delta.available < 0
    stmt = _level_update(
        guard_available,
        (delta.on_hand < 0, delta.committed < 0, delta.reserved < 0, delta.incoming < 0),
    )
    params = {
        "p_sku": sku.id,
        "p_loc": location.id,
        "d_oh": delta.on_hand,
        "d_cm": delta.committed,
        "d_rs": delta.reserved,
        "d_in": delta.incoming,
        "d_av": delta.available,
        "p_floor": floor,
        "p_now": now,
    }
    row = conn.execute(stmt, params).first()
    if row is None:
        if read_level(conn, sku.id, location.id) is not None:
            return None  # the guard refused
        ensure_level(conn, sku.id, location.id, now)
        row = conn.execute(stmt, params).first()
        if row is None:
            return None
    location_after = Levels(*row)
    totals = conn.execute(_TOTALS_UPDATE, params).first()
    assert totals is not None, f"SKU row {sku.id} vanished inside its own transaction"
    total_after = Levels(*totals)
    movement_id = conn.execute(
        _MOVEMENT_INSERT,
        {
            "idempotency_key": idempotency_key,
            "sku_id": sku.id,
            "location_id": location.id,
            "kind": kind.value,
            "d_on_hand": delta.on_hand,
            "d_committed": delta.committed,
            "d_reserved": delta.reserved,
            "d_incoming": delta.incoming,
            "source": source,
            "reference": reference,
            "reason": reason,
            "created_at": now,
        },
    ).scalar_one()
    derived = derive_events(
        sku=sku.sku,
        location=location.code,
        movement=kind.value,
        reference=reference,
        location_before=location_after.before(delta),
        location_after=location_after,
        total_before=total_after.before(delta),
        total_after=total_after,
        low_stock_threshold=sku.low_stock_threshold,
    )
    if derived:
        conn.execute(
            _EVENT_INSERT,
            [
                {
                    "kind": e.kind.value,
                    "sku": e.sku,
                    "location": e.location,
                    "payload": {**e.payload, "movement_id": movement_id},
                    "created_at": now,
                }
                for e in derived
            ],
        )
    return Applied(location_after, total_after, movement_id, derived)
