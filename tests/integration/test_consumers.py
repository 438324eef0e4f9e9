"""Event consumers: in-order delivery, own positions, exactly-once effects, takeovers, and the PostgreSQL gap rule."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import delete, func, insert, select, text

from stockpilot.adapters.db.database import Database
from stockpilot.adapters.db.tables import decisions, events, outbox
from stockpilot.domain.errors import InsufficientStock
from stockpilot.runtime import consumers as cs
from stockpilot.runtime import decisions as dec
from stockpilot.runtime import outbox as ob
from stockpilot.runtime.consumers import Consumer, ConsumerRunner
from tests.integration.helpers import line, stock


@pytest.fixture
def db(db_url):
    database = Database(db_url, pool_size=20)
    yield database
    database.dispose()


def recorder(clock, name):
    """A handler whose effect is a decision row per event: duplicates and order are visible in the table."""

    def handler(conn, event):
        dec.record(conn, f"{name}:{event.id}", "seen", {"id": event.id, "sku": event.sku, "kind": event.kind}, [],
                   None, "test", clock.now())

    return handler


def effect_ids(db, name):
    with db.read() as conn:
        subjects = conn.execute(
            select(decisions.c.subject).where(decisions.c.subject.like(f"{name}:%")).order_by(decisions.c.id)
        ).scalars().all()
    return [int(s.split(":", 1)[1]) for s in subjects]


def event_ids(db, kinds=None):
    query = select(events.c.id).order_by(events.c.id)
    if kinds is not None:
        query = query.where(events.c.kind.in_(kinds))
    with db.read() as conn:
        return list(conn.execute(query).scalars())


def status_of(db, name):
    with db.read() as conn:
        return next(s for s in cs.status(conn) if s.name == name)


def drain(runner, db, names, timeout=30.0):
    """Run until every consumer's position reaches the newest event.

    On PostgreSQL a gap may have to wait until every transaction that was open when it was seen has ended; other test
    workers share the cluster (xids are cluster-wide), so this polls for the condition instead of assuming one run.
    """
    deadline = time.monotonic() + timeout
    while True:
        runner.run_once()
        if all(status_of(db, n).lag == 0 for n in names):
            return
        assert time.monotonic() < deadline, [status_of(db, n) for n in names]
        time.sleep(0.005)


def add_events(db, clock, n, sku="S1", kind="StockChanged"):
    def work(conn):
        return list(conn.execute(
            insert(events).returning(events.c.id),
            [{"kind": kind, "sku": sku, "location": None, "payload": {"i": i}, "created_at": clock.now()}
             for i in range(n)],
        ).scalars())

    return db.write(work)


def business(sp):
    """A small day of trading on two SKUs: seeds, reservations, a release, a commit, an order, an adjustment."""
    stock(sp, "A", {"w1": 5, "w2": 2}, low_stock_threshold=2)
    stock(sp, "B", {"w1": 1})
    r1, _ = sp.reservations.reserve("cart-1", [line("A", 4), line("B", 1)])
    r2, _ = sp.reservations.reserve("cart-2", [line("A", 3)])
    sp.reservations.release(r2["id"])
    sp.reservations.commit(r1["id"])
    sp.orders.place("order-2", [line("A", 2)])
    sp.stock.adjust(sku="B", location="w1", delta=3, idempotency_key="recount-b")


# --- delivery and positions ---------------------------------------------------------------------------------------


def test_all_events_are_delivered_once_in_id_order(sp, clock):
    business(sp)
    all_ids = event_ids(sp.db)
    assert len(all_ids) > 8
    runner = ConsumerRunner(sp.db, clock, [Consumer("audit", recorder(clock, "audit"))], worker_id="w1", batch=3)
    drain(runner, sp.db, ["audit"])
    assert effect_ids(sp.db, "audit") == all_ids
    assert runner.run_once() == 0
    st = status_of(sp.db, "audit")
    assert (st.position, st.lag, st.stuck, st.leased_by) == (all_ids[-1], 0, False, None)


def test_delivery_stays_in_order_while_writers_run_concurrently(sp, clock):
    """Writers in threads commit events out of id order (on PostgreSQL); the consumer never skips a late commit."""
    for sku in ("A", "B", "C", "D"):
        stock(sp, sku, {"w1": 200})
    runner = ConsumerRunner(sp.db, clock, [Consumer("audit", recorder(clock, "audit"))], worker_id="w1", batch=7)
    start = threading.Barrier(5)
    done = threading.Event()
    errors = []

    def writer(n):
        try:
            start.wait()
            for i in range(25):
                sku = "ABCD"[(n + i) % 4]
                with contextlib.suppress(InsufficientStock):
                    sp.reservations.reserve(f"cart-{n}-{i}", [line(sku, 1), line("ABCD"[(n + i + 1) % 4], 1)])
                sp.stock.adjust(sku=sku, location="w1", delta=1, idempotency_key=f"adj-{n}-{i}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def consume():
        start.wait()
        while not done.is_set():
            runner.run_once()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    reader = threading.Thread(target=consume)
    for t in [*threads, reader]:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    assert errors == []
    drain(runner, sp.db, ["audit"])
    delivered = effect_ids(sp.db, "audit")
    assert delivered == event_ids(sp.db)  # every committed event, once, in id order
    assert len(delivered) > 100


def test_a_new_consumer_replays_history_and_filters_kinds(sp, clock):
    business(sp)
    first = ConsumerRunner(sp.db, clock, [Consumer("audit", recorder(clock, "audit"))], worker_id="w1")
    drain(first, sp.db, ["audit"])
    # Added later: starts at 0 and sees the whole history, but only the kinds it asked for.
    wanted = {"WentOutOfStock", "LowStock"}
    runner = ConsumerRunner(
        sp.db, clock,
        [Consumer("audit", recorder(clock, "audit")), Consumer("alerts", recorder(clock, "alerts"), kinds=wanted)],
        worker_id="w2", batch=4,
    )
    drain(runner, sp.db, ["audit", "alerts"])
    assert effect_ids(sp.db, "alerts") == event_ids(sp.db, wanted) != []
    assert effect_ids(sp.db, "audit") == event_ids(sp.db)  # not replayed for the old consumer
    assert status_of(sp.db, "alerts").position == event_ids(sp.db)[-1]


def test_consumers_keep_independent_positions(db, clock):
    add_events(db, clock, 5)
    fail = {"on": True}

    def picky(conn, event):
        recorder(clock, "picky")(conn, event)
        if fail["on"] and event.id == 3:
            raise RuntimeError("cannot handle 3 yet")

    runner = ConsumerRunner(
        db, clock, [Consumer("picky", picky), Consumer("easy", recorder(clock, "easy"))], worker_id="w1"
    )
    assert runner.run_once() == 2 + 5
    assert (status_of(db, "picky").position, status_of(db, "easy").position) == (2, 5)
    assert effect_ids(db, "picky") == [1, 2]  # the prefix before the failing event committed
    add_events(db, clock, 2)
    assert runner.run_once() == 2  # only "easy" moves
    assert (status_of(db, "picky").position, status_of(db, "easy").position) == (2, 7)
    fail["on"] = False
    runner.run_once()
    assert effect_ids(db, "picky") == [1, 2, 3, 4, 5, 6, 7]
    assert effect_ids(db, "easy") == [1, 2, 3, 4, 5, 6, 7]


def test_reset_replays_from_a_position(db, clock):
    add_events(db, clock, 4)
    runner = ConsumerRunner(db, clock, [Consumer("audit", recorder(clock, "audit"))], worker_id="w1")
    runner.run_once()
    db.write(lambda conn: cs.reset(conn, "audit", 2, clock.now()))
    assert status_of(db, "audit").position == 2
    runner.run_once()
    assert effect_ids(db, "audit") == [1, 2, 3, 4, 3, 4]  # a replay is deliberate: effects happen again


# --- atomicity and failures ---------------------------------------------------------------------------------------


def test_handler_effects_commit_with_the_position(db, clock):
    add_events(db, clock, 1)
    attempts = []

    def notify(conn, event):
        attempts.append(event.id)
        ob.enqueue(conn, "email", {"event": event.id}, f"notify:{event.id}", clock.now())
        if len(attempts) <= 2:
            raise RuntimeError("mail template missing")

    runner = ConsumerRunner(db, clock, [Consumer("notify", notify)], worker_id="w1")
    assert runner.run_once() == 0
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 0
    st = status_of(db, "notify")
    assert (st.position, st.stuck, st.failing_event_id, st.failures) == (0, True, 1, 1)
    assert "mail template missing" in st.last_error
    assert runner.last_report.consumers[0].error.startswith("event 1:")

    assert runner.run_once() == 0  # still failing: retried, never skipped
    st = status_of(db, "notify")
    assert (st.position, st.failures, st.lag) == (0, 2, 1)

    assert runner.run_once() == 1
    assert runner.run_once() == 0
    with db.read() as conn:
        rows = conn.execute(select(outbox.c.idempotency_key)).scalars().all()
    assert rows == ["notify:1"] and attempts == [1, 1, 1]
    st = status_of(db, "notify")
    assert (st.position, st.stuck, st.failures, st.lag) == (1, False, 0, 0)


def test_a_failure_mid_pass_keeps_the_prefix_once_and_none_of_the_failing_handler(db, clock):
    """No savepoint per event: the pass rolls back whole and is redone up to the failing event."""
    add_events(db, clock, 4)
    calls = []

    def notify(conn, event):
        calls.append(event.id)
        ob.enqueue(conn, "email", {"event": event.id}, f"notify:{event.id}", clock.now())
        if event.id == 3:
            raise RuntimeError("no template for 3")

    runner = ConsumerRunner(db, clock, [Consumer("notify", notify)], worker_id="w1")
    assert runner.run_once() == 2
    with db.read() as conn:
        keys = sorted(conn.execute(select(outbox.c.idempotency_key)).scalars())
    assert keys == ["notify:1", "notify:2"]  # the failing handler's own row is gone, the prefix is there once
    assert calls == [1, 2, 3, 1, 2]  # the redo stops before the failing event
    st = status_of(db, "notify")
    assert (st.position, st.stuck, st.failing_event_id, st.failures) == (2, True, 3, 1)
    assert "no template for 3" in st.last_error


class Crash(BaseException):
    """Stands for the process dying: nothing in the runner gets to clean up."""


def test_a_crashed_holder_is_taken_over_after_its_lease_and_nothing_runs_twice(db, clock):
    add_events(db, clock, 10)
    calls = []

    def crashing(conn, event):
        calls.append(event.id)
        recorder(clock, "c")(conn, event)
        if event.id == 7:
            raise Crash

    a = ConsumerRunner(db, clock, [Consumer("c", crashing)], worker_id="a", lease_seconds=30, batch=5)
    assert a.run_once() == 5  # ids 1..5 committed
    with pytest.raises(Crash):
        a.run_once()  # dies in the middle of 6..10: the batch is rolled back

    b = ConsumerRunner(db, clock, [Consumer("c", recorder(clock, "c"))], worker_id="b", lease_seconds=30, batch=5)
    if db.is_sqlite:  # lease, walk and release are one transaction: the crash rolled the lease back too
        assert status_of(db, "c").leased_by is None
    else:  # the lease was committed on its own and is left behind: b waits for it to run out
        assert status_of(db, "c").leased_by == "a"
        assert b.run_once() == 0 and not b.last_report.consumers[0].leased
        clock.advance(seconds=31)
    assert b.run_once() == 5
    assert effect_ids(db, "c") == list(range(1, 11))
    assert Counter(effect_ids(db, "c")).most_common(1)[0][1] == 1
    assert calls == [1, 2, 3, 4, 5, 6, 7]


def test_two_runners_in_threads_never_process_an_event_twice(db, clock):
    add_events(db, clock, 120)
    start = threading.Barrier(2)
    target = 120

    def work(worker):
        runner = ConsumerRunner(db, clock, [Consumer("c", recorder(clock, "c"))], worker_id=worker, batch=7)
        start.wait()
        while status_of(db, "c").position < target:
            runner.run_once()

    # Create the row first so both threads can read its status.
    db.write(lambda conn: cs.reset(conn, "c", 0, clock.now()))
    threads = [threading.Thread(target=work, args=(w,)) for w in ("w1", "w2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert effect_ids(db, "c") == list(range(1, 121))


# --- PostgreSQL: a stalled holder, and gaps -------------------------------------------------------------------------


@pytest.fixture
def pg_db(db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    database = Database(db_url, pool_size=20)
    yield database
    database.dispose()


def test_a_stalled_holder_that_was_taken_over_rolls_back(pg_db, clock):
    db = pg_db
    add_events(db, clock, 3)
    entered, resume = threading.Event(), threading.Event()

    def slow(conn, event):
        if event.id == 1 and not resume.is_set():
            entered.set()
            resume.wait()
        ob.enqueue(conn, "email", {"event": event.id}, f"mail:{event.id}", clock.now())
        recorder(clock, "c")(conn, event)

    a = ConsumerRunner(db, clock, [Consumer("c", slow)], worker_id="a", lease_seconds=30)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("n", a.run_once()))
    thread.start()
    entered.wait()
    clock.advance(seconds=31)  # a's lease is over while it is stuck in the handler
    b = ConsumerRunner(db, clock, [Consumer("c", recorder(clock, "c"))], worker_id="b")
    assert b.run_once() == 3
    resume.set()
    thread.join()
    assert result["n"] == 0 and a.last_report.consumers[0].lost_lease
    assert effect_ids(db, "c") == [1, 2, 3]
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 0  # a's enqueue rolled back
    assert status_of(db, "c").position == 3


def open_writer(db, clock, sku):
    """A transaction that has inserted one event and stays open. Like ledger.apply, it holds an xid before it draws
    the event id (pg_current_xact_id() assigns one here; the ledger's first statement is an UPDATE)."""
    conn = db.engine.connect()
    tx = conn.begin()
    conn.execute(text("SELECT pg_current_xact_id()"))
    event_id = conn.execute(
        insert(events).returning(events.c.id),
        {"kind": "StockChanged", "sku": sku, "location": None, "payload": {}, "created_at": clock.now()},
    ).scalar_one()
    return conn, tx, event_id


class HookedRunner(ConsumerRunner):
    """Runs `hook` once, right after its first lease transaction committed (before the processing transaction)."""

    def __init__(self, *args, hook, **kwargs):
        super().__init__(*args, **kwargs)
        self.hook = hook

    def acquire(self, name):
        token = super().acquire(name)
        hook, self.hook = self.hook, None
        if hook is not None:
            hook()
        return token


@pytest.mark.parametrize("xid_order", ["slow_writer_first", "fast_writer_first"])
def test_a_late_commit_below_the_position_is_waited_for_then_delivered_in_order(pg_db, clock, xid_order):
    """A (slow) draws id 3 and stays open, B (fast) draws 4 and commits: nothing past 2 until A ends.

    "fast_writer_first": B takes its xid before A, and both after the runner's lease transaction, so A's xid is above
    `pg_snapshot_xmax` as seen right after B commits (that is latest completed xid + 1). A rule that waited only for
    xids below that xmax would declare 3 a hole while A is still open; the runner's rule waits for A.
    """
    db = pg_db
    assert add_events(db, clock, 2) == [1, 2]
    writers = {}

    def open_both():
        if xid_order == "fast_writer_first":
            cb = db.engine.connect()
            tb = cb.begin()
            cb.execute(text("SELECT pg_current_xact_id()"))
            writers["a"] = open_writer(db, clock, "A")
            writers["b"] = cb.execute(
                insert(events).returning(events.c.id),
                {"kind": "StockChanged", "sku": "B", "location": None, "payload": {}, "created_at": clock.now()},
            ).scalar_one()
            tb.commit()
            cb.close()
        else:
            writers["a"] = open_writer(db, clock, "A")
            (writers["b"],) = add_events(db, clock, 1, sku="B")

    runner = HookedRunner(db, clock, [Consumer("c", recorder(clock, "c"))], worker_id="w1", hook=open_both)
    try:
        runner.run_once()
        _, ta, a_id = writers["a"]
        assert (a_id, writers["b"]) == (3, 4)
        assert effect_ids(db, "c") == [1, 2]
        for _ in range(5):
            runner.run_once()
            assert effect_ids(db, "c") == [1, 2]  # never past the id that is still in flight
        assert status_of(db, "c").waiting_on_gap
        assert runner.last_report.consumers[0].waiting_on_gap
        ta.commit()
    finally:
        if "a" in writers:
            writers["a"][0].close()
    drain(runner, db, ["c"])
    assert effect_ids(db, "c") == [1, 2, 3, 4]
    assert not status_of(db, "c").waiting_on_gap


def test_a_rolled_back_id_becomes_a_hole_once_its_transaction_has_ended(pg_db, clock):
    db = pg_db
    add_events(db, clock, 2)
    runner = ConsumerRunner(db, clock, [Consumer("c", recorder(clock, "c"))], worker_id="w1")
    ca, ta, a_id = open_writer(db, clock, "A")
    (b_id,) = add_events(db, clock, 1, sku="B")
    try:
        runner.run_once()
        runner.run_once()
        assert effect_ids(db, "c") == [1, 2]
        ta.rollback()
    finally:
        ca.close()
    drain(runner, db, ["c"])
    assert effect_ids(db, "c") == [1, 2, b_id] and a_id == 3
    # Later events (and later gaps) are handled as before.
    add_events(db, clock, 2)
    drain(runner, db, ["c"])
    assert effect_ids(db, "c") == [1, 2, 4, 5, 6]


def test_a_gap_wait_holds_only_for_the_ids_it_observed(pg_db, clock):
    """A resolved observation steps over its holes; a newer gap above it gets an observation of its own."""
    db = pg_db
    add_events(db, clock, 1)
    runner = ConsumerRunner(db, clock, [Consumer("c", recorder(clock, "c"))], worker_id="w1")
    c1, t1, id2 = open_writer(db, clock, "A")
    add_events(db, clock, 1)  # 3
    runner.run_once()  # observes the gap at 2
    t1.rollback()
    c1.close()
    c2, t2, id4 = open_writer(db, clock, "A")
    add_events(db, clock, 1)  # 5
    try:
        deadline = time.monotonic() + 30
        while effect_ids(db, "c") != [1, 3]:
            runner.run_once()
            assert time.monotonic() < deadline
            time.sleep(0.005)
        for _ in range(3):
            runner.run_once()
            assert effect_ids(db, "c") == [1, 3]  # 4 is still in flight
        t2.commit()
    finally:
        c2.close()
    drain(runner, db, ["c"])
    assert (id2, id4, effect_ids(db, "c")) == (2, 4, [1, 3, 4, 5])


# --- SQLite: rowid reuse and holes ----------------------------------------------------------------------------------


@pytest.fixture
def sqlite_db(db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite only")
    database = Database(db_url)
    yield database
    database.dispose()


class Rollback(Exception):
    pass


def test_sqlite_reuses_a_rolled_back_id_above_the_position(sqlite_db, clock):
    db = sqlite_db
    add_events(db, clock, 3)
    runner = ConsumerRunner(db, clock, [Consumer("c", recorder(clock, "c"))], worker_id="w1")
    runner.run_once()

    def doomed(conn):
        ids = add_events_in(conn, clock, 2)
        assert ids == [4, 5]
        raise Rollback

    with pytest.raises(Rollback):
        db.write(doomed)
    assert add_events(db, clock, 1) == [4]  # no AUTOINCREMENT: max(id) + 1, the rolled-back id again
    runner.run_once()
    assert effect_ids(db, "c") == [1, 2, 3, 4]


def test_sqlite_skips_a_missing_id_at_once(sqlite_db, clock):
    db = sqlite_db
    add_events(db, clock, 4)
    db.write(lambda conn: conn.execute(delete(events).where(events.c.id == 2)))  # not something the app does
    runner = ConsumerRunner(db, clock, [Consumer("c", recorder(clock, "c"))], worker_id="w1")
    assert runner.run_once() == 3
    assert runner.last_report.consumers[0].holes == 1
    assert effect_ids(db, "c") == [1, 3, 4]


def add_events_in(conn, clock, n):
    return list(conn.execute(
        insert(events).returning(events.c.id),
        [{"kind": "StockChanged", "sku": "S", "location": None, "payload": {}, "created_at": clock.now()}
         for _ in range(n)],
    ).scalars())


def test_a_walk_ends_once_its_time_budget_is_spent_and_the_next_pass_goes_on(db, clock):
    add_events(db, clock, 3)
    runner = ConsumerRunner(db, clock, [Consumer("c", recorder(clock, "c"))], worker_id="a", walk_budget_seconds=0)
    assert [runner.run_once() for _ in range(4)] == [1, 1, 1, 0]  # always at least one event per pass
    assert effect_ids(db, "c") == [1, 2, 3]
    assert status_of(db, "c").position == 3 and status_of(db, "c").leased_by is None
