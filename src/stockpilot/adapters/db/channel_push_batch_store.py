"""Reads and writes of push batches: which (channel, SKU) rows ride in one platform request, and the bulk reads a
batch's plan needs (one query per kind of fact for all its SKUs, not one per SKU)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from stockpilot.adapters.db.channel_push_lock import lock_pushes
from stockpilot.adapters.db.tables import (
    channel_listings,
    channel_push_batches,
    channel_push_state,
    channel_pushes,
    locations,
    skus,
    stock_levels,
)

_b = channel_push_batches
_st = channel_push_state
KEEP_FINISHED = timedelta(hours=1)


def join_open(conn: Connection, channel_id: int, not_before: datetime | None) -> int | None:
    """Take a place in the channel's open batch, if one has room and is not due before `not_before` (the row's own
    window). The conditional update takes the batch row's lock (PostgreSQL) before it re-checks `sealed_at`, so a
    batch being sealed at this moment is either joined before its members are read, or not joined at all."""
    lock_pushes(conn)
    inner = _b.alias("open_batch")
    conditions = [inner.c.channel_id == channel_id, inner.c.sealed_at.is_(None), inner.c.size < inner.c.limit]
    if not_before is not None:
        conditions.append(inner.c.due_at >= not_before)
    candidate = select(inner.c.id).where(*conditions).order_by(inner.c.id.desc()).limit(1).scalar_subquery()
    joined = conn.execute(update(_b).where(_b.c.id == candidate, _b.c.sealed_at.is_(None), _b.c.size < _b.c.limit)
                          .values(size=_b.c.size + 1).returning(_b.c.id)).scalar_one_or_none()
    return None if joined is None else int(joined)


def open_batch(conn: Connection, channel_id: int, limit: int, due: datetime, now: datetime) -> int:
    lock_pushes(conn)
    return int(conn.execute(insert(_b).values(channel_id=channel_id, size=1, limit=limit, due_at=due,
                                              created_at=now).returning(_b.c.id)).scalar_one())


def last_sealed_at(conn: Connection, channel_id: int) -> datetime | None:
    """When the channel's latest request went out: sealed batches in flight, or finished ones that sent lines."""
    return conn.execute(select(func.max(_b.c.sealed_at)).where(
        _b.c.channel_id == channel_id, _b.c.sealed_at.is_not(None),
        or_(_b.c.finished_at.is_(None), _b.c.lines > 0))).scalar_one()


def assign(conn: Connection, channel_id: int, sku_id: int, batch_id: int | None) -> None:
    lock_pushes(conn)
    conn.execute(update(_st).where(_st.c.channel_id == channel_id, _st.c.sku_id == sku_id)
                 .values(batch_id=batch_id))


def seal(conn: Connection, batch_id: int, now: datetime) -> tuple[datetime, list[int]]:
    """Close the batch to newcomers (a retry finds it sealed already): (when it was sealed, the SKUs it carries)."""
    lock_pushes(conn)
    conn.execute(update(_b).where(_b.c.id == batch_id, _b.c.sealed_at.is_(None)).values(sealed_at=now))
    sealed_at = conn.execute(select(_b.c.sealed_at).where(_b.c.id == batch_id)).scalar_one_or_none()
    return sealed_at or now, members(conn, batch_id)


def members(conn: Connection, batch_id: int) -> list[int]:
    return [int(s) for s in conn.execute(select(_st.c.sku_id).where(_st.c.batch_id == batch_id, _st.c.queued.is_(True))
                                         .order_by(_st.c.sku_id)).scalars()]


def finish(conn: Connection, channel_id: int, batch_id: int, lines: int, now: datetime) -> None:
    lock_pushes(conn)
    conn.execute(update(_b).where(_b.c.id == batch_id).values(finished_at=now, lines=lines))
    conn.execute(delete(_b).where(_b.c.channel_id == channel_id, _b.c.sealed_at < now - KEEP_FINISHED,
                                  _b.c.finished_at.is_not(None)))


def batch(conn: Connection, batch_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(_b).where(_b.c.id == batch_id)).mappings().first()
    return dict(row) if row else None


# ---- bulk reads for a batch's plan ------------------------------------------------------------------------------


def generations(conn: Connection, channel_id: int, sku_ids: Collection[int]) -> dict[int, int]:
    return {int(s): int(g) for s, g in conn.execute(
        select(_st.c.sku_id, _st.c.generation).where(_st.c.channel_id == channel_id, _st.c.sku_id.in_(list(sku_ids))))}


def sku_names(conn: Connection, sku_ids: Collection[int]) -> dict[int, str]:
    return {int(i): s for i, s in conn.execute(select(skus.c.id, skus.c.sku).where(skus.c.id.in_(list(sku_ids))))}


class ListedIds(NamedTuple):
    """A SKU's ids on one channel by role, and by role the parent product a listing names (a variation's)."""

    items: dict[str, str]
    parents: dict[str, str]


def listing_ids(conn: Connection, channel_name: str, sku_ids: Collection[int]) -> dict[int, ListedIds]:
    """Per SKU, the channel's ids by role (the first listing per role wins, as for one SKU) and their parents."""
    out: dict[int, ListedIds] = {int(s): ListedIds({}, {}) for s in sku_ids}
    for sku_id, role, external_id, parent in conn.execute(
            select(channel_listings.c.sku_id, channel_listings.c.role, channel_listings.c.external_id,
                   channel_listings.c.parent_external_id)
            .where(channel_listings.c.channel == channel_name, channel_listings.c.sku_id.in_(list(sku_ids)))
            .order_by(channel_listings.c.id)):
        listed = out[int(sku_id)]
        key = role or "id"
        if key not in listed.items:
            listed.items[key] = external_id
            if parent:
                listed.parents[key] = parent
    return out


def available_at(conn: Connection, sku_ids: Collection[int], location_codes: Collection[str]) -> dict[int, int]:
    """Per SKU, available summed over the locations (0 where it has no stock row)."""
    rows = conn.execute(
        select(stock_levels.c.sku_id,
               func.sum(stock_levels.c.on_hand - stock_levels.c.committed - stock_levels.c.reserved))
        .join(locations, locations.c.id == stock_levels.c.location_id)
        .where(stock_levels.c.sku_id.in_(list(sku_ids)), locations.c.code.in_(list(location_codes)))
        .group_by(stock_levels.c.sku_id))
    found = {int(s): int(n or 0) for s, n in rows}
    return {int(s): found.get(int(s), 0) for s in sku_ids}


def confirmed_values(conn: Connection, channel_id: int, item_keys: Collection[str]) -> dict[str, int | None]:
    if not item_keys:
        return {}
    return {k: v for k, v in conn.execute(
        select(channel_pushes.c.item_key, channel_pushes.c.confirmed_value)
        .where(and_(channel_pushes.c.channel_id == channel_id, channel_pushes.c.item_key.in_(list(item_keys)))))}
