"""Shared machinery of the flash-sale benchmark: the thread harness, the statistics, databases and CPU meters.

Definitions used everywhere (printed with the results too):

* sold            attempts answered "reserved" (201 over HTTP).
* refused         attempts answered "insufficient stock" (409 insufficient_stock over HTTP).
* errors          anything else (an exception, another HTTP status).
* oversold        max(0, sold - units), cross-checked against the database (reserved > on_hand).
* unsold          max(0, units - sold): units left on the shelf at the end.
* false refusals  refusals given while at least one unit was provably neither sold nor being sold.
                  Stock only goes down in this run, so if units are left at the end every refusal is false.
                  Otherwise a refusal is false when its answer arrived before the last successful attempt
                  even started: at that moment fewer than `units` sales had started, so a unit was free.
                  (A lower bound: a refusal that overlaps the final sale is never counted.)
* attempts/s      attempts answered per second of wall time, first start to last answer (the throughput the
                  ratios compare); sold/s is sold divided by the time from the first start to the last sale.
* latency         per attempt, from just before the call (request write) to its return (full response read).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

SOLD, REFUSED, ERROR = 0, 1, 2

SKU = "FLASH-1"
LOCATION = "WH-1"

FALSE_REFUSAL_DEFINITION = (
    "a refusal answered while >=1 unit was provably free: all refusals if units are left unsold at the end "
    "(stock only goes down), else the refusals answered before the last successful attempt started"
)


@dataclass(slots=True)
class Sample:
    start: float
    end: float
    outcome: int


@dataclass
class Trial:
    """The raw outcome of one load run."""

    samples: list[Sample]
    errors: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # seconds of CPU by consumer during the run
    extra: dict[str, Any] = field(default_factory=dict)


class Attempt(Protocol):
    """One worker's way of placing a one-unit reservation: True sold, False refused, raise on error."""

    def __call__(self, reference: str) -> bool: ...

    def close(self) -> None: ...


def run_threads(make_attempt: Callable[[], Attempt], *, workers: int, attempts: int, prefix: str) -> Trial:
    """`workers` threads share `attempts` attempts; each thread builds its Attempt first, then all start at once.

    CPU is metered from the start to the moment the last worker finishes, before any connection is closed
    (a PostgreSQL backend's CPU is lost once its connection ends)."""
    counter = itertools.count()
    meter = CpuMeter()
    barrier = threading.Barrier(workers, action=meter.start)
    finished = threading.Barrier(workers, action=meter.stop)
    per_worker: list[list[Sample]] = [[] for _ in range(workers)]
    errors: list[str] = []
    setup_failures: list[BaseException] = []

    def worker(slot: int) -> None:
        try:
            attempt = make_attempt()
        except BaseException as exc:
            setup_failures.append(exc)
            barrier.abort()
            finished.abort()
            return
        out = per_worker[slot]
        try:
            barrier.wait()
            clock = time.perf_counter
            while (i := next(counter)) < attempts:
                reference = f"{prefix}-{i}"
                start = clock()
                try:
                    outcome = SOLD if attempt(reference) else REFUSED
                except Exception as exc:
                    outcome = ERROR
                    if len(errors) < 5:
                        errors.append("".join(traceback.format_exception_only(exc)).strip()[:500])
                out.append(Sample(start, clock(), outcome))
            finished.wait()
        except threading.BrokenBarrierError:
            pass
        finally:
            attempt.close()

    threads = [threading.Thread(target=worker, args=(n,), name=f"bench-{n}") for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if setup_failures:
        raise RuntimeError(f"a worker failed to start: {setup_failures[0]!r}") from setup_failures[0]
    return Trial([s for samples in per_worker for s in samples], errors, meter.result)


def _quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, int(-(-q * len(sorted_values) // 1)))  # ceil(q * n)
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize(samples: list[Sample], units: int) -> dict[str, Any]:
    """The figures of one run, all computed from the samples."""
    if not samples:
        raise ValueError("no samples")
    first = min(s.start for s in samples)
    last = max(s.end for s in samples)
    wall = last - first
    sold_samples = [s for s in samples if s.outcome == SOLD]
    refused_samples = [s for s in samples if s.outcome == REFUSED]
    sold, refused = len(sold_samples), len(refused_samples)
    errors = len(samples) - sold - refused
    if sold < units:
        false_refusals = refused
    else:
        last_sale_start = max(s.start for s in sold_samples)
        false_refusals = sum(1 for s in refused_samples if s.end < last_sale_start)
    sellout = (max(s.end for s in sold_samples) - first) if sold_samples else float("nan")
    latencies = sorted(s.end - s.start for s in samples)
    return {
        "attempts": len(samples),
        "sold": sold,
        "refused": refused,
        "errors": errors,
        "oversold": max(0, sold - units),
        "unsold": max(0, units - sold),
        "false_refusals": false_refusals,
        "wall_s": round(wall, 4),
        "attempts_per_s": round(len(samples) / wall, 1) if wall > 0 else float("nan"),
        "sold_per_s": round(sold / sellout, 1) if sold_samples and sellout > 0 else 0.0,
        "sellout_s": round(sellout, 4) if sold_samples else None,
        "p50_ms": round(_quantile(latencies, 0.50) * 1000, 3),
        "p99_ms": round(_quantile(latencies, 0.99) * 1000, 3),
    }


# ---- CPU meters (Linux /proc; zeros elsewhere) -----------------------------------------------------------
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[str, int, float] | None:
    """(comm, ppid, cpu seconds) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode(errors="replace")
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return comm, int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def _all_stats() -> dict[int, tuple[str, int, float]]:
    out: dict[int, tuple[str, int, float]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if name.isdigit() and (st := _stat(int(name))) is not None:
            out[int(name)] = st
    return out


PG_DATABASE = "stockpilot_bench"  # the scratch database; its backends are the PostgreSQL CPU we count


def _serves_bench(pid: int, database: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return f" {database} ".encode() in fh.read()
    except OSError:
        return False


def cpu_snapshot(roots: list[int], database: str = PG_DATABASE) -> dict[str, dict[int, float]]:
    """CPU seconds per pid of the process trees under `roots` and of the PostgreSQL backends serving the bench
    database `database` (other databases on the server, e.g. other people's tests, are not counted)."""
    stats = _all_stats()
    children: dict[int, list[int]] = {}
    for pid, (_, ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    tree: dict[int, float] = {}
    todo = [r for r in roots if r in stats]
    while todo:
        pid = todo.pop()
        tree[pid] = stats[pid][2]
        todo.extend(children.get(pid, []))
    postgres = {pid: st[2] for pid, st in stats.items()
                if st[0].startswith("postgres") and _serves_bench(pid, database)}
    return {"tree": tree, "postgres": postgres}


def cpu_delta(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    """CPU used between two snapshots (processes that ended in between are lost; new ones count in full)."""
    return {
        key: round(sum(v - before[key].get(pid, 0.0) for pid, v in after[key].items()), 3) for key in after
    }


class CpuMeter:
    """CPU seconds of this process ('bench'), of a server process tree ('server') and of PostgreSQL's backends
    serving the bench database ('postgres'), and of a worker process ('worker'; when it is the server's child,
    'server' is the tree without it), between start() and stop()."""

    def __init__(self, server_pid: int | None = None, *, database: str = PG_DATABASE,
                 worker_pid: int | None = None) -> None:
        self.roots = [server_pid] if server_pid else []
        self.database = database
        self.worker_pid = worker_pid
        self.result: dict[str, float] = {}
        self._before: dict[str, dict[int, float]] = {}
        self._own = 0.0

    def start(self) -> None:
        self._before, self._own = self._snapshot(), time.process_time()

    def _snapshot(self) -> dict[str, dict[int, float]]:
        taken = cpu_snapshot(self.roots, self.database)
        if self.worker_pid:
            taken["worker"] = cpu_snapshot([self.worker_pid], self.database)["tree"]
        return taken

    def stop(self) -> None:
        own = time.process_time() - self._own
        delta = cpu_delta(self._before, self._snapshot())
        self.result["bench"] = round(own, 3)
        if self.roots:
            self.result["server"] = delta["tree"]
            if self.worker_pid and self.worker_pid in self._before["tree"]:  # serve's own worker child: not twice
                self.result["server"] = round(delta["tree"] - delta["worker"], 3)
        self.result["postgres"] = delta["postgres"]
        if self.worker_pid:
            self.result["worker"] = delta["worker"]


@contextmanager
def measure_cpu(trial_cpu: dict[str, float], *, server_pid: int | None = None, database: str = PG_DATABASE,
                worker_pid: int | None = None) -> Iterator[None]:
    """Fill `trial_cpu` with the CpuMeter figures of the enclosed block."""
    meter = CpuMeter(server_pid, database=database, worker_pid=worker_pid)
    meter.start()
    yield
    meter.stop()
    trial_cpu.update(meter.result)
