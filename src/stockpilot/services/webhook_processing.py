"""Processing stored deliveries: the `channel.webhook` outbox handler, its dead-letter hook, and operator actions.

The handler runs outside the intake's transaction (the platform already has its 200). It parses the raw body,
applies the commands through the core, then records the outcome with a conditional update from `received`. Every
effect is idempotent in the core (order references, movement keys), so at-least-once delivery by the outbox still
applies each delivery once. What cannot be applied is parked with its reason, raw body kept; what failed for a
passing reason (a store API down) raises, so the outbox retries with backoff and, if it gives up, marks it dead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.channels import amazon, bigcommerce, shopify, standard, woocommerce
from stockpilot.adapters.channels.payload import load_object
from stockpilot.adapters.db import channel_store, delivery_processing_store
from stockpilot.adapters.db.delivery_processing_store import deliveries_and_channels, finish_received
from stockpilot.domain.channel_messages import Command, ListingUpkeep, NoEffect, SetCount, Unprocessable
from stockpilot.domain.errors import Conflict, InsufficientStock, NotFound, StockpilotError, ValidationFailed
from stockpilot.runtime import outbox
from stockpilot.services.channel_counts import ChannelCounts
from stockpilot.services.channel_listings_upkeep import keep_listings
from stockpilot.services.channel_orders import ChannelOrders
from stockpilot.services.context import Context
from stockpilot.services.orders import OrderService
from stockpilot.services.webhook_intake import PROCESS_TOPIC

STATUSES = ("received", "processed", "ignored", "parked", "dead")
RETRYABLE = ("parked", "dead")

APPLY_BUDGET_SECONDS = 0.01  # a batch's write transaction: SQLite's one writer is not held longer than this


class _AlreadyFinished(Exception):
    """The delivery left `received` while this attempt ran: roll this attempt back."""


_NEXT_TRANSACTION = object()  # a delivery found a row locked elsewhere: it goes first in the next transaction


@dataclass(frozen=True, slots=True)
class _Todo:
    index: int  # in the batch
    delivery_id: int
    channel: dict[str, Any]
    commands: list[Command]
    parking: tuple[str, str | None] | None = None  # (reason, detail): park it rather than apply it


def _parking(exc: Exception) -> tuple[str, str | None] | None:
    """Why a delivery that raised `exc` is parked (kept, visible, retryable by an operator), or None when the
    failure may pass (the outbox retries it with backoff)."""
    if isinstance(exc, Unprocessable):
        return exc.reason, exc.detail
    if isinstance(exc, InsufficientStock):
        # A `deny` SKU cannot be sold short: the order waits here (kept, visible, retryable after a receipt)
        # rather than being lost or sold against the SKU's policy.
        return "insufficient_stock", exc.detail
    if isinstance(exc, NotFound):
        return "not_found", exc.detail
    if isinstance(exc, StockpilotError):  # a conflict with the order's state (e.g. cancel after shipping)
        return exc.code, exc.detail
    return None


OrderApi = Callable[[dict[str, Any]], bigcommerce.BigCommerceApi]


def bigcommerce_api(channel: dict[str, Any]) -> bigcommerce.BigCommerceApi:
    return bigcommerce.BigCommerceApi(channel["api_url"], channel["api_token"] or "")


class WebhookProcessor:
    """The outbox handler for `channel.webhook`: (payload {delivery_id}, idempotency key) -> outcome summary."""

    def __init__(self, ctx: Context, orders: OrderService, api_for: OrderApi = bigcommerce_api) -> None:
        self.ctx = ctx
        self.orders = ChannelOrders(ctx, orders)
        self.counts = ChannelCounts(ctx)
        self.api_for = api_for

    def __call__(self, payload: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        outcome = self.batch([(payload, idempotency_key)])[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def batch(self, items: Sequence[tuple[dict[str, Any], str]]) -> list[Any]:
        """The outbox batch handler: per delivery, in order, its outcome summary or the exception to retry on.

        Parsing and platform API reads (BigCommerce's thin payloads) run first, outside any transaction; then the
        deliveries are applied in as few write transactions as APPLY_BUDGET_SECONDS allows, each delivery under a
        savepoint: one that cannot be applied is rolled back alone and parked, the others commit. A commit per
        delivery was what bounded a burst of orders (an fsync each on PostgreSQL)."""
        outcomes: list[Any] = [None] * len(items)
        ids = [int(payload["delivery_id"]) for payload, _key in items]
        with self.ctx.db.read() as conn:
            found = deliveries_and_channels(conn, ids)
        todo: list[_Todo] = []
        for index, (delivery_id, got) in enumerate(zip(ids, found, strict=True)):
            if got is None or got[0]["status"] != "received":
                outcomes[index] = {"delivery": delivery_id, "skipped": got[0]["status"] if got else "missing"}
                continue
            row, channel = got
            try:
                todo.append(_Todo(index, delivery_id, channel, self._commands(channel, row)))
            except Exception as exc:
                parking = _parking(exc)
                if parking is None:
                    outcomes[index] = exc  # a passing failure (a store API down): the outbox retries it
                else:
                    todo.append(_Todo(index, delivery_id, channel, [], parking))
        while todo:
            applied = self.ctx.db.write(lambda conn, todo=todo: self._apply_some(conn, todo, outcomes))
            todo = todo[applied:]
        return outcomes

    def _apply_some(self, conn: Connection, todo: list[_Todo], outcomes: list[Any]) -> int:
        """Apply deliveries from the front of `todo` until the budget is spent, or until one finds a row locked
        by another transaction; returns how many were settled."""
        deadline = time.monotonic() + APPLY_BUDGET_SECONDS
        with delivery_processing_store.sharing_round_trips(conn):
            for done, item in enumerate(todo):
                if done and time.monotonic() >= deadline:
                    return done  # commit these; the rest go in the next transaction
                if done == 1:
                    # Each delivery takes its SKUs in one sorted order, but a batch takes them in delivery order:
                    # a lane holding TEE and waiting for MUG, another holding MUG and waiting for TEE, is a
                    # deadlock. So no delivery after the first waits while holding what the ones before it took.
                    delivery_processing_store.no_lock_waits(conn)
                outcome = self._settle(conn, item, may_wait=not done)
                if outcome is _NEXT_TRANSACTION:
                    return done  # commit these; this one goes first in the next transaction, where it may wait
                outcomes[item.index] = outcome
        return len(todo)

    def _settle(self, conn: Connection, item: _Todo, *, may_wait: bool) -> Any:
        delivery_processing_store.savepoint(conn)  # applied (or parked) whole or not at all, alone
        try:
            return self._settle_saved(conn, item, may_wait=may_wait)
        except Exception as exc:
            if may_wait or not delivery_processing_store.lock_busy(exc):
                raise
            delivery_processing_store.rollback_to_savepoint(conn)
            return _NEXT_TRANSACTION

    def _settle_saved(self, conn: Connection, item: _Todo, *, may_wait: bool) -> Any:
        parking = item.parking
        if parking is None:
            try:
                status, _effects = self._apply_all(conn, item.delivery_id, item.channel, item.commands)
                return {"delivery": item.delivery_id, "status": status, "reason": None}
            except _AlreadyFinished:
                delivery_processing_store.rollback_to_savepoint(conn)
                return {"delivery": item.delivery_id, "skipped": "finished by another worker"}
            except Exception as exc:
                if not may_wait and delivery_processing_store.lock_busy(exc):
                    raise  # not a failure of the delivery: _settle hands it to the next transaction
                delivery_processing_store.rollback_to_savepoint(conn)
                parking = _parking(exc)
                if parking is None:
                    return exc
        reason, error = parking
        channel_store.finish_delivery(conn, item.delivery_id, status="parked", reason=reason, error=error,
                                      now=self.ctx.clock.now(), from_statuses=("received",))
        return {"delivery": item.delivery_id, "status": "parked", "reason": reason}

    def _apply_all(self, conn: Connection, delivery_id: int, channel: dict[str, Any],
                   commands: list[Command]) -> tuple[str, list[dict[str, Any]]]:
        """Every command of the delivery and its outcome in ONE transaction: applied whole or not at all, and a
        delivery another worker finished meanwhile rolls this attempt back (its effects were that worker's)."""
        effects = [self._apply(conn, channel, command) for command in commands]
        status = "ignored" if all("ignored" in effect for effect in effects) else "processed"
        if not finish_received(conn, delivery_id, status=status, effect=effects, now=self.ctx.clock.now()):
            raise _AlreadyFinished
        return status, effects

    def _commands(self, channel: dict[str, Any], row: dict[str, Any]) -> list[Command]:
        body = load_object(bytes(row["body"]))
        kind, topic = channel["kind"], row["topic"]
        if kind == "shopify":
            return shopify.parse(topic, body)
        if kind == "woocommerce":
            return woocommerce.parse(topic, body)
        if kind == "bigcommerce":
            if topic == bigcommerce.SKU_INVENTORY_TOPIC:  # thin: the count is read back from the Inventory API
                variant = bigcommerce.variant_of(body)
                return bigcommerce.parse_inventory(body, variant, self.api_for(channel).variant_inventory(variant))
            if topic not in bigcommerce.ORDER_TOPICS:
                raise Unprocessable("unsupported_topic", f"BigCommerce scope {topic!r} is not handled")
            order, products = self.api_for(channel).order(bigcommerce.order_id_of(body))
            return bigcommerce.parse(topic, order, products)
        if kind == "amazon":  # changes the poller stored (services/amazon_polling.py)
            return amazon.parse(topic, body)
        return standard.parse(topic, body)

    def _apply(self, conn: Connection, channel: dict[str, Any], command: Command) -> dict[str, Any]:
        if isinstance(command, NoEffect):
            return {"ignored": command.reason}
        if isinstance(command, SetCount):
            return self.counts.apply(conn, channel, command)
        if isinstance(command, ListingUpkeep):
            return keep_listings(conn, channel, command, self.ctx.clock.now())
        return self.orders.apply(conn, channel, command)


class DeliveryDead:
    """Outcome hook of `channel.webhook`: when the outbox gives up (a store API down for hours, a refused
    token), the delivery is `dead` with the error, in the same transaction, and can be retried by an operator."""

    dead_only = True  # the handler recorded a success's outcome itself

    def delivered(self, conn: Connection, payload: dict[str, Any], idempotency_key: str, now: datetime,
                  result: Any = None) -> None:
        return None  # the handler recorded the outcome itself

    def dead(self, conn: Connection, payload: dict[str, Any], idempotency_key: str, error: str,
             now: datetime) -> None:
        channel_store.finish_delivery(conn, int(payload["delivery_id"]), status="dead", reason="processing_failed",
                                      error=error, now=now, from_statuses=("received",))


def describe_delivery(row: dict[str, Any], *, with_body: bool = False) -> dict[str, Any]:
    described = {
        "id": row["id"], "channel": row["channel"], "kind": row["kind"], "topic": row["topic"],
        "delivery_key": row["delivery_key"], "event_key": row["event_key"], "status": row["status"],
        "reason": row["reason"], "error": row["error"], "effect": row["effect"], "duplicates": row["duplicates"],
        "received_at": row["received_at"].isoformat(),
        "processed_at": row["processed_at"].isoformat() if row["processed_at"] else None,
    }
    if with_body:
        described["headers"] = row["headers"]
        described["body"] = bytes(row["body"]).decode("utf-8", errors="replace")
    return described


class WebhookDeliveries:
    """What operators see and do: list deliveries by status, show one with its raw body, retry a parked one."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def list(self, *, status: str | None = None, channel: str | None = None, after: int = 0,
             limit: int = 100) -> list[dict[str, Any]]:
        if status is not None and status not in STATUSES:
            raise ValidationFailed(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        with self.ctx.db.read() as conn:
            rows = channel_store.list_deliveries(conn, status=status, channel=channel, after=after, limit=limit)
        return [describe_delivery(row) for row in rows]

    def get(self, delivery_id: int) -> dict[str, Any]:
        with self.ctx.db.read() as conn:
            row = channel_store.delivery(conn, delivery_id)
        if row is None:
            raise NotFound(f"unknown webhook delivery {delivery_id}")
        return describe_delivery(row, with_body=True)

    def retry(self, delivery_id: int) -> dict[str, Any]:
        """A parked or dead delivery goes through processing again (after a listing was added, stock arrived...)."""

        def work(conn: Connection) -> None:
            now = self.ctx.clock.now()
            row = channel_store.delivery(conn, delivery_id)
            if row is None:
                raise NotFound(f"unknown webhook delivery {delivery_id}")
            if not channel_store.finish_delivery(conn, delivery_id, status="received", now=now,
                                                 from_statuses=RETRYABLE):
                raise Conflict(f"delivery {delivery_id} is {row['status']}: only parked or dead ones "
                                      "can be retried")
            outbox.enqueue(conn, PROCESS_TOPIC, {"delivery_id": delivery_id},
                           f"webhook-delivery:{delivery_id}:retry:{now.isoformat()}", now)

        self.ctx.db.write(work)
        return self.get(delivery_id)
