"""Set-up shared by the outbound push tests: a store with a listed SKU, and reads of the push bookkeeping."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import select

from stockpilot.adapters.db.tables import channel_push_state, channel_pushes, outbox
from stockpilot.bootstrap import Stockpilot
from stockpilot.runtime import consumers, decisions
from stockpilot.services.channel_push import CONSUMER, TOPIC
from tests.integration.channel_helpers import SHOP
from tests.integration.helpers import stock
from tests.support.shopify_admin_api import ShopifyAdminApi

# One Shopify store's Admin API token, inventory item and location, and the item key Stockpilot pushes under.
SHOPIFY_TOKEN = "shpat_0123456789abcdef"
SHOPIFY_ITEM, SHOPIFY_LOCATION = "808950810", "905684977"
SHOPIFY_KEY = f"inventory_item:{SHOPIFY_ITEM}@{SHOPIFY_LOCATION}"


@contextmanager
def shopify_admin(now: Callable[[], datetime], stocked: int = 10) -> Iterator[ShopifyAdminApi]:
    """The fake Admin API with that item stocked. Its cost bucket refills on the test's clock (`now`), like
    Shopify's does on real time."""
    with ShopifyAdminApi(shop=SHOP, token=SHOPIFY_TOKEN, monotonic=lambda: now().timestamp()) as api:
        api.stock(SHOPIFY_ITEM, SHOPIFY_LOCATION, stocked)
        yield api


def shop(sp: Stockpilot, name: str = "shop", *, sku: str = "TEE", item: str = "4411", kind: str = "shopify",
         **channel: Any) -> dict[str, Any]:
    """A channel `name` (a Shopify store unless told) with `sku` listed as inventory item `item`."""
    extra = {"shop_domain": f"{name}.myshopify.com"} if kind == "shopify" else {}
    added = sp.channels.add(kind, name, secret=f"{name}-secret", **{**extra, **channel})
    sp.catalog.map_listing(name, item, sku, role="inventory_item")
    return added


def seeded(sp: Stockpilot, sku: str = "TEE", on_hand: int = 10, **fields: Any) -> None:
    stock(sp, sku, {"WH": on_hand}, **fields)


def push_rows(sp: Stockpilot) -> list[dict[str, Any]]:
    with sp.db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(outbox).where(outbox.c.topic == TOPIC)
                                                       .order_by(outbox.c.id))]


def pushed_values(sp: Stockpilot) -> dict[str, tuple[int, int | None]]:
    """item key -> (value written before sending, value the channel acknowledged)."""
    with sp.db.read() as conn:
        return {r.item_key: (r.value, r.confirmed_value) for r in conn.execute(select(channel_pushes))}


def echo_values(sp: Stockpilot) -> dict[str, list[int]]:
    """item key -> the values its echo filter recognises (sent within the window, not retracted), oldest first."""
    with sp.db.read() as conn:
        return {r.item_key: [entry[0] for entry in r.recent_values or []] for r in conn.execute(select(channel_pushes))}


def push_state(sp: Stockpilot) -> list[dict[str, Any]]:
    with sp.db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(channel_push_state))]


def push_decisions(sp: Stockpilot, sku: str = "TEE") -> list[Any]:
    with sp.db.read() as conn:
        return [d for d in decisions.list_for(conn, sku, limit=10_000) if d.kind == "channel_push"]


def push_consumer_caught_up(sp: Stockpilot) -> bool:
    """Whether the `channel_push` consumer has walked every event. A race test waits for this too before calling
    the pushes settled: a push sent after the last sale carries the final value even while the consumer is still
    behind, and the changes it then counts queue one more push (which finds the channel unchanged)."""
    with sp.db.read() as conn:
        return any(s.name == CONSUMER and s.lag == 0 for s in consumers.status(conn))
