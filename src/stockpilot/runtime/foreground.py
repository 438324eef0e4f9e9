"""Foreground first: requests a platform or a buyer waits on go before the worker's background passes.

`stockpilot serve` with its worker as threads (SQLite; `--worker-in threads`) runs the API's event loop and the
worker in one process, and Python runs one thread at a time: a worker thread applying a backlog takes turns with
the loop, and every request in flight waits for those turns (a burst of webhooks was accepted at half the rate the
intake alone reaches). The fast paths mark each request they serve (`busy`); a worker pass first waits, at most
`max_wait` seconds, for a moment with none in flight. So under a flood the worker still gets a pass every
`max_wait` (it cannot starve), and at an ordinary pace it waits for nothing. Another process's worker (`stockpilot
worker`, or `serve`'s worker child on PostgreSQL) has its own, never-busy instance.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Foreground:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._in_flight = 0

    @contextmanager
    def busy(self) -> Iterator[None]:
        with self._cond:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._cond.notify_all()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def wait_quiet(self, max_wait: float) -> bool:
        """Block until no request is in flight or `max_wait` passed; True if it was quiet."""
        with self._cond:
            return self._cond.wait_for(lambda: self._in_flight == 0, timeout=max_wait)
