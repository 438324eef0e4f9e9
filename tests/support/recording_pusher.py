"""A ChannelPusher for pipeline tests: records every push, can fail or throttle on demand, and measures how many
pushes for one item were ever in flight at once (the pipeline promises at most one)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from stockpilot.adapters.channels.push import ChannelAccount, PushLine, PushResult, PushThrottled, required_id


@dataclass
class RecordingPusher:
    kind: str = "shopify"
    batch_limit: int = 1  # > 1: the pipeline hands it batches of that many lines (services/channel_push_batches.py)
    delay_seconds: float = 0.0  # widens the in-flight window in race tests
    pushes: list[tuple[str, str, int]] = field(default_factory=list)  # (channel, item key, quantity)
    fail_next: int = 0
    throttle_next: int = 0
    throttle_seconds: float = 2.0
    max_in_flight: int = 0
    # Called with the lines before they are set (outside the lock): a test can hold one push back here, as a worker
    # stalled with its request out, and let it land later. Returning True loses that push's answer: the values are
    # set, then the call fails as a timeout would (the caller cannot tell they were set).
    before_set: Callable[[Sequence[PushLine]], bool | None] | None = None
    _in_flight: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def item_key(self, line: PushLine) -> str:
        return f"inventory_item:{required_id(line, 'inventory_item')}@{line.location_id or 'default'}"

    def push(self, account: ChannelAccount, lines: Sequence[PushLine], idempotency_key: str) -> PushResult:
        keys = [f"{account.name}/{self.item_key(line)}" for line in lines]
        with self._lock:
            if self.throttle_next:
                self.throttle_next -= 1
                raise PushThrottled(self.throttle_seconds, "test throttle")
            if self.fail_next:
                self.fail_next -= 1
                raise ConnectionError("channel down (test)")
            for key in keys:
                self._in_flight[key] = self._in_flight.get(key, 0) + 1
                self.max_in_flight = max(self.max_in_flight, self._in_flight[key])
        try:
            if self.delay_seconds:
                time.sleep(self.delay_seconds)
            lost = bool(self.before_set(lines)) if self.before_set is not None else False
            with self._lock:
                for line in lines:
                    self.pushes.append((account.name, self.item_key(line), line.quantity))
            if lost:
                raise TimeoutError("the answer never came (test)")
        finally:
            with self._lock:
                for key in keys:
                    self._in_flight[key] -= 1
        return PushResult({"lines": len(lines)})

    def values_by_item(self) -> dict[str, list[int]]:
        with self._lock:
            out: dict[str, list[int]] = {}
            for _, key, quantity in self.pushes:
                out.setdefault(key, []).append(quantity)
            return out

    def values(self, channel: str | None = None) -> list[int]:
        with self._lock:
            return [q for ch, _, q in self.pushes if channel is None or ch == channel]
