"""Reads and writes of channels, webhook deliveries, per-item watermarks and pushed values."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from stockpilot.adapters.db.channel_push_lock import lock_pushes
from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.tables import channel_pushes, channel_watermarks, channels, webhook_deliveries

# ---- channels -------------------------------------------------------------------------------------------------


def insert_channel(conn: Connection, values: dict[str, Any], now: datetime) -> int:
    return int(conn.execute(
        insert(channels).values(**values, created_at=now, updated_at=now).returning(channels.c.id)
    ).scalar_one())


def channel_where(conn: Connection, **match: str) -> dict[str, Any] | None:
    """The channel whose column equals the value (name, shop_domain, site_url or store_hash)."""
    ((column, value),) = match.items()
    row = conn.execute(select(channels).where(channels.c[column] == value)).mappings().first()
    return dict(row) if row else None


def channel_by_id(conn: Connection, channel_id: int) -> dict[str, Any]:
    return dict(conn.execute(select(channels).where(channels.c.id == channel_id)).mappings().one())


def list_channels(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(select(channels).order_by(channels.c.name)).mappings()]


# ---- deliveries ----------------------------------------------------------------------------------------------


def insert_delivery(conn: Connection, values: dict[str, Any]) -> int | None:
    """The new delivery's id, or None when its delivery key or event key was seen before (a redelivery)."""
    stmt = insert_or_ignore(conn, webhook_deliveries).values(**values).on_conflict_do_nothing()
    return conn.execute(stmt.returning(webhook_deliveries.c.id)).scalar_one_or_none()


def note_duplicate(conn: Connection, channel_id: int, delivery_key: str, event_key: str | None) -> int | None:
    """Count a redelivery on the row it repeats; returns that row's id."""
    keys = [webhook_deliveries.c.delivery_key == delivery_key]
    if event_key is not None:
        keys.append(webhook_deliveries.c.event_key == event_key)
    found = conn.execute(
        select(webhook_deliveries.c.id)
        .where(webhook_deliveries.c.channel_id == channel_id, or_(*keys))
        .order_by(webhook_deliveries.c.id).limit(1)
    ).scalar()
    if found is not None:
        conn.execute(update(webhook_deliveries).where(webhook_deliveries.c.id == found)
                     .values(duplicates=webhook_deliveries.c.duplicates + 1))
    return found


def delivery(conn: Connection, delivery_id: int) -> dict[str, Any] | None:
    row = conn.execute(
        select(webhook_deliveries, channels.c.name.label("channel"), channels.c.kind.label("kind"))
        .join(channels, channels.c.id == webhook_deliveries.c.channel_id)
        .where(webhook_deliveries.c.id == delivery_id)
    ).mappings().first()
    return dict(row) if row else None


def list_deliveries(conn: Connection, *, status: str | None, channel: str | None, after: int,
                    limit: int) -> list[dict[str, Any]]:
    stmt = (
        select(webhook_deliveries, channels.c.name.label("channel"), channels.c.kind.label("kind"))
        .join(channels, channels.c.id == webhook_deliveries.c.channel_id)
        .where(webhook_deliveries.c.id > after)
        .order_by(webhook_deliveries.c.id).limit(limit)
    )
    if status:
        stmt = stmt.where(webhook_deliveries.c.status == status)
    if channel:
        stmt = stmt.where(channels.c.name == channel)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def finish_delivery(conn: Connection, delivery_id: int, *, status: str, now: datetime, reason: str | None = None,
                    error: str | None = None, effect: Any = None, from_statuses: tuple[str, ...]) -> bool:
    """Record an outcome, only from the statuses given: a delivery reaches each outcome once."""
    result = conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == delivery_id, webhook_deliveries.c.status.in_(from_statuses))
        .values(status=status, reason=reason, error=error, effect=effect, processed_at=now)
    )
    return result.rowcount == 1


# ---- ordering and echoes -------------------------------------------------------------------------------------


def advance_watermark(conn: Connection, channel_id: int, item_key: str, source_updated_at: datetime,
                      now: datetime) -> bool:
    """Record `source_updated_at` as the newest seen for the item, unless a newer one is already recorded.

    One statement (INSERT ... ON CONFLICT DO UPDATE ... WHERE), so two deliveries racing for one item cannot
    both win with the older one last. True: this payload is not older than anything applied before.
    """
    ins = insert_or_ignore(conn, channel_watermarks).values(
        channel_id=channel_id, item_key=item_key, source_updated_at=source_updated_at, updated_at=now)
    stmt = ins.on_conflict_do_update(
        index_elements=[channel_watermarks.c.channel_id, channel_watermarks.c.item_key],
        set_={"source_updated_at": ins.excluded.source_updated_at, "updated_at": ins.excluded.updated_at},
        where=channel_watermarks.c.source_updated_at <= ins.excluded.source_updated_at,
    ).returning(channel_watermarks.c.item_key)
    return conn.execute(stmt).first() is not None


def last_push(conn: Connection, channel_id: int, item_key: str) -> int | None:
    return conn.execute(
        select(channel_pushes.c.value)
        .where(channel_pushes.c.channel_id == channel_id, channel_pushes.c.item_key == item_key)
    ).scalar()


ECHO_WINDOW = timedelta(minutes=10)  # how long a pushed value may still come back as the platform's echo
_RECENT_LIMIT = 50


def record_push(conn: Connection, channel_id: int, item_key: str, value: int, now: datetime,
                tag: str | None = None) -> None:
    """Called by the outbound push just before it sets a channel's count (the echo filter reads it back).

    Keeps every value sent within ECHO_WINDOW as [value, sent at, tag]: in a burst the echo of an older push may
    arrive after a newer one was written. `tag` names this send, so that a failure proving it was not applied
    retracts this entry alone (`retract_push`), not an earlier send of the same value that may have been."""
    lock_pushes(conn)
    found = conn.execute(select(channel_pushes.c.recent_values).where(
        channel_pushes.c.channel_id == channel_id, channel_pushes.c.item_key == item_key)).first()
    recent = [entry for entry in (found.recent_values if found and found.recent_values else [])
              if datetime.fromisoformat(entry[1]) > now - ECHO_WINDOW]
    recent = [*recent, [value, now.isoformat(), tag]][-_RECENT_LIMIT:]
    ins = insert_or_ignore(conn, channel_pushes).values(channel_id=channel_id, item_key=item_key, value=value,
                                                       pushed_at=now, recent_values=recent)
    conn.execute(ins.on_conflict_do_update(
        index_elements=[channel_pushes.c.channel_id, channel_pushes.c.item_key],
        set_={"value": value, "pushed_at": now, "recent_values": recent},
    ))


def retract_push(conn: Connection, channel_id: int, item_key: str, tag: str) -> None:
    """The send `tag` provably did not set the item (the platform refused it, or it never left): its value stops
    counting as an echo. `value` falls back to the newest send that may still be on the channel, else to what the
    channel acknowledged; a row that then holds nothing is removed (as if never pushed)."""
    lock_pushes(conn)
    row = conn.execute(select(channel_pushes.c.value, channel_pushes.c.confirmed_value,
                              channel_pushes.c.recent_values)
                       .where(channel_pushes.c.channel_id == channel_id, channel_pushes.c.item_key == item_key)
                       ).first()
    if row is None:
        return
    recent = [entry for entry in row.recent_values or [] if len(entry) < 3 or entry[2] != tag]
    where = (channel_pushes.c.channel_id == channel_id, channel_pushes.c.item_key == item_key)
    if recent:
        value = recent[-1][0]
    elif row.confirmed_value is not None:
        value = row.confirmed_value
    else:
        conn.execute(channel_pushes.delete().where(*where))
        return
    conn.execute(update(channel_pushes).where(*where).values(value=value, recent_values=recent))


SHOWN = "shown"  # the echo of the newest value sent, not acknowledged yet: the channel shows it now
ECHO = "echo"  # the echo of a value sent before


def echo_of(conn: Connection, channel_id: int, item_key: str, value: int, now: datetime) -> str | None:
    """Whether a count the channel reports is a value Stockpilot sent there within ECHO_WINDOW that was not proven
    unapplied: SHOWN for the newest send while its acknowledgement is not recorded (the push is in flight: its
    answer is on its way, or the outcome not yet committed), ECHO for any other (a late echo of an older push),
    None when it is not an echo."""
    row = conn.execute(select(channel_pushes.c.recent_values, channel_pushes.c.confirmed_value).where(
        channel_pushes.c.channel_id == channel_id, channel_pushes.c.item_key == item_key)).first()
    recent = [entry for entry in (row.recent_values or [] if row else [])
              if datetime.fromisoformat(entry[1]) > now - ECHO_WINDOW]
    if not any(entry[0] == value for entry in recent):
        return None
    return SHOWN if recent[-1][0] == value and row.confirmed_value != value else ECHO


def watermark(conn: Connection, channel_id: int, item_key: str) -> datetime | None:
    """The platform time of the newest count applied for the item."""
    return conn.execute(select(channel_watermarks.c.source_updated_at).where(
        channel_watermarks.c.channel_id == channel_id, channel_watermarks.c.item_key == item_key)).scalar()
