"""Which Stockpilot locations feed a channel's locations (outbound pushes), and the listing ids pushes address.

A change of mapping changes what every listed SKU should show on the channel, so it queues a push for each (through
the same coalescing path as a stock change, in the same transaction).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.db import catalog_store, channel_store
from stockpilot.adapters.db import channel_push_store as store
from stockpilot.domain.errors import NotFound, ValidationFailed
from stockpilot.services.channel_push import ChannelPushes
from stockpilot.services.context import Context


class ChannelLocations:
    def __init__(self, ctx: Context, pushes: ChannelPushes) -> None:
        self.ctx = ctx
        self.pushes = pushes

    def map(self, channel: str, location: str, external_id: str | None) -> list[dict[str, Any]]:
        if external_id is not None and (not external_id.strip() or len(external_id) > 255):
            raise ValidationFailed("external id must be 1-255 characters (the channel's own location id)")

        def work(conn: Connection) -> list[dict[str, Any]]:
            row, location_id = _channel(conn, channel), _location(conn, location)
            store.map_location(conn, row["id"], location_id, external_id.strip() if external_id else None)
            self._repush(conn, row)
            return _describe(conn, row)

        return self.ctx.db.write(work)

    def unmap(self, channel: str, location: str) -> list[dict[str, Any]]:
        def work(conn: Connection) -> list[dict[str, Any]]:
            row, location_id = _channel(conn, channel), _location(conn, location)
            if not store.unmap_location(conn, row["id"], location_id):
                raise NotFound(f"location {location!r} does not feed channel {channel!r}")
            self._repush(conn, row)
            return _describe(conn, row)

        return self.ctx.db.write(work)

    def list(self, channel: str) -> list[dict[str, Any]]:
        with self.ctx.db.read() as conn:
            return _describe(conn, _channel(conn, channel))

    def _repush(self, conn: Connection, channel: dict[str, Any]) -> None:
        for sku_id, sku in store.listed_skus(conn, channel["name"]):
            self.pushes.request(conn, channel, sku_id, sku)


def _channel(conn: Connection, name: str) -> dict[str, Any]:
    row = channel_store.channel_where(conn, name=name)
    if row is None:
        raise NotFound(f"unknown channel {name!r}")
    return row


def _location(conn: Connection, code: str) -> int:
    ref = catalog_store.location_ref(conn, code)
    if ref is None:
        raise NotFound(f"unknown location {code!r}", location=code)
    return ref.id


def _describe(conn: Connection, channel: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"channel_location": g.external_id, "locations": list(g.location_codes)}
            for g in store.location_groups(conn, channel)]
