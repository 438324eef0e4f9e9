"""Pushing available-to-sell to Shopify through the Admin GraphQL API (a loopback fake that speaks its wire format),
with the echo of each push arriving back as a signed `inventory_levels/update` webhook; SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from tests.integration.channel_helpers import SHOP, SHOP_SECRET, deliveries, post_shopify
from tests.integration.helpers import line, stock, totals
from tests.integration.purchasing_helpers import Runtime
from tests.integration.push_helpers import SHOPIFY_ITEM as ITEM
from tests.integration.push_helpers import SHOPIFY_KEY as KEY
from tests.integration.push_helpers import SHOPIFY_LOCATION as LOCATION
from tests.integration.push_helpers import SHOPIFY_TOKEN as TOKEN
from tests.integration.push_helpers import push_decisions, push_rows, pushed_values, shopify_admin
from tests.support.serve_process import api_client


@pytest.fixture
def shopify(clock):
    with shopify_admin(clock.now) as api:
        yield api


@pytest.fixture
def app(db_url, clock):
    sp = build(Settings(database_url=db_url, oversell_window_seconds=0, channel_push_window_seconds=0.2,
                        channel_push_gather_seconds=0),
               clock=clock, migrate=False)
    yield sp
    sp.close()


@pytest.fixture
def rt(app):
    return Runtime.build(app)


def connect(app, shopify, *, token=TOKEN, map_location=True, **extra):
    stock(app, "TEE", {"WH": 10})
    app.channels.add("shopify", "shop", secret=SHOP_SECRET, shop_domain=SHOP, api_url=shopify.api_url,
                     api_token=token, location="WH", **extra)
    app.catalog.map_listing("shop", ITEM, "TEE", role="inventory_item")
    if map_location:
        app.channel_locations.map("shop", "WH", LOCATION)


def test_a_sale_sets_available_on_shopify_and_the_echo_webhook_is_ignored(app, rt, shopify, clock):
    connect(app, shopify, buffer=1)
    rt.settle()  # the mapping itself queues a push of the current figure
    assert shopify.set_values() == [9]
    app.orders.place("SO-1", [line("TEE", 3)])
    rt.advance(seconds=1)
    assert shopify.levels[(ITEM, LOCATION)] == 6  # 10 - 3 committed - 1 buffer
    mutation = shopify.mutations[-1]
    assert mutation["name"] == "available" and mutation["reason"] == "correction"
    assert mutation["referenceDocumentUri"].startswith("gid://stockpilot/ChannelPush/")
    assert mutation["quantities"] == [{"inventoryItemId": f"gid://shopify/InventoryItem/{ITEM}",
                                       "locationId": f"gid://shopify/Location/{LOCATION}", "quantity": 6,
                                       "changeFromQuantity": None}]
    assert pushed_values(app) == {KEY: (6, 6)}
    assert "9 -> 6" in push_decisions(app)[-1].reason

    with api_client(app) as client:  # Shopify tells us back what we set: our own echo, not a POS sale
        post_shopify(client, "inventory_levels/update", shopify.echo_payload(ITEM, LOCATION))
        rt.settle()
        assert [d["status"] for d in deliveries(client)] == ["ignored"]
        assert "echo" in str(deliveries(client)[0]["effect"])
    assert totals(app, "TEE")["on_hand"] == 10


def test_the_late_echo_of_an_older_push_in_a_burst_is_still_recognised(app, rt, shopify, clock):
    connect(app, shopify)
    rt.settle()
    old_echo = shopify.echo_payload(ITEM, LOCATION)  # 10, captured before the next pushes land
    for n in range(3):
        app.orders.place(f"SO-{n}", [line("TEE", 1)])
        rt.advance(seconds=1)
    assert shopify.set_values() == [10, 9, 8, 7]
    with api_client(app) as client:
        post_shopify(client, "inventory_levels/update", old_echo)
        rt.settle()
        assert [d["status"] for d in deliveries(client)] == ["ignored"]
    assert totals(app, "TEE")["on_hand"] == 10


def test_shopify_throttled_and_429_answers_are_waited_out_not_dead_lettered(app, rt, shopify, clock):
    connect(app, shopify)
    shopify.throttle_next(1)  # the cost bucket is empty: THROTTLED with extensions.cost.throttleStatus
    rt.settle()
    [row] = push_rows(app)
    assert row["status"] == "pending" and row["attempts"] == 0 and "THROTTLED" in row["last_error"]
    # (requestedQueryCost 10 - currentlyAvailable 0) / restoreRate 100 per second
    assert (row["available_at"] - clock.now()).total_seconds() == pytest.approx(0.1)
    shopify.too_many_next(1, retry_after=3)
    rt.advance(seconds=0.1)
    [row] = push_rows(app)
    assert row["status"] == "pending" and row["attempts"] == 0 and "429" in row["last_error"]
    assert (row["available_at"] - clock.now()).total_seconds() == pytest.approx(3)
    rt.advance(seconds=3)
    assert [r["status"] for r in push_rows(app)] == ["delivered"]
    assert shopify.set_values() == [10]


def test_shopify_down_then_back_retries_with_backoff_and_lands_the_last_value(app, rt, shopify, clock):
    connect(app, shopify)
    rt.settle()
    shopify.fail_next(4)  # 503s for a while; sales go on
    app.orders.place("SO-1", [line("TEE", 2)])
    rt.advance(seconds=1)
    app.orders.place("SO-2", [line("TEE", 3)])
    for _ in range(6):
        rt.advance(seconds=1)
    assert shopify.set_values() == [10, 5]
    assert [r["status"] for r in push_rows(app)] == ["delivered", "delivered"]


def test_a_refused_token_or_a_missing_location_mapping_is_dead_at_once_with_the_reason(app, rt, shopify):
    connect(app, shopify, token="shpat_wrong", map_location=False)
    app.orders.place("SO-1", [line("TEE", 1)])
    rt.settle()
    rows = push_rows(app)
    assert [r["status"] for r in rows] == ["delivered"]  # nothing could be sent: no Shopify location for the line
    [decision] = push_decisions(app)
    assert decision.choice is None and "needs the channel's location id" in decision.reason
    app.channel_locations.map("shop", "WH", LOCATION)
    rt.settle()
    rows = push_rows(app)
    assert rows[-1]["status"] == "dead" and "401" in rows[-1]["last_error"]
    assert shopify.set_values() == []


def test_a_pos_sale_on_shopify_after_a_push_moves_on_hand_by_the_units_sold(app, rt, shopify, clock):
    connect(app, shopify, buffer=1)
    app.orders.place("SO-1", [line("TEE", 3)])
    rt.advance(seconds=1)
    assert shopify.levels[(ITEM, LOCATION)] == 6  # 10 on hand - 3 committed - 1 buffer
    shopify.stock(ITEM, LOCATION, 5)  # a POS sale of one unit in the shop
    with api_client(app) as client:
        post_shopify(client, "inventory_levels/update", shopify.echo_payload(ITEM, LOCATION))
        rt.advance(seconds=1)
        assert [d["status"] for d in deliveries(client)] == ["processed"]
    # One unit left the shelf: on_hand 9, not the 5 Shopify shows (which is net of orders and the buffer).
    assert totals(app, "TEE")["on_hand"] == 9
    assert shopify.levels[(ITEM, LOCATION)] == 5  # and the next push agrees: 9 - 3 - 1
    clock.advance(seconds=1)
    shopify.stock(ITEM, LOCATION, 3)  # two more sold at the counter before any push
    with api_client(app) as client:
        post_shopify(client, "inventory_levels/update", shopify.echo_payload(ITEM, LOCATION))
        rt.advance(seconds=1)
    assert totals(app, "TEE")["on_hand"] == 7
    assert shopify.levels[(ITEM, LOCATION)] == 3
