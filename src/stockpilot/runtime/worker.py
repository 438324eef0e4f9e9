"""The worker: runs the outbox dispatcher, timers, event consumers and housekeeping until told to stop.

One per process. `stockpilot serve` embeds one (the SQLite default: API and worker in one process);
`stockpilot worker` runs one alone (PostgreSQL scale-out: any number of them, sharing rows through leases and
SKIP LOCKED). SIGTERM or SIGINT stops claiming, lets the current delivery finish, hands unstarted rows back and exits.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.engine import make_url

from stockpilot.bootstrap import Stockpilot
from stockpilot.runtime import outbox, timers
from stockpilot.runtime.consumers import Consumer, ConsumerRunner
from stockpilot.runtime.metrics import RuntimeMetrics
from stockpilot.runtime.signals import EVENTS, OUTBOX, TIMERS, PostgresListener, Signals

log = logging.getLogger("stockpilot.worker")


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class WorkerSettings:
    worker_id: str = field(default_factory=default_worker_id)  # per process, also after a fork
    poll_seconds: float = 1.0  # the safety net under wake-ups
    batch: int = 100
    lease_seconds: float = 60.0
    expiry_sweep_seconds: float = 5.0
    consumer_poll_seconds: float = 0.2
    # Dispatcher threads per lane on PostgreSQL, where writers run side by side and a delivery mostly waits on
    # round trips (as several workers would, sharing rows through SKIP LOCKED). SQLite has one writer: always 1.
    lane_threads: int = 4
    # A consumer walk commits after this long (the rest is the next pass): on SQLite it holds the one writer.
    walk_budget_seconds: float | None = 0.025
    # Before each delivery batch and consumer pass, wait this long at most for the API's fast paths to have no
    # request in flight (runtime/foreground.py); webhook batches are kept small so such a turn stays short.
    foreground_wait_seconds: float = 0.05
    lane_batch_size: int = 8


class Worker:
    def __init__(
        self,
        sp: Stockpilot,
        *,
        outbox_handlers: Mapping[str, outbox.Handler],
        timer_handlers: Mapping[str, timers.TimerHandler] | None = None,
        consumers: list[Consumer] | None = None,
        settings: WorkerSettings | None = None,
        metrics: RuntimeMetrics | None = None,
        backoff: outbox.Backoff | None = None,
        outcomes: Mapping[str, outbox.OutcomeHook] | None = None,
        on_start: list[Callable[[], object]] | None = None,
        lanes: Sequence[Collection[str]] = (),
        batch_handlers: Mapping[str, outbox.BatchHandler] | None = None,
    ) -> None:
        self.sp = sp
        self.settings = settings or WorkerSettings()
        self.metrics = metrics or RuntimeMetrics()
        self.signals = Signals()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener: PostgresListener | None = None
        self._on_start = list(on_start or [])  # e.g. make sure the daily planning timer is booked
        # Dispatchers (a thread each) per lane of topics, one more for every other topic: rows of a lane are
        # never queued behind another lane's slow deliveries (applying a webhook behind an HTTP push).
        timed = {topic: self._timed(topic, h) for topic, h in outbox_handlers.items()}
        batches = {topic: self._timed_batch(topic, h) for topic, h in (batch_handlers or {}).items()}
        laned = [t for lane in lanes for t in lane]
        per_lane = 1 if sp.db.is_sqlite else max(1, self.settings.lane_threads)
        wid = self.settings.worker_id
        # A lane's first thread is woken by new rows; it claims two batches at a time and, when it got that many
        # (there are likely more), wakes the lane's other threads, which otherwise sleep. So a burst is shared by
        # all of them, and a single delivery wakes one thread, not every one of them into a claim that finds
        # nothing (at 100 deliveries/s that was four empty claims and naps for each). One thread (SQLite): as
        # every dispatcher, up to `batch` rows a claim.
        self._lane_claim = 2 * self.settings.lane_batch_size if per_lane > 1 else self.settings.batch
        self.dispatchers = []
        self._wake_on: dict[int, str] = {}  # a lane's other threads (by id): the signal of their lane's backlog
        for topics in lanes:
            backlog = f"{OUTBOX}:lane:{len(self.dispatchers)}"
            for n in range(per_lane):
                dispatcher = outbox.Dispatcher(
                    sp.db, sp.ctx.clock, timed, worker_id=f"{wid}#{len(self.dispatchers)}" if self.dispatchers
                    else wid, lease_seconds=self.settings.lease_seconds, backoff=backoff, outcomes=outcomes,
                    topics=topics, batch_handlers=batches, batch_size=self.settings.lane_batch_size,
                    before_each=self._let_requests_go_first,
                    after_claim=functools.partial(self._share_backlog, backlog) if n == 0 and per_lane > 1
                    else None)
                if n:
                    self._wake_on[id(dispatcher)] = backlog
                self.dispatchers.append(dispatcher)
        self.dispatcher = outbox.Dispatcher(sp.db, sp.ctx.clock, timed, worker_id=wid,
                                            lease_seconds=self.settings.lease_seconds, backoff=backoff,
                                            outcomes=outcomes, exclude_topics=laned,  # every other topic
                                            batch_handlers=batches, before_each=self._let_requests_go_first)
        self.dispatchers.append(self.dispatcher)
        self.timer_runner = timers.TimerRunner(
            sp.db, sp.ctx.clock, timer_handlers or {}, worker_id=self.settings.worker_id,
            lease_seconds=self.settings.lease_seconds,
        )
        # PostgreSQL: a consumer marked `own_thread` walks in a thread of its own. A pass mostly waits on round
        # trips, and in turn with the others the push consumer waited for five other walks per pass: at 100
        # orders/s it ran a second behind the ledger, and the channels with it. SQLite has one writer: one thread,
        # every consumer in turn, each walk on a budget.
        alone = [] if sp.db.is_sqlite else [[c] for c in consumers or [] if c.own_thread]
        together = [c for c in consumers or [] if sp.db.is_sqlite or not c.own_thread]
        groups = alone + ([together] if together else [])
        self.consumer_runners = [
            ConsumerRunner(
                sp.db, sp.ctx.clock, group, worker_id=self.settings.worker_id,
                lease_seconds=self.settings.lease_seconds, batch=self.settings.batch,
                walk_budget_seconds=self.settings.walk_budget_seconds, before_each=self._let_requests_go_first,
            ) for group in groups
        ]

    def _let_requests_go_first(self) -> None:
        self.sp.foreground.wait_quiet(self.settings.foreground_wait_seconds)

    # ---- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        for hook in self._on_start:
            hook()
        self.sp.db.on_commit = self.signals.fire  # writes in this process wake us without a round trip
        if not self.sp.db.is_sqlite:
            dsn = make_url(self.sp.db.url).set(drivername="postgresql").render_as_string(hide_password=False)
            self._listener = PostgresListener(dsn, self.signals, [OUTBOX, TIMERS])
            self._listener.start()
        loops: list[tuple[str, Callable[[], None]]] = [
            (f"outbox-{n}", functools.partial(self._outbox_loop, dispatcher))
            for n, dispatcher in enumerate(self.dispatchers)
        ]
        loops += [("timers", self._timer_loop), ("housekeeping", self._housekeeping_loop)]
        loops += [(f"consumers-{n}" if len(self.consumer_runners) > 1 else "consumers",
                   functools.partial(self._consumer_loop, runner)) for n, runner in enumerate(self.consumer_runners)]
        for name, loop in loops:
            thread = threading.Thread(target=self._guarded(name, loop), name=f"worker-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("worker %s started", self.settings.worker_id)

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self.signals.close()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._listener:
            self._listener.stop()
        if self.sp.db.on_commit == self.signals.fire:
            self.sp.db.on_commit = None
        log.info("worker %s stopped", self.settings.worker_id)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def run_until_signalled(self) -> None:
        """Block until SIGTERM/SIGINT, then stop gracefully (main thread only)."""
        done = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: done.set())
        self.start()
        done.wait()
        self.stop()

    # ---- loops ----------------------------------------------------------------------------------------
    def _guarded(self, name: str, loop: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            while not self.stopping:
                try:
                    loop()
                except Exception:  # a database hiccup must not kill the worker: pause, then go on
                    log.exception("worker loop %s failed; retrying", name)
                    self._stopping.wait(1.0)

        return run

    def _share_backlog(self, backlog: str, claimed: int) -> None:
        if claimed >= self._lane_claim:
            self.signals.fire([backlog])

    def _outbox_loop(self, dispatcher: outbox.Dispatcher) -> None:
        helper = id(dispatcher) in self._wake_on
        wake_on = self._wake_on.get(id(dispatcher), OUTBOX)
        limit = self._lane_claim if dispatcher.topics is not None else self.settings.batch
        while not self.stopping:
            seen = self.signals.version(wake_on)
            report = dispatcher.run_once(limit, stop=lambda: self.stopping)
            for outcome in ("delivered", "retried", "dead", "stale"):
                if count := getattr(report, outcome):
                    self.metrics.deliveries.labels(outcome).inc(count)
            if report.claimed < limit:
                if self.signals.version(wake_on) != seen:
                    continue  # woken while claiming or delivering: claim again now, no nap to work out (a read)
                # A helper polls as a safety net; rows due later are the first thread's to wait for.
                self.signals.wait(wake_on, seen,
                                  self.settings.poll_seconds if helper else self._nap_until_next_row(dispatcher))

    def _nap_until_next_row(self, dispatcher: outbox.Dispatcher) -> float:
        # A row booked a little ahead (a coalesced channel push, a backoff) is sent when it falls due, not up to a
        # poll interval later.
        reading = dispatcher.idle_reading
        due = reading[0] if reading is not None else dispatcher.next_due()
        if due is None:
            return self.settings.poll_seconds
        until_due = (due - self.sp.ctx.clock.now()).total_seconds()
        return self.settings.poll_seconds if until_due <= 0 else min(self.settings.poll_seconds, until_due)

    def _timer_loop(self) -> None:
        while not self.stopping:
            seen = self.signals.version(TIMERS)
            report = self.timer_runner.run_once(self.settings.batch)
            for outcome in ("fired", "skipped", "failed"):
                if count := getattr(report, outcome):
                    self.metrics.timers.labels(outcome).inc(count)
            for error in report.errors:
                log.warning("%s", error)
            if report.claimed < self.settings.batch:
                self.signals.wait(TIMERS, seen, self._nap_until_next_timer())

    def _nap_until_next_timer(self) -> float:
        with self.sp.db.read() as conn:
            due = timers.next_fire_at(conn)
        if due is None:
            return self.settings.poll_seconds
        until_due = (due - self.sp.ctx.clock.now()).total_seconds()
        # A timer already due that this pass did not fire is leased elsewhere or failing: wait a poll interval
        # for it rather than spin.
        return self.settings.poll_seconds if until_due <= 0 else min(self.settings.poll_seconds, until_due)

    def _consumer_loop(self, runner: ConsumerRunner) -> None:
        # Woken by this process's commits of domain events (an order applied here reaches the push consumer at
        # once); events written by other processes are found by the poll (a NOTIFY per event would tax the
        # reservation hot path).
        while not self.stopping:
            seen = self.signals.version(EVENTS)
            if runner.run_once() == 0:
                self.signals.wait(EVENTS, seen, self.settings.consumer_poll_seconds)

    def _housekeeping_loop(self) -> None:
        # Reservation expiry is a sweep over an indexed column, not a timer row per hold: the reservations table
        # already is the durable schedule, and buyers expire overdue holds inline, so this only keeps `reserved`
        # honest for reports and channels.
        while not self.stopping:
            expired = self.sp.reservations.expire_due()
            if expired:
                self.metrics.expired.inc(expired)
            self._stopping.wait(self.settings.expiry_sweep_seconds)

    def _timed_batch(self, topic: str, handler: outbox.BatchHandler) -> outbox.BatchHandler:
        histogram = self.metrics.handler_seconds.labels(topic)
        failures = self.metrics.handler_failures.labels(topic)

        def timed(items: list[tuple[dict, str]]) -> list[object]:
            started = time.perf_counter()
            try:
                results = handler(items)
            except Exception:
                failures.inc(len(items))
                raise
            each = (time.perf_counter() - started) / max(len(items), 1)  # the histogram is per row
            for result in results:
                histogram.observe(each)
                if isinstance(result, Exception):
                    failures.inc()
            return results

        return timed

    def _timed(self, topic: str, handler: outbox.Handler) -> outbox.Handler:
        histogram = self.metrics.handler_seconds.labels(topic)
        failures = self.metrics.handler_failures.labels(topic)

        def timed(payload: dict, key: str) -> object:
            started = time.perf_counter()
            try:
                return handler(payload, key)  # the result goes to the topic's outcome hook
            except Exception:
                failures.inc()
                raise
            finally:
                histogram.observe(time.perf_counter() - started)

        return timed
