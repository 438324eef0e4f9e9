"""Pushing available-to-sell to WooCommerce (REST v3 product / variation stock) and BigCommerce (Inventory API
absolute adjustments), each against a loopback fake of its API, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from tests.integration.helpers import line, stock
from tests.integration.purchasing_helpers import Runtime
from tests.integration.push_helpers import echo_values, push_decisions, push_rows, pushed_values
from tests.support.bigcommerce_inventory_api import BigCommerceInventoryApi
from tests.support.woocommerce_api import WooCommerceApi

CK, CS = "ck_4a0e1b2c3d4e5f60718293a4b5c6d7e8f9012345", "cs_0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6"


@pytest.fixture
def app(db_url, clock):
    sp = build(Settings(database_url=db_url, channel_push_window_seconds=0.2, channel_push_gather_seconds=0),
               clock=clock, migrate=False)
    yield sp
    sp.close()


@pytest.fixture
def rt(app):
    return Runtime.build(app)


@pytest.fixture
def woo():
    with WooCommerceApi(consumer_key=CK, consumer_secret=CS) as api:
        api.add_product(93, "WOO-SINGLE", 50)
        api.add_variable(22)
        api.add_product(23, "BAR-3", 50, variation_of=22)
        yield api


@pytest.fixture
def bc():
    with BigCommerceInventoryApi(store_hash="abc123", token="bc-token") as api:
        api.add_variant(101, "TEE", location_id=2, quantity=50)
        yield api


def test_woocommerce_simple_products_and_variations_get_their_stock_set(app, rt, woo):
    stock(app, "WOO-SINGLE", {"WH": 10, "STORE": 4})
    stock(app, "BAR-3", {"WH": 3})
    app.channels.add("woocommerce", "woo", secret="wc-secret", site_url=woo.site_url, api_token=f"{CK}:{CS}",
                     buffer_percent=10)
    app.catalog.map_listing("woo", "93", "WOO-SINGLE", role="product")
    app.catalog.map_listing("woo", "23", "BAR-3", role="variation", parent="22")
    app.channel_locations.map("woo", "WH", None)  # only the warehouse feeds the web store
    rt.settle()
    assert woo.stock(93) == 9 and woo.stock(23, variation_of=22) == 2  # 10% held back, rounded up
    # One batch for both SKUs: a request per endpoint (simple products; the variations of product 22).
    assert woo.batches == [
        ("/wp-json/wc/v3/products/batch", {"update": [{"id": 93, "manage_stock": True, "stock_quantity": 9}]}),
        ("/wp-json/wc/v3/products/22/variations/batch",
         {"update": [{"id": 23, "manage_stock": True, "stock_quantity": 2}]}),
    ]
    app.orders.place("SO-1", [line("WOO-SINGLE", 5, "WH")])
    rt.advance(seconds=1)
    assert woo.stock(93) == 4 and woo.puts[-1] == ("93", {"manage_stock": True, "stock_quantity": 4})  # alone: PUT
    assert pushed_values(app)["product:93"] == (4, 4)
    assert pushed_values(app)["variation:23"] == (2, 2)


def test_a_woocommerce_batch_throttled_at_its_second_request_keeps_the_first_requests_values_as_echoes(app, rt, woo,
                                                                                                   clock):
    stock(app, "WOO-SINGLE", {"WH": 10})
    stock(app, "BAR-3", {"WH": 3})
    app.channels.add("woocommerce", "woo", secret="wc-secret", site_url=woo.site_url, api_token=f"{CK}:{CS}")
    app.catalog.map_listing("woo", "93", "WOO-SINGLE", role="product")
    app.catalog.map_listing("woo", "23", "BAR-3", role="variation", parent="22")
    woo.too_many_next(1, retry_after=5, after=1)  # the simple products' request is served, the variations' is not
    app.channel_locations.map("woo", "WH", None)
    rt.settle()
    assert woo.stock(93) == 10 and woo.stock(23, variation_of=22) == 50
    [row] = push_rows(app)
    assert row["status"] == "pending" and "429" in row["last_error"]
    # 10 is on the store (its echo must be recognised); 3 was refused with the request (no echo can come).
    assert echo_values(app) == {"product:93": [10]}
    clock.advance(seconds=5)
    rt.settle()
    assert woo.stock(93) == 10 and woo.stock(23, variation_of=22) == 3
    assert pushed_values(app) == {"product:93": (10, 10), "variation:23": (3, 3)}


def test_woocommerce_429_and_outage_are_retried_and_a_bad_key_is_dead(app, rt, woo, clock):
    stock(app, "WOO-SINGLE", {"WH": 10})
    app.channels.add("woocommerce", "woo", secret="wc-secret", site_url=woo.site_url, api_token=f"{CK}:{CS}")
    app.catalog.map_listing("woo", "93", "WOO-SINGLE", role="product")
    woo.too_many_next(1, retry_after=5)
    app.orders.place("SO-1", [line("WOO-SINGLE", 1)])
    rt.settle()
    [row] = push_rows(app)
    assert row["status"] == "pending" and row["attempts"] == 0
    assert (row["available_at"] - clock.now()).total_seconds() == pytest.approx(5)
    woo.fail_next(2)
    for _ in range(4):
        rt.advance(seconds=5)
    assert woo.stock(93) == 9 and [r["status"] for r in push_rows(app)] == ["delivered"]

    app.channels.add("woocommerce", "woo2", secret="wc-secret-2", site_url="http://woo2.invalid",
                     api_url=woo.api_url, api_token=f"{CK}:cs_wrong")
    app.catalog.map_listing("woo2", "93", "WOO-SINGLE", role="product")
    app.orders.place("SO-2", [line("WOO-SINGLE", 1)])
    rt.advance(seconds=1)
    dead = [r for r in push_rows(app) if r["payload"]["channel"] == "woo2"]
    assert [r["status"] for r in dead] == ["dead"] and "401" in dead[0]["last_error"]
    assert any("gave up pushing to woo2" in d.reason for d in push_decisions(app, "WOO-SINGLE"))


def test_bigcommerce_absolute_adjustments_at_the_mapped_location(app, rt, bc, clock):
    stock(app, "TEE", {"WH": 12})
    app.channels.add("bigcommerce", "bc", secret="bc-secret", store_hash="abc123", api_url=bc.api_url,
                     api_token="bc-token", buffer=2)
    app.catalog.map_listing("bc", "101", "TEE", role="variant")
    app.channel_locations.map("bc", "WH", "2")
    rt.settle()
    assert bc.levels[("variant:101", 2)] == 10
    assert bc.adjustments[-1]["items"] == [{"location_id": 2, "variant_id": 101, "quantity": 10}]
    bc.too_many_next(1, reset_ms=1500)  # X-Rate-Limit-Time-Reset-Ms: wait that long, then go
    app.orders.place("SO-1", [line("TEE", 4)])
    rt.advance(seconds=1)
    row = push_rows(app)[-1]
    assert row["status"] == "pending" and row["attempts"] == 0
    assert (row["available_at"] - clock.now()).total_seconds() == pytest.approx(1.5)
    rt.advance(seconds=1.5)
    assert bc.levels[("variant:101", 2)] == 6
    assert pushed_values(app)["variant:101@2"] == (6, 6)


def test_bigcommerce_unknown_location_is_dead_with_the_platform_reason(app, rt, bc):
    stock(app, "TEE", {"WH": 12})
    app.channels.add("bigcommerce", "bc", secret="bc-secret", store_hash="abc123", api_url=bc.api_url,
                     api_token="bc-token")
    app.catalog.map_listing("bc", "101", "TEE", role="variant")
    app.channel_locations.map("bc", "WH", "9")
    rt.settle()
    [row] = push_rows(app)
    assert row["status"] == "dead" and "422" in row["last_error"] and "Location not found" in row["last_error"]


def test_a_woocommerce_listing_whose_id_is_no_number_is_refused_alone_and_its_batch_goes(app, rt, woo):
    from stockpilot.adapters.db import catalog_store

    stock(app, "WOO-SINGLE", {"WH": 10})
    stock(app, "OLD-TEE", {"WH": 6})
    app.channels.add("woocommerce", "woo", secret="wc-secret", site_url=woo.site_url, api_token=f"{CK}:{CS}")
    app.catalog.map_listing("woo", "93", "WOO-SINGLE", role="product")
    app.db.write(lambda conn: catalog_store.upsert_listing(  # made before ids were checked (the API refuses it now)
        conn, "woo", "old-tee", catalog_store.sku_ref(conn, "OLD-TEE").id, "product"))
    app.channel_locations.map("woo", "WH", None)
    rt.settle()
    assert woo.stock(93) == 10
    assert woo.batches == [
        ("/wp-json/wc/v3/products/batch", {"update": [{"id": 93, "manage_stock": True, "stock_quantity": 10}]})]
    assert pushed_values(app)["product:93"] == (10, 10)
    assert pushed_values(app).get("product:old-tee", (None, None))[1] is None  # never acknowledged
