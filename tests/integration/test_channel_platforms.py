"""WooCommerce, BigCommerce (thin payloads read back from a loopback V2 Orders API) and Standard Webhooks, through
real HTTP; and an oversell of one SKU from three channels within seconds ending in exactly one purchase order."""

from __future__ import annotations

import copy

import pytest

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from tests.integration.channel_helpers import add_shopify, deliveries, post_shopify, shopify_order
from tests.integration.helpers import stock, totals
from tests.integration.purchasing_helpers import Runtime, purchase_orders
from tests.support.bigcommerce_api import BigCommerceApi
from tests.support.channel_signing import body_of, fixture, standard_headers, woocommerce_headers
from tests.support.serve_process import api_client
from tests.support.smtp_server import SmtpServer

WOO_SECRET, BC_SECRET, STD_SECRET = "wc-secret", "bc-header-secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def app(db_url, clock, smtp):
    sp = build(Settings(database_url=db_url, oversell_window_seconds=10, smtp_url=smtp.url,
                        mail_from="buyer@shop.example"), clock=clock, migrate=False)
    yield sp
    sp.close()


@pytest.fixture
def client(app):
    with api_client(app) as test_client:
        yield test_client


@pytest.fixture
def rt(app):
    return Runtime.build(app)


@pytest.fixture
def bc(clock):
    with BigCommerceApi(store_hash="abc123", token="bc-token", clock=clock) as api:
        yield api


def add(client, **body):
    created = client.post("/api/v1/channels", json=body)
    assert created.status_code == 201, created.text
    return created.json()


def woo_order(status="processing", modified="2017-03-22T19:28:08", **changes):
    order = copy.deepcopy(fixture("woocommerce/order_created_docs_example.json"))
    order.update(status=status, date_modified_gmt=modified, **changes)
    return order


def post_woo(client, topic, payload, *, path="/webhooks/woocommerce/woo", secret=WOO_SECRET):
    body = body_of(payload)
    return client.post(path, content=body, headers=woocommerce_headers(secret, body, topic, "https://example.com/"))


def bc_event(scope, order_id, digest):
    event = copy.deepcopy(fixture("bigcommerce/store_order_created.json"))
    event.update(scope=scope, hash=digest, producer="stores/abc123")
    event["data"]["id"] = order_id
    return event


def post_bc(client, payload, *, path="/webhooks/bigcommerce/bc", secret=BC_SECRET):
    return client.post(path, content=body_of(payload), headers={"Content-Type": "application/json",
                                                                 "X-Webhook-Secret": secret})


def test_woocommerce_orders_follow_their_status_and_ignore_older_updates(app, client, rt):
    stock(app, "Bar3", {"WH": 10})
    stock(app, "WOO-SINGLE", {"WH": 10})
    add(client, kind="woocommerce", name="woo", secret=WOO_SECRET, site_url="https://example.com")
    client.put("/api/v1/channel-listings", json={"channel": "woo", "external_id": "93", "sku": "WOO-SINGLE"})
    assert post_woo(client, "order.created", woo_order()).status_code == 200
    # The site-level path resolves the store by X-WC-Webhook-Source; the redelivered body is the same event.
    assert post_woo(client, "order.created", woo_order(), path="/webhooks/woocommerce").json()["duplicate"] is True
    rt.settle()
    assert (totals(app, "Bar3")["committed"], totals(app, "WOO-SINGLE")["committed"]) == (1, 2)
    post_woo(client, "order.updated", woo_order("cancelled", "2017-03-23T10:00:00"))
    post_woo(client, "order.updated", woo_order("processing", "2017-03-22T20:00:00"))  # older, arrives late
    rt.settle()
    assert (totals(app, "Bar3")["committed"], totals(app, "WOO-SINGLE")["committed"]) == (0, 0)
    assert post_woo(client, "order.created", woo_order(), secret="wrong").status_code == 401
    ping = client.post("/webhooks/woocommerce/woo", content=b"webhook_id=12",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert ping.status_code == 200 and len(deliveries(client)) == 3


def test_bigcommerce_reads_the_order_back_through_its_api(app, client, rt, bc):
    stock(app, "BC-TEE", {"WH": 5})
    add(client, kind="bigcommerce", name="bc", secret=BC_SECRET, store_hash="abc123", api_url=bc.api_url,
        api_token="bc-token")
    bc.put_order(250, 11, [("BC-TEE", 2, 509)])  # Awaiting Fulfillment
    assert post_bc(client, bc_event("store/order/created", 250, "dd70c0976e06b67aaf671e73f49dcb79230ebf9d")
                   ).status_code == 200
    assert post_bc(client, bc_event("store/order/created", 250, "x"), secret="nope").status_code == 401
    rt.settle()
    assert totals(app, "BC-TEE")["committed"] == 2
    assert all(token == "bc-token" for _, token in bc.requests) and any("/products" in p for p, _ in bc.requests)
    bc.put_order(250, 5, [("BC-TEE", 2, 509)])  # Cancelled
    bc.fail_next(1)  # the store API hiccups: the outbox retries, nothing is parked
    post_bc(client, bc_event("store/order/statusUpdated", 250, "7ee67cd1cf2ca60bc1aa9e5fe957d2de373be4ca"),
            path="/webhooks/bigcommerce")  # resolved by the payload's producer
    rt.settle()
    rt.advance(seconds=5)
    assert totals(app, "BC-TEE")["committed"] == 0
    assert [r["status"] for r in deliveries(client)] == ["processed", "processed"]


def test_bigcommerce_standard_webhooks_signature_and_unknown_orders(app, client, rt, bc, clock):
    add(client, kind="bigcommerce", name="bc", secret=STD_SECRET, store_hash="abc123", api_url=bc.api_url,
        api_token="bc-token")
    body = body_of(bc_event("store/order/created", 404, "h-404"))
    now = int(clock.now().timestamp())
    ok = client.post("/webhooks/bigcommerce/bc", content=body, headers=standard_headers(STD_SECRET, body, now))
    stale = client.post("/webhooks/bigcommerce/bc", content=body,
                        headers=standard_headers(STD_SECRET, body, now - 3600))
    assert (ok.status_code, stale.status_code) == (200, 401)
    rt.settle()
    (parked,) = deliveries(client, "parked")
    assert parked["reason"] == "order_not_found"


def test_standard_webhooks_channel(app, client, rt, clock):
    stock(app, "POS-1", {"STORE": 4})
    add(client, kind="standard", name="pos", secret=STD_SECRET, location="STORE")
    now = int(clock.now().timestamp())

    def post(payload, msg_id=None):
        body = body_of(payload)
        return client.post("/webhooks/standard/pos", content=body,
                           headers=standard_headers(STD_SECRET, body, now, msg_id=msg_id))

    created = {"type": "order.created", "timestamp": "2025-01-01T00:00:00Z",
               "data": {"id": "R-1", "lines": [{"sku": "POS-1", "quantity": 1}]}}
    assert post(created, "msg_1").status_code == 200
    assert post(created, "msg_1").json()["duplicate"] is True
    post({"type": "inventory.updated", "data": {"sku": "POS-1", "on_hand": 12, "updated_at": "2025-01-01T01:00Z"}})
    rt.settle()
    after = totals(app, "POS-1")
    assert (after["committed"], after["on_hand"]) == (1, 12)


def test_one_sku_oversold_on_three_channels_within_seconds_yields_one_purchase_order(app, client, rt, bc, clock):
    stock(app, "TEE", {"WH": 2}, backorder_policy="allow")
    app.suppliers.add("ACME", {"name": "ACME Ltd", "delivery_method": "email", "email": "orders@acme.test"})
    app.suppliers.set_offer("ACME", "TEE", {"unit_cost": "4.00", "lead_time_days": 5, "pack_size": 6})
    add_shopify(client)
    add(client, kind="woocommerce", name="woo", secret=WOO_SECRET, site_url="https://example.com")
    add(client, kind="bigcommerce", name="bc", secret=BC_SECRET, store_hash="abc123", api_url=bc.api_url,
        api_token="bc-token")

    post_shopify(client, "orders/create", shopify_order(quantity=4, sku="TEE"))
    rt.settle()
    clock.advance(seconds=3)
    woo = woo_order(line_items=[{"id": 1, "product_id": 5, "variation_id": 0, "quantity": 4, "sku": "TEE"}])
    post_woo(client, "order.created", woo)
    rt.settle()
    clock.advance(seconds=2)
    bc.put_order(251, 11, [("TEE", 4, 1)])
    post_bc(client, bc_event("store/order/created", 251, "h-251"))
    rt.settle()
    assert totals(app, "TEE")["available"] == -10 and purchase_orders(app) == []  # inside the window

    rt.advance(seconds=10)
    (po,) = purchase_orders(app)
    assert po["supplier"] == "ACME" and po["trigger"] == "oversell"
    assert [(ln["sku"], ln["quantity"]) for ln in po["lines"]] == [("TEE", 12)]  # deficit 10 in packs of 6
    sources = {o["source"] for o in (app.orders.get(i) for i in (1, 2, 3))}
    assert sources == {"shop", "woo", "bc"}
    assert app.checker.run().problems == []
