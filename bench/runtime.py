"""Outbox delivery to a loopback HTTP receiver: throughput and commit-to-delivery latency.

* Throughput: W `stockpilot worker` processes (PostgreSQL: 1, 2, 4; SQLite: one) are started and idle; K rows are
  enqueued in one transaction; the clock runs from that commit until the database says every row is delivered.
* Latency: rows are enqueued one at a time at a modest rate; the bench notes time.time() right after each commit
  returns and the receiver notes the arrival of each key; latency = arrival - commit.
  - "wake-up": workers poll only every 5 s, so only a wake-up explains a low latency (PostgreSQL: a real
    `stockpilot worker` process woken by LISTEN/NOTIFY; SQLite: a Worker embedded in the enqueueing process,
    woken in-process by Database.on_commit, as `stockpilot serve` runs it).
  - "poll-only": a Dispatcher.run_once loop with a 0.5 s nap and no wake-ups at all (the Worker cannot be told to
    skip LISTEN, so the baseline is emulated here with the same Dispatcher the worker runs).
* Profile: one in-process Dispatcher with timers around the claim transaction, the handler (HTTP) and the outcome
  transaction, to say where the time per delivery goes.

The receiver is a separate process: a raw asyncio HTTP/1.1 server with keep-alive (the webhook handler keeps one
httpx.Client, hence one keep-alive connection, per worker), far cheaper per request than http.server.

Usage: python bench/runtime.py [--backend sqlite|postgresql|both] [--rows 5000] [--workers 1,2,4] [--quick]
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select, text

from stockpilot.adapters.db.database import Database, normalise_url
from stockpilot.adapters.db.migrate import upgrade
from stockpilot.adapters.db.tables import metadata
from stockpilot.adapters.db.tables import outbox as outbox_table
from stockpilot.adapters.system_clock import SystemClock
from stockpilot.adapters.webhook import TOPIC, WebhookHandler
from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.runtime import outbox
from stockpilot.runtime.worker import Worker, WorkerSettings

PG_ADMIN_URL = normalise_url(os.environ.get("STOCKPILOT_BENCH_POSTGRES_URL",
                                            "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
PG_BENCH_DB = "stockpilot_bench_runtime"
GOAL_P99_MS = 100.0
GOAL_RATE = 2000.0


# ---- receiver (separate process) --------------------------------------------------------------------------
_OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"


def serve_receiver() -> None:
    """Raw asyncio HTTP/1.1 keep-alive server. POST: note first arrival per Idempotency-Key. GET /stats, /arrivals;
    POST /reset."""
    first: dict[str, float] = {}
    raw = [0]

    def reply(body: bytes) -> bytes:
        return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\n\r\n" + body)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                arrived = time.time()
                lines = head.split(b"\r\n")
                _method, path, _ = lines[0].split(b" ", 2)
                length, key = 0, ""
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"idempotency-key":
                        key = value.strip().decode()
                if length:
                    await reader.readexactly(length)
                if path == b"/stats":
                    writer.write(reply(json.dumps({"raw": raw[0], "distinct": len(first)}).encode()))
                elif path == b"/arrivals":
                    writer.write(reply(json.dumps(first).encode()))
                elif path == b"/reset":
                    first.clear()
                    raw[0] = 0
                    writer.write(_OK)
                else:
                    raw[0] += 1
                    first.setdefault(key, arrived)
                    writer.write(_OK)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=512)
        print(server.sockets[0].getsockname()[1], flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


class ReceiverProcess:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve-receiver"], stdout=subprocess.PIPE,
                                     text=True)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)

    def stats(self) -> dict[str, int]:
        return self.client.get("/stats").json()

    def arrivals(self) -> dict[str, float]:
        return self.client.get("/arrivals").json()

    def reset(self) -> None:
        self.client.post("/reset")

    def stop(self) -> None:
        self.client.close()
        _terminate([self.proc])


# ---- databases and worker processes -----------------------------------------------------------------------
def _terminate(processes: list[subprocess.Popen], timeout: float = 20) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Backend:
    def __init__(self, name: str, workdir: Path) -> None:
        self.name = name
        if name == "postgresql":
            self.admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_BENCH_DB}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{PG_BENCH_DB}"'))
            self.url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_BENCH_DB}"
        else:
            self.url = f"sqlite:///{workdir / 'bench_runtime.db'}"
        db = Database(self.url)
        upgrade(db)
        db.dispose()

    def reset(self) -> None:
        engine = create_engine(self.url)
        with engine.begin() as conn:
            if self.name == "postgresql":
                conn.execute(text(f"TRUNCATE {', '.join(t.name for t in metadata.sorted_tables)} RESTART IDENTITY"))
            else:
                conn.execute(text("DELETE FROM outbox"))
        engine.dispose()

    def close(self) -> None:
        if self.name == "postgresql":
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_BENCH_DB}" WITH (FORCE)'))
            self.admin.dispose()


def _cli() -> list[str]:
    found = shutil.which("stockpilot", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "stockpilot.entrypoints.cli.main"]


def start_workers(url: str, count: int, poll_seconds: float) -> list[subprocess.Popen]:
    env = {**os.environ, "STOCKPILOT_DATABASE_URL": url, "STOCKPILOT_EXPIRY_SWEEP_SECONDS": "3600",
           "PYTHONUNBUFFERED": "1"}
    processes = [subprocess.Popen([*_cli(), "worker", "--id", f"bench-{i}", "--poll-seconds", str(poll_seconds)],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                 for i in range(count)]
    for process in processes:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("worker "):
            _terminate(processes)
            raise RuntimeError(f"worker did not start: {line!r}")
    time.sleep(1.0)  # LISTEN connections up, first empty pass done: the workers are asleep
    return processes


def _proc_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies over all CPUs, from /proc/stat."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


def _delivered(db: Database) -> int:
    with db.read() as conn:
        return conn.execute(select(func.count()).where(outbox_table.c.status == "delivered")).scalar_one()


def _enqueue_batch(db: Database, url: str, keys: list[str]) -> None:
    now = SystemClock().now()

    def work(conn: Any) -> None:
        for key in keys:
            outbox.enqueue(conn, TOPIC, {"url": url, "body": {"key": key}}, key, now)

    db.write(work)


# ---- measurements -----------------------------------------------------------------------------------------
def throughput(backend: Backend, receiver: ReceiverProcess, workers: int, rows: int) -> dict[str, Any]:
    backend.reset()
    receiver.reset()
    poll = 5.0 if backend.name == "postgresql" else 0.05  # SQLite has no cross-process wake-up: poll briskly
    processes = start_workers(backend.url, workers, poll)
    db = Database(backend.url)
    try:
        keys = [f"tp-{i}" for i in range(rows)]
        _enqueue_batch(db, receiver.url, keys)
        started = time.perf_counter()
        cpu_before = {p.pid: _proc_cpu(p.pid) for p in [*processes, receiver.proc]}
        busy_before = _machine_busy()
        deadline = started + max(120.0, rows / 20)
        while _delivered(db) < rows:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"throughput run timed out: {_delivered(db)}/{rows}")
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        cpu = {pid: _proc_cpu(pid) - before for pid, before in cpu_before.items()}
        busy_after = _machine_busy()
    finally:
        _terminate(processes)
        db.dispose()
    stats = receiver.stats()
    return {"backend": backend.name, "workers": workers, "rows": rows, "seconds": round(elapsed, 3),
            "per_second": round(rows / elapsed, 1), "raw_posts": stats["raw"], "distinct": stats["distinct"],
            "worker_cpu_us_per_delivery": round(sum(cpu[p.pid] for p in processes) / rows * 1e6, 1),
            "receiver_cpu_us_per_delivery": round(cpu[receiver.proc.pid] / rows * 1e6, 1),
            "machine_busy_pct": round(100 * (busy_after[0] - busy_before[0]) / max(1.0, busy_after[1] - busy_before[1]),
                                      1)}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _latency_run(db: Database, receiver: ReceiverProcess, rows: int, rate: float, prefix: str) -> dict[str, Any]:
    commits: dict[str, float] = {}
    interval = 1.0 / rate
    next_at = time.perf_counter()
    for i in range(rows):
        key = f"{prefix}-{i}"
        _enqueue_batch(db, receiver.url, [key])
        commits[key] = time.time()
        next_at += interval
        time.sleep(max(0.0, next_at - time.perf_counter()))
    deadline = time.monotonic() + 60
    while receiver.stats()["distinct"] < rows and time.monotonic() < deadline:
        time.sleep(0.05)
    arrivals = receiver.arrivals()
    missing = [k for k in commits if k not in arrivals]
    if missing:
        raise RuntimeError(f"{len(missing)} rows never arrived")
    ms = [(arrivals[k] - commits[k]) * 1000 for k in commits]
    return {"rows": rows, "p50_ms": round(_percentile(ms, 0.5), 2), "p99_ms": round(_percentile(ms, 0.99), 2),
            "max_ms": round(max(ms), 2), "mean_ms": round(statistics.fmean(ms), 2)}


def latency_wakeup(backend: Backend, receiver: ReceiverProcess, rows: int, rate: float) -> dict[str, Any]:
    backend.reset()
    receiver.reset()
    if backend.name == "postgresql":
        processes = start_workers(backend.url, 1, poll_seconds=5.0)
        db = Database(backend.url)
        try:
            return _latency_run(db, receiver, rows, rate, "lw")
        finally:
            _terminate(processes)
            db.dispose()
    sp = build(Settings(database_url=backend.url, expiry_sweep_seconds=3600), migrate=False)
    worker = Worker(sp, outbox_handlers={TOPIC: WebhookHandler()},
                    settings=WorkerSettings(worker_id="bench-embedded", poll_seconds=5.0, expiry_sweep_seconds=3600))
    worker.start()
    try:
        time.sleep(0.5)
        return _latency_run(sp.db, receiver, rows, rate, "lw")
    finally:
        worker.stop()
        sp.close()


def latency_poll_only(backend: Backend, receiver: ReceiverProcess, rows: int, rate: float,
                      poll_seconds: float = 0.5) -> dict[str, Any]:
    backend.reset()
    receiver.reset()
    db = Database(backend.url)  # no on_commit hook, no LISTEN: the dispatcher finds work only by polling
    dispatcher = outbox.Dispatcher(db, SystemClock(), {TOPIC: WebhookHandler()}, worker_id="bench-poll")
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            if dispatcher.run_once(100).claimed < 100:
                stop.wait(poll_seconds)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        return {**_latency_run(db, receiver, rows, rate, "lp"), "poll_seconds": poll_seconds}
    finally:
        stop.set()
        thread.join(10)
        db.dispose()


def profile(backend: Backend, receiver: ReceiverProcess, rows: int) -> dict[str, Any]:
    """Where the time per delivery goes, from one in-process Dispatcher with timers around each step."""
    backend.reset()
    receiver.reset()
    db = Database(backend.url)
    _enqueue_batch(db, receiver.url, [f"pf-{i}" for i in range(rows)])
    spent = {"claim": 0.0, "handler": 0.0, "outcome": 0.0}

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return run

    dispatcher = outbox.Dispatcher(db, SystemClock(), {TOPIC: timed("handler", WebhookHandler())},
                                   worker_id="bench-profile")
    dispatcher.claim = timed("claim", dispatcher.claim)  # type: ignore[method-assign]
    dispatcher._record_success = timed("outcome", dispatcher._record_success)  # type: ignore[method-assign]
    started = time.perf_counter()
    delivered = 0
    while delivered < rows:
        delivered += dispatcher.run_once(100).delivered
    total = time.perf_counter() - started
    commit = _commit_cost(db)
    db.dispose()
    per = {f"{k}_us": round(v / rows * 1e6, 1) for k, v in spent.items()}
    other = total - sum(spent.values())
    return {"rows": rows, "per_second": round(rows / total, 1), **per, "other_us": round(other / rows * 1e6, 1),
            "total_us": round(total / rows * 1e6, 1), **commit}


def _commit_cost(db: Database, n: int = 300) -> dict[str, float]:
    """One-row UPDATE transactions like the outcome's, with the commit flushed to disk and (PostgreSQL) not."""
    stmt = outbox_table.update().where(outbox_table.c.id == 1).values(attempts=outbox_table.c.attempts)
    out: dict[str, float] = {}
    modes = [("update_txn_us", None)]
    if not db.is_sqlite:
        modes.append(("update_txn_no_fsync_us", "SET LOCAL synchronous_commit = off"))
    for label, prelude in modes:
        started = time.perf_counter()
        for _ in range(n):
            def work(conn: Any, prelude: str | None = prelude) -> None:
                if prelude:
                    conn.execute(text(prelude))
                conn.execute(stmt)

            db.write(work)
        out[label] = round((time.perf_counter() - started) / n * 1e6, 1)
    return out


def pg_settings() -> dict[str, str]:
    engine = create_engine(PG_ADMIN_URL)
    with engine.connect() as conn:
        out = {name: conn.execute(text(f"SHOW {name}")).scalar_one()
               for name in ("synchronous_commit", "fsync", "wal_sync_method", "max_connections")}
    engine.dispose()
    return out


# ---- main -------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rows", type=int, default=5000, help="rows per throughput run")
    parser.add_argument("--workers", default="1,2,4", help="PostgreSQL worker process counts")
    parser.add_argument("--latency-rows", type=int, default=300)
    parser.add_argument("--rate", type=float, default=25.0, help="enqueues per second in the latency runs")
    parser.add_argument("--quick", action="store_true", help="small runs, finishes in under a minute")
    parser.add_argument("--serve-receiver", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.latency_rows, args.rate = min(args.rows, 1000), min(args.latency_rows, 60), 30.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_receiver:
        serve_receiver()
        return 0
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    result: dict[str, Any] = {"cpus": os.cpu_count(), "rows": args.rows, "latency_rows": args.latency_rows,
                              "rate_per_s": args.rate, "throughput": [], "latency": {}, "profile": {}}
    workdir = Path(tempfile.mkdtemp(prefix="stockpilot-bench-runtime-"))
    receiver = ReceiverProcess()
    began = time.perf_counter()
    try:
        for name in backends:
            backend = Backend(name, workdir)
            try:
                if name == "postgresql":
                    result["pg_settings"] = pg_settings()
                for workers in (worker_counts if name == "postgresql" else [1]):
                    row = throughput(backend, receiver, workers, args.rows)
                    result["throughput"].append(row)
                    print(f"  throughput {name:<10} workers={workers}: {row['per_second']:>8.1f}/s "
                          f"({row['rows']} rows in {row['seconds']} s, {row['raw_posts']} POSTs)", flush=True)
                wake = latency_wakeup(backend, receiver, args.latency_rows, args.rate)
                poll = latency_poll_only(backend, receiver, args.latency_rows, args.rate)
                result["latency"][name] = {
                    "wakeup": wake, "poll_only": poll,
                    "p50_ratio_poll_over_wakeup": round(poll["p50_ms"] / max(wake["p50_ms"], 0.01), 1),
                    "p99_ratio_poll_over_wakeup": round(poll["p99_ms"] / max(wake["p99_ms"], 0.01), 1),
                }
                print(f"  latency    {name:<10} wake-up p50 {wake['p50_ms']} ms p99 {wake['p99_ms']} ms | "
                      f"poll-only p50 {poll['p50_ms']} ms p99 {poll['p99_ms']} ms", flush=True)
                result["profile"][name] = profile(backend, receiver, min(args.rows, 2000))
            finally:
                backend.close()
    finally:
        receiver.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    result["elapsed_s"] = round(time.perf_counter() - began, 1)
    result["goals"] = goals(result)
    print_table(result)
    print(json.dumps(result, sort_keys=True))
    return 0


def goals(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, lat in result["latency"].items():
        out[f"{name}_p99_under_{GOAL_P99_MS:.0f}ms"] = lat["wakeup"]["p99_ms"] < GOAL_P99_MS
    four = [r for r in result["throughput"] if r["backend"] == "postgresql" and r["workers"] == 4]
    if four:
        out["postgresql_4_workers_rate"] = four[0]["per_second"]
        out[f"postgresql_4_workers_at_least_{GOAL_RATE:.0f}_per_s"] = four[0]["per_second"] >= GOAL_RATE
    return out


def print_table(result: dict[str, Any]) -> None:
    print()
    print(f"Outbox delivery to a loopback receiver ({result['cpus']} CPUs)")
    print(f"{'backend':<11}{'workers':>8}{'rows':>7}{'seconds':>9}{'deliveries/s':>14}{'POSTs':>7}"
          f"{'worker CPU us/dlv':>19}{'receiver us/dlv':>17}{'machine busy':>14}")
    for r in result["throughput"]:
        print(f"{r['backend']:<11}{r['workers']:>8}{r['rows']:>7}{r['seconds']:>9.2f}{r['per_second']:>14.1f}"
              f"{r['raw_posts']:>7}{r['worker_cpu_us_per_delivery']:>19.0f}{r['receiver_cpu_us_per_delivery']:>17.0f}"
              f"{r['machine_busy_pct']:>13.0f}%")
    print()
    print(f"Commit-to-delivery latency ({result['latency_rows']} rows at {result['rate_per_s']}/s)")
    print(f"{'backend':<11}{'mode':<11}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, lat in result["latency"].items():
        for mode in ("wakeup", "poll_only"):
            r = lat[mode]
            print(f"{name:<11}{mode:<11}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['max_ms']:>9.1f}")
        print(f"{name:<11}{'ratio':<11}{lat['p50_ratio_poll_over_wakeup']:>8.1f}x{lat['p99_ratio_poll_over_wakeup']:>8.1f}x")
    print()
    print("Per delivery, one in-process Dispatcher (microseconds)")
    print(f"{'backend':<11}{'claim':>8}{'handler':>9}{'outcome':>9}{'other':>8}{'total':>8}{'per s':>9}"
          f"{'update txn':>12}{'same, no fsync':>16}")
    for name, p in result["profile"].items():
        print(f"{name:<11}{p['claim_us']:>8.0f}{p['handler_us']:>9.0f}{p['outcome_us']:>9.0f}{p['other_us']:>8.0f}"
              f"{p['total_us']:>8.0f}{p['per_second']:>9.1f}{p['update_txn_us']:>12.0f}"
              f"{p.get('update_txn_no_fsync_us', float('nan')):>16.0f}")
    print()
    for goal, value in result["goals"].items():
        print(f"goal {goal}: {value}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
