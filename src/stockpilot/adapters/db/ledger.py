"""The ledger writer: the only code that changes stock levels.

Every change is one guarded UPDATE of the (SKU, location) row, the matching update of the SKU's totals, an
append-only movement row and the derived domain events, all in the caller's transaction (on PostgreSQL the
first three are one statement, the events a second). The guard is the
availability predicate itself, evaluated by the database on the locked row, so no unit can be taken twice
and no retry loop is needed: on PostgreSQL a waiting UPDATE re-checks the predicate against the row that the
previous holder committed; on SQLite writers are serialised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.db import raw
from stockpilot.adapters.db.database import EVENTS_CHANNEL, request_local_wakeup
from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.raw import Sql
from stockpilot.adapters.db.tables import stock_levels
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

# The statements of a change run on the bare driver cursor (adapters/db/raw.py): this is the hot path.
_BUCKETS = ("on_hand", "committed", "reserved", "incoming")


@cache
def _level_update(guard_available: bool, guards: tuple[bool, bool, bool, bool]) -> Sql:
    """Build (once per shape) the guarded UPDATE; only decreasing buckets get a predicate."""
    conditions = ["sku_id = ?", "location_id = ?"]
    if guard_available:
        conditions.append("((on_hand - committed) - reserved) + ? >= ?")
    conditions += [f"{column} + ? >= 0" for guarded, column in zip(guards, _BUCKETS, strict=True) if guarded]
    return Sql(
        "UPDATE stock_levels SET on_hand = on_hand + ?, committed = committed + ?, reserved = reserved + ?, "
        f"incoming = incoming + ?, updated_at = ? WHERE {' AND '.join(conditions)} "
        "RETURNING on_hand, committed, reserved, incoming"
    )


@cache
def _change_pg(guard_available: bool, guards: tuple[bool, bool, bool, bool]) -> Sql:
    """PostgreSQL: the SKU lock, the guarded level UPDATE, the totals UPDATE and the movement row in ONE statement
    (one round trip, not four). The lock order stays the totals row first: the level UPDATE's WHERE needs the
    locking CTE's id (an InitPlan, evaluated before its scan touches a level row), and the totals UPDATE and the
    movement INSERT need the level UPDATE's row, so they happen only when the guard held. A guard that waited
    re-checks against the row the previous holder committed, exactly as the separate UPDATE did; nothing comes
    back when it refused (or there is no level row yet)."""
    conditions = ["sku_id = (SELECT id FROM s)", "location_id = ?"]
    if guard_available:
        conditions.append("((on_hand - committed) - reserved) + ? >= ?")
    conditions += [f"{column} + ? >= 0" for guarded, column in zip(guards, _BUCKETS, strict=True) if guarded]
    changes = "on_hand = on_hand + ?, committed = committed + ?, reserved = reserved + ?, incoming = incoming + ?, " \
              "updated_at = ?"
    buckets = "on_hand, committed, reserved, incoming"
    text = (
        "WITH s AS (SELECT id FROM skus WHERE id = ? FOR NO KEY UPDATE), "
        f"l AS (UPDATE stock_levels SET {changes} WHERE {' AND '.join(conditions)} RETURNING {buckets}), "
        f"t AS (UPDATE skus SET {changes} WHERE id = ? AND EXISTS (SELECT 1 FROM l) RETURNING {buckets}), "
        "m AS (INSERT INTO movements (idempotency_key, sku_id, location_id, kind, d_on_hand, d_committed, "
        "d_reserved, d_incoming, source, reference, reason, created_at) "
        "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM l) RETURNING id) "
        "SELECT l.on_hand, l.committed, l.reserved, l.incoming, t.on_hand, t.committed, t.reserved, t.incoming, m.id "
        "FROM l, t, m"
    )
    return Sql(text, text)


_TOTALS_UPDATE = Sql(
    "UPDATE skus SET on_hand = on_hand + ?, committed = committed + ?, reserved = reserved + ?, "
    "incoming = incoming + ?, updated_at = ? WHERE id = ? RETURNING on_hand, committed, reserved, incoming"
)
_LEVEL = "SELECT on_hand, committed, reserved, incoming FROM stock_levels WHERE sku_id = ? AND location_id = ?"
_LEVEL_SELECT = Sql(_LEVEL)
_LEVEL_SELECT_FOR_UPDATE = Sql(_LEVEL, _LEVEL + " FOR UPDATE")  # SQLite: writers are already serialised
# FOR NO KEY UPDATE: the same strength as the totals UPDATE takes, so it still lets rows referencing the SKU in.
_SKU_LOCK = Sql("SELECT id FROM skus WHERE id = ? FOR NO KEY UPDATE")  # PostgreSQL only
_MOVEMENT_INSERT = Sql(
    "INSERT INTO movements (idempotency_key, sku_id, location_id, kind, d_on_hand, d_committed, d_reserved, "
    "d_incoming, source, reference, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
_EVENT_INSERT = Sql("INSERT INTO events (kind, sku, location, payload, created_at) VALUES (?, ?, ?, ?, ?)")


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
        raw.execute(conn, _SKU_LOCK, (sku_id,)).fetchone()


def read_level(conn: Connection, sku_id: int, location_id: int, *, for_update: bool = False) -> Levels | None:
    if for_update:
        lock_sku(conn, sku_id)
    stmt = _LEVEL_SELECT_FOR_UPDATE if for_update else _LEVEL_SELECT
    row = raw.execute(conn, stmt, (sku_id, location_id)).fetchone()
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
    guards = (delta.on_hand < 0, delta.committed < 0, delta.reserved < 0, delta.incoming < 0)
    guard_available = floor is not None and delta.available < 0
    ts = raw.time_value(conn, now)
    changes = (delta.on_hand, delta.committed, delta.reserved, delta.incoming)
    guarded_params: list[Any] = [delta.available, floor] if guard_available else []
    guarded_params += (change for guarded, change in zip(guards, changes, strict=True) if guarded)
    if conn.dialect.name == "postgresql":
        stmt = _change_pg(guard_available, guards)
        params: list[Any] = [sku.id, *changes, ts, location.id, *guarded_params, *changes, ts, sku.id,
                             idempotency_key, sku.id, location.id, kind.value, *changes, source, reference, reason,
                             ts]
        row = raw.execute(conn, stmt, params).fetchone()
        if row is None:
            if read_level(conn, sku.id, location.id) is not None:
                return None  # the guard refused
            ensure_level(conn, sku.id, location.id, now)
            row = raw.execute(conn, stmt, params).fetchone()
            if row is None:
                return None
        location_after, total_after, movement_id = Levels(*row[0:4]), Levels(*row[4:8]), row[8]
    else:  # SQLite (one writer: no lock to order); no UPDATE inside WITH, so one statement each
        stmt = _level_update(guard_available, guards)
        params = [*changes, ts, sku.id, location.id, *guarded_params]
        row = raw.execute(conn, stmt, params).fetchone()
        if row is None:
            if read_level(conn, sku.id, location.id) is not None:
                return None  # the guard refused
            ensure_level(conn, sku.id, location.id, now)
            row = raw.execute(conn, stmt, params).fetchone()
            if row is None:
                return None
        location_after = Levels(*row)
        totals = raw.execute(conn, _TOTALS_UPDATE, (*changes, ts, sku.id)).fetchone()
        assert totals is not None, f"SKU row {sku.id} vanished inside its own transaction"
        total_after = Levels(*totals)
        movement_id = raw.execute(conn, _MOVEMENT_INSERT, (
            idempotency_key, sku.id, location.id, kind.value, *changes, source, reference, reason, ts,
        )).fetchone()[0]
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
    rows = [(e.kind.value, e.sku, e.location, raw.json_value({**e.payload, "movement_id": movement_id}), ts)
            for e in derived]
    raw.defer_many(conn, _EVENT_INSERT, rows)  # nobody reads the answer: within raw.deferring, no round trip
    if rows:
        request_local_wakeup(conn, EVENTS_CHANNEL)
    return Applied(location_after, total_after, movement_id, derived)
