"""Webhook lanes (several dispatcher threads, each applying a batch of deliveries in one transaction) on the real
database: a delivery after the first of a transaction never waits for a lock while holding the ones the deliveries
before it took (docs/channels.md "Concurrency"), so two lanes applying [an order of TEE, an order of MUG] and
[MUG, TEE] at the same instant do not deadlock: the one that finds its second SKU taken commits what it applied
and applies that delivery first in its next transaction, where waiting is safe.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import event

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.domain.clock import ManualClock
from stockpilot.services import webhook_processing
from stockpilot.services.webhook_processing import WebhookProcessor
from tests.integration.channel_helpers import add_shopify, deliveries, post_shopify, shopify_order
from tests.integration.deadlock_helpers import no_new_deadlocks
from tests.integration.helpers import stock, totals
from tests.support.serve_process import api_client

_TAKE = "WITH s AS (SELECT id FROM skus WHERE id = "  # the ledger's statement: it locks the SKU first


def test_two_lanes_taking_two_skus_in_opposite_orders_at_once_do_not_deadlock(db_url: str, monkeypatch):
    # Each lane's two deliveries in one transaction, as on a quiet machine (a loaded one may spend the 10 ms
    # budget on the first and commit it alone).
    monkeypatch.setattr(webhook_processing, "APPLY_BUDGET_SECONDS", 60.0)
    postgres = db_url.startswith("postgresql")
    settings = Settings(database_url=db_url, db_pool_size=10)
    with no_new_deadlocks(db_url, lambda: build(settings, clock=ManualClock(), migrate=False)) as sp:
        stock(sp, "TEE", {"WH": 50})
        stock(sp, "MUG", {"WH": 50})
        with api_client(sp) as client:
            add_shopify(client)
            for order_id, sku in enumerate(("TEE", "MUG", "MUG", "TEE"), start=1):
                assert post_shopify(client, "orders/create", shopify_order(order_id, 1, sku)).status_code == 200
            ids = sorted(row["id"] for row in deliveries(client))
        processor = WebhookProcessor(sp.ctx, sp.orders)
        lanes = [[ids[0], ids[1]], [ids[2], ids[3]]]  # lane 1: TEE then MUG; lane 2: MUG then TEE
        outcomes: list[list[Any]] = [[], []]
        errors: list[BaseException] = []
        # Each lane, holding its first SKU, waits for the other to hold its own before taking its second: the
        # instant in which the crossed takes meet (PostgreSQL: SQLite's one writer runs the lanes one by one).
        both_hold_one = threading.Barrier(2, timeout=30)
        takes = threading.local()

        def meet_at_second_take(_conn: Any, _cursor: Any, statement: str, params: Any, _context: Any,
                                _many: bool) -> tuple[str, Any]:
            if statement.startswith(_TAKE):
                takes.n = getattr(takes, "n", 0) + 1
                if takes.n == 2:
                    both_hold_one.wait()
            return statement, params

        if postgres:
            event.listen(sp.db.engine, "before_cursor_execute", meet_at_second_take, retval=True)

        def lane(n: int) -> None:
            try:
                outcomes[n] = processor.batch([({"delivery_id": i}, f"webhook-delivery:{i}") for i in lanes[n]])
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=lane, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        statuses = [o.get("status") if isinstance(o, dict) else repr(o) for o in outcomes[0] + outcomes[1]]
        assert statuses == ["processed"] * 4, outcomes
        assert totals(sp, "TEE")["committed"] == 2 and totals(sp, "MUG")["committed"] == 2
        assert sp.checker.run().problems == []
