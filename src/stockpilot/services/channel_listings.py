"""Writing one channel listing inside the caller's transaction, keeping variations and their parents apart.

A WooCommerce variable product holds no stock of its own: its variations do, each addressed under it. So the
parent's id is carried by each variation's listing and is never a listing itself: any number of SKUs (sizes,
colours) share it. The old way (the parent as a second `product` listing of the SKU) could hold one SKU per parent;
such a row of the same SKU is folded into the variation when it is listed again with its parent.
"""

from __future__ import annotations

from sqlalchemy import Connection

from stockpilot.adapters.db import catalog_store as store
from stockpilot.domain.channel_listings import VARIATION
from stockpilot.domain.errors import Conflict


def put_listing(conn: Connection, channel: str, external_id: str, sku_id: int, sku: str, role: str | None,
                parent: str | None) -> None:
    """Map the channel id to the SKU (checked by domain.channel_listings.check_listing first)."""
    children = store.variations_of(conn, channel, external_id)
    if children:
        named = ", ".join(f"{vid} ({child})" for vid, child in children[:5])
        raise Conflict(f"{channel}: {external_id} is the parent product of listed variations {named}"
                       f"{' and more' if len(children) > 5 else ''}; it holds no stock of its own and is not "
                       "listed itself")
    if role == VARIATION and parent is not None:
        held = store.listing_row(conn, channel, parent)
        if held is not None:
            if held["role"] != "product" or held["sku_id"] != sku_id:
                raise Conflict(f"{channel}: {parent} is listed as {held['role'] or 'an id'} of {held['sku']}; a "
                               "variation's parent product is not a listing of its own")
            store.delete_listing(conn, channel, parent)  # the old pair: the parent now lives on the variation
    store.upsert_listing(conn, channel, external_id, sku_id, role, parent)
