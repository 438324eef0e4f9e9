"""Staff alert bookkeeping is pruned on a durable hourly timer (on SQLite and PostgreSQL, a real SMTP server, the
worker's own consumer, timers and outbox): keys older than the replay horizon go, merging and replay protection
keep working, and a replay reaching back past the horizon sends nothing although its keys are gone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from stockpilot.adapters.db import alert_store
from stockpilot.adapters.db.tables import alert_digest_items, alert_occurrences, consumer_positions
from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.runtime import decisions, timers
from stockpilot.runtime.handlers import automations
from stockpilot.services.staff_alerts import PRUNE_KEY, PRUNE_TIMER
from tests.integration.helpers import line, stock
from tests.integration.purchasing_helpers import Runtime
from tests.support.smtp_server import SmtpServer


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def shop(db_url, clock, smtp):
    route = f"mailto://{smtp.host}:{smtp.port}?from=alerts@shop.example&to=ops@shop.example&mode=insecure"
    sp = build(Settings(database_url=db_url, db_pool_size=20, oversell_window_seconds=0, alert_merge_minutes=15,
                        alert_replay_days=2, alert_routes=[{"kinds": ["oversell"], "urls": [route]}]),
               clock=clock, migrate=False)
    yield sp, Runtime.build(sp)
    sp.close()


def keys(sp):
    with sp.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(alert_occurrences)).scalar_one())


def oversell(sp, orders, start=0):
    for n in range(start, start + orders):
        sp.orders.place(f"SO-{n}", [line("MUG", 1)])


def subjects(smtp):
    return [m["Subject"] for m in smtp.messages]


def test_old_keys_go_on_the_hourly_timer_and_merging_and_replays_still_work(shop, smtp, clock):
    sp, rt = shop
    assert sp.alerts.schedule_pruning in automations(sp).on_start  # a worker books it when it starts
    assert sp.alerts.schedule_pruning() is True and sp.alerts.schedule_pruning() is False  # booked once
    stock(sp, "MUG", {"WH": 0}, backorder_policy="allow")
    oversell(sp, 3)
    rt.settle()
    rt.advance(minutes=15)
    assert subjects(smtp) == ["Oversold: MUG is 1 unit(s) short", "2 more: Oversold: MUG is 1 unit(s) short"]
    assert keys(sp) == 3

    rt.advance(days=1, hours=23)
    assert keys(sp) == 3  # younger than the two-day horizon: kept, though the prune has run every hour
    rt.advance(hours=1)
    assert keys(sp) == 0
    with sp.db.read() as conn:
        (pending,) = [t for t in timers.list_for(conn, PRUNE_KEY) if t.status == "scheduled"]
        assert pending.kind == PRUNE_TIMER and pending.fire_at == clock.now() + timedelta(hours=1)
        (pruned,) = [d for d in decisions.list_for(conn, PRUNE_KEY) if d.kind == "staff_alert_prune"]
    assert pruned.choice == {"keys": 3, "digest_items": 0}

    oversell(sp, 3, start=3)  # the merge window works as before: one message now, one summary at its end
    rt.settle()
    rt.advance(minutes=15)
    assert subjects(smtp)[2:] == ["Oversold: MUG is 4 unit(s) short", "2 more: Oversold: MUG is 4 unit(s) short"]
    assert keys(sp) == 3

    sp.db.write(lambda conn: conn.execute(update(consumer_positions).values(position=0)))  # replay everything
    rt.settle()
    rt.advance(minutes=30)
    assert len(smtp.messages) == 4  # old events are past the horizon, recent ones still have their keys


def test_the_prune_keeps_digest_items_still_waiting(shop, clock):
    sp, _rt = shop
    start = clock.now()

    def add(conn):
        for title in ("sent", "waiting"):
            alert_store.add_digest_item(conn, "d1", "low_stock", "MUG", title, None, start)
        sent = conn.execute(select(alert_digest_items.c.id).where(alert_digest_items.c.title == "sent")).scalar_one()
        alert_store.mark_digested(conn, [sent], sent)

    sp.db.write(add)
    assert sp.db.write(lambda conn: alert_store.prune(conn, start)) == (0, 0)  # nothing is older than `start`
    assert sp.db.write(lambda conn: alert_store.prune(conn, start + timedelta(seconds=1))) == (0, 1)
    with sp.db.read() as conn:
        assert [r.title for r in conn.execute(select(alert_digest_items.c.title))] == ["waiting"]
