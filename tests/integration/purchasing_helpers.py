"""Driving the real runtime (consumer, timers, outbox) step by step against a manual clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from stockpilot.adapters.db.tables import outbox
from stockpilot.bootstrap import Stockpilot
from stockpilot.runtime import outbox as ob
from stockpilot.runtime import timers as tm
from stockpilot.runtime.consumers import ConsumerRunner
from stockpilot.runtime.handlers import automations


@dataclass
class Runtime:
    sp: Stockpilot
    consumer: ConsumerRunner
    timers: tm.TimerRunner
    dispatcher: ob.Dispatcher

    @classmethod
    def build(cls, sp: Stockpilot, handlers: dict[str, ob.Handler] | None = None) -> Runtime:
        auto = automations(sp)
        clock = sp.ctx.clock
        return cls(
            sp,
            ConsumerRunner(sp.db, clock, auto.consumers, worker_id="test"),
            tm.TimerRunner(sp.db, clock, auto.timer_handlers, worker_id="test"),
            ob.Dispatcher(sp.db, clock, {**auto.outbox_handlers, **(handlers or {})}, worker_id="test",
                          outcomes=auto.outcomes,  # a topic a test gives its own handler is not batched
                          batch_handlers={t: h for t, h in auto.batch_handlers.items() if t not in (handlers or {})},
                          backoff=ob.Backoff(base_seconds=1, cap_seconds=1, random=lambda: 1.0)),
        )

    def settle(self, rounds: int = 10) -> None:
        """Run consumers, due timers and due deliveries until nothing moves."""
        for _ in range(rounds):
            moved = self.consumer.run_once()
            fired = self.timers.run_once()
            assert not fired.errors, fired.errors  # a failing timer handler is a bug in a test run
            moved += fired.fired
            report = self.dispatcher.run_once()
            moved += report.claimed
            if not moved:
                return

    def advance(self, **delta: float) -> None:
        self.sp.ctx.clock.advance(**delta)  # type: ignore[attr-defined]
        self.settle()


def outbox_rows(sp: Stockpilot, topic: str | None = None) -> list[dict[str, Any]]:
    with sp.db.read() as conn:
        stmt = select(outbox).order_by(outbox.c.id)
        if topic:
            stmt = stmt.where(outbox.c.topic == topic)
        return [dict(r._mapping) for r in conn.execute(stmt)]


def purchase_orders(sp: Stockpilot, status: str | None = None) -> list[dict[str, Any]]:
    return [sp.purchasing.get(po["id"]) for po in sp.purchasing.list(status=status)]
