"""From a signal to a purchase order: triggers, the coalescing window, the need, the supplier, the PO.

Signals: an Oversold event (from any channel) routes at once; a StockChanged event that leaves
available + incoming (+ drafts) at or below the SKU's reorder point asks for a reorder. A signal only records a
request per SKU (`replenishment_requests`) and, for the first SKU of a supplier's group, schedules one flush timer
`window` seconds later; so the signals of several channels for one SKU become one deficit, and SKUs of the same
supplier that trigger within the window share one PO. With a window of 0 the flush runs in the signalling
transaction.

The flush decides from state, not from the signals: the need is `target - position` at that moment, where
position = available + incoming + units on unsent drafts. Replays, duplicates and counts bouncing around the
reorder point therefore cannot order twice: once a PO is out, its units are `incoming` and the position is back
above the line. A SKU holds at most one amendable open PO (`sku_in_flight`); a need that outgrows it edits the
draft, sends a change order (sent, not acknowledged) or adds a top-up PO (acknowledged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from stockpilot.adapters.db import demand_series, ledger, po_store, raw, supplier_store
from stockpilot.adapters.db.catalog_store import sku_ref as load_sku_ref
from stockpilot.adapters.db.catalog_store import sku_ref_by_id
from stockpilot.adapters.db.ledger import SkuRef
from stockpilot.adapters.db.tables import sku_policies, skus
from stockpilot.domain.policy import round_order_quantity
from stockpilot.domain.purchasing import Growth, POStatus, growth_for, review_reasons
from stockpilot.domain.suppliers import Ranking, Weights, rank
from stockpilot.runtime import decisions, timers
from stockpilot.runtime.consumers import Event
from stockpilot.services.context import Context
from stockpilot.services.purchase_orders import PurchaseOrders, eta_for, ship_to

FLUSH = "replenish.flush"
CONSUMER = "replenishment"
NO_SUPPLIER = ""  # the group of SKUs without any offer: they go to review together


@dataclass(frozen=True)
class Need:
    quantity: int  # units to order (before supplier rounding); 0: nothing to do
    position: int  # available + incoming + unsent drafts
    available: int
    incoming: int
    unsent: int
    target: int  # the level an order brings the SKU back up to
    reorder_point: int | None
    source: str  # where target and reorder point come from

    def as_inputs(self) -> dict[str, Any]:
        return {"position": self.position, "available": self.available, "incoming": self.incoming,
                "unsent_drafts": self.unsent, "target": self.target, "reorder_point": self.reorder_point,
                "policy": self.source}


@dataclass
class _Bucket:
    supplier: dict[str, Any] | None
    review: list[str] = field(default_factory=list)
    lines: list[tuple[SkuRef, int, Decimal | None]] = field(default_factory=list)
    eta: date | None = None
    trigger: str = "reorder"
    parent_id: int | None = None
    tried: list[str] = field(default_factory=list)


class Replenishment:
    def __init__(self, ctx: Context, pos: PurchaseOrders) -> None:
        self.ctx = ctx
        self.pos = pos
        self.weights = Weights.parse(ctx.settings.supplier_weights) if ctx.settings.supplier_weights else Weights()

    # ---- signals -------------------------------------------------------------------------------------------
    def on_event(self, conn: Connection, event: Event) -> None:
        """The `replenishment` consumer: runs inside the transaction that moves its position past the event."""
        if event.kind == "StockChanged":
            # Every stock change comes here: one indexed read by SKU settles the common case (no reorder point,
            # or available + incoming above it) before anything else is loaded.
            quick = raw.execute(conn, _REORDER_CHECK_BY_SKU, (event.sku,)).fetchone()
            if quick is None:
                return
            if event.payload.get("movement") == "cancel":
                demand_series.mark_stale(conn, [int(quick[0])])  # a cancelled sale is not demand, whatever its day
            if quick[1] is None or quick[2] > quick[1]:
                return
        sku = load_sku_ref(conn, event.sku)
        if sku is None:
            return
        source = event.payload.get("reference") or event.payload.get("movement")
        if event.kind == "Oversold":
            self.signal(conn, sku, "oversell", source)
        elif event.kind == "StockChanged" and self._at_reorder_point(conn, sku):
            self.signal(conn, sku, "reorder", source)

    def signal(self, conn: Connection, sku: SkuRef, trigger: str, source: str | None) -> None:
        now = self.ctx.clock.now()
        group = self._group_for(conn, sku)
        opened = po_store.add_request(conn, sku.id, group, trigger, source, now)
        window = self.ctx.settings.oversell_window_seconds
        if window <= 0:
            self.flush(conn, group)
        elif opened and not timers.has_scheduled(conn, _flush_key(group), FLUSH):
            timers.schedule(conn, FLUSH, _flush_key(group), now + timedelta(seconds=window), {"group": group},
                            now=now)

    def _at_reorder_point(self, conn: Connection, sku: SkuRef) -> bool:
        # Runs for every stock change (each reservation): one indexed read settles the common case — no reorder
        # point, or available + incoming above it (drafts only add to the position, so they cannot lower it).
        quick = raw.execute(conn, _REORDER_CHECK, (sku.id,)).fetchone()
        if quick is None or quick[0] is None or quick[1] > quick[0]:
            return False
        if po_store.pending_request(conn, sku.id) is not None:
            return False  # already waiting for its flush
        need = self.need(conn, sku, "reorder")
        return need.quantity > 0 and po_store.in_flight(conn, sku.id) is None

    # ---- the flush ---------------------------------------------------------------------------------------------
    def flush(self, conn: Connection, group: str) -> list[dict[str, Any]]:
        """Turn the group's pending requests into POs (or amendments). Returns the POs created."""
        now = self.ctx.clock.now()
        today = now.date()
        buckets: dict[tuple[str, bool, int | None], _Bucket] = {}
        for request in po_store.take_requests(conn, group):
            sku = sku_ref_by_id(conn, request["sku_id"])
            ledger.lock_sku(conn, sku.id)  # one flush at a time per SKU, in SKU order
            inputs = {"trigger": request["trigger"], "signals": request["signals"], "sources": request["sources"],
                      "first_signal_at": request["first_at"].isoformat()}
            need = self.need(conn, sku, request["trigger"])
            inputs.update(need.as_inputs())
            if need.quantity <= 0:
                decisions.record(conn, sku.sku, "replenishment", inputs, [], None,
                                 f"nothing to order: position {need.position} already meets target {need.target}",
                                 now)
                continue
            trigger, parent_id, tried = request["trigger"], None, []
            flight = po_store.in_flight(conn, sku.id)
            if flight is not None:
                row = po_store.po_row(conn, po_id=flight)
                assert row is not None
                growth = growth_for(POStatus(row["status"]))
                if growth is not Growth.TOP_UP:
                    quantity = self._round_for(conn, row["supplier_id"], sku.id, need.quantity)
                    done = self.pos.grow(conn, flight, sku, quantity, now)
                    decisions.record(conn, sku.sku, "replenishment", inputs, [], {"po": row["number"],
                                     "action": done, "quantity": quantity},
                                     f"{row['number']} is {row['status']}: {done.replace('_', ' ')} +{quantity}",
                                     now)
                    continue
                trigger, parent_id, tried = "top_up", flight, []
            ranking = self._rank(conn, sku, need.quantity, today, frozenset(tried), trigger)
            self._place(conn, buckets, sku, need, ranking, inputs, trigger, parent_id, tried, today)
        return self._create(conn, buckets, now)

    def reroute(self, conn: Connection, po: dict[str, Any], why: str) -> list[dict[str, Any]]:
        """Order what `po` no longer brings from the next-ranked supplier not yet tried for it."""
        now = self.ctx.clock.now()
        tried = list(po["tried_suppliers"] or [])
        buckets: dict[tuple[str, bool, int | None], _Bucket] = {}
        for line in po_store.lines(conn, po["id"]):
            outstanding = line["quantity"] - line["received"]
            if outstanding <= 0:
                continue
            sku = sku_ref_by_id(conn, line["sku_id"])
            need = Need(outstanding, 0, 0, 0, 0, outstanding, None, f"re-route of {po['number']}")
            inputs = {"trigger": "reroute", "replaces": po["number"], "why": why, "tried": tried,
                      **need.as_inputs()}
            ranking = self._rank(conn, sku, outstanding, now.date(), frozenset(tried), "reroute")
            self._place(conn, buckets, sku, need, ranking, inputs, "reroute", po["id"], tried, now.date())
        return self._create(conn, buckets, now)

    # ---- the need and the supplier ---------------------------------------------------------------------------
    def need(self, conn: Connection, sku: SkuRef, trigger: str) -> Need:
        totals = conn.execute(select(skus.c.on_hand, skus.c.committed, skus.c.reserved, skus.c.incoming)
                              .where(skus.c.id == sku.id)).one()
        available = totals.on_hand - totals.committed - totals.reserved
        unsent = po_store.unsent_quantity(conn, sku.id)
        position = available + totals.incoming + unsent
        policy = conn.execute(select(sku_policies).where(sku_policies.c.sku_id == sku.id)).first()
        if policy is not None and policy.manual_max is not None:
            target, point, source = policy.manual_max, policy.manual_min, "manual min/max"
        elif policy is not None and policy.order_up_to is not None:
            target, point, source = policy.order_up_to, policy.reorder_point, f"computed ({policy.demand_class})"
        else:
            target, point, source = 0, None, "no policy yet: cover the deficit only"
        above_point = trigger == "reorder" and (point is None or position > point)
        quantity = 0 if above_point else max(0, target - position)
        return Need(quantity, position, available, totals.incoming, unsent, target, point, source)

    def _group_for(self, conn: Connection, sku: SkuRef) -> str:
        ranking = self._rank(conn, sku, 1, self.ctx.clock.now().date(), frozenset(), "signal")
        return ranking.chosen or NO_SUPPLIER

    def _rank(self, conn: Connection, sku: SkuRef, quantity: int, today: date, exclude: frozenset[str],
              trigger: str) -> Ranking:
        rows = supplier_store.offers_for_sku(conn, sku.id)
        perf = supplier_store.performance(conn, [r["supplier_id"] for r in rows], self.ctx.clock.now())
        offers = [supplier_store.as_offer(r, perf[r["supplier_id"]]) for r in rows]
        needed_by = today if trigger in ("oversell", "reroute", "top_up") else None
        return rank(offers, quantity, today=today, needed_by=needed_by, weights=self.weights, exclude=exclude)

    def _round_for(self, conn: Connection, supplier_id: int | None, sku_id: int, quantity: int) -> int:
        offer = next((o for o in supplier_store.offers_for_sku(conn, sku_id) if o["supplier_id"] == supplier_id),
                     None)
        if offer is None:
            return quantity
        return round_order_quantity(quantity, offer["moq"], offer["pack_size"], None)[0]

    def _place(self, conn: Connection, buckets: dict[tuple[str, bool, int | None], _Bucket], sku: SkuRef,
               need: Need, ranking: Ranking, inputs: dict[str, Any], trigger: str, parent_id: int | None,
               tried: list[str], today: date) -> None:
        offers = {o["code"]: o for o in supplier_store.offers_for_sku(conn, sku.id)}
        chosen = offers.get(ranking.chosen) if ranking.chosen else None
        quantity, capped = need.quantity, False
        unit_cost: Decimal | None = None
        if chosen is not None:
            quantity, capped = round_order_quantity(need.quantity, chosen["moq"], chosen["pack_size"],
                                                 chosen["capacity"])
            unit_cost = Decimal(chosen["unit_cost"])
        last_cost = po_store.last_unit_cost(conn, sku.id)
        reasons = review_reasons(has_offers=bool(offers), chosen=ranking.chosen,
                                 over_capacity=ranking.over_capacity or capped, unit_cost=unit_cost,
                                 last_unit_cost=last_cost)
        supplier = supplier_store.supplier_by_id(conn, chosen["supplier_id"]) if chosen else None
        # One PO per supplier: an oversell and a reorder of the same supplier in one window share it (the PO's
        # trigger is the more urgent one). Top-ups and re-routes stay apart: they answer for one earlier PO.
        key = (ranking.chosen or NO_SUPPLIER, bool(reasons), parent_id)
        bucket = buckets.setdefault(key, _Bucket(supplier, trigger=trigger, parent_id=parent_id, tried=tried))
        if trigger == "oversell":
            bucket.trigger = "oversell"
        bucket.review.extend(f"{sku.sku}: {r}" for r in reasons)
        bucket.lines.append((sku, quantity, unit_cost))
        if chosen is not None:
            eta = eta_for(today, chosen["lead_time_days"])
            bucket.eta = max(bucket.eta, eta) if bucket.eta else eta
        choice = {"supplier": ranking.chosen, "quantity": quantity, "unit_cost": str(unit_cost) if unit_cost else None,
                  "review": reasons, "capped_by_capacity": capped}
        review = f"to review: {'; '.join(reasons)}"
        reason = review if ranking.chosen is None else ranking.reason + (f"; {review}" if reasons else "")
        decisions.record(conn, sku.sku, "replenishment", {**inputs, "last_unit_cost": str(last_cost) if last_cost
                         else None}, ranking.as_options(), choice, reason, self.ctx.clock.now())

    def _create(self, conn: Connection, buckets: dict[tuple[str, bool, int | None], _Bucket],
                now: datetime) -> list[dict[str, Any]]:
        created = []
        for bucket in buckets.values():
            po = self.pos.create(conn, supplier=bucket.supplier, location=ship_to(conn), lines=bucket.lines,
                                 trigger=bucket.trigger, review=bucket.review, now=now, eta=bucket.eta,
                                 needed_by=now.date() if bucket.trigger != "reorder" else None,
                                 parent_id=bucket.parent_id, tried=bucket.tried)
            for sku, _, _ in bucket.lines:
                if not po_store.claim_in_flight(conn, sku.id, po["id"], now):
                    po_store.repoint_in_flight(conn, sku.id, po["id"])  # a top-up is now the one to amend
            decisions.record(
                conn, po["number"], "purchase_order",
                {"trigger": bucket.trigger, "lines": [{"sku": s.sku, "quantity": q} for s, q, _ in bucket.lines]},
                [], {"status": po["status"], "supplier": bucket.supplier["code"] if bucket.supplier else None},
                ("to review: " + "; ".join(bucket.review)) if bucket.review
                else f"sent to {bucket.supplier['code'] if bucket.supplier else '?'} without review",
                now,
            )
            created.append(po)
        return created


_REORDER_CHECK = raw.Sql(
    "SELECT COALESCE(p.manual_min, p.reorder_point), s.on_hand - s.committed - s.reserved + s.incoming "
    "FROM sku_policies p JOIN skus s ON s.id = p.sku_id WHERE p.sku_id = ?"
)


_REORDER_CHECK_BY_SKU = raw.Sql(
    "SELECT s.id, COALESCE(p.manual_min, p.reorder_point), s.on_hand - s.committed - s.reserved + s.incoming "
    "FROM skus s LEFT JOIN sku_policies p ON p.sku_id = s.id WHERE s.sku = ?"
)


def _flush_key(group: str) -> str:
    return f"replenish:{group or '-'}"

