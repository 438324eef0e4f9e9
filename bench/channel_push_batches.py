"""Batched outbound pushes: what it costs to tell Shopify and WooCommerce about `--skus` SKUs that changed at once.

Per backend (SQLite file, PostgreSQL when reachable), in one process: the real runtime worker (the one `stockpilot
serve` embeds) on the system clock, pushing to loopback fakes of the Shopify Admin GraphQL API and the WooCommerce
REST API (tests/support/), which speak the platforms' wire formats. `--skus` SKUs are listed on both channels and
pushed once; then ONE transaction (a `stockpilot import` of a count per SKU, as a large receipt or a stock take)
changes every SKU, and the run measures, until both channels show every new value:

  requests    inventorySetQuantities mutations and WooCommerce requests (batch POSTs + single PUTs) received
  points      Shopify query cost charged (a mutation costs 10 whatever it carries), and what that means on a
              Standard plan bucket (2,000 points, 100 restored a second): seconds of throttling it would force
  seconds     from the import's commit until the last of the new values is on each fake (cost bucket wide open,
              so this is Stockpilot's own work plus loopback HTTP)

  batched     the pushers as shipped (Shopify 250 per mutation, WooCommerce 100 per batch)
  baseline    the same run with both pushers limited to one SKU per request (what Stockpilot did before batches),
              measured in the same run

    python bench/channel_push_batches.py                      # both backends, 1,000 SKUs
    python bench/channel_push_batches.py --backend sqlite --skus 400
The last line printed is one JSON object with every figure and ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from stockpilot.adapters.db import catalog_store
from stockpilot.adapters.db.database import normalise_url
from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.runtime.handlers import automations
from stockpilot.runtime.worker import Worker, WorkerSettings
from stockpilot.services.importer import ImportService

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the loopback fakes live with the tests
from tests.support.shopify_admin_api import ShopifyAdminApi
from tests.support.woocommerce_api import WooCommerceApi

from channel_push import fresh_database, wait_for

SHOP, TOKEN, LOCATION = "bench-batch.myshopify.com", "shpat_bench_batch", "905684977"
CK, CS = "ck_bench", "cs_bench"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
STANDARD_BUCKET, STANDARD_RATE = 2000.0, 100.0


class CostingShopify(ShopifyAdminApi):
    """The fake with a wide-open bucket that adds up the points it charges."""

    def __init__(self) -> None:
        super().__init__(shop=SHOP, token=TOKEN, maximum_available=10**9, restore_rate=10**6)
        self.points = 0

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        if actual is not None:
            self.points += actual
        return super()._cost(requested, actual)


def import_counts(sp: Any, path: Path, counts: dict[str, int]) -> None:
    path.write_text("sku,title,location,on_hand\n" + "".join(f"{s},{s},WH,{n}\n" for s, n in counts.items()))
    report = ImportService(sp.ctx).import_file(path)
    assert report.ok, report


def run(backend: str, pg_url: str, tmp: Path, tag: str, *, skus: int, batched: bool) -> dict[str, Any]:
    url = fresh_database(backend, pg_url, tmp, tag, prefix="bench_batch")
    sp = build(Settings(database_url=url, db_pool_size=20))
    names = [f"B-{i:05d}" for i in range(skus)]
    with CostingShopify() as shopify, WooCommerceApi(consumer_key=CK, consumer_secret=CS) as woo:
        if not batched:  # the baseline: one SKU per request, as before batches
            for kind in ("shopify", "woocommerce"):
                sp.channel_pushes.pushers[kind].batch_limit = 1  # type: ignore[attr-defined]
        sp.catalog.create_location("WH", "WH", "warehouse", 10)
        import_counts(sp, tmp / f"{tag}-seed.csv", dict.fromkeys(names, 10))
        for i, sku in enumerate(names):
            shopify.stock(str(10_000 + i), LOCATION, 0)
            woo.add_product(50_000 + i, sku, 0)
        sp.channels.add("shopify", "shop", secret="shpss_bench", shop_domain=SHOP, api_url=shopify.api_url,
                        api_token=TOKEN, location="WH")
        sp.channels.add("woocommerce", "woo", secret="wc_bench", site_url=woo.site_url, api_token=f"{CK}:{CS}")

        def listings(conn: Any) -> None:
            for i, sku in enumerate(names):
                ref = catalog_store.sku_ref(conn, sku)
                catalog_store.upsert_listing(conn, "shop", str(10_000 + i), ref.id, "inventory_item")
                catalog_store.upsert_listing(conn, "woo", str(50_000 + i), ref.id, "product")

        sp.db.write(listings)
        worker = Worker(sp, **automations(sp).worker_kwargs(), settings=WorkerSettings(poll_seconds=1.0))
        worker.start()
        try:
            sp.channel_locations.map("shop", "WH", LOCATION)
            sp.channel_locations.map("woo", "WH", None)
            first = wait_for(lambda: set(shopify.levels.values()) == {10}
                             and all(woo.stock(50_000 + i) == 10 for i in range(skus)), 600)
            assert first, "the first pushes never all landed"
            mutations0 = sum("inventorySetQuantities" in r["query"] for r in shopify.requests)
            points0, woo0 = shopify.points, len(woo.batches) + len(woo.puts)
            target = {sku: 20 + i % 50 for i, sku in enumerate(names)}
            started = time.perf_counter()
            import_counts(sp, tmp / f"{tag}-receipt.csv", target)
            committed = time.perf_counter()
            done: dict[str, float] = {}

            def landed() -> bool:
                if "shopify" not in done and all(shopify.levels[(str(10_000 + i), LOCATION)] == target[s]
                                                 for i, s in enumerate(names)):
                    done["shopify"] = time.perf_counter()
                if "woo" not in done and all(woo.stock(50_000 + i) == target[s] for i, s in enumerate(names)):
                    done["woo"] = time.perf_counter()
                return len(done) == 2

            settled = wait_for(landed, 900)
        finally:
            worker.stop()
            sp.close()
        mutations = sum("inventorySetQuantities" in r["query"] for r in shopify.requests) - mutations0
        points = shopify.points - points0
    return {"skus": skus, "settled": settled, "import_s": round(committed - started, 3),
            "shopify_requests": mutations, "shopify_points": points,
            "standard_plan_throttle_s": round(max(0.0, points - STANDARD_BUCKET) / STANDARD_RATE, 1),
            "shopify_s": round(done["shopify"] - committed, 3) if "shopify" in done else None,
            "woo_requests": len(woo.batches) + len(woo.puts) - woo0,
            "woo_s": round(done["woo"] - committed, 3) if "woo" in done else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--postgres-url", default=os.environ.get("STOCKPILOT_TEST_POSTGRES_URL", DEFAULT_PG))
    parser.add_argument("--skus", type=int, default=1000)
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
            batched = run(backend, args.postgres_url, Path(tmp), "batched", skus=args.skus, batched=True)
            baseline = run(backend, args.postgres_url, Path(tmp), "single", skus=args.skus, batched=False)

            def ratio(key: str, b: dict[str, Any] = batched, s: dict[str, Any] = baseline) -> float | None:
                return round(s[key] / b[key], 1) if b.get(key) and s.get(key) else None

            results[backend] = {"batched": batched, "baseline_one_sku_per_request": baseline,
                                "shopify_requests_x": ratio("shopify_requests"),
                                "shopify_points_x": ratio("shopify_points"), "woo_requests_x": ratio("woo_requests"),
                                "shopify_time_x": ratio("shopify_s"), "woo_time_x": ratio("woo_s")}
            for name, r in (("batched", batched), ("one SKU per request", baseline)):
                print(f"{backend} {name}: {r['skus']} SKUs in one transaction -> Shopify {r['shopify_requests']} "
                      f"mutations, {r['shopify_points']} points (Standard plan: {r['standard_plan_throttle_s']} s "
                      f"throttled), all on the channel in {r['shopify_s']} s; WooCommerce {r['woo_requests']} "
                      f"requests, {r['woo_s']} s")
            x = results[backend]
            print(f"{backend}: batches use {x['shopify_requests_x']}x fewer Shopify requests and points, "
                  f"{x['woo_requests_x']}x fewer WooCommerce requests; {x['shopify_time_x']}x / {x['woo_time_x']}x "
                  "faster to land")
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
