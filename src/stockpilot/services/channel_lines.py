"""Which Stockpilot SKU a channel's line or item is: a channel listing (variant / inventory-item id) first, else
the SKU string. An explicit mapping wins because channels let merchants leave SKUs blank or reuse them."""

from __future__ import annotations

from sqlalchemy import Connection

from stockpilot.adapters.db import placement_store
from stockpilot.adapters.db.ledger import SkuRef
from stockpilot.domain.channel_messages import ChannelLine, Unprocessable


def resolve_sku_ref(conn: Connection, channel: str, line: ChannelLine) -> SkuRef:
    """The line's SKU (one statement: listings and SKU string together), or Unprocessable("unknown_sku")."""
    found = placement_store.line_sku_ref(conn, channel, line.external_ids, line.sku)
    if found is None:
        ids = ", ".join(line.external_ids) or "none"
        raise Unprocessable("unknown_sku", f"no SKU {line.sku!r} and no listing of {channel} for ids {ids}")
    return found


def resolve_sku(conn: Connection, channel: str, line: ChannelLine) -> str:
    return resolve_sku_ref(conn, channel, line).sku
