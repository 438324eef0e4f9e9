"""Outbound: keep every channel's count equal to Stockpilot's available-to-sell for it (docs/channels.md "Outbound").

Decide (the `channel_push` consumer, inside the event's transaction): a StockChanged event whose `available` moved,
at a location that feeds a channel, for a SKU listed on that channel, counts one change in the (channel, SKU)
coalescing row. If no push is queued for it, one `channel.push` outbox row is enqueued (keyed by channel, SKU and
generation), due at once after a quiet spell, else at the end of the last push's window; if one is queued or in
flight, nothing more is enqueued.

Send (the `channel.push` outbox handler, outside any transaction): read, in one snapshot, the row's generation and
the value to set per channel location (available there, less the channel's buffer); keep the lines that differ from
what the channel last acknowledged; write them to `channel_pushes` BEFORE sending (the platform's echo webhook may
arrive before our own bookkeeping commits, and must be recognised); call the platform's pusher.

Finish (the topic's outcome hook, in the transaction that records the delivery): record the acknowledged values, a
decision-log entry, and if changes arrived while the push was in flight, enqueue the next push no earlier than
`channel_push_window_seconds` after this one. So a burst of orders for one SKU yields one push per window carrying
the newest value, and at most one push per (channel, SKU) is ever pending: two pushes cannot overtake each other.
A dead push (the outbox gave up) releases the row; the next change queues a new one.

A value the platform provably did not set (refused, throttled, never sent) is retracted from the echo filter at
once (`channel_store.retract_push`), so a real count equal to it is not taken for an echo. A worker that stalled
past its lease and was taken over does not send (the lease is re-checked in the transaction that writes the
values); one that loses its lease while its request is out may land an older value after its successor's newer
one, so when its outcome is found stale (`stale`, the outbox's hook) its value is kept as what the channel may
show and a push of the newest value is queued, one window later.

Batches (services/channel_push_batches.py): for a platform whose pusher takes many lines per request
(`batch_limit` > 1), the row does not get an outbox push of its own; it joins the channel's open batch, one outbox
row carrying up to `batch_limit` SKUs, sealed when it is first handled. Everything above holds per row: a row is in
at most one unfinished batch, its values are read at send time, and a follow-up joins a later batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.channels.push import (
    ChannelAccount,
    ChannelPusher,
    PushLine,
    PushRejected,
    PushResult,
    batch_limit,
    unapplied_keys,
)
from stockpilot.adapters.db import amazon_store, catalog_store, channel_store
from stockpilot.adapters.db import channel_push_batch_store as batch_store
from stockpilot.adapters.db import channel_push_store as store
from stockpilot.domain.channel_stock import available_to_sell
from stockpilot.runtime import decisions, outbox
from stockpilot.runtime.consumers import Consumer, Event
from stockpilot.services.context import Context

TOPIC = "channel.push"
CONSUMER = "channel_push"
DECISION = "channel_push"


class LeaseLost(RuntimeError):
    """Another worker took the push over while this one stalled before sending: this one sends nothing."""


def push_key(channel: str, sku: str, generation: int) -> str:
    return f"{TOPIC}:{channel}:{sku}:{generation}"


def available_moved(event: Event) -> bool:
    """A StockChanged whose `available` changed (an `incoming` change alone is not sellable stock)."""
    before, after = event.payload.get("before") or {}, event.payload.get("after") or {}
    return before.get("available") != after.get("available")


def account_of(channel: Mapping[str, Any], extras: Mapping[str, Any] | None = None) -> ChannelAccount:
    """extras: the platform's own account row, if it has one (Amazon: seller, marketplace, LWA client)."""
    return ChannelAccount(name=channel["name"], kind=channel["kind"], api_url=channel["api_url"],
                          api_token=channel["api_token"], shop_domain=channel["shop_domain"],
                          site_url=channel["site_url"], store_hash=channel["store_hash"],
                          settings={"secret": channel["secret"], **(extras or {})})


def read_account(conn: Connection, channel: Mapping[str, Any]) -> ChannelAccount:
    extras = amazon_store.account(conn, channel["id"]) if channel["kind"] == "amazon" else None
    return account_of(channel, extras)


class ChannelPushes:
    # As the outcome hook of `channel.push`: recorded before the other outcomes of a dispatcher's transaction, so
    # the push lock is taken before any row another hook takes (outbox.OutcomeHook).
    runs_first = True

    def __init__(self, ctx: Context, pushers: Mapping[str, ChannelPusher]) -> None:
        from stockpilot.services.channel_push_batches import PushBatches  # it builds on this module

        self.ctx = ctx
        self.pushers = dict(pushers)
        self.batches = PushBatches(self)

    def batch_limit(self, kind: str) -> int:
        pusher = self.pushers.get(kind)
        return batch_limit(pusher) if pusher is not None else 1

    # ---- decide (consumer) ------------------------------------------------------------------------------------
    def consumer(self) -> Consumer:
        return Consumer(CONSUMER, self.on_event, kinds={"StockChanged"}, accepts=available_moved, own_thread=True)

    def on_event(self, conn: Connection, event: Event) -> None:
        if not self.pushers or not available_moved(event):
            return
        for target in store.push_targets(conn, event.sku, event.location, self.pushers):
            self.request(conn, {"id": target.channel_id, "name": target.channel, "kind": target.kind}, target.sku_id,
                         event.sku)

    def request(self, conn: Connection, channel: Mapping[str, Any], sku_id: int, sku: str) -> int | None:
        """Count a change for (channel, SKU) and queue a push unless one is queued. Returns the outbox id, if any."""
        now = self.ctx.clock.now()
        noted = store.note_change(conn, channel["id"], sku_id, now)
        if noted is None:
            return None
        generation, last_pushed_at = noted
        # The first change after a quiet spell goes at once; within the window of the last push it waits for the
        # window's end, so a burst is one push per window, each with the newest value read at sending time.
        window = timedelta(seconds=self.ctx.settings.channel_push_window_seconds)
        not_before = last_pushed_at + window if last_pushed_at is not None else None
        if self.batch_limit(channel["kind"]) > 1:
            return self.batches.join(conn, channel, sku_id, not_before, now)
        due = max(now, not_before) if not_before is not None else now
        return self._enqueue(conn, channel["id"], channel["name"], sku_id, sku, generation, now, available_at=due)

    def queue_next(self, conn: Connection, channel_id: int, channel: str, sku_id: int, sku: str, generation: int,
                   now: datetime, *, not_before: datetime | None = None) -> None:
        """Changes arrived while a push of the row was out (the row stays queued): one more, a window later
        (not_before: from when the window counts, default now)."""
        window = timedelta(seconds=self.ctx.settings.channel_push_window_seconds)
        row = channel_store.channel_by_id(conn, channel_id)
        if self.batch_limit(row["kind"]) > 1:
            self.batches.join(conn, row, sku_id, not_before or now + window, now)
            return
        queued = self._enqueue(conn, channel_id, channel, sku_id, sku, generation, now, available_at=now + window)
        if queued is None:  # that generation's key exists already: never leave the row queued with no push
            store.give_up(conn, channel_id, sku_id, now)

    def _enqueue(self, conn: Connection, channel_id: int, channel: str, sku_id: int, sku: str, generation: int,
                 now: datetime, *, available_at: datetime | None = None, key: str | None = None) -> int | None:
        payload = {"channel_id": channel_id, "channel": channel, "sku_id": sku_id, "sku": sku}
        return outbox.enqueue(conn, TOPIC, payload, key or push_key(channel, sku, generation), now,
                              self.ctx.settings.channel_push_max_attempts, available_at=available_at)

    # ---- what a push would set --------------------------------------------------------------------------------
    def plan(self, channel_id: int, sku_id: int, *, force: bool = False) -> dict[str, Any]:
        """The lines a push would send now, read in one snapshot with the coalescing generation they reflect.
        force: every line, also those the channel acknowledged before (what reconciliation compares)."""
        with self.ctx.db.read() as conn:
            return self._plan(conn, channel_id, sku_id, force=force)

    def _plan(self, conn: Connection, channel_id: int, sku_id: int, *, force: bool) -> dict[str, Any]:
        return self.plans(conn, channel_id, [sku_id], force=force)[sku_id]

    def plans(self, conn: Connection, channel_id: int, sku_ids: list[int], *,
              force: bool = False) -> dict[int, dict[str, Any]]:
        """`_plan` for many SKUs of one channel, each fact read once for all of them (a batch of 250 is a handful of
        queries, not a thousand)."""
        generations = batch_store.generations(conn, channel_id, sku_ids)  # first: the values below are as new
        channel = channel_store.channel_by_id(conn, channel_id)
        names = batch_store.sku_names(conn, sku_ids)
        account = read_account(conn, channel)
        plans: dict[int, dict[str, Any]] = {
            sku_id: {"generation": generations.get(sku_id, 0), "channel": channel, "sku": names[sku_id],
                     "lines": [], "skipped": [], "unmapped": [], "account": account}
            for sku_id in sku_ids}
        pusher = self.pushers.get(channel["kind"])
        if pusher is None or not channel["active"]:
            for plan in plans.values():
                plan["skipped"].append("channel inactive or no pusher for its kind")
            return plans
        item_ids = batch_store.listing_ids(conn, channel["name"], sku_ids)
        candidates: list[tuple[int, PushLine, dict[str, Any]]] = []
        for group in store.location_groups(conn, channel):
            available = batch_store.available_at(conn, sku_ids, group.location_codes)
            for sku_id in sku_ids:
                quantity = available_to_sell(available[sku_id], channel["buffer"], channel["buffer_percent"])
                line = PushLine(sku=names[sku_id], quantity=quantity, item_ids=item_ids[sku_id].items,
                                location_id=group.external_id, parent_ids=item_ids[sku_id].parents)
                try:
                    key = pusher.item_key(line)
                except PushRejected as exc:  # a mapping is missing: said in the decision log, not guessed
                    plans[sku_id]["unmapped"].append(str(exc))
                    continue
                candidates.append((sku_id, line, {"item_key": key, "quantity": quantity, "previous": None,
                                                  "available": available[sku_id],
                                                  "locations": list(group.location_codes),
                                                  "location_id": group.external_id}))
        confirmed = batch_store.confirmed_values(conn, channel_id, {e["item_key"] for _, _, e in candidates})
        for sku_id, line, entry in candidates:
            previous = confirmed.get(entry["item_key"])
            entry["previous"] = previous
            if previous == entry["quantity"] and not force:
                plans[sku_id]["skipped"].append(f"{entry['item_key']}: unchanged at {entry['quantity']}")
                continue
            plans[sku_id]["lines"].append((replace(line, previous=previous), entry))
        return plans

    # ---- send (outbox handler) ----------------------------------------------------------------------------------
    def deliver(self, payload: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        if "batch_id" in payload:
            return self.batches.deliver(payload, idempotency_key)
        channel_id, sku_id = int(payload["channel_id"]), int(payload["sku_id"])
        plan = self.plan(channel_id, sku_id)
        result: dict[str, Any] = {"channel_id": channel_id, "sku_id": sku_id, "sku": plan["sku"],
                                  "channel": plan["channel"]["name"], "generation": plan["generation"],
                                  "lines": [entry for _, entry in plan["lines"]], "skipped": plan["skipped"],
                                  "unmapped": plan["unmapped"]}
        if not plan["lines"]:
            return result
        pushed = self.send(channel_id, plan["channel"]["kind"], plan["account"], plan["lines"], idempotency_key,
                           result)
        if pushed.rejected:  # alone, a refused item is this row's outcome: dead at once, with the reason
            raise PushRejected("; ".join(f"{k}: {v}" for k, v in pushed.rejected.items()))
        if pushed.failed:
            raise RuntimeError("; ".join(f"{k}: {v}" for k, v in pushed.failed.items()))
        result["notes"] = dict(pushed.notes)
        return result

    def send(self, channel_id: int, kind: str, account: ChannelAccount,
             lines: Sequence[tuple[PushLine, dict[str, Any]]], idempotency_key: str,
             result: dict[str, Any]) -> PushResult:
        """Write the values (echo filter), then call the pusher; the single push's and the batch's send.

        The write re-checks the claim's lease first (one read by primary key in a transaction that runs anyway): a
        worker taken over while it stalled sends nothing, so it cannot land its older value after its successor's.
        Each send is tagged, so a failure that proves its values were not set retracts exactly them. `result`
        gets `sent_at` (the confirmation's token, channel_push_store.confirm_push) and `unapplied`."""
        now = self.ctx.clock.now()
        tag = uuid.uuid4().hex[:16]
        lease = outbox.current_lease()

        def intent(conn: Connection) -> bool:  # before sending: the echo of this push must be recognised
            if lease is not None and not outbox.lease_held(conn, lease):
                return False
            for _, entry in lines:
                channel_store.record_push(conn, channel_id, entry["item_key"], entry["quantity"], now, tag)
            return True

        if not self.ctx.db.write(intent):
            raise LeaseLost(f"outbox row {lease.outbox_id if lease else '?'} was taken over before sending")
        result["sent_at"] = now.isoformat()
        keys = {entry["item_key"] for _, entry in lines}
        try:
            pushed = self.pushers[kind].push(account, [line for line, _ in lines], idempotency_key)
        except Exception as exc:
            unapplied = unapplied_keys(exc, keys)
            self._retract(channel_id, tag, unapplied)
            # What may be on the channel now, should this worker have been taken over meanwhile (`stale`).
            exc.maybe_set = {e["item_key"]: e["quantity"] for _, e in lines  # type: ignore[attr-defined]
                             if e["item_key"] not in unapplied}
            exc.maybe_set_skus = sorted({line.sku for line, e in lines  # type: ignore[attr-defined]
                                         if e["item_key"] not in unapplied})
            raise
        result["unapplied"] = sorted(pushed.not_applied() & keys)
        self._retract(channel_id, tag, set(result["unapplied"]))
        return pushed

    def _retract(self, channel_id: int, tag: str, keys: set[str]) -> None:
        if keys:  # only on a failure: the push's ordinary path writes nothing more
            self.ctx.db.write(lambda conn: [channel_store.retract_push(conn, channel_id, key, tag)
                                            for key in sorted(keys)])

    # ---- finish (outcome hook) ----------------------------------------------------------------------------------
    def delivered(self, conn: Connection, payload: dict[str, Any], idempotency_key: str, now: datetime,
                  result: Any = None) -> None:
        if "batch_id" in payload:
            self.batches.delivered(conn, payload, idempotency_key, now, result)
            return
        channel_id, sku_id = int(payload["channel_id"]), int(payload["sku_id"])
        if not isinstance(result, dict):  # recorded without the handler's result: assume changes are still unsent
            result = {"generation": 0, "lines": []}
        lines = result.get("lines") or []
        self.record_outcome(conn, payload, idempotency_key, result, lines, now)
        follow_up = store.finish_push(conn, channel_id, sku_id, int(result["generation"]), bool(lines), now)
        if follow_up is not None:  # changes arrived while this push was out: one more, after the window
            self.queue_next(conn, channel_id, str(payload["channel"]), sku_id, str(payload["sku"]), follow_up, now)

    def record_outcome(self, conn: Connection, payload: dict[str, Any], idempotency_key: str, result: dict[str, Any],
                       lines: list[dict[str, Any]], now: datetime) -> None:
        """The acknowledged values of a row's lines, and the decision-log entries saying what was set / not mapped."""
        channel_id = int(payload["channel_id"])
        sent_at = datetime.fromisoformat(result["sent_at"]) if result.get("sent_at") else None
        for entry in lines:
            store.confirm_push(conn, channel_id, entry["item_key"], int(entry["quantity"]), now, sent_at=sent_at)
        if lines:
            settings = self.ctx.settings
            decisions.record(
                conn, str(payload["sku"]), DECISION,
                {"channel": payload["channel"], "generation": result["generation"], "lines": lines,
                 "skipped": result.get("skipped", []), "outbox_key": idempotency_key},
                [], {"set": {e["item_key"]: e["quantity"] for e in lines}, "notes": result.get("notes", {})},
                "; ".join(f"{payload['channel']} {e['item_key']}: {e['previous']} -> {e['quantity']} "
                          f"(available {e['available']} at {'+'.join(e['locations'])})" for e in lines)
                + f"; buffer per channel settings, window {settings.channel_push_window_seconds:g}s",
                now,
            )
        if result.get("unmapped"):
            decisions.record(conn, str(payload["sku"]), DECISION,
                             {"channel": payload["channel"], "outbox_key": idempotency_key}, [], None,
                             f"not pushed to {payload['channel']}: " + "; ".join(result["unmapped"]), now)

    def dead(self, conn: Connection, payload: dict[str, Any], idempotency_key: str, error: str,
             now: datetime) -> None:
        if "batch_id" in payload:
            self.batches.dead(conn, payload, idempotency_key, error, now)
            return
        store.give_up(conn, int(payload["channel_id"]), int(payload["sku_id"]), now)
        decisions.record(conn, str(payload["sku"]), DECISION,
                         {"channel": payload["channel"], "outbox_key": idempotency_key, "error": error}, [], None,
                         f"gave up pushing to {payload['channel']}: {error[:300]}; the next change queues a new push",
                         now)

    def stale(self, conn: Connection, payload: dict[str, Any], idempotency_key: str, now: datetime,
              outcome: Any) -> None:
        """This worker was taken over while its request was out: its value may have landed after its successor's
        newer one. Keep it as what the channel may show (the successor's acknowledgement, sent before, no longer
        overrides it) and queue a push of the newest value, which the coalescing row sends one window later."""
        if isinstance(outcome, LeaseLost):
            return  # it sent nothing
        if isinstance(outcome, Exception):
            maybe_set: dict[str, int] = dict(getattr(outcome, "maybe_set", None) or {})
            if not maybe_set:
                return
            refs = [catalog_store.sku_ref(conn, name) for name in getattr(outcome, "maybe_set_skus", [])]
            sku_ids = [ref.id for ref in refs if ref is not None]
        elif isinstance(outcome, dict):
            members = outcome.get("members") if "batch_id" in payload else [outcome]
            unapplied = set(outcome.get("unapplied") or [])
            maybe_set = {e["item_key"]: int(e["quantity"]) for m in members or [] for e in m.get("lines") or []
                         if e["item_key"] not in unapplied}
            sku_ids = [int(m["sku_id"]) for m in members or [] if m.get("lines")]
        else:
            return
        channel_id = int(payload["channel_id"])
        for item_key, value in sorted(maybe_set.items()):
            store.doubt_confirmed(conn, channel_id, item_key, value, now)
        channel = channel_store.channel_by_id(conn, channel_id)
        names = batch_store.sku_names(conn, sku_ids)
        for sku_id in sorted(names):
            self.request(conn, channel, sku_id, names[sku_id])
            decisions.record(conn, names[sku_id], DECISION,
                             {"channel": channel["name"], "outbox_key": idempotency_key, "may_show": maybe_set}, [],
                             None, f"a push to {channel['name']} was taken over while it was out; its values may "
                             "have landed after newer ones: the newest are pushed again", now)
