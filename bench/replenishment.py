"""Replenishment benchmarks: detection-to-PO latency, and planning over a year of history.

1. Detection to PO. `stockpilot serve` runs as a real process (SQLite; PostgreSQL too when reachable) with
   STOCKPILOT_OVERSELL_WINDOW_SECONDS=0 and STOCKPILOT_SMTP_URL pointing at a real SMTP server (aiosmtpd) in this
   process. Each of N events is an order over HTTP for a SKU with no stock (an oversell, as a channel's order
   webhook will deliver it once connectors exist); the clock runs from just before the request is sent until the
   SMTP server has accepted the PO email for that SKU (PDF attached). Events are sent one at a time (the next after
   the previous PO email arrived), so this is latency, not throughput. Baseline in the same run: the same kind of
   PO email rendered and sent straight to an SMTP server by this process (the transport's floor, no pipeline).
2. Planning. `PlanService.recompute()` end to end on SQLite (a year of daily demand per SKU from the database,
   demand estimates, supplier offers ranked, policies computed and written, the at-risk list) for 1,000, 10,000 and
   100,000 SKUs: the first recompute builds every packed demand series from the source rows; the next day's
   (the nightly run) reads the series plus one day of orders. Baseline: the domain math alone on the same matrix.

Usage: python bench/replenishment.py [--events 200] [--skus 1000,10000] [--backend sqlite|postgresql|both]
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flash_http import start_server
from stockpilot.adapters.db.database import normalise_url
from stockpilot.adapters.suppliers.document import Buyer, Line, PurchaseOrderDocument, Supplier
from stockpilot.adapters.suppliers.email import EmailDelivery
from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.domain.clock import ManualClock
from stockpilot.domain.demand import estimate_batch
from stockpilot.domain.policy import policy_batch

PG_ADMIN_URL = normalise_url(os.environ.get("STOCKPILOT_BENCH_POSTGRES_URL",
                                            "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
PG_DB = "stockpilot_bench_replenishment"
GOAL_P99_S = 1.0
GOAL_PLAN_100K_S = 10.0
SKU_RE = re.compile(rb"BENCH-\d{4}")


# ---- a real SMTP server that notes when each PO email was accepted --------------------------------------------
class Arrivals:
    def __init__(self) -> None:
        self.by_sku: dict[str, float] = {}
        self.count = 0
        self.lock = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd handler hook
        accepted = time.perf_counter()
        with self.lock:
            self.count += 1
            match = SKU_RE.search(envelope.original_content or envelope.content)
            if match:
                self.by_sku.setdefault(match.group().decode(), accepted)
            self.lock.notify_all()
        return "250 OK"

    def wait(self, count: int, timeout: float) -> bool:
        with self.lock:
            return self.lock.wait_for(lambda: self.count >= count, timeout)


def smtp_server() -> tuple[Controller, Arrivals]:
    arrivals = Arrivals()
    with socket.socket() as probe:  # a free port: aiosmtpd's readiness check cannot connect to port 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(arrivals, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, arrivals


def _port(controller: Controller) -> int:
    return int(controller.port)


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    return {"p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1)}


# ---- 1. detection to PO ----------------------------------------------------------------------------------------
def detection_to_po(database_url: str, workdir: Path, events: int) -> dict[str, Any]:
    controller, arrivals = smtp_server()
    smtp_url = f"smtp://127.0.0.1:{_port(controller)}"
    os.environ.update({"STOCKPILOT_SMTP_URL": smtp_url, "STOCKPILOT_OVERSELL_WINDOW_SECONDS": "0",
                       "STOCKPILOT_MAIL_FROM": "buyer@bench.example"})
    server = start_server(database_url, workdir, workers=1, pool_size=10)
    try:
        headers = {"Authorization": f"Bearer {server.token}"}
        with httpx.Client(base_url=server.base, headers=headers, timeout=30) as api:
            api.post("/api/v1/locations", json={"code": "WH", "name": "Main", "kind": "warehouse", "priority": 1})
            api.post("/api/v1/suppliers", json={"code": "ACME", "name": "Acme", "delivery_method": "email",
                                                "email": "po@acme.example"})
            skus = [f"BENCH-{i:04d}" for i in range(events)]
            for sku in skus:
                api.put(f"/api/v1/skus/{sku}", json={"title": sku, "backorder_policy": "allow"})
                api.put(f"/api/v1/suppliers/ACME/offers/{sku}", json={"unit_cost": "3.20", "lead_time_days": 5})
            sent: dict[str, float] = {}
            for n, sku in enumerate(skus):
                sent[sku] = time.perf_counter()
                response = api.post("/api/v1/orders", json={"reference": f"SO-{n}",
                                                            "lines": [{"sku": sku, "quantity": 2}]})
                if response.status_code != 201:
                    raise RuntimeError(f"order refused: {response.status_code} {response.text}")
                # One event in flight at a time (closed loop): each figure is a latency, not time spent queueing
                # behind the previous PO's PDF and SMTP exchange.
                if not arrivals.wait(n + 1, timeout=30):
                    raise RuntimeError(f"only {arrivals.count} of {n + 1} PO emails arrived")
                time.sleep(0.02)
            latencies = [arrivals.by_sku[sku] - sent[sku] for sku in skus]
            pos = api.get("/api/v1/purchase-orders", params={"limit": 1000}).json()["items"]
    finally:
        server.stop()
        controller.stop()
    return {"events": events, "po_emails": len(latencies), "purchase_orders": len(pos),
            "duplicate_pos": len(pos) - len({p["number"] for p in pos}), **percentiles(latencies)}


def smtp_floor(events: int) -> dict[str, Any]:
    """The same kind of PO email, rendered (PDF) and sent straight to an SMTP server: the transport's floor."""
    controller, arrivals = smtp_server()
    delivery = EmailDelivery(f"smtp://127.0.0.1:{_port(controller)}", "buyer@bench.example")
    latencies = []
    try:
        for n in range(events):
            doc = PurchaseOrderDocument(
                po_number=f"PO-{n:06d}", revision=0, kind="new",
                supplier=Supplier(code="ACME", name="Acme", currency="USD", email="po@acme.example"),
                buyer=Buyer(name="Bench", email="buyer@bench.example"),
                lines=(Line(1, f"BENCH-{n:04d}", "bench item", 2, Decimal("3.20")),),
                issued_at=datetime.now(UTC), ack_url="https://bench.example/ack/token",
            )
            started = time.perf_counter()
            delivery(doc.to_payload(), f"po:{doc.po_number}:r0:new")
            arrivals.wait(n + 1, timeout=10)
            latencies.append(arrivals.by_sku[f"BENCH-{n:04d}"] - started)
    finally:
        controller.stop()
    return {"events": events, **percentiles(latencies)}


# ---- 2. planning ---------------------------------------------------------------------------------------------------
def planning(skus: int, workdir: Path) -> dict[str, Any]:
    """Seed `skus` SKUs with a year of synthetic daily history (smooth and intermittent), then recompute."""
    today = date(2026, 12, 1)
    clock = ManualClock(datetime(2026, 12, 1, 6, tzinfo=UTC))
    path = workdir / f"plan-{skus}.db"
    sp = build(Settings(database_url=f"sqlite:///{path}"), clock=clock)
    rng = np.random.default_rng(7)
    rates = np.where(rng.random(skus) < 0.5, rng.gamma(2.0, 2.0, skus), rng.uniform(0.02, 0.3, skus))
    history = rng.poisson(rates[:, None], size=(skus, 365)).astype(np.int64)
    seed_started = time.perf_counter()
    with sp.db.engine.begin() as conn:
        now = clock.now()
        conn.execute(text("INSERT INTO locations (code, name, kind, priority, created_at) "
                          "VALUES ('WH', 'Main', 'warehouse', 1, :now)"), {"now": now.replace(tzinfo=None)})
        conn.execute(text(
            "INSERT INTO skus (sku, title, options, backorder_policy, on_hand, committed, reserved, incoming, "
            "created_at, updated_at) VALUES (:sku, :sku, '{}', 'deny', :on_hand, 0, 0, 0, :now, :now)"),
            [{"sku": f"P-{i:06d}", "on_hand": int(rates[i] * rng.uniform(3, 40)),
              "now": (now - timedelta(days=400)).replace(tzinfo=None)} for i in range(skus)])
        conn.execute(text("INSERT INTO suppliers (code, name, delivery_method, email, currency, active, created_at, "
                          "updated_at) VALUES ('ACME', 'Acme', 'email', 'po@acme.example', 'USD', 1, :n, :n)"),
                     {"n": now.replace(tzinfo=None)})
        conn.execute(text("INSERT INTO supplier_offers (supplier_id, sku_id, unit_cost, lead_time_days, "
                          "lead_time_spread_days, moq, pack_size, available, updated_at) "
                          "VALUES (1, :sku_id, '2.00', :lead, 1.5, 1, 1, 1, :n)"),
                     [{"sku_id": i + 1, "lead": float(rng.integers(3, 21)), "n": now.replace(tzinfo=None)}
                      for i in range(skus)])
        start = today - timedelta(days=365)
        day_names = [(start + timedelta(days=d)).isoformat() for d in range(365)]
        history_rows = 0
        for lo in range(0, skus, 2000):  # in slices: 100,000 SKUs x 365 days would not fit in memory as dicts
            rows, days = np.nonzero(history[lo:lo + 2000])
            conn.exec_driver_sql(
                "INSERT INTO demand_history (sku_id, day, units) VALUES (?, ?, ?)",
                [(int(r) + lo + 1, day_names[d], int(history[r + lo, d])) for r, d in zip(rows, days, strict=True)])
            history_rows += len(rows)
    seeded = time.perf_counter() - seed_started

    started = time.perf_counter()
    report = sp.plan.recompute()  # cold: every series is built from the source rows
    service = time.perf_counter() - started

    # The next day: one day of orders (one order line per SKU that sold), then the nightly recompute (warm cache).
    clock.advance(days=1)
    sold = rng.poisson(rates)
    placed_at = (clock.now() - timedelta(hours=12)).replace(tzinfo=None)
    with sp.db.engine.begin() as conn:
        movers = np.flatnonzero(sold)
        conn.execute(text("INSERT INTO orders (reference, status, source, created_at, updated_at) "
                          "VALUES (:ref, 'open', 'bench', :at, :at)"),
                     [{"ref": f"D2-{i}", "at": placed_at} for i in movers])
        first = conn.execute(text("SELECT min(id) FROM orders")).scalar_one()
        conn.execute(text("INSERT INTO order_lines (order_id, sku_id, location_id, quantity, fulfilled, cancelled, "
                          "returned) VALUES (:order_id, :sku_id, 1, :qty, 0, 0, 0)"),
                     [{"order_id": first + n, "sku_id": int(i) + 1, "qty": int(sold[i])}
                      for n, i in enumerate(movers)])
    started = time.perf_counter()
    warm_report = sp.plan.recompute()
    warm = time.perf_counter() - started
    sp.close()

    matrix = history.astype(np.float64)
    started = time.perf_counter()
    demand = estimate_batch(matrix, today=today)
    policy_batch(demand.mean_daily, demand.std_daily, lead_time_days=10.0, lead_time_std_days=1.5)
    domain = time.perf_counter() - started
    return {"skus": skus, "history_rows": history_rows, "seed_s": round(seeded, 2), "service_s": round(service, 3),
            "reading_s": round(report.seconds_reading, 3), "computing_s": round(report.seconds_computing, 3),
            "writing_s": round(report.seconds_writing, 3), "at_risk": report.at_risk,
            "daily_s": round(warm, 3), "daily_reading_s": round(warm_report.seconds_reading, 3),
            "daily_computing_s": round(warm_report.seconds_computing, 3),
            "daily_writing_s": round(warm_report.seconds_writing, 3),
            "goal_under_10s": warm < GOAL_PLAN_100K_S if skus >= 100_000 else None,
            "domain_only_s": round(domain, 3), "service_over_domain": round(service / max(domain, 1e-9), 1)}


def _pg_url() -> str | None:
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{PG_DB}"'))
        admin.dispose()
    except Exception as exc:  # unreachable: the PostgreSQL run is skipped and said so
        print(f"PostgreSQL not reachable ({str(exc).splitlines()[0]}); skipping it")
        return None
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_DB}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--skus", default="1000,10000")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--events-only", action="store_true", help="Skip the planning runs.")
    parser.add_argument("--planning-only", action="store_true", help="Skip detection-to-PO.")
    args = parser.parse_args()
    if args.planning_only:
        args.events = 0
    figures: dict[str, Any] = {"detection_to_po": {}, "planning": []}
    with tempfile.TemporaryDirectory(prefix="sp-bench-repl-") as tmp:
        workdir = Path(tmp)
        backends: dict[str, str] = {}
        if args.events:
            floor = smtp_floor(args.events)
            figures["smtp_floor"] = floor
            print(f"SMTP floor (render PDF + send, no pipeline): p50 {floor['p50_ms']} ms, p99 {floor['p99_ms']} ms")
            backends["sqlite"] = f"sqlite:///{workdir / 'detect.db'}"
        if args.events and args.backend in ("postgresql", "both"):
            pg = _pg_url()
            if pg:
                backends["postgresql"] = pg
        if args.backend == "postgresql":
            backends.pop("sqlite", None)
        for name, url in backends.items():
            result = detection_to_po(url, workdir, args.events)
            result["p99_over_floor"] = round(result["p99_ms"] / max(floor["p99_ms"], 1e-9), 1)
            result["goal_p99_under_1s"] = result["p99_ms"] < GOAL_P99_S * 1000
            figures["detection_to_po"][name] = result
            print(f"{name}: {result['po_emails']} PO emails for {result['events']} oversells, "
                  f"{result['purchase_orders']} POs; oversell -> PO email accepted: p50 {result['p50_ms']} ms, "
                  f"p99 {result['p99_ms']} ms (x{result['p99_over_floor']} the SMTP floor's p99); "
                  f"goal p99 < 1 s: {'met' if result['goal_p99_under_1s'] else 'missed'}")
        for skus in () if args.events_only else (int(s) for s in args.skus.split(",")):
            result = planning(skus, workdir)
            figures["planning"].append(result)
            print(f"planning {skus} SKUs x 365 days ({result['history_rows']} history rows): first recompute "
                  f"{result['service_s']} s (read {result['reading_s']}, compute {result['computing_s']}, "
                  f"write {result['writing_s']}), {result['at_risk']} at risk; next day's recompute "
                  f"{result['daily_s']} s (read {result['daily_reading_s']}, compute {result['daily_computing_s']}, "
                  f"write {result['daily_writing_s']}); domain math alone {result['domain_only_s']} s "
                  f"(daily/domain x{round(result['daily_s'] / max(result['domain_only_s'], 1e-9), 1)})")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
