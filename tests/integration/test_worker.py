"""The worker end to end: outbox rows written with a business change reach a real HTTP receiver exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from stockpilot.adapters.db.tables import outbox as outbox_table
from stockpilot.adapters.webhook import TOPIC, WebhookHandler
from stockpilot.runtime import outbox
from stockpilot.runtime.worker import Worker, WorkerSettings
from tests.support.receiver import Receiver


def _enqueue(sp, url: str, keys: list[str]) -> None:
    def work(conn):
        for key in keys:
            outbox.enqueue(conn, TOPIC, {"url": url, "body": {"key": key}}, key, sp.ctx.clock.now())

    sp.db.write(work)


def _statuses(sp) -> dict[str, str]:
    with sp.db.read() as conn:
        return dict(conn.execute(select(outbox_table.c.idempotency_key, outbox_table.c.status)).all())


def test_worker_delivers_each_row_once_and_is_woken_by_the_commit(sp):
    with Receiver() as receiver:
        # A long poll interval: delivery within the test's patience proves the commit woke the worker.
        worker = Worker(sp, outbox_handlers={TOPIC: WebhookHandler()},
                        settings=WorkerSettings(worker_id="w1", poll_seconds=60, expiry_sweep_seconds=60))
        worker.start()
        try:
            time.sleep(0.2)  # let the worker go to sleep on its first empty pass
            _enqueue(sp, receiver.url, [f"k{i}" for i in range(50)])
            assert receiver.wait_for(50, timeout=30)
        finally:
            worker.stop()
    assert set(receiver.effects) == {f"k{i}" for i in range(50)}
    assert max(receiver.raw.values()) == 1
    deadline = time.monotonic() + 10
    while set(_statuses(sp).values()) != {"delivered"}:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_failures_back_off_then_deliver(sp):
    with Receiver(fail_first=2) as receiver:
        worker = Worker(sp, outbox_handlers={TOPIC: WebhookHandler()},
                        backoff=outbox.Backoff(base_seconds=0.0),  # retry at once; backoff has its own tests
                        settings=WorkerSettings(worker_id="w1", poll_seconds=0.05, expiry_sweep_seconds=60))
        worker.start()
        try:
            _enqueue(sp, receiver.url, ["flaky"])
            assert receiver.wait_for(1, timeout=30)
        finally:
            worker.stop()
    with sp.db.read() as conn:
        row = outbox.get(conn, "flaky")
    assert row is not None and row.attempts == 3 and row.status == "delivered"


def test_worker_process_stops_cleanly_on_sigterm(db_url, sp):
    with Receiver() as receiver:
        env = {**os.environ, "STOCKPILOT_DATABASE_URL": db_url}
        command = [sys.executable, "-m", "stockpilot.entrypoints.cli.main", "worker", "--id", "proc-1"]
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            _enqueue(sp, receiver.url, [f"p{i}" for i in range(20)])
            assert receiver.wait_for(20, timeout=60), process.stdout.read() if process.poll() is not None else ""
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "stopped" in output
    assert max(receiver.raw.values()) == 1


def test_worker_runs_event_consumers(sp):
    from stockpilot.runtime.consumers import Consumer
    from tests.integration.helpers import line, stock

    seen: list[tuple[int, str]] = []
    worker = Worker(sp, outbox_handlers={}, consumers=[Consumer("audit", lambda _conn, e: seen.append((e.id, e.kind)))],
                    settings=WorkerSettings(worker_id="w1", poll_seconds=0.05, consumer_poll_seconds=0.05,
                                            expiry_sweep_seconds=60))
    stock(sp, "A", {"WH": 2})
    worker.start()
    try:
        sp.reservations.reserve("c1", [line("A", 2)])
        expected = [(e["id"], e["kind"]) for e in sp.stock.events(limit=1000)]
        deadline = time.monotonic() + 30
        while len(seen) < len(expected):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        worker.stop()
    assert seen == expected


def test_event_consumers_are_woken_by_this_processes_commits_not_by_the_poll(sp):
    from stockpilot.runtime.consumers import Consumer
    from tests.integration.helpers import line, stock

    seen: list[str] = []
    stock(sp, "A", {"WH": 2})
    # A poll far beyond the test's patience: only the commit's wake-up can bring the new events in time.
    worker = Worker(sp, outbox_handlers={}, consumers=[Consumer("audit", lambda _conn, e: seen.append(e.kind))],
                    settings=WorkerSettings(worker_id="w1", poll_seconds=120, consumer_poll_seconds=120,
                                            expiry_sweep_seconds=120))
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while not seen:  # the history so far, on the first pass
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.2)  # the consumer loop is asleep now
        before = len(seen)
        sp.reservations.reserve("c1", [line("A", 2)])
        while len(seen) == before:
            assert time.monotonic() < deadline, "the consumer slept through the commit"
            time.sleep(0.02)
    finally:
        worker.stop()
    assert "StockChanged" in seen[before:]


def test_a_lane_is_delivered_while_the_other_topics_wait_on_a_slow_receiver(sp):
    import threading

    released = threading.Event()
    slow_started = threading.Event()
    fast: list[str] = []

    def slow(payload, key):  # a receiver that hangs (a push to a platform that stopped answering)
        slow_started.set()
        released.wait(30)

    def local(payload, key):
        fast.append(key)

    worker = Worker(sp, outbox_handlers={"slow": slow, "local": local}, lanes=[{"local"}],
                    settings=WorkerSettings(worker_id="w1", poll_seconds=0.05, expiry_sweep_seconds=60))
    worker.start()
    try:
        sp.db.write(lambda conn: outbox.enqueue(conn, "slow", {}, "s1", sp.ctx.clock.now()))
        assert slow_started.wait(30)
        sp.db.write(lambda conn: [outbox.enqueue(conn, "local", {}, f"l{i}", sp.ctx.clock.now()) for i in range(5)])
        deadline = time.monotonic() + 30
        while len(fast) < 5:  # without the lane these would wait behind "slow" until it is released
            assert time.monotonic() < deadline, fast
            time.sleep(0.02)
        assert not released.is_set()
    finally:
        released.set()
        worker.stop()
    assert sorted(fast) == [f"l{i}" for i in range(5)]
    assert _statuses(sp)["s1"] == "delivered"


def test_a_consumer_with_its_own_thread_walks_while_another_hangs(sp, db_url):
    """PostgreSQL: the push consumer (own_thread) is not held up by the other consumers' passes."""
    import threading

    from stockpilot.runtime.consumers import Consumer
    from tests.integration.helpers import line, stock

    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite: one consumer thread by design (a walk holds the one writer, so they take turns)")
    released = threading.Event()
    slow_started = threading.Event()
    fast: list[int] = []

    def slow(_conn, _event):  # a walk that hangs (a handler waiting on something that stopped answering)
        slow_started.set()
        released.wait(30)

    stock(sp, "A", {"WH": 5})
    worker = Worker(sp, outbox_handlers={}, consumers=[Consumer("slow", slow),
                                                       Consumer("pushes", lambda _c, e: fast.append(e.id),
                                                                own_thread=True)],
                    settings=WorkerSettings(worker_id="w1", poll_seconds=0.05, consumer_poll_seconds=0.05,
                                            expiry_sweep_seconds=60))
    worker.start()
    try:
        assert slow_started.wait(30)
        sp.reservations.reserve("c1", [line("A", 2)])
        newest = max(e["id"] for e in sp.stock.events(limit=1000))
        deadline = time.monotonic() + 30
        while newest not in fast:  # in turn with "slow" it would wait for the hung walk
            assert time.monotonic() < deadline, fast
            time.sleep(0.02)
        assert not released.is_set()
    finally:
        released.set()
        worker.stop()
