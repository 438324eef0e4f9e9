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
from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.db import channel_store, raw
from stockpilot.adapters.db.database import request_wakeup
from stockpilot.runtime.outbox import OUTBOX_CHANNEL, PENDING

_DELIVERY = raw.Sql(
    "INSERT INTO webhook_deliveries (channel_id, topic, delivery_key, event_key, headers, body, status, duplicates, "
    "received_at) VALUES (?, ?, ?, ?, ?, ?, 'received', 0, ?) ON CONFLICT DO NOTHING RETURNING id"
)
_OUTBOX = raw.Sql(
    "INSERT INTO outbox (topic, payload, idempotency_key, status, attempts, max_attempts, available_at, created_at) "
    "VALUES (?, ?, ?, ?, 0, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
)
# PostgreSQL: both rows in one statement, one round trip per delivery instead of two (a burst is bound by round
# trips there). A row comes back only when the delivery is new; its outbox row is made from the new id.
_BOTH_PG = raw.Sql(
    "WITH d AS (INSERT INTO webhook_deliveries (channel_id, topic, delivery_key, event_key, headers, body, status, "
    "duplicates, received_at) VALUES (?, ?, ?, ?, ?, ?, 'received', 0, ?) ON CONFLICT DO NOTHING RETURNING id), "
    "o AS (INSERT INTO outbox (topic, payload, idempotency_key, status, attempts, max_attempts, available_at, "
    "created_at) SELECT ?, json_build_object('delivery_id', d.id), 'webhook-delivery:' || d.id, ?, 0, ?, ?, ? "
    "FROM d ON CONFLICT (idempotency_key) DO NOTHING RETURNING id) "
    "SELECT d.id, (SELECT count(*) FROM o) FROM d"
)
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
    """Per delivery, in order: (its row id, False) when new, (the earlier row's id, True) for a redelivery.

    A new row is enqueued on `process_topic` with key `webhook-delivery:<id>`, as outbox.enqueue would do it.
    """
    ts = raw.time_value(conn, now)
    answers: list[tuple[int | None, bool]] = []
    enqueued = False
    pg = conn.dialect.name == "postgresql"
    for item in deliveries:
        params: tuple[Any, ...] = (item.channel_id, item.topic, item.delivery_key, item.event_key,
                                   raw.json_value(item.headers), item.body, ts)
        if pg:
            row = raw.execute(conn, _BOTH_PG, (*params, process_topic, PENDING, MAX_ATTEMPTS, ts, ts)).fetchone()
            queued = row is not None and row[1] > 0
        else:
            row = raw.execute(conn, _DELIVERY, params).fetchone()
        if row is None:
            earlier = channel_store.note_duplicate(conn, item.channel_id, item.delivery_key, item.event_key)
            answers.append((earlier, True))
            continue
        delivery_id = int(row[0])
        if not pg:
            queued = raw.execute(conn, _OUTBOX, (
                process_topic, raw.json_value({"delivery_id": delivery_id}), f"webhook-delivery:{delivery_id}",
                PENDING, MAX_ATTEMPTS, ts, ts,
            )).fetchone() is not None
        enqueued = enqueued or queued
        answers.append((delivery_id, False))
    if enqueued:
        request_wakeup(conn, OUTBOX_CHANNEL)
    return answers
