"""Durable timers: "do X at time T unless cancelled", kept in the database so they survive restarts.

`schedule` and `cancel` run in the caller's transaction, so e.g. "order placed" cancels the cart reminder atomically
with placing the order. A `TimerRunner` claims due timers (`fire_at <= clock.now()`, never early) with a lease, the
same way the outbox dispatcher claims rows (runtime/_claim.py), then fires each in its own transaction:

    UPDATE timers SET status = 'fired' ... WHERE id = :id AND status = 'scheduled'   -- then, if one row changed,
    handler(conn, payload)                                                           -- in that same transaction

Firing and cancelling are both conditional updates from `scheduled`, so exactly one of them wins; on PostgreSQL the
loser waits for the winner's row lock and then finds the status changed. Because the handler runs inside the firing
transaction, its effects (typically an outbox row or a decision) commit exactly when the timer is marked fired: a
timer fires once, even with several runners and stalled leases. If the handler raises, the whole transaction rolls
back and the timer stays `scheduled`; its lease, taken in the claim transaction, makes it due again only after
`lease_seconds`, which spaces out retries. Handlers must be quick and must not call out over the network: they
decide and write (enqueue outbox rows for anything external).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from stockpilot.adapters.db.database import Database, request_wakeup
from stockpilot.adapters.db.tables import timers
from stockpilot.domain.clock import Clock
from stockpilot.runtime._claim import claim_rows, due_and_unleased

TIMERS_CHANNEL = "stockpilot_timers"
SCHEDULED = "scheduled"
FIRED = "fired"
CANCELLED = "cancelled"
DEAD = "dead"  # its handler failed max_attempts times
DISCARDED = "discarded"  # a dead timer an operator gave up on
STATUSES = (SCHEDULED, FIRED, CANCELLED, DEAD, DISCARDED)

TimerHandler = Callable[[Connection, dict[str, Any]], None]
"""Runs inside the transaction that marks the timer fired: (conn, payload)."""


@dataclass(frozen=True)
class Timer:
    id: int
    kind: str
    correlation_key: str
    fire_at: datetime
    payload: dict[str, Any]
    status: str
    leased_until: datetime | None
    leased_by: str | None
    created_at: datetime
    fired_at: datetime | None
    cancelled_at: datetime | None
    attempts: int
    last_error: str | None


def schedule(
    conn: Connection,
    kind: str,
    correlation_key: str,
    fire_at: datetime,
    payload: dict[str, Any],
    *,
    now: datetime,
) -> int:
    """Add a timer in the caller's transaction; returns its id. Several timers may share a correlation key."""
    stmt = (
        insert(timers)
        .values(
            kind=kind,
            correlation_key=correlation_key,
            fire_at=fire_at,
            payload=payload,
            status=SCHEDULED,
            created_at=now,
        )
        .returning(timers.c.id)
    )
    timer_id = conn.execute(stmt).scalar_one()
    request_wakeup(conn, TIMERS_CHANNEL)  # a runner sleeping until a later timer must re-plan its nap
    return timer_id


def cancel(conn: Connection, correlation_key: str, now: datetime, *, kind: str | None = None) -> int:
    """Cancel the still-scheduled timers with this key (and kind, if given); returns how many were cancelled."""
    stmt = update(timers).where(timers.c.correlation_key == correlation_key, timers.c.status == SCHEDULED)
    if kind is not None:
        stmt = stmt.where(timers.c.kind == kind)
    return conn.execute(stmt.values(status=CANCELLED, cancelled_at=now)).rowcount


def get(conn: Connection, timer_id: int) -> Timer | None:
    r = conn.execute(select(timers).where(timers.c.id == timer_id)).first()
    return Timer(**dict(r._mapping)) if r is not None else None


def list_for(conn: Connection, correlation_key: str) -> list[Timer]:
    rows = conn.execute(select(timers).where(timers.c.correlation_key == correlation_key).order_by(timers.c.id))
    return [Timer(**dict(r._mapping)) for r in rows]


@dataclass
class TimerReport:
    claimed: int = 0
    fired: int = 0
    skipped: int = 0  # cancelled or fired by someone else after we claimed it
    failed: int = 0  # handler raised (or no handler): rolled back, still scheduled
    dead: int = 0  # failed for the max_attempts-th time: status dead
    errors: list[str] = field(default_factory=list)


class _NotFired(Exception):
    pass


class TimerRunner:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        handlers: Mapping[str, TimerHandler],
        *,
        worker_id: str,
        lease_seconds: float = 60.0,
        max_attempts: int = 8,
    ) -> None:
        self.db = db
        self.clock = clock
        self.handlers = dict(handlers)
        self.worker_id = worker_id
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts

    def claim(self, limit: int = 100) -> list[Any]:
        now = self.clock.now()
        query = (
            select(timers.c.id, timers.c.kind, timers.c.payload)
            .where(timers.c.status == SCHEDULED, timers.c.fire_at <= now, due_and_unleased(timers, now))
            .order_by(timers.c.fire_at, timers.c.id)
            .limit(limit)
        )
        return self.db.write(
            lambda conn: claim_rows(conn, timers, query, worker_id=self.worker_id, lease_until=now + self.lease)
        )

    def run_once(self, limit: int = 100) -> TimerReport:
        report = TimerReport()
        claimed = self.claim(limit)
        report.claimed = len(claimed)
        for row in claimed:
            handler = self.handlers.get(row.kind)
            if handler is None:
                self._record_failure(row.id, f"no handler for kind {row.kind!r}", report)
                continue
            try:
                fired = self.db.write(lambda conn, row=row, handler=handler: self._fire(conn, row.id, handler))
            except Exception as exc:
                self._record_failure(row.id, f"{type(exc).__name__}: {exc}", report)
                continue
            if fired:
                report.fired += 1
            else:
                report.skipped += 1
        return report

    def _record_failure(self, timer_id: int, error: str, report: TimerReport) -> None:
        """Count a failed firing (in its own transaction, the firing one rolled back). The lease stays, so the
        retry waits for it to run out; after `max_attempts` the timer is dead, for an operator to retry or discard."""
        report.failed += 1
        report.errors.append(f"timer {timer_id}: {error}")

        def work(conn: Connection) -> bool:
            row = conn.execute(
                update(timers)
                .where(timers.c.id == timer_id, timers.c.status == SCHEDULED, timers.c.leased_by == self.worker_id)
                .values(attempts=timers.c.attempts + 1, last_error=error[:2000])
                .returning(timers.c.attempts)
            ).first()
            if row is None or row.attempts < self.max_attempts:
                return False
            conn.execute(
                update(timers).where(timers.c.id == timer_id)
                .values(status=DEAD, leased_by=None, leased_until=None)
            )
            return True

        if self.db.write(work):
            report.dead += 1

    def _fire(self, conn: Connection, timer_id: int, handler: TimerHandler) -> bool:
        now = self.clock.now()
        payload = conn.execute(
            update(timers)
            .where(timers.c.id == timer_id, timers.c.status == SCHEDULED)
            .values(status=FIRED, fired_at=now, leased_by=None, leased_until=None)
            .returning(timers.c.payload)
        ).scalar_one_or_none()
        if payload is None:
            return False
        handler(conn, payload)
        return True


def next_fire_at(conn: Connection) -> datetime | None:
    """When the earliest scheduled timer is due (lets a runner sleep exactly until then)."""
    return conn.execute(select(func.min(timers.c.fire_at)).where(timers.c.status == SCHEDULED)).scalar_one()


def retry(conn: Connection, timer_id: int, now: datetime) -> bool:
    """Schedule a dead timer again, due now, attempts reset."""
    return conn.execute(
        update(timers).where(timers.c.id == timer_id, timers.c.status == DEAD)
        .values(status=SCHEDULED, attempts=0, fire_at=now, leased_by=None, leased_until=None)
    ).rowcount == 1


def discard(conn: Connection, timer_id: int) -> bool:
    """Give up on a dead timer (kept, as `discarded`)."""
    return conn.execute(
        update(timers).where(timers.c.id == timer_id, timers.c.status == DEAD).values(status=DISCARDED)
    ).rowcount == 1


def has_scheduled(conn: Connection, correlation_key: str, kind: str | None = None) -> bool:
    """Whether a timer with this key (and kind) is still waiting to fire."""
    stmt = select(timers.c.id).where(timers.c.correlation_key == correlation_key, timers.c.status == SCHEDULED)
    if kind is not None:
        stmt = stmt.where(timers.c.kind == kind)
    return conn.execute(stmt.limit(1)).first() is not None
