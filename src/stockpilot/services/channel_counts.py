"""A channel's own count of an item (a POS sale, an edit in the platform's admin) as a ledger entry.

Once Stockpilot has pushed available-to-sell to the item, the channel's count is read as a change from what the
channel showed (a POS sale of 1 moves on_hand by -1, whatever the buffer and open orders); before any push it is
the location's on-hand count. One transaction holds the whole decision: the echo check, the out-of-order check
(the watermark only moves forward), and the `set` movement, like StockService.adjust(on_hand=...) but atomic
with the watermark, so two deliveries for one item processed at once can never leave the older count standing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.db import (
    catalog_store,
    channel_push_store,
    channel_store,
    delivery_processing_store,
    history_store,
    ledger,
)
from stockpilot.adapters.db.channel_push_lock import lock_pushes
from stockpilot.domain.channel_messages import SetCount, Unprocessable
from stockpilot.domain.model import Delta, MovementKind
from stockpilot.services.channel_lines import resolve_sku
from stockpilot.services.context import Context


class ChannelCounts:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def apply(self, conn: Connection, channel: dict[str, Any], command: SetCount) -> dict[str, Any]:
        """Inside the processor's write transaction (with the delivery's outcome)."""
        now = self.ctx.clock.now()
        result: dict[str, Any] = {"item": command.item_key, "count": command.on_hand}
        echo = channel_store.echo_of(conn, channel["id"], command.item_key, command.on_hand, now)
        if echo is not None:
            # The channel telling us back the value we pushed to it: not a change made on the channel.
            if echo == channel_store.SHOWN:
                self._shown(conn, channel, command, now)
            return {**result, "ignored": "echo of a value Stockpilot pushed"}
        # The count is measured from what the channel acknowledged, which a push's outcome hook writes under the
        # push lock: read without it, a count applied while that outcome was committing measured from the value
        # before the push. Taken before any row of this delivery, so it is never awaited while holding one (and
        # a delivery after a batch's first does not wait for it at all: webhook_processing).
        lock_pushes(conn)
        if not delivery_processing_store.advance_watermark(conn, channel["id"], command.item_key,
                                                           command.updated_at, now):
            return {**result, "ignored": f"older than a count already applied ({command.updated_at.isoformat()})"}
        sku = catalog_store.sku_ref(conn, resolve_sku(conn, channel["name"], command.item))
        location = self._location(conn, channel)
        assert sku is not None
        key = f"channel:{channel['id']}:count:{command.item_key}:{command.updated_at.isoformat()}"
        if history_store.movement_by_key(conn, key) is not None:
            return {**result, "sku": sku.sku, "replayed": True}
        current = ledger.read_level(conn, sku.id, location.id, for_update=True)
        on_hand = current.on_hand if current else 0
        baseline = channel_push_store.count_baseline(conn, channel["id"], command.item_key)
        if baseline is None:  # never pushed to: the channel's count is the location's count
            target = max(command.on_hand, 0)  # a channel may report an oversold (negative) count; on_hand stops at 0
            change = target - on_hand
        else:
            # Stockpilot pushes available-to-sell (net of orders, holds and the buffer), so the channel's figure is
            # not on_hand by design: what happened on the channel is its count minus what it showed before.
            change = max(command.on_hand - baseline, -on_hand)
            target = on_hand + change
            channel_push_store.note_channel_count(conn, channel["id"], command.item_key, command.on_hand, now)
        if change == 0:
            return {**result, "sku": sku.sku, "location": location.code, "unchanged": True}
        applied = ledger.apply(
            conn, sku=sku, location=location, kind=MovementKind.SET, delta=Delta(on_hand=change), floor=None,
            source=channel["name"], reference=command.item_key, idempotency_key=key, now=now,
            reason=f"{channel['kind']} count" if baseline is None else
            f"{channel['kind']} count change ({baseline} -> {command.on_hand} on the channel)",
        )
        if applied is None:
            raise AssertionError("a count to a non-negative on_hand was refused")
        return {**result, "sku": sku.sku, "location": location.code, "on_hand": target, "delta": change}

    @staticmethod
    def _shown(conn: Connection, channel: dict[str, Any], command: SetCount, now: datetime) -> None:
        """The echo of a push in flight: the channel applied it, so what it shows now is that value, whether or not
        the push's answer has been recorded. A count made on the channel after it is a change from there (a POS
        sale right after the push), not from the value acknowledged before the push. Unless a newer count was
        applied already (this echo arrived late): the watermark is not moved, so a real count stamped before this
        echo and delivered after it is still applied."""
        lock_pushes(conn)  # as a count's, before any row of this delivery
        newest = channel_store.watermark(conn, channel["id"], command.item_key)
        if newest is None or newest <= command.updated_at:
            channel_push_store.note_channel_count(conn, channel["id"], command.item_key, command.on_hand, now)

    @staticmethod
    def _location(conn: Connection, channel: dict[str, Any]) -> ledger.LocationRef:
        if channel["location"]:
            ref = catalog_store.location_ref(conn, channel["location"])
            if ref is None:
                raise Unprocessable("unknown_location", f"channel location {channel['location']!r} is gone")
            return ref
        refs = catalog_store.all_location_refs(conn)
        if len(refs) != 1:
            raise Unprocessable("no_location", f"channel {channel['name']} counts need --location "
                                               f"({len(refs)} locations exist)")
        return refs[0]
