"""Batched pushes under real concurrency: sellers of many SKUs on several threads, two workers (each a consumer
runner and an outbox dispatcher) on the real database, SQLite and PostgreSQL, on the system clock.

What must hold per item whatever the interleaving, as for single pushes: at most one push in flight, values never
go back up while only sales happen, the last value pushed is the final available-to-sell; and batches carry many
SKUs, so there are far fewer push calls than SKU pushes."""

from __future__ import annotations

import random
import threading
import time

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.runtime import outbox
from stockpilot.runtime.consumers import ConsumerRunner
from stockpilot.runtime.handlers import automations
from tests.integration.helpers import line, totals
from tests.integration.push_helpers import push_consumer_caught_up, push_rows, push_state, seeded
from tests.support.recording_pusher import RecordingPusher

SKUS, SELLERS, SALES_EACH, ON_HAND = 12, 4, 40, 100


def test_concurrent_sales_of_many_skus_are_batched_one_push_per_item_at_a_time(db_url):
    sp = build(Settings(database_url=db_url, db_pool_size=40, channel_push_window_seconds=0.05,
                        channel_push_gather_seconds=0.01), migrate=False)
    try:
        pusher = RecordingPusher(delay_seconds=0.004, batch_limit=5)
        sp.channel_pushes.pushers["shopify"] = pusher
        names = [f"S{i:02d}" for i in range(SKUS)]
        for sku in names:
            seeded(sp, sku, on_hand=ON_HAND)
        sp.channels.add("shopify", "shop", secret="shop-secret", shop_domain="shop.myshopify.com")
        for i, sku in enumerate(names):
            sp.catalog.map_listing("shop", str(7000 + i), sku, role="inventory_item")
        auto = automations(sp)
        stop = threading.Event()
        errors: list[BaseException] = []

        def worker(worker_id: str) -> None:
            consumers = ConsumerRunner(sp.db, sp.ctx.clock, auto.consumers, worker_id=worker_id, lease_seconds=30)
            dispatcher = outbox.Dispatcher(sp.db, sp.ctx.clock, auto.outbox_handlers, worker_id=worker_id,
                                           outcomes=auto.outcomes, lease_seconds=30)
            try:
                while not stop.is_set():
                    moved = consumers.run_once() + dispatcher.run_once(20).claimed
                    if not moved:
                        time.sleep(0.005)
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)

        def seller(n: int) -> None:
            rng = random.Random(n)
            try:
                for i in range(SALES_EACH):
                    sp.orders.place(f"SO-{n}-{i}", [line(rng.choice(names), 1)])
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(2)]
        sellers = [threading.Thread(target=seller, args=(n,)) for n in range(SELLERS)]
        for t in workers + sellers:
            t.start()
        for t in sellers:
            t.join()
        final = {f"inventory_item:{7000 + i}@default": totals(sp, sku)["available"] for i, sku in enumerate(names)}
        deadline = time.monotonic() + 90  # a bound on waiting, not a timing assertion
        while time.monotonic() < deadline:
            done = not any(s["queued"] for s in push_state(sp))
            by_item = pusher.values_by_item()
            if (done and all(by_item.get(k, [None])[-1] == v for k, v in final.items())
                    and push_consumer_caught_up(sp)):
                break
            time.sleep(0.05)
        stop.set()
        for t in workers:
            t.join()
        assert not errors, errors
        by_item = pusher.values_by_item()
        assert {k: v[-1] for k, v in by_item.items()} == final
        for key, values in by_item.items():
            assert values == sorted(values, reverse=True), (key, values)  # never an older value after a newer one
        assert pusher.max_in_flight == 1
        calls = {r["idempotency_key"] for r in push_rows(sp)}
        item_pushes = sum(len(v) for v in by_item.values())
        assert len(calls) < item_pushes, (len(calls), item_pushes)  # batches carried several SKUs each
        assert {r["status"] for r in push_rows(sp)} == {"delivered"}
    finally:
        sp.close()
