"""One lock in front of the outbound push bookkeeping (`channel_push_state`, `channel_push_batches`,
`channel_pushes`): every transaction that writes them takes it first, so they never wait on each other's rows in
two orders (docs/channels.md "Concurrency").

Why one lock and not one per channel: the transactions that write these rows do it in an order they cannot choose.
The consumer walk bumps (channel, SKU) rows in event order; a dispatcher's outcome transaction finishes up to 20
pushes (single SKUs and whole batches, several channels) in claim order. Neither knows which channels it will meet
before it meets them, so per-channel locks taken as met would be a new lock-order cycle. With one lock, a writer
waits once, at its first push write, for the writer in front of it to commit, instead of deadlocking (1 s of
`deadlock_timeout`, then a retry of the whole transaction).

PostgreSQL: a transaction-scoped advisory lock (per database), taken once per transaction (cached on the
connection, keyed by the transaction: a walk of 100 events asks once). A savepoint rolled back releases it, so the
cache is dropped then. SQLite: nothing; its single writer already orders every write transaction.
"""

from __future__ import annotations

import threading
import weakref

from sqlalchemy import Connection, Engine, event

from stockpilot.adapters.db import raw

# An arbitrary constant in the advisory key space ("stockpilot channel push"); no other lock of Stockpilot uses it.
PUSH_LOCK_KEY = 0x5370_4368_5075_7368
_HELD = "stockpilot.channel_push_lock"  # conn.info key: the root transaction that holds the lock
_LOCK = raw.Sql("SELECT 1", "SELECT pg_advisory_xact_lock(?)")

_watched: weakref.WeakSet[Engine] = weakref.WeakSet()
_watching = threading.Lock()


def lock_pushes(conn: Connection) -> None:
    """Before this transaction's first write of push bookkeeping: wait for any other writer of it to commit."""
    if conn.dialect.name != "postgresql":
        return
    transaction = conn.get_transaction()
    if transaction is not None and conn.info.get(_HELD) is transaction:
        return
    _watch(conn.engine)
    raw.execute(conn, _LOCK, (PUSH_LOCK_KEY,)).fetchall()
    conn.info[_HELD] = transaction


def _watch(engine: Engine) -> None:
    """Forget the lock when a savepoint rolls back (PostgreSQL releases locks taken inside it)."""
    if engine in _watched:
        return
    with _watching:
        if engine not in _watched:
            event.listen(engine, "rollback_savepoint", _forget)
            _watched.add(engine)


def _forget(conn: Connection, _name: object, _context: object) -> None:
    forget_push_lock(conn)


def forget_push_lock(conn: Connection) -> None:
    """A savepoint rolled back on the bare cursor (which SQLAlchemy's event does not see): the lock may have been
    given back, so the next writer asks again (asking for a lock already held is granted at once)."""
    conn.info.pop(_HELD, None)
