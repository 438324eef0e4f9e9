"""The per-contact frequency cap holds under racing waves: workers firing the waves of several SKUs at the same time
(real threads, one TimerRunner each, as separate worker processes would) on SQLite and PostgreSQL never tell a
contact more than `waitlist_cap_messages` times, and nobody under the cap is left out."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from alembic import command
from sqlalchemy import select

from stockpilot.adapters.db.migrate import alembic_config, upgrade
from stockpilot.adapters.db.tables import waitlist, waitlist_cap_slots
from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.runtime import timers
from stockpilot.runtime.handlers import automations
from stockpilot.services.waitlist_waves import WAVE_TIMER
from tests.integration.helpers import stock
from tests.integration.purchasing_helpers import Runtime, outbox_rows

SKUS = ["A", "B", "C", "D"]
CONTACTS = [f"fan{i:02}@example.com" for i in range(25)]


def test_racing_waves_of_four_skus_tell_each_contact_at_most_its_cap(db_url, clock):
    sp = build(Settings(database_url=db_url, db_pool_size=20, waitlist_cap_messages=2, waitlist_cap_days=7),
               clock=clock, migrate=False)
    try:
        for sku in SKUS:
            stock(sp, sku, {"WH": 100})  # units for everybody: only the cap limits
            for email in CONTACTS:
                sp.waitlist.join(sku, email, True)
        now = clock.now()
        sp.db.write(lambda conn: [timers.schedule(conn, WAVE_TIMER, f"waitlist:{sku}", now, {"sku": sku}, now=now)
                                  for sku in SKUS])
        handlers = automations(sp).timer_handlers
        runners = [timers.TimerRunner(sp.db, clock, handlers, worker_id=f"worker-{n}") for n in range(len(SKUS))]
        start = threading.Barrier(len(runners))

        def run(runner):
            start.wait()
            return runner.run_once(limit=1)  # each worker fires one SKU's wave: four waves at once

        with ThreadPoolExecutor(len(runners)) as pool:
            reports = list(pool.map(run, runners))
        assert sum(r.fired for r in reports) == len(SKUS) and not any(r.errors for r in reports)

        with sp.db.read() as conn:
            told = Counter(conn.execute(select(waitlist.c.email).where(waitlist.c.status == "notified")).scalars())
        mailed = Counter(r["payload"]["to"] for r in outbox_rows(sp, "waitlist.email"))
        assert told == mailed
        assert max(told.values()) == 2 and all(told[email] == 2 for email in CONTACTS)  # at the cap, not above
        assert sum(told.values()) == 2 * len(CONTACTS)
    finally:
        sp.close()


def test_the_upgrade_to_slots_counts_the_notices_sent_before_it(db_url, clock):
    sp = build(Settings(database_url=db_url, waitlist_cap_messages=2), clock=clock, migrate=False)
    try:
        for sku in SKUS[:3]:
            stock(sp, sku, {"WH": 0})
            sp.waitlist.join(sku, "old@example.com", True)
            sp.waitlist.join(sku, None, True, phone="+14155550100")
        for sku in SKUS[:2]:  # two notices each, an hour apart
            sp.stock.adjust(sku=sku, location="WH", delta=5, kind="receive", idempotency_key=f"rcv-{sku}")
            Runtime.build(sp).settle()
            clock.advance(hours=1)
        with sp.db.engine.begin() as conn:  # as if these were sent before 0014
            command.downgrade(alembic_config(conn), "0013")
        upgrade(sp.db)
        with sp.db.read() as conn:
            rows = conn.execute(select(waitlist_cap_slots).order_by(waitlist_cap_slots.c.contact,
                                                                    waitlist_cap_slots.c.slot)).all()
        assert [(r.contact, r.slot, r.sent_at.hour) for r in rows] == [
            ("+14155550100", 0, 1), ("+14155550100", 1, 0), ("old@example.com", 0, 1), ("old@example.com", 1, 0)]
        sp.stock.adjust(sku="C", location="WH", delta=5, kind="receive", idempotency_key="rcv-C")
        Runtime.build(sp).settle()  # both at their cap of 2: the third SKU's wave steps over them
        assert [e["status"] for e in sp.waitlist.list("C")] == ["waiting", "waiting"]
    finally:
        sp.close()
