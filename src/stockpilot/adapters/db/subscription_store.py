"""Rows of `channel_subscriptions`: Stockpilot's webhook subscriptions per channel and topic, as last checked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.tables import channel_subscriptions


def upsert(conn: Connection, channel_id: int, topic: str, address: str, platform_id: str | None, status: str,
           detail: str | None, now: datetime) -> None:
    ins = insert_or_ignore(conn, channel_subscriptions).values(
        channel_id=channel_id, topic=topic, address=address, platform_id=platform_id, status=status, detail=detail,
        checked_at=now, created_at=now, updated_at=now)
    conn.execute(ins.on_conflict_do_update(
        index_elements=[channel_subscriptions.c.channel_id, channel_subscriptions.c.topic],
        set_={"address": address, "platform_id": platform_id, "status": status, "detail": detail,
              "checked_at": now, "updated_at": now},
    ))


def for_channel(conn: Connection, channel_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(channel_subscriptions).where(channel_subscriptions.c.channel_id == channel_id)
                        .order_by(channel_subscriptions.c.topic)).mappings()
    return [dict(r) for r in rows]
