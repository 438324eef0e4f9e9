"""Where a reservation's time goes in the service layer: single thread, no profiler, timers around each step.

cProfile's per-call overhead distorts a path made of many small calls; wrapping a dozen functions with
perf_counter costs well under a microsecond each, so these figures stay close to the unprofiled run.
Each step is timed inclusively (nested steps are indented) and compared with the raw-SQL baseline (b).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from sqlalchemy import bindparam, select

from flash_core import SKU
from flash_sql import GuardedSql, Shape
from stockpilot.adapters.db import ledger, placement_store
from stockpilot.adapters.db import reservation_store as store
from stockpilot.adapters.db.tables import skus
from stockpilot.bootstrap import Stockpilot
from stockpilot.domain.errors import InsufficientStock
from stockpilot.domain.reservations import RequestedLine
from stockpilot.services import reservations as reservation_service

_WORK = "reserve's work(conn), inside the transaction"
# (label, owner, attribute, depth): patched where the service looks them up at call time.
_STEPS: list[tuple[str, Any, str, int]] = [
    ("claim reference (INSERT .. ON CONFLICT)", store, "claim_reference", 1),
    ("SKU lookup", reservation_service, "resolve", 1),
    ("routing options", placement_store, "routing_options", 1),
    ("ledger.apply (guarded UPDATE, totals, movement, events)", ledger, "apply", 1),
    ("lock_sku (PostgreSQL: SELECT skus .. FOR NO KEY UPDATE)", ledger, "lock_sku", 2),
    ("read_level (refusal: does the row exist? / split planner)", ledger, "read_level", 2),
    ("derive_events", ledger, "derive_events", 2),
    ("lazy expiry (overdue holds of the SKU)", reservation_service, "expire_overdue_on_sku", 1),
    ("INSERT reservation_lines", store, "insert_reservation_lines", 1),
    ("describe (2 SELECTs for the response)", reservation_service.ReservationService, "_describe", 1),
]


class _Timers:
    def __init__(self) -> None:
        self.total: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        clock = time.perf_counter

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                self.total[label] = self.total.get(label, 0.0) + clock() - start
                self.calls[label] = self.calls.get(label, 0) + 1

        return timed

    def reset(self) -> None:
        self.total.clear()
        self.calls.clear()


@contextmanager
def _patched(sp: Stockpilot, timers: _Timers) -> Iterator[None]:
    present = [(label, owner, attr) for label, owner, attr, _ in _STEPS if hasattr(owner, attr)]
    saved = [(owner, attr, getattr(owner, attr)) for _, owner, attr in present]
    original_write = sp.db.write
    try:
        for label, owner, attr in present:
            setattr(owner, attr, timers.wrap(label, getattr(owner, attr)))

        def write(work: Callable[[Any], Any], *, attempts: int = 8) -> Any:
            return original_write(timers.wrap(_WORK, work), attempts=attempts)

        sp.db.write = write  # type: ignore[method-assign]
        yield
    finally:
        for owner, attr, value in saved:
            setattr(owner, attr, value)
        sp.db.write = original_write  # type: ignore[method-assign]


def _statement_overhead(sp: Stockpilot, raw_url: str, rounds: int = 2000) -> dict[str, float]:
    """The same one-row SELECT through SQLAlchemy Core (Connection.execute) and through the bare driver."""
    stmt = select(skus.c.id, skus.c.sku, skus.c.backorder_policy, skus.c.backorder_cap,
                  skus.c.low_stock_threshold).where(skus.c.sku == bindparam("p_sku"))
    clock = time.perf_counter
    with sp.db.engine.connect() as conn:
        for _ in range(50):
            conn.execute(stmt, {"p_sku": SKU}).first()
        start = clock()
        for _ in range(rounds):
            conn.execute(stmt, {"p_sku": SKU}).first()
        core = (clock() - start) / rounds
    raw = GuardedSql(raw_url, SKU, None)
    try:
        cur, sql = raw.cur, raw.st.sku_ref
        for _ in range(50):
            cur.execute(sql, (SKU,))
            cur.fetchone()
        start = clock()
        for _ in range(rounds):
            cur.execute(sql, (SKU,))
            cur.fetchone()
        driver = (clock() - start) / rounds
        raw.db.rollback(cur)
    finally:
        raw.close()
    return {"sqlalchemy_core_us": round(core * 1e6, 1), "driver_us": round(driver * 1e6, 1)}


def breakdown(sp: Stockpilot, raw_url: str, units: int, shape: Shape | None = None) -> dict[str, Any]:
    """Time `units` sales then `units` refusals through the service (timed steps) and through raw SQL.

    `sp` must hold 2 * units of SKU: the first half is sold by the service, the second by raw SQL; then both
    run `units` refusals each.
    """
    lines = [RequestedLine(SKU, 1)]
    timers = _Timers()
    raw = GuardedSql(raw_url, SKU, threading.Lock() if raw_url.startswith("sqlite") else None, shape)
    clock, cpu = time.perf_counter, time.process_time
    out: dict[str, Any] = {}
    try:
        with _patched(sp, timers):
            for phase in ("sold", "refused"):
                timers.reset()
                start, cpu_start = clock(), cpu()
                for i in range(units):
                    with suppress(InsufficientStock):
                        sp.reservations.reserve(f"bd-{phase}-{i}", lines)
                service_wall, service_cpu = (clock() - start) / units, (cpu() - cpu_start) / units
                steps = {label: {"us": round(timers.total.get(label, 0.0) / units * 1e6, 1),
                                 "calls": round(timers.calls.get(label, 0) / units, 2), "depth": depth}
                         for label, depth in [(_WORK, 0), *((label, depth) for label, _, _, depth in _STEPS)]}
                start, cpu_start = clock(), cpu()
                for i in range(units):
                    raw(f"bd-raw-{phase}-{i}")
                raw_wall, raw_cpu = (clock() - start) / units, (cpu() - cpu_start) / units
                out[phase] = {
                    "service_us": round(service_wall * 1e6, 1), "service_cpu_us": round(service_cpu * 1e6, 1),
                    "raw_us": round(raw_wall * 1e6, 1), "raw_cpu_us": round(raw_cpu * 1e6, 1), "steps": steps,
                }
    finally:
        raw.close()
    out["one_select"] = _statement_overhead(sp, raw_url)
    return out


def render_breakdown(result: dict[str, Any]) -> str:
    lines: list[str] = []
    for phase in ("sold", "refused"):
        r = result[phase]
        lines.append(f"{phase}: service {r['service_us']} µs wall ({r['service_cpu_us']} µs CPU) per attempt; "
                     f"raw SQL {r['raw_us']} µs wall ({r['raw_cpu_us']} µs CPU)")
        lines.append(f"  {r['service_us'] - r['steps'][_WORK]['us']:9.1f} µs  "
                     "Database.write: lock, pool checkout, BEGIN, COMMIT/ROLLBACK, exception propagation")
        for label, step in r["steps"].items():
            if step["calls"]:
                indent = "  " * (step["depth"] + 1)
                lines.append(f"  {step['us']:9.1f} µs  {indent}{label}  (x{step['calls']:g})")
    one = result["one_select"]
    lines.append(f"one indexed SELECT of a SKU: {one['sqlalchemy_core_us']} µs through SQLAlchemy Core, "
                 f"{one['driver_us']} µs through the driver")
    return "\n".join(lines)
