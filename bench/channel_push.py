"""Outbound push benchmark: how many pushes a burst of orders for one SKU costs, and how soon a quiet change leaves.

Per backend (SQLite file, PostgreSQL when reachable), in one process: the real runtime worker (the one `stockpilot
serve` embeds: consumers, outbox, outcome hooks) on the system clock, pushing to a loopback fake Shopify Admin
GraphQL API (tests/support/shopify_admin_api.py, cost bucket wide open) that records when each
`inventorySetQuantities` arrives and with what value.

  burst     `--orders` direct orders of 1 unit of one listed SKU from `--threads` threads, as fast as the core takes
            them, with the configured coalescing window (`--window`, default 0.2 s): pushes received, how long the
            burst took, and the wait from the last order until the channel showed the final value.
  baseline  the same burst with a window of 0 (only "one push in flight per SKU" coalesces), measured in the same
            run: what the window saves.
  quiet     `--quiet` single orders spaced wider than the window: per order, time from the order's commit until
            the push carrying it arrives at the fake (p50 / p99 / max).

    python bench/channel_push.py                   # both backends
    python bench/channel_push.py --backend sqlite --orders 300
The last line printed is one JSON object with every figure and ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from stockpilot.adapters.db.database import normalise_url
from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.domain.reservations import RequestedLine
from stockpilot.runtime.handlers import automations
from stockpilot.runtime.worker import Worker, WorkerSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the loopback fake lives with the tests
from tests.support.shopify_admin_api import ShopifyAdminApi

SHOP, TOKEN, ITEM, LOCATION = "bench-push.myshopify.com", "shpat_bench_push", "808950810", "905684977"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


class RecordingShopify(ShopifyAdminApi):
    def __init__(self) -> None:
        super().__init__(shop=SHOP, token=TOKEN, maximum_available=10**9, restore_rate=10**6)
        self.sets: list[tuple[float, int]] = []  # (perf_counter at arrival, value set)

    def _apply(self, payload: dict[str, Any]) -> dict[str, Any]:
        answer = super()._apply(payload)
        if not answer["inventorySetQuantities"]["userErrors"]:
            for quantity in payload["quantities"]:
                self.sets.append((time.perf_counter(), int(quantity["quantity"])))
        return answer


def fresh_database(backend: str, pg_url: str, tmp: Path, tag: str, prefix: str = "bench_push") -> str:
    """An empty database for one run: a SQLite file in `tmp`, or a PostgreSQL database made for it."""
    if backend == "sqlite":
        return f"sqlite:///{tmp / f'{tag}.db'}"
    admin = create_engine(normalise_url(pg_url), isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{tag}_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return pg_url.rsplit("/", 1)[0] + f"/{name}"


def wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def run(backend: str, pg_url: str, tmp: Path, tag: str, *, window: float, orders: int, threads: int,
        quiet: int) -> dict[str, Any]:
    url = fresh_database(backend, pg_url, tmp, tag)
    sp = build(Settings(database_url=url, db_pool_size=20, channel_push_window_seconds=window))
    initial = orders + quiet + 10
    with RecordingShopify() as shopify:
        shopify.stock(ITEM, LOCATION, 0)
        sp.catalog.create_location("WH", "WH", "warehouse", 10)
        sp.catalog.upsert_sku("TEE", {"title": "TEE"})
        sp.stock.adjust(sku="TEE", location="WH", on_hand=initial, idempotency_key="seed")
        sp.channels.add("shopify", "shop", secret="shpss_bench", shop_domain=SHOP, api_url=shopify.api_url,
                        api_token=TOKEN, location="WH")
        sp.catalog.map_listing("shop", ITEM, "TEE", role="inventory_item")
        sp.channel_locations.map("shop", "WH", LOCATION)
        worker = Worker(sp, **automations(sp).worker_kwargs(), settings=WorkerSettings(poll_seconds=1.0))
        worker.start()
        try:
            assert wait_for(lambda: shopify.sets and shopify.sets[-1][1] == initial, 30), "first push never came"
            before = len(shopify.sets)
            per_thread = orders // threads

            def sell(n: int) -> None:
                for i in range(per_thread):
                    sp.orders.place(f"SO-{n}-{i}", [RequestedLine("TEE", 1, None)])

            started = time.perf_counter()
            sellers = [threading.Thread(target=sell, args=(n,)) for n in range(threads)]
            for t in sellers:
                t.start()
            for t in sellers:
                t.join()
            burst_done = time.perf_counter()
            final = initial - per_thread * threads
            settled = wait_for(lambda: shopify.sets[-1][1] == final, 60)
            landed = next((at for at, value in shopify.sets[before:] if value == final), None)
            burst = {"orders": per_thread * threads, "pushes": len(shopify.sets) - before,
                     "burst_s": round(burst_done - started, 3), "settled": settled,
                     "last_order_to_final_push_ms": round((landed - burst_done) * 1000, 1) if landed else None,
                     "values_never_rose": all(b[1] <= a[1] for a, b in zip(shopify.sets[before:],
                                                                          shopify.sets[before + 1:], strict=False))}
            spans: list[float] = []
            level = final
            for i in range(quiet):
                time.sleep(window + 0.1)  # a quiet spell: past the last push's window
                mark = len(shopify.sets)
                sp.orders.place(f"Q-{i}", [RequestedLine("TEE", 1, None)])
                committed = time.perf_counter()
                level -= 1
                if wait_for(lambda lv=level, m=mark: any(v <= lv for _, v in shopify.sets[m:]), 10):
                    arrived = next(at for at, v in shopify.sets[mark:] if v <= level)
                    spans.append((arrived - committed) * 1000)
            spans.sort()
            quiet_figures = {"orders": quiet, "pushed": len(spans),
                             "p50_ms": round(spans[len(spans) // 2], 1) if spans else None,
                             "p99_ms": round(spans[min(len(spans) - 1, int(len(spans) * 0.99))], 1) if spans else None,
                             "max_ms": round(spans[-1], 1) if spans else None}
        finally:
            worker.stop()
            sp.close()
    return {"window_s": window, "burst": burst, "quiet": quiet_figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--postgres-url", default=os.environ.get("STOCKPILOT_TEST_POSTGRES_URL", DEFAULT_PG))
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--window", type=float, default=Settings().channel_push_window_seconds)
    parser.add_argument("--quiet", type=int, default=20)
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            if backend == "postgresql":
                try:
                    create_engine(normalise_url(args.postgres_url)).connect().close()
                except Exception as exc:  # not reachable: say so, measure the rest
                    print(f"postgresql: skipped ({str(exc).splitlines()[0]})")
                    continue
            windowed = run(backend, args.postgres_url, Path(tmp), "w", window=args.window, orders=args.orders,
                           threads=args.threads, quiet=args.quiet)
            baseline = run(backend, args.postgres_url, Path(tmp), "b", window=0.0, orders=args.orders,
                           threads=args.threads, quiet=0)
            saved = baseline["burst"]["pushes"] / max(windowed["burst"]["pushes"], 1)
            results[backend] = {"windowed": windowed, "baseline_window_0": baseline["burst"],
                                "pushes_per_1000_orders": round(windowed["burst"]["pushes"] * 1000
                                                                / windowed["burst"]["orders"], 1),
                                "baseline_pushes_per_1000_orders": round(baseline["burst"]["pushes"] * 1000
                                                                         / baseline["burst"]["orders"], 1),
                                "window_saves_x": round(saved, 2)}
            w, q = windowed["burst"], windowed["quiet"]
            print(f"{backend}: burst of {w['orders']} orders in {w['burst_s']} s -> {w['pushes']} pushes "
                  f"(window {args.window:g} s; window 0: {baseline['burst']['pushes']} pushes, "
                  f"{saved:.1f}x more); final value {w['last_order_to_final_push_ms']} ms after the last order; "
                  f"values never rose: {w['values_never_rose']}")
            print(f"{backend}: quiet change -> push p50 {q['p50_ms']} ms, p99 {q['p99_ms']} ms, max {q['max_ms']} ms "
                  f"({q['pushed']}/{q['orders']})")
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
