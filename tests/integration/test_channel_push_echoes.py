"""The echo filter after failed pushes: a value Shopify provably did not set stops counting as an echo, so a real
count equal to it (a POS sale landing on that number) reaches the ledger; a value that may have been set (the
answer timed out after Shopify applied it) is still recognised. Loopback Shopify fake, SQLite and PostgreSQL."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import update

from stockpilot.adapters.db.tables import channels
from stockpilot.bootstrap import build
from stockpilot.config import Settings
from tests.integration.channel_helpers import SHOP, SHOP_SECRET, deliveries, post_shopify
from tests.integration.helpers import line, stock, totals
from tests.integration.purchasing_helpers import Runtime
from tests.integration.push_helpers import SHOPIFY_ITEM as ITEM
from tests.integration.push_helpers import SHOPIFY_KEY as KEY
from tests.integration.push_helpers import SHOPIFY_LOCATION as LOCATION
from tests.integration.push_helpers import SHOPIFY_TOKEN as TOKEN
from tests.integration.push_helpers import push_rows, pushed_values, shopify_admin
from tests.support.serve_process import api_client


@pytest.fixture
def shopify(clock):
    with shopify_admin(clock.now) as api:
        yield api


@pytest.fixture
def app(db_url, clock):
    sp = build(Settings(database_url=db_url, oversell_window_seconds=0, channel_push_window_seconds=0.2,
                        channel_push_gather_seconds=0, channel_http_timeout_seconds=0.5),
               clock=clock, migrate=False)
    yield sp
    sp.close()


@pytest.fixture
def rt(app):
    return Runtime.build(app)


def connect(app, shopify):
    stock(app, "TEE", {"WH": 10})
    app.channels.add("shopify", "shop", secret=SHOP_SECRET, shop_domain=SHOP, api_url=shopify.api_url,
                     api_token=TOKEN, location="WH")
    app.catalog.map_listing("shop", ITEM, "TEE", role="inventory_item")
    app.channel_locations.map("shop", "WH", LOCATION)


def pos_count(app, rt, shopify, available: int) -> list[str]:
    """Shopify's own count changes to `available` (a sale at the counter) and its webhook arrives."""
    shopify.stock(ITEM, LOCATION, available)
    with api_client(app) as client:
        post_shopify(client, "inventory_levels/update", shopify.echo_payload(ITEM, LOCATION))
        rt.settle()
        return [d["status"] for d in deliveries(client)]


def test_a_refused_push_leaves_no_echo_so_a_pos_sale_landing_on_its_value_is_counted(app, rt, shopify, clock):
    connect(app, shopify)
    rt.settle()
    assert pushed_values(app) == {KEY: (10, 10)}
    shopify.token = "shpat_revoked"  # the app was uninstalled and installed again: the old token answers 401
    app.orders.place("SO-1", [line("TEE", 2)])  # a web order: 8 would be pushed, Shopify refuses it for good
    rt.advance(seconds=1)
    assert push_rows(app)[-1]["status"] == "dead" and "401" in push_rows(app)[-1]["last_error"]
    clock.advance(seconds=60)
    # Two units sold at the shop's counter: Shopify's own count goes 10 -> 8, the number the dead push carried.
    assert pos_count(app, rt, shopify, 8) == ["processed"]
    assert totals(app, "TEE")["on_hand"] == 8
    # Shown last by a push: 10 (the pushes of 8 and, after the sale, 6 were refused); the channel's own count: 8.
    assert pushed_values(app) == {KEY: (10, 8)}


def test_a_push_that_never_left_leaves_no_echo(app, rt, shopify, clock):
    connect(app, shopify)
    rt.settle()
    with socket.socket() as probe:  # a port nobody listens on: the connection is refused, nothing is sent
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    app.db.write(lambda conn: conn.execute(update(channels).where(channels.c.name == "shop").values(api_url=closed)))
    app.orders.place("SO-1", [line("TEE", 2)])
    rt.advance(seconds=1)
    [_, row] = push_rows(app)
    assert row["status"] == "pending" and "ConnectError" in row["last_error"]  # retried later, with backoff
    assert pos_count(app, rt, shopify, 8) == ["processed"]
    assert totals(app, "TEE")["on_hand"] == 8


def test_a_push_whose_answer_timed_out_may_have_been_set_and_its_echo_is_still_recognised(app, rt, shopify,
                                                                                           clock):
    connect(app, shopify)
    rt.settle()
    shopify.slow_next(1, seconds=1.5)  # Shopify applies 8 and answers after the client gave up (0.5 s)
    app.orders.place("SO-1", [line("TEE", 2)])
    rt.advance(seconds=1)
    [_, row] = push_rows(app)
    assert row["status"] == "pending" and "Timeout" in row["last_error"]
    assert shopify.levels[(ITEM, LOCATION)] == 8
    # Shopify's webhook for its 8 is our own echo, not a sale: nothing moves.
    with api_client(app) as client:
        post_shopify(client, "inventory_levels/update", shopify.echo_payload(ITEM, LOCATION))
        rt.settle()
        assert [d["status"] for d in deliveries(client)] == ["ignored"]
    assert totals(app, "TEE")["on_hand"] == 10
