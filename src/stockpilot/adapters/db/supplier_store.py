"""Reads and writes of suppliers, their offers, and the outcomes their performance is measured from."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, case, func, insert, select, update

from stockpilot.adapters.db import raw
from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.tables import purchase_order_lines, purchase_orders, skus, supplier_offers, suppliers
from stockpilot.domain.suppliers import Offer, Performance

SUPPLIER_FIELDS = ("name", "delivery_method", "email", "api_url", "api_token", "edi_dir", "edi_id", "currency",
                   "contact", "phone", "active")
OFFER_FIELDS = ("supplier_sku", "unit_cost", "lead_time_days", "lead_time_spread_days", "moq", "pack_size",
                "capacity", "available")


def supplier_row(conn: Connection, code: str) -> dict[str, Any] | None:
    row = conn.execute(select(suppliers).where(suppliers.c.code == code)).first()
    return dict(row._mapping) if row else None


def supplier_by_id(conn: Connection, supplier_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(suppliers).where(suppliers.c.id == supplier_id)).first()
    return dict(row._mapping) if row else None


def insert_supplier(conn: Connection, code: str, values: dict[str, Any], now: datetime) -> int:
    stmt = insert(suppliers).values(code=code, created_at=now, updated_at=now, **values).returning(suppliers.c.id)
    return conn.execute(stmt).scalar_one()


def update_supplier(conn: Connection, supplier_id: int, values: dict[str, Any], now: datetime) -> None:
    conn.execute(update(suppliers).where(suppliers.c.id == supplier_id).values(updated_at=now, **values))


def list_suppliers(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(select(suppliers).order_by(suppliers.c.code))]


def insert_offer(conn: Connection, supplier_id: int, sku_id: int, values: dict[str, Any], now: datetime) -> bool:
    """Create an offer; False if one exists already (a concurrent creator won)."""
    return conn.execute(
        insert_or_ignore(conn, supplier_offers)
        .values(supplier_id=supplier_id, sku_id=sku_id, updated_at=now, **values)
        .on_conflict_do_nothing()
        .returning(supplier_offers.c.sku_id)
    ).first() is not None


def update_offer(conn: Connection, supplier_id: int, sku_id: int, values: dict[str, Any], now: datetime) -> None:
    conn.execute(
        update(supplier_offers)
        .where(supplier_offers.c.supplier_id == supplier_id, supplier_offers.c.sku_id == sku_id)
        .values(updated_at=now, **values)
    )


def offers_of_supplier(conn: Connection, supplier_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(supplier_offers, skus.c.sku)
        .join(skus, skus.c.id == supplier_offers.c.sku_id)
        .where(supplier_offers.c.supplier_id == supplier_id)
        .order_by(skus.c.sku)
    )
    return [dict(r._mapping) for r in rows]


def offers_for_sku(conn: Connection, sku_id: int) -> list[dict[str, Any]]:
    """Offers of active suppliers for a SKU, with the supplier's row fields needed to order."""
    rows = conn.execute(
        select(supplier_offers, suppliers.c.code, suppliers.c.delivery_method, suppliers.c.currency)
        .join(suppliers, suppliers.c.id == supplier_offers.c.supplier_id)
        .where(supplier_offers.c.sku_id == sku_id, suppliers.c.active.is_(True))
        .order_by(suppliers.c.code)
    )
    return [dict(r._mapping) for r in rows]


def performance(conn: Connection, supplier_ids: list[int], now: datetime, days: int = 30
                ) -> dict[int, Performance]:
    """Fill rate, on-time rate, actual lead time and delivery success from the POs sent in the last `days` days."""
    if not supplier_ids:
        return {}
    since = now - timedelta(days=days)
    po, pol = purchase_orders, purchase_order_lines
    # A PO counts once it is finished (received, closed) or late (partly received past its ETA): one still in
    # transit says nothing yet about how much of it will come.
    done = po.c.status.in_(("received", "closed")) | ((po.c.status == "partially_received") & (po.c.eta < now.date()))
    lines = (
        select(
            po.c.supplier_id,
            func.sum(case((done, pol.c.quantity), else_=0)).label("ordered"),
            # over-receipt does not lift a fill rate above what was ordered
            func.sum(case((done & (pol.c.received > pol.c.quantity), pol.c.quantity), (done, pol.c.received),
                          else_=0)).label("received"),
        )
        .join(pol, pol.c.po_id == po.c.id)
        .where(po.c.supplier_id.in_(supplier_ids), po.c.sent_at >= since)
        .group_by(po.c.supplier_id)
    )
    figures: dict[int, dict[str, Any]] = {sid: {} for sid in supplier_ids}
    for r in conn.execute(lines):
        figures[r.supplier_id]["fill"] = (min(1.0, r.received / r.ordered) if r.ordered else None)
    heads = conn.execute(
        select(po.c.supplier_id, po.c.status, po.c.sent_at, po.c.delivered_at, po.c.received_at, po.c.eta)
        .where(po.c.supplier_id.in_(supplier_ids), po.c.sent_at >= since)
    ).all()
    for sid in supplier_ids:
        mine = [h for h in heads if h.supplier_id == sid]
        received = [h for h in mine if h.received_at is not None]
        tried = [h for h in mine if h.delivered_at is not None or h.status == "delivery_failed"]
        f = figures[sid]
        f["on_time"] = (sum(1 for h in received if h.eta is None or h.received_at.date() <= h.eta) / len(received)
                        if received else None)
        f["lead"] = (sum((h.received_at - h.sent_at).total_seconds() for h in received) / 86400 / len(received)
                     if received else None)
        f["delivery"] = (sum(1 for h in tried if h.delivered_at is not None) / len(tried) if tried else None)
        f["count"] = len(mine)
    return {
        sid: Performance(f.get("fill"), f["on_time"], f["delivery"], f["lead"], f["count"])
        for sid, f in figures.items()
    }


def as_offer(row: dict[str, Any], perf: Performance) -> Offer:
    return Offer(
        supplier=row["code"],
        unit_cost=Decimal(row["unit_cost"]),
        lead_time_days=row["lead_time_days"],
        lead_time_spread_days=row["lead_time_spread_days"],
        moq=row["moq"],
        pack_size=row["pack_size"],
        capacity=row["capacity"],
        available=bool(row["available"]),
        performance=perf,
    )


_ALL_OFFERS = raw.Sql(
    "SELECT o.sku_id, o.supplier_id, s.code, o.unit_cost, o.lead_time_days, o.lead_time_spread_days, o.moq, "
    "o.pack_size, o.capacity, o.available FROM supplier_offers o JOIN suppliers s ON s.id = o.supplier_id "
    "WHERE s.active = ?"
)
_OFFER_KEYS = ("sku_id", "supplier_id", "code", "unit_cost", "lead_time_days", "lead_time_spread_days", "moq",
               "pack_size", "capacity", "available")


def all_offers(conn: Connection) -> list[dict[str, Any]]:
    """Every offer of an active supplier, with the supplier's code (planning reads them all, on the driver)."""
    found = raw.execute(conn, _ALL_OFFERS, (True,)).fetchall()
    return [dict(zip(_OFFER_KEYS, row, strict=True)) for row in found]
