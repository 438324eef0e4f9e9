"""Purchasing use cases for people and for the runtime: the review queue, acknowledgements, receipts, escalation.

People (API, CLI): list and show POs, approve / edit / reject what is in review, acknowledge on a supplier's
behalf, receive, cancel. The runtime: the `replenishment` event consumer, the flush and escalation timers, and the
outcome hook that learns whether a PO reached its supplier.
Escalation: a sent PO not acknowledged after `ack_reminder_hours` alerts staff; after `ack_deadline_hours` it is
cancelled and re-routed to the next-ranked supplier. A PO the outbox could not deliver is re-routed as well.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.db import po_store, supplier_store
from stockpilot.adapters.suppliers.ack import AckTokenError, verify_ack
from stockpilot.adapters.suppliers.edi_ack import PurchaseOrderAck
from stockpilot.domain.alerts import ESCALATION, PO_FAILED
from stockpilot.domain.errors import Conflict, NotFound, ValidationFailed
from stockpilot.domain.purchasing import UNSENT_STATUSES, POStatus
from stockpilot.runtime import decisions, outbox, timers
from stockpilot.runtime.consumers import Consumer
from stockpilot.services.context import Context
from stockpilot.services.lookups import require_sku
from stockpilot.services.purchase_orders import (
    ACK_DEADLINE,
    ACK_REMINDER,
    TOPICS,
    PurchaseOrders,
    eta_for,
    summarise,
)
from stockpilot.services.replenishment import CONSUMER, FLUSH, Replenishment
from stockpilot.services.secrets import app_secret
from stockpilot.services.staff_alerts import Alert, StaffAlerts
from stockpilot.services.suppliers import require_supplier

PLAN_TIMER = "plan.daily"
PLAN_KEY = "plan"
PLAN_TOPIC = "plan.recompute"


class PurchasingService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.pos = PurchaseOrders(ctx)
        self.replenishment = Replenishment(ctx, self.pos)
        self.alerts = StaffAlerts(ctx)

    # ---- reading ---------------------------------------------------------------------------------------------
    def list(self, *, status: str | None = None, sku: str | None = None, after: int = 0,
             limit: int = 100) -> list[dict[str, Any]]:
        if status is not None and status not in POStatus.__members__.values():
            raise ValidationFailed(f"unknown status {status!r}; one of {', '.join(s.value for s in POStatus)}")
        with self.ctx.db.read() as conn:
            sku_id = require_sku(conn, sku).id if sku else None
            return [summarise(r) for r in po_store.list_pos(conn, status=status, sku_id=sku_id, after=after,
                                                            limit=limit)]

    def get(self, ref: str | int) -> dict[str, Any]:
        with self.ctx.db.read() as conn:
            return self.pos.describe(conn, self._resolve(conn, ref))

    # ---- the review queue --------------------------------------------------------------------------------------
    def approve(self, ref: str | int, *, supplier: str | None = None, quantities: dict[str, int] | None = None,
                note: str | None = None, by: str | None = None) -> dict[str, Any]:
        """Send a PO in review, optionally after changing its supplier and quantities (a person's edit).
        `by` names the person (dashboard user or token) in the decision log."""
        def act(conn: Connection, row: dict[str, Any], now: datetime) -> None:
            changes = self._edit(conn, row, supplier, quantities, now)
            self.pos.send(conn, row["id"], now)
            who = f"approved by {by}" if by else "approved by a person"
            decisions.record(conn, row["number"], "review", {"supplier": supplier, "quantities": quantities,
                                                             "changes": changes, "by": by},
                             [], {"action": "approve"}, note or (who + (f" after editing: {changes}" if changes
                                                                         else "")), now)

        return self._review(ref, "approved", act)

    def edit(self, ref: str | int, *, supplier: str | None = None,
             quantities: dict[str, int] | None = None, by: str | None = None) -> dict[str, Any]:
        def act(conn: Connection, row: dict[str, Any], now: datetime) -> None:
            changes = self._edit(conn, row, supplier, quantities, now)
            if changes:
                decisions.record(conn, row["number"], "review", {"supplier": supplier, "quantities": quantities,
                                                                 "changes": changes, "by": by},
                                 [], {"action": "edit"}, f"edited by {by or 'a person'}: {changes}", now)

        return self._review(ref, "edited", act)

    def reject(self, ref: str | int, reason: str, *, by: str | None = None) -> dict[str, Any]:
        if not reason or not reason.strip():
            raise ValidationFailed("a rejection needs a reason")

        def act(conn: Connection, row: dict[str, Any], now: datetime) -> None:
            self.pos.cancel(conn, row["id"], f"rejected: {reason.strip()}", now, tell_supplier=False)
            decisions.record(conn, row["number"], "review", {"by": by} if by else {}, [], {"action": "reject"},
                             reason.strip() + (f" (rejected by {by})" if by else ""), now)

        return self._review(ref, "rejected", act)

    def _review(self, ref: str | int, verb: str,
                act: Callable[[Connection, dict[str, Any], datetime], None]) -> dict[str, Any]:
        """Lock a PO that is still in review (or a draft), act on it, and describe the result."""
        def work(conn: Connection) -> dict[str, Any]:
            po_id = self._resolve(conn, ref)
            row = po_store.lock_po(conn, po_id)
            assert row is not None
            if POStatus(row["status"]) not in UNSENT_STATUSES:
                raise Conflict(f"{row['number']} is {row['status']}: only a PO in review can be {verb}")
            act(conn, row, self.ctx.clock.now())
            return self.pos.describe(conn, po_id)

        return self.ctx.db.write(work)

    def _edit(self, conn: Connection, row: dict[str, Any], supplier: str | None,
              quantities: dict[str, int] | None, now: datetime) -> str:
        """Apply a person's changes; returns them in words ("TEE 3 -> 12, supplier -> ACME"), "" for none."""
        lines = {ln["sku"]: ln for ln in po_store.lines(conn, row["id"])}
        words = [f"{sku} {lines[sku]['quantity']} -> {q}" for sku, q in (quantities or {}).items()
                 if sku in lines and lines[sku]["quantity"] != q]
        for sku, quantity in (quantities or {}).items():
            if sku not in lines:
                raise ValidationFailed(f"{sku} is not on {row['number']}")
            if type(quantity) is not int or quantity <= 0:
                raise ValidationFailed(f"quantity for {sku} must be a positive integer, got {quantity!r}")
            po_store.set_line_quantity(conn, row["id"], lines[sku]["sku_id"], quantity)
        if supplier is not None:
            chosen = require_supplier(conn, supplier)
            offers = {o["sku_id"]: o for o in supplier_store.offers_of_supplier(conn, chosen["id"])}
            for line in lines.values():
                offer = offers.get(line["sku_id"])
                cost = Decimal(offer["unit_cost"]) if offer else None
                po_store.set_line_cost(conn, row["id"], line["sku_id"], cost)
            po_store.set_supplier(conn, row["id"], chosen["id"], chosen["currency"], now)
            leads = [o["lead_time_days"] for o in offers.values() if o["sku_id"] in
                     {ln["sku_id"] for ln in lines.values()}]
            if leads:  # the ETA follows the supplier: its slowest line
                po_store.set_eta(conn, row["id"], eta_for(now.date(), max(leads)), now)
        if quantities or supplier:
            po_store.history(conn, row["id"], row["status"], row["revision"],
                             "edited: " + ", ".join([*(f"{s}={q}" for s, q in (quantities or {}).items()),
                                                     *([f"supplier={supplier}"] if supplier else [])]), now)
        return ", ".join([*words, *([f"supplier -> {supplier}"] if supplier else [])])

    # ---- acknowledgements and receipts ------------------------------------------------------------------------
    def acknowledge(self, ref: str | int, *, via: str = "api", supplier_reference: str | None = None,
                    confirmed: dict[str, int] | None = None, revision: int | None = None,
                    eta: date | None = None) -> dict[str, Any]:
        def work(conn: Connection) -> dict[str, Any]:
            po_id = self._resolve(conn, ref)
            self.pos.acknowledge(conn, po_id, via=via, now=self.ctx.clock.now(),
                                 supplier_reference=supplier_reference, confirmed=confirmed, revision=revision,
                                 eta=eta)
            return self.pos.describe(conn, po_id)

        return self.ctx.db.write(work)

    def acknowledge_link(self, token: str) -> dict[str, Any]:
        """The supplier clicked the signed link in the PO email."""
        def work(conn: Connection) -> dict[str, Any]:
            now = self.ctx.clock.now()
            secret = self.ctx.settings.secret_key or app_secret(conn, "ack", now)
            try:
                number, revision = verify_ack(token, secret, now)
            except AckTokenError as exc:
                raise ValidationFailed(str(exc)) from None
            po_id = self._resolve(conn, number)
            self.pos.acknowledge(conn, po_id, via="signed link", now=now, revision=revision)
            return self.pos.describe(conn, po_id)

        return self.ctx.db.write(work)

    def acknowledge_855(self, acks: list[PurchaseOrderAck]) -> dict[str, Any]:
        """Apply the POs acknowledged in one X12 855 interchange; a rejection is cancelled and re-routed."""
        def work(conn: Connection) -> dict[str, Any]:
            now = self.ctx.clock.now()
            results = []
            for ack in acks:
                po_id = self._resolve(conn, ack.po_number)
                row = po_store.po_row(conn, po_id=po_id)
                assert row is not None
                if ack.status == "rejected":
                    why = f"rejected by {row['supplier']} (855 {ack.ack_type})"
                    self.pos.cancel(conn, po_id, why, now, tell_supplier=False)
                    replacements = self.replenishment.reroute(conn, row, why)
                    decisions.record(conn, row["number"], "escalation", {"ack_type": ack.ack_type}, [],
                                     {"action": "reroute", "replacements": [p["number"] for p in replacements]},
                                     why, now)
                else:
                    by_line = {ln["line_no"]: ln["sku"] for ln in po_store.lines(conn, po_id)}
                    confirmed: dict[str, int] = {}
                    for line in ack.lines:
                        if line.line in by_line:
                            confirmed[by_line[line.line]] = confirmed.get(by_line[line.line], 0) + int(line.quantity)
                    dates = [line.ship_date for line in ack.lines if line.ship_date]  # the PO comes whole
                    self.pos.acknowledge(conn, po_id, via=f"EDI 855 ({ack.status})", now=now,
                                         supplier_reference=ack.supplier_reference, confirmed=confirmed,
                                         eta=max(dates) if dates else None)
                results.append({"number": row["number"], "status": ack.status})
            return {"acknowledged": results}

        return self.ctx.db.write(work)

    def receive(self, ref: str | int, quantities: dict[str, int], *, idempotency_key: str,
                location: str | None = None) -> dict[str, Any]:
        if not idempotency_key or not idempotency_key.strip():
            raise ValidationFailed("idempotency_key is required")

        def work(conn: Connection) -> dict[str, Any]:
            po_id = self._resolve(conn, ref)
            result = self.pos.receive(conn, po_id, quantities, key=idempotency_key.strip(),
                                      now=self.ctx.clock.now(), location=location)
            return {**self.pos.describe(conn, po_id), "replayed": result["replayed"]}

        return self.ctx.db.write(work)

    def close(self, ref: str | int, reason: str | None = None) -> dict[str, Any]:
        def work(conn: Connection) -> dict[str, Any]:
            po_id = self._resolve(conn, ref)
            self.pos.close(conn, po_id, reason or "closed by a person", self.ctx.clock.now())
            return self.pos.describe(conn, po_id)

        return self.ctx.db.write(work)

    def cancel(self, ref: str | int, reason: str) -> dict[str, Any]:
        def work(conn: Connection) -> dict[str, Any]:
            po_id = self._resolve(conn, ref)
            self.pos.cancel(conn, po_id, reason or "cancelled by a person", self.ctx.clock.now())
            return self.pos.describe(conn, po_id)

        return self.ctx.db.write(work)

    def flush_now(self) -> list[dict[str, Any]]:
        """Flush every pending request at once (CLI `stockpilot replenish`, tests)."""
        def work(conn: Connection) -> list[dict[str, Any]]:
            groups = sorted({r["group_key"] for r in po_store.all_requests(conn)})
            return [po for group in groups for po in self.replenishment.flush(conn, group)]

        return self.ctx.db.write(work)

    # ---- runtime wiring ----------------------------------------------------------------------------------------
    def consumer(self) -> Consumer:
        return Consumer(CONSUMER, self.replenishment.on_event, kinds={"Oversold", "StockChanged"})

    def timer_handlers(self) -> dict[str, Any]:
        return {FLUSH: self._on_flush, ACK_REMINDER: self._on_reminder, ACK_DEADLINE: self._on_deadline,
                PLAN_TIMER: self._on_plan_timer}

    def schedule_planning(self) -> bool:
        """Make sure the daily recompute is scheduled (a worker calls this on start); True if it scheduled it."""
        def work(conn: Connection) -> bool:
            if timers.has_scheduled(conn, PLAN_KEY, PLAN_TIMER):
                return False
            now = self.ctx.clock.now()
            timers.schedule(conn, PLAN_TIMER, PLAN_KEY, now, {}, now=now)
            return True

        return self.ctx.db.write(work)

    def _on_plan_timer(self, conn: Connection, payload: dict[str, Any]) -> None:
        # A timer handler must stay quick and inside its transaction: it only asks for the recompute (an outbox
        # row, run by a worker outside any transaction) and books tomorrow's.
        now = self.ctx.clock.now()
        hours = self.ctx.settings.plan_every_hours
        outbox.enqueue(conn, PLAN_TOPIC, {"requested_at": now.isoformat()}, f"plan:{now.isoformat()}", now)
        timers.schedule(conn, PLAN_TIMER, PLAN_KEY, now + timedelta(hours=hours), {}, now=now)

    def outcome_hooks(self) -> dict[str, outbox.OutcomeHook]:
        return dict.fromkeys(TOPICS.values(), _DeliveryOutcome(self))

    def _on_flush(self, conn: Connection, payload: dict[str, Any]) -> None:
        self.replenishment.flush(conn, payload["group"])

    def _on_reminder(self, conn: Connection, payload: dict[str, Any]) -> None:
        now = self.ctx.clock.now()
        row = po_store.po_row(conn, po_id=payload["po_id"])
        if row is None or row["status"] != POStatus.SENT.value:
            return
        hours = self.ctx.settings.ack_reminder_hours
        text = (f"{row['number']} to {row['supplier']} has not been acknowledged after {hours:g} h. "
                f"It will be cancelled and re-routed after {self.ctx.settings.ack_deadline_hours:g} h.")
        po_store.history(conn, row["id"], row["status"], row["revision"], f"staff alerted: no acknowledgement "
                         f"after {hours:g} h", now)
        decisions.record(conn, row["number"], "escalation", {"sent_at": row["sent_at"].isoformat(), "hours": hours},
                         ["alert staff", "wait"], {"action": "alert_staff"}, text, now)
        self.alerts.raise_alert(conn, Alert(  # routed like every staff alert (staff_alerts.py): its own decision
            ESCALATION, row["number"], f"{row['number']}:ack_reminder", supplier=row["supplier"],
            path=f"/purchase-orders/{row['number']}",
            values={"number": row["number"], "supplier": row["supplier"], "hours": hours,
                    "deadline_hours": self.ctx.settings.ack_deadline_hours}))

    def _on_deadline(self, conn: Connection, payload: dict[str, Any]) -> None:
        now = self.ctx.clock.now()
        row = po_store.po_row(conn, po_id=payload["po_id"])
        if row is None or row["status"] != POStatus.SENT.value:
            return
        why = f"not acknowledged within {self.ctx.settings.ack_deadline_hours:g} h"
        self.pos.cancel(conn, row["id"], why, now)
        replacements = self.replenishment.reroute(conn, row, why)
        decisions.record(conn, row["number"], "escalation", {"sent_at": row["sent_at"].isoformat()},
                         ["cancel and re-route", "keep waiting"],
                         {"action": "reroute", "replacements": [p["number"] for p in replacements]},
                         f"{why}: cancelled, re-routed to " +
                         (", ".join(p["number"] for p in replacements) or "nobody (no other supplier)"), now)

    def _resolve(self, conn: Connection, ref: str | int) -> int:
        text = str(ref).strip()
        row = (po_store.po_row(conn, po_id=int(text)) if text.isdigit()
               else po_store.po_row(conn, number=text.upper()))
        if row is None:
            raise NotFound(f"unknown purchase order {ref!r}")
        return row["id"]


class _DeliveryOutcome:
    """The outbox's final word on a PO delivery, recorded in the same transaction as the outcome."""

    def __init__(self, service: PurchasingService) -> None:
        self.service = service

    def delivered(self, conn: Connection, payload: dict[str, Any], idempotency_key: str, now: datetime,
                  result: Any = None) -> None:
        self.service.pos.delivered(conn, payload["po_number"], payload["revision"], now)
        if isinstance(result, dict) and result.get("acknowledged") and payload.get("kind") != "cancel":
            row = po_store.po_row(conn, number=payload["po_number"])
            if row is not None:
                by_line = {ln["line_no"]: ln["sku"] for ln in po_store.lines(conn, row["id"])}
                confirmed = {by_line[ln["line"]]: ln["quantity_confirmed"] for ln in result.get("lines", [])
                             if ln.get("line") in by_line}
                dates = [date.fromisoformat(ln["ship_date"]) for ln in result.get("lines", [])
                         if ln.get("ship_date")]  # checked by the adapter (http_api.py)
                with suppress(Conflict):  # cancelled meanwhile: a late acknowledgement changes nothing
                    self.service.pos.acknowledge(conn, row["id"], via="supplier API", now=now,
                                                 supplier_reference=result.get("supplier_reference"),
                                                 confirmed=confirmed, revision=payload["revision"],
                                                 eta=max(dates) if dates else None)

    def dead(self, conn: Connection, payload: dict[str, Any], idempotency_key: str, error: str,
             now: datetime) -> None:
        if payload.get("kind") == "cancel":
            row = po_store.po_row(conn, number=payload["po_number"])
            if row is not None:
                po_store.history(conn, row["id"], row["status"], row["revision"],
                                 f"the cancellation could not be delivered: {error[:300]}", now)
            return
        failed = self.service.pos.fail_delivery(conn, payload["po_number"], error, now)
        if failed is None:
            return
        why = f"delivery failed: {error[:200]}"
        replacements = self.service.replenishment.reroute(conn, failed, why)
        decisions.record(conn, failed["number"], "escalation", {"error": error[:500]},
                         ["re-route to the next supplier"],
                         {"action": "reroute", "replacements": [p["number"] for p in replacements]},
                         f"{why}; re-routed to " +
                         (", ".join(p["number"] for p in replacements) or "nobody (no other supplier)"), now)
        self.service.alerts.raise_alert(conn, Alert(
            PO_FAILED, failed["number"], f"{failed['number']}:delivery_failed:{idempotency_key}",
            supplier=failed["supplier"], path=f"/purchase-orders/{failed['number']}",
            values={"number": failed["number"], "supplier": failed["supplier"], "error": error[:300],
                    "replacements": [p["number"] for p in replacements]}))
