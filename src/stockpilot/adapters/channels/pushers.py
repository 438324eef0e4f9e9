"""Which pusher sets counts on each kind of channel (the adapters behind adapters/channels/push.py's protocol).

bootstrap.py builds the push pipeline with these; a new platform adds its pusher here under its channel kind.
"""

from __future__ import annotations

from stockpilot.adapters.channels.amazon_push import AmazonPusher
from stockpilot.adapters.channels.bigcommerce_push import BigCommercePusher
from stockpilot.adapters.channels.push import ChannelPusher
from stockpilot.adapters.channels.shopify_push import ShopifyPusher
from stockpilot.adapters.channels.woocommerce_push import WooCommercePusher
from stockpilot.config import Settings


def default_pushers(settings: Settings) -> dict[str, ChannelPusher]:
    timeout = settings.channel_http_timeout_seconds
    pushers: dict[str, ChannelPusher] = {
        "shopify": ShopifyPusher(timeout),
        "woocommerce": WooCommercePusher(timeout),
        "bigcommerce": BigCommercePusher(timeout),
        "amazon": AmazonPusher(timeout),  # merchant-fulfilled quantity, Listings Items API
    }
    return pushers
