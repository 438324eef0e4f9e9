"""Channel order apply benchmark: what applying a stored Shopify `orders/create` delivery costs, against the core.

Per backend (`--backend sqlite|postgresql|both`), in one process, on a fresh database with a Shopify channel
(listings and location as bench/webhooks.py sets them up) and SKUs with ample stock:
  channel   `--orders` signed deliveries (the captured orders/create sample, each with its own order id) stored
            through the intake service (verify + persist, as the HTTP fast path does, minus HTTP), then applied
            through WebhookProcessor.batch in batches of 8: the worker's webhook lane, one write transaction per
            batch, a savepoint per delivery.
  baseline  the same lines placed as direct orders through OrderService.place_in, 8 to a write transaction with
            a savepoint each: the core without the channel layer, measured in the same run.
Figures per path: applied per second (wall clock: a loaded machine moves it, compare the ratio), CPU seconds per
order in this process (time.process_time), and statements and round trips per order counted at the DB-API level
(SQLite's trace callback sees every statement the library runs, BEGIN / SAVEPOINT / COMMIT included, and there a
round trip is a statement; on PostgreSQL a counting cursor sees every execute, a pipeline is one round trip for
all it carries, and each transaction adds its BEGIN and COMMIT round trips). The outbox's own claim and delivered
writes (runtime/outbox.py, around the batch handler) are not in either path.

    python bench/channel_apply.py                           # both backends
    python bench/channel_apply.py --backend sqlite --orders 400
    python bench/channel_apply.py --backend sqlite --profile 30   # also cProfile the channel path, top 30
The last line printed is one JSON object with every figure and ratio.
"""

from __future__ import annotations

import argparse
import base64
import copy
import cProfile
import hashlib
import hmac
import json
import pstats
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Connection, event

from stockpilot.adapters.channels import shopify
from stockpilot.bootstrap import Stockpilot, build
from stockpilot.config import Settings
from stockpilot.domain.channel_messages import PlaceOrder
from stockpilot.domain.reservations import RequestedLine
from stockpilot.services.webhook_processing import WebhookProcessor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from channel_push import fresh_database

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "shopify" / \
    "orders_create_captured_activepieces.json"
SHOP, SECRET, LOCATION = "bench-apply.myshopify.com", "shpss_bench_secret", "WH-1"
SKUS = [f"APPLY-{n}" for n in range(10)]
ITEMS = {sku: str(808950810 + n) for n, sku in enumerate(SKUS)}  # Shopify inventory item per SKU
INITIAL, BATCH = 10**6, 8  # BATCH: the worker's webhook lane (runtime/outbox.py batch size for this topic)
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


class Counter:
    """Statements run on the database and round trips to it, counted at the driver (see the module docstring)."""

    def __init__(self) -> None:
        self.statements = 0
        self.trips = 0  # PostgreSQL: statements sent on their own, plus one per pipeline
        self.transactions = 0
        self._piped = 0

    def install(self, app: Stockpilot) -> None:
        engine = app.ctx.db.engine
        counter = self

        if engine.dialect.name == "sqlite":
            @event.listens_for(engine, "connect")
            def _trace(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.set_trace_callback(counter._seen)
        else:
            class CountingCursor(psycopg.Cursor):  # type: ignore[type-arg]
                def execute(self, *args: Any, **kwargs: Any) -> Any:
                    counter._sent()
                    return super().execute(*args, **kwargs)

                def executemany(self, *args: Any, **kwargs: Any) -> Any:
                    counter._sent()  # one pipelined round trip (psycopg 3.1+)
                    return super().executemany(*args, **kwargs)

            class CountingConnection(psycopg.Connection):  # type: ignore[type-arg]
                @contextmanager
                def pipeline(self) -> Iterator[Any]:
                    counter.trips += 1  # everything sent inside goes in one round trip
                    counter._piped += 1
                    try:
                        with super().pipeline() as pipeline:
                            yield pipeline
                    finally:
                        counter._piped -= 1

            @event.listens_for(engine, "connect")
            def _count(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.__class__ = CountingConnection
                dbapi_connection.cursor_factory = CountingCursor

            @event.listens_for(engine, "commit")
            def _commit(_conn: Connection) -> None:
                counter.transactions += 1

            @event.listens_for(engine, "rollback")
            def _rollback(_conn: Connection) -> None:
                counter.transactions += 1
        engine.dispose()  # connections made from now on are counted

    def _seen(self, _statement: str) -> None:
        self.statements += 1
        self.trips += 1

    def _sent(self) -> None:
        self.statements += 1
        if not self._piped:
            self.trips += 1

    def round_trips(self, dialect: str) -> int:
        # psycopg sends BEGIN itself before a transaction's first statement, and COMMIT / ROLLBACK at its end.
        return self.trips + (2 * self.transactions if dialect == "postgresql" else 0)


def order_body(order_id: int, sku: str) -> bytes:
    order = copy.deepcopy(TEMPLATE)
    order["id"] = order_id
    order["admin_graphql_api_id"] = f"gid://shopify/Order/{order_id}"
    order["name"] = order["order_number"] = f"#{order_id}"
    line = order["line_items"][0]
    line["sku"], line["quantity"], line["fulfillable_quantity"] = sku, 1, 1
    return json.dumps(order, separators=(",", ":")).encode()


TEMPLATE: dict[str, Any] = json.loads(FIXTURE.read_text())


def store_deliveries(app: Stockpilot, count: int, first_order: int) -> list[int]:
    """Verify and persist `count` signed deliveries through the intake service, 50 to a transaction."""
    intake = app.webhook_intake
    made = []
    for n in range(count):
        body = order_body(first_order + n, SKUS[n % len(SKUS)])
        digest = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
        headers = {"content-type": "application/json", "x-shopify-topic": "orders/create",
                   "x-shopify-shop-domain": SHOP, "x-shopify-api-version": "2025-07",
                   "x-shopify-hmac-sha256": digest, "x-shopify-webhook-id": str(uuid.uuid4()),
                   "x-shopify-event-id": str(uuid.uuid4()), "user-agent": "Shopify-Captain-Hook"}
        channel = intake.channel("shopify", None, headers, body)
        made.append(intake.new_delivery(channel, intake.verify("shopify", channel, headers, body), headers, body))
    ids: list[int] = []
    for start in range(0, len(made), 50):
        ids += [accepted.delivery_id for accepted in intake.persist(made[start:start + 50])
                if accepted.delivery_id is not None]
    assert len(ids) == count, "every delivery is new"
    return ids


def apply_channel(processor: WebhookProcessor, ids: list[int]) -> None:
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        outcomes = processor.batch([({"delivery_id": i}, f"webhook-delivery:{i}") for i in chunk])
        bad = [o for o in outcomes if isinstance(o, Exception) or o.get("status") != "processed"]
        if bad:
            raise RuntimeError(f"not applied: {bad[:2]}")


def place_direct(app: Stockpilot, count: int, first: int) -> None:
    (place,) = shopify.parse("orders/create", TEMPLATE)  # the same contact as the channel path keeps (if any)
    assert isinstance(place, PlaceOrder)

    def work(conn: Connection, refs: range) -> None:
        for n in refs:
            with conn.begin_nested():
                app.orders.place_in(conn, f"direct:{n}", [RequestedLine(SKUS[n % len(SKUS)], 1, None)],
                                    source="bench", customer_email=place.customer_email,
                                    customer_phone=place.customer_phone, describe=False)

    for start in range(first, first + count, BATCH):
        refs = range(start, min(start + BATCH, first + count))
        app.ctx.db.write(lambda conn, refs=refs: work(conn, refs))


def measure(counter: Counter, dialect: str, count: int, run: Callable[[], None]) -> dict[str, Any]:
    statements, transactions = counter.statements, counter.transactions
    trips_before = counter.round_trips(dialect)
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "orders": count, "applied_per_s": round(count / wall, 1),
        "cpu_ms_per_order": round(1000 * cpu / count, 3),
        "round_trips_per_order": round((counter.round_trips(dialect) - trips_before) / count, 2),
        "statements_per_order": round((counter.statements - statements) / count, 2),
        "transactions": counter.transactions - transactions,
    }


def setup(app: Stockpilot) -> None:
    app.catalog.create_location(LOCATION, "Main warehouse", "warehouse", 1)
    for sku in SKUS:
        app.catalog.upsert_sku(sku, {"title": f"Apply bench {sku}"})
        app.stock.adjust(sku=sku, location=LOCATION, idempotency_key=f"seed-{sku}", on_hand=INITIAL)
    app.channels.add("shopify", "bench", secret=SECRET, shop_domain=SHOP, location=LOCATION)
    for sku, item in ITEMS.items():
        app.catalog.map_listing("bench", item, sku, "inventory_item")


def run_backend(backend: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    url = fresh_database(backend, args.pg_url, tmp, "apply", prefix="bench_apply")
    app = build(Settings(database_url=url, db_pool_size=10))
    try:
        counter = Counter()
        counter.install(app)
        dialect = app.ctx.db.engine.dialect.name
        setup(app)
        processor = WebhookProcessor(app.ctx, app.orders)
        apply_channel(processor, store_deliveries(app, 80, 1))  # warm-up: caches, statement plans
        place_direct(app, 80, 1)
        channel_ids = store_deliveries(app, args.orders, 100_000)
        result: dict[str, Any] = {"backend": backend}
        # Interleaved halves, so a change in the machine's load mid-run falls on both paths alike.
        half = len(channel_ids) // 2
        first_c = measure(counter, dialect, half, lambda: apply_channel(processor, channel_ids[:half]))
        first_d = measure(counter, dialect, half, lambda: place_direct(app, half, 100_000))
        second_c = measure(counter, dialect, len(channel_ids) - half,
                           lambda: apply_channel(processor, channel_ids[half:]))
        second_d = measure(counter, dialect, len(channel_ids) - half,
                           lambda: place_direct(app, len(channel_ids) - half, 100_000 + half))
        result["channel"], result["direct"] = _merge(first_c, second_c), _merge(first_d, second_d)
        channel, direct = result["channel"], result["direct"]
        result["channel_over_direct"] = {
            "statements": round(channel["statements_per_order"] / direct["statements_per_order"], 2),
            "round_trips": round(channel["round_trips_per_order"] / direct["round_trips_per_order"], 2),
            "cpu": round(channel["cpu_ms_per_order"] / direct["cpu_ms_per_order"], 2),
            "rate": round(channel["applied_per_s"] / direct["applied_per_s"], 2),
        }
        problems = app.checker.run().problems
        result["check_problems"] = len(problems)
        if args.profile:
            ids = store_deliveries(app, args.orders, 500_000)
            profile = cProfile.Profile()
            profile.runcall(apply_channel, processor, ids)
            stats = pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime")
            stats.print_stats(args.profile)
        return result
    finally:
        app.close()
        if backend == "postgresql":
            drop_database(args.pg_url, url)


def drop_database(pg_url: str, url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    count = a["orders"] + b["orders"]

    def mean(key: str) -> float:
        return round((a[key] * a["orders"] + b[key] * b["orders"]) / count, 3)

    wall = a["orders"] / a["applied_per_s"] + b["orders"] / b["applied_per_s"]
    return {"orders": count, "applied_per_s": round(count / wall, 1), "cpu_ms_per_order": mean("cpu_ms_per_order"),
            "statements_per_order": mean("statements_per_order"),
            "round_trips_per_order": mean("round_trips_per_order"),
            "transactions": a["transactions"] + b["transactions"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--orders", type=int, default=800)
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--profile", type=int, default=0, help="cProfile the channel path; print the top N")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            result = run_backend(backend, args, Path(tmp))
            for path in ("channel", "direct"):
                f = result[path]
                print(f"{backend:10} {path:8} {f['applied_per_s']:8.1f} orders/s  {f['cpu_ms_per_order']:6.3f} ms CPU"
                      f"/order  {f['statements_per_order']:5.2f} statements/order  {f['round_trips_per_order']:5.2f} "
                      "round trips/order")
            print(f"{backend:10} channel/direct: statements x{result['channel_over_direct']['statements']}, "
                  f"round trips x{result['channel_over_direct']['round_trips']}, "
                  f"CPU x{result['channel_over_direct']['cpu']}, rate x{result['channel_over_direct']['rate']}; "
                  f"check problems {result['check_problems']}")
            results.append(result)
    print(json.dumps({"bench": "channel_apply", "orders": args.orders, "batch": BATCH, "results": results}))


if __name__ == "__main__":
    main()
