"""The two baselines, straight through the driver (sqlite3 / psycopg), no SQLAlchemy and no service layer.

* GuardedSql   (b): exactly the statements Stockpilot issues for a one-line reservation (captured once with
                    SQLAlchemy's echo), with the same transaction discipline. The practical limit.
* VersionedSql (c): the common optimistic recipe: read the level row with its version, compute the new figures
                    in Python, UPDATE ... WHERE version = :v, retry up to 3 times on a mismatch, then refuse.
                    Same inserts as (b).

Statements of a one-line reservation, as the service issues them (SQLite / PostgreSQL), in its two recent shapes:
  sold:    claim reference (INSERT .. ON CONFLICT DO NOTHING RETURNING id), SKU lookup, [lazy expiry: SELECT
           overdue reservations of the SKU, FOR UPDATE OF reservations on PostgreSQL], routing options, [PostgreSQL:
           lock the SKU's totals row, SELECT .. FOR NO KEY UPDATE], guarded UPDATE stock_levels .. RETURNING,
           UPDATE skus totals .. RETURNING, INSERT movement RETURNING id, INSERT events (StockChanged always;
           WentOutOfStock/LowStock/Oversold on crossing), INSERT reservation_lines, COMMIT (the response is
           described from what was written, no read-back).
  refused: claim, SKU lookup, [lazy expiry], routing options, [SKU lock], guarded UPDATE (no row), SELECT level
           (does the row exist?), [SKU lock], SELECT level [FOR UPDATE on PostgreSQL] (the split planner),
           [lazy expiry, when it is not run up front], routing options again (the available figure of the error),
           ROLLBACK.
The service runs these statements on the bare driver cursor too (stockpilot.adapters.db.raw), in texts equal to
these but for the literal 'active' and LIMIT without OFFSET, which change nothing the databases do.
The bracketed steps are switches of GuardedSql (`Shape`): the service is being changed while this benchmark
exists, so the bench captures the service's statements on every run, picks the shape that issues the same
sequence and says loudly when none does.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Json

TTL = timedelta(minutes=30)  # Settings.reservation_ttl_seconds default

_CLAIM = (
    "INSERT INTO reservations (reference, status, source, expires_at, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (reference) DO NOTHING RETURNING id"
)
_SKU_REF = "SELECT id, sku, backorder_policy, backorder_cap, low_stock_threshold FROM skus WHERE sku = ?"
_ROUTING = (
    "SELECT locations.id, locations.code, locations.priority, "
    "coalesce((stock_levels.on_hand - stock_levels.committed) - stock_levels.reserved, ?) AS available "
    "FROM locations LEFT OUTER JOIN stock_levels "
    "ON stock_levels.location_id = locations.id AND stock_levels.sku_id = ?"
)
_GUARDED = (
    "UPDATE stock_levels SET on_hand = on_hand + ?, committed = committed + ?, reserved = reserved + ?, "
    "incoming = incoming + ?, updated_at = ? WHERE sku_id = ? AND location_id = ? "
    "AND ((on_hand - committed) - reserved) + ? >= ? RETURNING on_hand, committed, reserved, incoming"
)
_TOTALS = (
    "UPDATE skus SET on_hand = on_hand + ?, committed = committed + ?, reserved = reserved + ?, "
    "incoming = incoming + ?, updated_at = ? WHERE id = ? RETURNING on_hand, committed, reserved, incoming"
)
_MOVEMENT = (
    "INSERT INTO movements (idempotency_key, sku_id, location_id, kind, d_on_hand, d_committed, d_reserved, "
    "d_incoming, source, reference, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
_EVENT = "INSERT INTO events (kind, sku, location, payload, created_at) VALUES (?, ?, ?, ?, ?)"
_LINE = "INSERT INTO reservation_lines (reservation_id, sku_id, location_id, quantity) VALUES (?, ?, ?, ?)"
_LEVEL = "SELECT on_hand, committed, reserved, incoming FROM stock_levels WHERE sku_id = ? AND location_id = ?"
_OVERDUE = (
    "SELECT reservations.id FROM reservations WHERE reservations.status = ? AND reservations.expires_at <= ? "
    "AND reservations.id IN (SELECT reservation_lines.reservation_id FROM reservation_lines "
    "WHERE reservation_lines.sku_id = ?) ORDER BY reservations.expires_at, reservations.id LIMIT ?"
)
_SKU_LOCK = "SELECT skus.id FROM skus WHERE skus.id = ? FOR NO KEY UPDATE"  # PostgreSQL only
# The recipe's own two statements.
_LEVEL_VERSIONED = (
    "SELECT on_hand, committed, reserved, incoming, version FROM stock_levels WHERE sku_id = ? AND location_id = ?"
)
_VERSIONED = (
    "UPDATE stock_levels SET on_hand = ?, committed = ?, reserved = ?, incoming = ?, version = version + 1, "
    "updated_at = ? WHERE sku_id = ? AND location_id = ? AND version = ? "
    "RETURNING on_hand, committed, reserved, incoming"
)
ADD_VERSION_COLUMN = "ALTER TABLE stock_levels ADD COLUMN version INTEGER NOT NULL DEFAULT 0"

MAX_VERSION_RETRIES = 3

Levels = tuple[int, int, int, int]  # on_hand, committed, reserved, incoming


class _Statements:
    """The statement texts in the driver's parameter style, with the dialect's small differences."""

    def __init__(self, postgres: bool) -> None:
        def q(sql: str) -> str:
            return sql.replace("?", "%s") if postgres else sql

        self.claim, self.sku_ref, self.routing = q(_CLAIM), q(_SKU_REF), q(_ROUTING)
        self.guarded, self.totals, self.movement = q(_GUARDED), q(_TOTALS), q(_MOVEMENT)
        self.event_many = self.event_one = q(_EVENT)
        self.line = q(_LINE)
        self.level = q(_LEVEL)
        self.level_for_update = q(_LEVEL + (" FOR UPDATE" if postgres else ""))
        self.overdue = q(_OVERDUE + (" FOR UPDATE OF reservations" if postgres else ""))
        self.overdue_any = q(_OVERDUE)  # lock-free, LIMIT 1
        self.level_versioned, self.versioned = q(_LEVEL_VERSIONED), q(_VERSIONED)
        self.sku_lock = q(_SKU_LOCK)


def _as_dict(levels: Levels) -> dict[str, int]:
    on_hand, committed, reserved, incoming = levels
    return {"on_hand": on_hand, "committed": committed, "reserved": reserved,
            "available": on_hand - committed - reserved, "incoming": incoming}


def reservation_events(sku: str, location: str, reference: str, location_after: Levels, total_after: Levels,
                       quantity: int, low_stock_threshold: int | None,
                       movement_id: int) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    """The events Stockpilot derives for a reserve movement of `quantity` (same kinds, same payloads)."""
    oh, cm, rs, inc = location_after
    before = (oh, cm, rs - quantity, inc)
    now = total_after[0] - total_after[1] - total_after[2]
    was = now + quantity
    out: list[tuple[str, str, str | None, dict[str, Any]]] = [(
        "StockChanged", sku, location,
        {"movement": "reserve", "reference": reference, "before": _as_dict(before),
         "after": _as_dict(location_after), "total_available": now, "movement_id": movement_id},
    )]
    common = {"movement": "reserve", "reference": reference, "available_before": was, "available": now}
    if was > 0 >= now:
        out.append(("WentOutOfStock", sku, None, {**common, "movement_id": movement_id}))
    if now < 0 and now < was:
        out.append(("Oversold", sku, None, {**common, "oversold_units": -now, "movement_id": movement_id}))
    if low_stock_threshold is not None and 0 < now <= low_stock_threshold and not (0 < was <= low_stock_threshold):
        out.append(("LowStock", sku, None, {**common, "threshold": low_stock_threshold, "movement_id": movement_id}))
    return out


_FIRST_TABLE = re.compile(r"\b(?:INTO|UPDATE|FROM)\s+([a-z_]+)", re.IGNORECASE)


def statement_signature(sql: str) -> str | None:
    """'VERB table [ON CONFLICT] [RETURNING] [FOR UPDATE]' of a data statement; None for transaction control."""
    text = " ".join(sql.split())
    verb = text.split(" ", 1)[0].upper()
    if verb not in ("SELECT", "INSERT", "UPDATE", "DELETE"):
        return None
    match = _FIRST_TABLE.search(text)
    parts = [verb, match.group(1).lower() if match else "?"]
    upper = text.upper()
    parts += [flag for flag in ("ON CONFLICT", "RETURNING", "FOR UPDATE") if flag in upper]
    return " ".join(parts)


class RecordingCursor:
    """A DB-API cursor proxy that records the signature of every statement it runs."""

    def __init__(self, cursor: Any, log: list[str]) -> None:
        self._cursor, self._log = cursor, log

    def execute(self, sql: str, *args: Any) -> Any:
        if (sig := statement_signature(sql)) is not None:
            self._log.append(sig)
        return self._cursor.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        if (sig := statement_signature(sql)) is not None:
            self._log.append(sig)
        return self._cursor.executemany(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class _Driver:
    """What differs between sqlite3 and psycopg: connecting, beginning, time values, JSON and ending."""

    def __init__(self, url: str) -> None:
        self.postgres = url.startswith("postgresql")
        self.url = url
        self.st = _Statements(self.postgres)
        self.conn: Any = None

    def open(self) -> Any:
        if self.postgres:
            self.conn = psycopg.connect(self.url, autocommit=False)
        else:
            path = self.url.removeprefix("sqlite:///")
            self.conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=60000"):
                self.conn.execute(f"PRAGMA {pragma}")
        return self.conn.cursor()

    def time(self, value: datetime) -> Any:
        # SQLite: naive UTC text in SQLAlchemy's format; PostgreSQL: timestamptz.
        return value if self.postgres else value.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")

    def json(self, payload: dict[str, Any]) -> Any:
        return Json(payload) if self.postgres else json.dumps(payload)

    def begin(self, cur: Any, mode: str) -> None:
        if not self.postgres:  # psycopg opens the transaction on the first statement
            cur.execute(f"BEGIN {mode}")

    def commit(self, cur: Any) -> None:
        if self.postgres:
            self.conn.commit()
        else:
            cur.execute("COMMIT")

    def rollback(self, cur: Any) -> None:
        if self.postgres:
            self.conn.rollback()
        elif self.conn.in_transaction:
            cur.execute("ROLLBACK")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


class _Common:
    """Shared steps of both baselines; one instance per worker thread (one connection each)."""

    def __init__(self, url: str, sku: str, write_lock: threading.Lock | None) -> None:
        self.db = _Driver(url)
        self.cur = self.db.open()
        self.st = self.db.st
        self.sku = sku
        self.lock = write_lock  # SQLite only: the in-process writer mutex

    def close(self) -> None:
        self.db.close()

    def record(self, log: list[str]) -> None:
        """From now on, append the signature of every statement to `log` (the replica check)."""
        self.cur = RecordingCursor(self.cur, log)

    def _locked(self, fn: Callable[[], bool | None]) -> bool | None:
        if self.lock is None:
            return fn()
        with self.lock:
            return fn()

    def _finish_sale(self, reservation_id: int, reference: str, sku: tuple[Any, ...], location: tuple[Any, ...],
                     location_after: Levels, ts: Any) -> None:
        """Totals, movement, events and the reservation line (after the level update)."""
        cur, st, db = self.cur, self.st, self.db
        sku_id, sku_code, _policy, _cap, threshold = sku
        loc_id, loc_code = location[0], location[1]
        cur.execute(st.totals, (0, 0, 1, 0, ts, sku_id))
        total_after = cur.fetchone()
        key = f"reservation:{reservation_id}:reserve:1:{sku_id}:{loc_id}"
        cur.execute(st.movement, (key, sku_id, loc_id, "reserve", 0, 0, 1, 0, "api", reference, None, ts))
        movement_id = cur.fetchone()[0]
        events = reservation_events(sku_code, loc_code, reference, tuple(location_after), tuple(total_after), 1,
                                    threshold, movement_id)
        rows = [(kind, s, loc, db.json(payload), ts) for kind, s, loc, payload in events]
        if len(rows) == 1:
            cur.execute(st.event_one, rows[0])
        else:
            cur.executemany(st.event_many, rows)
        cur.execute(st.line, (reservation_id, sku_id, loc_id, 1))


@dataclass(frozen=True)
class Shape:
    """Which variant of the service's statement sequence GuardedSql replays."""

    expire_first: bool = False  # lazy expiry query before routing on every attempt (else: only after a refusal)
    lock_sku: bool = False  # PostgreSQL: SELECT the SKU row FOR NO KEY UPDATE before each level write or lock
    # Routing read first; a visible shortfall with no overdue hold on the SKU (lock-free check) is refused before
    # any lock; the split planner only runs with several locations.
    refuse_early: bool = False

    def __str__(self) -> str:
        return f"expire_first={self.expire_first}, lock_sku={self.lock_sku}, refuse_early={self.refuse_early}"


# First match wins; on SQLite lock_sku changes nothing, so the shapes without it come first.
SHAPES = [Shape(True, False, True), Shape(True, True, True),
          Shape(True, False), Shape(True, True), Shape(False, False), Shape(False, True)]


class GuardedSql(_Common):
    """(b): the service's statements through the bare driver."""

    def __init__(self, url: str, sku: str, write_lock: threading.Lock | None, shape: Shape | None = None) -> None:
        super().__init__(url, sku, write_lock)
        self.shape = shape or SHAPES[0]

    def _overdue(self, ts: Any, sku_id: int) -> None:
        self.cur.execute(self.st.overdue, ("active", ts, sku_id, 100))
        self.cur.fetchall()

    def _lock_sku(self, sku_id: int) -> None:
        if self.shape.lock_sku and self.db.postgres:
            self.cur.execute(self.st.sku_lock, (sku_id,))
            self.cur.fetchone()

    def __call__(self, reference: str) -> bool:
        return bool(self._locked(lambda: self._reserve(reference)))

    def _reserve(self, reference: str) -> bool:
        cur, st, db = self.cur, self.st, self.db
        now = datetime.now(UTC)
        ts = db.time(now)
        db.begin(cur, "IMMEDIATE")
        try:
            cur.execute(st.claim, (reference, "active", "api", db.time(now + TTL), ts, ts))
            claimed = cur.fetchone()
            if claimed is None:
                raise RuntimeError(f"reference {reference!r} already used")
            cur.execute(st.sku_ref, (self.sku,))
            sku = cur.fetchone()
            sku_id = sku[0]
            if self.shape.refuse_early:
                cur.execute(st.routing, (0, sku_id))
                options = cur.fetchall()
                if sum(max(o[3], 0) for o in options) < 1:
                    cur.execute(st.overdue_any, ("active", ts, sku_id, 1))
                    if cur.fetchone() is None:
                        db.rollback(cur)
                        return False
                self._overdue(ts, sku_id)
            else:
                if self.shape.expire_first:
                    self._overdue(ts, sku_id)
                cur.execute(st.routing, (0, sku_id))
                options = cur.fetchall()
            ranked = sorted(options, key=lambda o: (o[2], -o[3], o[1]))
            for location in ranked:
                self._lock_sku(sku_id)
                cur.execute(st.guarded, (0, 0, 1, 0, ts, sku_id, location[0], -1, 0))
                after = cur.fetchone()
                if after is not None:
                    self._finish_sale(claimed[0], reference, sku, location, after, ts)
                    db.commit(cur)
                    return True
                cur.execute(st.level, (sku_id, location[0]))  # ledger.apply: does the row exist?
                cur.fetchone()
            # Refusal: the split planner locks and reads every level, lazy expiry looks for overdue holds,
            # and the error reports the available total.
            for location in sorted(options, key=lambda o: o[0]) if len(options) > 1 or not self.shape.refuse_early \
                    else []:
                self._lock_sku(sku_id)
                cur.execute(st.level_for_update, (sku_id, location[0]))
                cur.fetchone()
            if not self.shape.expire_first:
                self._overdue(ts, sku_id)
            cur.execute(st.routing, (0, sku_id))
            cur.fetchall()
            db.rollback(cur)
            return False
        except BaseException:
            db.rollback(cur)
            raise


class VersionedSql(_Common):
    """(c): read with version, compute, UPDATE .. WHERE version = :v; up to 3 retries, then refuse.

    PostgreSQL: one READ COMMITTED transaction per try (claim, reads, versioned UPDATE, inserts).
    SQLite: the read runs in its own snapshot outside the writer lock (as an ORM session does before its first
    write), the write under BEGIN IMMEDIATE and the in-process lock; a row changed in between is a mismatch.
    """

    def __init__(self, url: str, sku: str, write_lock: threading.Lock | None) -> None:
        super().__init__(url, sku, write_lock)
        self.conflicts = 0
        self.gave_up = 0

    def __call__(self, reference: str) -> bool:
        for _ in range(1 + MAX_VERSION_RETRIES):
            outcome = self._try_pg(reference) if self.db.postgres else self._try_sqlite(reference)
            if outcome is not None:
                return outcome
            self.conflicts += 1
        self.gave_up += 1
        return False

    def _read(self, sku_code: str) -> tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]:
        cur, st = self.cur, self.st
        cur.execute(st.sku_ref, (sku_code,))
        sku = cur.fetchone()
        cur.execute(st.routing, (0, sku[0]))
        location = sorted(cur.fetchall(), key=lambda o: (o[2], -o[3], o[1]))[0]
        cur.execute(st.level_versioned, (sku[0], location[0]))
        return sku, location, cur.fetchone()

    def _write(self, reservation_id: int, reference: str, sku: tuple[Any, ...], location: tuple[Any, ...],
               level: tuple[Any, ...], ts: Any) -> bool:
        on_hand, committed, reserved, incoming, version = level
        self.cur.execute(self.st.versioned, (on_hand, committed, reserved + 1, incoming, ts, sku[0], location[0],
                                             version))
        after = self.cur.fetchone()
        if after is None:
            return False
        self._finish_sale(reservation_id, reference, sku, location, after, ts)
        return True

    def _try_pg(self, reference: str) -> bool | None:
        cur, st, db = self.cur, self.st, self.db
        now = datetime.now(UTC)
        try:
            cur.execute(st.claim, (reference, "active", "api", now + TTL, now, now))
            claimed = cur.fetchone()
            if claimed is None:
                raise RuntimeError(f"reference {reference!r} already used")
            sku, location, level = self._read(self.sku)
            if level[0] - level[1] - level[2] < 1:
                db.rollback(cur)
                return False
            if not self._write(claimed[0], reference, sku, location, level, now):
                db.rollback(cur)
                return None
            db.commit(cur)
            return True
        except BaseException:
            db.rollback(cur)
            raise

    def _try_sqlite(self, reference: str) -> bool | None:
        cur, st, db = self.cur, self.st, self.db
        db.begin(cur, "DEFERRED")
        try:
            sku, location, level = self._read(self.sku)
        finally:
            db.rollback(cur)  # end the read snapshot
        if level[0] - level[1] - level[2] < 1:
            return False

        def write() -> bool | None:
            now = datetime.now(UTC)
            ts = db.time(now)
            db.begin(cur, "IMMEDIATE")
            try:
                cur.execute(st.claim, (reference, "active", "api", db.time(now + TTL), ts, ts))
                claimed = cur.fetchone()
                if claimed is None:
                    raise RuntimeError(f"reference {reference!r} already used")
                if not self._write(claimed[0], reference, sku, location, level, ts):
                    db.rollback(cur)
                    return None
                db.commit(cur)
                return True
            except BaseException:
                db.rollback(cur)
                raise

        return self._locked(write)
