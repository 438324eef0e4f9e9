"""The `channel.cancel_order` outbox handler: cancel an order on the store it came from (a customer's backorder
cancel link), through the API credentials the channel keeps (`api_url`, `api_token`):

- BigCommerce: V2 `PUT /orders/{id}` `{"status_id": 5}` (bigcommerce.py);
- Shopify: Admin GraphQL `orderCancel` (shopify_cancel.py, through the pusher's client and throttle handling);
- WooCommerce: REST v3 `PUT /orders/{id}` `{"status": "cancelled"}` (woocommerce_cancel.py).

Outcomes as elsewhere: a refusal retrying cannot help (bad token, unknown order, a user error) is `permanent`, the
row is dead at once with the platform's reason (and staff are alerted by the dead-delivery hook); 429 waits as
long as the platform asks; 5xx and network errors are retried with backoff.

Payload: {"channel": name, "order_id": the platform's order id}.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stockpilot.adapters.channels.bigcommerce import BigCommerceApi
from stockpilot.adapters.channels.push import ChannelAccount
from stockpilot.adapters.channels.shopify_admin import ShopifyAdmin
from stockpilot.adapters.channels.shopify_cancel import ShopifyOrderCancel
from stockpilot.adapters.channels.woocommerce_cancel import WooCommerceOrderCancel

TOPIC = "channel.cancel_order"
CANCELLABLE_KINDS = frozenset({"bigcommerce", "shopify", "woocommerce"})


class ChannelGone(Exception):
    """The channel was removed or cannot cancel orders: retrying cannot help."""

    permanent = True


class ChannelOrderCancel:
    def __init__(self, channel_named: Callable[[str], dict[str, Any] | None], timeout: float = 10.0) -> None:
        self.channel_named = channel_named
        self.timeout = timeout
        self.shopify = ShopifyOrderCancel(ShopifyAdmin(timeout))
        self.woocommerce = WooCommerceOrderCancel(timeout)

    def __call__(self, payload: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        channel = self.channel_named(str(payload["channel"]))
        if channel is None or channel["kind"] not in CANCELLABLE_KINDS or not channel.get("api_token"):
            raise ChannelGone(f"channel {payload['channel']!r} cannot cancel orders through its API")
        order_id = str(payload["order_id"])
        if channel["kind"] == "bigcommerce":
            return BigCommerceApi(channel["api_url"], channel["api_token"], self.timeout).cancel_order(order_id)
        account = ChannelAccount(name=channel["name"], kind=channel["kind"], api_url=channel["api_url"],
                                 api_token=channel["api_token"], shop_domain=channel["shop_domain"],
                                 site_url=channel["site_url"], store_hash=channel["store_hash"])
        canceller = self.shopify if channel["kind"] == "shopify" else self.woocommerce
        return canceller.cancel(account, order_id)
