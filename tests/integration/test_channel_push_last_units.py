"""Shopify and WooCommerce sell the last units of one SKU in the same second: the orders arrive as signed webhooks
and two workers apply them at once against the real database (SQLite and PostgreSQL). The core lets only one sale
take the units (a `deny` SKU is never oversold; the other order waits, parked, for stock), and both channels end up
told 0, each through its own API (loopback fakes)."""

from __future__ import annotations

import copy
import threading

import pytest

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.runtime import outbox
from stockpilot.runtime.handlers import automations
from tests.integration.channel_helpers import SHOP, SHOP_SECRET, deliveries, post_shopify, shopify_order
from tests.integration.helpers import stock, totals
from tests.integration.purchasing_helpers import Runtime
from tests.support.channel_signing import body_of, fixture, woocommerce_headers
from tests.support.serve_process import api_client
from tests.support.shopify_admin_api import ShopifyAdminApi
from tests.support.woocommerce_api import WooCommerceApi

TOKEN, CK, CS = "shpat_last_units", "ck_last_units", "cs_last_units"
ITEM, LOCATION = "808950810", "905684977"


@pytest.fixture
def app(db_url, clock):
    sp = build(Settings(database_url=db_url, oversell_window_seconds=0, channel_push_window_seconds=0.2,
                        channel_push_gather_seconds=0),
               clock=clock, migrate=False)
    yield sp
    sp.close()


def woo_order(order_id: int, quantity: int) -> dict:
    order = copy.deepcopy(fixture("woocommerce/order_created_docs_example.json"))
    order.update(id=order_id, status="processing", date_modified_gmt="2026-01-01T00:00:00",
                 line_items=[{"id": 1, "product_id": 93, "variation_id": 0, "quantity": quantity, "sku": "TEE"}])
    return order


def test_two_channels_selling_the_last_units_at_once_oversell_nothing_and_both_show_zero(app, clock):
    with ShopifyAdminApi(shop=SHOP, token=TOKEN, monotonic=lambda: clock.now().timestamp()) as shopify, \
            WooCommerceApi(consumer_key=CK, consumer_secret=CS) as woo:
        shopify.stock(ITEM, LOCATION, 0)
        woo.add_product(93, "TEE", 0)
        stock(app, "TEE", {"WH": 2})
        app.channels.add("shopify", "shop", secret=SHOP_SECRET, shop_domain=SHOP, api_url=shopify.api_url,
                         api_token=TOKEN, location="WH")
        app.catalog.map_listing("shop", ITEM, "TEE", role="inventory_item")
        app.channel_locations.map("shop", "WH", LOCATION)
        app.channels.add("woocommerce", "woo", secret="wc-secret", site_url=woo.site_url, api_token=f"{CK}:{CS}")
        app.catalog.map_listing("woo", "93", "TEE", role="product")
        rt = Runtime.build(app)
        rt.settle()
        assert shopify.levels[(ITEM, LOCATION)] == 2 and woo.stock(93) == 2  # both show the last 2 units

        with api_client(app) as client:
            post_shopify(client, "orders/create", shopify_order(order_id=9001, quantity=2, sku="TEE"))
            body = body_of(woo_order(9002, 2))
            client.post("/webhooks/woocommerce/woo", content=body,
                        headers=woocommerce_headers("wc-secret", body, "order.created", woo.site_url + "/"))
            # Two workers each take one delivery and apply it at the same moment.
            auto = automations(app)
            barrier = threading.Barrier(2)
            errors: list[BaseException] = []

            def work(worker_id: str) -> None:
                try:
                    dispatcher = outbox.Dispatcher(app.db, clock, auto.outbox_handlers, worker_id=worker_id,
                                                   outcomes=auto.outcomes)
                    barrier.wait()
                    dispatcher.run_once(1)
                except BaseException as exc:
                    errors.append(exc)

            threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert not errors, errors
            for _ in range(3):
                rt.advance(seconds=1)
            statuses = sorted(d["status"] for d in deliveries(client))
            assert statuses == ["parked", "processed"]
            parked = deliveries(client, "parked")
            assert parked[0]["reason"] == "insufficient_stock"

        levels = totals(app, "TEE")
        assert levels["committed"] == 2 and levels["available"] == 0  # sold once, never below zero
        assert shopify.levels[(ITEM, LOCATION)] == 0
        assert woo.stock(93) == 0
