"""domain/rate_limit.py: per-key token buckets, time passed in."""

from __future__ import annotations

import pytest

from stockpilot.domain.rate_limit import KeyedLimit


def test_each_key_has_its_burst_then_waits_for_the_refill():
    limit = KeyedLimit(burst=2, per_second=0.5)
    assert [limit.wait("a", 100.0) for _ in range(3)] == [0.0, 0.0, 2.0]
    assert limit.wait("b", 100.0) == 0.0
    assert limit.wait("a", 101.0) == 1.0  # a refusal takes nothing
    assert limit.wait("a", 102.0) == 0.0 and limit.wait("a", 102.0) == 2.0


def test_memory_is_bounded_least_recently_used_out():
    limit = KeyedLimit(burst=1, per_second=0.001, max_keys=2)
    limit.wait("a", 0.0)
    limit.wait("b", 0.0)
    assert limit.wait("a", 0.0) > 0  # touched again: now the most recent
    limit.wait("c", 0.0)  # b goes
    assert limit.wait("a", 0.0) > 0 and limit.wait("b", 0.0) == 0.0


def test_off_and_unusable_limits():
    assert all(KeyedLimit(burst=0, per_second=0).wait("a", 0.0) == 0.0 for _ in range(100))
    with pytest.raises(ValueError):
        KeyedLimit(burst=3, per_second=0)
    with pytest.raises(ValueError):
        KeyedLimit(burst=-1, per_second=1)
