"""How repeated failed sign-ins slow an attacker down: a pure rule over (failures so far, when) -> lock.

Counting is per user name as typed (lower-cased), whether or not that user exists, so a lockout tells an attacker
nothing about which names are real. Attempts made while locked are refused without being counted: they cannot
push the lock further out, so a person typing the right password after the lock ends gets in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

FREE_FAILURES = 5  # consecutive failures allowed before the first lock
FIRST_LOCK = timedelta(minutes=15)  # then doubling with every further failure
LONGEST_LOCK = timedelta(hours=24)
FORGET_AFTER = timedelta(hours=24)  # a failure this old no longer counts towards a lock


@dataclass(frozen=True)
class Throttle:
    failures: int
    last_failure_at: datetime | None
    locked_until: datetime | None


def is_locked(state: Throttle | None, now: datetime) -> bool:
    return state is not None and state.locked_until is not None and now < state.locked_until


def after_failure(state: Throttle | None, now: datetime) -> Throttle:
    """The state after one more failure that was counted (not made while locked)."""
    earlier = 0
    if state is not None and state.last_failure_at is not None and now - state.last_failure_at < FORGET_AFTER:
        earlier = state.failures
    failures = earlier + 1
    if failures < FREE_FAILURES:
        return Throttle(failures, now, None)
    lock = min(FIRST_LOCK * 2 ** (failures - FREE_FAILURES), LONGEST_LOCK)
    return Throttle(failures, now, now + lock)


def wait_words(state: Throttle, now: datetime) -> str:
    """"14 minutes" until the lock ends (rounded up, at least one minute)."""
    assert state.locked_until is not None
    minutes = max(1, -(-int((state.locked_until - now).total_seconds()) // 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}" if minutes < 120 else f"{-(-minutes // 60)} hours"
