"""A channel count that arrives while a push is in flight (Shopify applied it, its answer is still on its way, so
Stockpilot has not recorded the acknowledgement): the push's echo says what the channel showed, and a later count
is a change from there, not from the value acknowledged before. Loopback Shopify fake, a dispatcher thread
delivering the push while the webhooks are applied, SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.runtime import outbox as ob
from stockpilot.runtime.handlers import automations
from tests.integration.channel_helpers import SHOP, SHOP_SECRET, deliveries, post_shopify
from tests.integration.helpers import line, stock, totals
from tests.integration.purchasing_helpers import Runtime
from tests.integration.push_helpers import SHOPIFY_ITEM as ITEM
from tests.integration.push_helpers import SHOPIFY_KEY as KEY
from tests.integration.push_helpers import SHOPIFY_LOCATION as LOCATION
from tests.integration.push_helpers import SHOPIFY_TOKEN as TOKEN
from tests.integration.push_helpers import pushed_values, shopify_admin
from tests.support.serve_process import api_client


@pytest.fixture
def shopify(clock):
    with shopify_admin(clock.now) as api:
        yield api


@pytest.fixture
def app(db_url, clock):
    sp = build(Settings(database_url=db_url, oversell_window_seconds=0, channel_push_window_seconds=0.2,
                        channel_push_gather_seconds=0), clock=clock, migrate=False)
    yield sp
    sp.close()


def test_a_pos_sale_after_a_push_landed_but_before_its_answer_is_a_change_from_the_pushed_value(app, shopify,
                                                                                                clock):
    rt = Runtime.build(app)
    stock(app, "TEE", {"WH": 10})
    app.channels.add("shopify", "shop", secret=SHOP_SECRET, shop_domain=SHOP, api_url=shopify.api_url,
                     api_token=TOKEN, location="WH")
    app.catalog.map_listing("shop", ITEM, "TEE", role="inventory_item")
    app.channel_locations.map("shop", "WH", LOCATION)
    rt.settle()
    assert pushed_values(app) == {KEY: (10, 10)}

    clock.advance(seconds=1)
    app.orders.place("SO-1", [line("TEE", 3)])  # a web order: 7 is pushed
    rt.consumer.run_once()
    release = shopify.hold_next()
    pushing = threading.Thread(target=rt.dispatcher.run_once)
    pushing.start()
    try:
        assert shopify.held.wait(30)  # Shopify shows 7; the answer has not reached Stockpilot
        auto = automations(app)
        webhooks = ob.Dispatcher(app.db, clock, auto.outbox_handlers, worker_id="webhooks", outcomes=auto.outcomes,
                                 batch_handlers=auto.batch_handlers, topics={"channel.webhook"})
        with api_client(app) as client:
            post_shopify(client, "inventory_levels/update", shopify.echo_payload(ITEM, LOCATION))  # its echo: 7
            webhooks.run_once()
            clock.advance(seconds=1)
            shopify.stock(ITEM, LOCATION, 6)  # then one unit sold at the shop's counter
            post_shopify(client, "inventory_levels/update", shopify.echo_payload(ITEM, LOCATION))
            webhooks.run_once()
            assert [d["status"] for d in deliveries(client)] == ["ignored", "processed"]
    finally:
        release.set()
        pushing.join(30)
    rt.settle()
    # One unit left the shelf (10 -> 9), not three (the 6 measured from the 10 acknowledged before the push).
    assert totals(app, "TEE")["on_hand"] == 9
    clock.advance(seconds=1)
    rt.settle()
    assert shopify.levels[(ITEM, LOCATION)] == 6  # 9 on hand - 3 ordered: the channel agrees
