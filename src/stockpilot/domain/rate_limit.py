"""Rate limits per key (a client address, a SKU) as token buckets (domain/token_bucket.py). Pure: the caller passes
the time (seconds on any scale) and holds any lock.

`KeyedLimit(burst, per_second)` gives every key its own bucket of `burst` tokens refilled at `per_second`; `wait`
is 0 when a token is there (and takes it), else the seconds until one will be. At most `max_keys` buckets are
kept, least recently used first out: an evicted key starts full again, which only ever errs towards admitting,
and memory stays bounded whatever keys a flood invents. `burst` 0 switches the limit off.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from stockpilot.domain.token_bucket import TokenBucket


@dataclass
class KeyedLimit:
    burst: int
    per_second: float
    max_keys: int = 10_000
    _buckets: OrderedDict[str, TokenBucket] = field(default_factory=OrderedDict, repr=False)

    def __post_init__(self) -> None:
        if self.burst < 0 or self.per_second < 0 or (self.burst > 0 and self.per_second == 0):
            raise ValueError("a rate limit needs burst >= 0 and, when on, a refill rate > 0")

    def wait(self, key: str, now: float) -> float:
        """0.0 and one token taken, or the seconds until `key` may try again (nothing taken)."""
        if self.burst == 0:
            return 0.0
        bucket = self._buckets.pop(key, None) or TokenBucket(self.per_second, float(self.burst))
        self._buckets[key] = bucket  # most recently used last
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        delay = bucket.wait_for(now)
        if delay == 0:
            bucket.take(now)
        return delay
