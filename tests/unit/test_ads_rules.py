"""Ad pausing rules (domain/ads.py): headroom under each backorder policy, the next step per state, spend saved."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from stockpilot.domain.ads import (
    UNLIMITED,
    AdSetState,
    SkuStock,
    Step,
    daily_spend_micros,
    headroom,
    money,
    next_step,
    spend_saved_micros,
)
from stockpilot.domain.model import BackorderPolicy


def test_headroom_follows_the_backorder_policy():
    assert headroom(SkuStock("A", 3, BackorderPolicy.DENY, None)) == 3
    assert headroom(SkuStock("A", -2, BackorderPolicy.ALLOW, 5)) == 3
    assert headroom(SkuStock("A", -50, BackorderPolicy.ALLOW_NOTIFY, None)) == UNLIMITED
    assert headroom(SkuStock("A", -2, BackorderPolicy.ALLOW, 5), backorders_keep_running=False) == -2


@pytest.mark.parametrize(("state", "rooms", "pending", "expected"), [
    (AdSetState.RUNNING, [0, -1], False, Step.PAUSE),
    (AdSetState.RUNNING, [0, 1], False, Step.NOTHING),  # one product still sells: keep advertising
    (AdSetState.RUNNING, [], False, Step.NOTHING),  # advertises nothing we know: never paused
    (AdSetState.PAUSED, [1], False, Step.NOTHING),  # below the threshold of 2
    (AdSetState.PAUSED, [2], False, Step.START_HOLD),
    (AdSetState.PAUSED, [2], True, Step.NOTHING),
    (AdSetState.PAUSED, [1], True, Step.BREAK_HOLD),
    (AdSetState.LEFT, [0], False, Step.NOTHING),
    (AdSetState.LEFT, [5], False, Step.FORGET),
    (AdSetState.PAUSING, [5], False, Step.NOTHING),
    (AdSetState.RESUMING, [0], False, Step.NOTHING),
])
def test_next_step(state, rooms, pending, expected):
    assert next_step(state, rooms, 2, hold_pending=pending) is expected


def test_spend_saved_is_daily_spend_times_time_paused():
    daily = daily_spend_micros(Decimal("140.00"), 7)
    assert daily == 20_000_000
    assert money(spend_saved_micros(daily, timedelta(hours=3, minutes=15))) == "2.71"
    assert spend_saved_micros(None, timedelta(days=1)) is None
    assert money(None) == "unknown"
