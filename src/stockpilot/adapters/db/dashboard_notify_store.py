"""Reads of the dashboard's waitlist and ads pages: per-SKU waitlist counts and per-ad-set pause figures, each one
grouped query (the pages never load entries or episodes one by one)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, case, func, select

from stockpilot.adapters.db.tables import ad_pauses, ad_sets, skus, waitlist


def _count(status: str) -> Any:
    return func.sum(case((waitlist.c.status == status, 1), else_=0))


def waitlists(conn: Connection, limit: int) -> list[dict[str, Any]]:
    """Per SKU with a waitlist: how many wait / were told / unconfirmed / left, the last wave and when it went."""
    waiting = _count("waiting").label("waiting")
    rows = conn.execute(
        select(skus.c.sku, skus.c.title, (skus.c.on_hand - skus.c.committed - skus.c.reserved).label("available"),
               waiting, _count("notified").label("notified"), _count("unconfirmed").label("unconfirmed"),
               _count("unsubscribed").label("unsubscribed"), func.max(waitlist.c.wave).label("last_wave"),
               func.max(waitlist.c.notified_at).label("last_notified_at"))
        .join(skus, skus.c.id == waitlist.c.sku_id)
        .group_by(skus.c.id, skus.c.sku, skus.c.title, skus.c.on_hand, skus.c.committed, skus.c.reserved)
        .order_by(waiting.desc(), skus.c.sku).limit(limit))
    return [dict(r._mapping) for r in rows]


def pause_figures(conn: Connection) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (platform, ad set id): episodes Stockpilot paused, episodes left to a person (declined: a person had
    paused it; left: a person changed it), spend saved in ended episodes (micros), and the open pause's daily spend
    and start (for the estimate so far)."""
    ours = func.sum(case((ad_pauses.c.paused_at.is_not(None), 1), else_=0)).label("paused_by_us")
    people = func.sum(case((ad_pauses.c.status.in_(("declined", "left")), 1), else_=0)).label("left_to_people")
    open_spend = func.max(case((ad_pauses.c.ended_at.is_(None), ad_pauses.c.daily_spend_micros), else_=None))
    open_since = func.max(case((ad_pauses.c.ended_at.is_(None), ad_pauses.c.paused_at), else_=None))
    rows = conn.execute(select(ad_sets.c.platform, ad_sets.c.external_id, ours, people,
                               func.sum(ad_pauses.c.spend_saved_micros).label("saved_micros"),
                               open_spend.label("open_daily_micros"), open_since.label("open_paused_at"))
                        .join(ad_sets, ad_sets.c.id == ad_pauses.c.ad_set_id)
                        .group_by(ad_sets.c.platform, ad_sets.c.external_id))
    return {(r.platform, r.external_id): dict(r._mapping) for r in rows}
