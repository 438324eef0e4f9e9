"""The transactional outbox: atomic enqueue, leased claims, retries with backoff, dead letters, takeovers."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import event, func, insert, select, text

from stockpilot.adapters.db.database import Database
from stockpilot.adapters.db.tables import locations, outbox
from stockpilot.runtime import outbox as ob
from stockpilot.runtime.outbox import Backoff, Dispatcher


@pytest.fixture
def db(db_url):
    database = Database(db_url, pool_size=20)
    yield database
    database.dispose()


def count_rows(db, table=outbox):
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def enqueue_many(db, clock, n, topic="t", **kwargs):
    def work(conn):
        for i in range(n):
            ob.enqueue(conn, topic, {"i": i}, f"k{i}", clock.now(), **kwargs)

    db.write(work)


def row(db, key):
    with db.read() as conn:
        return ob.get(conn, key)


class Failing:
    """A handler that fails its first `failures` calls, then succeeds."""

    def __init__(self, failures):
        self.failures = failures
        self.calls = 0

    def __call__(self, payload, key):
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError(f"boom {self.calls}")


def test_enqueue_is_atomic_with_the_business_write(db, clock):
    def business(conn, fail):
        conn.execute(
            insert(locations).values(code="WH", name="WH", kind="warehouse", priority=1, created_at=clock.now())
        )
        ob.enqueue(conn, "notify", {"location": "WH"}, "loc:WH", clock.now())
        if fail:
            raise RuntimeError("business rule failed after enqueue")

    with pytest.raises(RuntimeError):
        db.write(lambda conn: business(conn, True))
    assert count_rows(db) == 0 and count_rows(db, locations) == 0

    db.write(lambda conn: business(conn, False))
    assert count_rows(db) == 1 and count_rows(db, locations) == 1
    stored = row(db, "loc:WH")
    assert (stored.status, stored.attempts, stored.payload, stored.topic) == (
        "pending",
        0,
        {"location": "WH"},
        "notify",
    )


def test_duplicate_idempotency_key_is_one_row(db, clock):
    first = db.write(lambda conn: ob.enqueue(conn, "t", {"n": 1}, "same", clock.now()))
    second = db.write(lambda conn: ob.enqueue(conn, "t", {"n": 2}, "same", clock.now()))
    assert isinstance(first, int) and second is None
    assert count_rows(db) == 1 and row(db, "same").payload == {"n": 1}


def test_delivery_calls_the_handler_with_payload_and_key(db, clock):
    enqueue_many(db, clock, 3)
    seen = []
    dispatcher = Dispatcher(db, clock, {"t": lambda p, k: seen.append((p, k))}, worker_id="w1")
    report = dispatcher.run_once(limit=10)
    assert (report.claimed, report.delivered) == (3, 3)
    assert seen == [({"i": 0}, "k0"), ({"i": 1}, "k1"), ({"i": 2}, "k2")]
    delivered = row(db, "k0")
    assert delivered.status == "delivered" and delivered.attempts == 1 and delivered.delivered_at == clock.now()
    assert delivered.leased_by is None and delivered.leased_until is None
    assert dispatcher.run_once().claimed == 0


def test_not_due_rows_wait_for_available_at(db, clock):
    db.write(
        lambda conn: ob.enqueue(conn, "t", {}, "later", clock.now(), available_at=clock.now() + timedelta(minutes=5))
    )
    dispatcher = Dispatcher(db, clock, {"t": lambda p, k: None}, worker_id="w1")
    clock.advance(minutes=4, seconds=59)
    assert dispatcher.run_once().claimed == 0
    clock.advance(seconds=1)
    assert dispatcher.run_once().delivered == 1


def test_failures_retry_with_growing_backoff_then_deliver(db, clock):
    enqueue_many(db, clock, 1, max_attempts=8)
    handler = Failing(failures=3)
    dispatcher = Dispatcher(
        db,
        clock,
        {"t": handler},
        worker_id="w1",
        backoff=Backoff(base_seconds=10, cap_seconds=1000, random=lambda: 1.0),
    )
    delays = []
    for attempt in (1, 2, 3):
        assert dispatcher.run_once().retried == 1
        failed = row(db, "k0")
        assert failed.status == "pending" and failed.attempts == attempt
        assert failed.last_error == f"RuntimeError: boom {attempt}"
        delays.append(failed.available_at - clock.now())
        # not due a moment before the backoff ends
        clock.advance(seconds=delays[-1].total_seconds() - 0.001)
        assert dispatcher.run_once().claimed == 0
        clock.advance(seconds=0.001)
    assert delays == [timedelta(seconds=10), timedelta(seconds=20), timedelta(seconds=40)]
    assert dispatcher.run_once().delivered == 1
    done = row(db, "k0")
    assert (done.status, done.attempts, done.last_error, handler.calls) == ("delivered", 4, None, 4)


def test_backoff_has_full_jitter_and_a_cap():
    backoff = Backoff(base_seconds=2, cap_seconds=30, random=lambda: 0.5)
    assert [backoff.delay(n).total_seconds() for n in (1, 2, 3, 4, 5, 6)] == [1, 2, 4, 8, 15, 15]
    assert Backoff(random=lambda: 0.0).delay(5) == timedelta(0)


def test_dead_after_max_attempts_keeps_the_last_error(db, clock):
    enqueue_many(db, clock, 1, max_attempts=3)
    handler = Failing(failures=100)
    dispatcher = Dispatcher(db, clock, {"t": handler}, worker_id="w1", backoff=Backoff(random=lambda: 1.0))
    outcomes = []
    for _ in range(5):
        report = dispatcher.run_once()
        outcomes.append((report.retried, report.dead))
        clock.advance(hours=1)
    assert outcomes == [(1, 0), (1, 0), (0, 1), (0, 0), (0, 0)]
    dead = row(db, "k0")
    assert (dead.status, dead.attempts, dead.last_error, handler.calls) == ("dead", 3, "RuntimeError: boom 3", 3)


def test_unknown_topic_is_dead_at_once(db, clock):
    enqueue_many(db, clock, 1, topic="nobody")
    report = Dispatcher(db, clock, {}, worker_id="w1").run_once()
    assert report.dead == 1
    dead = row(db, "k0")
    assert dead.status == "dead" and dead.attempts == 1 and "no handler for topic 'nobody'" in dead.last_error


class Refused(Exception):
    permanent = True


def test_a_permanent_failure_is_dead_at_once_and_not_retried(db, clock):
    enqueue_many(db, clock, 1, max_attempts=5)
    calls = []

    def refuse(payload, key):
        calls.append(key)
        raise Refused("401 bad token")

    dispatcher = Dispatcher(db, clock, {"t": refuse}, worker_id="w1")
    assert dispatcher.run_once().dead == 1
    clock.advance(hours=2)
    assert dispatcher.run_once().claimed == 0
    dead = row(db, "k0")
    assert (dead.status, dead.attempts, calls) == ("dead", 1, ["k0"])
    assert "401 bad token" in dead.last_error


class Hook:
    def __init__(self):
        self.seen = []

    def delivered(self, conn, payload, key, now, result=None):
        self.seen.append(("delivered", key, result))
        ob.enqueue(conn, "follow-up", {"after": key}, f"after:{key}", now)  # effects commit with the outcome

    def dead(self, conn, payload, key, error, now):
        self.seen.append(("dead", key, error))


def test_outcome_hooks_see_results_and_dead_letters_in_the_recording_transaction(db, clock):
    enqueue_many(db, clock, 2, max_attempts=1)
    hook = Hook()
    handler = lambda payload, key: {"echo": payload["i"]} if payload["i"] == 0 else 1 / 0  # noqa: E731
    Dispatcher(db, clock, {"t": handler}, worker_id="w1", outcomes={"t": hook}).run_once()
    seen = {kind: (key, detail) for kind, key, detail in hook.seen}  # failures are recorded first, successes batched
    assert seen["delivered"] == ("k0", {"echo": 0})
    assert seen["dead"][0] == "k1" and "ZeroDivisionError" in seen["dead"][1]
    assert row(db, "after:k0").status == "pending"


class DeadOnlyHook(Hook):
    dead_only = True

    def delivered(self, conn, payload, key, now, result=None):
        raise AssertionError("a dead-only hook is not called on success")


def test_a_dead_only_hook_sees_only_dead_letters_and_successes_are_recorded_in_bulk(db, clock):
    enqueue_many(db, clock, 5, max_attempts=1)
    hook = DeadOnlyHook()
    handler = lambda payload, key: None if payload["i"] else 1 / 0  # noqa: E731
    statements = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE OUTBOX"):
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        report = Dispatcher(db, clock, {"t": handler}, worker_id="w1", outcomes={"t": hook}).run_once()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert (report.delivered, report.dead) == (4, 1)
    assert [(kind, key) for kind, key, _ in hook.seen] == [("dead", "k0")]
    assert [row(db, f"k{i}").status for i in range(5)] == ["dead"] + ["delivered"] * 4
    # claim, the dead row's outcome, then ONE update for the four successes (not one per row)
    assert len(statements) == 3, statements


def test_retry_and_discard_dead_rows(db, clock):
    enqueue_many(db, clock, 2, max_attempts=1)
    handler = Failing(failures=2)
    dispatcher = Dispatcher(db, clock, {"t": handler}, worker_id="w1")
    assert dispatcher.run_once().dead == 2
    with db.read() as conn:
        dead = ob.list_by_status(conn, "dead")
        assert [r.idempotency_key for r in dead] == ["k0", "k1"]
        assert [r.idempotency_key for r in ob.list_by_status(conn, "dead", after=dead[0].id)] == ["k1"]
    first, second = dead

    clock.advance(minutes=1)
    assert db.write(lambda conn: ob.retry(conn, first.id, clock.now())) is True
    retried = row(db, "k0")
    assert (retried.status, retried.attempts, retried.available_at) == ("pending", 0, clock.now())
    assert db.write(lambda conn: ob.retry(conn, first.id, clock.now())) is False  # only dead rows
    assert dispatcher.run_once().delivered == 1

    assert db.write(lambda conn: ob.discard(conn, second.id)) is True
    assert db.write(lambda conn: ob.discard(conn, second.id)) is False
    assert row(db, "k1").status == "discarded"
    # the key stays claimed: re-enqueueing a discarded message does not resend it
    assert db.write(lambda conn: ob.enqueue(conn, "t", {}, "k1", clock.now())) is None
    assert dispatcher.run_once().claimed == 0
    with db.read() as conn:
        assert ob.list_by_status(conn, "dead") == []
        with pytest.raises(ValueError):
            ob.list_by_status(conn, "bogus")


def test_stats_report_depth_and_oldest_pending_age(db, clock):
    with db.read() as conn:
        empty = ob.stats(conn, clock.now())
    assert empty.depth == 0 and empty.oldest_pending_age_seconds is None and empty.counts["dead"] == 0
    enqueue_many(db, clock, 2)
    clock.advance(seconds=30)
    db.write(
        lambda conn: ob.enqueue(conn, "t", {}, "later", clock.now(), available_at=clock.now() + timedelta(hours=1))
    )
    clock.advance(seconds=15)
    Dispatcher(db, clock, {"t": lambda p, k: None}, worker_id="w").run_once(limit=1)
    with db.read() as conn:
        s = ob.stats(conn, clock.now())
    assert s.counts == {"pending": 2, "delivered": 1, "dead": 0, "discarded": 0}
    assert (s.depth, s.due, s.oldest_pending_age_seconds) == (2, 1, 45.0)


def test_expired_lease_is_taken_over_and_the_stale_outcome_is_ignored(db, clock):
    enqueue_many(db, clock, 2)
    calls = Counter()
    rescuer = Dispatcher(db, clock, {"t": lambda p, k: calls.update([("rescuer", k)])}, worker_id="rescuer")

    def slow_then_succeed(payload, key):
        calls.update([("stalled", key)])
        clock.advance(seconds=31)  # stalls past its 30 s lease...
        assert rescuer.run_once().delivered >= 1  # ...and another worker takes the row over and delivers it

    stalled = Dispatcher(db, clock, {"t": slow_then_succeed}, worker_id="stalled", lease_seconds=30)
    report = stalled.run_once(limit=1)
    assert (report.claimed, report.delivered, report.stale) == (1, 0, 1)
    assert calls[("stalled", "k0")] == 1 and calls[("rescuer", "k0")] == 1  # at least once: both called
    taken = row(db, "k0")
    assert taken.status == "delivered" and taken.attempts == 1 and taken.delivered_at == clock.now()


def test_stale_failure_does_not_undo_the_successors_delivery(db, clock):
    enqueue_many(db, clock, 1)
    rescuer = Dispatcher(db, clock, {"t": lambda p, k: None}, worker_id="rescuer")

    def slow_then_fail(payload, key):
        clock.advance(seconds=61)
        assert rescuer.run_once().delivered == 1
        raise RuntimeError("timed out")

    report = Dispatcher(db, clock, {"t": slow_then_fail}, worker_id="stalled").run_once()
    assert (report.retried, report.stale) == (0, 1)
    done = row(db, "k0")
    assert (done.status, done.attempts, done.last_error) == ("delivered", 1, None)


def test_stale_outcome_is_ignored_while_the_successor_still_holds_the_lease(db, clock):
    enqueue_many(db, clock, 1)
    rescuer = Dispatcher(db, clock, {"t": lambda p, k: None}, worker_id="rescuer")
    taken = []

    def slow_then_fail(payload, key):
        clock.advance(seconds=61)
        taken.extend(rescuer.claim())  # the successor has the row but has not finished yet

    report = Dispatcher(db, clock, {"t": slow_then_fail}, worker_id="stalled").run_once()
    assert report.stale == 1 and len(taken) == 1
    held = row(db, "k0")
    assert (held.status, held.attempts, held.leased_by, held.delivered_at) == ("pending", 0, "rescuer", None)
    assert rescuer._record_success(taken[0]) == "delivered"
    assert row(db, "k0").attempts == 1


def test_late_outcome_counts_when_nobody_took_the_row_over(db, clock):
    enqueue_many(db, clock, 1)

    def slow(payload, key):
        clock.advance(minutes=5)  # lease expired, but no other worker claimed the row

    assert Dispatcher(db, clock, {"t": slow}, worker_id="w1").run_once().delivered == 1
    assert row(db, "k0").status == "delivered"


def test_stale_lease_holder_cannot_record_over_a_newer_lease_of_its_own_worker_id(db, clock):
    """The guard is the lease itself (worker id AND lease expiry), not just the worker id."""
    enqueue_many(db, clock, 1)
    dispatcher = Dispatcher(db, clock, {"t": lambda p, k: None}, worker_id="w1", lease_seconds=30)
    old_claim = dispatcher.claim()[0]
    clock.advance(seconds=31)
    new_claim = dispatcher.claim()[0]
    assert new_claim.lease_until > old_claim.lease_until
    assert dispatcher._record_failure(old_claim, "late", final=False) == "stale"
    assert dispatcher._record_success(new_claim) == "delivered"


def test_two_dispatchers_deliver_each_row_exactly_once(db, clock):
    enqueue_many(db, clock, 200)
    calls = Counter()
    per_worker = Counter()
    lock = threading.Lock()
    start = threading.Barrier(2)
    errors = []

    def make_handler(worker):
        def handler(payload, key):
            with lock:
                calls[key] += 1
                per_worker[worker] += 1

        return handler

    def work(worker):
        try:
            dispatcher = Dispatcher(db, clock, {"t": make_handler(worker)}, worker_id=worker)
            start.wait()
            while dispatcher.run_once(limit=5).claimed:
                pass
        except Exception as exc:  # pragma: no cover - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert len(calls) == 200 and set(calls.values()) == {1}
    assert per_worker["a"] > 0 and per_worker["b"] > 0
    with db.read() as conn:
        assert ob.stats(conn, clock.now()).counts["delivered"] == 200


def test_postgres_claim_skips_rows_locked_by_another_transaction(db, clock):
    if db.is_sqlite:
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite serialises writers instead")
    enqueue_many(db, clock, 3)
    dispatcher = Dispatcher(db, clock, {"t": lambda p, k: None}, worker_id="w1")
    claimed = []
    with db.engine.connect() as other, other.begin():
        other.execute(text("SELECT id FROM outbox WHERE idempotency_key = 'k0' FOR UPDATE"))
        claimer = threading.Thread(target=lambda: claimed.extend(dispatcher.claim(limit=10)))
        claimer.start()
        claimer.join(timeout=10)  # must not wait for the lock: it takes the other rows
        blocked = claimer.is_alive()
    claimer.join()
    assert not blocked, "the claim waited for a locked row instead of skipping it"
    assert [c.idempotency_key for c in claimed] == ["k1", "k2"]
    assert row(db, "k0").leased_by is None


def test_a_batch_handler_gets_consecutive_rows_of_its_topic_and_each_row_keeps_its_own_outcome(db, clock):
    def work(conn):
        for i in range(5):
            ob.enqueue(conn, "b", {"i": i}, f"b{i}", clock.now(), max_attempts=2)
        ob.enqueue(conn, "t", {"i": 9}, "t9", clock.now())
        for i in range(5, 8):
            ob.enqueue(conn, "b", {"i": i}, f"b{i}", clock.now(), max_attempts=2)

    db.write(work)
    calls: list[list[int]] = []

    class Refused(Exception):
        permanent = True

    def batch(items):
        calls.append([payload["i"] for payload, _key in items])
        return [ZeroDivisionError("flaky") if p["i"] == 1 else Refused("no") if p["i"] == 2 else {"ok": p["i"]}
                for p, _key in items]

    single = []
    report = Dispatcher(db, clock, {"t": lambda p, k: single.append(k)}, worker_id="w1", batch_handlers={"b": batch},
                        batch_size=4).run_once()
    assert calls == [[0, 1, 2, 3], [4], [5, 6, 7]]  # by id, never across another topic's row, at most batch_size
    assert single == ["t9"]
    assert (report.delivered, report.retried, report.dead) == (7, 1, 1)  # six of "b" and t9
    assert row(db, "b1").status == "pending" and row(db, "b1").attempts == 1  # only that row is retried
    assert row(db, "b2").status == "dead"
    assert all(row(db, f"b{i}").status == "delivered" for i in (0, 3, 4, 5, 6, 7))


def test_a_batch_handler_that_raises_fails_every_row_of_its_batch(db, clock):
    enqueue_many(db, clock, 3, topic="b")

    def batch(items):
        raise ConnectionError("store API down")

    report = Dispatcher(db, clock, {}, worker_id="w1", batch_handlers={"b": batch}).run_once()
    assert report.retried == 3
    assert {row(db, f"k{i}").last_error for i in range(3)} == {"ConnectionError: store API down"}
