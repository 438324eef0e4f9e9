"""Keeping `channel_listings` in step with a channel's catalog (Shopify products/update): each variant id and
inventory item id that carries a known SKU maps to it, in the processor's transaction, with the product's
watermark (an older product update arriving late never overwrites a newer mapping). A mapping made by hand for an
id is replaced only when the channel now says that id is another known SKU."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.db import catalog_store, delivery_processing_store
from stockpilot.domain.channel_messages import ListingUpkeep


def keep_listings(conn: Connection, channel: dict[str, Any], command: ListingUpkeep, now: datetime
                  ) -> dict[str, Any]:
    result: dict[str, Any] = {"item": command.item_key}
    if command.updated_at is not None and not delivery_processing_store.advance_watermark(
            conn, channel["id"], command.item_key, command.updated_at, now):
        return {**result, "ignored": f"older than a product update already applied ({command.updated_at})"}
    mapped, unknown = [], []
    for external_id, sku, role in command.entries:
        ref = catalog_store.sku_ref(conn, sku)
        if ref is None:
            unknown.append(sku)
            continue
        catalog_store.upsert_listing(conn, channel["name"], external_id, ref.id, role)
        mapped.append({"external_id": external_id, "sku": sku, "role": role})
    if not mapped:
        return {**result, "ignored": f"no variant SKU is known to Stockpilot ({', '.join(sorted(set(unknown)))})"}
    return {**result, "mapped": mapped, "unknown_skus": sorted(set(unknown))}
