"""The one place that reads the wall clock; wired in by bootstrap, never imported by the core."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
