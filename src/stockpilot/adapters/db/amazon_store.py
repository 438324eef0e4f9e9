"""Rows of Amazon seller accounts and of poll cursors (how far each polled stream of a channel has been read)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.tables import amazon_accounts, channel_poll_cursors, channels


def insert_account(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(amazon_accounts).values(**values))


def account(conn: Connection, channel_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(amazon_accounts).where(amazon_accounts.c.channel_id == channel_id)).mappings().first()
    return dict(row) if row else None


def amazon_channels(conn: Connection) -> list[dict[str, Any]]:
    """Every active Amazon channel with its account (the channel's columns plus the account's)."""
    rows = conn.execute(
        select(channels, amazon_accounts.c.seller_id, amazon_accounts.c.marketplace_id,
               amazon_accounts.c.lwa_client_id, amazon_accounts.c.lwa_url, amazon_accounts.c.poll_seconds)
        .join(amazon_accounts, amazon_accounts.c.channel_id == channels.c.id)
        .where(channels.c.active.is_(True)).order_by(channels.c.id)
    ).mappings()
    return [dict(r) for r in rows]


def cursor(conn: Connection, channel_id: int, stream: str) -> str | None:
    return conn.execute(select(channel_poll_cursors.c.cursor).where(
        channel_poll_cursors.c.channel_id == channel_id, channel_poll_cursors.c.stream == stream)).scalar()


def move_cursor(conn: Connection, channel_id: int, stream: str, value: str, now: datetime) -> None:
    ins = insert_or_ignore(conn, channel_poll_cursors).values(channel_id=channel_id, stream=stream, cursor=value,
                                                              updated_at=now)
    conn.execute(ins.on_conflict_do_update(
        index_elements=[channel_poll_cursors.c.channel_id, channel_poll_cursors.c.stream],
        set_={"cursor": value, "updated_at": now},
    ))
