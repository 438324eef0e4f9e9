"""In-process wake-ups (runtime/signals.py): a signal reaches its channel's waiters only, and is never lost."""

from __future__ import annotations

import threading

from stockpilot.runtime.signals import Signals


def _waiter(signals: Signals, channel: str, woken: list[bool], ready: threading.Event) -> threading.Thread:
    def run() -> None:
        seen = signals.version(channel)
        ready.set()
        woken.append(signals.wait(channel, seen, 5.0))

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_signal_reaches_its_channel_only():
    signals = Signals()
    a_woken: list[bool] = []
    b_woken: list[bool] = []
    a_ready, b_ready = threading.Event(), threading.Event()
    a = _waiter(signals, "a", a_woken, a_ready)
    b = _waiter(signals, "b", b_woken, b_ready)
    assert a_ready.wait(5) and b_ready.wait(5)
    signals.fire(["a"])
    a.join(5)
    assert a_woken == [True]
    assert b.is_alive() and b_woken == []  # "b" heard nothing: it still sleeps
    signals.close()
    b.join(5)
    assert b_woken == [True]


def test_a_signal_between_looking_and_sleeping_is_not_lost():
    signals = Signals()
    seen = signals.version("a")
    signals.fire(["a"])  # after the look, before the sleep
    assert signals.wait("a", seen, 5.0)
    assert not signals.wait("a", signals.version("a"), 0.01)  # nothing new: the short timeout runs out
