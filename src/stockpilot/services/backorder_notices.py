"""Customer backorder notices: backordered (with an ETA), a new date when it moves beyond the margin, shipped; and the
signed cancel link.

The `backorder_notices` consumer reads StockChanged events (a pure filter keeps only the few that matter):
- `commit` leaving the SKU's total available below zero: the order named by the event's reference may be short.
  Its short lines are computed from state (units go to the oldest open orders first, as receipts release them);
  if any, and the order has a customer email or phone, one `backorder_notices` row is claimed and one outbox row
  written (key `backorder:<order>:1`), so a replayed event, or a second short line, sends nothing more. The notice
  and the later ones go by email when there is an address, else as a text (`backorder.sms`, one SMS segment where
  the reference allows, with a short-MAC cancel link); orders carry no channel preference to choose otherwise.
- `incoming` / `receive` (a PO sent, re-routed, cancelled, received): every order still waiting for that SKU has
  its ETA recomputed; an email goes out only when it moved by more than `backorder_eta_margin_days` from the date
  the customer was last told (`worth_an_update`), keyed by the notice count.
- `SupplyRedated` (a sent PO's expected date moved: a supplier's acknowledgement with a date, or a supplier's lead
  time or availability for the SKU changed): re-dated exactly as for `incoming`, with the same margin rule.
- `fulfil`: the waiting order shipped: one last notice. `cancel`: the notice row closes, nothing is sent.
ETA: this order's place in the SKU's queue of open orders, against the open POs' expected dates (soonest first);
beyond what is on order, today + the shortest lead time of a supplier offering the SKU; otherwise unknown.
Every notice, and every re-dating kept quiet by the margin, is a `backorder_notice` decision on the order reference.

Cancel link: GET shows a confirmation page (changes nothing, so mail scanners that follow links are harmless);
POST verifies the HMAC, then in one transaction cancels the order through the core (`OrderService.cancel_in`), closes
the notice, queues the cancel on the channel it came from when the channel keeps API credentials
(`channel.cancel_order`: BigCommerce, Shopify, WooCommerce) and records the decision. A second POST finds the order
cancelled and changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.channels.order_cancel import CANCELLABLE_KINDS
from stockpilot.adapters.channels.order_cancel import TOPIC as CANCEL_TOPIC
from stockpilot.adapters.db import backorder_store as store
from stockpilot.adapters.db import channel_store
from stockpilot.adapters.notify.alert_templates import render
from stockpilot.adapters.notify.cancel_link import CancelTokenInvalid, sign_cancel, verify_cancel
from stockpilot.adapters.notify.notice_email import TOPIC
from stockpilot.adapters.notify.notice_sms import TOPIC as SMS_TOPIC
from stockpilot.domain.backorders import eta_for_units, order_eta, worth_an_update
from stockpilot.domain.errors import Conflict, ValidationFailed
from stockpilot.domain.purchasing import SUPPLY_REDATED
from stockpilot.runtime import decisions, outbox
from stockpilot.runtime.consumers import Consumer, Event
from stockpilot.services.context import Context
from stockpilot.services.orders import OrderService
from stockpilot.services.secrets import app_secret

CONSUMER = "backorder_notices"
_REDATING = ("incoming", "receive")


def wanted(event: Event) -> bool:
    """The StockChanged events that can start, re-date or end a notice (every other stock change is stepped over),
    and every SupplyRedated (a sent PO rescheduled, a supplier's lead time changed: re-date)."""
    if event.kind == SUPPLY_REDATED:
        return True
    movement = event.payload.get("movement")
    if movement == "commit":
        return int(event.payload.get("total_available", 0)) < 0
    return movement in ("fulfil", "cancel", *_REDATING)


class BackorderNotices:
    def __init__(self, ctx: Context, orders: OrderService) -> None:
        self.ctx = ctx
        self.orders = orders

    # ---- the runtime ---------------------------------------------------------------------------------------------
    def consumer(self) -> Consumer:
        return Consumer(CONSUMER, self.on_event, kinds={"StockChanged", SUPPLY_REDATED}, accepts=wanted)

    def on_event(self, conn: Connection, event: Event) -> None:
        if not self.ctx.settings.backorder_notices or not wanted(event):
            return
        movement = event.payload.get("movement") or f"{event.kind}: {event.payload.get('cause')}"
        if movement in _REDATING or event.kind == SUPPLY_REDATED:
            sku_id = store.sku_id_of(conn, event.sku)
            for order_id in store.waiting_orders_of_sku(conn, sku_id) if sku_id is not None else []:
                self._redate(conn, order_id, f"event {event.id} ({movement} of {event.sku})")
            return
        reference = event.payload.get("reference")
        order = store.order_by_reference(conn, str(reference)) if reference else None
        if order is None:
            return  # a reservation's hold (its order, when committed, has its own commit event) or another source
        if movement == "commit" and order["status"] == "open":
            self._first_notice(conn, order, f"event {event.id}")
        elif movement == "fulfil":
            self._shipped(conn, order)
        elif movement == "cancel":
            notice = store.notice(conn, order["id"], lock=True)
            if notice and notice["status"] == "backordered":
                store.update_notice(conn, order["id"], self.ctx.clock.now(), status="cancelled")

    def _first_notice(self, conn: Connection, order: dict[str, Any], trigger: str) -> None:
        short = store.short_lines(conn, order["id"])
        if not short:
            return
        now = self.ctx.clock.now()
        contact = store.contact(conn, order["id"]) or {"email": None, "phone": None}
        eta = self._eta(conn, order["id"], short, now.date())
        inputs = {"trigger": trigger, "short": [{"sku": s["sku"], "units": s["units"]} for s in short],
                  "eta": _iso(eta)}
        if contact["email"] is None and contact["phone"] is None:
            decisions.record(conn, order["reference"], "backorder_notice", inputs, [], None,
                             "backordered, but the order has no customer email or phone: nobody told", now)
            return
        # An address wins; the phone is kept only when the notices are texts.
        email, phone = contact["email"], None if contact["email"] else contact["phone"]
        if not store.claim_notice(conn, order["id"], email, phone, eta, now):
            return  # already told (a replayed event, another short line of the same order)
        notice = {"email": email, "phone": phone}
        self._tell(conn, "backorder_placed", order, notice, short, eta, None, f"backorder:{order['id']}:1", now)
        decisions.record(conn, order["reference"], "backorder_notice", inputs, ["tell the customer"],
                         {"notice": "backordered", "eta": _iso(eta), "by": _by(notice)},
                         f"{_items(short)} short: customer told by {_by(notice)}, expected "
                         f"{_iso(eta) or 'date unknown'}", now)

    def _redate(self, conn: Connection, order_id: int, trigger: str) -> None:
        notice = store.notice(conn, order_id, lock=True)
        if notice is None or notice["status"] != "backordered":
            return
        now = self.ctx.clock.now()
        order = store.order_by_reference_id(conn, order_id)
        short = store.short_lines(conn, order_id)
        if not short:
            return  # covered now (released by a receipt): the shipped notice follows the fulfilment
        eta, told = self._eta(conn, order_id, short, now.date()), notice["eta"]
        if eta == told:
            return
        margin = self.ctx.settings.backorder_eta_margin_days
        inputs = {"trigger": trigger, "told": _iso(told), "eta": _iso(eta), "margin_days": margin}
        if not worth_an_update(told, eta, margin):
            decisions.record(conn, order["reference"], "backorder_notice", inputs, ["tell", "stay quiet"], None,
                             f"expected date moved {_iso(told)} -> {_iso(eta)}, within {margin} day(s): not sent",
                             now)
            return
        count = notice["notices"] + 1
        store.update_notice(conn, order_id, now, eta=eta, notices=count)
        self._tell(conn, "backorder_eta", order, notice, short, eta, told, f"backorder:{order_id}:{count}", now)
        decisions.record(conn, order["reference"], "backorder_notice", inputs, ["tell", "stay quiet"],
                         {"notice": "eta_changed", "eta": _iso(eta), "by": _by(notice)},
                         f"expected date moved {_iso(told)} -> {_iso(eta)}, more than {margin} day(s): customer "
                         "told", now)

    def _shipped(self, conn: Connection, order: dict[str, Any]) -> None:
        notice = store.notice(conn, order["id"], lock=True)
        if notice is None or notice["status"] != "backordered":
            return
        now = self.ctx.clock.now()
        store.update_notice(conn, order["id"], now, status="shipped", notices=notice["notices"] + 1)
        self._tell(conn, "backorder_shipped", order, notice, [], None, None, f"backorder:{order['id']}:shipped", now)
        decisions.record(conn, order["reference"], "backorder_notice", {"status": "fulfilled"}, [],
                         {"notice": "shipped", "by": _by(notice)},
                         f"the backordered order shipped: customer told by {_by(notice)}", now)

    def _eta(self, conn: Connection, order_id: int, short: list[dict[str, Any]], today: date) -> date | None:
        return order_eta(
            eta_for_units(store.units_needed_through(conn, line["sku_id"], order_id),
                          store.open_supply(conn, line["sku_id"]), today,
                          store.shortest_lead_days(conn, line["sku_id"]))
            for line in short)

    def _tell(self, conn: Connection, template: str, order: dict[str, Any], notice: dict[str, Any],
              short: list[dict[str, Any]], eta: date | None, told: date | None, key: str, now: datetime) -> None:
        """One notice, by email when the notice row has an address, else as a text to its phone."""
        values = {"reference": _display(order["reference"]), "eta": _iso(eta), "told": _iso(told)}
        if notice["email"] is None:
            text, _ = render(f"{template}_sms", {**values, "cancel_url": self.cancel_url(conn, order["id"], now,
                                                                                         short=True)})
            outbox.enqueue(conn, SMS_TOPIC, {"to": notice["phone"], "body": text, "order": values["reference"]},
                           key, now)
            return
        items = _items(short) if short else ", ".join(store.line_skus(conn, order["id"]))
        subject, body = render(template, {**values, "items": items,
                                          "cancel_url": self.cancel_url(conn, order["id"], now)})
        outbox.enqueue(conn, TOPIC, {"to": notice["email"], "subject": subject, "body": body}, key, now)

    def cancel_url(self, conn: Connection, order_id: int, now: datetime, *, short: bool = False) -> str:
        token = sign_cancel(order_id, app_secret(conn, "backorder", now), short=short)
        return f"{self.ctx.settings.public_url.rstrip('/')}/backorders/cancel/{token}"

    # ---- the signed cancel link ----------------------------------------------------------------------------------
    def preview(self, token: str) -> dict[str, Any]:
        """What the link would cancel (GET: nothing changes)."""
        with self.ctx.db.read() as conn:
            order = self._order_of(conn, token)
            return {"reference": _display(order["reference"]), "status": order["status"],
                    "items": ", ".join(store.line_skus(conn, order["id"]))}

    def cancel(self, token: str) -> dict[str, Any]:
        """The customer confirmed: cancel through the core, once. Returns {"reference", "cancelled": bool}."""
        def work(conn: Connection) -> dict[str, Any]:
            now = self.ctx.clock.now()
            order = self._order_of(conn, token)
            notice = store.notice(conn, order["id"], lock=True)
            if order["status"] == "cancelled":
                return {"reference": _display(order["reference"]), "cancelled": False, "status": "cancelled"}
            if order["status"] != "open":
                raise Conflict(f"order {_display(order['reference'])} has {order['status']}: it cannot be cancelled")
            described = self.orders.cancel_in(conn, order["id"])  # locks the order; a racing POST waits, then sees it
            if described["status"] != "cancelled":
                raise Conflict(f"order {_display(order['reference'])} is {described['status']}")
            if notice is not None:
                store.update_notice(conn, order["id"], now, status="cancelled")
            on_channel = self._cancel_on_channel(conn, order, now)
            decisions.record(conn, order["reference"], "backorder_cancel", {"via": "signed link"},
                             ["cancel", "keep waiting"], {"action": "cancel", "channel": on_channel},
                             "the customer chose to cancel the backordered order from the notice's signed link; "
                             f"on the channel: {on_channel}", now)
            return {"reference": _display(order["reference"]), "cancelled": True, "status": "cancelled"}

        return self.ctx.db.write(work)

    def _cancel_on_channel(self, conn: Connection, order: dict[str, Any], now: datetime) -> str:
        """Queue the cancel on the store the order came from, where its API allows; say what happened."""
        channel = channel_store.channel_where(conn, name=order["source"])
        if channel is None:
            return "none (not a channel order)"
        if channel["kind"] not in CANCELLABLE_KINDS or not channel.get("api_token"):
            return f"not supported for {channel['kind']}: cancel it on the platform"
        outbox.enqueue(conn, CANCEL_TOPIC, {"channel": channel["name"], "order_id": _display(order["reference"])},
                       f"channel-cancel:{order['id']}", now)
        return f"{CANCEL_TOPIC} queued for {channel['name']}"

    def channel_named(self, name: str) -> dict[str, Any] | None:
        """For the `channel.cancel_order` handler: the channel's row (with its API credentials)."""
        with self.ctx.db.read() as conn:
            return channel_store.channel_where(conn, name=name)

    def _order_of(self, conn: Connection, token: str) -> dict[str, Any]:
        try:
            order_id = verify_cancel(token, app_secret(conn, "backorder", self.ctx.clock.now()))
        except CancelTokenInvalid as exc:
            raise ValidationFailed(str(exc)) from None
        order = store.order_by_reference_id(conn, order_id, lock=True)
        if order is None:
            raise ValidationFailed("cancel link names no order")
        return order


def _by(notice: dict[str, Any]) -> str:
    return "email" if notice["email"] else "sms"


def _items(short: list[dict[str, Any]]) -> str:
    return ", ".join(f"{s['units']} x {s['sku']}" for s in short)


def _display(reference: str) -> str:
    """What the customer knows the order as: a channel order's own id, not Stockpilot's `<kind>:<store>:` prefix."""
    return reference.rsplit(":", 1)[-1]


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
