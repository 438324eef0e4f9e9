"""Racing real threads against the real database: oversells from many buyers, several runtime runners and a manual
flush at once still yield one PO per SKU whose quantity is exactly the deficit, never a duplicate."""

from __future__ import annotations

import threading

import pytest

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.runtime import timers as tm
from stockpilot.runtime.consumers import ConsumerRunner
from stockpilot.runtime.handlers import automations
from tests.integration.helpers import line, stock, totals
from tests.integration.purchasing_helpers import Runtime, purchase_orders
from tests.support.smtp_server import SmtpServer

BUYERS, ORDERS_EACH = 8, 5


@pytest.mark.slow
@pytest.mark.parametrize("window", [0, 5])
def test_racing_oversells_runners_and_flushes_make_one_po_of_the_exact_deficit(db_url, clock, window):
    with SmtpServer() as smtp:
        sp = build(Settings(database_url=db_url, db_pool_size=30, smtp_url=smtp.url,
                            mail_from="buyer@shop.example", oversell_window_seconds=window), clock=clock,
                   migrate=False)
        try:
            stock(sp, "TEE", {"WH": 0}, backorder_policy="allow")
            sp.suppliers.add("ACME", {"name": "Acme", "delivery_method": "email", "email": "po@acme.test"})
            sp.suppliers.set_offer("ACME", "TEE", {"unit_cost": "1.00", "lead_time_days": 3})
            auto = automations(sp)
            done = threading.Event()
            errors: list[BaseException] = []

            def guarded(work):
                def run():
                    try:
                        work()
                    except BaseException as exc:  # surfaced by the assertion below
                        errors.append(exc)
                return run

            def buyer(n):
                for i in range(ORDERS_EACH):
                    sp.orders.place(f"b{n}-{i}", [line("TEE", 1)], source=f"channel-{n % 3}")

            def consumer(name):
                runner = ConsumerRunner(sp.db, clock, auto.consumers, worker_id=name, lease_seconds=30)
                while not done.is_set():
                    runner.run_once()

            def timer(name):
                runner = tm.TimerRunner(sp.db, clock, auto.timer_handlers, worker_id=name, lease_seconds=30)
                while not done.is_set():
                    runner.run_once()

            def flusher():
                while not done.is_set():
                    sp.purchasing.flush_now()

            buyers = [threading.Thread(target=guarded(lambda n=n: buyer(n))) for n in range(BUYERS)]
            runtime = [threading.Thread(target=guarded(lambda n=n: consumer(f"c{n}"))) for n in range(2)]
            runtime += [threading.Thread(target=guarded(lambda n=n: timer(f"t{n}"))) for n in range(2)]
            runtime.append(threading.Thread(target=guarded(flusher)))
            for thread in runtime + buyers:
                thread.start()
            for thread in buyers:
                thread.join()
            done.set()
            for thread in runtime:
                thread.join()
            # The racing runners may have seen the last signals at any moment; once they are stopped, let the
            # consumer catch up, then pass every window so each flush timer booked so far is due.
            Runtime.build(sp).settle()
            clock.advance(seconds=window + 1)
            Runtime.build(sp).settle()
            assert errors == []

            deficit = BUYERS * ORDERS_EACH
            pos = purchase_orders(sp)
            assert len(pos) == 1, [(p["number"], p["status"], p["lines"]) for p in pos]
            (po,) = pos
            assert po["status"] == "sent" and po["lines"][0]["quantity"] == deficit
            assert totals(sp, "TEE")["incoming"] == deficit
            assert sp.checker.run().problems == []
            messages = smtp.wait_for(po["revision"] + 1)
            assert len({m["Message-ID"] for m in messages}) == po["revision"] + 1  # one mail per revision
        finally:
            sp.close()
