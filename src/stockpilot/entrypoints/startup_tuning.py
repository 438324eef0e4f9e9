"""Process start-up tuning shared by the long-running entrypoints (`serve`, `worker`)."""

from __future__ import annotations

import gc
import sys

# How long a thread may hold the GIL while another waits for it (Python's default: 5 ms).
IO_THREADS_SWITCH_INTERVAL = 0.001


def freeze_startup_heap() -> None:
    """Move everything alive after start-up (modules, table metadata, routes...) out of the collector's reach.

    A full (generation 2) collection walks every tracked object while holding the GIL; over the start-up heap it
    took 200-280 ms here, and every request in flight waited for it (the answer-time p99 of a webhook burst). The
    frozen objects are never freed, which they would not be anyway; what is made afterwards is collected as usual.
    """
    gc.collect()
    gc.freeze()


def hand_the_gil_back_sooner() -> None:
    """For a process whose threads mostly wait on PostgreSQL: the event loop and its statement threads (`serve`
    with its worker elsewhere), or a worker's delivery threads.

    A thread whose statement has returned must take the GIL back before it can go on; while another thread is
    running Python, that waits for the switch interval, and a webhook batch's statement needs the GIL several
    times. At 1 ms instead of 5, `bench/webhooks.py`-style bursts on PostgreSQL (5,000 webhooks, 32 clients, serve
    plus its worker child, 7 interleaved pairs of runs) answered with a median p99 of 49 ms instead of 65, and a
    median 1,731/s instead of 1,652/s. Not used where the embedded worker's threads run Python beside the loop
    (SQLite), where it was not measured.
    """
    sys.setswitchinterval(IO_THREADS_SWITCH_INTERVAL)
