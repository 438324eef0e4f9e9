"""Rows of ad sets, their SKUs and Stockpilot's pauses of them (see domain/ads.py for what the states mean)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from stockpilot.adapters.db.tables import ad_pauses, ad_set_skus, ad_sets, skus
from stockpilot.domain.ads import SkuStock
from stockpilot.domain.model import BackorderPolicy


def lock_ad_set(conn: Connection, ad_set_id: int) -> Any:
    """The ad set row, locked until the transaction ends (PostgreSQL), so the consumer, the hold timer and the
    outcome hooks decide about one ad set one at a time; SQLite's single writer already does that."""
    return conn.execute(select(ad_sets).where(ad_sets.c.id == ad_set_id).with_for_update()).first()


def find(conn: Connection, platform: str, external_id: str) -> Any:
    return conn.execute(select(ad_sets).where(ad_sets.c.platform == platform,
                                              ad_sets.c.external_id == external_id)).first()


def ad_sets_of_sku(conn: Connection, sku: str) -> list[int]:
    rows = conn.execute(select(ad_set_skus.c.ad_set_id).join(skus, skus.c.id == ad_set_skus.c.sku_id)
                        .where(skus.c.sku == sku).order_by(ad_set_skus.c.ad_set_id))
    return [r.ad_set_id for r in rows]


def stock_of(conn: Connection, ad_set_id: int) -> list[SkuStock]:
    rows = conn.execute(
        select(skus.c.sku, (skus.c.on_hand - skus.c.committed - skus.c.reserved).label("available"),
               skus.c.backorder_policy, skus.c.backorder_cap)
        .join(ad_set_skus, ad_set_skus.c.sku_id == skus.c.id)
        .where(ad_set_skus.c.ad_set_id == ad_set_id).order_by(skus.c.sku))
    return [SkuStock(r.sku, int(r.available), BackorderPolicy(r.backorder_policy), r.backorder_cap) for r in rows]


def skus_of(conn: Connection, ad_set_id: int) -> list[str]:
    return [s.sku for s in stock_of(conn, ad_set_id)]


def pause(conn: Connection, pause_id: int | None) -> Any:
    if pause_id is None:
        return None
    return conn.execute(select(ad_pauses).where(ad_pauses.c.id == pause_id)).first()


def pauses_of(conn: Connection, ad_set_id: int, limit: int = 20) -> list[Any]:
    return list(conn.execute(select(ad_pauses).where(ad_pauses.c.ad_set_id == ad_set_id)
                             .order_by(ad_pauses.c.id.desc()).limit(limit)))
