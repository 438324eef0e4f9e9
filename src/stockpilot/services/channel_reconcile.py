"""Reconciliation: compare what each channel shows with the available-to-sell Stockpilot would push, and fix it.

`drift(channel)` reads, per listed SKU and channel location, the value a push would set now and the channel's own
count (through the platform's list endpoints, page by page: Shopify a location's inventoryLevels connection,
WooCommerce products / variations, BigCommerce inventory items). `fix(channel)` sends the corrected values through
the normal push path: for every line that differs, the acknowledged value is forgotten and a push is queued in the
same transaction, so the outbox, the coalescing (batches included), the throttling and the decision log all apply
as for any other push.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.channels.push import ChannelCounter
from stockpilot.adapters.db import channel_push_store as store
from stockpilot.adapters.db import channel_store
from stockpilot.domain.errors import NotFound, ValidationFailed
from stockpilot.runtime import decisions
from stockpilot.services.channel_push import DECISION, ChannelPushes
from stockpilot.services.context import Context


class ChannelReconcile:
    def __init__(self, ctx: Context, pushes: ChannelPushes) -> None:
        self.ctx = ctx
        self.pushes = pushes

    def drift(self, channel: str) -> list[dict[str, Any]]:
        """One row per (SKU, channel item): Stockpilot's available-to-sell, the channel's count, their difference
        (channel - Stockpilot; None when the channel does not track the item) or why the line cannot be read."""
        row, counter = self._channel(channel)
        with self.ctx.db.read() as conn:  # every listed SKU's plan in one snapshot, a few queries for all
            listed = store.listed_skus(conn, row["name"])
            plans = self.pushes.plans(conn, row["id"], [sku_id for sku_id, _ in listed], force=True) if listed else {}
        lines = [line for plan in plans.values() for line, _ in plan["lines"]]
        # One paged read of the channel's lists for all of them (not one request per item).
        counts = counter.read_counts(next(iter(plans.values()))["account"], lines) if lines else {}
        report: list[dict[str, Any]] = []
        for sku_id, sku in listed:
            plan = plans[sku_id]
            for problem in plan["unmapped"]:
                report.append({"sku": sku, "item_key": None, "available_to_sell": None, "channel": None,
                               "drift": None, "problem": problem})
            for line, entry in plan["lines"]:
                seen = counts.get(entry["item_key"])
                report.append({"sku": sku, "sku_id": sku_id, "item_key": entry["item_key"],
                               "location_id": entry["location_id"], "locations": entry["locations"],
                               "available_to_sell": line.quantity, "channel": seen,
                               "drift": None if seen is None else seen - line.quantity,
                               "problem": None if seen is not None else "the channel does not track this item"})
        return report

    def fix(self, channel: str) -> dict[str, Any]:
        report = self.drift(channel)
        wrong = [r for r in report if r["drift"] not in (None, 0)]
        row, _ = self._channel(channel)

        def work(conn: Connection) -> int:
            now = self.ctx.clock.now()
            queued = 0
            for sku_id in sorted({r["sku_id"] for r in wrong}):
                rows = [r for r in wrong if r["sku_id"] == sku_id]
                for r in rows:
                    store.forget_confirmed(conn, row["id"], r["item_key"])
                decisions.record(conn, rows[0]["sku"], DECISION, {"channel": channel, "reconcile": rows}, [],
                                 {"repush": [r["item_key"] for r in rows]},
                                 "reconcile: " + "; ".join(f"{r['item_key']} shows {r['channel']}, should be "
                                                           f"{r['available_to_sell']}" for r in rows), now)
                self.pushes.request(conn, row, sku_id, rows[0]["sku"])
                queued += 1
            return queued

        queued = self.ctx.db.write(work) if wrong else 0
        return {"channel": channel, "lines": report, "drifted": len(wrong), "skus_queued": queued}

    def _channel(self, name: str) -> tuple[dict[str, Any], ChannelCounter]:
        with self.ctx.db.read() as conn:
            row = channel_store.channel_where(conn, name=name)
        if row is None:
            raise NotFound(f"unknown channel {name!r}")
        pusher = self.pushes.pushers.get(row["kind"])
        if not isinstance(pusher, ChannelCounter):
            raise ValidationFailed(f"channel {name!r} ({row['kind']}): Stockpilot cannot read its counts")
        return row, pusher
