"""Available-to-sell per channel for a page of SKUs: what the outbound push would set, summed over the channel's
locations. Reuses the push's own rules (channel_push_store.location_groups: mapped locations, else the channel's
location, else all; domain.channel_stock.available_to_sell: the buffer per channel location, never below zero),
read in bulk for the SKUs shown instead of one query per SKU and location.
A SKU not listed on a channel has no figure there (None): nothing is pushed for it."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Connection, select

from stockpilot.adapters.db.channel_push_store import location_groups
from stockpilot.adapters.db.tables import channel_listings, channels, locations, stock_levels
from stockpilot.domain.channel_stock import available_to_sell


@dataclass(frozen=True)
class ChannelColumn:
    name: str
    kind: str
    buffer: int
    buffer_percent: int
    locations: tuple[str, ...]  # Stockpilot locations feeding it


def channel_ats(conn: Connection, sku_ids: Collection[int]) -> tuple[list[ChannelColumn], dict[int, dict[str, int]]]:
    """(the active channels, {sku_id: {channel: units}}) for these SKUs."""
    rows = [dict(r) for r in conn.execute(select(channels).where(channels.c.active.is_(True))
                                          .order_by(channels.c.name)).mappings()]
    if not rows or not sku_ids:
        return [], {}
    ids = list(sku_ids)
    available: dict[tuple[int, str], int] = {}
    for sku_id, code, units in conn.execute(
            select(stock_levels.c.sku_id, locations.c.code,
                   stock_levels.c.on_hand - stock_levels.c.committed - stock_levels.c.reserved)
            .join(locations, locations.c.id == stock_levels.c.location_id).where(stock_levels.c.sku_id.in_(ids))):
        available[(sku_id, code)] = units
    listed: set[tuple[str, int]] = {(c, s) for c, s in conn.execute(
        select(channel_listings.c.channel, channel_listings.c.sku_id).where(channel_listings.c.sku_id.in_(ids)))}
    columns, out = [], {sku_id: {} for sku_id in ids}
    for ch in rows:
        groups = location_groups(conn, ch)
        columns.append(ChannelColumn(ch["name"], ch["kind"], ch["buffer"], ch["buffer_percent"],
                                     tuple(sorted({c for g in groups for c in g.location_codes}))))
        for sku_id in ids:
            if (ch["name"], sku_id) not in listed:
                continue
            out[sku_id][ch["name"]] = sum(
                available_to_sell(sum(available.get((sku_id, c), 0) for c in g.location_codes), ch["buffer"],
                                  ch["buffer_percent"]) for g in groups)
    return columns, out
