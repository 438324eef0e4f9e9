"""A token bucket, the model of Amazon SP-API usage plans (a rate in requests per second and a burst). Pure: the
caller passes the time (seconds on any monotonic scale) and decides whether to wait."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenBucket:
    rate: float  # tokens added per second
    burst: float  # the most tokens held
    tokens: float = -1.0  # -1: full on first use
    at: float | None = None

    def _refill(self, now: float) -> None:
        if self.at is None or self.tokens < 0:
            self.tokens, self.at = self.burst, now
            return
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now

    def wait_for(self, now: float) -> float:
        """Seconds until one token is available (0: take it now with `take`)."""
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1

    def empty(self, now: float) -> None:
        """The server said 429: whatever we believed, no token is left right now."""
        self._refill(now)
        self.tokens = min(self.tokens, 0.0)

    def set_rate(self, rate: float) -> None:
        """`x-amzn-RateLimit-Limit` names the rate actually applied to this seller and operation."""
        if rate > 0:
            self.rate = rate
