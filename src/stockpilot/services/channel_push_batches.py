"""Outbound pushes in batches: many SKUs of one channel per platform request (docs/channels.md "Batches").

For a channel whose pusher takes many lines per request (`batch_limit`: Shopify 250, WooCommerce 100, BigCommerce
2,000), a (channel, SKU) row that needs a push joins the channel's open batch instead of getting an outbox row of
its own; the batch is one `channel.push` outbox row (payload `batch_id`, key `channel.push-batch:CHANNEL:ID`).

- Join (in the transaction that noted the change): a batch with room, still open, and not due before the row's
  own window end; else a new batch, due after `channel_push_gather_seconds` (the rest of a burst joins it), and no
  earlier than one window after the channel's last sealed batch. So a channel gets at most one request per window
  per `batch_limit` SKUs, and a quiet SKU still goes within the gather delay.
- Send (the outbox handler): seal the batch (from then on nobody joins it; a retry finds it sealed), read the plans
  of all its SKUs in one snapshot, write every line's value before sending (echo recognition), call the pusher once.
- Finish (the outcome hook): per SKU, what the platform set is acknowledged and logged as for a single push; a line
  the platform refused or failed in the batch is handed to an outbox row of its own (the single-SKU push: it
  retries with backoff, or is dead with the platform's reason, visible in `outbox list --status dead`), the other
  SKUs are done. A SKU that changed while the batch was out joins a later batch (one window after this one).
- Dead (the outbox gave up on the whole request, e.g. a refused token): every SKU in it is released.

The guarantees of the single push hold per row: a row is queued in at most one unfinished batch (or its own row),
so at most one push per (channel, SKU) is ever in flight, and each carries the newest value read at send time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from stockpilot.adapters.channels.push import PushRejected
from stockpilot.adapters.db import channel_push_batch_store as batch_store
from stockpilot.adapters.db import channel_push_store as store
from stockpilot.runtime import decisions, outbox

if TYPE_CHECKING:
    from stockpilot.services.channel_push import ChannelPushes


def batch_key(channel: str, batch_id: int) -> str:
    return f"channel.push-batch:{channel}:{batch_id}"


class PushBatches:
    def __init__(self, pushes: ChannelPushes) -> None:
        self.pushes = pushes
        self.ctx = pushes.ctx

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self.ctx.settings.channel_push_window_seconds)

    # ---- join (in the caller's transaction) ---------------------------------------------------------------------
    def join(self, conn: Connection, channel: dict[str, Any], sku_id: int, not_before: datetime | None,
             now: datetime) -> int | None:
        """Put the queued row in a batch. Returns the outbox id when a new batch row was enqueued."""
        from stockpilot.services.channel_push import TOPIC

        batch_id = batch_store.join_open(conn, channel["id"], not_before)
        outbox_id = None
        if batch_id is None:
            due = now + timedelta(seconds=self.ctx.settings.channel_push_gather_seconds)
            if not_before is not None:
                due = max(due, not_before)
            last_sealed = batch_store.last_sealed_at(conn, channel["id"])
            if last_sealed is not None:
                due = max(due, last_sealed + self.window)
            batch_id = batch_store.open_batch(conn, channel["id"], self.pushes.batch_limit(channel["kind"]), due, now)
            outbox_id = outbox.enqueue(conn, TOPIC, {"channel_id": channel["id"], "channel": channel["name"],
                                                     "batch_id": batch_id},
                                       batch_key(channel["name"], batch_id), now,
                                       self.ctx.settings.channel_push_max_attempts, available_at=due)
        batch_store.assign(conn, channel["id"], sku_id, batch_id)
        return outbox_id

    # ---- send (outbox handler) ------------------------------------------------------------------------------------
    def deliver(self, payload: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        channel_id, batch_id = int(payload["channel_id"]), int(payload["batch_id"])
        sealed_at, sku_ids = self.ctx.db.write(lambda conn: batch_store.seal(conn, batch_id, self.ctx.clock.now()))
        result: dict[str, Any] = {"batch_id": batch_id, "sealed_at": sealed_at.isoformat(), "members": [],
                                  "rejected": {}, "failed": {}, "notes": {}}
        if not sku_ids:
            return result
        with self.ctx.db.read() as conn:
            plans = self.pushes.plans(conn, channel_id, sku_ids)
        lines = []
        for sku_id in sku_ids:
            plan = plans[sku_id]
            result["members"].append({"sku_id": sku_id, "sku": plan["sku"], "generation": plan["generation"],
                                      "lines": [entry for _, entry in plan["lines"]], "skipped": plan["skipped"],
                                      "unmapped": plan["unmapped"]})
            lines.extend(plan["lines"])
        if not lines:
            return result
        channel = plans[sku_ids[0]]["channel"]
        pushed = self.pushes.send(channel_id, channel["kind"], plans[sku_ids[0]]["account"], lines, idempotency_key,
                                  result)
        if len({line.sku for line, _ in lines}) == 1:  # one SKU: its own push's outcome
            if pushed.rejected:
                raise PushRejected("; ".join(f"{k}: {v}" for k, v in pushed.rejected.items()))
            if pushed.failed:
                raise RuntimeError("; ".join(f"{k}: {v}" for k, v in pushed.failed.items()))
        result.update(rejected=dict(pushed.rejected), failed=dict(pushed.failed), notes=dict(pushed.notes))
        return result

    # ---- finish (outcome hook) ------------------------------------------------------------------------------------
    def delivered(self, conn: Connection, payload: dict[str, Any], idempotency_key: str, now: datetime,
                  result: Any = None) -> None:
        channel_id, channel, batch_id = int(payload["channel_id"]), str(payload["channel"]), int(payload["batch_id"])
        if not isinstance(result, dict):  # recorded without the handler's result: assume nothing was sent
            names = batch_store.sku_names(conn, batch_store.members(conn, batch_id))
            result = {"sealed_at": now.isoformat(), "rejected": {}, "failed": {}, "notes": {},
                      "members": [{"sku_id": s, "sku": n, "generation": 0, "lines": [], "skipped": [],
                                   "unmapped": []} for s, n in names.items()]}
        sealed_at = datetime.fromisoformat(result["sealed_at"])
        refused = {**result.get("failed", {}), **result.get("rejected", {})}
        for member in result["members"]:
            sku_id, sku, generation = int(member["sku_id"]), str(member["sku"]), int(member["generation"])
            lines = [e for e in member["lines"] if e["item_key"] not in refused]
            bad = [e for e in member["lines"] if e["item_key"] in refused]
            outcome = {"generation": generation, "skipped": member["skipped"], "unmapped": member["unmapped"],
                       "notes": {"batch_id": batch_id, "batch_lines": sum(len(m["lines"]) for m in result["members"])}}
            row_payload = {"channel_id": channel_id, "channel": channel, "sku_id": sku_id, "sku": sku}
            outcome["sent_at"] = result.get("sent_at")
            self.pushes.record_outcome(conn, row_payload, idempotency_key, outcome, lines, now)
            if bad:
                self._alone(conn, row_payload, batch_id, generation, bad, refused, idempotency_key, now)
                continue
            follow_up = store.finish_push(conn, channel_id, sku_id, generation, bool(lines), now, pushed_at=sealed_at)
            batch_store.assign(conn, channel_id, sku_id, None)
            if follow_up is not None:  # changed while the batch was out: a later batch, one window after this one
                self.pushes.queue_next(conn, channel_id, channel, sku_id, sku, follow_up, now,
                                       not_before=sealed_at + self.window)
        batch_store.finish(conn, channel_id, batch_id, sum(len(m["lines"]) for m in result["members"]), now)

    def _alone(self, conn: Connection, row: dict[str, Any], batch_id: int, generation: int,
               bad: list[dict[str, Any]], refused: dict[str, str], idempotency_key: str, now: datetime) -> None:
        """A line the platform did not set in the batch: the SKU goes on in an outbox row of its own (still queued,
        so still one push in flight), which retries with backoff or is dead with the platform's reason."""
        from stockpilot.services.channel_push import push_key

        batch_store.assign(conn, row["channel_id"], row["sku_id"], None)
        decisions.record(conn, row["sku"], "channel_push",
                         {"channel": row["channel"], "outbox_key": idempotency_key,
                          "refused": {e["item_key"]: refused[e["item_key"]] for e in bad}}, [], None,
                         "; ".join(f"{row['channel']} {e['item_key']}: not set in batch {batch_id} "
                                   f"({refused[e['item_key']][:200]})" for e in bad)
                         + "; pushed again on its own", now)
        key = f"{push_key(row['channel'], row['sku'], generation)}:batch-{batch_id}"
        queued = self.pushes._enqueue(conn, row["channel_id"], row["channel"], row["sku_id"], row["sku"], generation,
                                      now, available_at=now + self.window, key=key)
        if queued is None:  # cannot happen (batch ids are unique); never leave the row queued with no push
            store.give_up(conn, row["channel_id"], row["sku_id"], now)

    def dead(self, conn: Connection, payload: dict[str, Any], idempotency_key: str, error: str,
             now: datetime) -> None:
        channel_id, channel, batch_id = int(payload["channel_id"]), str(payload["channel"]), int(payload["batch_id"])
        names = batch_store.sku_names(conn, batch_store.members(conn, batch_id))
        for sku_id, sku in names.items():
            store.give_up(conn, channel_id, sku_id, now)
            batch_store.assign(conn, channel_id, sku_id, None)
            decisions.record(conn, sku, "channel_push",
                             {"channel": channel, "outbox_key": idempotency_key, "error": error}, [], None,
                             f"gave up pushing to {channel} (batch {batch_id}): {error[:300]}; the next change "
                             "queues a new push", now)
        batch_store.finish(conn, channel_id, batch_id, 0, now)
