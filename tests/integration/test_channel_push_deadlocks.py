"""The push bookkeeping's writers never deadlock each other (docs/channels.md "Concurrency"), on the real database.

Real threads race: receipts (one import transaction each) change many SKUs of one channel in a shuffled order, so
the `channel_push` consumer walks their StockChanged events and bumps (channel, SKU) rows in that order, while two
outbox dispatchers deliver push batches over the same SKUs and finish them in their outcome hooks (members by
SKU id, follow-ups joining open batches, several pushes per outcome transaction). On PostgreSQL the database's own
deadlock counter (pg_stat_database.deadlocks) must not move; on both databases every row must end consistent.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event, select, text

from stockpilot.adapters.db.channel_push_lock import lock_pushes
from stockpilot.adapters.db.tables import channel_push_batches
from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.runtime import outbox
from stockpilot.runtime.consumers import ConsumerRunner
from stockpilot.runtime.handlers import automations
from tests.integration.deadlock_helpers import no_new_deadlocks
from tests.integration.helpers import totals
from tests.integration.push_batch_helpers import import_counts, list_all, sku_name
from tests.integration.push_helpers import push_rows, push_state
from tests.support.recording_pusher import RecordingPusher

SKUS, RECEIPTS, ON_HAND, BATCH_LIMIT = 60, 30, 1000, 8


def test_receipts_walked_in_shuffled_order_race_batch_outcomes_without_deadlocks(db_url: str, tmp_path: Path):
    settings = Settings(database_url=db_url, db_pool_size=40, channel_push_window_seconds=0.01,
                        channel_push_gather_seconds=0)
    with no_new_deadlocks(db_url, lambda: build(settings, migrate=False)) as sp:
        pusher = RecordingPusher(batch_limit=BATCH_LIMIT)
        sp.channel_pushes.pushers["shopify"] = pusher
        names = [sku_name(i) for i in range(SKUS)]
        sp.catalog.create_location("WH", "WH", "warehouse", 10)
        import_counts(sp, tmp_path, dict.fromkeys(names, ON_HAND), "start")
        sp.channels.add("shopify", "shop", secret="shop-secret", shop_domain="shop.myshopify.com")
        list_all(sp, "shop", {sku: str(7000 + i) for i, sku in enumerate(names)}, "inventory_item")
        auto = automations(sp)
        stop = threading.Event()
        errors: list[BaseException] = []

        def guarded(work: Callable[[], None]) -> Callable[[], None]:
            def run() -> None:
                try:
                    work()
                except BaseException as exc:  # surfaced by the assertion below
                    errors.append(exc)
                    stop.set()
            return run

        def walk() -> None:  # the consumer alone, walking up to 100 events per transaction
            runner = ConsumerRunner(sp.db, sp.ctx.clock, [sp.channel_pushes.consumer()], worker_id="walker",
                                    lease_seconds=60)
            while not stop.is_set():
                if not runner.run_once():
                    time.sleep(0.002)

        def deliver(worker_id: str) -> None:  # push batches out, finish them in the outcome hooks
            dispatcher = outbox.Dispatcher(sp.db, sp.ctx.clock, auto.outbox_handlers, worker_id=worker_id,
                                           outcomes=auto.outcomes, lease_seconds=60)
            while not stop.is_set():
                if not dispatcher.run_once(40).claimed:
                    time.sleep(0.002)

        def receive() -> None:  # each receipt: every SKU one unit down, in a new random order, one transaction
            rng = random.Random(7)
            for n in range(1, RECEIPTS + 1):
                order = names[:]
                rng.shuffle(order)
                import_counts(sp, tmp_path, {sku: ON_HAND - n for sku in order}, f"receipt-{n}")

        threads = [threading.Thread(target=guarded(walk)), threading.Thread(target=guarded(receive))]
        threads += [threading.Thread(target=guarded(lambda w=w: deliver(w))) for w in ("d1", "d2")]
        for t in threads:
            t.start()
        threads[1].join()  # every receipt committed
        final = {f"inventory_item:{7000 + i}@default": ON_HAND - RECEIPTS for i in range(SKUS)}
        deadline = time.monotonic() + 120  # a bound on waiting, not a timing assertion
        while time.monotonic() < deadline and not stop.is_set():
            pending = [r for r in push_rows(sp) if r["status"] == "pending"]
            by_item = pusher.values_by_item()
            if not pending and all(by_item.get(k, [None])[-1] == v for k, v in final.items()):
                break
            time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join()
        assert not errors, errors

        assert all(totals(sp, sku)["available"] == ON_HAND - RECEIPTS for sku in names)
        assert {k: v[-1] for k, v in pusher.values_by_item().items()} == final  # the channel shows the truth
        assert {r["status"] for r in push_rows(sp)} == {"delivered"}  # nothing retried to death, nothing pending
        rows = push_state(sp)
        assert len(rows) == SKUS
        for row in rows:  # settled: nothing queued without a push, every change counted once and pushed
            assert not row["queued"] and row["batch_id"] is None, row
            assert row["generation"] == RECEIPTS + 1, row  # the start import is walked after the listings too
            assert row["pushed_generation"] == row["generation"], row
        with sp.db.read() as conn:
            unfinished = conn.execute(select(channel_push_batches.c.id)
                                      .where(channel_push_batches.c.finished_at.is_(None))).all()
        assert unfinished == []


def test_a_walk_takes_the_push_lock_once_and_a_rolled_back_savepoint_gives_it_back(db_url: str, tmp_path: Path):
    sp = build(Settings(database_url=db_url, channel_push_gather_seconds=0), migrate=False)
    try:
        sp.channel_pushes.pushers["shopify"] = RecordingPusher(batch_limit=BATCH_LIMIT)
        names = [sku_name(i) for i in range(20)]
        sp.catalog.create_location("WH", "WH", "warehouse", 10)
        sp.channels.add("shopify", "shop", secret="shop-secret", shop_domain="shop.myshopify.com")
        import_counts(sp, tmp_path, dict.fromkeys(names, 5), "start")
        list_all(sp, "shop", {sku: str(7000 + i) for i, sku in enumerate(names)}, "inventory_item")
        statements: list[str] = []

        def seen(_conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, _many: bool) -> tuple[str, Any]:
            statements.append(statement)
            return statement, params

        event.listen(sp.db.engine, "before_cursor_execute", seen, retval=True)
        runner = ConsumerRunner(sp.db, sp.ctx.clock, [sp.channel_pushes.consumer()], worker_id="walker")
        assert runner.run_once() == 20  # one walk, one transaction: 20 changes, one batch joined by 19 of them
        locks = [s for s in statements if "pg_advisory_xact_lock" in s]
        assert len(locks) == (1 if db_url.startswith("postgresql") else 0)
        assert [s for s in statements if "channel_push_state" in s]  # (the walk did write the rows)
        if not db_url.startswith("postgresql"):
            return

        def savepoint_rolled_back(conn: Connection) -> tuple[int, int]:
            with conn.begin_nested() as nested:
                lock_pushes(conn)
                nested.rollback()  # PostgreSQL gives back what the savepoint took, the advisory lock included
            lock_pushes(conn)  # so this must lock again
            lock_pushes(conn)  # and this need not
            held = conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                     "AND pid = pg_backend_pid() AND granted")).scalar_one()
            return held, sum("pg_advisory_xact_lock" in s for s in statements)

        statements.clear()
        assert sp.db.write(savepoint_rolled_back) == (1, 2)
    finally:
        sp.close()
