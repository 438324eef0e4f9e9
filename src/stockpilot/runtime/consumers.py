"""Event consumers: automations read the `events` table in id order, each keeping its own position.

A consumer is a name, a handler `handler(conn, event)` and an optional set of event kinds. Its row in
`consumer_positions` holds `position`, the id of the last event it has processed; a new consumer starts at 0 and so
replays the whole history, and `reset` moves a position for a deliberate replay (or to skip an event).

`ConsumerRunner.run_once()` first reads, in one snapshot, which consumers have any event past their position
(idle consumers cost that one read between them), then works each of those in turn:
1. Lease (short transaction): create the row at position 0 if missing, then
   `UPDATE ... SET leased_by = me, leased_until = now + lease WHERE name = :n AND (free OR expired OR mine)`.
   Nobody else works the consumer while the lease is live; an expired lease (a crashed or stalled runner) is taken
   over.
2. Process (one transaction): read up to `batch` events with `id > position` by id and walk the contiguous prefix
   `position + 1, position + 2, ...`. For each event of a subscribed kind, call the handler INSIDE this transaction;
   other kinds are just stepped over. The new position is written at the end of the same transaction by a
   compare-and-set guarded by the lease token and the position read at the start
   (`WHERE leased_by = me AND leased_until = <my lease> AND position = <old>`). So the handler's effects (outbox rows,
   timers, decisions...) commit exactly when the position passes the event: exactly-once effects. A crash rolls the
   uncommitted batch back and the next holder redoes it; a runner that stalled past its lease and was taken over (or
   whose consumer was `reset`) fails the compare-and-set and rolls back everything it did.
3. Release the lease (conditional on still holding it).
On SQLite a pass is ONE write transaction and writes no lease: there is a single writer, so nobody can take the
consumer while the transaction is open (a lease taken and released inside it would leave no trace); a live lease
of another runner's is still respected, and the position's compare-and-set is on the position alone. A pass costs
one BEGIN IMMEDIATE .. COMMIT instead of three. A walk also ends
after `walk_budget_seconds` (the events handled so far commit with their position; the rest is the next pass):
on SQLite the walk holds the only writer, and a webhook or a buyer waiting behind a long batch is what shows.

Gaps. The walk stops at the first missing id. On PostgreSQL ids are drawn from a sequence before commit, so a
missing id may still be filled by a transaction that is in flight, while a higher id is already visible. The rule
is exact, without timeouts, given one precondition: a transaction that inserts an event already has a transaction
id when it draws the event id (true for `ledger.apply`, which locks and updates rows first), and the id sequence
keeps the default CACHE 1 (ids drawn in one global order).
- Observation: the processing transaction that finds the gap reads the events first, before any write of its own,
  and only afterwards takes a transaction id Y (`pg_current_xact_id()`). Let T be the transaction that drew a
  missing id m, below a visible id h. T had its xid before it drew m, m was drawn before h, h was committed before
  our read, and Y was assigned after the read; xids are handed out in order, so xid(T) < Y. We store
  `gap_upto = the highest id read` and `gap_horizon = Y + 1`.
- Resolution: a later transaction checks `pg_snapshot_xmin(pg_current_snapshot()) >= gap_horizon` BEFORE reading
  the events. Then every xid <= Y has ended, T included, so the read that follows sees m if T committed; an id
  <= gap_upto still missing is a permanent hole (a rolled-back transaction, or sequence values lost in a crash) and
  is stepped over. A missing id above `gap_upto` needs an observation of its own.
  (Why not record `pg_snapshot_xmax` at observation: it is "latest completed xid + 1", and a transaction that
  started after another one committed can hold a larger xid while still running; it would be wrongly passed over.)
On SQLite there is a single writer and the walk runs inside a write transaction (BEGIN IMMEDIATE), so no other
transaction is open: every id that will ever exist below the highest visible one is already visible, and a missing
one is skipped at once. In practice SQLite leaves no such holes: `events.id` is a rowid without AUTOINCREMENT, so
a new row gets max(id) + 1, and a rolled-back insert's id is simply handed out again to the next insert. That
reuse is harmless here: the rolled-back id was above every committed id, the position never exceeds the highest
committed id, so the reused id is still above the position and is delivered normally. (It would not be harmless if
rows at the top of `events` were ever deleted: ids could then be reused below a position. Never purge the newest
event on SQLite.)

Failure. If a handler raises, the pass's transaction is rolled back whole and the pass is run again, up to the
event before the failing one (whose handler is not called again in it): the events before it commit with the
position, together with the error on the position row: `failing_event_id`, `failures` (consecutive failures on
that event) and `last_error`. (Failures are rare; a savepoint around every handler call cost two statements per
event and more time than most handlers.) The consumer is retried from that event on every run; nothing is skipped
automatically. A poison event therefore stalls its consumer (only that consumer) and shows in `status()`
(`stuck`, `failures`, `last_error`); an operator fixes the handler, or `reset`s the position past the event on
purpose. Handlers must be quick, must not call the network, and may run more than once for an event whose pass is
redone (their effects commit once): they decide and write.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select, text, update

from stockpilot.adapters.db import raw
from stockpilot.adapters.db.database import Database
from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.tables import consumer_positions, events
from stockpilot.domain.clock import Clock

_ERROR_LIMIT = 2000
# Every pass of every consumer reads the events past its position: on the bare cursor, the payload as text
# (Event decodes it only if a consumer looks at it).
_EVENTS_AFTER = raw.Sql(
    "SELECT id, kind, sku, location, payload, created_at FROM events WHERE id > ? ORDER BY id LIMIT ?",
    "SELECT id, kind, sku, location, payload::text, created_at FROM events WHERE id > ? ORDER BY id LIMIT ?",
)
_cp = consumer_positions


class Event:
    """One row of `events` as a consumer sees it. Six consumers read every event and step over most of them by
    kind alone, so the payload (JSON) and the time are decoded on first use, not on every read."""

    __slots__ = ("_created_at", "_payload", "id", "kind", "location", "sku")

    def __init__(self, id: int, kind: str, sku: str, location: str | None, payload: dict[str, Any] | str,
                 created_at: datetime | str) -> None:
        self.id, self.kind, self.sku, self.location = id, kind, sku, location
        self._payload, self._created_at = payload, created_at

    @property
    def payload(self) -> dict[str, Any]:
        if isinstance(self._payload, str):
            self._payload = json.loads(self._payload)
        return self._payload

    @property
    def created_at(self) -> datetime:
        if not isinstance(self._created_at, datetime):
            self._created_at = raw.time_result(self._created_at)
        return self._created_at

    def __repr__(self) -> str:
        return f"Event(id={self.id}, kind={self.kind!r}, sku={self.sku!r}, location={self.location!r})"


EventHandler = Callable[[Connection, Event], None]
"""Runs inside the transaction that advances the consumer's position past the event."""


@dataclass(frozen=True)
class Consumer:
    name: str
    handler: EventHandler
    kinds: Iterable[str] | None = None  # None: every kind; stored as a frozenset
    # A pure test on the event alone: False steps over it like another kind (no savepoint, no handler call).
    # Worth having for consumers that ignore most events of a kind they subscribe to (StockChanged: every hold).
    accepts: Callable[[Event], bool] | None = None
    # PostgreSQL: walk in a thread of its own, not in turn with the others (a consumer whose lag someone waits on:
    # the channels' counts). SQLite has one writer: every consumer takes turns there.
    own_thread: bool = False

    def __post_init__(self) -> None:
        if self.kinds is not None:
            object.__setattr__(self, "kinds", frozenset(self.kinds))

    def wants(self, event: Event) -> bool:
        return (self.kinds is None or event.kind in self.kinds) and (self.accepts is None or self.accepts(event))


@dataclass
class ConsumerRun:
    """What one consumer did in one run."""

    name: str
    leased: bool = False  # False: another runner holds a live lease
    processed: int = 0  # handler calls committed
    skipped: int = 0  # events of other kinds stepped over
    holes: int = 0  # missing ids found to be permanent and stepped over
    waiting_on_gap: bool = False  # stopped at a missing id that may still be filled
    lost_lease: bool = False  # taken over or reset meanwhile: everything of this run was rolled back
    error: str | None = None
    position: int | None = None


@dataclass
class RunReport:
    consumers: list[ConsumerRun] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return sum(c.processed for c in self.consumers)


class _LostLease(Exception):
    pass


class _HandlerFailed(Exception):
    """A handler raised: the pass is rolled back whole and redone up to the event before (see "Failure")."""

    def __init__(self, event_id: int, error: str) -> None:
        super().__init__(error)
        self.event_id = event_id
        self.error = error


class ConsumerRunner:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        consumers: Collection[Consumer],
        *,
        worker_id: str,
        lease_seconds: float = 60.0,
        batch: int = 100,
        walk_budget_seconds: float | None = None,
        before_each: Callable[[], object] | None = None,
    ) -> None:
        names = [c.name for c in consumers]
        if len(set(names)) != len(names):
            raise ValueError("consumer names must be unique")
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.db = db
        self.clock = clock
        self.consumers = list(consumers)
        self.worker_id = worker_id
        self.lease = timedelta(seconds=lease_seconds)
        self.batch = batch
        self.walk_budget_seconds = walk_budget_seconds
        self.before_each = before_each  # called before each consumer's pass (the worker lets requests go first)
        self.last_report = RunReport()

    def run_once(self) -> int:
        """One batch per consumer; returns how many handler calls committed (details in `last_report`)."""
        report = RunReport()
        busy = self._with_work()
        for consumer in self.consumers:
            if consumer.name not in busy:  # nothing past its position: no lease, no write transaction
                report.consumers.append(ConsumerRun(consumer.name))
                continue
            if self.before_each is not None:
                self.before_each()
            report.consumers.append(self.run_consumer(consumer, checked=True))
        self.last_report = report
        return report.processed

    def run_consumer(self, consumer: Consumer, *, checked: bool = False) -> ConsumerRun:
        """checked: the caller already knows there is work past the consumer's position."""
        run = ConsumerRun(consumer.name)
        if not checked and consumer.name not in self._with_work([consumer.name]):
            return run  # nothing past its position: no lease, no write transactions (idle polls are reads only)
        if self.db.is_sqlite:
            return self._run_in_one_transaction(consumer, run)
        lease_until = self.acquire(consumer.name)
        if lease_until is None:
            return run
        run.leased = True
        try:
            self._process(consumer, lease_until, run)
        except _LostLease:
            run.lost_lease = True
            run.processed = run.skipped = run.holes = 0
            return run
        except Exception as exc:  # the transaction itself failed (commit, connection...): record it, retry later
            run.processed = run.skipped = run.holes = 0
            run.error = f"{type(exc).__name__}: {exc}"
            self._record_error(consumer.name, lease_until, run.error)
        self.release(consumer.name, lease_until)
        return run

    def _run_in_one_transaction(self, consumer: Consumer, run: ConsumerRun) -> ConsumerRun:
        """SQLite: the whole pass in one write transaction. The single writer is the exclusion, so no lease is
        written (taking and releasing it inside one transaction would leave no trace anyway); a live lease of
        another runner's (`acquire` outside a pass) is still respected."""

        def work(conn: Connection, failed: _HandlerFailed | None) -> None:
            run.processed = run.skipped = run.holes = 0
            self._walk(conn, consumer, None, run, failed)

        try:
            self._redo_on_failure(work)
        except _LostLease:
            run.lost_lease = True
            run.processed = run.skipped = run.holes = 0
        except Exception as exc:  # the transaction failed whole: record why under a lease of its own
            run.processed = run.skipped = run.holes = 0
            run.error = f"{type(exc).__name__}: {exc}"
            lease_until = self.acquire(consumer.name)
            if lease_until is not None:
                self._record_error(consumer.name, lease_until, run.error)
                self.release(consumer.name, lease_until)
        return run

    def _redo_on_failure(self, work: Callable[[Connection, _HandlerFailed | None], None]) -> None:
        """Run a pass; if a handler raised, the transaction rolled back whole: run it again up to the event before
        the failing one, recording the failure (a redo can meet an earlier failure: then up to that one)."""
        failed: _HandlerFailed | None = None
        while True:
            try:
                self.db.write(lambda conn, failed=failed: work(conn, failed))
                return
            except _HandlerFailed as exc:
                if failed is not None and exc.event_id >= failed.event_id:
                    raise RuntimeError(f"consumer redo reached event {exc.event_id} again") from exc
                failed = exc

    def _with_work(self, names: Collection[str] | None = None) -> set[str]:
        """The consumers with any event visible past their position (or new, or stuck on a failing event).

        One read snapshot for all of them: an event committed after it is seen on the next poll. Nothing is
        skipped by this check: ids the walk may still have to wait for are below a visible id, so they make
        this true as well."""
        wanted = [c.name for c in self.consumers] if names is None else list(names)
        with self.db.read() as conn:
            top = conn.execute(select(func.max(events.c.id))).scalar_one() or 0
            rows = {r.name: r for r in conn.execute(
                select(_cp.c.name, _cp.c.position, _cp.c.failing_event_id).where(_cp.c.name.in_(wanted)))}
        return {name for name in wanted
                if (r := rows.get(name)) is None or r.failing_event_id is not None or top > r.position}

    # --- lease ------------------------------------------------------------------------------------------------

    def acquire(self, name: str) -> datetime | None:
        """Take (or renew) the lease on a consumer; returns the lease token, or None if someone else holds it."""
        return self.db.write(lambda conn: self._acquire_in(conn, name))

    def _acquire_in(self, conn: Connection, name: str) -> datetime | None:
        now = self.clock.now()
        lease_until = now + self.lease
        _ensure_row(conn, name, now)
        stmt = (
            update(_cp)
            .where(
                _cp.c.name == name,
                (_cp.c.leased_by.is_(None))
                | (_cp.c.leased_until.is_(None))
                | (_cp.c.leased_until < now)
                | (_cp.c.leased_by == self.worker_id),
            )
            .values(leased_by=self.worker_id, leased_until=lease_until)
        )
        return lease_until if conn.execute(stmt).rowcount == 1 else None

    def release(self, name: str, lease_until: datetime) -> bool:
        return self.db.write(lambda conn: self._release_in(conn, name, lease_until))

    def _release_in(self, conn: Connection, name: str, lease_until: datetime) -> bool:
        stmt = (
            update(_cp)
            .where(_cp.c.name == name, _cp.c.leased_by == self.worker_id, _cp.c.leased_until == lease_until)
            .values(leased_by=None, leased_until=None)
        )
        return conn.execute(stmt).rowcount == 1

    # --- processing -------------------------------------------------------------------------------------------

    def _process(self, consumer: Consumer, lease_until: datetime, run: ConsumerRun) -> None:
        def work(conn: Connection, failed: _HandlerFailed | None) -> None:
            run.processed = run.skipped = run.holes = 0
            run.waiting_on_gap = False
            self._walk(conn, consumer, lease_until, run, failed)

        self._redo_on_failure(work)

    def _walk(self, conn: Connection, consumer: Consumer, lease_until: datetime | None, run: ConsumerRun,
              failed: _HandlerFailed | None = None) -> None:
        """lease_until: the lease this runner holds (PostgreSQL); None: the caller holds SQLite's one writer.
        failed: a handler raised on that event in an earlier try of this pass: stop there and record it."""
        pg = conn.dialect.name == "postgresql"
        # No write before the events are read: on PostgreSQL our xid must be assigned after that read (see above).
        row = conn.execute(select(_cp).where(_cp.c.name == consumer.name)).first()
        if lease_until is None:
            if row is None:
                _ensure_row(conn, consumer.name, self.clock.now())
                row = conn.execute(select(_cp).where(_cp.c.name == consumer.name)).one()
            if row.leased_by not in (None, self.worker_id) and row.leased_until is not None \
                    and row.leased_until >= self.clock.now():
                return  # another runner's live lease: not ours to work
            run.leased = True
        elif row is None or row.leased_by != self.worker_id or row.leased_until != lease_until:
            raise _LostLease
        start = row.position
        gap_upto, gap_horizon = row.gap_upto, row.gap_horizon
        gap_resolved = False
        if pg and gap_horizon is not None:
            xmin = conn.execute(text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")).scalar_one()
            gap_resolved = xmin >= gap_horizon  # every transaction that could fill ids <= gap_upto has ended
        rows = raw.execute(conn, _EVENTS_AFTER, (start, self.batch)).fetchall()

        position = start
        deadline = None if self.walk_budget_seconds is None else time.monotonic() + self.walk_budget_seconds
        failing_id: int | None = None
        error: str | None = None
        stopped_at_gap = False
        for r in rows:
            event_id = int(r[0])
            if event_id != position + 1:
                # ids position+1 .. r.id-1 are missing.
                if not pg or (gap_resolved and gap_upto is not None and event_id - 1 <= gap_upto):
                    # SQLite: nothing else is open, they can never appear. PostgreSQL: all possible writers ended.
                    run.holes += event_id - 1 - position
                else:
                    stopped_at_gap = True
                    break
            event = Event(event_id, r[1], r[2], r[3], r[4], r[5])
            if consumer.wants(event):
                if failed is not None and event.id == failed.event_id:
                    failing_id, error = failed.event_id, failed.error
                    break
                try:
                    consumer.handler(conn, event)
                except Exception as exc:  # no savepoint per event: the whole pass rolls back and is redone
                    raise _HandlerFailed(event.id, f"{type(exc).__name__}: {exc}"[:_ERROR_LIMIT]) from exc
                run.processed += 1
                position = event.id
                if deadline is not None and time.monotonic() >= deadline:
                    break  # the rest is the next pass's: do not hold the writer longer
            else:
                run.skipped += 1
                position = event.id

        values: dict[str, Any] = {}
        if position != start:
            values["position"] = position
        # Gap bookkeeping (PostgreSQL only). A resolved observation stays valid (the oldest running xid only
        # grows), so it is kept until the position passes gap_upto.
        if stopped_at_gap and (gap_upto is None or gap_resolved):
            # A new observation (it covers the old one's ids too): our xid is assigned now, after the read (the
            # handlers' writes, if any, also came after it), so it exceeds the xid of every transaction that could
            # still fill the gap.
            xid = conn.execute(text("SELECT pg_current_xact_id()::text::bigint")).scalar_one()
            values["gap_upto"] = int(rows[-1][0])
            values["gap_horizon"] = xid + 1
        elif gap_upto is not None and position >= gap_upto:
            values["gap_upto"] = values["gap_horizon"] = None
        run.waiting_on_gap = stopped_at_gap
        now = self.clock.now()
        if failing_id is not None:
            values["failures"] = (row.failures + 1) if row.failing_event_id == failing_id else 1
            values["failing_event_id"] = failing_id
            values["last_error"] = error
            values["last_error_at"] = now
            run.error = f"event {failing_id}: {error}"
        elif row.failing_event_id is not None and position >= row.failing_event_id:
            values["failures"] = 0
            values["failing_event_id"] = None
        run.position = position
        if not values:
            return  # nothing changed: no write
        values["updated_at"] = now
        guard = [_cp.c.name == consumer.name, _cp.c.position == start]
        if lease_until is not None:
            guard += [_cp.c.leased_by == self.worker_id, _cp.c.leased_until == lease_until]
        changed = conn.execute(update(_cp).where(*guard).values(**values)).rowcount
        if changed != 1:
            raise _LostLease  # taken over or reset since we read the row: roll back all of it

    def _record_error(self, name: str, lease_until: datetime, error: str) -> None:
        now = self.clock.now()
        stmt = (
            update(_cp)
            .where(_cp.c.name == name, _cp.c.leased_by == self.worker_id, _cp.c.leased_until == lease_until)
            .values(last_error=error[:_ERROR_LIMIT], last_error_at=now, updated_at=now)
        )
        try:
            self.db.write(lambda conn: conn.execute(stmt))
        except Exception:  # best effort: the database may be what failed
            return


# --- Operations (each runs in the caller's transaction) ----------------------------------------------------------


def _ensure_row(conn: Connection, name: str, now: datetime) -> None:
    conn.execute(
        insert_or_ignore(conn, _cp)
        .values(name=name, position=0, failures=0, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )


def reset(conn: Connection, name: str, position: int, now: datetime) -> None:
    """Set a consumer's position (0 replays everything; the id of a poison event skips it).

    Clears the lease, the gap observation and the failure state. A runner in the middle of a batch fails its
    compare-and-set and rolls that batch back, so the reset wins.
    """
    if position < 0:
        raise ValueError("position cannot be negative")
    _ensure_row(conn, name, now)
    conn.execute(
        update(_cp)
        .where(_cp.c.name == name)
        .values(
            position=position,
            leased_by=None,
            leased_until=None,
            gap_upto=None,
            gap_horizon=None,
            failing_event_id=None,
            failures=0,
            updated_at=now,
        )
    )


@dataclass(frozen=True)
class ConsumerStatus:
    name: str
    position: int
    lag: int  # highest event id - position (holes included)
    leased_by: str | None
    leased_until: datetime | None
    waiting_on_gap: bool  # a gap observation is pending (PostgreSQL)
    stuck: bool  # the handler keeps failing on failing_event_id
    failing_event_id: int | None
    failures: int
    last_error: str | None
    last_error_at: datetime | None
    updated_at: datetime


def status(conn: Connection) -> list[ConsumerStatus]:
    """Every consumer that has run (or been reset), by name."""
    top = conn.execute(select(func.max(events.c.id))).scalar_one() or 0
    out = []
    for r in conn.execute(select(_cp).order_by(_cp.c.name)):
        out.append(
            ConsumerStatus(
                name=r.name,
                position=r.position,
                lag=max(top - r.position, 0),
                leased_by=r.leased_by,
                leased_until=r.leased_until,
                waiting_on_gap=r.gap_horizon is not None,
                stuck=r.failing_event_id is not None,
                failing_event_id=r.failing_event_id,
                failures=r.failures,
                last_error=r.last_error,
                last_error_at=r.last_error_at,
                updated_at=r.updated_at,
            )
        )
    return out
