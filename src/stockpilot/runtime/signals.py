"""Wake-ups: a committed write that created work (an outbox row, a timer) wakes the workers at once.

In-process, a versioned condition per channel: a waiter remembers the version it saw before looking for work
and sleeps only if nothing was signalled since, so a wake-up between "found nothing" and "sleep" is never lost.
Across processes on PostgreSQL, the same channel names travel as LISTEN/NOTIFY (see PostgresListener). Polling at
a modest interval stays as the safety net: a lost notification delays work, it never loses it.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable

log = logging.getLogger("stockpilot.runtime")

OUTBOX = "stockpilot_outbox"  # = runtime.outbox.OUTBOX_CHANNEL
TIMERS = "stockpilot_timers"  # = runtime.timers.TIMERS_CHANNEL
EVENTS = "stockpilot_events"  # = adapters.db.database.EVENTS_CHANNEL (in-process only: consumers of other
# processes poll)


class Signals:
    """One lock, and a condition per channel on it: a signal wakes only that channel's waiters. (With one
    condition for all, every commit woke every waiting thread of the worker to re-check and sleep again:
    thousands of futex calls a second at 100 webhooks/s, and a lane's sleeping threads woken by every delivery.)"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conds: dict[str, threading.Condition] = {}
        self._versions: defaultdict[str, int] = defaultdict(int)
        self._closed = False

    def _cond(self, channel: str) -> threading.Condition:  # with self._lock held
        cond = self._conds.get(channel)
        if cond is None:
            cond = self._conds[channel] = threading.Condition(self._lock)
        return cond

    def version(self, channel: str) -> int:
        with self._lock:
            return self._versions[channel]

    def fire(self, channels: Iterable[str]) -> None:
        with self._lock:
            for channel in channels:
                self._versions[channel] += 1
                if channel in self._conds:
                    self._conds[channel].notify_all()

    def wait(self, channel: str, seen: int, timeout: float) -> bool:
        """Sleep until `channel` moves past `seen`, close() is called, or `timeout` passes. True if signalled."""
        with self._lock:
            return self._cond(channel).wait_for(lambda: self._closed or self._versions[channel] != seen, timeout)

    def close(self) -> None:
        """Wake every waiter for good (shutdown)."""
        with self._lock:
            self._closed = True
            for cond in self._conds.values():
                cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class PostgresListener:
    """Relays PostgreSQL notifications on our channels into a Signals object (one connection, one thread)."""

    def __init__(self, dsn: str, signals: Signals, channels: Iterable[str]) -> None:
        self.dsn, self.signals, self.channels = dsn, signals, tuple(channels)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-listener", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    for channel in self.channels:
                        conn.execute(f'LISTEN "{channel}"')
                    self.signals.fire(self.channels)  # anything sent while we were not listening
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            self.signals.fire([note.channel])
            except Exception:  # reconnect after a pause; polling covers the gap
                log.exception("LISTEN connection failed; retrying")
                self._stop.wait(1.0)
