"""Transactional outbox: side effects are recorded in the business transaction and delivered afterwards.

Writing side: `enqueue(conn, ...)` inside the caller's transaction. The row commits or rolls back with the business
change, and the idempotency key is unique (`INSERT ... ON CONFLICT DO NOTHING`), so enqueueing twice is one row.

Delivery side: a `Dispatcher` per worker.
1. Claim (short transaction): due pending rows without a live lease get `leased_by = worker_id` and
   `leased_until = now + lease_seconds` (PostgreSQL: `FOR UPDATE SKIP LOCKED`; see runtime/_claim.py).
2. Call the handler for the row's topic OUTSIDE any transaction, with (payload, idempotency_key).
3. Record the outcome (short transaction), guarded by the lease token: `status = 'pending' AND leased_by = me AND
   leased_until = <the lease I was given>`. A worker that stalled past its lease, and whose row was taken over by
   another worker (who stamped a new lease, or already recorded an outcome), changes nothing: its late outcome is
   ignored and counted as `stale`. If nobody took the row over, the late outcome is still the truth and is kept.

Delivery is at least once: a stalled worker and its successor may both call the handler. Handlers pass the
idempotency key on to the receiver (supplier API, mail provider...) so the effect happens once. A handler whose late
effect could undo its successor's (an absolute count sent after a newer one) reads its claim with `current_lease()`
and checks `lease_held` right before acting; a topic's hook may define `stale(conn, payload, key, now, outcome)`,
called in the transaction that finds a row's outcome stale (outcome: what the handler returned, or its exception),
to repair what the late effect may have done.

Failure: attempts + 1, `last_error`, `available_at = now + backoff` (exponential with full jitter), or status `dead`
once attempts reach `max_attempts`. An exception carrying `retry_after_seconds` (the receiver throttled us) is due
again after exactly that delay and does not spend an attempt. An unknown topic is dead at once. Dead rows are kept;
an operator can `retry` one (pending again, attempts reset) or `discard` it (status `discarded`: the row stays, so
its idempotency key stays claimed and a re-enqueue with the same key cannot resend what someone chose to drop).
"""

from __future__ import annotations

import contextvars
import random
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, func, select, update

from stockpilot.adapters.db import raw
from stockpilot.adapters.db.database import Database, request_wakeup
from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.tables import outbox
from stockpilot.domain.clock import Clock
from stockpilot.runtime._claim import claim_rows, due_and_unleased

OUTBOX_CHANNEL = "stockpilot_outbox"  # woken on commit of an enqueue (runtime/signals.py)
PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"
DISCARDED = "discarded"
STATUSES = (PENDING, DELIVERED, DEAD, DISCARDED)

Handler = Callable[[dict[str, Any], str], Any]
"""Delivers one message: (payload, idempotency_key). Raising means "failed, try again later", unless the
exception says `permanent = True` (retrying cannot help: refused, bad credentials, invalid document): then the row
is dead at once. What it returns on success (e.g. a supplier's synchronous acknowledgement, JSON-able) is handed to
the topic's OutcomeHook."""


BatchHandler = Callable[[list[tuple[dict[str, Any], str]]], list[Any]]
"""Delivers several rows of one topic: [(payload, idempotency_key)] -> one entry per row, in order: what a Handler
would return for it, or the exception it would raise (a returned exception is that row's failure alone)."""


class _NoHandler:
    """Marks a claim whose topic nobody handles (dead at once)."""


class OutcomeHook(Protocol):
    """Told of a topic's final outcomes inside the transaction that records them, so a business fact that follows
    from a delivery (a PO is now with its supplier; it could not be delivered) commits exactly with it.

    A hook whose class sets `dead_only = True` does nothing on `delivered`: its topic's successes are then recorded
    in bulk like an unhooked topic's (one statement per batch, not one per row).

    A hook whose class sets `runs_first = True` takes a lock that other transactions take before any row of theirs
    (the channel push lock): its successes are recorded before every other outcome of the transaction, so it never
    waits for that lock holding rows that another hook took (a PO acknowledgement's stock change)."""

    def delivered(self, conn: Connection, payload: dict[str, Any], idempotency_key: str, now: datetime,
                  result: Any = None) -> None: ...

    def dead(self, conn: Connection, payload: dict[str, Any], idempotency_key: str, error: str,
             now: datetime) -> None: ...

_ERROR_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class Lease:
    """The claim a handler runs under: the row, and the lease stamp that fences its outcome."""

    outbox_id: int
    worker_id: str
    lease_until: datetime


_lease: contextvars.ContextVar[Lease | None] = contextvars.ContextVar("stockpilot_outbox_lease", default=None)


def current_lease() -> Lease | None:
    """The claim of the handler running on this thread (None outside a dispatcher, e.g. a direct call)."""
    return _lease.get()


def lease_held(conn: Connection, lease: Lease) -> bool:
    """Whether nobody took the row over since it was claimed: still pending under this very lease stamp (expired or
    not: until another worker stamps its own, an outcome under this one is still recorded)."""
    return conn.execute(select(outbox.c.id).where(
        outbox.c.id == lease.outbox_id, outbox.c.status == PENDING, outbox.c.leased_by == lease.worker_id,
        outbox.c.leased_until == lease.lease_until)).first() is not None


@dataclass(frozen=True)
class OutboxRow:
    id: int
    topic: str
    payload: dict[str, Any]
    idempotency_key: str
    status: str
    attempts: int
    max_attempts: int
    available_at: datetime
    leased_until: datetime | None
    leased_by: str | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def enqueue(
    conn: Connection,
    topic: str,
    payload: dict[str, Any],
    idempotency_key: str,
    now: datetime,
    max_attempts: int = 8,
    *,
    available_at: datetime | None = None,
) -> int | None:
    """Add a message in the caller's transaction. Returns its id, or None if the key was already enqueued."""
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    stmt = (
        insert_or_ignore(conn, outbox)
        .values(
            topic=topic,
            payload=payload,
            idempotency_key=idempotency_key,
            status=PENDING,
            attempts=0,
            max_attempts=max_attempts,
            available_at=available_at or now,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(outbox.c.id)
    )
    outbox_id = conn.execute(stmt).scalar_one_or_none()
    if outbox_id is not None:
        request_wakeup(conn, OUTBOX_CHANNEL)
    return outbox_id


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: a uniform delay in [0, min(cap, base * 2**(attempt - 1))).

    `random` returns a float in [0, 1); inject `lambda: 1.0` in tests for the deterministic upper bound.
    """

    base_seconds: float = 1.0
    cap_seconds: float = 3600.0
    random: Callable[[], float] = field(default=random.random)

    def ceiling(self, attempt: int) -> float:
        return min(self.cap_seconds, self.base_seconds * 2 ** max(attempt - 1, 0))

    def delay(self, attempt: int) -> timedelta:
        return timedelta(seconds=self.random() * self.ceiling(attempt))


@dataclass
class DispatchReport:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    stale: int = 0  # outcomes ignored because the lease had been taken over
    released: int = 0  # claimed but handed back unstarted (shutdown)


@dataclass(frozen=True)
class _Claim:
    id: int
    topic: str
    payload: dict[str, Any]
    idempotency_key: str
    attempts: int
    max_attempts: int
    lease_until: datetime
    result: Any = None  # what the handler returned, for the topic's outcome hook


def _next_due_sql(topics: list[str] | None, exclude_topics: list[str]) -> tuple[raw.Sql, tuple[str, ...]]:
    """The earliest available_at of the pending, unleased rows of a lane (Dispatcher.lane, in SQL)."""
    sql = "SELECT min(available_at) FROM outbox WHERE status = ? AND (leased_until IS NULL OR leased_until < ?)"
    if topics is not None:
        sql += f" AND topic IN ({', '.join('?' * len(topics))})" if topics else " AND 1 = 0"
    if exclude_topics:
        sql += f" AND topic NOT IN ({', '.join('?' * len(exclude_topics))})"
    return raw.Sql(sql), (*(topics or ()), *exclude_topics)


class Dispatcher:
    """Claims due outbox rows, delivers each through its topic's handler, and records the outcome."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        handlers: Mapping[str, Handler],
        *,
        worker_id: str,
        lease_seconds: float = 60.0,
        backoff: Backoff | None = None,
        flush_every: int = 20,
        outcomes: Mapping[str, OutcomeHook] | None = None,
        topics: Collection[str] | None = None,
        exclude_topics: Collection[str] = (),
        batch_handlers: Mapping[str, BatchHandler] | None = None,
        batch_size: int = 32,
        before_each: Callable[[], object] | None = None,
        after_claim: Callable[[int], object] | None = None,
    ) -> None:
        if flush_every < 1:
            raise ValueError("flush_every must be at least 1")
        self.db = db
        self.clock = clock
        self.handlers = dict(handlers)
        self.worker_id = worker_id
        self.lease = timedelta(seconds=lease_seconds)
        self.backoff = backoff or Backoff()
        # Successes are recorded together, up to this many per transaction: one commit (one fsync) for many
        # deliveries. The price: a crash before the flush redelivers at most this many rows, with their keys.
        self.flush_every = flush_every
        self.outcomes = dict(outcomes or {})
        # Topics whose handler takes several rows at once (one transaction for many webhook deliveries); each row
        # still gets its own outcome, recorded exactly as a single handler's would be.
        self.batch_handlers = dict(batch_handlers or {})
        self.batch_size = batch_size
        self.before_each = before_each  # called before each row or batch (the worker lets requests go first)
        self.after_claim = after_claim  # called with the number of rows claimed, before any is delivered
        # A lane: this dispatcher claims only `topics` (None: all) less `exclude_topics`, so a worker can run
        # local work (applying webhooks) on its own thread, never queued behind a network call (a push, a mail).
        self.topics = None if topics is None else sorted(topics)
        self.exclude_topics = sorted(exclude_topics)
        self._next_due = _next_due_sql(self.topics, self.exclude_topics)
        # The last claim found nothing due: (what next_due read then,); None after a claim that went ahead. A
        # worker napping right after such a claim needs no second read (a row committed since signals it anyway).
        self.idle_reading: tuple[datetime | None] | None = None

    def next_due(self, now: datetime | None = None) -> datetime | None:
        """When the earliest row this dispatcher could claim falls due (None: there is none). One pre-rendered
        read: a wake-up with nothing for this lane costs this (~20 us), not a write transaction (~500 us of
        statement building, and on SQLite the writer the intake waits on)."""
        with self.db.read() as conn:
            params = (PENDING, raw.time_value(conn, now or self.clock.now()), *self._next_due[1])
            return raw.time_result(raw.execute(conn, self._next_due[0], params).fetchone()[0])

    def claim(self, limit: int = 100) -> list[_Claim]:
        now = self.clock.now()
        lease_until = now + self.lease
        due = self.next_due(now)
        if due is None or due > now:
            self.idle_reading = (due,)
            return []  # nothing due: no write transaction
        self.idle_reading = None
        query = (
            select(
                outbox.c.id,
                outbox.c.topic,
                outbox.c.payload,
                outbox.c.idempotency_key,
                outbox.c.attempts,
                outbox.c.max_attempts,
            )
            .where(outbox.c.status == PENDING, outbox.c.available_at <= now, due_and_unleased(outbox, now),
                   *self.lane())
            .order_by(outbox.c.id)
            .limit(limit)
        )
        rows = self.db.write(
            lambda conn: claim_rows(conn, outbox, query, worker_id=self.worker_id, lease_until=lease_until)
        )
        return [
            _Claim(r.id, r.topic, r.payload, r.idempotency_key, r.attempts, r.max_attempts, lease_until) for r in rows
        ]

    def lane(self) -> list[Any]:
        """The WHERE terms of this dispatcher's topics."""
        terms = [] if self.topics is None else [outbox.c.topic.in_(self.topics)]
        return terms + ([outbox.c.topic.not_in(self.exclude_topics)] if self.exclude_topics else [])

    def run_once(self, limit: int = 100, *, stop: Callable[[], bool] | None = None) -> DispatchReport:
        """One pass: claim up to `limit` due rows and deliver them one by one (or a batch handler's topic in groups).

        If `stop()` turns true (graceful shutdown), or half the lease is spent, the rows not yet started are
        handed back at once rather than left leased until their lease runs out.
        """
        report = DispatchReport()
        claims = self.claim(limit)
        report.claimed = len(claims)
        if self.after_claim is not None:
            self.after_claim(len(claims))
        succeeded: list[_Claim] = []
        index = 0
        while index < len(claims):
            claim = claims[index]
            # Start a row only while at least half of the batch's lease remains: a slow batch must not deliver
            # rows whose lease has run out and that another worker may already have taken over.
            lease_spent = self.clock.now() >= claim.lease_until - self.lease / 2
            if lease_spent or (stop is not None and stop()):
                self._flush_successes(succeeded, report)
                report.released = self._release(claims[index:])
                break
            if self.before_each is not None:
                self.before_each()
            group = self._group(claims, index)
            index += len(group)
            for member, result in zip(group, self._deliver(group), strict=True):
                if isinstance(result, _NoHandler):
                    outcome = self._record_failure(member, f"no handler for topic {member.topic!r}", final=True)
                elif isinstance(result, Exception):
                    outcome = self._record_failure(member, f"{type(result).__name__}: {result}",
                                                   final=bool(getattr(result, "permanent", False)),
                                                   retry_after=getattr(result, "retry_after_seconds", None),
                                                   exc=result)
                else:
                    if self._hooked_on_delivery(member.topic):
                        member = replace(member, result=result)
                    succeeded.append(member)
                    if len(succeeded) >= self.flush_every:
                        self._flush_successes(succeeded, report)
                    continue
                setattr(report, outcome, getattr(report, outcome) + 1)
        self._flush_successes(succeeded, report)
        return report

    def _group(self, claims: list[_Claim], start: int) -> list[_Claim]:
        """The claims delivered together from `start`: consecutive ones of a topic with a batch handler, up to
        `batch_size`; otherwise just the one."""
        topic = claims[start].topic
        if topic not in self.batch_handlers:
            return [claims[start]]
        end = start + 1
        while end < len(claims) and end - start < self.batch_size and claims[end].topic == topic:
            end += 1
        return claims[start:end]

    def _deliver(self, group: list[_Claim]) -> list[Any]:
        """Per claim, what its handler returned, the exception it raised, or _NoHandler."""
        topic = group[0].topic
        batch = self.batch_handlers.get(topic)
        if batch is not None:
            try:
                results = list(batch([(c.payload, c.idempotency_key) for c in group]))
            except Exception as exc:  # the batch failed whole: every row of it failed
                return [exc] * len(group)
            if len(results) != len(group):
                return [RuntimeError(f"batch handler for {topic!r} gave {len(results)} outcomes for "
                                     f"{len(group)} rows")] * len(group)
            return results
        handler = self.handlers.get(topic)
        if handler is None:
            return [_NoHandler()]
        claim = group[0]
        token = _lease.set(Lease(claim.id, self.worker_id, claim.lease_until))
        try:
            return [handler(claim.payload, claim.idempotency_key)]
        except Exception as exc:
            return [exc]
        finally:
            _lease.reset(token)

    def _flush_successes(self, succeeded: list[_Claim], report: DispatchReport) -> None:
        """Record the delivered rows in one transaction, each guarded by its lease like a single outcome."""
        if not succeeded:
            return
        now = self.clock.now()
        by_lease: dict[datetime, list[int]] = {}
        for claim in succeeded:
            by_lease.setdefault(claim.lease_until, []).append(claim.id)

        delivered = {"status": DELIVERED, "attempts": outbox.c.attempts + 1, "delivered_at": now, "last_error": None,
                     "leased_by": None, "leased_until": None}
        hooked = [c for c in succeeded if self._hooked_on_delivery(c.topic)]
        for claim in hooked:
            by_lease[claim.lease_until].remove(claim.id)

        first = [c for c in hooked if getattr(self.outcomes[c.topic], "runs_first", False)]
        later = [c for c in hooked if not getattr(self.outcomes[c.topic], "runs_first", False)]

        def record_hooked(conn: Connection, claims: list[_Claim]) -> int:
            recorded = 0
            for claim in claims:  # one by one: the hook must run only for a row whose outcome really was recorded
                if conn.execute(self._guard(claim).values(**delivered)).rowcount == 1:
                    self.outcomes[claim.topic].delivered(conn, claim.payload, claim.idempotency_key, now,
                                                         claim.result)
                    recorded += 1
                else:
                    self._stale(conn, claim, claim.result, now)
            return recorded

        def work(conn: Connection) -> int:
            recorded = record_hooked(conn, first)
            recorded += sum(
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_(ids), outbox.c.status == PENDING, outbox.c.leased_by == self.worker_id,
                           outbox.c.leased_until == lease_until)
                    .values(**delivered)
                ).rowcount
                for lease_until, ids in by_lease.items() if ids
            )
            return recorded + record_hooked(conn, later)

        recorded = self.db.write(work)
        report.delivered += recorded
        report.stale += len(succeeded) - recorded
        succeeded.clear()

    def _stale(self, conn: Connection, claim: _Claim, outcome: Any, now: datetime) -> None:
        """The row was taken over while its handler ran: the topic's hook may repair what the late run did."""
        stale = getattr(self.outcomes.get(claim.topic), "stale", None)
        if stale is not None:
            stale(conn, claim.payload, claim.idempotency_key, now, outcome)

    def _hooked_on_delivery(self, topic: str) -> bool:
        hook = self.outcomes.get(topic)
        return hook is not None and not getattr(hook, "dead_only", False)

    def _release(self, claims: list[_Claim]) -> int:
        def work(conn: Connection) -> int:
            return sum(
                conn.execute(self._guard(claim).values(leased_by=None, leased_until=None)).rowcount for claim in claims
            )

        return self.db.write(work)

    def _guard(self, claim: _Claim) -> Any:
        return update(outbox).where(
            outbox.c.id == claim.id,
            outbox.c.status == PENDING,
            outbox.c.leased_by == self.worker_id,
            outbox.c.leased_until == claim.lease_until,
        )

    def _record_success(self, claim: _Claim) -> str:
        """Record one delivered row (the batched path does the same for many)."""
        report = DispatchReport()
        self._flush_successes([claim], report)
        return "delivered" if report.delivered else "stale"

    def _record_failure(self, claim: _Claim, error: str, *, final: bool, retry_after: float | None = None,
                        exc: BaseException | None = None) -> str:
        now = self.clock.now()
        # A receiver that says when to come back (429 + Retry-After, a platform's throttle) was not failed: wait
        # as long as it asked, and do not spend an attempt, so throttling never dead-letters a row.
        throttled = isinstance(retry_after, int | float) and not final
        attempts = claim.attempts if throttled else claim.attempts + 1
        dead = not throttled and (final or attempts >= claim.max_attempts)
        values: dict[str, Any] = {
            "attempts": attempts,
            "last_error": error[:_ERROR_LIMIT],
            "leased_by": None,
            "leased_until": None,
        }
        if dead:
            values["status"] = DEAD
        elif throttled:
            values["available_at"] = now + timedelta(seconds=max(float(retry_after or 0), 0.0))
        else:
            values["available_at"] = now + self.backoff.delay(attempts)
        stmt = self._guard(claim).values(**values)
        hook = self.outcomes.get(claim.topic) if dead else None

        def work(conn: Connection) -> int:
            changed = conn.execute(stmt).rowcount
            if changed == 1 and hook is not None:
                hook.dead(conn, claim.payload, claim.idempotency_key, error, now)
            elif changed == 0:
                self._stale(conn, claim, exc, now)
            return changed

        if self.db.write(work) != 1:
            return "stale"
        return "dead" if dead else "retried"


# --- Operations (each runs in the caller's transaction) ------------------------------------------------------


def _row(r: Any) -> OutboxRow:
    return OutboxRow(**dict(r._mapping))


def get(conn: Connection, idempotency_key: str) -> OutboxRow | None:
    r = conn.execute(select(outbox).where(outbox.c.idempotency_key == idempotency_key)).first()
    return _row(r) if r is not None else None


def list_by_status(conn: Connection, status: str, *, after: int = 0, limit: int = 100) -> list[OutboxRow]:
    """Rows in one status, by id, starting after id `after` (keyset pagination)."""
    if status not in STATUSES:
        raise ValueError(f"unknown outbox status {status!r}")
    rows = conn.execute(
        select(outbox).where(outbox.c.status == status, outbox.c.id > after).order_by(outbox.c.id).limit(limit)
    )
    return [_row(r) for r in rows]


def retry(conn: Connection, outbox_id: int, now: datetime) -> bool:
    """Send a dead row again: pending, due now, attempts reset (last_error kept until the next outcome)."""
    stmt = (
        update(outbox)
        .where(outbox.c.id == outbox_id, outbox.c.status == DEAD)
        .values(status=PENDING, attempts=0, available_at=now, leased_by=None, leased_until=None)
    )
    if conn.execute(stmt).rowcount != 1:
        return False
    request_wakeup(conn, OUTBOX_CHANNEL)  # due now: wake a worker rather than wait for its poll
    return True


def discard(conn: Connection, outbox_id: int) -> bool:
    """Give up on a dead row for good. The row is kept (status `discarded`) so its idempotency key stays claimed."""
    stmt = update(outbox).where(outbox.c.id == outbox_id, outbox.c.status == DEAD).values(status=DISCARDED)
    return conn.execute(stmt).rowcount == 1


@dataclass(frozen=True)
class QueueStats:
    counts: dict[str, int]  # rows per status (every status present, zero included)
    depth: int  # pending rows, due or not
    due: int  # pending rows whose available_at has come
    oldest_pending_age_seconds: float | None  # now - created_at of the oldest pending row


def stats(conn: Connection, now: datetime) -> QueueStats:
    counts = dict.fromkeys(STATUSES, 0)
    for status, n in conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)):
        counts[status] = n
    due = conn.execute(
        select(func.count()).where(outbox.c.status == PENDING, outbox.c.available_at <= now)
    ).scalar_one()
    oldest = conn.execute(select(func.min(outbox.c.created_at)).where(outbox.c.status == PENDING)).scalar_one()
    age = (now - oldest).total_seconds() if oldest is not None else None
    return QueueStats(counts=counts, depth=counts[PENDING], due=due, oldest_pending_age_seconds=age)
