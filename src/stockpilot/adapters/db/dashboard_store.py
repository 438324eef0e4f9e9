"""Reads the dashboard pages need beyond the services' own: search and sort over SKUs, latest-first listings,
one SKU's on-hand changes for its chart. Plain reads; nothing here writes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select

from stockpilot.adapters.db.tables import (
    api_tokens,
    decisions,
    demand_history,
    locations,
    movements,
    order_lines,
    orders,
    outbox,
    purchase_order_lines,
    purchase_orders,
    skus,
    stock_levels,
    suppliers,
)

AVAILABLE = (skus.c.on_hand - skus.c.committed - skus.c.reserved).label("available")
SKU_SORTS: dict[str, Any] = {
    "sku": skus.c.sku, "title": skus.c.title, "on_hand": skus.c.on_hand, "committed": skus.c.committed,
    "reserved": skus.c.reserved, "available": AVAILABLE, "incoming": skus.c.incoming,
}


def search_skus(conn: Connection, *, query: str, sort: str, descending: bool, offset: int,
                limit: int, location: str | None = None) -> tuple[list[dict[str, Any]], int]:
    """A page of SKUs matching `query` in the SKU code, title or barcode; and the count. Figures are totals over
    locations, or one location's (then only SKUs with a level row there)."""
    where = []
    if query:
        pattern = f"%{query.lower()}%"
        where.append(or_(func.lower(skus.c.sku).like(pattern), func.lower(skus.c.title).like(pattern),
                         func.lower(func.coalesce(skus.c.barcode, "")).like(pattern)))
    source: Any = skus
    figures: Any = skus
    if location:
        source = skus.join(stock_levels, stock_levels.c.sku_id == skus.c.id).join(
            locations, (locations.c.id == stock_levels.c.location_id) & (locations.c.code == location))
        figures = stock_levels
    available = (figures.c.on_hand - figures.c.committed - figures.c.reserved).label("available")
    sorts = {"sku": skus.c.sku, "title": skus.c.title, "available": available,
             **{k: figures.c[k] for k in ("on_hand", "committed", "reserved", "incoming")}}
    column = sorts.get(sort, skus.c.sku)
    order = column.desc() if descending else column.asc()
    stmt = (select(skus.c.id, skus.c.sku, skus.c.title, skus.c.backorder_policy, figures.c.on_hand,
                   figures.c.committed, figures.c.reserved, available, figures.c.incoming)
            .select_from(source).where(*where).order_by(order, skus.c.sku).offset(offset).limit(limit))
    total = conn.execute(select(func.count()).select_from(source).where(*where)).scalar_one()
    return [dict(r._mapping) for r in conn.execute(stmt)], total


def oversold_skus(conn: Connection, limit: int = 50) -> list[dict[str, Any]]:
    """SKUs with negative available (backorders or oversells), most short first."""
    stmt = (select(skus.c.sku, skus.c.title, skus.c.backorder_policy, skus.c.on_hand, skus.c.committed,
                   skus.c.reserved, AVAILABLE, skus.c.incoming)
            .where(skus.c.on_hand - skus.c.committed - skus.c.reserved < 0)
            .order_by(AVAILABLE.asc(), skus.c.sku).limit(limit))
    return [dict(r._mapping) for r in conn.execute(stmt)]


def recent_decisions(conn: Connection, *, subject: str | None = None, before: int | None = None,
                     limit: int = 50) -> list[dict[str, Any]]:
    """Decisions latest first; `before` is the keyset cursor (the last id shown)."""
    stmt = select(decisions).order_by(decisions.c.id.desc()).limit(limit)
    if subject:
        stmt = stmt.where(decisions.c.subject == subject)
    if before is not None:
        stmt = stmt.where(decisions.c.id < before)
    return [dict(r._mapping) for r in conn.execute(stmt)]


def latest_pos(conn: Connection, *, status: str | None, offset: int,
               limit: int) -> tuple[list[dict[str, Any]], int]:
    """Purchase orders newest first with their supplier and ship-to codes; and the count."""
    po = purchase_orders
    where = [po.c.status == status] if status else []
    stmt = (select(po, suppliers.c.code.label("supplier"), locations.c.code.label("location"))
            .outerjoin(suppliers, suppliers.c.id == po.c.supplier_id)
            .join(locations, locations.c.id == po.c.location_id)
            .where(*where).order_by(po.c.id.desc()).offset(offset).limit(limit))
    total = conn.execute(select(func.count()).select_from(po).where(*where)).scalar_one()
    return [dict(r._mapping) for r in conn.execute(stmt)], total


def latest_pos_of_supplier(conn: Connection, supplier_code: str, *, limit: int) -> list[dict[str, Any]]:
    """A supplier's purchase orders, newest first, with supplier and ship-to codes."""
    po = purchase_orders
    stmt = (select(po, suppliers.c.code.label("supplier"), locations.c.code.label("location"))
            .join(suppliers, suppliers.c.id == po.c.supplier_id)
            .join(locations, locations.c.id == po.c.location_id)
            .where(suppliers.c.code == supplier_code).order_by(po.c.id.desc()).limit(limit))
    return [dict(r._mapping) for r in conn.execute(stmt)]


def count_pos(conn: Connection, status: str) -> int:
    return conn.execute(select(func.count()).where(purchase_orders.c.status == status)).scalar_one()


def on_hand_changes(conn: Connection, sku_id: int, since: datetime) -> list[tuple[datetime, int]]:
    """(when, change of on_hand) for every movement of the SKU since `since` that moved on_hand."""
    rows = conn.execute(
        select(movements.c.created_at, movements.c.d_on_hand)
        .where(movements.c.sku_id == sku_id, movements.c.created_at >= since, movements.c.d_on_hand != 0)
        .order_by(movements.c.id)
    )
    return [(r.created_at, r.d_on_hand) for r in rows]


def latest_movements(conn: Connection, sku_id: int, *, before: int | None, limit: int) -> list[dict[str, Any]]:
    """One SKU's ledger, latest first; `before` is the keyset cursor."""
    stmt = (select(movements.c.id, locations.c.code.label("location"), movements.c.kind, movements.c.d_on_hand,
                   movements.c.d_committed, movements.c.d_reserved, movements.c.d_incoming, movements.c.source,
                   movements.c.reference, movements.c.reason, movements.c.created_at)
            .join(locations, locations.c.id == movements.c.location_id)
            .where(movements.c.sku_id == sku_id).order_by(movements.c.id.desc()).limit(limit))
    if before is not None:
        stmt = stmt.where(movements.c.id < before)
    return [dict(r._mapping) for r in conn.execute(stmt)]


def token_id(conn: Connection, token_hash: str) -> tuple[int, str] | None:
    """(id, name) of an unrevoked API token with this hash."""
    row = conn.execute(select(api_tokens.c.id, api_tokens.c.name).where(api_tokens.c.token_hash == token_hash,
                                                                        api_tokens.c.revoked_at.is_(None))).first()
    return (row.id, row.name) if row else None


def token_active(conn: Connection, token_id_: int) -> bool:
    return conn.execute(select(api_tokens.c.id).where(api_tokens.c.id == token_id_,
                                                      api_tokens.c.revoked_at.is_(None))).first() is not None


def recent_decisions_of_kind(conn: Connection, kind: str, since: datetime, limit: int
                              ) -> tuple[list[dict[str, Any]], int]:
    """Decisions of one kind since `since`, latest first, and how many (a range of ix_decisions_kind_created_at)."""
    where = [decisions.c.kind == kind, decisions.c.created_at >= since]
    rows = conn.execute(select(decisions).where(*where).order_by(decisions.c.created_at.desc(), decisions.c.id.desc())
                        .limit(limit))
    total = conn.execute(select(func.count()).select_from(decisions).where(*where)).scalar_one()
    return [dict(r._mapping) for r in rows], total


def outbox_health(conn: Connection, now: datetime) -> dict[str, Any]:
    """Pending, due, failing (pending after a failed attempt), dead and the oldest pending row's age: ranges of the
    (status, available_at) index. Delivered rows, the bulk of the table, are never counted."""
    counts = dict(conn.execute(select(outbox.c.status, func.count()).where(outbox.c.status.in_(("pending", "dead")))
                               .group_by(outbox.c.status)).all())
    pending = outbox.c.status == "pending"
    due = conn.execute(select(func.count()).where(pending, outbox.c.available_at <= now)).scalar_one()
    failing = conn.execute(select(func.count()).where(pending, outbox.c.attempts > 0)).scalar_one()
    oldest = conn.execute(select(func.min(outbox.c.created_at)).where(pending)).scalar_one()
    return {"depth": counts.get("pending", 0), "due": due, "failing": failing, "dead": counts.get("dead", 0),
            "oldest_pending_age_seconds": (now - oldest).total_seconds() if oldest is not None else None}


def sku_head(conn: Connection, sku: str) -> Any:
    """(id, sku, created_at, totals) of one SKU: the row shape demand_store.daily_matrix reads."""
    return conn.execute(select(skus.c.id, skus.c.sku, skus.c.created_at, skus.c.on_hand, skus.c.committed,
                               skus.c.reserved, skus.c.incoming).where(skus.c.sku == sku)).first()


def latest_pos_for_sku(conn: Connection, sku_id: int, *, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Purchase orders carrying the SKU, newest first."""
    po = purchase_orders
    mine = po.c.id.in_(select(purchase_order_lines.c.po_id).where(purchase_order_lines.c.sku_id == sku_id))
    stmt = (select(po, suppliers.c.code.label("supplier"), locations.c.code.label("location"))
            .outerjoin(suppliers, suppliers.c.id == po.c.supplier_id)
            .join(locations, locations.c.id == po.c.location_id)
            .where(mine).order_by(po.c.id.desc()).limit(limit))
    total = conn.execute(select(func.count()).select_from(po).where(mine)).scalar_one()
    return [dict(r._mapping) for r in conn.execute(stmt)], total


def po_counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(purchase_orders.c.status, func.count()).group_by(purchase_orders.c.status))
    return {status: n for status, n in rows}


def failing_outbox(conn: Connection, *, limit: int) -> list[dict[str, Any]]:
    """Pending rows that have failed at least once (still being retried with backoff), oldest first."""
    rows = conn.execute(select(outbox).where(outbox.c.status == "pending", outbox.c.attempts > 0)
                        .order_by(outbox.c.id).limit(limit))
    return [dict(r._mapping) for r in rows]


def demand_by_day(conn: Connection, sku_id: int, since: datetime) -> tuple[dict[date, int], date | None]:
    """One SKU's units per UTC day since `since`: ordered (less cancellations, as planning counts demand) plus
    imported history; and its first imported day (history can reach back before the SKU was created here)."""
    per_day: dict[date, int] = {}
    ordered = conn.execute(
        select(orders.c.created_at, order_lines.c.quantity - order_lines.c.cancelled)
        .join(orders, orders.c.id == order_lines.c.order_id)
        .where(order_lines.c.sku_id == sku_id, orders.c.created_at >= since)
    )
    for at, units in ordered:
        day = at.astimezone(UTC).date()
        per_day[day] = per_day.get(day, 0) + units
    imported = conn.execute(select(demand_history.c.day, demand_history.c.units)
                            .where(demand_history.c.sku_id == sku_id, demand_history.c.day >= since.date()))
    for day, units in imported:
        per_day[day] = per_day.get(day, 0) + units
    first = conn.execute(select(func.min(demand_history.c.day)).where(demand_history.c.sku_id == sku_id)
                         ).scalar_one_or_none()
    return per_day, first
