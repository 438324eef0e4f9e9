"""Webhook subscription health against loopback WooCommerce, BigCommerce and Shopify subscription APIs, through the
real runtime (the sweep timer, the outbox), on SQLite and PostgreSQL: created, found disabled / deactivated /
deleted, re-enabled or re-created, every check recorded."""

from __future__ import annotations

import os
import subprocess

import pytest

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.runtime import decisions
from stockpilot.services.channel_subscriptions import ChannelSubscriptions
from tests.integration.purchasing_helpers import Runtime, outbox_rows
from tests.support.serve_process import CLI
from tests.support.webhook_subscription_apis import BigCommerceHooksApi, ShopifyWebhooksApi, WooCommerceWebhooksApi

PUBLIC = "https://stock.example.com"
CK, CS = "ck_0123456789abcdef0123456789abcdef01234567", "cs_76543210fedcba9876543210fedcba9876543210"


@pytest.fixture
def app(db_url, clock):
    sp = build(Settings(database_url=db_url, public_url=PUBLIC, subscription_check_minutes=60), clock=clock,
               migrate=False)
    yield sp
    sp.close()


@pytest.fixture
def rt(app):
    runtime = Runtime.build(app)
    ChannelSubscriptions(app.ctx).schedule_sweep()  # what a worker does on start
    return runtime


def health_decisions(app, name):
    with app.db.read() as conn:
        return [d for d in decisions.list_for(conn, f"channel:{name}") if d.kind == "subscription_health"]


def statuses(app, name):
    return {row["topic"]: row["status"] for row in ChannelSubscriptions(app.ctx).list(name)}


def test_woocommerce_hooks_are_created_and_a_disabled_one_is_reenabled(app, rt, clock):
    with WooCommerceWebhooksApi(consumer_key=CK, consumer_secret=CS) as woo:
        app.channels.add("woocommerce", "woo", secret="wc-secret", site_url=woo.site_url, api_token=f"{CK}:{CS}")
        rt.settle()
        assert sorted(h["topic"] for h in woo.hooks.values()) == ["order.created", "order.updated", "product.updated"]
        assert {h["delivery_url"] for h in woo.hooks.values()} == {f"{PUBLIC}/webhooks/woocommerce/woo"}
        assert {h["secret"] for h in woo.hooks.values()} == {"wc-secret"}  # what WooCommerce signs with
        assert set(statuses(app, "woo").values()) == {"active"} and len(statuses(app, "woo")) == 3

        created_id = next(k for k, h in woo.hooks.items() if h["topic"] == "order.created")
        woo.fail(created_id, 5)  # WooCommerce disables a hook after 5 failed deliveries
        assert woo.hooks[created_id]["status"] == "disabled"
        rt.advance(minutes=59)
        assert woo.hooks[created_id]["status"] == "disabled"  # not yet: the sweep is hourly
        rt.advance(minutes=1)
        assert woo.hooks[created_id]["status"] == "active" and len(woo.hooks) == 3  # re-enabled, not duplicated
        assert ("PUT", f"/wp-json/wc/v3/webhooks/{created_id}", {"status": "active"}) in woo.requests
        latest = health_decisions(app, "woo")[-1]
        assert "order.created: reenabled (was disabled)" in latest.reason
        rt.advance(minutes=60)
        assert health_decisions(app, "woo")[-1].reason == "every subscription active"


def test_bigcommerce_hooks_carry_the_secret_header_and_a_deactivated_one_comes_back(app, rt):
    with BigCommerceHooksApi(store_hash="abc123", token="bc-token") as bc:
        app.channels.add("bigcommerce", "bc", secret="bc-secret", store_hash="abc123", api_url=bc.api_url,
                         api_token="bc-token")
        rt.settle()
        assert sorted(h["scope"] for h in bc.hooks.values()) == ["store/order/created", "store/order/statusUpdated",
                                                                 "store/sku/inventory/updated"]
        assert {h["headers"]["X-Webhook-Secret"] for h in bc.hooks.values()} == {"bc-secret"}
        assert {h["destination"] for h in bc.hooks.values()} == {f"{PUBLIC}/webhooks/bigcommerce/bc"}
        hook_id = next(iter(bc.hooks))
        bc.deactivate(hook_id)
        rt.advance(minutes=60)
        assert bc.hooks[hook_id]["is_active"] is True and len(bc.hooks) == 3


def test_shopify_subscriptions_are_created_and_a_deleted_one_is_recreated(app, rt):
    with ShopifyWebhooksApi(token="shpat_x") as shopify:
        app.channels.add("shopify", "shop", secret="shpss", shop_domain="s.myshopify.com", api_url=shopify.api_url,
                         api_token="shpat_x")
        rt.settle()
        topics = sorted(h["topic"] for h in shopify.hooks.values())
        assert topics == ["CHECKOUTS_CREATE", "CHECKOUTS_UPDATE", "INVENTORY_LEVELS_UPDATE", "ORDERS_CANCELLED",
                          "ORDERS_CREATE", "ORDERS_FULFILLED", "PRODUCTS_UPDATE", "REFUNDS_CREATE"]
        assert {h["uri"] for h in shopify.hooks.values()} == {f"{PUBLIC}/webhooks/shopify"}
        lost = next(k for k, h in shopify.hooks.items() if h["topic"] == "ORDERS_CREATE")
        shopify.delete(lost)  # Shopify removes a subscription after 48 h of failed deliveries
        rt.advance(minutes=60)
        assert sorted(h["topic"] for h in shopify.hooks.values()) == topics
        assert "orders/create: created (missing)" in health_decisions(app, "shop")[-1].reason


def test_refused_credentials_are_recorded_not_retried_and_the_cli_shows_them(app, rt, db_url):
    with WooCommerceWebhooksApi(consumer_key=CK, consumer_secret=CS) as woo:
        app.channels.add("woocommerce", "woo", secret="wc-secret", site_url=woo.site_url, api_token="ck_x:cs_y")
        rt.settle()
        assert woo.hooks == {}
        assert set(statuses(app, "woo").values()) == {"failed"} and len(statuses(app, "woo")) == 3
        assert {r["status"] for r in outbox_rows(app, "channel.subscriptions")} == {"delivered"}
        shown = subprocess.run([*CLI, "channel", "subscriptions", "woo"], capture_output=True, text=True,
                               timeout=120, env={**os.environ, "STOCKPILOT_DATABASE_URL": db_url}, check=False)
        assert shown.returncode == 0 and "failed" in shown.stdout and "401" in shown.stdout
        missing = subprocess.run([*CLI, "channel", "subscriptions", "nope"], capture_output=True, text=True,
                                 timeout=120, env={**os.environ, "STOCKPILOT_DATABASE_URL": db_url}, check=False)
        assert missing.returncode == 1 and "unknown channel" in missing.stderr
