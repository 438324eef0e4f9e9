"""Which Stockpilot SKU a channel's line or item is: a channel listing (variant / inventory-item id) first, else
the SKU string. An explicit mapping wins because channels let merchants leave SKUs blank or reuse them."""

from __future__ import annotations

from datetime import datetime
from typing import NoReturn

from sqlalchemy import Connection

from stockpilot.adapters.db import placement_store
from stockpilot.adapters.db.ledger import SkuRef
from stockpilot.domain.channel_messages import ChannelLine, Unprocessable
from stockpilot.services.allocation import KnownSku


def resolve_sku_ref(conn: Connection, channel: str, line: ChannelLine) -> SkuRef:
    """The line's SKU (one statement: listings and SKU string together), or Unprocessable("unknown_sku")."""
    found = placement_store.line_sku_ref(conn, channel, line.external_ids, line.sku)
    if found is None:
        _unknown(channel, line)
    return found


def resolve_known_sku(conn: Connection, channel: str, line: ChannelLine, now: datetime) -> KnownSku:
    """resolve_sku_ref for a routed order line, with the SKU's routing read in the same statement (for the core's
    allocator, which then does not read it again)."""
    found = placement_store.line_sku_routing(conn, channel, line.external_ids, line.sku, now)
    if found is None:
        _unknown(channel, line)
    ref, options, overdue = found
    return KnownSku(ref, (options, overdue))


def _unknown(channel: str, line: ChannelLine) -> NoReturn:
    ids = ", ".join(line.external_ids) or "none"
    raise Unprocessable("unknown_sku", f"no SKU {line.sku!r} and no listing of {channel} for ids {ids}")


def resolve_sku(conn: Connection, channel: str, line: ChannelLine) -> str:
    return resolve_sku_ref(conn, channel, line).sku
