"""Event consumers: what the automations cost per domain event, and how much of it is the runtime's own.

Per backend (SQLite file, PostgreSQL when reachable), in one process: a catalog of `--skus` SKUs listed on a
Shopify channel (so every stock change is a push decision), `--orders` direct orders placed through the core
(each one StockChanged event, some LowStock / WentOutOfStock), then the worker's real consumers
(runtime/handlers.py `automations`: channel push, purchasing, waitlist, ads, staff alerts, backorder notices)
walk every event with `ConsumerRunner.run_once` until all are caught up.

  real      the six consumers with their handlers: CPU and wall per event, statements per event (every statement
            the database is sent, counted at the cursor: Core and the bare cursor of adapters/db/raw.py alike),
            write transactions per pass.
  runtime   baseline in the same run: the same six consumer names and event kinds with handlers that do nothing,
            over a copy of the same events: the runtime's own cost (leases, reads, savepoints, positions).

    python bench/consumers.py                      # both backends
    python bench/consumers.py --backend sqlite --orders 500
The last line printed is one JSON object with every figure and ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select

from channel_push import fresh_database  # bench/ is on the path when run as a script
from stockpilot.adapters.db.tables import events
from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.domain.reservations import RequestedLine
from stockpilot.runtime.consumers import Consumer, ConsumerRunner
from stockpilot.runtime.handlers import automations

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


class StatementCounter:
    """Counts every statement sent on the engine (raw.py runs `before_cursor_execute` listeners too)."""

    def __init__(self, engine: Any) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen, retval=True)

    def _seen(self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> Any:
        self.count += 1
        return statement, params


def catalog_with_events(backend: str, pg_url: str, tmp: Path, tag: str, skus: int, orders: int) -> Any:
    url = fresh_database(backend, pg_url, tmp, tag, prefix="bench_consumers")
    sp = build(Settings(database_url=url, db_pool_size=10))
    sp.catalog.create_location("WH", "WH", "warehouse", 10)
    sp.channels.add("shopify", "shop", secret="shpss_bench", shop_domain="bench-consumers.myshopify.com",
                    api_url="http://127.0.0.1:9/unused", api_token="shpat_bench", location="WH")
    for n in range(skus):
        sku = f"SKU-{n}"
        sp.catalog.upsert_sku(sku, {"title": sku})
        sp.stock.adjust(sku=sku, location="WH", on_hand=orders // skus + 20, idempotency_key=f"seed-{sku}")
        sp.catalog.map_listing("shop", str(808950810 + n), sku, role="inventory_item")
    for i in range(orders):
        sp.orders.place(f"SO-{i}", [RequestedLine(f"SKU-{i % skus}", 1, None)])
    return sp


def walk_all(sp: Any, consumers: list[Consumer], counter: StatementCounter, name: str) -> dict[str, Any]:
    runner = ConsumerRunner(sp.db, sp.ctx.clock, consumers, worker_id=f"bench-{name}", batch=100,
                            walk_budget_seconds=None)
    with sp.db.read() as conn:
        total = int(conn.execute(select(func.count()).select_from(events)).scalar_one())
    statements, passes = counter.count, 0
    cpu, wall = time.process_time(), time.perf_counter()
    while True:
        passes += 1
        runner.run_once()
        report = runner.last_report
        if all(c.processed == 0 and c.skipped == 0 for c in report.consumers):
            break
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    statements = counter.count - statements
    return {"events": total, "consumers": len(consumers), "passes": passes,
            "cpu_us_per_event": round(cpu * 1e6 / total, 1), "wall_us_per_event": round(wall * 1e6 / total, 1),
            "statements_per_event": round(statements / total, 2),
            "errors": [c.error for c in report.consumers if c.error]}


def run(backend: str, pg_url: str, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    real_sp = catalog_with_events(backend, pg_url, tmp, "real", args.skus, args.orders)
    real = automations(real_sp).consumers
    real_fig = walk_all(real_sp, real, StatementCounter(real_sp.db.engine), "real")
    real_sp.close()
    idle_sp = catalog_with_events(backend, pg_url, tmp, "idle", args.skus, args.orders)
    idle = [Consumer(c.name, lambda conn, e: None, kinds=c.kinds, accepts=c.accepts) for c in real]
    idle_fig = walk_all(idle_sp, idle, StatementCounter(idle_sp.db.engine), "idle")
    idle_sp.close()
    return {"backend": backend, "real": real_fig, "runtime": idle_fig,
            "runtime_share_of_cpu": round(idle_fig["cpu_us_per_event"] / real_fig["cpu_us_per_event"], 3),
            "runtime_share_of_statements": round(idle_fig["statements_per_event"] / real_fig["statements_per_event"],
                                                 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--skus", type=int, default=10)
    parser.add_argument("--pg-url", default=os.environ.get("STOCKPILOT_TEST_POSTGRES_URL", DEFAULT_PG))
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            try:
                result = run(backend, args.pg_url, Path(tmp), args)
            except Exception as exc:  # PostgreSQL unreachable: say so, keep the SQLite figures
                print(f"{backend}: skipped ({type(exc).__name__}: {exc})")
                continue
            runs.append(result)
            for label in ("real", "runtime"):
                f = result[label]
                print(f"{backend:10} {label:8} {f['events']} events, {f['passes']} passes: "
                      f"{f['cpu_us_per_event']} us CPU / event, {f['wall_us_per_event']} us wall / event, "
                      f"{f['statements_per_event']} statements / event")
            print(f"{backend:10} runtime share: CPU {result['runtime_share_of_cpu']}, statements "
                  f"{result['runtime_share_of_statements']}")
    print(json.dumps({"benchmark": "stockpilot event consumers", "config": vars(args), "runs": runs},
                     separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
