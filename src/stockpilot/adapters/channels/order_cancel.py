"""The `channel.cancel_order` outbox handler: cancel an order on the store it came from (a customer's backorder
cancel link). BigCommerce only, for now: it is the one channel kind whose API credentials Stockpilot keeps
(`api_url`, `api_token`); Shopify and WooCommerce orders are cancelled in Stockpilot and the decision says the
shop must cancel them on the platform.

Payload: {"channel": name, "order_id": the platform's order id}.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stockpilot.adapters.channels.bigcommerce import BigCommerceApi

TOPIC = "channel.cancel_order"
CANCELLABLE_KINDS = frozenset({"bigcommerce"})


class ChannelGone(Exception):
    """The channel was removed or cannot cancel orders: retrying cannot help."""

    permanent = True


class ChannelOrderCancel:
    def __init__(self, channel_named: Callable[[str], dict[str, Any] | None]) -> None:
        self.channel_named = channel_named

    def __call__(self, payload: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        channel = self.channel_named(str(payload["channel"]))
        if channel is None or channel["kind"] not in CANCELLABLE_KINDS or not channel.get("api_token"):
            raise ChannelGone(f"channel {payload['channel']!r} cannot cancel orders through its API")
        return BigCommerceApi(channel["api_url"], channel["api_token"]).cancel_order(str(payload["order_id"]))
