"""A push worker that stalls past its outbox lease while a second worker takes the row over must not leave its
older value on the channel: real threads, two dispatchers with their own ids, the real database (SQLite and
PostgreSQL) on the system clock.

Two places to stall: after reading the value and before writing it (the lease is re-checked there: the stalled
worker sends nothing), and with the request out (it lands after the successor's newer value; its outcome is found
stale, and a push of the newest value follows one window later).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.runtime import outbox
from stockpilot.runtime.consumers import ConsumerRunner
from stockpilot.runtime.handlers import automations
from tests.integration.helpers import line
from tests.integration.push_helpers import push_decisions, push_rows, push_state, pushed_values, seeded, shop
from tests.support.recording_pusher import RecordingPusher

LEASE = 1.0  # seconds: short, so the takeover happens within the test
KEY = "inventory_item:4411@default"


class Stall:
    """Holds the first call back (on whichever thread makes it) until released."""

    def __init__(self, *, lose_answer: bool = False) -> None:
        self.reached, self.released = threading.Event(), threading.Event()
        self.lose_answer = lose_answer  # the stalled call's answer is lost (RecordingPusher.before_set)

    def __call__(self, *_args: object) -> bool:
        if self.reached.is_set():
            return False
        self.reached.set()
        assert self.released.wait(30), "the stalled worker was never released"
        return self.lose_answer


def run(stall_where: str, db_url: str, batch_limit: int, *, lose_answer: bool = False
        ) -> tuple[RecordingPusher, object]:
    sp = build(Settings(database_url=db_url, db_pool_size=10, channel_push_window_seconds=0.05,
                        channel_push_gather_seconds=0), migrate=False)
    try:
        stall = Stall(lose_answer=lose_answer)
        pusher = RecordingPusher(batch_limit=batch_limit)
        sp.channel_pushes.pushers["shopify"] = pusher
        if stall_where == "request out":
            pusher.before_set = stall  # w1's request is set late (and, lose_answer, its answer never comes)
        else:  # between reading the value and writing it
            plans: Callable = sp.channel_pushes.plans

            def stalled_plans(*args, **kwargs):
                found = plans(*args, **kwargs)
                stall()
                return found

            sp.channel_pushes.plans = stalled_plans  # type: ignore[method-assign]
        seeded(sp, on_hand=10)
        shop(sp)
        auto = automations(sp)
        consumers = ConsumerRunner(sp.db, sp.ctx.clock, auto.consumers, worker_id="consumer")

        def dispatcher(worker_id: str) -> outbox.Dispatcher:
            return outbox.Dispatcher(sp.db, sp.ctx.clock, auto.outbox_handlers, worker_id=worker_id,
                                     outcomes=auto.outcomes, lease_seconds=LEASE)

        first, second = dispatcher("w1"), dispatcher("w2")
        sp.orders.place("SO-1", [line("TEE", 1)])  # available 9
        consumers.run_once()
        errors: list[BaseException] = []

        def stalled_worker() -> None:
            try:
                first.run_once()
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        worker = threading.Thread(target=stalled_worker)
        worker.start()
        assert stall.reached.wait(30)  # w1 read 9 and stalls
        sp.orders.place("SO-2", [line("TEE", 1)])  # available 8
        consumers.run_once()
        time.sleep(LEASE * 1.3)  # w1's lease runs out
        report = second.run_once()  # w2 takes the row over and sets the newest value
        assert report.claimed == 1 and report.delivered == 1
        assert pusher.values() == [8]
        stall.released.set()  # w1 goes on, late
        worker.join(30)
        assert not worker.is_alive() and not errors, errors
        deadline = time.monotonic() + 30  # a bound on waiting, not a timing assertion
        while time.monotonic() < deadline:
            moved = consumers.run_once() + second.run_once().claimed
            if not moved and not any(s["queued"] for s in push_state(sp)) \
                    and all(r["status"] != "pending" for r in push_rows(sp)):
                break
            time.sleep(0.02)
        return pusher, (pushed_values(sp), push_state(sp), push_decisions(sp), push_rows(sp))
    finally:
        sp.close()


@pytest.mark.parametrize("batch_limit", [1, 250], ids=["single", "batch"])
def test_a_worker_taken_over_before_sending_sends_nothing(db_url, batch_limit):
    pusher, (values, state, _, _) = run("before sending", db_url, batch_limit)
    assert pusher.values() == [8]  # the older 9 never went out
    assert values == {KEY: (8, 8)}
    assert not any(s["queued"] for s in state)


@pytest.mark.parametrize("lose_answer", [False, True], ids=["answered", "timed-out"])
@pytest.mark.parametrize("batch_limit", [1, 250], ids=["single", "batch"])
def test_a_worker_whose_request_lands_after_its_successors_is_followed_by_the_newest_value(db_url, batch_limit,
                                                                                          lose_answer):
    pusher, (values, state, decisions, rows) = run("request out", db_url, batch_limit, lose_answer=lose_answer)
    assert pusher.values() == [8, 9, 8]  # w2's 8, w1's late 9 on top of it, then the correction
    assert values == {KEY: (8, 8)}
    assert not any(s["queued"] for s in state)
    assert any("taken over" in d.reason for d in decisions)
    assert {r["status"] for r in rows} == {"delivered"}
