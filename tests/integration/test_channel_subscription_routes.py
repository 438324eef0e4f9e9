"""Webhook subscription health over HTTP: GET what was last found, POST .../check to check and repair now, against a
loopback WooCommerce webhooks API; errors as 404 / 422 / 502 with the reason. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from tests.support.serve_process import api_client
from tests.support.webhook_subscription_apis import WooCommerceWebhooksApi

PUBLIC = "https://stock.example.com"
CK, CS = "ck_0123456789abcdef0123456789abcdef01234567", "cs_76543210fedcba9876543210fedcba9876543210"


@pytest.fixture
def app(db_url, clock):
    sp = build(Settings(database_url=db_url, public_url=PUBLIC), clock=clock, migrate=False)
    yield sp
    sp.close()


def test_subscriptions_are_shown_checked_and_repaired_over_http(app, clock):
    with WooCommerceWebhooksApi(consumer_key=CK, consumer_secret=CS) as woo, api_client(app) as client:
        app.channels.add("woocommerce", "woo", secret="wc-secret", site_url=woo.site_url, api_token=f"{CK}:{CS}")
        assert client.get("/api/v1/channels/woo/subscriptions").json() == {"items": []}  # never checked

        first = client.post("/api/v1/channels/woo/subscriptions/check")
        assert first.status_code == 200, first.text
        assert {c["topic"]: c["action"] for c in first.json()["checked"]} == {
            "order.created": "created", "order.updated": "created", "product.updated": "created"}
        items = client.get("/api/v1/channels/woo/subscriptions").json()["items"]
        assert [(i["topic"], i["status"]) for i in items] == [
            ("order.created", "active"), ("order.updated", "active"), ("product.updated", "active")]
        assert {i["address"] for i in items} == {f"{PUBLIC}/webhooks/woocommerce/woo"}
        assert all(i["checked_at"].startswith(clock.now().date().isoformat()) for i in items)

        hook_id = next(k for k, h in woo.hooks.items() if h["topic"] == "order.updated")
        woo.fail(hook_id, 5)  # WooCommerce disables a hook after 5 failed deliveries
        again = client.post("/api/v1/channels/woo/subscriptions/check").json()
        assert {c["topic"]: c["action"] for c in again["checked"]}["order.updated"] == "reenabled"
        assert woo.hooks[hook_id]["status"] == "active" and len(woo.hooks) == 3  # re-enabled, not duplicated
        assert {i["topic"]: i["status"] for i in again["items"]}["order.updated"] == "active"


def test_subscription_route_errors_name_the_reason(app):
    with WooCommerceWebhooksApi(consumer_key=CK, consumer_secret=CS) as woo, api_client(app) as client:
        assert client.get("/api/v1/channels/nope/subscriptions").status_code == 404
        assert client.post("/api/v1/channels/nope/subscriptions/check").status_code == 404

        app.channels.add("woocommerce", "bare", secret="s1", site_url=woo.site_url)  # no API token
        bare = client.post("/api/v1/channels/bare/subscriptions/check")
        assert bare.status_code == 422 and "api-token" in bare.json()["detail"]

        app.channels.add("woocommerce", "down", secret="s2", api_url="http://127.0.0.1:9/wp-json/wc/v3",
                         api_token=f"{CK}:{CS}")
        down = client.post("/api/v1/channels/down/subscriptions/check")
        assert down.status_code == 502 and down.json()["error"] == "channel_unreachable"

        app.channels.add("woocommerce", "wrong", secret="s3", api_url=woo.api_url, api_token=f"{CK}:cs_wrong")
        refused = client.post("/api/v1/channels/wrong/subscriptions/check")
        assert refused.status_code == 200  # refused credentials are an outcome, recorded and shown
        assert {c["status"] for c in refused.json()["checked"]} == {"failed"}
        assert {i["status"] for i in client.get("/api/v1/channels/wrong/subscriptions").json()["items"]} == {"failed"}
        assert client.get("/api/v1/channels/wrong/subscriptions", headers={"Authorization": ""}).status_code == 401
