"""The intake's writes on the bare driver cursor: a webhook delivery row and its outbox row, for many at once.

Intake is the one request a platform can send thousands of a second, so these run pre-rendered (adapters/db/raw.py)
instead of through Core (~20 µs of statement building each). Several deliveries may share one transaction (the
HTTP fast path batches concurrent ones into one commit); each is still its own pair of rows, and a redelivery,
even of a delivery earlier in the same batch, is counted on the row it repeats exactly as if they came one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.db import channel_store, raw
from stockpilot.adapters.db.database import request_local_wakeup
from stockpilot.runtime.outbox import OUTBOX_CHANNEL, PENDING

_DELIVERY = raw.Sql(
    "INSERT INTO webhook_deliveries (channel_id, topic, delivery_key, event_key, headers, body, status, duplicates, "
    "received_at) VALUES (?, ?, ?, ?, ?, ?, 'received', 0, ?) ON CONFLICT DO NOTHING RETURNING id"
)
_OUTBOX = raw.Sql(
    "INSERT INTO outbox (topic, payload, idempotency_key, status, attempts, max_attempts, available_at, created_at) "
    "VALUES (?, ?, ?, ?, 0, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
)
# PostgreSQL: every delivery of the batch and its outbox row in ONE statement (a burst there is bound by round
# trips: one per delivery was a third of the intake's time). Rows come back only for new deliveries, with their
# keys, so each input finds its id; the outbox rows are made from the new ids, and the NOTIFY that wakes other
# processes' workers is part of it too (heard when it commits), so the statement is a transaction by itself.
# The batch travels as VALUES rows of plain parameters, not as arrays to unnest: psycopg renders array parameters
# in Python, element by element (~4 ms of CPU for 32 deliveries of 6 KB, ten times the same rows as scalars), and
# that was the intake's largest cost. One statement text per batch size, prepared by the driver like any other.
_ALL_PG_HEAD = "WITH input (channel_id, topic, delivery_key, event_key, headers, body, n) AS (VALUES "
_ALL_PG_ROW = "(?::int, ?::text, ?::text, ?::text, ?::text, ?::bytea, {n})"
_ALL_PG_TAIL = (
    "), d AS (INSERT INTO webhook_deliveries (channel_id, topic, delivery_key, event_key, headers, body, status, "
    "duplicates, received_at) SELECT channel_id, topic, delivery_key, event_key, headers::json, body, 'received', 0, ? "
    "FROM input ORDER BY n ON CONFLICT DO NOTHING RETURNING id, channel_id, delivery_key), "
    "o AS (INSERT INTO outbox (topic, payload, idempotency_key, status, attempts, max_attempts, available_at, "
    "created_at) SELECT ?, json_build_object('delivery_id', d.id), 'webhook-delivery:' || d.id, ?, 0, ?, ?, ? "
    "FROM d ON CONFLICT (idempotency_key) DO NOTHING RETURNING id), "
    "w AS (SELECT pg_notify(?, '') FROM (SELECT 1 FROM o LIMIT 1) AS one) "
    "SELECT d.id, d.channel_id, d.delivery_key, (SELECT count(*) FROM w) FROM d"
)


@cache
def _all_pg(size: int) -> raw.Sql:
    return raw.Sql(_ALL_PG_HEAD + ", ".join(_ALL_PG_ROW.format(n=n) for n in range(size)) + _ALL_PG_TAIL)


MAX_ATTEMPTS = 8  # as outbox.enqueue's default


@dataclass(frozen=True, slots=True)
class NewDelivery:
    channel_id: int
    topic: str
    delivery_key: str
    event_key: str | None
    headers: dict[str, str]
    body: bytes


def store(conn: Connection, deliveries: Sequence[NewDelivery], now: datetime, process_topic: str
          ) -> list[tuple[int | None, bool]]:
    """Per delivery, in order: (its row id, False) when new, (the earlier row's id, True) for a redelivery; in the
    caller's transaction. A new row is enqueued on `process_topic` with key `webhook-delivery:<id>`, as
    outbox.enqueue would do it."""
    new_ids = insert_new(conn, deliveries, now, process_topic)
    return with_repeats(new_ids, count_repeats(conn, [d for d, i in zip(deliveries, new_ids, strict=True)
                                                      if i is None]))


def insert_new(conn: Connection, deliveries: Sequence[NewDelivery], now: datetime, process_topic: str
               ) -> list[int | None]:
    """Store and enqueue the new deliveries; per delivery, in order, its new row's id, or None where it repeats a
    stored row (or one earlier in the batch: count those with `count_repeats`). On PostgreSQL ONE statement,
    outbox wakeup included, so it is complete by itself (Database.write_statements)."""
    ts = raw.time_value(conn, now)
    if conn.dialect.name == "postgresql":
        new_ids, enqueued = _insert_all_pg(conn, deliveries, ts, process_topic)
    else:
        new_ids, enqueued = _insert_each(conn, deliveries, ts, process_topic)
    if enqueued:
        request_local_wakeup(conn, OUTBOX_CHANNEL)  # other processes: the statement's own pg_notify
    return new_ids


def count_repeats(conn: Connection, repeats: Sequence[NewDelivery]) -> list[int | None]:
    """Count each redelivery on the row it repeats; that row's id, per repeat."""
    return [channel_store.note_duplicate(conn, d.channel_id, d.delivery_key, d.event_key) for d in repeats]


def with_repeats(new_ids: Sequence[int | None], earlier_ids: Sequence[int | None]
                 ) -> list[tuple[int | None, bool]]:
    """(id, False) per new delivery and (the repeated row's id, True) per repeat, in the deliveries' order."""
    earlier = iter(earlier_ids)
    return [(i, False) if i is not None else (next(earlier), True) for i in new_ids]


def _insert_each(conn: Connection, deliveries: Sequence[NewDelivery], ts: Any, process_topic: str
                 ) -> tuple[list[int | None], bool]:
    """SQLite: two in-process statements a delivery (microseconds each; nothing to gain from one)."""
    new_ids: list[int | None] = []
    enqueued = False
    for item in deliveries:
        row = raw.execute(conn, _DELIVERY, (item.channel_id, item.topic, item.delivery_key, item.event_key,
                                            raw.json_value(item.headers), item.body, ts)).fetchone()
        if row is None:
            new_ids.append(None)
            continue
        delivery_id = int(row[0])
        enqueued = raw.execute(conn, _OUTBOX, (
            process_topic, raw.json_value({"delivery_id": delivery_id}), f"webhook-delivery:{delivery_id}",
            PENDING, MAX_ATTEMPTS, ts, ts,
        )).fetchone() is not None or enqueued
        new_ids.append(delivery_id)
    return new_ids, enqueued


def _insert_all_pg(conn: Connection, deliveries: Sequence[NewDelivery], ts: Any, process_topic: str
                   ) -> tuple[list[int | None], bool]:
    """PostgreSQL: one statement for the batch. The first of several inputs with one key is the new row (they are
    inserted in input order); every other input whose row did not come back repeats a row that exists now (stored
    earlier, or by this statement)."""
    params: list[Any] = []
    for d in deliveries:
        params += (d.channel_id, d.topic, d.delivery_key, d.event_key, raw.json_value(d.headers), d.body)
    params += (ts, process_topic, PENDING, MAX_ATTEMPTS, ts, ts, OUTBOX_CHANNEL)
    rows = raw.execute(conn, _all_pg(len(deliveries)), params).fetchall()
    new = {(int(r[1]), r[2]): int(r[0]) for r in rows}
    return [new.pop((d.channel_id, d.delivery_key), None) for d in deliveries], bool(rows) and int(rows[0][3]) > 0
