"""Back-in-stock waitlist rules, pure: who may join, how many people one wave tells.

A wave tells about as many people as there are units, plus an over-notification margin (some who are told never
buy): ceil(available x (1 + over_notify)). The rest wait for the next wave, sent only if units remain.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, time, timedelta, tzinfo
from fractions import Fraction

from stockpilot.domain.errors import ValidationFailed

WAITING = "waiting"
NOTIFIED = "notified"
UNSUBSCRIBED = "unsubscribed"
UNCONFIRMED = "unconfirmed"  # double opt-in: joined, confirmation link not clicked yet; never notified
STATUSES = (UNCONFIRMED, WAITING, NOTIFIED, UNSUBSCRIBED)

_EMAIL = re.compile(r"[^@\s\"<>,;]+@[^@\s\"<>,;.]+(\.[^@\s\"<>,;.]+)+")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


def normalise_email(raw: object) -> str:
    """A lower-cased address (the same person twice is one entry), or ValidationFailed."""
    text = str(raw or "").strip().lower()
    if len(text) > 254 or not _EMAIL.fullmatch(text):
        raise ValidationFailed(f"email: not a valid address: {raw!r}")
    return text


def normalise_phone(raw: object) -> str:
    """An E.164 number (+ and 7 to 15 digits; spaces, dots, dashes and brackets dropped), or ValidationFailed."""
    text = re.sub(r"[\s().-]", "", str(raw or ""))
    if not _E164.fullmatch(text):
        raise ValidationFailed(f"phone: not an E.164 number (+ country code and number): {raw!r}")
    return text


def parse_quiet_hours(text: str) -> tuple[time, time] | None:
    """"21:00-08:00" -> (21:00, 08:00); "" -> None (no quiet hours). The window may cross midnight."""
    if not text.strip():
        return None
    parts = [p.strip() for p in text.split("-")]
    matches = [_CLOCK.fullmatch(p) for p in parts]
    if len(parts) != 2 or not all(matches) or parts[0] == parts[1]:
        raise ValueError(f"quiet hours must look like 21:00-08:00, got {text!r}")
    start, end = (time(int(m.group(1)), int(m.group(2))) for m in matches if m)
    return start, end


def quiet_until(now: datetime, zone: tzinfo, window: tuple[time, time] | None) -> datetime | None:
    """When the quiet window around `now` ends in the contact's time zone (aware, same zone), or None if `now`
    is outside it. Wall-clock times: a window end that falls in a DST gap is the first valid instant after it."""
    if window is None:
        return None
    start, end = window
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    crosses_midnight = start > end
    inside = (clock >= start or clock < end) if crosses_midnight else (start <= clock < end)
    if not inside:
        return None
    day = local.date() + timedelta(days=1) if crosses_midnight and clock >= start else local.date()
    naive = datetime.combine(day, end)
    # Round-trip through UTC: a local time that does not exist (spring forward) lands just after the gap.
    return naive.replace(tzinfo=zone).astimezone(now.tzinfo).astimezone(zone)


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
