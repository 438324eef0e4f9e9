"""A dispatcher's outcome transaction records the push outcomes first (outbox.OutcomeHook.runs_first), on the real
database, with real threads.

The push lock is taken by its other holders before any row of theirs: a channel count takes it before the SKU it
counts (services/channel_counts.py). An outcome transaction that recorded, in claim order, another topic's hook
that changes stock (a PO acknowledged with fewer units: `incoming` down) and then a push's hook held the SKU while
waiting for the push lock, against a count holding the push lock and waiting for the SKU: a deadlock.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from stockpilot.adapters.db import catalog_store, ledger
from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.domain.model import Delta, MovementKind
from stockpilot.runtime import outbox
from stockpilot.runtime.handlers import automations
from stockpilot.services.channel_push import TOPIC as CHANNEL_PUSH_TOPIC
from stockpilot.services.webhook_processing import WebhookProcessor
from tests.integration.channel_helpers import add_shopify, deliveries, post_shopify
from tests.integration.deadlock_helpers import no_new_deadlocks
from tests.integration.helpers import stock, totals
from tests.integration.push_helpers import push_rows
from tests.integration.test_channel_count_push_lock import waiting_on_a_lock
from tests.support.recording_pusher import RecordingPusher
from tests.support.serve_process import api_client

STOCK_TOPIC = "test.stock_outcome"


class ChangesStock:
    """The outcome hook of a topic whose delivery changes stock (as a PO acknowledged short takes units off
    `incoming`); it holds its transaction open, SKU taken, until the count has come to wait for a lock."""

    def __init__(self, postgres: bool, url: str) -> None:
        self.postgres, self.url = postgres, url
        self.sku_taken = threading.Event()

    def delivered(self, conn: Connection, payload: dict[str, Any], idempotency_key: str, now: datetime,
                  result: Any = None) -> None:
        sku, location = catalog_store.sku_ref(conn, "TEE"), catalog_store.location_ref(conn, "WH")
        assert sku is not None and location is not None
        ledger.apply(conn, sku=sku, location=location, kind=MovementKind.INCOMING, delta=Delta(incoming=-1),
                     floor=None, source="test", reference="PO-1", idempotency_key="test:po-1:short", now=now)
        self.sku_taken.set()
        if self.postgres:
            assert waiting_on_a_lock(self.url), "the count never met the outcome transaction"

    def dead(self, conn: Connection, payload: dict[str, Any], idempotency_key: str, error: str,
             now: datetime) -> None:
        return None


def test_an_outcome_transaction_takes_the_push_lock_before_another_hooks_stock_change(db_url: str):
    postgres = db_url.startswith("postgresql")
    settings = Settings(database_url=db_url, db_pool_size=10, channel_push_gather_seconds=0)
    with no_new_deadlocks(db_url, lambda: build(settings, migrate=False)) as sp:
        sp.channel_pushes.pushers["shopify"] = RecordingPusher()
        stock(sp, "TEE", {"WH": 10})
        sp.db.write(lambda conn: ledger.apply(
            conn, sku=catalog_store.sku_ref(conn, "TEE"), location=catalog_store.location_ref(conn, "WH"),
            kind=MovementKind.INCOMING, delta=Delta(incoming=5), floor=None, source="test", reference="PO-1",
            idempotency_key="test:po-1:sent", now=sp.ctx.clock.now()))
        with api_client(sp) as client:
            add_shopify(client, location="WH")
            sp.catalog.map_listing("shop", "4411", "TEE", role="inventory_item")
            count = {"inventory_item_id": 4411, "location_id": 905684977, "available": 7,
                     "updated_at": "2026-01-05T10:00:00Z",
                     "admin_graphql_api_id": "gid://shopify/InventoryLevel/4411?inventory_item_id=4411"}
            assert post_shopify(client, "inventory_levels/update", count).status_code == 200
            (delivery,) = deliveries(client)
        with sp.db.read() as conn:
            channel = dict(conn.execute(text("SELECT id, name, kind FROM channels")).mappings().one())
            sku_id = int(conn.execute(text("SELECT id FROM skus WHERE sku = 'TEE'")).scalar_one())

        def claimed_in_this_order(conn: Connection) -> None:  # the stock-changing row first, then the push
            now = sp.ctx.clock.now()
            outbox.enqueue(conn, STOCK_TOPIC, {}, "test:stock-outcome", now)
            assert sp.channel_pushes.request(conn, channel, sku_id, "TEE") is not None

        sp.db.write(claimed_in_this_order)
        auto = automations(sp)
        hook = ChangesStock(postgres, db_url)
        dispatcher = outbox.Dispatcher(sp.db, sp.ctx.clock, {**auto.outbox_handlers, STOCK_TOPIC: lambda p, k: None},
                                       worker_id="w1", outcomes={**auto.outcomes, STOCK_TOPIC: hook},
                                       topics=[STOCK_TOPIC, CHANNEL_PUSH_TOPIC])  # the count: applied below
        errors: list[BaseException] = []
        reports: list[outbox.DispatchReport] = []
        outcomes: list[Any] = []

        def dispatch() -> None:
            try:
                reports.append(dispatcher.run_once(10))
            except BaseException as exc:  # surfaced below
                errors.append(exc)
                hook.sku_taken.set()

        def apply_count() -> None:  # a channel count of the same SKU, applied while that outcome commits
            hook.sku_taken.wait(30)
            try:
                outcomes.extend(WebhookProcessor(sp.ctx, sp.orders).batch(
                    [({"delivery_id": delivery["id"]}, f"webhook-delivery:{delivery['id']}")]))
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=dispatch), threading.Thread(target=apply_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        assert reports[0].delivered == 2, reports
        assert [o.get("status") if isinstance(o, dict) else repr(o) for o in outcomes] == ["processed"], outcomes
        assert totals(sp, "TEE")["incoming"] == 4
        assert totals(sp, "TEE")["on_hand"] == 7  # never pushed to: the channel's count is the location's count
        assert {r["status"] for r in push_rows(sp)} == {"delivered"}
        assert sp.checker.run().problems == []
