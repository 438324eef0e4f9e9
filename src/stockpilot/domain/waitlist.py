"""Back-in-stock waitlist rules, pure: who may join, how many people one wave tells.

A wave tells about as many people as there are units, plus an over-notification margin (some who are told never
buy): ceil(available x (1 + over_notify)). The rest wait for the next wave, sent only if units remain.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from stockpilot.domain.errors import ValidationFailed

WAITING = "waiting"
NOTIFIED = "notified"
UNSUBSCRIBED = "unsubscribed"

_EMAIL = re.compile(r"[^@\s\"<>,;]+@[^@\s\"<>,;.]+(\.[^@\s\"<>,;.]+)+")


def normalise_email(raw: object) -> str:
    """A lower-cased address (the same person twice is one entry), or ValidationFailed."""
    text = str(raw or "").strip().lower()
    if len(text) > 254 or not _EMAIL.fullmatch(text):
        raise ValidationFailed(f"email: not a valid address: {raw!r}")
    return text


def wave_size(available: int, over_notify: float) -> int:
    """How many waiting people one wave tells; 0 when nothing is available to sell."""
    if available <= 0:
        return 0
    if over_notify < 0:
        raise ValueError("over_notify cannot be negative")
    # Exact arithmetic: 10 x 1.2 in floats is 12.000000000000002, whose ceiling would tell a 13th person.
    return math.ceil(available * (1 + Fraction(str(over_notify))))


def available_rose(kind: str, payload: dict[str, object]) -> bool:
    """Whether an event means more units became sellable (a PO placed only raises `incoming`: not this)."""
    if kind == "BackInStock":
        return True
    if kind != "StockChanged":
        return False
    before, after = payload.get("before"), payload.get("after")
    if not isinstance(before, dict) or not isinstance(after, dict):
        return False
    return _available(after) > _available(before) and int(payload.get("total_available") or 0) > 0  # type: ignore[call-overload]


def _available(levels: dict[str, object]) -> int:
    return int(levels.get("on_hand", 0)) - int(levels.get("committed", 0)) - int(levels.get("reserved", 0))  # type: ignore[call-overload]
