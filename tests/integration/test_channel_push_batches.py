"""Many SKUs changing at once are pushed in batches (Shopify inventorySetQuantities with up to 250 quantities,
WooCommerce /products/batch with up to 100 updates, BigCommerce absolute adjustments), against loopback fakes that
speak each platform's wire format; a bad item in a batch is set aside and goes on alone. SQLite and PostgreSQL."""

from __future__ import annotations

import math

import pytest

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from tests.integration.channel_helpers import SHOP, SHOP_SECRET, deliveries, post_shopify
from tests.integration.purchasing_helpers import Runtime
from tests.integration.push_batch_helpers import batches, import_counts, list_all, sku_name
from tests.integration.push_helpers import push_decisions, push_rows, push_state, pushed_values
from tests.support.bigcommerce_inventory_api import BigCommerceInventoryApi
from tests.support.serve_process import api_client
from tests.support.shopify_admin_api import ShopifyAdminApi
from tests.support.woocommerce_api import WooCommerceApi

TOKEN, LOCATION = "shpat_0123456789abcdef", "905684977"
CK, CS = "ck_0123456789", "cs_0123456789"
N = 400


@pytest.fixture
def app(db_url, clock):
    sp = build(Settings(database_url=db_url, oversell_window_seconds=0), clock=clock, migrate=False)  # default gather
    yield sp
    sp.close()


@pytest.fixture
def rt(app):
    return Runtime.build(app)


@pytest.fixture
def shopify(clock):
    with ShopifyAdminApi(shop=SHOP, token=TOKEN, monotonic=lambda: clock.now().timestamp()) as api:
        yield api


@pytest.fixture
def woo():
    with WooCommerceApi(consumer_key=CK, consumer_secret=CS) as api:
        yield api


def mutations(shopify: ShopifyAdminApi) -> list[dict]:
    return [r for r in shopify.requests if "inventorySetQuantities" in r["query"]]


def connect_shopify(app, shopify, items: dict[str, str]) -> None:
    app.channels.add("shopify", "shop", secret=SHOP_SECRET, shop_domain=SHOP, api_url=shopify.api_url,
                     api_token=TOKEN, location="WH")
    list_all(app, "shop", items, "inventory_item")
    app.channel_locations.map("shop", "WH", LOCATION)  # queues a push of every listed SKU, in one transaction


def connect_woo(app, woo, products: dict[str, str]) -> None:
    app.channels.add("woocommerce", "woo", secret="wc-secret", site_url=woo.site_url, api_token=f"{CK}:{CS}")
    list_all(app, "woo", products, "product")
    app.channel_locations.map("woo", "WH", None)


def test_400_skus_changing_at_once_are_two_shopify_mutations_and_four_woocommerce_batches(app, rt, shopify, woo,
                                                                                          tmp_path):
    skus = [sku_name(i) for i in range(N)]
    app.catalog.create_location("WH", "WH", "warehouse", 10)
    import_counts(app, tmp_path, dict.fromkeys(skus, 10), "seed")
    for i in range(N):
        shopify.stock(str(1000 + i), LOCATION, 0)
        woo.add_product(5000 + i, skus[i], 0)
    connect_shopify(app, shopify, {s: str(1000 + i) for i, s in enumerate(skus)})
    connect_woo(app, woo, {s: str(5000 + i) for i, s in enumerate(skus)})
    rt.advance(seconds=1)
    assert len(mutations(shopify)) == math.ceil(N / 250) and len(woo.batches) == math.ceil(N / 100)
    assert set(shopify.levels.values()) == {10} and {woo.stock(5000 + i) for i in range(N)} == {10}

    # A receipt-sized change: 400 counts in ONE transaction (the consumer reads its events 100 at a time).
    import_counts(app, tmp_path, {s: 20 + i for i, s in enumerate(skus)}, "receipt")
    rt.settle(rounds=1000)  # until the consumer (25 ms a pass) has seen every change; the batches wait to gather
    assert len(mutations(shopify)) == 2
    rt.advance(seconds=1)
    new = mutations(shopify)[2:]
    assert [len(m["variables"]["input"]["quantities"]) for m in new] == [250, 150]
    assert [len(body["update"]) for _, body in woo.batches[4:]] == [100, 100, 100, 100]
    assert {k[0]: v for k, v in shopify.levels.items()} == {str(1000 + i): 20 + i for i in range(N)}
    assert [woo.stock(5000 + i) for i in range(N)] == [20 + i for i in range(N)]
    assert pushed_values(app)[f"inventory_item:1399@{LOCATION}"] == (419, 419)
    assert pushed_values(app)["product:5399"] == (419, 419)
    assert not any(s["queued"] for s in push_state(app)) and all(b["finished_at"] for b in batches(app))
    assert {r["status"] for r in push_rows(app)} == {"delivered"}
    # Each SKU's decision says what was set and which batch carried it.
    decision = push_decisions(app, skus[7])[-1]
    assert "7 -> 27" not in decision.reason and "10 -> 27" in decision.reason
    assert decision.choice["notes"]["batch_lines"] in (250, 150, 100)


def test_a_bad_item_in_a_shopify_batch_is_set_aside_the_rest_is_set_and_it_goes_on_alone(app, rt, shopify, tmp_path,
                                                                                        clock):
    app.catalog.create_location("WH", "WH", "warehouse", 10)
    import_counts(app, tmp_path, {"A": 5, "B": 6, "C": 7}, "seed")
    shopify.stock("1", LOCATION, 0)
    shopify.stock("3", LOCATION, 0)  # item 2 does not exist on Shopify (a stale mapping)
    connect_shopify(app, shopify, {"A": "1", "B": "2", "C": "3"})
    rt.advance(seconds=1)
    # The first mutation named quantity 1 in a user error and applied nothing; the second set the other two.
    first, second = mutations(shopify)[:2]
    assert len(first["variables"]["input"]["quantities"]) == 3 and len(second["variables"]["input"]["quantities"]) == 2
    assert shopify.levels[("1", LOCATION)] == 5 and shopify.levels[("3", LOCATION)] == 7
    assert first["variables"]["idempotencyKey"] != second["variables"]["idempotencyKey"]
    # B went on in a row of its own (one window later), which Shopify refuses for good: dead, with the reason.
    rt.advance(seconds=1)
    rows = push_rows(app)
    [alone] = [r for r in rows if r["payload"].get("sku") == "B"]
    assert alone["status"] == "dead" and "INVALID_INVENTORY_ITEM" in alone["last_error"]
    assert any("not set in batch" in d.reason for d in push_decisions(app, "B"))
    assert pushed_values(app)[f"inventory_item:1@{LOCATION}"] == (5, 5)
    # Written before sending, then refused by Shopify (twice): retracted, so no echo filter entry is left for it.
    assert f"inventory_item:2@{LOCATION}" not in pushed_values(app)
    assert not any(s["queued"] for s in push_state(app))

    # The dead row released B: once the item exists on Shopify, B's next change is pushed (in a batch again).
    shopify.stock("2", LOCATION, 0)
    app.stock.adjust(sku="B", location="WH", delta=1, kind="receive", idempotency_key="more-b")
    rt.settle()  # the consumer queues it; the batch waits out its gather delay
    rt.advance(seconds=1)
    assert shopify.levels[("2", LOCATION)] == 7 and pushed_values(app)[f"inventory_item:2@{LOCATION}"] == (7, 7)


def test_throttled_batches_wait_and_each_pushed_value_echo_is_recognised(app, rt, shopify, tmp_path, clock):
    app.catalog.create_location("WH", "WH", "warehouse", 10)
    import_counts(app, tmp_path, {sku_name(i): 3 + i for i in range(5)}, "seed")
    for i in range(5):
        shopify.stock(str(10 + i), LOCATION, 0)
    shopify.throttle_next(1)
    connect_shopify(app, shopify, {sku_name(i): str(10 + i) for i in range(5)})
    rt.advance(seconds=0.05)  # the gather delay: the batch goes, and is THROTTLED
    [row] = push_rows(app)
    assert row["status"] == "pending" and row["attempts"] == 0 and "THROTTLED" in row["last_error"]
    # One mutation costs 10 points whatever it carries: (10 - 0 available) / 100 per second.
    assert (row["available_at"] - clock.now()).total_seconds() == pytest.approx(0.1)
    rt.advance(seconds=0.1)
    assert [r["status"] for r in push_rows(app)] == ["delivered"]
    assert [shopify.levels[(str(10 + i), LOCATION)] for i in range(5)] == [3, 4, 5, 6, 7]
    with api_client(app) as client:  # Shopify's webhooks for the five changes: all our own echo
        for i in range(5):
            post_shopify(client, "inventory_levels/update", shopify.echo_payload(str(10 + i), LOCATION))
        rt.settle()
        assert [d["status"] for d in deliveries(client)] == ["ignored"] * 5


def test_woocommerce_batch_item_errors_park_only_that_item(app, rt, woo, tmp_path):
    app.catalog.create_location("WH", "WH", "warehouse", 10)
    import_counts(app, tmp_path, {"A": 5, "B": 6, "C": 7, "D": 8}, "seed")
    for i, sku in ((1, "A"), (3, "C"), (4, "D")):
        woo.add_product(i, sku, 0)  # product 2 was deleted on the store
    woo.fail_item(4)  # D's save fails once on the store's side (status 500)
    connect_woo(app, woo, {"A": "1", "B": "2", "C": "3", "D": "4"})
    rt.advance(seconds=1)
    [batch] = woo.batches
    assert [i["id"] for i in batch[1]["update"]] == [1, 2, 3, 4]
    assert woo.stock(1) == 5 and woo.stock(3) == 7
    rt.advance(seconds=1)  # B and D go on alone, one window later
    rows = {r["payload"].get("sku"): r for r in push_rows(app) if "sku" in r["payload"]}
    assert rows["B"]["status"] == "dead" and "404" in rows["B"]["last_error"]  # alone: PUT, Invalid ID
    assert rows["D"]["status"] == "delivered" and woo.stock(4) == 8  # alone again, it landed
    assert pushed_values(app)["product:4"] == (8, 8) and pushed_values(app)["product:1"] == (5, 5)
    assert not any(s["queued"] for s in push_state(app))


def test_bigcommerce_finds_the_bad_item_of_an_adjustment_by_halving_it(app, rt, tmp_path):
    app.catalog.create_location("WH", "WH", "warehouse", 10)
    import_counts(app, tmp_path, {sku_name(i): 4 + i for i in range(8)}, "seed")
    with BigCommerceInventoryApi(store_hash="abc123", token="bc-token") as bc:
        for i in range(8):
            if i != 5:
                bc.add_variant(100 + i, sku_name(i), location_id=2, quantity=0)
        app.channels.add("bigcommerce", "bc", secret="bc-secret", store_hash="abc123", api_url=bc.api_url,
                         api_token="bc-token")
        list_all(app, "bc", {sku_name(i): str(100 + i) for i in range(8)}, "variant")
        app.channel_locations.map("bc", "WH", "2")
        rt.advance(seconds=1)
        rt.advance(seconds=1)  # the bad item goes on alone, one window later
        assert [bc.levels[(f"variant:{100 + i}", 2)] for i in range(8) if i != 5] == [4, 5, 6, 7, 8, 10, 11]
        # 8 refused -> 4 (set) + 4 refused -> 2 refused + 2 (set) -> 1 (set) + 1 refused: three adjustments
        # applied; the bad item alone again (its own row) is refused for good.
        assert len(bc.adjustments) == 3
        [alone] = [r for r in push_rows(app) if r["payload"].get("sku") == sku_name(5)]
        assert alone["status"] == "dead" and "Item not found" in alone["last_error"]

