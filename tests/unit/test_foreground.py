"""The worker lets requests in flight go first, but never waits longer than its bound."""

from __future__ import annotations

import threading

from stockpilot.runtime.foreground import Foreground


def test_quiet_at_once_when_nothing_is_in_flight():
    assert Foreground().wait_quiet(max_wait=30) is True


def test_a_request_in_flight_holds_the_worker_until_it_ends():
    foreground = Foreground()
    entered, release, waited = threading.Event(), threading.Event(), []

    def request():
        with foreground.busy():
            entered.set()
            release.wait(30)

    thread = threading.Thread(target=request)
    thread.start()
    assert entered.wait(30)
    worker = threading.Thread(target=lambda: waited.append(foreground.wait_quiet(max_wait=30)))
    worker.start()
    worker.join(0.2)
    assert worker.is_alive() and foreground.in_flight == 1  # still waiting: the request has not ended
    release.set()
    worker.join(30)
    thread.join(30)
    assert waited == [True] and foreground.in_flight == 0


def test_a_flood_cannot_starve_the_worker():
    foreground = Foreground()
    with foreground.busy():
        assert foreground.wait_quiet(max_wait=0.01) is False  # gave up waiting: the worker takes its turn
    assert foreground.in_flight == 0
