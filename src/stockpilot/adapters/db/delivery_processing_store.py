"""The processor's per-delivery statements on the bare driver cursor (adapters/db/raw.py).

Applying a delivery is a handful of tiny statements (read it, its watermark, its order, its listing, its outcome)
around the core's own hot path; through Core each costs more to build than to run, and a burst of orders is
applied at the rate these allow. Same statements, same results as channel_store / catalog_store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.db import raw

_CHANNEL_COLUMNS = ("id", "name", "kind", "secret", "shop_domain", "site_url", "store_hash", "api_url",
                    "api_token", "buffer", "location", "active")
_DELIVERY = raw.Sql(
    "SELECT d.status, d.topic, d.body, " + ", ".join(f"c.{c}" for c in _CHANNEL_COLUMNS) +
    " FROM webhook_deliveries d JOIN channels c ON c.id = d.channel_id WHERE d.id = ?"
)
_WATERMARK = raw.Sql(
    "INSERT INTO channel_watermarks (channel_id, item_key, source_updated_at, updated_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (channel_id, item_key) DO UPDATE SET source_updated_at = excluded.source_updated_at, "
    "updated_at = excluded.updated_at WHERE channel_watermarks.source_updated_at <= excluded.source_updated_at "
    "RETURNING item_key"
)
_FINISH = raw.Sql(
    "UPDATE webhook_deliveries SET status = ?, reason = ?, error = ?, effect = ?, processed_at = ? "
    "WHERE id = ? AND status = 'received'"
)
_ORDER = raw.Sql("SELECT id, status FROM orders WHERE reference = ?")
_LISTING = raw.Sql(
    "SELECT s.sku FROM channel_listings l JOIN skus s ON s.id = l.sku_id WHERE l.channel = ? AND l.external_id = ?"
)


def delivery_and_channel(conn: Connection, delivery_id: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(the delivery's status, topic and body; its channel's row), or None if there is no such delivery."""
    row = raw.execute(conn, _DELIVERY, (delivery_id,)).fetchone()
    if row is None:
        return None
    channel = dict(zip(_CHANNEL_COLUMNS, row[3:], strict=True))
    channel["active"] = bool(channel["active"])
    return {"status": row[0], "topic": row[1], "body": bytes(row[2])}, channel


def advance_watermark(conn: Connection, channel_id: int, item_key: str, source_updated_at: datetime,
                      now: datetime) -> bool:
    """As channel_store.advance_watermark: one statement, True unless a newer payload was applied before."""
    return raw.execute(conn, _WATERMARK, (channel_id, item_key, raw.time_value(conn, source_updated_at),
                                          raw.time_value(conn, now))).fetchone() is not None


def finish_received(conn: Connection, delivery_id: int, *, status: str, effect: Any, now: datetime,
                    reason: str | None = None, error: str | None = None) -> bool:
    """Record the outcome of a delivery still `received`; False if it left that status meanwhile."""
    return raw.execute(conn, _FINISH, (status, reason, error, raw.json_value(effect), raw.time_value(conn, now),
                                       delivery_id)).rowcount == 1


def listing_sku(conn: Connection, channel: str, external_id: str) -> str | None:
    row = raw.execute(conn, _LISTING, (channel, external_id)).fetchone()
    return row[0] if row else None


def order_by_reference(conn: Connection, reference: str) -> dict[str, Any] | None:
    """The order's id and status (an order placed from this channel's delivery before), or None."""
    row = raw.execute(conn, _ORDER, (reference,)).fetchone()
    return {"id": row[0], "status": row[1]} if row else None
