"""Reconciliation reads the channels' list endpoints page by page (Shopify's inventoryLevels connection with its
cursor, WooCommerce per_page/page up to X-WP-TotalPages, BigCommerce meta.pagination), against fakes that hold more
than one page; a throttled page is waited out and asked again. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from tests.integration.channel_helpers import SHOP, SHOP_SECRET
from tests.integration.purchasing_helpers import Runtime
from tests.integration.push_batch_helpers import import_counts, list_all, sku_name
from tests.support.bigcommerce_inventory_api import BigCommerceInventoryApi
from tests.support.shopify_admin_api import ShopifyAdminApi
from tests.support.woocommerce_api import WooCommerceApi

TOKEN, LOCATION = "shpat_pages", "905684977"
CK, CS = "ck_pages", "cs_pages"


@pytest.fixture
def app(db_url, clock, tmp_path):
    sp = build(Settings(database_url=db_url), clock=clock, migrate=False)
    sp.catalog.create_location("WH", "WH", "warehouse", 10)
    yield sp
    sp.close()


def by_sku(report):
    return {r["sku"]: r for r in report}


def test_shopify_levels_are_read_250_a_page_and_a_throttled_page_is_asked_again(app, clock, tmp_path):
    n = 260
    names = [sku_name(i) for i in range(n)]
    import_counts(app, tmp_path, {s: 5 for s in names}, "seed")
    rt = Runtime.build(app)
    rt.settle(rounds=100)  # the consumer has seen the seeding (nothing was listed yet)
    with ShopifyAdminApi(shop=SHOP, token=TOKEN, monotonic=lambda: clock.now().timestamp()) as shopify:
        for i in range(n + 20):  # 20 items the merchant sells elsewhere: on the pages, not in the report
            shopify.stock(str(2000 + i), LOCATION, 5)
        app.channels.add("shopify", "shop", secret=SHOP_SECRET, shop_domain=SHOP, api_url=shopify.api_url,
                         api_token=TOKEN, location="WH")
        list_all(app, "shop", {s: str(2000 + i) for i, s in enumerate(names)}, "inventory_item")
        app.channel_locations.map("shop", "WH", LOCATION)
        clock.advance(seconds=1)
        rt.settle(rounds=100)  # every SKU pushed once (5)
        shopify.stock("2007", LOCATION, 9)  # edits in Shopify's admin that no webhook told us about
        shopify.stock("2255", LOCATION, 1)
        pusher = app.channel_pushes.pushers["shopify"]
        pusher.sleep = lambda seconds: clock.advance(seconds=seconds)  # Shopify's bucket refills on this clock
        shopify.throttle_next(1)
        report = by_sku(app.channel_reconcile.drift("shop"))
        assert len(report) == n
        assert report[sku_name(7)]["drift"] == 4 and report[sku_name(255)]["drift"] == -4
        assert sum(1 for r in report.values() if r["drift"] == 0) == n - 2
        assert shopify.pages == 2  # 280 levels: 250 + 30; the throttled first try served no page
        levels = [r for r in shopify.requests if "inventoryLevels" in r["query"]]
        # Each page after the first carries the previous page's end cursor (a throttled try asks for the same page).
        assert levels[0]["variables"]["after"] is None and levels[-1]["variables"]["after"]
        assert len({r["variables"]["after"] for r in levels}) == 2
        # --fix: the two drifted SKUs go out together, in one mutation.
        app.channel_reconcile.fix("shop")
        rt.settle(rounds=100)
        clock.advance(seconds=1)
        rt.settle(rounds=100)
        fixes = [r for r in shopify.requests if "inventorySetQuantities" in r["query"]]
        assert [len(m["variables"]["input"]["quantities"]) for m in fixes] == [250, 10, 2]
        assert shopify.levels[("2007", LOCATION)] == 5 and shopify.levels[("2255", LOCATION)] == 5


def test_woocommerce_products_and_variations_are_read_page_by_page(app, tmp_path):
    simple = 130
    import_counts(app, tmp_path, {**{f"P-{i:03d}": 5 for i in range(simple)}, "V-105": 3}, "seed")
    with WooCommerceApi(consumer_key=CK, consumer_secret=CS) as woo:
        for i in range(simple):
            woo.add_product(100 + i, f"P-{i:03d}", 5)
        woo.add_product(101, "P-001", 8)
        woo.add_variable(900)  # a variable product: listed in /products, untracked itself
        for i in range(110):  # its variations; the listed one is on the second page
            woo.add_product(1000 + i, f"V-{i:03d}", 0 if i == 105 else 3, variation_of=900)
        app.channels.add("woocommerce", "woo", secret="wc-secret", site_url=woo.site_url, api_token=f"{CK}:{CS}")
        list_all(app, "woo", {f"P-{i:03d}": str(100 + i) for i in range(simple)}, "product")
        list_all(app, "woo", {"V-105": "1105"}, "variation", parent="900")
        report = by_sku(app.channel_reconcile.drift("woo"))
        assert len(report) == simple + 1
        assert report["P-001"]["drift"] == 3 and report["P-129"]["drift"] == 0  # P-129: the second page
        assert (report["V-105"]["item_key"], report["V-105"]["drift"]) == ("variation:1105", -3)
        assert sum(1 for r in report.values() if r["drift"] == 0) == simple - 1
        assert woo.list_pages == 4  # /products: 131 rows, 2 pages; the variations of 900: 110 rows, 2 pages
        assert woo.puts == [] and woo.batches == []  # reading changed nothing


def test_bigcommerce_items_are_read_1000_a_page(app, tmp_path):
    n = 1005
    names = [sku_name(i) for i in range(n)]
    import_counts(app, tmp_path, {s: 6 for s in names}, "seed")
    with BigCommerceInventoryApi(store_hash="abc123", token="bc-token") as bc:
        for i, sku in enumerate(names):
            bc.add_variant(10_000 + i, sku, location_id=1, quantity=6)
        bc.add_variant(10_003, names[3], location_id=1, quantity=2)
        bc.add_variant(11_004, names[1004], location_id=1, quantity=7)
        app.channels.add("bigcommerce", "bc", secret="bc-secret", store_hash="abc123", api_url=bc.api_url,
                         api_token="bc-token")
        list_all(app, "bc", {s: str(10_000 + i) for i, s in enumerate(names)}, "variant")
        report = by_sku(app.channel_reconcile.drift("bc"))
        assert len(report) == n
        assert report[names[3]]["drift"] == -4 and report[names[1004]]["drift"] == 1
        assert sum(1 for r in report.values() if r["drift"] == 0) == n - 2
        assert bc.item_pages == 2
