"""Proofs for the automation runtime with real processes: SIGKILLed workers lose nothing and duplicate no effect,
timers fire once across workers and never early, cancelled timers never fire, failures back off and dead-letter.

The workers here are separate OS processes killed with SIGKILL (no clean-up of any kind runs). `stockpilot worker`
has no way to set the lease (fixed at 60 s: `WorkerSettings.lease_seconds` is not exposed by the CLI or the
environment), so the crash tests start their worker processes through `_child_main` below, which builds the same
`Worker` the CLI builds, with a 2 s lease and a small batch. The backoff tests use the real CLI process.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select

from stockpilot.adapters.db.tables import decisions as decisions_table
from stockpilot.adapters.db.tables import outbox as outbox_table
from stockpilot.adapters.db.tables import timers as timers_table
from stockpilot.adapters.webhook import TOPIC, WebhookHandler
from stockpilot.runtime import decisions, outbox, timers
from tests.support.receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]
TIMER_KIND = "test.effect"
LEASE_SECONDS = 2.0


# ---- the child worker process -------------------------------------------------------------------------------
class _SlowWebhook:
    """The real webhook handler, then a pause: widens the window "receiver applied it, outcome not yet recorded",
    which is exactly where a SIGKILL forces a redelivery."""

    def __init__(self, pause: float) -> None:
        self.inner = WebhookHandler(timeout=5.0)
        self.pause = pause

    def __call__(self, payload: dict, key: str) -> None:
        self.inner(payload, key)
        time.sleep(self.pause)


def _record_timer_effect(conn, payload: dict) -> None:
    # Runs inside the firing transaction; created_at is this worker's wall clock at the moment it fires.
    decisions.record(conn, payload["key"], "timer.effect", payload, [], None, "timer fired", datetime.now(UTC))


def _child_main(url: str, worker_id: str, pause: float, batch: int) -> None:
    """Entry point of a worker process (see _spawn)."""
    from stockpilot.bootstrap import build
    from stockpilot.config import Settings
    from stockpilot.runtime.worker import Worker, WorkerSettings

    sp = build(Settings(database_url=url, db_pool_size=5), migrate=False)
    settings = WorkerSettings(worker_id=worker_id, poll_seconds=0.2, batch=batch, lease_seconds=LEASE_SECONDS,
                              expiry_sweep_seconds=60)
    worker = Worker(sp, outbox_handlers={TOPIC: _SlowWebhook(pause)},
                    timer_handlers={TIMER_KIND: _record_timer_effect}, settings=settings)
    print(f"ready {worker_id}", flush=True)
    worker.run_until_signalled()
    sp.close()


def _spawn(url: str, worker_id: str, pause: float = 0.0, batch: int = 10) -> subprocess.Popen:
    code = (f"from tests.integration.test_runtime_crash import _child_main; "
            f"_child_main({url!r}, {worker_id!r}, {pause!r}, {batch!r})")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _stop_all(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---- a receiver that applies only complete requests ---------------------------------------------------------
class StrictReceiver:
    """Like tests/support/receiver.py, but a request whose body did not fully arrive is not applied.

    tests.support.receiver.Receiver reads `Content-Length` bytes and treats a short read as a body: a worker
    SIGKILLed between sending the headers and the body (httpx writes them separately) leaves an "effect" with body
    {} under that key, and the real delivery afterwards is deduped against it. Any real receiver rejects such a
    truncated request; so does this one (and counts it).
    """

    def __init__(self) -> None:
        self.raw: Counter = Counter()
        self.effects: dict[str, dict] = {}
        self.truncated = 0
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                data = self.rfile.read(length)
                if len(data) != length:  # the sender died mid-request: nothing to apply, nobody to answer
                    with lock:
                        receiver.truncated += 1
                    self.close_connection = True
                    return
                key = self.headers.get("Idempotency-Key", "")
                with lock:
                    receiver.raw[key] += 1
                    receiver.effects.setdefault(key, json.loads(data))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, *_args: object) -> None:  # resets from killed workers are expected here
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StrictReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---- helpers ----------------------------------------------------------------------------------------------
def _enqueue(sp, url: str, keys: list[str], **kwargs) -> None:
    def work(conn):
        for key in keys:
            outbox.enqueue(conn, TOPIC, {"url": url, "body": {"key": key}}, key, sp.ctx.clock.now(), **kwargs)

    sp.db.write(work)


def _status_counts(sp) -> Counter:
    with sp.db.read() as conn:
        return Counter(dict(conn.execute(
            select(outbox_table.c.status, func.count()).group_by(outbox_table.c.status)).all()))


def _wait_until(predicate, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def _crash_run(sp, db_url: str, *, n: int, workers: int, kills: int, seed: int, pause: float) -> None:
    rng = random.Random(seed)
    kills_mid_work = 0
    keys = [f"crash-{i}" for i in range(n)]
    processes: list[subprocess.Popen] = []
    with StrictReceiver() as receiver:
        _enqueue(sp, receiver.url, keys)
        try:
            live = [_spawn(db_url, f"w{i}", pause=pause) for i in range(workers)]
            processes += live
            for kill in range(kills):
                time.sleep(rng.uniform(0.2, 0.8))
                kills_mid_work += _status_counts(sp)["delivered"] < n
                victim = live.pop(rng.randrange(len(live)))
                os.kill(victim.pid, signal.SIGKILL)
                victim.wait()
                replacement = _spawn(db_url, f"w{workers + kill}", pause=pause)
                processes.append(replacement)
                live.append(replacement)
            # Killed workers' leases run out after LEASE_SECONDS; the survivors take the rows over.
            delivered = _wait_until(lambda: _status_counts(sp)["delivered"] == n, timeout=90, interval=0.25)
            counts = _status_counts(sp)
            assert delivered, f"not all delivered: {dict(counts)}"
        finally:
            _stop_all(processes)
    redeliveries = sum(receiver.raw.values()) - n
    print(f"\n[{sp.db.dialect}] {n} rows, {kills} SIGKILLs ({kills_mid_work} with rows undelivered): "
          f"{redeliveries} raw redeliveries (keys posted more than once: "
          f"{sum(1 for c in receiver.raw.values() if c > 1)}; requests cut off by a kill: {receiver.truncated})")
    assert counts == Counter({"delivered": n})  # nothing pending, leased-stuck or dead
    assert set(receiver.effects) == set(keys)  # nothing lost, nothing unknown
    assert len(receiver.effects) == n
    assert all(receiver.effects[key] == {"key": key} for key in keys)  # each effect applied once, with its body
    assert all(receiver.raw[key] >= 1 for key in keys)


# ---- crash tests ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_sigkilled_workers_lose_nothing_and_apply_each_effect_once(db_url, sp):
    if sp.db.is_sqlite:
        pytest.skip("several writer processes: PostgreSQL; SQLite has its own variant below")
    _crash_run(sp, db_url, n=300, workers=3, kills=12, seed=20261123, pause=0.04)


@pytest.mark.slow
def test_sqlite_single_worker_killed_and_restarted_loses_nothing(db_url, sp):
    if not sp.db.is_sqlite:
        pytest.skip("the SQLite variant; PostgreSQL runs the multi-worker crash test")
    _crash_run(sp, db_url, n=150, workers=1, kills=6, seed=7, pause=0.03)


# ---- timers -----------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_timers_fire_once_across_worker_processes_never_early_and_cancelled_never_fire(db_url, sp):
    rng = random.Random(42)
    m = 40
    start = datetime.now(UTC)
    fire_at = {f"t{i}": start + timedelta(seconds=rng.uniform(1.0, 4.0)) for i in range(m)}
    doomed = {f"c{i}": start + timedelta(seconds=rng.uniform(4.0, 6.0)) for i in range(20)}

    def schedule_all(conn):
        for key, at in {**fire_at, **doomed}.items():
            timers.schedule(conn, TIMER_KIND, key, at, {"key": key}, now=start)

    sp.db.write(schedule_all)
    processes = [_spawn(db_url, f"tw{i}") for i in range(3)]
    try:
        cancelled = sorted(doomed)[::2]
        cancel_time = datetime.now(UTC)
        assert cancel_time < min(doomed.values()), "the machine stalled for seconds; the premise does not hold"
        assert sp.db.write(lambda conn: sum(timers.cancel(conn, key, cancel_time) for key in cancelled)) == 10
        live = set(fire_at) | (set(doomed) - set(cancelled))

        def fired() -> int:
            with sp.db.read() as conn:
                return conn.execute(select(func.count()).where(timers_table.c.status == "fired")).scalar_one()

        assert _wait_until(lambda: fired() == len(live), timeout=60, interval=0.2)
        # Past the last cancelled timer's due time, and a poll or two more: a cancelled timer would have fired.
        while datetime.now(UTC) < max(doomed.values()) + timedelta(seconds=1):
            time.sleep(0.1)
    finally:
        _stop_all(processes)

    all_due = {**fire_at, **doomed}
    with sp.db.read() as conn:
        effects = conn.execute(select(decisions_table.c.subject, decisions_table.c.created_at)).all()
        status = dict(conn.execute(select(timers_table.c.correlation_key, timers_table.c.status)).all())
    per_key = Counter(subject for subject, _ in effects)
    assert per_key == Counter(dict.fromkeys(live, 1))  # each live timer's effect exactly once, cancelled: none
    assert all(created_at >= all_due[subject] for subject, created_at in effects)  # never early
    assert {k for k, s in status.items() if s == "cancelled"} == set(cancelled)
    assert {k for k, s in status.items() if s == "fired"} == live


# ---- backoff and dead letter through the real `stockpilot worker` process --------------------------------
@pytest.mark.slow
def test_cli_worker_backs_off_then_delivers_and_dead_letters_a_receiver_that_always_fails(db_url, sp):
    failures = 2
    with Receiver(fail_first=failures) as flaky, Receiver(fail_first=10**9) as broken:
        env = {**os.environ, "STOCKPILOT_DATABASE_URL": db_url}
        command = [sys.executable, "-m", "stockpilot.entrypoints.cli.main", "worker", "--id", "cli-1",
                   "--poll-seconds", "0.1"]
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            _enqueue(sp, flaky.url, ["flaky"])
            _enqueue(sp, broken.url, ["broken"], max_attempts=3)

            def settled() -> bool:
                with sp.db.read() as conn:
                    rows = [outbox.get(conn, "flaky"), outbox.get(conn, "broken")]
                return all(r is not None and r.status != "pending" for r in rows)

            # Default backoff (base 1 s, full jitter): at most 1 + 2 s of waiting per row.
            assert _wait_until(settled, timeout=60), "rows did not settle"
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    with sp.db.read() as conn:
        ok, dead = outbox.get(conn, "flaky"), outbox.get(conn, "broken")
    assert ok is not None and ok.status == "delivered" and ok.attempts == failures + 1
    assert flaky.raw["flaky"] == 1 and list(flaky.effects) == ["flaky"]
    assert dead is not None and dead.status == "dead" and dead.attempts == 3
    assert dead.last_error is not None and "503" in dead.last_error
    assert broken.effects == {}


# ---- defects found while writing these proofs, fixed since ----------------------------------------------------
def test_a_due_timer_that_cannot_fire_does_not_make_the_timer_loop_spin(sp):
    from stockpilot.runtime.worker import Worker, WorkerSettings

    now = sp.ctx.clock.now()
    sp.db.write(lambda conn: timers.schedule(conn, "nobody.handles.this", "k", now, {}, now=now))
    worker = Worker(sp, outbox_handlers={}, timer_handlers={},
                    settings=WorkerSettings(worker_id="w1", poll_seconds=0.5, expiry_sweep_seconds=60))
    passes = Counter()
    run_once = worker.timer_runner.run_once

    def counting(*args, **kwargs):
        passes["timer"] += 1
        return run_once(*args, **kwargs)

    worker.timer_runner.run_once = counting
    worker.start()
    try:
        time.sleep(1.5)
    finally:
        worker.stop()
    assert passes["timer"] <= 20, f"{passes['timer']} timer passes in 1.5 s with poll_seconds=0.5"


def test_rows_whose_lease_ran_out_before_they_were_started_are_not_delivered_twice(db_url, clock):
    from stockpilot.adapters.db.database import Database

    db = Database(db_url)
    try:
        db.write(lambda conn: [outbox.enqueue(conn, "t", {}, f"k{i}", clock.now()) for i in range(10)])
        calls = Counter()
        successor = outbox.Dispatcher(db, clock, {}, worker_id="b", lease_seconds=1.0)

        def slow(_payload, key):  # a healthy but slow supplier: 0.3 s per call, on the injected clock
            calls[key] += 1
            clock.advance(seconds=0.3)
            if key == "k3" and not successor.handlers:
                successor.handlers["t"] = slow
                successor.run_once(10)  # a's lease (1 s) ran out at k3: b takes over k3..k9

        first = outbox.Dispatcher(db, clock, {"t": slow}, worker_id="a", lease_seconds=1.0)
        first.run_once(10)
    finally:
        db.dispose()
    # k3 was in flight when the lease ran out: a second call is the documented at-least-once. k4..k9 were not.
    assert sum(calls.values()) <= 11, dict(calls)
