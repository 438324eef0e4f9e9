"""Webhook intake benchmark: signed Shopify `orders/create` deliveries posted to `stockpilot serve` (a real process).

Per backend, in one run: SQLite with one `stockpilot serve` (its worker embedded, as threads); PostgreSQL with one
`stockpilot serve` as it deploys by default (its worker a supervised child process), then the same with the worker
as threads in the HTTP process ("postgresql-threads", the previous default), then `serve --no-worker` beside a
`stockpilot worker` started by hand ("postgresql-split"); `--pg-topology` picks one:
  burst     `--webhooks` deliveries from `--clients` concurrent keep-alive clients, as fast as they are answered:
            accepted per second, p50 / p99 time to answer, then how long the worker takes to apply them.
  paced     `--paced` deliveries at `--rate` per second (a busy shop, not a flood): p50 / p99 time from receipt
            until the ledger reflects the order, with no backlog in the way.
Baselines measured in the same run, on the same machine:
  bare-asgi a bare ASGI app under the same uvicorn answering 200 to every POST, loaded by the same client with
            the same bytes: the HTTP floor (no verification, no database).
  raw-insert the intake's two rows (delivery + outbox) inserted through the bare driver, one transaction per
            webhook, one connection: the persistence floor.

Bodies are the captured `orders/create` sample (shared/fixtures/shopify), each with its own order id, signed as
Shopify signs them (X-Shopify-Hmac-Sha256 = base64 HMAC-SHA256 of the raw body with the app secret), with the
headers Shopify sends. Receipt is the delivery row's `received_at` (the server's clock at intake); the ledger
reflects the order at the order row's `created_at` (its commit follows within the same transaction). The channel
is also the push target: its API URL is a loopback fake Shopify Admin GraphQL API (tests/support/
shopify_admin_api.py) run by this script, which records when each `inventorySetQuantities` arrives and with what
value. Every order takes one unit, so the k-th order of a SKU (in commit order) is reflected by the first push of
that SKU's item with a value <= initial - k: receipt-to-push is that push's arrival minus the order's receipt
(one machine, one wall clock).

    python bench/webhooks.py                       # both backends
    python bench/webhooks.py --backend sqlite --quick
The last line printed is one JSON object with every figure, ratio and goal verdict.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import copy
import hashlib
import hmac
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import create_engine, func, select

from flash_core import measure_cpu
from flash_http import Server, _cli, _free_port, setup_catalog, start_server
from stockpilot.adapters.db.database import normalise_url
from stockpilot.adapters.db.tables import order_lines, orders, skus, webhook_deliveries

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the loopback fake lives with the tests
from tests.support.shopify_admin_api import ShopifyAdminApi

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "shopify" / \
    "orders_create_captured_activepieces.json"
SHOP, SECRET, LOCATION = "bench-shop.myshopify.com", "shpss_bench_secret", "WH-1"
SKUS = [f"HOOK-{n}" for n in range(10)]
ITEMS = {sku: str(808950810 + n) for n, sku in enumerate(SKUS)}  # Shopify inventory item per SKU
SHOPIFY_LOCATION, API_TOKEN, INITIAL = "905684977", "shpat_bench_token", 10**6
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
BENCH_DB = f"stockpilot_bench_webhooks_{os.getpid()}"  # per run: two runs at once must not share it
GOALS = {"accepted_per_s_min": 1000.0, "answer_p99_ms_max": 50.0, "receipt_to_push_p99_ms_max": 1000.0}

BARE_ASGI = '''
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    body = b'{"status":"accepted","delivery":1,"duplicate":false}'
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
'''


# ---- the deliveries ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Delivery:
    order_id: int
    webhook_id: str
    sku: str
    request: bytes  # the whole HTTP/1.1 request, pre-encoded


def deliveries(count: int, first_order: int, host: str) -> list[Delivery]:
    template = json.loads(FIXTURE.read_text())
    made = []
    for n in range(count):
        order = copy.deepcopy(template)
        order_id = first_order + n
        order["id"] = order_id
        order["admin_graphql_api_id"] = f"gid://shopify/Order/{order_id}"
        order["name"] = order["order_number"] = f"#{order_id}"
        line = order["line_items"][0]
        line["sku"], line["quantity"], line["fulfillable_quantity"] = SKUS[n % len(SKUS)], 1, 1
        body = json.dumps(order, separators=(",", ":")).encode()
        digest = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
        webhook_id = str(uuid.uuid4())
        head = (
            f"POST /webhooks/shopify HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Shopify-Captain-Hook\r\n"
            "Content-Type: application/json\r\nX-Shopify-Topic: orders/create\r\n"
            f"X-Shopify-Shop-Domain: {SHOP}\r\nX-Shopify-API-Version: 2025-07\r\nX-Shopify-Hmac-Sha256: {digest}\r\n"
            f"X-Shopify-Webhook-Id: {webhook_id}\r\nX-Shopify-Event-Id: {uuid.uuid4()}\r\n"
            f"X-Shopify-Triggered-At: {datetime.now(UTC).isoformat()}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        made.append(Delivery(order_id, webhook_id, line["sku"], head + body))
    return made


# ---- the push target ----------------------------------------------------------------------------------------
class RecordingShopify(ShopifyAdminApi):
    """The fake Admin API, noting when each applied inventorySetQuantities arrived: (time, item, value)."""

    def __init__(self) -> None:
        super().__init__(shop=SHOP, token=API_TOKEN, maximum_available=10**9, restore_rate=10**6)
        self.sets: list[tuple[float, str, int]] = []
        for item in ITEMS.values():
            self.stock(item, SHOPIFY_LOCATION, INITIAL)

    def _apply(self, payload: dict[str, Any]) -> dict[str, Any]:
        answer = super()._apply(payload)
        if not answer["inventorySetQuantities"]["userErrors"]:
            now = time.time()
            for quantity in payload["quantities"]:
                item = str(quantity["inventoryItemId"]).rsplit("/", 1)[-1]
                self.sets.append((now, item, int(quantity["quantity"])))
        return answer

    def last_values(self) -> dict[str, int]:
        with self._lock:
            return {item: self.levels[(item, SHOPIFY_LOCATION)] for item in ITEMS.values()}


# ---- the load generator ------------------------------------------------------------------------------------
@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)  # seconds, write of the request to its full answer read
    accepted: int = 0
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)


async def _client(host: str, port: int, queue: asyncio.Queue[tuple[Delivery, float | None]], load: Load) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    clock = time.perf_counter
    try:
        while True:
            try:
                delivery, due = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if due is not None and (wait := due - clock()) > 0:
                await asyncio.sleep(wait)
            start = clock()
            writer.write(delivery.request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            answer = await reader.readexactly(length) if length else b""
            load.latencies.append(clock() - start)
            if head[9:12] == b"200" and b'"accepted"' in answer:
                load.accepted += 1
            elif len(load.errors) < 5:
                load.errors.append(f"{head[:12]!r} {answer[:200]!r}")
    finally:
        writer.close()


def post_all(host: str, port: int, batch: list[Delivery], clients: int, *, rate: float | None = None,
             server_pid: int | None = None, worker_pid: int | None = None) -> Load:
    """Send every delivery once; with `rate`, delivery i is sent no earlier than i / rate after the start."""
    load = Load()

    async def run() -> None:
        queue: asyncio.Queue[tuple[Delivery, float | None]] = asyncio.Queue()
        start = time.perf_counter() + 0.05
        for i, delivery in enumerate(batch):
            queue.put_nowait((delivery, start + i / rate if rate else None))
        began = time.perf_counter()
        results = await asyncio.gather(*(_client(host, port, queue, load) for _ in range(clients)),
                                       return_exceptions=True)
        load.elapsed = time.perf_counter() - began
        load.errors.extend(f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException))

    with measure_cpu(load.cpu, server_pid=server_pid, database=BENCH_DB, worker_pid=worker_pid):
        asyncio.run(run())
    return load


# ---- statistics ---------------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def answer_figures(load: Load, sent: int) -> dict[str, Any]:
    return {"sent": sent, "accepted": load.accepted, "errors": sent - load.accepted,
            "accepted_per_s": round(load.accepted / load.elapsed, 1) if load.elapsed else None,
            "answer_p50_ms": ms(pct(load.latencies, 0.5)), "answer_p99_ms": ms(pct(load.latencies, 0.99)),
            "answer_max_ms": ms(max(load.latencies, default=None)), "cpu_s": load.cpu,
            "error_samples": load.errors[:5]}


# ---- the server's database ----------------------------------------------------------------------------------
class Ledger:
    """Read-only view of the server's database: how far processing got and when each order reached the ledger."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(normalise_url(url))

    def pending(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(webhook_deliveries)
                                    .where(webhook_deliveries.c.status == "received")).scalar_one())

    def wait_applied(self, timeout: float) -> float | None:
        """Seconds until no delivery waits (None if `timeout` passed first)."""
        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            if self.pending() == 0:
                return time.perf_counter() - start
            time.sleep(0.05)
        return None

    def receipt_to_ledger(self, batch: list[Delivery]) -> tuple[list[float], dict[str, int]]:
        keys = {f"webhook:{d.webhook_id}": f"shopify:{SHOP}:{d.order_id}" for d in batch}
        with self.engine.connect() as conn:
            received = {row.delivery_key: (row.received_at, row.status) for row in conn.execute(
                select(webhook_deliveries.c.delivery_key, webhook_deliveries.c.received_at,
                       webhook_deliveries.c.status))}
            placed = {row.reference: row.created_at for row in conn.execute(
                select(orders.c.reference, orders.c.created_at).where(orders.c.reference.in_(list(keys.values()))))}
        spans, statuses = [], {}
        for key, reference in keys.items():
            got = received.get(key)
            status = got[1] if got else "missing"
            statuses[status] = statuses.get(status, 0) + 1
            if got and reference in placed:
                spans.append((placed[reference] - got[0]).total_seconds())
        return spans, statuses

    def orders_by_sku(self) -> dict[str, list[tuple[Any, str]]]:
        """Every order of each SKU, in commit order (created_at): the k-th leaves initial - k available."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(orders.c.reference, orders.c.created_at, orders.c.id, skus.c.sku)
                                .join(order_lines, order_lines.c.order_id == orders.c.id)
                                .join(skus, skus.c.id == order_lines.c.sku_id)).all()
        found: dict[str, list[tuple[Any, str]]] = {}
        for row in sorted(rows, key=lambda r: (r.created_at, r.id)):
            found.setdefault(row.sku, []).append((row.created_at, row.reference))
        return found

    def wait_pushed(self, shopify: RecordingShopify, timeout: float) -> bool:
        """Until every SKU's item on the fake shows initial - (its orders so far)."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            placed = self.orders_by_sku()
            expected = {ITEMS[sku]: INITIAL - len(placed.get(sku, [])) for sku in SKUS}
            if shopify.last_values() == expected:
                return True
            time.sleep(0.1)
        return False

    def receipt_to_push(self, batch: list[Delivery], shopify: RecordingShopify) -> list[float]:
        rank = {ref: k for sku_orders in self.orders_by_sku().values()
                for k, (_at, ref) in enumerate(sku_orders, start=1)}
        with self.engine.connect() as conn:
            received = {row.delivery_key: row.received_at for row in conn.execute(
                select(webhook_deliveries.c.delivery_key, webhook_deliveries.c.received_at))}
        pushes: dict[str, list[tuple[float, int]]] = {}
        for at, item, value in sorted(shopify.sets):
            pushes.setdefault(item, []).append((at, value))
        spans = []
        for d in batch:
            k = rank.get(f"shopify:{SHOP}:{d.order_id}")
            got = received.get(f"webhook:{d.webhook_id}")
            if k is None or got is None:
                continue
            first = next((at for at, value in pushes.get(ITEMS[d.sku], []) if value <= INITIAL - k), None)
            if first is not None:
                spans.append(first - got.timestamp())
        return spans

    def close(self) -> None:
        self.engine.dispose()


# ---- baselines ----------------------------------------------------------------------------------------------
@contextmanager
def bare_asgi(workdir: Path) -> Iterator[int]:
    (workdir / "bare_asgi.py").write_text(BARE_ASGI)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_asgi:app", "--host", "127.0.0.1", "--port",
                             str(port), "--no-access-log", "--log-level", "warning", "--lifespan", "off"],
                            cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.post(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the bare ASGI baseline did not start") from None
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def raw_insert_rate(url: str, batch: list[Delivery]) -> dict[str, Any]:
    """The intake's two inserts per webhook through the bare driver, one commit each, one connection."""
    body_start = batch[0].request.index(b"\r\n\r\n") + 4
    rows = [(f"raw:{d.webhook_id}", d.request[body_start:]) for d in batch]
    headers = json.dumps({"x-shopify-topic": "orders/create", "x-shopify-shop-domain": SHOP})
    now = datetime.now(UTC).isoformat(sep=" ")
    delivery_sql = ("INSERT INTO webhook_deliveries (channel_id, topic, delivery_key, event_key, headers, body, "
                    "status, duplicates, received_at) VALUES (1, 'orders/create', {p}, {p}, {p}, {p}, 'received', 0, "
                    "{p}) RETURNING id")
    outbox_sql = ("INSERT INTO outbox (topic, payload, idempotency_key, status, attempts, max_attempts, "
                  "available_at, created_at) VALUES ('bench.raw', {p}, {p}, 'delivered', 0, 8, {p}, {p})")
    start = time.perf_counter()
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        start = time.perf_counter()
        for key, body in rows:
            conn.execute("BEGIN IMMEDIATE")
            (new_id,) = conn.execute(delivery_sql.format(p="?"), (key, key, headers, body, now)).fetchone()
            conn.execute(outbox_sql.format(p="?"), (json.dumps({"delivery_id": new_id}), key, now, now))
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - start
        conn.close()
    else:
        with psycopg.connect(url) as conn:
            start = time.perf_counter()
            for key, body in rows:
                with conn.transaction():
                    (new_id,) = conn.execute(delivery_sql.format(p="%s"), (key, key, headers, body, now)).fetchone()
                    conn.execute(outbox_sql.format(p="%s"), (json.dumps({"delivery_id": new_id}), key, now, now))
            elapsed = time.perf_counter() - start
    return {"inserted": len(rows), "per_s": round(len(rows) / elapsed, 1)}


# ---- one backend --------------------------------------------------------------------------------------------
def fresh_url(backend: str, workdir: Path, pg_admin: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / f'webhooks-{uuid.uuid4().hex[:8]}.db'}"
    with psycopg.connect(pg_admin, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{BENCH_DB}"')
    return pg_admin.rsplit("/", 1)[0] + f"/{BENCH_DB}"


def add_channel(server: Server, shopify: RecordingShopify, url: str) -> None:
    """The store (webhooks in, pushes out to the fake), its listings and its location mapping."""
    headers = {"Authorization": f"Bearer {server.token}"}
    answer = httpx.post(f"{server.base}/api/v1/channels", headers=headers, timeout=30, json={
        "kind": "shopify", "name": "bench", "secret": SECRET, "shop_domain": SHOP, "location": LOCATION,
        "api_url": shopify.api_url, "api_token": API_TOKEN})
    if answer.status_code != 201:
        raise RuntimeError(f"channel add failed: {answer.status_code} {answer.text}")
    for sku, item in ITEMS.items():
        listed = httpx.put(f"{server.base}/api/v1/channel-listings", headers=headers, timeout=30, json={
            "channel": "bench", "external_id": item, "sku": sku, "role": "inventory_item"})
        if listed.status_code not in (200, 201):
            raise RuntimeError(f"listing failed: {listed.status_code} {listed.text}")
    mapped = subprocess.run([*_cli(), "channel", "location", "bench", LOCATION, "--external-id", SHOPIFY_LOCATION],
                            env={**os.environ, "STOCKPILOT_DATABASE_URL": url}, capture_output=True, text=True,
                            timeout=120, check=False)
    if mapped.returncode != 0:
        raise RuntimeError(f"channel location failed: {mapped.stderr[-500:]}")


@contextmanager
def worker_process(url: str, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`stockpilot worker`, beside a `serve --no-worker`: the scale-out deployment (docs/architecture.md)."""
    with (workdir / "worker.log").open("wb") as out:
        proc = subprocess.Popen([*_cli(), "worker", "--id", "bench-worker"], stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "STOCKPILOT_DATABASE_URL": url, "STOCKPILOT_DB_POOL_SIZE": "20"})
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


TOPOLOGIES = {
    "serve": "serve (worker child process, the PostgreSQL default)",
    "threads": "serve --worker-in threads",
    "split": "serve --no-worker + worker",
}


def run_backend(backend: str, topology: str, args: argparse.Namespace, workdir: Path, log: Any) -> dict[str, Any]:
    url = fresh_url(backend, workdir, args.pg_url)
    split = topology == "split"
    serve_args = {"serve": [], "threads": ["--worker-in", "threads"], "split": ["--no-worker"]}[topology]
    server = start_server(url, workdir, workers=1, pool_size=40, serve_args=serve_args)
    worker = worker_process(url, workdir) if split else contextlib.nullcontext()
    worker_pid = getattr(worker.__enter__(), "pid", None) or httpx.get(f"{server.base}/healthz").json()["worker"].get(
        "pid")  # serve's own worker child, when it runs one: its CPU is counted as the worker's
    ledger = Ledger(url)
    result: dict[str, Any] = {"backend": backend, "name": backend if topology == "serve" else f"{backend}-{topology}",
                              "topology": TOPOLOGIES[topology] if backend == "postgresql" else "serve (worker threads)"}
    shopify = RecordingShopify().__enter__()
    try:
        setup_catalog(server, LOCATION, dict.fromkeys(SKUS, INITIAL))
        add_channel(server, shopify, url)
        host = f"{server.host}:{server.port}"
        warm = deliveries(200, 1, host)
        post_all(server.host, server.port, warm, args.clients)
        ledger.wait_applied(120)
        ledger.wait_pushed(shopify, 60)

        burst = deliveries(args.webhooks, 10_000, host)
        load = post_all(server.host, server.port, burst, args.clients, server_pid=server.proc.pid,
                        worker_pid=worker_pid)
        result["burst"] = answer_figures(load, len(burst))
        drained = ledger.wait_applied(args.drain_timeout)
        spans, statuses = ledger.receipt_to_ledger(burst)
        pushed = ledger.wait_pushed(shopify, args.drain_timeout)
        push_spans = ledger.receipt_to_push(burst, shopify)
        result["burst"].update({
            "drain_after_last_answer_s": None if drained is None else round(drained, 2),
            "applied_per_s": round(len(burst) / (load.elapsed + drained), 1) if drained is not None else None,
            "receipt_to_ledger_p50_ms": ms(pct(spans, 0.5)), "receipt_to_ledger_p99_ms": ms(pct(spans, 0.99)),
            "receipt_to_push_p50_ms": ms(pct(push_spans, 0.5)), "receipt_to_push_p99_ms": ms(pct(push_spans, 0.99)),
            "pushes": len(shopify.sets), "pushes_settled": pushed, "statuses": statuses,
        })
        log(f"{result['name']}: burst {result['burst']['accepted_per_s']}/s accepted, "
            f"p99 {result['burst']['answer_p99_ms']} ms, applied {result['burst']['applied_per_s']}/s")

        paced = deliveries(args.paced, 900_000, host)
        pushes_before = len(shopify.sets)
        load = post_all(server.host, server.port, paced, min(args.clients, 8), rate=args.rate,
                        server_pid=server.proc.pid, worker_pid=worker_pid)
        result["paced"] = answer_figures(load, len(paced))
        ledger.wait_applied(args.drain_timeout)
        spans, statuses = ledger.receipt_to_ledger(paced)
        pushed = ledger.wait_pushed(shopify, args.drain_timeout)
        push_spans = ledger.receipt_to_push(paced, shopify)
        result["paced"].update({"rate_per_s": args.rate, "receipt_to_ledger_p50_ms": ms(pct(spans, 0.5)),
                                "receipt_to_ledger_p99_ms": ms(pct(spans, 0.99)),
                                "receipt_to_push_p50_ms": ms(pct(push_spans, 0.5)),
                                "receipt_to_push_p99_ms": ms(pct(push_spans, 0.99)),
                                "pushes": len(shopify.sets) - pushes_before, "pushes_settled": pushed,
                                "statuses": statuses})
        log(f"{result['name']}: paced {args.rate}/s, receipt-to-ledger p99 "
            f"{result['paced']['receipt_to_ledger_p99_ms']} ms, "
            f"receipt-to-push p99 {result['paced']['receipt_to_push_p99_ms']} ms")
    finally:
        server.stop()
        worker.__exit__(None, None, None)
        ledger.close()
        shopify.__exit__(None, None, None)
    checked = subprocess.run([sys.executable, "-m", "stockpilot.entrypoints.cli.main", "check"],
                             env={**os.environ, "STOCKPILOT_DATABASE_URL": url}, capture_output=True, text=True,
                             timeout=300, check=False)
    result["check_ok"] = checked.returncode == 0
    result["raw_insert"] = raw_insert_rate(url, deliveries(args.raw_inserts, 5_000_000, "x"))
    log(f"{result['name']}: raw insert {result['raw_insert']['per_s']}/s; stockpilot check "
        f"{'ok' if result['check_ok'] else 'FAILED'}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--webhooks", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--paced", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--raw-inserts", type=int, default=3000)
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--pg-url", default=os.environ.get("STOCKPILOT_TEST_POSTGRES_URL", DEFAULT_PG))
    parser.add_argument("--pg-topology", choices=[*TOPOLOGIES, "all"], default="all",
                        help="PostgreSQL: " + "; ".join(f"{k}: {v}" for k, v in TOPOLOGIES.items())
                             + "; all: each, one after the other (default)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1,000 burst, 200 paced")
    args = parser.parse_args(argv)
    if args.quick:
        args.webhooks, args.paced, args.raw_inserts = 1000, 200, 500

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    topologies = list(TOPOLOGIES) if args.pg_topology == "all" else [args.pg_topology]
    backends = [("sqlite", "serve")] if args.backend in ("sqlite", "both") else []
    if args.backend in ("postgresql", "both"):
        backends += [("postgresql", topology) for topology in topologies]
    runs, skipped = [], {}
    with tempfile.TemporaryDirectory(prefix="stockpilot-webhooks-") as tmp:
        workdir = Path(tmp)
        with bare_asgi(workdir) as port:
            baseline = answer_figures(post_all("127.0.0.1", port, deliveries(args.webhooks, 1, f"127.0.0.1:{port}"),
                                               args.clients), args.webhooks)
        log(f"bare ASGI baseline: {baseline['accepted_per_s']}/s, p99 {baseline['answer_p99_ms']} ms")
        for backend, topology in backends:
            try:
                runs.append(run_backend(backend, topology, args, workdir, log))
            except psycopg.OperationalError as exc:
                skipped[backend] = str(exc).splitlines()[0]
            finally:
                if backend == "postgresql" and backend not in skipped:
                    with psycopg.connect(args.pg_url, autocommit=True) as admin:
                        admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    ratios, goals = {}, {}
    for run in runs:
        name, burst = run["name"], run["burst"]
        ratios[name] = {
            "accepted_over_bare_asgi": round(burst["accepted_per_s"] / baseline["accepted_per_s"], 3),
            "accepted_over_raw_insert": round(burst["accepted_per_s"] / run["raw_insert"]["per_s"], 3),
            "answer_p99_over_bare_asgi": round(burst["answer_p99_ms"] / baseline["answer_p99_ms"], 2),
        }
        goals[name] = {
            "accepted_per_s": burst["accepted_per_s"] >= GOALS["accepted_per_s_min"],
            "answer_p99_ms": burst["answer_p99_ms"] < GOALS["answer_p99_ms_max"],
            "receipt_to_ledger_p99_ms_paced": (run["paced"]["receipt_to_ledger_p99_ms"] or 1e9)
            < GOALS["receipt_to_push_p99_ms_max"],
            "receipt_to_push_p99_ms_paced": (run["paced"]["receipt_to_push_p99_ms"] or 1e9)
            < GOALS["receipt_to_push_p99_ms_max"],
            "check_ok": run["check_ok"],
        }
    print(f"{'backend':<20} {'run':<8} {'accepted/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'applied/s':>9} "
          f"{'rcpt->ledger p50':>16} {'p99 ms':>8} {'rcpt->push p50':>14} {'p99 ms':>8} {'pushes':>6}")
    print(f"{'-':<20} {'bare-asgi':<8} {baseline['accepted_per_s']:>10} {baseline['answer_p50_ms']:>8} "
          f"{baseline['answer_p99_ms']:>8}")
    for run in runs:
        for kind in ("burst", "paced"):
            fig = run[kind]
            print(f"{run['name']:<20} {kind:<8} {fig['accepted_per_s']:>10} {fig['answer_p50_ms']:>8} "
                  f"{fig['answer_p99_ms']:>8} {fig.get('applied_per_s', '')!s:>9} "
                  f"{fig['receipt_to_ledger_p50_ms']!s:>16} {fig['receipt_to_ledger_p99_ms']!s:>8} "
                  f"{fig['receipt_to_push_p50_ms']!s:>14} {fig['receipt_to_push_p99_ms']!s:>8} {fig['pushes']:>6}")
        print(f"{run['name']:<20} raw-insert {run['raw_insert']['per_s']:>8}/s   ratios {ratios[run['name']]}")
    result = {"benchmark": "stockpilot webhook intake", "config": vars(args) | {"cpus": os.cpu_count()},
              "bare_asgi": baseline, "runs": runs, "ratios": ratios, "goals": goals, "goal_values": GOALS,
              "skipped": skipped}
    sys.stdout.flush()
    print(json.dumps(result, separators=(",", ":"), default=str), flush=True)
    return 0 if all(run["check_ok"] for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
