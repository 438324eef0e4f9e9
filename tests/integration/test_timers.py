"""Durable timers: never early, exactly once across runners, cancellable atomically, rolled back on failure."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from stockpilot.adapters.db.database import Database
from stockpilot.adapters.db.tables import decisions, locations, outbox
from stockpilot.runtime import decisions as dec
from stockpilot.runtime import outbox as ob
from stockpilot.runtime import timers as tm
from stockpilot.runtime.timers import TimerRunner


@pytest.fixture
def db(db_url):
    database = Database(db_url, pool_size=20)
    yield database
    database.dispose()


def count(db, table):
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def status(db, timer_id):
    with db.read() as conn:
        return tm.get(conn, timer_id).status


def reminder_handler(clock, calls=None):
    """Fires a cart reminder: enqueues the e-mail in the same transaction that marks the timer fired."""

    def handler(conn, payload):
        if calls is not None:
            calls.append(payload["cart"])
        ob.enqueue(conn, "email", {"cart": payload["cart"]}, f"reminder:{payload['cart']}", clock.now())

    return handler


def test_a_timer_never_fires_early_and_fires_once(db, clock):
    due = clock.now() + timedelta(hours=1)
    timer_id = db.write(lambda conn: tm.schedule(conn, "cart_reminder", "cart:1", due, {"cart": 1}, now=clock.now()))
    calls = []
    runner = TimerRunner(db, clock, {"cart_reminder": reminder_handler(clock, calls)}, worker_id="r1")

    clock.set(due - timedelta(microseconds=1))
    assert runner.run_once().claimed == 0 and calls == []
    clock.set(due)
    report = runner.run_once()
    assert (report.claimed, report.fired) == (1, 1) and calls == [1]
    with db.read() as conn:
        fired = tm.get(conn, timer_id)
        assert ob.get(conn, "reminder:1").payload == {"cart": 1}
    assert (fired.status, fired.fired_at, fired.leased_by) == ("fired", due, None)
    clock.advance(days=1)
    assert runner.run_once().claimed == 0 and calls == [1]


def test_timers_fire_in_due_order(db, clock):
    t0 = clock.now()

    def work(conn):
        for cart, minutes in ((1, 30), (2, 10), (3, 20)):
            tm.schedule(conn, "cart_reminder", f"cart:{cart}", t0 + timedelta(minutes=minutes), {"cart": cart}, now=t0)

    db.write(work)
    calls = []
    clock.advance(hours=1)
    TimerRunner(db, clock, {"cart_reminder": reminder_handler(clock, calls)}, worker_id="r1").run_once()
    assert calls == [2, 3, 1]


def test_placing_the_order_cancels_the_reminder_atomically(db, clock):
    timer_id = db.write(
        lambda conn: tm.schedule(
            conn, "cart_reminder", "cart:7", clock.now() + timedelta(hours=1), {"cart": 7}, now=clock.now()
        )
    )

    def place_order(conn, fail):
        conn.execute(insert(locations).values(code="X", name="X", kind="store", priority=1, created_at=clock.now()))
        assert tm.cancel(conn, "cart:7", clock.now()) == 1
        if fail:
            raise RuntimeError("order refused")

    with pytest.raises(RuntimeError):
        db.write(lambda conn: place_order(conn, True))
    assert status(db, timer_id) == "scheduled"  # the cancel rolled back with the order

    clock.advance(minutes=5)
    db.write(lambda conn: place_order(conn, False))
    with db.read() as conn:
        cancelled = tm.get(conn, timer_id)
    assert (cancelled.status, cancelled.cancelled_at) == ("cancelled", clock.now())

    calls = []
    clock.advance(hours=2)
    assert (
        TimerRunner(db, clock, {"cart_reminder": reminder_handler(clock, calls)}, worker_id="r1").run_once().claimed
        == 0
    )
    assert calls == [] and count(db, outbox) == 0
    assert db.write(lambda conn: tm.cancel(conn, "cart:7", clock.now())) == 0  # already cancelled


def test_cancel_after_claim_wins_over_firing(db, clock):
    """A runner claimed the timer, then the order was placed before it fired: the timer must not fire."""
    db.write(lambda conn: tm.schedule(conn, "cart_reminder", "cart:8", clock.now(), {"cart": 8}, now=clock.now()))
    calls = []
    runner = TimerRunner(db, clock, {"cart_reminder": reminder_handler(clock, calls)}, worker_id="r1")
    original_claim = runner.claim

    def claim_then_cancel(limit=100):
        claimed = original_claim(limit)
        assert db.write(lambda conn: tm.cancel(conn, "cart:8", clock.now())) == 1
        return claimed

    runner.claim = claim_then_cancel
    report = runner.run_once()
    assert (report.claimed, report.fired, report.skipped) == (1, 0, 1) and calls == []
    assert count(db, outbox) == 0


def test_cancel_by_kind_leaves_other_timers_with_the_same_key(db, clock):
    def work(conn):
        tm.schedule(conn, "cart_reminder", "cart:9", clock.now(), {"cart": 9}, now=clock.now())
        tm.schedule(conn, "cart_expiry", "cart:9", clock.now(), {"cart": 9}, now=clock.now())

    db.write(work)
    assert db.write(lambda conn: tm.cancel(conn, "cart:9", clock.now(), kind="cart_reminder")) == 1
    with db.read() as conn:
        assert [(t.kind, t.status) for t in tm.list_for(conn, "cart:9")] == [
            ("cart_reminder", "cancelled"),
            ("cart_expiry", "scheduled"),
        ]


def test_a_failing_handler_leaves_the_timer_scheduled_and_it_retries_after_the_lease(db, clock):
    timer_id = db.write(lambda conn: tm.schedule(conn, "flaky", "k", clock.now(), {"cart": 1}, now=clock.now()))
    attempts = []

    def flaky(conn, payload):
        attempts.append(1)
        ob.enqueue(conn, "email", {}, "from-flaky", clock.now())  # rolled back with the failure
        if len(attempts) == 1:
            raise RuntimeError("downstream state not ready")

    runner = TimerRunner(db, clock, {"flaky": flaky}, worker_id="r1", lease_seconds=30)
    report = runner.run_once()
    assert (report.fired, report.failed) == (0, 1) and "downstream state not ready" in report.errors[0]
    assert status(db, timer_id) == "scheduled" and count(db, outbox) == 0

    clock.advance(seconds=29)
    assert runner.run_once().claimed == 0  # still leased: retries are spaced by the lease
    clock.advance(seconds=2)
    assert runner.run_once().fired == 1
    assert status(db, timer_id) == "fired" and count(db, outbox) == 1 and len(attempts) == 2


def test_a_timer_without_handler_stays_scheduled(db, clock):
    timer_id = db.write(lambda conn: tm.schedule(conn, "mystery", "k", clock.now(), {}, now=clock.now()))
    report = TimerRunner(db, clock, {}, worker_id="r1").run_once()
    assert report.failed == 1 and "no handler for kind 'mystery'" in report.errors[0]
    assert status(db, timer_id) == "scheduled"


def test_a_stalled_runners_timer_is_taken_over_and_still_fires_once(db, clock):
    timer_id = db.write(lambda conn: tm.schedule(conn, "k", "c", clock.now(), {"cart": 1}, now=clock.now()))
    calls = []
    stalled = TimerRunner(db, clock, {"k": reminder_handler(clock, calls)}, worker_id="stalled", lease_seconds=30)
    rescuer = TimerRunner(db, clock, {"k": reminder_handler(clock, calls)}, worker_id="rescuer", lease_seconds=30)
    assert len(stalled.claim()) == 1
    clock.advance(seconds=31)
    assert rescuer.run_once().fired == 1
    # the stalled runner wakes up and tries to fire what it claimed long ago: the status guard refuses
    assert db.write(lambda conn: stalled._fire(conn, timer_id, reminder_handler(clock, calls))) is False
    assert calls == [1] and count(db, outbox) == 1


def test_concurrent_runners_fire_each_timer_exactly_once(db, clock):
    n = 60

    def work(conn):
        for i in range(n):
            tm.schedule(conn, "plan", f"sku:{i}", clock.now() + timedelta(seconds=i % 7), {"sku": i}, now=clock.now())

    db.write(work)
    clock.advance(minutes=1)
    calls = Counter()
    lock = threading.Lock()

    def plan(conn, payload):
        with lock:
            calls[payload["sku"]] += 1
        dec.record(conn, f"sku:{payload['sku']}", "plan", payload, [], None, "timer fired", clock.now())

    start = threading.Barrier(4)
    errors = []

    def run(worker):
        try:
            runner = TimerRunner(db, clock, {"plan": plan}, worker_id=worker)
            start.wait()
            while runner.run_once(limit=3).claimed:
                pass
        except Exception as exc:  # pragma: no cover - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"r{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert len(calls) == n and set(calls.values()) == {1}
    assert count(db, decisions) == n  # one committed effect per timer
    with db.read() as conn:
        assert (
            conn.execute(select(func.count()).select_from(tm.timers).where(tm.timers.c.status == "fired")).scalar_one()
            == n
        )


def test_a_timer_that_keeps_failing_ends_dead_and_can_be_retried(db, clock):
    timer_id = db.write(lambda conn: tm.schedule(conn, "broken", "k", clock.now(), {}, now=clock.now()))
    calls = []

    def broken(conn, payload):
        calls.append(1)
        if len(calls) <= 3:
            raise RuntimeError("still broken")

    runner = TimerRunner(db, clock, {"broken": broken}, worker_id="r1", lease_seconds=10, max_attempts=3)
    for expected_dead in (0, 0, 1):
        report = runner.run_once()
        assert (report.failed, report.dead) == (1, expected_dead)
        clock.advance(seconds=11)
    with db.read() as conn:
        dead = tm.get(conn, timer_id)
    assert (dead.status, dead.attempts, dead.last_error) == ("dead", 3, "RuntimeError: still broken")
    assert runner.run_once().claimed == 0  # dead timers are not retried on their own
    assert db.write(lambda conn: tm.retry(conn, timer_id, clock.now()))
    assert runner.run_once().fired == 1
    assert not db.write(lambda conn: tm.discard(conn, timer_id))  # only dead ones can be discarded
