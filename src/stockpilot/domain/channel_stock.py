"""Available-to-sell for one channel: pure arithmetic, no I/O.

A channel sees what is available at the Stockpilot locations that feed it, less a buffer held back for it (N units
or P% of what is available, whichever holds back more), never below zero: a channel cannot be told "-3" and would
only oversell further with it.
"""

from __future__ import annotations

import math


def held_back(available: int, buffer_units: int, buffer_percent: int) -> int:
    """Units kept from the channel: the larger of the fixed buffer and the percentage (rounded up: safer)."""
    share = math.ceil(max(available, 0) * buffer_percent / 100) if buffer_percent else 0
    return max(buffer_units, share)


def available_to_sell(available: int, buffer_units: int = 0, buffer_percent: int = 0) -> int:
    if buffer_units < 0 or not 0 <= buffer_percent <= 100:
        raise ValueError("buffer units must be >= 0 and percent within 0..100")
    return max(available - held_back(available, buffer_units, buffer_percent), 0)
