"""The purchase-order lifecycle: create, send, amend, acknowledge, receive, cancel — each a conditional transition.

Every step runs inside the caller's transaction (`conn`), so the PO's status, the ledger's `incoming`, the outbox
row that tells the supplier, the escalation timers and the decision log commit together or not at all.
Ledger: sending a PO adds its quantities to `incoming` at the ship-to location (movement kind `incoming`);
receiving moves units from `incoming` to `on_hand` (kind `receive`); cancelling takes what is still outstanding
off `incoming`. Drafts and POs in review are not `incoming` yet: the supplier has not been asked.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, case, select

from stockpilot.adapters.db import ledger, po_store, supplier_store
from stockpilot.adapters.db.catalog_store import location_ref, sku_ref_by_id
from stockpilot.adapters.db.history_store import movement_by_key
from stockpilot.adapters.db.ledger import LocationRef, SkuRef
from stockpilot.adapters.db.tables import locations, skus
from stockpilot.adapters.suppliers.ack import sign_ack
from stockpilot.adapters.suppliers.document import (
    TOPIC_EDI,
    TOPIC_EMAIL,
    TOPIC_HTTP,
    Buyer,
    Kind,
    Line,
    PurchaseOrderDocument,
    Supplier,
)
from stockpilot.domain.errors import Conflict, NotFound, ValidationFailed
from stockpilot.domain.model import Delta, MovementKind
from stockpilot.domain.purchasing import OPEN_STATUSES, SUPPLY_REDATED, UNSENT_STATUSES, POStatus
from stockpilot.runtime import decisions, outbox, timers
from stockpilot.services.context import Context
from stockpilot.services.secrets import app_secret

_DUE = (POStatus.SENT, POStatus.ACKNOWLEDGED, POStatus.PARTIALLY_RECEIVED)  # committed to a supplier, units due

TOPICS = {"email": TOPIC_EMAIL, "http": TOPIC_HTTP, "edi": TOPIC_EDI}
ACK_REMINDER = "po.ack_reminder"
ACK_DEADLINE = "po.ack_deadline"
ACK_LINK_DAYS = 30


def timer_key(po_id: int) -> str:
    return f"po:{po_id}"


class PurchaseOrders:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # ---- creating and sending ------------------------------------------------------------------------
    def create(
        self,
        conn: Connection,
        *,
        supplier: dict[str, Any] | None,
        location: LocationRef,
        lines: list[tuple[SkuRef, int, Decimal | None]],
        trigger: str,
        review: list[str],
        now: datetime,
        eta: date | None = None,
        needed_by: date | None = None,
        parent_id: int | None = None,
        tried: list[str] | None = None,
    ) -> dict[str, Any]:
        """A new PO; sent at once unless `review` holds reasons for a person to look first."""
        status = POStatus.NEEDS_REVIEW if review else POStatus.DRAFT
        po_id, number = po_store.insert_po(conn, {
            "supplier_id": supplier["id"] if supplier else None,
            "location_id": location.id,
            "status": status.value,
            "revision": 0,
            "trigger": trigger,
            "parent_id": parent_id,
            "review_reason": "; ".join(review) or None,
            "currency": supplier["currency"] if supplier else "USD",
            "needed_by": needed_by,
            "eta": eta,
            "tried_suppliers": (tried or []) + ([supplier["code"]] if supplier else []),
        }, now)
        for line_no, (sku, quantity, unit_cost) in enumerate(lines, start=1):
            po_store.insert_line(conn, po_id, line_no, sku.id, quantity, unit_cost)
        po_store.history(conn, po_id, status.value, 0, "; ".join(review) or f"drafted ({trigger})", now)
        if not review:
            self.send(conn, po_id, now)
        return {"id": po_id, "number": number, "status": POStatus.SENT.value if not review else status.value}

    def send(self, conn: Connection, po_id: int, now: datetime) -> None:
        """draft/needs_review -> sent: `incoming` goes up, the supplier is told, the escalation clock starts."""
        row = po_store.po_row(conn, po_id=po_id)
        assert row is not None
        if row["supplier_id"] is None:
            raise ValidationFailed(f"{row['number']} has no supplier: choose one before sending")
        if not po_store.move(conn, po_id, UNSENT_STATUSES, {"status": POStatus.SENT.value, "sent_at": now,
                                                           "review_reason": None}, now):
            raise Conflict(f"{row['number']} is {row['status']}, it cannot be sent")
        location = LocationRef(row["location_id"], row["location"], 0)
        for line in po_store.lines(conn, po_id):
            self._incoming(conn, line, location, line["quantity"], f"po:{po_id}:r0:incoming:{line['sku_id']}", row,
                           now)
        po_store.history(conn, po_id, POStatus.SENT.value, row["revision"], None, now)
        self._enqueue_delivery(conn, po_id, "new", now)
        hours = self.ctx.settings
        timers.schedule(conn, ACK_REMINDER, timer_key(po_id), now + timedelta(hours=hours.ack_reminder_hours),
                        {"po_id": po_id}, now=now)
        timers.schedule(conn, ACK_DEADLINE, timer_key(po_id), now + timedelta(hours=hours.ack_deadline_hours),
                        {"po_id": po_id}, now=now)

    def grow(self, conn: Connection, po_id: int, sku: SkuRef, extra: int, now: datetime) -> str:
        """More units of `sku` on an open PO that is not yet acknowledged. Returns what was done."""
        row = po_store.lock_po(conn, po_id)
        assert row is not None
        status = POStatus(row["status"])
        current = {ln["sku_id"]: ln for ln in po_store.lines(conn, po_id)}
        line = current.get(sku.id)
        if line is None:
            cost = _offer_cost(conn, row["supplier_id"], sku.id)
            po_store.insert_line(conn, po_id, len(current) + 1, sku.id, extra, cost)
            line = {"sku_id": sku.id, "sku": sku.sku, "quantity": 0}
        else:
            po_store.set_line_quantity(conn, po_id, sku.id, line["quantity"] + extra)
        if status in UNSENT_STATUSES:
            po_store.history(conn, po_id, status.value, row["revision"], f"{sku.sku} +{extra} (draft edited)", now)
            return "edit_draft"
        if status is not POStatus.SENT:
            raise Conflict(f"PO {row['number']} is {status.value}: a larger need takes a top-up PO")
        revision = row["revision"] + 1
        po_store.move(conn, po_id, {POStatus.SENT}, {"revision": revision}, now)
        full = po_store.po_row(conn, po_id=po_id)
        assert full is not None
        location = LocationRef(row["location_id"], full["location"], 0)
        self._incoming(conn, {**line, "sku_id": sku.id}, location, extra,
                       f"po:{po_id}:r{revision}:incoming:{sku.id}", full, now)
        po_store.history(conn, po_id, POStatus.SENT.value, revision, f"change order: {sku.sku} +{extra}", now)
        self._enqueue_delivery(conn, po_id, "change", now)
        return "change_order"

    # ---- the supplier's answer -------------------------------------------------------------------------
    def acknowledge(self, conn: Connection, po_id: int, *, via: str, now: datetime,
                    supplier_reference: str | None = None, confirmed: dict[str, int] | None = None,
                    revision: int | None = None, eta: date | None = None) -> bool:
        """sent -> acknowledged (once; a repeat is a no-op returning False). Stops the escalation clock. An `eta`
        (the supplier's promised date) reschedules the PO, also on a repeat acknowledgement (a reschedule)."""
        row = po_store.lock_po(conn, po_id)
        if row is None:
            raise NotFound(f"unknown purchase order {po_id}")
        if revision is not None and revision < row["revision"]:
            # An acknowledgement of an older revision does not cover the change order sent since.
            po_store.history(conn, po_id, row["status"], row["revision"],
                             f"acknowledgement of revision {revision} via {via} ignored: "
                             f"revision {row['revision']} is current", now)
            return False
        if eta is not None:
            self.reschedule(conn, row, eta, f"acknowledged via {via}", now)
        values: dict[str, Any] = {"status": POStatus.ACKNOWLEDGED.value, "acknowledged_at": now}
        if supplier_reference:
            values["supplier_reference"] = supplier_reference[:128]
        if not po_store.move(conn, po_id, {POStatus.SENT}, values, now):
            if POStatus(row["status"]) in (POStatus.ACKNOWLEDGED, POStatus.PARTIALLY_RECEIVED, POStatus.RECEIVED,
                                           POStatus.CLOSED):
                return False
            raise Conflict(f"{row['number']} is {row['status']}, it cannot be acknowledged")
        for sku, quantity in (confirmed or {}).items():
            sku_id = _sku_id(conn, sku)
            if sku_id is not None:
                po_store.set_confirmed(conn, po_id, sku_id, quantity)
        timers.cancel(conn, timer_key(po_id), now)
        po_store.history(conn, po_id, POStatus.ACKNOWLEDGED.value, row["revision"], f"via {via}", now)
        return True

    def reschedule(self, conn: Connection, row: dict[str, Any], eta: date, why: str, now: datetime) -> bool:
        """A sent PO's expected date moves: recorded, and a `SupplyRedated` event per SKU, so what waits on the PO
        (customer backorder ETAs) is recomputed. Only POs still due count; the same date again changes nothing."""
        if row["eta"] == eta or POStatus(row["status"]) not in _DUE:
            return False
        po_store.set_eta(conn, row["id"], eta, now)
        po_store.history(conn, row["id"], row["status"], row["revision"],
                         f"expected {row['eta'].isoformat() if row['eta'] else 'no date'} -> {eta.isoformat()} "
                         f"({why})", now)
        for sku in sorted({ln["sku"] for ln in po_store.lines(conn, row["id"])}):
            po_store.record_event(conn, SUPPLY_REDATED, sku, None,
                                  {"cause": "po_eta", "po": row["number"], "eta": eta.isoformat(),
                                   "was": row["eta"].isoformat() if row["eta"] else None}, now)
        return True

    def delivered(self, conn: Connection, po_number: str, revision: int, now: datetime) -> None:
        row = po_store.po_row(conn, number=po_number)
        if row is None:
            return
        po_store.mark_delivered(conn, row["id"], now)
        po_store.history(conn, row["id"], row["status"], revision, "delivered to the supplier", now)

    # ---- receiving ---------------------------------------------------------------------------------------
    def receive(self, conn: Connection, po_id: int, quantities: dict[str, int], *, key: str, now: datetime,
                location: str | None = None) -> dict[str, Any]:
        """Put received units on hand: partial and over-receipt allowed. `key` makes a retried receipt one receipt."""
        row = po_store.lock_po(conn, po_id)
        if row is None:
            raise NotFound(f"unknown purchase order {po_id}")
        status = POStatus(row["status"])
        if status not in (POStatus.SENT, POStatus.ACKNOWLEDGED, POStatus.PARTIALLY_RECEIVED):
            raise Conflict(f"{row['number']} is {status.value}: only a sent PO can be received")
        full = po_store.po_row(conn, po_id=po_id)
        assert full is not None
        where = location_ref(conn, location) if location else LocationRef(row["location_id"], full["location"], 0)
        if where is None:
            raise NotFound(f"unknown location {location!r}", location=location)
        by_sku = {ln["sku"]: ln for ln in po_store.lines(conn, po_id)}
        unknown = set(quantities) - set(by_sku)
        if unknown:
            raise ValidationFailed(f"not on {row['number']}: {', '.join(sorted(unknown))}")
        if not quantities or any(type(q) is not int or q <= 0 for q in quantities.values()):
            raise ValidationFailed("received quantities must be positive integers, one per SKU on the PO")
        applied_any = False
        for sku, quantity in sorted(quantities.items()):
            line = by_sku[sku]
            outstanding = max(0, line["quantity"] - line["received"])
            # Over-receipt: the extra units go on hand; `incoming` only comes down by what was outstanding, and only
            # where it was counted (the ship-to location).
            off_incoming = min(quantity, outstanding) if where.id == row["location_id"] else 0
            if off_incoming == 0 and where.id != row["location_id"] and outstanding:
                self._incoming(conn, line, LocationRef(row["location_id"], full["location"], 0),
                               -min(quantity, outstanding), f"po:{po_id}:receive:{key}:{line['sku_id']}:moved", full,
                               now)
            sku_ref = sku_ref_by_id(conn, line["sku_id"])
            applied = ledger.apply(
                conn, sku=sku_ref, location=where, kind=MovementKind.RECEIVE,
                delta=Delta(on_hand=quantity, incoming=-off_incoming), floor=None, source="purchase_order",
                reference=row["number"], idempotency_key=f"po:{po_id}:receive:{key}:{line['sku_id']}", now=now,
                reason=f"received against {row['number']}",
            ) if not _movement_exists(conn, f"po:{po_id}:receive:{key}:{line['sku_id']}") else None
            if applied is not None:
                po_store.add_received(conn, po_id, line["sku_id"], quantity)
                applied_any = True
                self._release_backorders(conn, sku_ref, where, applied.location_after.on_hand - quantity,
                                         applied.location_after.on_hand, row["number"], now)
        lines_now = po_store.lines(conn, po_id)
        complete = all(ln["received"] >= ln["quantity"] for ln in lines_now)
        if applied_any:
            new_status = POStatus.RECEIVED if complete else POStatus.PARTIALLY_RECEIVED
            values: dict[str, Any] = {"status": new_status.value}
            if complete:
                values["received_at"] = now
            po_store.move(conn, po_id, {status}, values, now)
            po_store.history(conn, po_id, new_status.value, row["revision"],
                             ", ".join(f"{s} +{q}" for s, q in sorted(quantities.items())), now)
            timers.cancel(conn, timer_key(po_id), now)  # goods arriving answer the question an ack would have
            if complete:
                po_store.release_in_flight(conn, po_id)
        return {"number": row["number"], "replayed": not applied_any,
                "lines": [{"sku": ln["sku"], "quantity": ln["quantity"], "received": ln["received"]}
                          for ln in lines_now]}

    def _release_backorders(self, conn: Connection, sku: SkuRef, location: LocationRef, before: int, after: int,
                            number: str, now: datetime) -> None:
        """Orders waiting for these units, oldest first, are now covered: say so (notices, fulfilment follow)."""
        released = po_store.released_backorders(conn, sku.id, location.id, before, after)
        for order in released:
            po_store.record_event(conn, "BackorderReleased", sku.sku, location.code,
                                  {**order, "purchase_order": number}, now)
        if released:
            decisions.record(conn, sku.sku, "backorder_release",
                             {"on_hand_before": before, "on_hand_after": after, "purchase_order": number},
                             [], [o["reference"] for o in released],
                             f"{len(released)} backordered order(s) covered by the receipt on {number}, oldest "
                             "first", now)

    def close(self, conn: Connection, po_id: int, reason: str, now: datetime) -> bool:
        """received / partially_received -> closed: a short shipment is accepted, the rest is no longer expected."""
        row = po_store.lock_po(conn, po_id)
        if row is None:
            raise NotFound(f"unknown purchase order {po_id}")
        status = POStatus(row["status"])
        if not po_store.move(conn, po_id, {POStatus.PARTIALLY_RECEIVED, POStatus.RECEIVED},
                             {"status": POStatus.CLOSED.value}, now):
            if status is POStatus.CLOSED:
                return False
            raise Conflict(f"{row['number']} is {status.value}: only a received PO can be closed (cancel a sent one)")
        self._withdraw_outstanding(conn, po_id, "close", now)
        po_store.release_in_flight(conn, po_id)
        timers.cancel(conn, timer_key(po_id), now)
        po_store.history(conn, po_id, POStatus.CLOSED.value, row["revision"], reason, now)
        return True

    # ---- cancelling ----------------------------------------------------------------------------------------
    def cancel(self, conn: Connection, po_id: int, reason: str, now: datetime, *, tell_supplier: bool = True) -> bool:
        row = po_store.lock_po(conn, po_id)
        if row is None:
            raise NotFound(f"unknown purchase order {po_id}")
        status = POStatus(row["status"])
        cancellable = {POStatus.DRAFT, POStatus.NEEDS_REVIEW, POStatus.SENT, POStatus.ACKNOWLEDGED,
                       POStatus.DELIVERY_FAILED}
        if not po_store.move(conn, po_id, cancellable, {"status": POStatus.CANCELLED.value}, now):
            if status is POStatus.CANCELLED:
                return False
            raise Conflict(f"{row['number']} is {status.value}, it cannot be cancelled")
        if row["sent_at"] is not None:  # its units were counted as incoming: take off what is still outstanding
            self._withdraw_outstanding(conn, po_id, "cancel", now)
        po_store.release_in_flight(conn, po_id)
        timers.cancel(conn, timer_key(po_id), now)
        po_store.history(conn, po_id, POStatus.CANCELLED.value, row["revision"], reason, now)
        if tell_supplier and row["sent_at"] is not None and status is not POStatus.DELIVERY_FAILED:
            self._enqueue_delivery(conn, po_id, "cancel", now)
        return True

    def fail_delivery(self, conn: Connection, po_number: str, error: str, now: datetime) -> dict[str, Any] | None:
        """The outbox gave up on telling the supplier: the PO cannot count as incoming any more."""
        row = po_store.po_row(conn, number=po_number)
        if row is None or not po_store.move(conn, row["id"], {POStatus.SENT}, {
            "status": POStatus.DELIVERY_FAILED.value, "delivery_error": error[:2000]}, now):
            return None
        self._withdraw_outstanding(conn, row["id"], "failed", now)
        po_store.release_in_flight(conn, row["id"])
        timers.cancel(conn, timer_key(row["id"]), now)
        po_store.history(conn, row["id"], POStatus.DELIVERY_FAILED.value, row["revision"], error[:500], now)
        return row

    # ---- reading ----------------------------------------------------------------------------------------
    def describe(self, conn: Connection, po_id: int) -> dict[str, Any]:
        row = po_store.po_row(conn, po_id=po_id)
        if row is None:
            raise NotFound(f"unknown purchase order {po_id}")
        lines = po_store.lines(conn, po_id)
        total = sum((Decimal(ln["unit_cost"]) * ln["quantity"] for ln in lines if ln["unit_cost"]), Decimal(0))
        return {
            **summarise(row),
            "lines": [{"line": ln["line_no"], "sku": ln["sku"], "title": ln["title"], "quantity": ln["quantity"],
                       "unit_cost": ln["unit_cost"], "received": ln["received"], "confirmed": ln["confirmed"]}
                      for ln in lines],
            "total": str(total),
            "timeline": [{**t, "at": t["at"].isoformat()} for t in po_store.timeline(conn, po_id)],
            "decisions": [
                {"kind": d.kind, "reason": d.reason, "choice": d.choice, "at": d.created_at.isoformat()}
                for d in decisions.list_for(conn, row["number"])
            ],
        }

    # ---- internals ------------------------------------------------------------------------------------------
    def _withdraw_outstanding(self, conn: Connection, po_id: int, why: str, now: datetime) -> None:
        """What the PO will no longer bring comes off `incoming` (cancelled, undeliverable, closed short)."""
        row = po_store.po_row(conn, po_id=po_id)
        assert row is not None
        location = LocationRef(row["location_id"], row["location"], 0)
        for line in po_store.lines(conn, po_id):
            outstanding = line["quantity"] - line["received"]
            if outstanding > 0:
                self._incoming(conn, line, location, -outstanding, f"po:{po_id}:{why}:{line['sku_id']}", row, now)

    def _incoming(self, conn: Connection, line: dict[str, Any], location: LocationRef, quantity: int, key: str,
                  row: dict[str, Any], now: datetime) -> None:
        ledger.apply(conn, sku=sku_ref_by_id(conn, line["sku_id"]), location=location, kind=MovementKind.INCOMING,
                     delta=Delta(incoming=quantity), floor=None, source="purchase_order", reference=row["number"],
                     idempotency_key=key, now=now)

    def document(self, conn: Connection, po_id: int, kind: Kind, now: datetime) -> PurchaseOrderDocument:
        row = po_store.po_row(conn, po_id=po_id)
        assert row is not None and row["supplier_id"] is not None
        supplier = supplier_store.supplier_by_id(conn, row["supplier_id"])
        assert supplier is not None
        offers = {o["sku_id"]: o for o in supplier_store.offers_of_supplier(conn, supplier["id"])}
        settings = self.ctx.settings
        secret = settings.secret_key or app_secret(conn, "ack", now)
        token = sign_ack(row["number"], row["revision"], secret, now + timedelta(days=ACK_LINK_DAYS))
        return PurchaseOrderDocument(
            po_number=row["number"],
            revision=row["revision"],
            kind=kind,
            supplier=Supplier(
                code=supplier["code"], name=supplier["name"], currency=supplier["currency"],
                email=supplier["email"], api_url=supplier["api_url"], api_token=supplier["api_token"],
                edi_dir=supplier["edi_dir"], edi_sender_id=settings.edi_sender_id,  # None: the default drop
                edi_receiver_id=supplier["edi_id"],
            ),
            buyer=Buyer(name=settings.buyer_name, email=settings.mail_from,
                        address_lines=tuple(p.strip() for p in settings.buyer_address.split("|") if p.strip())),
            lines=tuple(
                Line(line=ln["line_no"], sku=ln["sku"], title=ln["title"] or ln["sku"], quantity=ln["quantity"],
                     unit_cost=Decimal(ln["unit_cost"] or "0"),
                     supplier_sku=(offers.get(ln["sku_id"]) or {}).get("supplier_sku"))
                for ln in po_store.lines(conn, po_id)
            ),
            issued_at=now,
            needed_by=row["needed_by"],
            notes=f"Ship to {row['location']}." + (f" Expected by {row['eta']}." if row["eta"] else ""),
            ack_url=f"{settings.public_url.rstrip('/')}/ack/{token}",
        )

    def _enqueue_delivery(self, conn: Connection, po_id: int, kind: Kind, now: datetime) -> None:
        row = po_store.po_row(conn, po_id=po_id)
        assert row is not None
        supplier = supplier_store.supplier_by_id(conn, row["supplier_id"])
        assert supplier is not None
        doc = self.document(conn, po_id, kind, now)
        outbox.enqueue(conn, TOPICS[supplier["delivery_method"]], doc.to_payload(),
                       f"po:{row['number']}:r{row['revision']}:{kind}", now)


def summarise(row: dict[str, Any]) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": row["id"], "number": row["number"], "status": row["status"], "revision": row["revision"],
        "supplier": row.get("supplier"), "location": row.get("location"), "trigger": row["trigger"],
        "review_reason": row["review_reason"], "currency": row["currency"], "parent_id": row["parent_id"],
        "needed_by": iso(row["needed_by"]), "eta": iso(row["eta"]), "created_at": iso(row["created_at"]),
        "sent_at": iso(row["sent_at"]), "delivered_at": iso(row["delivered_at"]),
        "acknowledged_at": iso(row["acknowledged_at"]), "received_at": iso(row["received_at"]),
        "supplier_reference": row["supplier_reference"], "delivery_error": row["delivery_error"],
        "open": POStatus(row["status"]) in OPEN_STATUSES,
    }


def eta_for(today: date, lead_time_days: float) -> date:
    return today + timedelta(days=math.ceil(lead_time_days))


def _sku_id(conn: Connection, sku: str) -> int | None:
    return conn.execute(select(skus.c.id).where(skus.c.sku == sku)).scalar_one_or_none()


def _offer_cost(conn: Connection, supplier_id: int | None, sku_id: int) -> Decimal | None:
    if supplier_id is None:
        return None
    for offer in supplier_store.offers_of_supplier(conn, supplier_id):
        if offer["sku_id"] == sku_id:
            return Decimal(offer["unit_cost"])
    return None


def _movement_exists(conn: Connection, key: str) -> bool:
    return movement_by_key(conn, key) is not None


def ship_to(conn: Connection) -> LocationRef:
    """The default receiving location: the warehouse first, then by priority."""
    r = conn.execute(
        select(locations.c.id, locations.c.code, locations.c.priority)
        .order_by(case((locations.c.kind == "warehouse", 0), else_=1), locations.c.priority, locations.c.id)
        .limit(1)
    ).first()
    if r is None:
        raise ValidationFailed("no location exists to receive purchase orders")
    return LocationRef(r.id, r.code, r.priority)
