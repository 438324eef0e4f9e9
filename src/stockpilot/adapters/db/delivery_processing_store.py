"""The processor's per-delivery statements on the bare driver cursor (adapters/db/raw.py).

Applying a delivery is a handful of tiny statements (read the batch, its savepoint, its watermark, its outcome)
around the core's own hot path; through Core each costs more to build than to run, and a burst of orders is
applied at the rate these allow. Same statements, same results as channel_store / catalog_store.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.db import raw
from stockpilot.adapters.db.channel_push_lock import forget_push_lock

_CHANNEL_COLUMNS = ("id", "name", "kind", "secret", "shop_domain", "site_url", "store_hash", "api_url",
                    "api_token", "buffer", "location", "active")
_DELIVERIES = (
    "SELECT d.id, d.status, d.topic, d.body, " + ", ".join(f"c.{c}" for c in _CHANNEL_COLUMNS) +
    " FROM webhook_deliveries d JOIN channels c ON c.id = d.channel_id WHERE d.id IN ("
)
_WATERMARK = raw.Sql(
    "INSERT INTO channel_watermarks (channel_id, item_key, source_updated_at, updated_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (channel_id, item_key) DO UPDATE SET source_updated_at = excluded.source_updated_at, "
    "updated_at = excluded.updated_at WHERE channel_watermarks.source_updated_at <= excluded.source_updated_at "
    "RETURNING item_key"
)
_FINISH = raw.Sql(
    "UPDATE webhook_deliveries SET status = ?, reason = ?, error = ?, effect = ?, processed_at = ? "
    "WHERE id = ? AND status = 'received'"
)
_ORDER = raw.Sql("SELECT id, status FROM orders WHERE reference = ?")
# A delivery's own savepoint. Not released when the delivery applied: COMMIT ends them all, so each costs one
# statement, not two (the transaction holds at most a batch of them, nested; ROLLBACK TO undoes the newest).
_SAVEPOINT = raw.Sql("SAVEPOINT delivery")
_ROLLBACK_TO_SAVEPOINT = raw.Sql("ROLLBACK TO SAVEPOINT delivery")
# PostgreSQL, for the rest of the transaction (SET LOCAL; taken before the next delivery's savepoint, so rolling
# that one back keeps it). lock_timeout 0 would mean "wait forever"; 1 ms is the shortest it takes.
_NO_LOCK_WAITS = raw.Sql("SELECT 1", "SET LOCAL lock_timeout = '1ms'")
# lock_not_available (our lock_timeout), deadlock_detected (should a wait outlast it after all)
_LOCK_BUSY_CODES = frozenset({"55P03", "40P01"})


@cache
def _deliveries(count: int) -> raw.Sql:
    return raw.Sql(_DELIVERIES + ", ".join("?" * count) + ")")


def deliveries_and_channels(conn: Connection, delivery_ids: Sequence[int]
                            ) -> list[tuple[dict[str, Any], dict[str, Any]] | None]:
    """Per id, in order: (the delivery's status, topic and body; its channel's row), or None if there is no such
    delivery. One statement for a whole batch; rows of one channel share one channel dict."""
    if not delivery_ids:
        return []
    channels: dict[int, dict[str, Any]] = {}
    found: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
    for row in raw.execute(conn, _deliveries(len(delivery_ids)), delivery_ids).fetchall():
        channel = channels.get(row[4])
        if channel is None:
            channel = channels[row[4]] = dict(zip(_CHANNEL_COLUMNS, row[4:], strict=True))
            channel["active"] = bool(channel["active"])
        found[row[0]] = {"status": row[1], "topic": row[2], "body": bytes(row[3])}, channel
    return [found.get(delivery_id) for delivery_id in delivery_ids]


def advance_watermark(conn: Connection, channel_id: int, item_key: str, source_updated_at: datetime,
                      now: datetime) -> bool:
    """As channel_store.advance_watermark: one statement, True unless a newer payload was applied before."""
    return raw.execute(conn, _WATERMARK, (channel_id, item_key, raw.time_value(conn, source_updated_at),
                                          raw.time_value(conn, now))).fetchone() is not None


def finish_received(conn: Connection, delivery_id: int, *, status: str, effect: Any, now: datetime,
                    reason: str | None = None, error: str | None = None) -> bool:
    """Record the outcome of a delivery still `received`; False if it left that status meanwhile."""
    return raw.execute(conn, _FINISH, (status, reason, error, raw.json_value(effect), raw.time_value(conn, now),
                                       delivery_id)).rowcount == 1


def order_by_reference(conn: Connection, reference: str) -> dict[str, Any] | None:
    """The order's id and status (an order placed from this channel's delivery before), or None."""
    row = raw.execute(conn, _ORDER, (reference,)).fetchone()
    return {"id": row[0], "status": row[1]} if row else None


def sharing_round_trips(conn: Connection) -> AbstractContextManager[None]:
    """A batch's write transaction in which statements nobody reads the answer of (savepoints, event rows, order
    lines) travel with the next one that is read (raw.deferring: PostgreSQL pipelines)."""
    return raw.deferring(conn)


def savepoint(conn: Connection) -> None:
    """Mark the start of one delivery's effects (undo them with rollback_to_savepoint)."""
    raw.defer(conn, _SAVEPOINT)


def rollback_to_savepoint(conn: Connection) -> None:
    """Undo everything since the latest savepoint(): the delivery that failed, not the ones applied before it."""
    if raw.drop_deferred_from(conn, _SAVEPOINT):
        return  # the savepoint was still held back, and all after it: none of it reached the database
    raw.execute(conn, _ROLLBACK_TO_SAVEPOINT)
    forget_push_lock(conn)  # PostgreSQL gave back a push lock taken since the savepoint (a count's)


def no_lock_waits(conn: Connection) -> None:
    """From here to the end of the transaction a lock held by another transaction is not waited for: the statement
    fails at once (lock_busy). Taken after a batch's first delivery: one that waited while holding the rows of the
    deliveries before it (SKUs in delivery order, not in one sorted order) could close a cycle with another lane
    doing the same. (It covers COMMIT too, so an apply transaction must not NOTIFY: its commit would wait for
    the notification queue's lock under it. Applying deliveries enqueues no outbox rows.) SQLite: nothing."""
    if conn.dialect.name == "postgresql":
        raw.defer(conn, _NO_LOCK_WAITS)


def lock_busy(exc: BaseException) -> bool:
    """Whether `exc` is a statement refused because a lock was held elsewhere (after no_lock_waits)."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in _LOCK_BUSY_CODES
