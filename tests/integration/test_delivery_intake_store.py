"""The intake's batched insert (adapters/db/delivery_intake_store.py) on each backend: in one batch, new
deliveries, a redelivery of one of them, another delivery of the same platform event, a redelivery of a row stored
earlier; each answer is as if they had come one by one, and only the new rows are enqueued. Both ways in: `store`
in the caller's transaction (Amazon polling) and `WebhookIntake.persist` (the HTTP intake: one statement in
autocommit on PostgreSQL, then the repeats counted), whose NOTIFY other processes' workers must hear."""

from __future__ import annotations

import select as select_module

import psycopg
import pytest
from sqlalchemy import func, select

from stockpilot.adapters.db import channel_store, delivery_intake_store
from stockpilot.adapters.db.delivery_intake_store import NewDelivery
from stockpilot.adapters.db.tables import outbox, webhook_deliveries
from stockpilot.runtime.outbox import OUTBOX_CHANNEL
from stockpilot.services.webhook_intake import PROCESS_TOPIC


def _channel(sp) -> int:
    sp.channels.add("shopify", "shop", secret="s", shop_domain="shop.myshopify.com")
    with sp.db.read() as conn:
        return int(channel_store.channel_where(conn, name="shop")["id"])


def _delivery(channel_id: int, key: str, event: str | None, body: bytes = b"{}") -> NewDelivery:
    return NewDelivery(channel_id, "orders/create", key, event, {"x-shopify-topic": "orders/create"}, body)


def _in_transaction(sp, batch, clock):
    return sp.db.write(lambda conn: delivery_intake_store.store(conn, batch, clock.now(), PROCESS_TOPIC))


def _through_intake(sp, batch, clock):
    return [(a.delivery_id, a.duplicate) for a in sp.webhook_intake.persist(batch)]


@pytest.mark.parametrize("persist", [_in_transaction, _through_intake])
def test_a_mixed_batch_is_answered_as_if_one_by_one(sp, clock, persist):
    channel_id = _channel(sp)
    earlier = sp.db.write(lambda conn: delivery_intake_store.store(
        conn, [_delivery(channel_id, "webhook:old", "orders/create:e-old")], clock.now(), PROCESS_TOPIC))
    ((old_id, old_dup),) = earlier
    assert not old_dup

    batch = [
        _delivery(channel_id, "webhook:a", "orders/create:e-a", b'{"id": 1}'),
        _delivery(channel_id, "webhook:a", "orders/create:e-a"),  # a redelivery racing its original
        _delivery(channel_id, "webhook:b", "orders/create:e-a"),  # the same event, another webhook id
        _delivery(channel_id, "webhook:old", "orders/create:e-old"),  # a redelivery of a stored row
        _delivery(channel_id, "webhook:c", None, b'{"id": 3}'),
        _delivery(channel_id, "webhook:d", None, b'{"id": 4}'),
    ]
    answers = persist(sp, batch, clock)

    (a_id, a_dup), *rest = answers
    assert not a_dup
    assert rest[0] == (a_id, True) and rest[1] == (a_id, True)
    assert rest[2] == (old_id, True)
    (c_id, c_dup), (d_id, d_dup) = rest[3], rest[4]
    assert not c_dup and not d_dup and len({old_id, a_id, c_id, d_id}) == 4

    with sp.db.read() as conn:
        rows = {r.id: r for r in conn.execute(select(webhook_deliveries))}
        keys = set(conn.execute(select(outbox.c.idempotency_key).where(outbox.c.topic == PROCESS_TOPIC)).scalars())
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 4
    assert set(rows) == {old_id, a_id, c_id, d_id}
    assert rows[a_id].duplicates == 2 and rows[old_id].duplicates == 1 and rows[c_id].duplicates == 0
    assert bytes(rows[a_id].body) == b'{"id": 1}' and bytes(rows[d_id].body) == b'{"id": 4}'
    assert rows[a_id].headers == {"x-shopify-topic": "orders/create"}
    assert keys == {f"webhook-delivery:{i}" for i in (old_id, a_id, c_id, d_id)}


def test_a_batch_of_only_redeliveries_enqueues_nothing(sp, clock):
    channel_id = _channel(sp)
    first = [_delivery(channel_id, f"webhook:{n}", None) for n in range(3)]
    stored = sp.db.write(lambda conn: delivery_intake_store.store(conn, first, clock.now(), PROCESS_TOPIC))
    again = sp.db.write(lambda conn: delivery_intake_store.store(conn, first, clock.now(), PROCESS_TOPIC))
    assert again == [(delivery_id, True) for delivery_id, _ in stored]
    with sp.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 3


def test_the_intake_statement_wakes_workers_in_other_processes(sp, clock, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has no other processes' workers to wake: they poll")
    channel_id = _channel(sp)
    listener = psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
    try:
        listener.execute(f"LISTEN {OUTBOX_CHANNEL}")
        sp.webhook_intake.persist([_delivery(channel_id, "webhook:woken", None)])
        heard = select_module.select([listener.fileno()], [], [], 10)[0] and list(listener.notifies(timeout=1))
        assert heard and heard[0].channel == OUTBOX_CHANNEL
        sp.webhook_intake.persist([_delivery(channel_id, "webhook:woken", None)])  # a repeat enqueues nothing
        assert list(listener.notifies(timeout=0.5)) == []
    finally:
        listener.close()
