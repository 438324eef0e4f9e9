"""A storm of oversells through the staff alerts consumer: what merging costs and what it saves.

Seeds N Oversold events (N direct orders of 1 unit against backorderable SKUs with no stock), then times the
`staff_alerts` consumer reading them all (ConsumerRunner, real database, the worker's own code):
  baseline   a consumer whose handler only enqueues one outbox row per event (the floor of "an alert is an
             outbox row"), over the same events;
  merged     one SKU oversold N times, alert_merge_minutes = 15: one message, the rest counted for one summary;
  unmerged   N SKUs oversold once each (N subjects): every alert routed, sent and decided.
Each run works on its own fresh database (SQLite file; PostgreSQL too when STOCKPILOT_BENCH_POSTGRES_URL or the
local test server is reachable). Printed: events/s, microseconds per event, outbox rows written, ratio to baseline.

Usage: python bench/alerts.py [--events 2000]
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from stockpilot.adapters.db.database import normalise_url
from stockpilot.adapters.db.tables import outbox
from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.domain.clock import ManualClock
from stockpilot.domain.reservations import RequestedLine
from stockpilot.runtime import outbox as ob
from stockpilot.runtime.consumers import Consumer, ConsumerRunner

ROUTE = [{"kinds": ["oversell"], "urls": ["json://127.0.0.1:9/hook"]}]  # never delivered: the bench times deciding


def seed(sp, events: int, subjects: int) -> None:
    sp.catalog.create_location("WH", "WH", "warehouse", 1)
    for s in range(subjects):
        sp.catalog.upsert_sku(f"SKU-{s:05d}", {"title": "x", "backorder_policy": "allow"})
    for n in range(events):
        sp.orders.place(f"SO-{n}", [RequestedLine(f"SKU-{n % subjects:05d}", 1, None)])


def run(url: str, events: int, mode: str) -> dict[str, float]:
    clock = ManualClock(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    sp = build(Settings(database_url=url, alert_routes=ROUTE, alert_merge_minutes=15), clock=clock)
    try:
        seed(sp, events, 1 if mode == "merged" else events)
        if mode == "baseline":
            def enqueue(conn, event) -> None:
                ob.enqueue(conn, "bench.alert", {"sku": event.sku}, f"bench:{event.id}", clock.now())
            consumer = Consumer("bench_baseline", enqueue, kinds={"Oversold"})
        else:
            consumer = sp.alerts.consumer()
        runner = ConsumerRunner(sp.db, clock, [consumer], worker_id="bench")
        started = time.perf_counter()
        while runner.run_once():
            pass
        elapsed = time.perf_counter() - started
        with sp.db.read() as conn:
            rows = conn.execute(select(func.count()).select_from(outbox)
                                .where(outbox.c.topic.in_(("bench.alert", "alert.apprise")))).scalar_one()
        return {"seconds": elapsed, "events_per_s": events / elapsed, "us_per_event": elapsed / events * 1e6,
                "outbox_rows": rows}
    finally:
        sp.close()


def postgres_url() -> str | None:
    admin = normalise_url(os.environ.get("STOCKPILOT_BENCH_POSTGRES_URL",
                                         "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    try:
        engine = create_engine(admin, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        return admin
    except Exception:
        return None


def fresh_postgres(admin: str, name: str) -> str:
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin.rsplit("/", 1)[0] + f"/{name}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    results: dict[str, dict[str, dict[str, float]]] = {}
    admin = postgres_url()
    with tempfile.TemporaryDirectory() as folder:
        for backend in ("sqlite", "postgresql"):
            if backend == "postgresql" and admin is None:
                print("PostgreSQL not reachable: skipped")
                continue
            results[backend] = {}
            for mode in ("baseline", "merged", "unmerged"):
                url = (f"sqlite:///{Path(folder) / f'{mode}.db'}" if backend == "sqlite"
                       else fresh_postgres(admin, f"stockpilot_bench_alerts_{mode}"))
                figures = run(url, args.events, mode)
                figures["ratio_to_baseline"] = (figures["us_per_event"]
                                                / results[backend].get("baseline", figures)["us_per_event"])
                results[backend][mode] = figures
                print(f"{backend:10} {mode:9} {figures['events_per_s']:9,.0f} events/s "
                      f"{figures['us_per_event']:8,.0f} us/event  outbox rows {figures['outbox_rows']:6}  "
                      f"x{figures['ratio_to_baseline']:.2f} baseline")
    print(json.dumps({"events": args.events, "results": results}))


if __name__ == "__main__":
    main()
