"""Shopify webhooks through real HTTP (FastAPI TestClient) and the real runtime, on SQLite and PostgreSQL:
verification, persistence first, dedupe, parking, and what each topic does to stock."""

from __future__ import annotations

from stockpilot.adapters.db import channel_store
from stockpilot.services.webhook_intake import MAX_BODY_BYTES
from tests.integration.channel_helpers import (
    SHOP,
    SHOP_SECRET,
    add_shopify,
    deliveries,
    post_shopify,
    shopify_order,
)
from tests.integration.helpers import stock, totals
from tests.support.channel_signing import shopify_headers


def test_channel_registry_keeps_the_secret_to_itself(client):
    add_shopify(client, buffer=2)
    (listed,) = client.get("/api/v1/channels").json()["items"]
    assert listed["webhook_path"] == "/webhooks/shopify" and listed["shop_domain"] == SHOP and listed["buffer"] == 2
    assert SHOP_SECRET not in client.get("/api/v1/channels/shop").text
    again = client.post("/api/v1/channels", json={"kind": "shopify", "name": "shop2", "secret": "x",
                                                  "shop_domain": SHOP.upper()})
    assert again.status_code == 409  # one channel per shop domain (compared lower-cased)
    missing = client.post("/api/v1/channels", json={"kind": "bigcommerce", "name": "bc", "secret": "x"})
    assert missing.status_code == 422 and "store-hash" in missing.json()["detail"]


def test_the_captured_orders_create_commits_stock(app, client, rt):
    stock(app, "sku-hosted-1", {"WH": 5})
    add_shopify(client)
    answer = post_shopify(client, "orders/create", shopify_order())
    assert answer.status_code == 200 and answer.json()["status"] == "accepted"
    assert totals(app, "sku-hosted-1")["committed"] == 0  # answered before anything was applied
    rt.settle()
    assert totals(app, "sku-hosted-1")["committed"] == 1
    (row,) = deliveries(client, "processed")
    assert row["topic"] == "orders/create" and row["effect"][0]["order"] == f"shopify:{SHOP}:5324830114101"
    order = app.orders.get(row["effect"][0]["order_id"])
    assert order["source"] == "shop" and order["status"] == "open"
    assert app.checker.run().problems == []


def test_a_bad_signature_is_401_and_stores_nothing(client):
    add_shopify(client)
    assert post_shopify(client, "orders/create", shopify_order(), secret="wrong").status_code == 401
    body = b'{"id": 1}'
    signed_for_other_body = shopify_headers(SHOP_SECRET, body, "orders/create", SHOP)
    tampered = client.post("/webhooks/shopify", content=body + b" ", headers=signed_for_other_body)
    assert tampered.status_code == 401 and tampered.json()["error"] == "invalid_signature"
    assert deliveries(client) == []


def test_an_unknown_store_is_404(client):
    add_shopify(client)
    answer = post_shopify(client, "orders/create", shopify_order(), shop="someone-else.myshopify.com")
    assert answer.status_code == 404
    assert client.post("/webhooks/standard/nope", content=b"{}").status_code == 404


def test_an_oversized_body_is_413_before_it_is_read(client):
    add_shopify(client)
    huge = b'{"pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    assert post_shopify(client, "orders/create", huge).status_code == 413
    assert deliveries(client) == []


def test_a_redelivery_has_no_second_effect(app, client, rt):
    stock(app, "sku-hosted-1", {"WH": 5})
    add_shopify(client)
    first = post_shopify(client, "orders/create", shopify_order(quantity=2), webhook_id="wh-1", event_id="ev-1")
    same_webhook = post_shopify(client, "orders/create", shopify_order(quantity=2), webhook_id="wh-1",
                                event_id="ev-1")
    same_event = post_shopify(client, "orders/create", shopify_order(quantity=2), webhook_id="wh-2",
                              event_id="ev-1")
    assert [r.json()["duplicate"] for r in (first, same_webhook, same_event)] == [False, True, True]
    rt.settle()
    # A different delivery of the same order (new ids: e.g. a second subscription) is still one order.
    post_shopify(client, "orders/create", shopify_order(quantity=2), webhook_id="wh-3", event_id="ev-3")
    rt.settle()
    assert totals(app, "sku-hosted-1")["committed"] == 2
    rows = deliveries(client)
    assert len(rows) == 2 and rows[0]["duplicates"] == 2 and {r["status"] for r in rows} == {"processed"}


def test_malformed_json_is_parked_with_its_raw_body_and_retryable(app, client, rt):
    add_shopify(client)
    answer = post_shopify(client, "orders/create", b'{"id": 1, "line_items": [')
    assert answer.status_code == 200
    rt.settle()
    (parked,) = deliveries(client, "parked")
    assert parked["reason"] == "malformed_json"
    shown = client.get(f"/api/v1/webhook-deliveries/{parked['id']}").json()
    assert shown["body"] == '{"id": 1, "line_items": [' and shown["headers"]["x-shopify-topic"] == "orders/create"
    retried = client.post(f"/api/v1/webhook-deliveries/{parked['id']}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "received"
    rt.settle()
    assert deliveries(client, "parked")[0]["id"] == parked["id"]  # still malformed: parked again, not lost
    assert client.post("/api/v1/webhook-deliveries/999/retry").status_code == 404


def test_an_unknown_sku_is_parked_then_applied_once_a_listing_maps_it(app, client, rt):
    stock(app, "BOARD", {"WH": 3})
    add_shopify(client)
    post_shopify(client, "orders/create", shopify_order(sku="NOT-OURS"))
    rt.settle()
    (parked,) = deliveries(client, "parked")
    assert parked["reason"] == "unknown_sku" and totals(app, "BOARD")["committed"] == 0
    client.put("/api/v1/channel-listings", json={"channel": "shop", "external_id": "44872881439030", "sku": "BOARD"})
    client.post(f"/api/v1/webhook-deliveries/{parked['id']}/retry")
    rt.settle()
    assert totals(app, "BOARD")["committed"] == 1 and deliveries(client, "processed")[0]["id"] == parked["id"]


def test_a_deny_sku_that_cannot_be_sold_is_parked_not_lost(app, client, rt):
    stock(app, "sku-hosted-1", {"WH": 1})  # backorder policy: deny
    add_shopify(client)
    post_shopify(client, "orders/create", shopify_order(quantity=3))
    rt.settle()
    (parked,) = deliveries(client, "parked")
    assert parked["reason"] == "insufficient_stock" and totals(app, "sku-hosted-1")["committed"] == 0
    app.stock.adjust(sku="sku-hosted-1", location="WH", delta=2, kind="receive", idempotency_key="receipt-1")
    client.post(f"/api/v1/webhook-deliveries/{parked['id']}/retry")
    rt.settle()
    assert totals(app, "sku-hosted-1")["committed"] == 3


def test_cancel_fulfil_and_refund_with_restock(app, client, rt):
    stock(app, "sku-hosted-1", {"WH": 10})
    add_shopify(client)
    post_shopify(client, "orders/create", shopify_order(order_id=1, quantity=2))
    post_shopify(client, "orders/create", shopify_order(order_id=2, quantity=3))
    rt.settle()
    assert totals(app, "sku-hosted-1")["committed"] == 5
    post_shopify(client, "orders/cancelled", shopify_order(order_id=1, quantity=2, updated_at="2023-03-25T10:00:00Z"))
    post_shopify(client, "orders/fulfilled", shopify_order(order_id=2, quantity=3, updated_at="2023-03-25T11:00:00Z"))
    rt.settle()
    after = totals(app, "sku-hosted-1")
    assert (after["committed"], after["on_hand"]) == (0, 7)  # order 1's two back, order 2's three shipped
    refund = {"id": 900, "order_id": 2, "restock": True, "refund_line_items": [
        {"id": 901, "line_item_id": 13925006311734, "quantity": 2, "restock_type": "return", "location_id": 1,
         "line_item": {"id": 13925006311734, "variant_id": 44872881439030, "sku": "sku-hosted-1", "quantity": 3}},
        {"id": 902, "line_item_id": 13925006311734, "quantity": 1, "restock_type": "no_restock",
         "line_item": {"id": 13925006311734, "variant_id": 44872881439030, "sku": "sku-hosted-1", "quantity": 3}},
    ]}
    post_shopify(client, "refunds/create", refund, webhook_id="r-1")
    post_shopify(client, "refunds/create", refund, webhook_id="r-2")  # a second subscription's copy
    rt.settle()
    assert totals(app, "sku-hosted-1")["on_hand"] == 9  # two restocked once; the unrestocked one stays out
    assert app.checker.run().problems == []


def test_a_cancel_that_overtook_its_create_leaves_nothing_committed(app, client, rt):
    stock(app, "sku-hosted-1", {"WH": 10})
    add_shopify(client)
    post_shopify(client, "orders/cancelled", shopify_order(order_id=7, updated_at="2023-03-25T10:00:00Z"))
    rt.settle()
    post_shopify(client, "orders/create", shopify_order(order_id=7, updated_at="2023-03-24T10:00:00Z"))
    rt.settle()
    assert totals(app, "sku-hosted-1")["committed"] == 0
    assert [r["status"] for r in deliveries(client)] == ["ignored", "ignored"]


def test_inventory_level_updates_out_of_order_and_our_own_echo(app, client, rt):
    stock(app, "sku-hosted-1", {"WH": 10})
    add_shopify(client, location="WH")
    client.put("/api/v1/channel-listings", json={"channel": "shop", "external_id": "808950810",
                                                 "sku": "sku-hosted-1"})

    def level(available, at):
        return {"inventory_item_id": 808950810, "location_id": 905684977, "available": available, "updated_at": at,
                "admin_graphql_api_id": "gid://shopify/InventoryLevel/905684977?inventory_item_id=808950810"}

    post_shopify(client, "inventory_levels/update", level(6, "2018-05-07T15:51:26-04:00"))
    post_shopify(client, "inventory_levels/update", level(9, "2018-05-07T15:40:00-04:00"))  # older, arrives late
    rt.settle()
    assert totals(app, "sku-hosted-1")["on_hand"] == 6
    movements = [m for m in app.stock.movements(sku="sku-hosted-1") if m["source"] == "shop"]
    assert len(movements) == 1 and movements[0]["kind"] == "set" and movements[0]["delta"]["on_hand"] == -4
    # A count equal to what Stockpilot last pushed is the channel echoing us, not a change on the channel.
    with app.db.engine.begin() as conn:
        channel_id = channel_store.channel_where(conn, name="shop")["id"]
    app.db.write(lambda conn: channel_store.record_push(conn, channel_id, "inventory_item:808950810@905684977", 4,
                                                        app.ctx.clock.now()))
    post_shopify(client, "inventory_levels/update", level(4, "2018-05-07T16:00:00-04:00"))
    post_shopify(client, "inventory_levels/update", level(5, "2018-05-07T16:05:00-04:00"))
    rt.settle()
    # The echo showed the channel holding the pushed 4 (its answer not recorded yet): 5 is one more from there.
    assert totals(app, "sku-hosted-1")["on_hand"] == 7
    assert [r["status"] for r in deliveries(client)] == ["processed", "ignored", "ignored", "processed"]


def test_an_unsupported_topic_is_parked(client, rt):
    add_shopify(client)
    post_shopify(client, "customers/create", {"id": 1})
    rt.settle()
    (parked,) = deliveries(client, "parked")
    assert parked["reason"] == "unsupported_topic"
