"""Reconciliation: the channels' counts read through their APIs (loopback fakes), drift per SKU, and --fix pushing
the corrected values through the outbox; via the service, the HTTP API and the CLI; SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from tests.e2e.test_serve_process import _cli
from tests.integration.channel_helpers import SHOP, SHOP_SECRET
from tests.integration.helpers import line, stock
from tests.integration.purchasing_helpers import Runtime
from tests.integration.push_helpers import push_decisions, push_rows
from tests.support.bigcommerce_inventory_api import BigCommerceInventoryApi
from tests.support.serve_process import api_client
from tests.support.shopify_admin_api import ShopifyAdminApi

TOKEN, ITEM, LOCATION = "shpat_reconcile", "808950810", "905684977"


@pytest.fixture
def app(db_url, clock):
    sp = build(Settings(database_url=db_url, channel_push_window_seconds=0.2, channel_push_gather_seconds=0),
               clock=clock, migrate=False)
    yield sp
    sp.close()


@pytest.fixture
def shopify(clock):
    with ShopifyAdminApi(shop=SHOP, token=TOKEN, monotonic=lambda: clock.now().timestamp()) as api:
        api.stock(ITEM, LOCATION, 0)
        api.stock("999", LOCATION, 0)
        yield api


def connect(app, shopify):
    stock(app, "TEE", {"WH": 10})
    stock(app, "MUG", {"WH": 4})
    app.channels.add("shopify", "shop", secret=SHOP_SECRET, shop_domain=SHOP, api_url=shopify.api_url,
                     api_token=TOKEN, location="WH")
    app.catalog.map_listing("shop", ITEM, "TEE", role="inventory_item")
    app.catalog.map_listing("shop", "999", "MUG", role="inventory_item")
    app.channel_locations.map("shop", "WH", LOCATION)


def test_drift_is_shown_per_sku_and_fix_pushes_the_corrected_values(app, shopify, clock):
    connect(app, shopify)
    rt = Runtime.build(app)
    rt.settle()
    app.orders.place("SO-1", [line("TEE", 2)])
    rt.advance(seconds=1)
    assert shopify.levels[(ITEM, LOCATION)] == 8
    shopify.stock(ITEM, LOCATION, 11)  # someone edits the count in Shopify's admin; no webhook reaches us
    drift = {r["sku"]: r for r in app.channel_reconcile.drift("shop")}
    assert (drift["TEE"]["available_to_sell"], drift["TEE"]["channel"], drift["TEE"]["drift"]) == (8, 11, 3)
    assert drift["MUG"]["drift"] == 0
    before = len(push_rows(app))
    result = app.channel_reconcile.fix("shop")
    assert result["drifted"] == 1 and result["skus_queued"] == 1
    rt.advance(seconds=1)
    assert shopify.levels[(ITEM, LOCATION)] == 8
    assert len(push_rows(app)) == before + 1 and push_rows(app)[-1]["status"] == "delivered"
    assert any(d.reason.startswith("reconcile:") for d in push_decisions(app))
    assert all(r["drift"] == 0 for r in app.channel_reconcile.drift("shop"))


def test_drift_over_http_and_the_cli_table(app, shopify, db_url):
    connect(app, shopify)
    Runtime.build(app).settle()
    shopify.stock("999", LOCATION, 1)
    with api_client(app) as client:
        answer = client.get("/api/v1/channels/shop/drift")
        assert answer.status_code == 200, answer.text
        rows = {r["sku"]: r for r in answer.json()["items"]}
        assert rows["MUG"]["drift"] == -3 and rows["TEE"]["drift"] == 0
        assert client.get("/api/v1/channels/nope/drift").status_code == 404
        shopify.fail_next(1)
        down = client.get("/api/v1/channels/shop/drift")
        assert down.status_code == 502 and down.json()["error"] == "channel_unreachable"
    shown = _cli(db_url, "reconcile", "shop", check=False)
    assert shown.returncode == 1, shown.stderr
    assert "MUG" in shown.stdout and "-3" in shown.stdout and "1 line(s) drifted" in shown.stderr
    fixed = _cli(db_url, "reconcile", "shop", "--fix")
    assert "pushes queued for 1 SKU(s)" in fixed.stderr


def test_bigcommerce_counts_are_read_from_the_inventory_api(app, clock):
    with BigCommerceInventoryApi(store_hash="abc123", token="bc-token") as bc:
        bc.add_variant(101, "TEE", location_id=1, quantity=7)
        stock(app, "TEE", {"WH": 5})
        app.channels.add("bigcommerce", "bc", secret="bc-secret", store_hash="abc123", api_url=bc.api_url,
                         api_token="bc-token")
        app.catalog.map_listing("bc", "101", "TEE", role="variant")
        [row] = app.channel_reconcile.drift("bc")
        assert (row["item_key"], row["available_to_sell"], row["channel"], row["drift"]) == ("variant:101@1", 5, 7, 2)
