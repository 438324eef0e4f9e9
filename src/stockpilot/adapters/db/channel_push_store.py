"""Reads and writes of outbound pushes: which channels a location feeds, the coalescing state per (channel, SKU),
and what a push would set (available per channel location, the channel's ids for the SKU)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from stockpilot.adapters.db import raw
from stockpilot.adapters.db.channel_push_lock import lock_pushes
from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.tables import (
    channel_listings,
    channel_locations,
    channel_push_state,
    channel_pushes,
    locations,
    skus,
    stock_levels,
)

_st = channel_push_state


@dataclass(frozen=True, slots=True)
class ChannelLocationGroup:
    """One channel location: the channel's id for it (None: a channel without locations) and the Stockpilot
    locations whose available is summed into it."""

    external_id: str | None
    location_codes: tuple[str, ...]


# ---- which channels a stock change concerns -------------------------------------------------------------------

# Every stock change of a listed SKU asks "which channels does this concern?": one statement on the bare cursor
# (adapters/db/raw.py), the rule of location_groups: an active channel the SKU is listed on, fed by
# the location (a mapped location; without mappings, the channel's `location`, or every location).
_TARGETS = raw.Sql("""
    SELECT c.id, c.name, c.kind, s.id FROM skus s JOIN channels c ON c.active = ?
    WHERE s.sku = ?
      AND EXISTS (SELECT 1 FROM channel_listings l WHERE l.channel = c.name AND l.sku_id = s.id)
      AND (EXISTS (SELECT 1 FROM channel_locations cl JOIN locations lo ON lo.id = cl.location_id
                   WHERE cl.channel_id = c.id AND lo.code = ?)
           OR (NOT EXISTS (SELECT 1 FROM channel_locations cl WHERE cl.channel_id = c.id)
               AND (c.location IS NULL OR c.location = '' OR c.location = ?)))
    ORDER BY c.id
""")


@dataclass(frozen=True, slots=True)
class PushTarget:
    channel_id: int
    channel: str
    kind: str
    sku_id: int


def push_targets(conn: Connection, sku: str, location: str | None, kinds: Collection[str]) -> list[PushTarget]:
    """The channels of `kinds` that a change of `sku` at `location` concerns, by channel id."""
    rows = raw.execute(conn, _TARGETS, (True, sku, location, location)).fetchall()
    return [PushTarget(int(r[0]), r[1], r[2], int(r[3])) for r in rows if r[2] in kinds]


def location_groups(conn: Connection, channel: dict[str, Any]) -> list[ChannelLocationGroup]:
    """The channel's locations. Mapped rows first; without any, the channel's `location`, else every location."""
    mapped = conn.execute(
        select(channel_locations.c.external_id, locations.c.code)
        .join(locations, locations.c.id == channel_locations.c.location_id)
        .where(channel_locations.c.channel_id == channel["id"])
        .order_by(channel_locations.c.external_id, locations.c.code)
    ).all()
    if mapped:
        groups: dict[str | None, list[str]] = {}
        for external_id, code in mapped:
            groups.setdefault(external_id, []).append(code)
        return [ChannelLocationGroup(ext, tuple(codes)) for ext, codes in groups.items()]
    if channel["location"]:
        return [ChannelLocationGroup(None, (channel["location"],))]
    codes = conn.execute(select(locations.c.code).order_by(locations.c.code)).scalars().all()
    return [ChannelLocationGroup(None, tuple(codes))]


def map_location(conn: Connection, channel_id: int, location_id: int, external_id: str | None) -> None:
    ins = insert_or_ignore(conn, channel_locations).values(channel_id=channel_id, location_id=location_id,
                                                           external_id=external_id)
    conn.execute(ins.on_conflict_do_update(
        index_elements=[channel_locations.c.channel_id, channel_locations.c.location_id],
        set_={"external_id": external_id},
    ))


def unmap_location(conn: Connection, channel_id: int, location_id: int) -> bool:
    return conn.execute(delete(channel_locations).where(
        channel_locations.c.channel_id == channel_id, channel_locations.c.location_id == location_id)).rowcount == 1


def listed_skus(conn: Connection, channel_name: str) -> list[tuple[int, str]]:
    """(sku_id, sku) of every SKU listed on the channel, by SKU."""
    return [(r.id, r.sku) for r in conn.execute(
        select(skus.c.id, skus.c.sku).where(skus.c.id.in_(
            select(channel_listings.c.sku_id).where(channel_listings.c.channel == channel_name)
        )).order_by(skus.c.sku)
    )]


def available_at(conn: Connection, sku_id: int, location_codes: Collection[str]) -> int:
    total = conn.execute(
        select(func.coalesce(func.sum(stock_levels.c.on_hand - stock_levels.c.committed - stock_levels.c.reserved), 0))
        .join(locations, locations.c.id == stock_levels.c.location_id)
        .where(stock_levels.c.sku_id == sku_id, locations.c.code.in_(list(location_codes)))
    ).scalar_one()
    return int(total)


# ---- coalescing state --------------------------------------------------------------------------------------


def note_change(conn: Connection, channel_id: int, sku_id: int, now: datetime) -> tuple[int, datetime | None] | None:
    """Count one stock change for (channel, SKU). Returns (the generation to enqueue a push for, when the last push
    was sent), or None when a push is already queued (it, or the follow-up its outcome books, reads the newer value).

    The unconditional bump comes first: it takes the row lock (PostgreSQL) before the queued flag is read, so a
    push finishing at the same moment either sees this generation (and books a follow-up) or has already cleared
    `queued` (and this transaction queues a new push). Never both, never neither.
    """
    lock_pushes(conn)
    ts = raw.time_value(conn, now)
    raw.execute(conn, _NEW_STATE, (channel_id, sku_id, False, ts))
    raw.execute(conn, _BUMP, (ts, channel_id, sku_id))
    row = raw.execute(conn, _QUEUE, (True, channel_id, sku_id, False)).fetchone()
    return None if row is None else (int(row[0]), raw.time_result(row[1]))


# note_change runs once per stock change of a listed SKU (a burst of orders): on the bare cursor.
_NEW_STATE = raw.Sql(
    "INSERT INTO channel_push_state (channel_id, sku_id, generation, pushed_generation, queued, pushes, updated_at) "
    "VALUES (?, ?, 0, 0, ?, 0, ?) ON CONFLICT (channel_id, sku_id) DO NOTHING"
)
_BUMP = raw.Sql(
    "UPDATE channel_push_state SET generation = generation + 1, updated_at = ? WHERE channel_id = ? AND sku_id = ?"
)
_QUEUE = raw.Sql(
    "UPDATE channel_push_state SET queued = ? WHERE channel_id = ? AND sku_id = ? AND queued = ? "
    "RETURNING generation, last_pushed_at"
)


def generation(conn: Connection, channel_id: int, sku_id: int) -> int:
    found = conn.execute(select(_st.c.generation).where(_st.c.channel_id == channel_id, _st.c.sku_id == sku_id)
                         ).scalar_one_or_none()
    return int(found or 0)


def finish_push(conn: Connection, channel_id: int, sku_id: int, read_generation: int, sent: bool,
                now: datetime, *, pushed_at: datetime | None = None) -> int | None:
    """A push that read `read_generation` is done. Returns the generation to push next (changes arrived while it
    was in flight: the row stays queued), or None (nothing newer: no longer queued). One statement, so it is
    atomic with respect to `note_change` on the same row. pushed_at: when it went out (default now; a batch
    gives its seal time, which the next batch's window is measured from)."""
    values: dict[str, Any] = {
        "pushed_generation": read_generation,
        "queued": _st.c.generation > read_generation,
        "updated_at": now,
    }
    if sent:
        values.update(pushes=_st.c.pushes + 1, last_pushed_at=pushed_at or now)
    lock_pushes(conn)
    row = conn.execute(
        update(_st).where(_st.c.channel_id == channel_id, _st.c.sku_id == sku_id).values(**values)
        .returning(_st.c.generation, _st.c.queued)
    ).first()
    if row is None or not row.queued:
        return None
    return int(row.generation)


def give_up(conn: Connection, channel_id: int, sku_id: int, now: datetime) -> None:
    """The outbox gave up on the push: the next stock change queues a new one."""
    lock_pushes(conn)
    conn.execute(update(_st).where(_st.c.channel_id == channel_id, _st.c.sku_id == sku_id)
                 .values(queued=False, updated_at=now))


def state(conn: Connection, channel_id: int, sku_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(_st).where(_st.c.channel_id == channel_id, _st.c.sku_id == sku_id)).mappings().first()
    return dict(row) if row else None


# ---- pushed values ---------------------------------------------------------------------------------------------


def confirmed_value(conn: Connection, channel_id: int, item_key: str) -> int | None:
    return conn.execute(select(channel_pushes.c.confirmed_value).where(
        channel_pushes.c.channel_id == channel_id, channel_pushes.c.item_key == item_key)).scalar_one_or_none()


def confirm_push(conn: Connection, channel_id: int, item_key: str, value: int, now: datetime, *,
                 sent_at: datetime | None = None) -> None:
    """The channel acknowledged `value`. The row exists (written before sending); if it was removed meanwhile, the
    insert restores it.

    sent_at: when the push wrote its values (`pushed_at`, a token: compared for equality, never as a clock). If
    `pushed_at` changed since, a later write happened while this push was out (`doubt_confirmed`: a stalled worker's
    request may have landed after this one), so this acknowledgement no longer says what the channel shows."""
    lock_pushes(conn)
    ins = insert_or_ignore(conn, channel_pushes).values(channel_id=channel_id, item_key=item_key, value=value,
                                                       pushed_at=now, confirmed_value=value, confirmed_at=now)
    conn.execute(ins.on_conflict_do_update(
        index_elements=[channel_pushes.c.channel_id, channel_pushes.c.item_key],
        set_={"confirmed_value": value, "confirmed_at": now},
        where=None if sent_at is None else channel_pushes.c.pushed_at == sent_at,
    ))


def doubt_confirmed(conn: Connection, channel_id: int, item_key: str, value: int, now: datetime) -> None:
    """A request of `value` may have landed after a newer one (its worker was taken over while it was out): the
    channel may show `value`. Kept as the acknowledged value, so the next push sends the newest one again, and
    `pushed_at` moves, so the newer push's acknowledgement (if not recorded yet) does not override it."""
    lock_pushes(conn)
    where = (channel_pushes.c.channel_id == channel_id, channel_pushes.c.item_key == item_key)
    written = conn.execute(select(channel_pushes.c.pushed_at).where(*where)).scalar_one_or_none()
    if written is None:
        return
    token = now if now != written else now + timedelta(microseconds=1)  # it must differ from every push's token
    conn.execute(update(channel_pushes).where(*where).values(confirmed_value=value, confirmed_at=now, pushed_at=token))


def forget_confirmed(conn: Connection, channel_id: int, item_key: str) -> None:
    """The channel was found to differ from what it acknowledged (reconciliation): the next push sends again."""
    lock_pushes(conn)
    conn.execute(update(channel_pushes).where(channel_pushes.c.channel_id == channel_id,
                                              channel_pushes.c.item_key == item_key)
                 .values(confirmed_value=None))


def count_baseline(conn: Connection, channel_id: int, item_key: str) -> int | None:
    """What the channel last showed for the item as far as Stockpilot knows (the value it acknowledged from a push,
    or its own count applied since); None when Stockpilot never pushed to it."""
    return confirmed_value(conn, channel_id, item_key)


def note_channel_count(conn: Connection, channel_id: int, item_key: str, value: int, now: datetime) -> None:
    """The channel now shows `value` by its own doing (a POS sale, an edit): the next change is measured from here,
    and the next push sees that the channel differs from available-to-sell."""
    lock_pushes(conn)  # held already: the count took it before reading the baseline (services/channel_counts.py)
    conn.execute(update(channel_pushes).where(channel_pushes.c.channel_id == channel_id,
                                              channel_pushes.c.item_key == item_key)
                 .values(confirmed_value=value, confirmed_at=now))
