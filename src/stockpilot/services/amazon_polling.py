"""Amazon by polling: FBA inventory summaries and orders read through the SP-API on a durable timer.

Amazon has no webhooks for these (its notifications need an SQS queue), so Stockpilot asks. The `amazon.poll`
timer of each Amazon channel fires every `poll_seconds`; its handler (inside the firing transaction) only asks
for an `amazon.poll` outbox row and books the next timer, so the HTTP work runs in a worker outside any
transaction, retried with backoff when Amazon throttles or is down. The poll reads:
- GET /fba/inventory/v1/summaries (granularityType=Marketplace, details=true, every nextToken page), since the
  last poll's start (`startDateTime`; the first poll reads every summary);
- GET /orders/v0/orders (LastUpdatedAfter = the newest LastUpdateDate seen, minus an overlap, every page) and, per
  order, GET /orders/v0/orders/{id}/orderItems;
and stores every change it found as an inbound delivery (topics in adapters/channels/amazon.py), in one
transaction with the cursors and a decision. From there they travel the webhooks' path exactly: the
`channel.webhook` handler applies them once through the core (orders commit / cancel / fulfil; a count is a `set`
entry at the channel's FBA location with the watermark and echo rules), and what cannot be applied is parked.
Re-reading an overlap is harmless: a summary is keyed by its content, an order by its id and LastUpdateDate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.channels.amazon import INVENTORY_TOPIC, ORDER_TOPIC
from stockpilot.adapters.channels.payload import timestamp
from stockpilot.adapters.channels.sp_api import SpApi
from stockpilot.adapters.db import amazon_store, channel_store, delivery_intake_store
from stockpilot.adapters.db.delivery_intake_store import NewDelivery
from stockpilot.domain.errors import NotFound
from stockpilot.runtime import decisions, outbox, timers
from stockpilot.services.amazon_schedule import POLL_TIMER, poll_key, schedule_poll
from stockpilot.services.context import Context
from stockpilot.services.webhook_intake import PROCESS_TOPIC

POLL_TOPIC = "amazon.poll"
FIRST_ORDER_LOOKBACK = timedelta(days=1)  # a new channel starts with the orders changed in the last day
ORDER_OVERLAP = timedelta(minutes=5)  # Amazon's order index is eventually consistent: read a little back

ApiFor = Callable[[dict[str, Any]], SpApi]


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def sp_api_for(channel: dict[str, Any]) -> SpApi:
    return SpApi(api_url=channel["api_url"], lwa_url=channel["lwa_url"], client_id=channel["lwa_client_id"],
                 client_secret=channel["secret"], refresh_token=channel["api_token"] or "")


class AmazonPolling:
    def __init__(self, ctx: Context, api_for: ApiFor = sp_api_for) -> None:
        self.ctx = ctx
        self.api_for = api_for
        # One client per account for the process's life: its access token and usage-plan buckets carry over
        # from one poll to the next, as Amazon counts them.
        self._apis: dict[tuple[Any, ...], SpApi] = {}

    # ---- the schedule ----------------------------------------------------------------------------------------
    def schedule_all(self) -> int:
        """Every Amazon channel without a pending poll gets one now (a worker calls this on start)."""

        def work(conn: Connection) -> int:
            now = self.ctx.clock.now()
            missing = [c for c in amazon_store.amazon_channels(conn)
                       if not timers.has_scheduled(conn, poll_key(c["name"]), POLL_TIMER)]
            for channel in missing:
                schedule_poll(conn, channel["name"], now, now)
            return len(missing)

        return self.ctx.db.write(work)

    def timer_handlers(self) -> dict[str, timers.TimerHandler]:
        return {POLL_TIMER: self._on_timer}

    def _on_timer(self, conn: Connection, payload: dict[str, Any]) -> None:
        now = self.ctx.clock.now()
        channel = channel_store.channel_where(conn, name=payload["channel"])
        account = amazon_store.account(conn, channel["id"]) if channel else None
        if channel is None or account is None or not channel["active"]:
            return  # the channel is gone or switched off: the chain of polls ends here
        outbox.enqueue(conn, POLL_TOPIC, {"channel": channel["name"]},
                       f"{poll_key(channel['name'])}:{now.isoformat()}", now, max_attempts=5)
        schedule_poll(conn, channel["name"], now + timedelta(seconds=account["poll_seconds"]), now)

    # ---- one poll (the outbox handler) -----------------------------------------------------------------------
    def __call__(self, payload: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        return self.poll(payload["channel"])

    def poll(self, name: str) -> dict[str, Any]:
        with self.ctx.db.read() as conn:
            channel = next((c for c in amazon_store.amazon_channels(conn) if c["name"] == name), None)
            if channel is None:
                raise NotFound(f"no active amazon channel {name!r}")
            since_inventory = amazon_store.cursor(conn, channel["id"], "inventory")
            since_orders = amazon_store.cursor(conn, channel["id"], "orders")
        started = self.ctx.clock.now()
        api = self._api(channel)
        marketplace = channel["marketplace_id"]
        found: list[NewDelivery] = []
        for summary in api.inventory_summaries(marketplace, since_inventory):
            found.append(self._summary(channel, summary, marketplace, started))
        orders_after = (timestamp(since_orders, "cursor") - ORDER_OVERLAP) if since_orders \
            else started - FIRST_ORDER_LOOKBACK
        newest_order = since_orders
        for order in api.orders(marketplace, _iso(orders_after)):
            items = api.order_items(str(order["AmazonOrderId"]))
            found.append(self._order(channel, order, items))
            updated = str(order.get("LastUpdateDate") or "")
            if updated and (newest_order is None or timestamp(updated, "LastUpdateDate")
                            > timestamp(newest_order, "cursor")):
                newest_order = updated

        def work(conn: Connection) -> dict[str, Any]:
            now = self.ctx.clock.now()
            stored = delivery_intake_store.store(conn, found, now, PROCESS_TOPIC)
            new = sum(1 for _, duplicate in stored if not duplicate)
            amazon_store.move_cursor(conn, channel["id"], "inventory", _iso(started), now)
            if newest_order:
                amazon_store.move_cursor(conn, channel["id"], "orders", newest_order, now)
            outcome = {"channel": name, "summaries": sum(1 for d in found if d.topic == INVENTORY_TOPIC),
                       "orders": sum(1 for d in found if d.topic == ORDER_TOPIC), "new": new,
                       "unchanged": len(found) - new, "calls": api.calls}
            decisions.record(
                conn, f"channel:{name}", "amazon_poll",
                {"inventory_since": since_inventory, "orders_since": _iso(orders_after)}, [], outcome,
                f"polled FBA inventory and orders: {new} change(s) stored for processing, "
                f"{len(found) - new} already known", now)
            return outcome

        return self.ctx.db.write(work)

    def _api(self, channel: dict[str, Any]) -> SpApi:
        key = (channel["id"], channel["api_url"], channel["lwa_url"], channel["lwa_client_id"], channel["secret"],
               channel["api_token"])
        if key not in self._apis:
            self._apis[key] = self.api_for(channel)
        return self._apis[key]

    @staticmethod
    def _summary(channel: dict[str, Any], summary: dict[str, Any], marketplace: str,
                 polled: datetime) -> NewDelivery:
        content = json.dumps(summary, sort_keys=True, separators=(",", ":")).encode()
        body = json.dumps({**summary, "marketplaceId": marketplace, "polledAt": _iso(polled)}).encode()
        key = f"summary:{hashlib.sha256(content).hexdigest()}"
        if not summary.get("lastUpdatedTime"):
            # Without Amazon's time, equal content at two polls may be a count that went away and came back.
            key += f"@{_iso(polled)}"
        return NewDelivery(channel["id"], INVENTORY_TOPIC, key, None,
                           {"x-amazon-operation": "getInventorySummaries"}, body)

    @staticmethod
    def _order(channel: dict[str, Any], order: dict[str, Any], items: list[dict[str, Any]]) -> NewDelivery:
        key = f"order:{order.get('AmazonOrderId')}:{order.get('LastUpdateDate')}"
        body = json.dumps({"order": order, "items": items}).encode()
        return NewDelivery(channel["id"], ORDER_TOPIC, key[:255], None, {"x-amazon-operation": "getOrders"}, body)
