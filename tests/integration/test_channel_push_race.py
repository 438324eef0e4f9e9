"""The push pipeline under real concurrency: sellers on several threads, two workers (each a consumer runner and an
outbox dispatcher with its own id) on the real database, SQLite and PostgreSQL, on the system clock.

What must hold whatever the interleaving: at most one push per item in flight, values pushed never go back up
while only sales happen (no stale value after a newer one), the last value pushed is the final available-to-sell,
and far fewer pushes than sales.
"""

from __future__ import annotations

import threading
import time

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.runtime import outbox
from stockpilot.runtime.consumers import ConsumerRunner
from stockpilot.runtime.handlers import automations
from tests.integration.helpers import line, totals
from tests.integration.push_helpers import (
    push_consumer_caught_up,
    push_rows,
    push_state,
    pushed_values,
    seeded,
    shop,
)
from tests.support.recording_pusher import RecordingPusher

SELLERS, SALES_EACH, ON_HAND = 4, 40, 400


def test_concurrent_sales_and_two_workers_push_the_final_value_one_at_a_time(db_url):
    sp = build(Settings(database_url=db_url, db_pool_size=40, channel_push_window_seconds=0.05), migrate=False)
    try:
        pusher = RecordingPusher(delay_seconds=0.004)
        sp.channel_pushes.pushers["shopify"] = pusher
        seeded(sp, on_hand=ON_HAND)
        shop(sp)
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
            try:
                for i in range(SALES_EACH):
                    sp.orders.place(f"SO-{n}-{i}", [line("TEE", 1)])
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(2)]
        sellers = [threading.Thread(target=seller, args=(n,)) for n in range(SELLERS)]
        for t in workers + sellers:
            t.start()
        for t in sellers:
            t.join()
        final = ON_HAND - SELLERS * SALES_EACH
        deadline = time.monotonic() + 60  # a bound on waiting, not a timing assertion
        while time.monotonic() < deadline:
            state = push_state(sp)
            if (state and not state[0]["queued"] and pusher.values() and pusher.values()[-1] == final
                    and push_consumer_caught_up(sp)):
                break
            time.sleep(0.05)
        stop.set()
        for t in workers:
            t.join()
        assert not errors, errors
        assert totals(sp, "TEE")["available"] == final
        values = pusher.values()
        assert values[-1] == final
        assert values == sorted(values, reverse=True), values  # never an older value after a newer one
        assert pusher.max_in_flight == 1
        assert len(values) < SELLERS * SALES_EACH / 2, len(values)
        assert pushed_values(sp) == {"inventory_item:4411@default": (final, final)}
        assert {r["status"] for r in push_rows(sp)} == {"delivered"}
        assert push_state(sp)[0]["pushes"] == len(values)
    finally:
        sp.close()
