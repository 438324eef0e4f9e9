"""A customer's signed cancel link cancels a backordered channel order in the core and on the platform: Shopify
(Admin GraphQL `orderCancel`) and WooCommerce (REST v3 `PUT /orders/{id}`), against loopback fakes that speak
their wire format, through the real webhook intake, outbox and dead-delivery alert, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy

import pytest

from stockpilot.adapters.channels.push import ChannelAccount, PushRejected, PushThrottled
from stockpilot.adapters.channels.shopify_admin import ShopifyAdmin
from stockpilot.adapters.channels.shopify_cancel import ShopifyOrderCancel
from stockpilot.runtime import decisions
from tests.integration.backorder_helpers import CUSTOMER, cancel_token, make, smtp, text, to
from tests.integration.channel_helpers import SHOP, SHOP_SECRET, post_shopify, shopify_order
from tests.integration.helpers import stock, totals
from tests.integration.purchasing_helpers import outbox_rows
from tests.support.channel_signing import body_of, fixture, woocommerce_headers
from tests.support.serve_process import api_client
from tests.support.shopify_admin_api import ShopifyAdminApi
from tests.support.woocommerce_api import WooCommerceApi

__all__ = ["make", "smtp"]  # fixtures

TOKEN = "shpat_0123456789abcdef"
WOO_KEY, WOO_SECRET_KEY, WOO_HOOK_SECRET = "ck_test", "cs_test", "woo-hook-secret"
SHOPIFY_ORDER, WOO_ORDER = 5324830114101, 727
STAFF = "ops@shop.example"


def shopify_store(sp, api: ShopifyAdminApi, token: str = TOKEN) -> None:
    sp.channels.add("shopify", "shop", secret=SHOP_SECRET, shop_domain=SHOP, api_url=api.api_url, api_token=token)


def woo_store(sp, api: WooCommerceApi, key_pair: str = f"{WOO_KEY}:{WOO_SECRET_KEY}") -> None:
    sp.channels.add("woocommerce", "woo", secret=WOO_HOOK_SECRET, site_url=api.site_url, api_token=key_pair)


def place_on_shopify(sp, rt, quantity: int) -> None:
    order = shopify_order(SHOPIFY_ORDER, quantity=quantity, sku="TEE")
    order["email"] = CUSTOMER
    with api_client(sp) as client:
        assert post_shopify(client, "orders/create", order).status_code == 200
    rt.settle()


def place_on_woo(sp, rt, quantity: int) -> None:
    order = copy.deepcopy(fixture("woocommerce/order_created_docs_example.json"))  # id 727, processing
    order["line_items"] = [{**order["line_items"][1], "sku": "TEE", "quantity": quantity}]
    order["billing"]["email"] = CUSTOMER
    body = body_of(order)
    with api_client(sp) as client:
        posted = client.post("/webhooks/woocommerce/woo", content=body,
                             headers=woocommerce_headers(WOO_HOOK_SECRET, body, "order.created", "https://example.com/"))
        assert posted.status_code == 200, posted.text
    rt.settle()


def click_cancel(sp, smtp, times: int = 2) -> list[int]:
    """The customer opens the notice's link and confirms, `times` times (a double click, a second device)."""
    (notice,) = to(smtp, CUSTOMER)
    token = cancel_token(notice)
    with api_client(sp) as client:
        client.headers.pop("Authorization")  # the link is the customer's only credential
        return [client.post(f"/backorders/cancel/{token}").status_code for _ in range(times)]


@pytest.fixture
def shop():
    with ShopifyAdminApi(shop=SHOP, token=TOKEN) as api:
        yield api


@pytest.fixture
def woo():
    with WooCommerceApi(consumer_key=WOO_KEY, consumer_secret=WOO_SECRET_KEY) as api:
        yield api


def app(make):
    sp, rt = make(alert_email=STAFF)
    stock(sp, "TEE", {"WH": 1}, backorder_policy="allow")
    return sp, rt


def test_a_backordered_shopify_order_is_cancelled_in_the_core_and_on_shopify_exactly_once(make, smtp, shop):
    sp, rt = app(make)
    shopify_store(sp, shop)
    shop.add_order(SHOPIFY_ORDER)
    place_on_shopify(sp, rt, quantity=3)  # 1 on hand: 2 short
    assert totals(sp, "TEE")["available"] == -2
    (notice,) = to(smtp, CUSTOMER)
    assert notice["Subject"] == f"Your order {SHOPIFY_ORDER} is on backorder" and "2 x TEE" in text(notice)

    assert click_cancel(sp, smtp) == [200, 200]
    shop.too_many_next(1, retry_after=30)  # Shopify's REST-style 429: the outbox waits as asked, spends no attempt
    rt.settle()
    (row,) = outbox_rows(sp, "channel.cancel_order")
    assert row["status"] == "pending" and row["attempts"] == 0 and "429" in row["last_error"]
    rt.advance(seconds=31)
    (row,) = outbox_rows(sp, "channel.cancel_order")
    assert row["status"] == "delivered"

    assert len(shop.cancels) == 1  # one orderCancel that cancelled, for two confirmations and a throttled try
    (sent,) = shop.cancels
    assert sent["orderId"] == f"gid://shopify/Order/{SHOPIFY_ORDER}" and sent["reason"] == "CUSTOMER"
    assert sent["restock"] is False and sent["refundMethod"] == {"originalPaymentMethodsRefund": False}
    assert shop.orders[str(SHOPIFY_ORDER)]["cancelledAt"] is not None
    assert totals(sp, "TEE")["committed"] == 0 and totals(sp, "TEE")["available"] == 1  # units back in the core
    with sp.db.read() as conn:
        (decision,) = [d for d in decisions.list_for(conn, f"shopify:{SHOP}:{SHOPIFY_ORDER}")
                       if d.kind == "backorder_cancel"]
    assert decision.choice["channel"] == "channel.cancel_order queued for shop"
    assert to(smtp, STAFF) == []  # nothing went wrong: no staff alert


def test_a_backordered_woocommerce_order_is_cancelled_in_the_core_and_on_woocommerce_exactly_once(make, smtp, woo):
    sp, rt = app(make)
    woo_store(sp, woo)
    woo.add_order(WOO_ORDER, status="processing")
    place_on_woo(sp, rt, quantity=4)
    assert totals(sp, "TEE")["available"] == -3
    assert "3 x TEE" in text(to(smtp, CUSTOMER)[0])

    woo.fail_next(1)  # a 503 first: retried with backoff
    assert click_cancel(sp, smtp) == [200, 200]
    rt.settle()
    rt.advance(seconds=2)
    (row,) = outbox_rows(sp, "channel.cancel_order")
    assert row["status"] == "delivered" and row["attempts"] == 2  # the 503, then the cancel
    assert woo.order_puts == [(str(WOO_ORDER), {"status": "cancelled"})]
    assert woo.orders[str(WOO_ORDER)]["status"] == "cancelled"
    assert totals(sp, "TEE")["committed"] == 0 and totals(sp, "TEE")["available"] == 1
    assert to(smtp, STAFF) == []


@pytest.mark.parametrize("platform", ["shopify", "woocommerce"])
def test_a_platform_refusal_keeps_the_core_cancel_and_leaves_a_dead_row_and_a_staff_alert(make, smtp, shop, woo,
                                                                                          platform):
    sp, rt = app(make)
    if platform == "shopify":
        shopify_store(sp, shop)
        shop.add_order(SHOPIFY_ORDER, fulfilled=True)  # orderCancel answers a user error
        place_on_shopify(sp, rt, quantity=2)
        reason = "INVALID: Cannot cancel an order with fulfillments"
    else:
        woo_store(sp, woo, key_pair=f"{WOO_KEY}:cs_revoked")  # the key pair was revoked: 401
        woo.add_order(WOO_ORDER)
        place_on_woo(sp, rt, quantity=2)
        reason = "woocommerce_rest_authentication_error"
    assert click_cancel(sp, smtp, times=1) == [200]
    rt.settle()

    (row,) = outbox_rows(sp, "channel.cancel_order")
    assert row["status"] == "dead" and row["attempts"] == 1  # permanent: dead at the first answer
    assert reason in row["last_error"]
    assert totals(sp, "TEE")["committed"] == 0  # the core cancel stands
    assert shop.cancels == [] and woo.order_puts == []
    (alert,) = to(smtp, STAFF)
    assert alert["Subject"] == "A channel.cancel_order delivery gave up" and reason in text(alert)


def test_an_order_cancel_retried_after_a_lost_answer_is_done_and_refusals_are_permanent(shop):
    account = ChannelAccount(name="shop", kind="shopify", api_url=shop.api_url, api_token=TOKEN)
    canceller = ShopifyOrderCancel(ShopifyAdmin(5.0))
    shop.add_order(1)
    first = canceller.cancel(account, "1")
    assert first["job"]["id"].startswith("gid://shopify/Job/") and first["job"]["done"] is False
    # orderCancel takes no idempotency key: the retry is refused (already cancelled), looked into, and done.
    assert canceller.cancel(account, "1")["already_cancelled"] == shop.orders["1"]["cancelledAt"]
    assert len(shop.cancels) == 1
    with pytest.raises(PushRejected, match="NOT_FOUND: Order does not exist"):
        canceller.cancel(account, "2")
    with pytest.raises(PushRejected, match="401"):
        canceller.cancel(ChannelAccount(name="shop", kind="shopify", api_url=shop.api_url, api_token="shpat_old"), "1")
    shop.throttle_next(1)  # the cost bucket is empty: wait for it to refill, as the pusher does
    with pytest.raises(PushThrottled):
        canceller.cancel(account, "1")
