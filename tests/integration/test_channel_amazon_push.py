"""Pushing the merchant-fulfilled quantity to Amazon (Listings Items API PATCH of fulfillment_availability) through
the outbound pipeline, against the loopback SP-API, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from tests.integration.helpers import line, stock
from tests.integration.purchasing_helpers import Runtime, outbox_rows
from tests.integration.push_helpers import pushed_values
from tests.support.amazon_sp_api import AmazonSpApi

FAST = {"getInventorySummaries": (50.0, 5.0), "getOrders": (50.0, 20.0), "getOrderItems": (50.0, 30.0)}


@pytest.fixture
def app(db_url, clock):
    sp = build(Settings(database_url=db_url, channel_push_window_seconds=0.2), clock=clock, migrate=False)
    yield sp
    sp.close()


@pytest.fixture
def rt(app):
    return Runtime.build(app)


@pytest.fixture
def amazon():
    with AmazonSpApi(plans=FAST) as api:
        yield api


def add_amazon(app, amazon, *, refresh_token=None):
    app.channels.add("amazon", "amzn", secret=amazon.client_secret, api_token=refresh_token or amazon.refresh_token,
                     api_url=amazon.url, location="FBA-US",
                     amazon={"seller_id": amazon.seller_id, "marketplace_id": amazon.marketplace_id,
                             "lwa_client_id": amazon.client_id, "lwa_url": amazon.lwa_url})
    app.catalog.map_listing("amzn", "MUG-MFN", "MUG", role="seller_sku")
    app.channel_locations.map("amzn", "WH", None)  # the merchant's warehouse feeds the MFN offer, not FBA


def test_the_merchant_fulfilled_quantity_follows_available_stock(app, rt, amazon):
    stock(app, "MUG", {"WH": 12, "FBA-US": 30})
    add_amazon(app, amazon)
    rt.settle()
    assert amazon.listings == {"MUG-MFN": 12}  # the warehouse only: FBA units are Amazon's to sell
    (patch,) = amazon.calls("patchListingsItem")
    assert patch["path"] == f"/listings/2021-08-01/items/{amazon.seller_id}/MUG-MFN"
    assert patch["query"] == {"marketplaceIds": amazon.marketplace_id}
    assert patch["body"]["patches"] == [{"op": "replace", "path": "/attributes/fulfillment_availability",
                                         "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 12}]}]
    app.orders.place("SO-1", [line("MUG", 5, "WH")])
    rt.advance(seconds=1)
    assert amazon.listings == {"MUG-MFN": 7} and pushed_values(app)["mfn:MUG-MFN"] == (7, 7)


def test_a_throttled_push_waits_and_a_refused_token_is_dead(app, rt, amazon, clock):
    stock(app, "MUG", {"WH": 4, "FBA-US": 0})
    amazon.throttle_next("patchListingsItem", 2)  # more 429s than the pusher waits for: the outbox retries later
    add_amazon(app, amazon)
    rt.settle()
    assert amazon.listings == {}
    rt.advance(seconds=5)
    assert amazon.listings == {"MUG-MFN": 4}
    assert all(r["status"] == "delivered" for r in outbox_rows(app, "channel.push"))


def test_a_refused_refresh_token_makes_the_push_dead(app, rt, amazon):
    stock(app, "MUG", {"WH": 4, "FBA-US": 0})
    add_amazon(app, amazon, refresh_token="Atzr|revoked")
    rt.settle()
    (row,) = outbox_rows(app, "channel.push")
    assert row["status"] == "dead" and "invalid_grant" in row["last_error"]
