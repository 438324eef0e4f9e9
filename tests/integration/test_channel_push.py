"""The outbound push pipeline on the real runtime (consumer, outbox, outcome hooks), on SQLite and PostgreSQL.

A recording pusher stands in for the platform here (the platform adapters have their own tests against loopback
fakes of the real APIs); the clock is manual, so counts of pushes are exact and no test reads the wall clock.
"""

from __future__ import annotations

import pytest

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from tests.integration.helpers import line
from tests.integration.purchasing_helpers import Runtime
from tests.integration.push_helpers import push_decisions, push_rows, push_state, pushed_values, seeded, shop
from tests.support.recording_pusher import RecordingPusher


@pytest.fixture
def make(db_url, clock):
    apps = []

    def factory(pusher: RecordingPusher | None = None, **overrides):
        app = build(Settings(database_url=db_url, db_pool_size=20, **overrides), clock=clock, migrate=False)
        apps.append(app)
        recorder = pusher or RecordingPusher()
        app.channel_pushes.pushers[recorder.kind] = recorder
        return app, Runtime.build(app), recorder

    yield factory
    for app in apps:
        app.close()


def test_a_sale_pushes_available_less_the_buffer_and_an_unchanged_value_is_not_sent_again(make):
    sp, rt, pusher = make()
    seeded(sp, on_hand=10)
    shop(sp, buffer=2)
    sp.orders.place("SO-1", [line("TEE", 3)])
    rt.settle()
    assert pusher.pushes == [("shop", "inventory_item:4411@default", 5)]  # 10 - 3 sold - 2 held back
    assert pushed_values(sp) == {"inventory_item:4411@default": (5, 5)}
    [decision] = push_decisions(sp)
    assert decision.choice["set"] == {"inventory_item:4411@default": 5}
    assert "None -> 5" in decision.reason and "available 7 at WH" in decision.reason

    # A change that leaves the channel's figure where it was (incoming only) pushes nothing.
    sp.stock.adjust(sku="TEE", location="WH", delta=1, kind="receive", idempotency_key="r1")
    sp.orders.place("SO-2", [line("TEE", 1)])
    rt.advance(seconds=1)  # past the window of the first push
    assert pusher.values() == [5]
    assert [s["queued"] for s in push_state(sp)] == [False]


def test_percent_buffer_and_unlisted_skus(make):
    sp, rt, pusher = make()
    seeded(sp, on_hand=10)
    seeded(sp, "MUG", on_hand=10)  # not listed on the channel: never pushed
    shop(sp, buffer=1, buffer_percent=25)
    sp.orders.place("SO-1", [line("TEE", 2), line("MUG", 1)])
    rt.settle()
    assert pusher.values() == [6]  # available 8, the larger hold-back is 25% = 2 units


def test_a_burst_of_1000_orders_for_one_sku_yields_few_pushes_carrying_the_last_value(make, clock):
    sp, rt, pusher = make(channel_push_window_seconds=0.2)
    seeded(sp, on_hand=1500)
    shop(sp)
    for n in range(1000):
        sp.orders.place(f"SO-{n}", [line("TEE", 1)])
        if n % 10 == 9:  # the workers keep up: a consumer and a dispatcher pass every 10 orders (10 ms)
            clock.advance(seconds=0.01)
            rt.consumer.run_once()
            rt.dispatcher.run_once()
    rt.advance(seconds=1)
    values = pusher.values()
    # 1 s of simulated burst, a 0.2 s window: the first sale at once, then one push per window, then the last.
    assert 3 <= len(values) <= 8, values
    assert values[-1] == 500
    assert values == sorted(values, reverse=True)  # never an older value after a newer one
    assert len(push_rows(sp)) == len(values)
    assert push_state(sp)[0]["pushes"] == len(values)


def test_a_channel_down_for_minutes_then_back_gets_the_last_value_and_nothing_stale(make, clock):
    pusher = RecordingPusher(fail_next=6)
    sp, rt, _ = make(pusher)
    seeded(sp, on_hand=10)
    shop(sp)
    sp.orders.place("SO-1", [line("TEE", 1)])
    rt.settle()
    for minute in range(3):  # the channel is down; sales go on
        sp.orders.place(f"SO-down-{minute}", [line("TEE", 1)])
        for _ in range(2):
            rt.advance(seconds=30)
    assert pusher.fail_next == 0  # every failure was a retry, and the row never died
    rt.advance(seconds=5)
    assert pusher.values()[-1] == 6
    assert pusher.values() == sorted(pusher.values(), reverse=True)
    rows = push_rows(sp)
    assert {r["status"] for r in rows} == {"delivered"}
    assert max(r["attempts"] for r in rows) >= 2  # the row that met the outage was retried


def test_a_throttled_push_waits_as_asked_and_is_never_dead_lettered(make, clock):
    pusher = RecordingPusher(throttle_next=40, throttle_seconds=2)  # more throttles than max attempts
    sp, rt, _ = make(pusher, channel_push_max_attempts=5)
    seeded(sp, on_hand=10)
    shop(sp)
    sp.orders.place("SO-1", [line("TEE", 4)])
    rt.settle()
    [row] = push_rows(sp)
    assert row["status"] == "pending" and row["attempts"] == 0 and "throttled" in row["last_error"]
    assert (row["available_at"] - clock.now()).total_seconds() == pytest.approx(2)
    clock.advance(seconds=1.9)
    rt.settle()
    assert pusher.throttle_next == 39  # not due before the platform's Retry-After
    for _ in range(40):  # 39 more throttles, then it goes through
        rt.advance(seconds=2)
    assert pusher.values() == [6]
    [row] = push_rows(sp)
    assert row["status"] == "delivered"


def test_a_push_that_is_given_up_on_frees_the_item_for_the_next_change(make, clock):
    pusher = RecordingPusher(fail_next=2)
    sp, rt, _ = make(pusher, channel_push_max_attempts=2)
    seeded(sp, on_hand=10)
    shop(sp)
    sp.orders.place("SO-1", [line("TEE", 1)])
    rt.settle()
    rt.advance(seconds=2)
    assert [r["status"] for r in push_rows(sp)] == ["dead"]
    assert "gave up" in push_decisions(sp)[-1].reason
    sp.orders.place("SO-2", [line("TEE", 1)])
    rt.settle()
    assert pusher.values() == [8]
