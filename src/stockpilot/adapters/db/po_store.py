"""Reads and writes of purchase orders, their lines and timeline, the in-flight slot and pending requests."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from stockpilot.adapters.db.database import EVENTS_CHANNEL, request_local_wakeup
from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.tables import (
    events,
    locations,
    order_lines,
    orders,
    purchase_order_history,
    purchase_order_lines,
    purchase_orders,
    replenishment_requests,
    sku_in_flight,
    skus,
    suppliers,
)
from stockpilot.domain.purchasing import UNSENT_STATUSES, POStatus, po_number

po, pol, hist = purchase_orders, purchase_order_lines, purchase_order_history


def insert_po(conn: Connection, values: dict[str, Any], now: datetime) -> tuple[int, str]:
    po_id = conn.execute(
        insert(po).values(created_at=now, updated_at=now, **values).returning(po.c.id)
    ).scalar_one()
    number = po_number(po_id)
    conn.execute(update(po).where(po.c.id == po_id).values(number=number))
    return po_id, number


def insert_line(conn: Connection, po_id: int, line_no: int, sku_id: int, quantity: int,
                unit_cost: Decimal | None) -> None:
    conn.execute(insert(pol).values(po_id=po_id, line_no=line_no, sku_id=sku_id, quantity=quantity,
                                    unit_cost=None if unit_cost is None else str(unit_cost), received=0))


def set_line_quantity(conn: Connection, po_id: int, sku_id: int, quantity: int) -> None:
    conn.execute(update(pol).where(pol.c.po_id == po_id, pol.c.sku_id == sku_id).values(quantity=quantity))


def add_received(conn: Connection, po_id: int, sku_id: int, quantity: int) -> None:
    conn.execute(update(pol).where(pol.c.po_id == po_id, pol.c.sku_id == sku_id)
                 .values(received=pol.c.received + quantity))


def history(conn: Connection, po_id: int, status: str, revision: int, note: str | None, now: datetime) -> None:
    conn.execute(insert(hist).values(po_id=po_id, status=status, revision=revision, note=note, at=now))


def move(conn: Connection, po_id: int, expected: Collection[POStatus], values: dict[str, Any],
         now: datetime) -> bool:
    """Conditional update from one of `expected`: each transition happens once, whoever races for it."""
    changed = conn.execute(
        update(po).where(po.c.id == po_id, po.c.status.in_([s.value for s in expected]))
        .values(updated_at=now, **values)
    ).rowcount
    return changed == 1


def lock_po(conn: Connection, po_id: int) -> dict[str, Any] | None:
    stmt = select(po).where(po.c.id == po_id)
    if conn.dialect.name != "sqlite":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    return dict(row._mapping) if row else None


def po_row(conn: Connection, *, po_id: int | None = None, number: str | None = None) -> dict[str, Any] | None:
    cond = po.c.id == po_id if po_id is not None else po.c.number == number
    row = conn.execute(
        select(po, suppliers.c.code.label("supplier"), locations.c.code.label("location"))
        .outerjoin(suppliers, suppliers.c.id == po.c.supplier_id)
        .join(locations, locations.c.id == po.c.location_id)
        .where(cond)
    ).first()
    return dict(row._mapping) if row else None


def lines(conn: Connection, po_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(pol, skus.c.sku, skus.c.title).join(skus, skus.c.id == pol.c.sku_id)
        .where(pol.c.po_id == po_id).order_by(pol.c.line_no)
    )
    return [dict(r._mapping) for r in rows]


def timeline(conn: Connection, po_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(hist.c.status, hist.c.revision, hist.c.note, hist.c.at)
                        .where(hist.c.po_id == po_id).order_by(hist.c.id))
    return [dict(r._mapping) for r in rows]


def list_pos(conn: Connection, *, status: str | None = None, sku_id: int | None = None, after: int = 0,
             limit: int = 100) -> list[dict[str, Any]]:
    stmt = (
        select(po, suppliers.c.code.label("supplier"), locations.c.code.label("location"))
        .outerjoin(suppliers, suppliers.c.id == po.c.supplier_id)
        .join(locations, locations.c.id == po.c.location_id)
        .where(po.c.id > after).order_by(po.c.id).limit(limit)
    )
    if status is not None:
        stmt = stmt.where(po.c.status == status)
    if sku_id is not None:
        stmt = stmt.where(po.c.id.in_(select(pol.c.po_id).where(pol.c.sku_id == sku_id)))
    return [dict(r._mapping) for r in conn.execute(stmt)]


def count_by_status(conn: Connection) -> dict[str, int]:
    return {s: n for s, n in conn.execute(select(po.c.status, func.count()).group_by(po.c.status))}


def last_unit_cost(conn: Connection, sku_id: int, supplier_id: int | None = None) -> Decimal | None:
    """The unit cost on the most recent PO for the SKU that reached its supplier (the review queue's yardstick; a PO
    that was never delivered set no price anyone agreed to)."""
    stmt = (
        select(pol.c.unit_cost).join(po, po.c.id == pol.c.po_id)
        .where(pol.c.sku_id == sku_id, pol.c.unit_cost.is_not(None), po.c.delivered_at.is_not(None))
        .order_by(po.c.delivered_at.desc(), po.c.id.desc()).limit(1)
    )
    if supplier_id is not None:
        stmt = stmt.where(po.c.supplier_id == supplier_id)
    value = conn.execute(stmt).scalar_one_or_none()
    return Decimal(value) if value is not None else None


def unsent_quantity(conn: Connection, sku_id: int) -> int:
    """Units on drafts and POs in review: meant to come, but not yet `incoming` in the ledger."""
    return conn.execute(
        select(func.coalesce(func.sum(pol.c.quantity), 0)).join(po, po.c.id == pol.c.po_id)
        .where(pol.c.sku_id == sku_id, po.c.status.in_([s.value for s in UNSENT_STATUSES]))
    ).scalar_one()


def open_quantities(conn: Connection, sku_ids: list[int] | None, statuses: Collection[str]) -> dict[int, list[Any]]:
    """Per SKU (all of them when `sku_ids` is None): (outstanding quantity, eta) of its open POs."""
    stmt = (
        select(pol.c.sku_id, (pol.c.quantity - pol.c.received).label("outstanding"), po.c.eta)
        .join(po, po.c.id == pol.c.po_id)
        .where(po.c.status.in_(list(statuses)), pol.c.quantity > pol.c.received)
    )
    rows = conn.execute(stmt if sku_ids is None else stmt.where(pol.c.sku_id.in_(sku_ids)))
    out: dict[int, list[Any]] = {}
    for r in rows:
        out.setdefault(r.sku_id, []).append((r.outstanding, r.eta))
    return out


# ---- the in-flight slot: at most one amendable open PO per SKU ------------------------------------------------
def in_flight(conn: Connection, sku_id: int) -> int | None:
    return conn.execute(select(sku_in_flight.c.po_id).where(sku_in_flight.c.sku_id == sku_id)).scalar_one_or_none()


def claim_in_flight(conn: Connection, sku_id: int, po_id: int, now: datetime) -> bool:
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT DO NOTHING
    return conn.execute(
        insert_or_ignore(conn, sku_in_flight).values(sku_id=sku_id, po_id=po_id, since=now).on_conflict_do_nothing()
        .returning(sku_in_flight.c.sku_id)
    ).first() is not None


def repoint_in_flight(conn: Connection, sku_id: int, po_id: int) -> None:
    conn.execute(update(sku_in_flight).where(sku_in_flight.c.sku_id == sku_id).values(po_id=po_id))


def release_in_flight(conn: Connection, po_id: int) -> None:
    """The PO no longer holds any SKU's slot (received, closed, cancelled, failed)."""
    conn.execute(delete(sku_in_flight).where(sku_in_flight.c.po_id == po_id))


# ---- coalescing requests ----------------------------------------------------------------------------------------
def add_request(conn: Connection, sku_id: int, group_key: str, trigger: str, source: str | None,
                now: datetime) -> bool:
    """Record a signal; returns True when it opened a new request (the first signal of the window).

    A flush may be taking (deleting) the SKU's request at this very moment: then the row is locked, the read below
    waits for the flush and finds it gone, and the signal opens a new request instead of adding to one that no
    longer exists (adding to it would lose the signal, and with it the units the flush did not yet see).
    """
    rr = replenishment_requests
    for _ in range(3):
        created = conn.execute(
            insert_or_ignore(conn, rr)
            .values(sku_id=sku_id, group_key=group_key, trigger=trigger, signals=1,
                    sources=[source] if source else [], first_at=now)
            .on_conflict_do_nothing()
            .returning(rr.c.sku_id)
        ).first() is not None
        if created:
            return True
        lookup = select(rr).where(rr.c.sku_id == sku_id)
        row = conn.execute(lookup if conn.dialect.name == "sqlite" else lookup.with_for_update()).first()
        if row is None:
            continue  # taken by a flush between our insert and our read: open a new one
        sources = list(row.sources)
        if source and source not in sources and len(sources) < 50:
            sources.append(source)
        conn.execute(
            update(rr).where(rr.c.sku_id == sku_id)
            .values(signals=row.signals + 1, sources=sources,
                    trigger="oversell" if "oversell" in (row.trigger, trigger) else row.trigger)
        )
        return False
    raise RuntimeError(f"replenishment request for SKU {sku_id} kept vanishing")  # Database.write retries


def take_requests(conn: Connection, group_key: str) -> list[dict[str, Any]]:
    """Remove and return the group's pending requests (the flush owns them from here)."""
    rr = replenishment_requests
    stmt = select(rr).where(rr.c.group_key == group_key).order_by(rr.c.sku_id)
    if conn.dialect.name != "sqlite":
        stmt = stmt.with_for_update(skip_locked=False)
    rows = [dict(r._mapping) for r in conn.execute(stmt)]
    if rows:
        conn.execute(delete(rr).where(rr.c.sku_id.in_([r["sku_id"] for r in rows])))
    return rows


def pending_request(conn: Connection, sku_id: int) -> dict[str, Any] | None:
    row = conn.execute(
        select(replenishment_requests).where(replenishment_requests.c.sku_id == sku_id)
    ).first()
    return dict(row._mapping) if row else None


def set_confirmed(conn: Connection, po_id: int, sku_id: int, quantity: int) -> None:
    conn.execute(update(pol).where(pol.c.po_id == po_id, pol.c.sku_id == sku_id).values(confirmed=quantity))


def mark_delivered(conn: Connection, po_id: int, now: datetime) -> None:
    """First successful delivery of any revision: the supplier's channel works (its delivery success rate)."""
    conn.execute(update(po).where(po.c.id == po_id, po.c.delivered_at.is_(None)).values(delivered_at=now))


def set_line_cost(conn: Connection, po_id: int, sku_id: int, unit_cost: Decimal | None) -> None:
    conn.execute(update(pol).where(pol.c.po_id == po_id, pol.c.sku_id == sku_id)
                 .values(unit_cost=None if unit_cost is None else str(unit_cost)))


def set_supplier(conn: Connection, po_id: int, supplier_id: int, currency: str, now: datetime) -> None:
    conn.execute(update(po).where(po.c.id == po_id).values(supplier_id=supplier_id, currency=currency,
                                                           updated_at=now))


def set_eta(conn: Connection, po_id: int, eta: date, now: datetime) -> None:
    conn.execute(update(po).where(po.c.id == po_id).values(eta=eta, updated_at=now))


def all_requests(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(select(replenishment_requests))]


def released_backorders(conn: Connection, sku_id: int, location_id: int, on_hand_before: int,
                        on_hand_after: int) -> list[dict[str, Any]]:
    """Open order lines (oldest first) that on_hand now covers but did not cover before: backorders released.

    Units go to the oldest open orders first, so line k is covered when the outstanding units of it and every
    older line fit in on_hand.
    """
    outstanding = order_lines.c.quantity - order_lines.c.fulfilled - order_lines.c.cancelled
    rows = conn.execute(
        select(orders.c.id, orders.c.reference, orders.c.source, outstanding.label("outstanding"))
        .join(orders, orders.c.id == order_lines.c.order_id)
        .where(order_lines.c.sku_id == sku_id, order_lines.c.location_id == location_id, orders.c.status == "open",
               outstanding > 0)
        .order_by(orders.c.id, order_lines.c.id)
    )
    released, cumulative = [], 0
    for r in rows:
        cumulative += r.outstanding
        if cumulative > on_hand_after:
            break
        if cumulative > on_hand_before:
            released.append({"order_id": r.id, "reference": r.reference, "source": r.source,
                             "quantity": r.outstanding})
    return released


def record_event(conn: Connection, kind: str, sku: str, location: str | None, payload: dict[str, Any],
                 now: datetime) -> None:
    """A domain event outside the ledger's own (e.g. BackorderReleased), in the caller's transaction."""
    conn.execute(insert(events).values(kind=kind, sku=sku, location=location, payload=payload, created_at=now))
    request_local_wakeup(conn, EVENTS_CHANNEL)
