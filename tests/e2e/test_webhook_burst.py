"""A burst of signed Shopify webhooks from racing threads against `stockpilot serve` (a real process, real
database): the fast path batches concurrent deliveries into shared commits, and still every delivery is stored
once, every redelivery (even one racing its original in the same batch) is counted on the original's row, and
every order is applied exactly once."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from stockpilot.adapters.db.database import normalise_url
from stockpilot.adapters.db.tables import outbox, webhook_deliveries
from tests.integration.channel_helpers import SHOP, SHOP_SECRET, shopify_order
from tests.support.channel_signing import body_of, shopify_headers
from tests.support.serve_process import serve_demo

ORDERS, COPIES, SKU = 60, 3, "TEE-BLK-L"


@pytest.fixture
def server(db_url: str, tmp_path: Path):
    with serve_demo({**os.environ, "STOCKPILOT_DATABASE_URL": db_url}, tmp_path / "serve.log") as started:
        yield started


def test_racing_deliveries_and_redeliveries_are_each_stored_and_applied_once(server, db_url):
    base, token = server
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert api.post("/api/v1/channels", json={"kind": "shopify", "name": "shop", "secret": SHOP_SECRET,
                                              "shop_domain": SHOP}).status_code == 201
    assert api.post("/api/v1/inventory/adjustments", json={"sku": SKU, "location": "WH-EAST", "delta": 1000,
                                                           "idempotency_key": "burst-stock"}).status_code == 201
    committed_before = api.get(f"/api/v1/skus/{SKU}").json()["totals"]["committed"]
    posts = []
    for n in range(ORDERS):
        body = body_of(shopify_order(order_id=7000 + n, quantity=1 + n % 3, sku=SKU))
        headers = shopify_headers(SHOP_SECRET, body, "orders/create", SHOP, webhook_id=f"wh-{n}", event_id=f"ev-{n}")
        posts.extend([(body, headers)] * COPIES)  # each delivery sent three times, all at once

    def post(item: tuple[bytes, dict[str, str]]) -> httpx.Response:
        with httpx.Client(base_url=base, timeout=30) as client:
            return client.post("/webhooks/shopify", content=item[0], headers=item[1])

    with ThreadPoolExecutor(max_workers=24) as pool:
        answers = list(pool.map(post, posts))
    assert {a.status_code for a in answers} == {200}
    by_delivery: dict[int, list[bool]] = {}
    for answer in answers:
        by_delivery.setdefault(answer.json()["delivery"], []).append(answer.json()["duplicate"])
    assert len(by_delivery) == ORDERS  # the copies of one delivery all name the same row ...
    assert all(sorted(flags) == [False, True, True] for flags in by_delivery.values())  # ... one of them new

    engine = create_engine(normalise_url(db_url))
    with engine.connect() as conn:
        rows = conn.execute(select(webhook_deliveries.c.id, webhook_deliveries.c.duplicates)).all()
        queued = conn.execute(select(func.count()).select_from(outbox)
                              .where(outbox.c.topic == "channel.webhook")).scalar_one()
    engine.dispose()
    assert len(rows) == ORDERS and {r.duplicates for r in rows} == {COPIES - 1} and queued == ORDERS

    deadline = time.monotonic() + 60
    while api.get("/api/v1/webhook-deliveries", params={"status": "received"}).json()["items"]:
        assert time.monotonic() < deadline, "the embedded worker did not apply the deliveries"
        time.sleep(0.2)
    processed = api.get("/api/v1/webhook-deliveries", params={"status": "processed", "limit": 500}).json()["items"]
    assert len(processed) == ORDERS
    committed = api.get(f"/api/v1/skus/{SKU}").json()["totals"]["committed"]
    assert committed - committed_before == sum(1 + n % 3 for n in range(ORDERS))
