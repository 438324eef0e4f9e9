"""Which Stockpilot SKU a channel's line or item is: a channel listing (variant / inventory-item id) first, else
the SKU string. An explicit mapping wins because channels let merchants leave SKUs blank or reuse them."""

from __future__ import annotations

from sqlalchemy import Connection

from stockpilot.adapters.db import catalog_store, delivery_processing_store
from stockpilot.domain.channel_messages import ChannelLine, Unprocessable


def resolve_sku(conn: Connection, channel: str, line: ChannelLine) -> str:
    for external_id in line.external_ids:
        mapped = delivery_processing_store.listing_sku(conn, channel, external_id)
        if mapped is not None:
            return mapped
    if line.sku is not None and catalog_store.sku_ref(conn, line.sku) is not None:
        return line.sku
    ids = ", ".join(line.external_ids) or "none"
    raise Unprocessable("unknown_sku", f"no SKU {line.sku!r} and no listing of {channel} for ids {ids}")
