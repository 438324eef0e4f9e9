"""A create and a cancel of the same order, processed at the same moment by two workers (real threads, real
database): the order's watermark and its effect share one transaction, so they cannot cross and leave the
cancelled order's units committed."""

from __future__ import annotations

import threading

import pytest

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.runtime import outbox as ob
from stockpilot.runtime.handlers import automations
from tests.integration.channel_helpers import add_shopify, deliveries, post_shopify, shopify_order
from tests.integration.helpers import stock, totals
from tests.support.serve_process import api_client

ORDERS = 12


@pytest.fixture
def app(db_url, clock):
    sp = build(Settings(database_url=db_url, oversell_window_seconds=0, db_pool_size=20), clock=clock,
               migrate=False)
    yield sp
    sp.close()


def test_a_create_and_its_cancel_applied_at_once_by_two_workers_never_leave_units_committed(app, clock):
    stock(app, "sku-hosted-1", {"WH": 100})
    with api_client(app) as client:
        add_shopify(client)
        for n in range(ORDERS):
            # Cancels first in the queue half of the time, so both orders of arrival race.
            create = ("orders/create", shopify_order(order_id=100 + n, quantity=2, updated_at="2023-03-24T10:00:00Z"))
            cancel = ("orders/cancelled", shopify_order(order_id=100 + n, quantity=2,
                                                        updated_at="2023-03-24T11:00:00Z"))
            for topic, body in ((create, cancel) if n % 2 else (cancel, create)):
                assert post_shopify(client, topic, body).status_code == 200
        auto = automations(app)
        dispatchers = [ob.Dispatcher(app.db, clock, auto.outbox_handlers, worker_id=f"w{i}", outcomes=auto.outcomes)
                       for i in range(2)]
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def run(dispatcher: ob.Dispatcher) -> None:
            start.wait()
            try:
                while dispatcher.run_once(limit=1).claimed:  # one row a pass: the two interleave
                    pass
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(d,)) for d in dispatchers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors
        assert totals(app, "sku-hosted-1")["committed"] == 0
        rows = deliveries(client)
        assert len(rows) == 2 * ORDERS and {r["status"] for r in rows} <= {"processed", "ignored"}
    assert app.checker.run().problems == []
