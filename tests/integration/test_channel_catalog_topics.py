"""The remaining inbound topics through real HTTP and the runtime, on SQLite and PostgreSQL: Shopify
products/update keeps the channel's listings, checkouts hold nothing, WooCommerce product.updated and BigCommerce
store/sku/inventory/updated (thin: read back from the Inventory API) become the channel's own counts."""

from __future__ import annotations

import copy

from tests.integration.channel_helpers import add_shopify, deliveries, post_shopify, shopify_order
from tests.integration.helpers import level, stock, totals
from tests.support.bigcommerce_inventory_api import BigCommerceInventoryApi
from tests.support.channel_signing import body_of, fixture, woocommerce_headers


def product_update(sku: str, updated_at: str) -> dict:
    product = copy.deepcopy(fixture("shopify/products_update_captured_activepieces.json"))
    product["updated_at"] = updated_at
    product["variants"][0]["sku"] = sku
    return product


def test_products_update_maps_variant_and_inventory_item_ids_to_the_sku(app, client, rt):
    stock(app, "BOARD", {"WH": 10})
    add_shopify(client, location="WH")
    post_shopify(client, "products/update", product_update("BOARD", "2024-01-02T20:40:00+03:00"))
    post_shopify(client, "products/update", product_update("GONE", "2024-01-02T20:30:00+03:00"))  # older, late
    rt.settle()
    variant = fixture("shopify/products_update_captured_activepieces.json")["variants"][0]
    assert app.catalog.resolve_listing("shop", str(variant["id"])) == "BOARD"
    assert app.catalog.resolve_listing("shop", str(variant["inventory_item_id"])) == "BOARD"
    assert [d["status"] for d in deliveries(client)] == ["processed", "ignored"]
    # An order line and a count that name only those ids now find the SKU.
    order = shopify_order(sku="")
    order["line_items"][0]["variant_id"] = variant["id"]
    post_shopify(client, "orders/create", order)
    post_shopify(client, "inventory_levels/update", {
        "inventory_item_id": variant["inventory_item_id"], "location_id": 1, "available": 7,
        "updated_at": "2024-01-03T10:00:00Z"})
    rt.settle()
    assert totals(app, "BOARD")["committed"] == 1 and level(app, "BOARD", "WH")["on_hand"] == 7


def test_a_checkout_is_kept_as_demand_intent_and_holds_nothing(app, client, rt):
    stock(app, "sku-hosted-1", {"WH": 3})
    add_shopify(client)
    checkout = {"id": 901, "token": "c1d2e3", "updated_at": "2024-01-01T00:00:00Z",
                "line_items": [{"sku": "sku-hosted-1", "variant_id": 1, "quantity": 2}]}
    post_shopify(client, "checkouts/create", checkout)
    rt.settle()
    (row,) = deliveries(client)
    assert row["status"] == "ignored" and "2 x sku-hosted-1" in row["effect"][0]["ignored"]
    assert totals(app, "sku-hosted-1")["available"] == 3


def test_woocommerce_product_updated_is_the_stores_own_count(app, client, rt):
    stock(app, "WOO-1", {"WH": 10})
    created = client.post("/api/v1/channels", json={"kind": "woocommerce", "name": "woo", "secret": "wc-secret",
                                                    "location": "WH"})
    assert created.status_code == 201
    product = copy.deepcopy(fixture("woocommerce/product_updated_docs_example.json"))
    product.update({"sku": "WOO-1", "manage_stock": True, "stock_quantity": 6})
    untracked = {**product, "manage_stock": False, "stock_quantity": None, "date_modified_gmt": "2017-03-24T00:00:00"}
    for body in (product, untracked):
        raw = body_of(body)
        answer = client.post("/webhooks/woocommerce/woo", content=raw,
                             headers=woocommerce_headers("wc-secret", raw, "product.updated", "https://x.example"))
        assert answer.status_code == 200
    rt.settle()
    assert level(app, "WOO-1", "WH")["on_hand"] == 6
    assert [d["status"] for d in deliveries(client)] == ["processed", "ignored"]


def test_bigcommerce_sku_inventory_updated_reads_the_count_back(app, client, rt):
    stock(app, "BC-1", {"WH": 10})
    with BigCommerceInventoryApi(store_hash="abc123", token="bc-token") as bc:
        bc.add_variant(509, "BC-1", location_id=1, quantity=4)
        created = client.post("/api/v1/channels", json={"kind": "bigcommerce", "name": "bc", "secret": "bc-secret",
                                                        "store_hash": "abc123", "api_url": bc.api_url,
                                                        "api_token": "bc-token", "location": "WH"})
        assert created.status_code == 201
        payload = fixture("bigcommerce/store_sku_inventory_updated.json")
        payload["producer"] = "stores/abc123"
        raw = body_of(payload)
        answer = client.post("/webhooks/bigcommerce/bc", content=raw, headers={
            "Content-Type": "application/json", "X-Webhook-Secret": "bc-secret"})
        assert answer.status_code == 200
        rt.settle()
    assert level(app, "BC-1", "WH")["on_hand"] == 4  # the API's count, not the payload's `value`
    (row,) = deliveries(client, "processed")
    assert row["effect"][0]["item"] == "variant:509@1"
