"""Waitlist contact rules (domain/waitlist.py): E.164 phones, quiet hours in a contact's zone, across DST."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from stockpilot.domain.errors import ValidationFailed
from stockpilot.domain.waitlist import normalise_phone, parse_quiet_hours, quiet_until

NY = ZoneInfo("America/New_York")


def test_phones_are_e164():
    assert normalise_phone("+1 (415) 555-0100") == "+14155550100"
    assert normalise_phone("+44.7700.900123") == "+447700900123"
    for bad in ("4155550100", "+0123456789", "+1 555", "+1234567890123456", "", None, "+1-415-CALL-NOW"):
        with pytest.raises(ValidationFailed):
            normalise_phone(bad)


def test_quiet_hours_parse():
    assert parse_quiet_hours("") is None
    assert parse_quiet_hours(" 21:00 - 08:00 ") is not None
    for bad in ("21-8", "25:00-08:00", "08:00-08:00", "21:00"):
        with pytest.raises(ValueError):
            parse_quiet_hours(bad)


@pytest.mark.parametrize(("utc", "window", "expected"), [
    (datetime(2026, 1, 1, 3, 0, tzinfo=UTC), "21:00-08:00", datetime(2026, 1, 1, 8, 0, tzinfo=NY)),  # 22:00
    (datetime(2026, 1, 1, 10, 0, tzinfo=UTC), "21:00-08:00", datetime(2026, 1, 1, 8, 0, tzinfo=NY)),  # 05:00
    (datetime(2026, 1, 1, 13, 0, tzinfo=UTC), "21:00-08:00", None),  # 08:00 sharp: the window is over
    (datetime(2026, 1, 1, 1, 59, tzinfo=UTC), "21:00-08:00", None),  # 20:59
    (datetime(2026, 1, 1, 17, 0, tzinfo=UTC), "12:00-14:00", datetime(2026, 1, 1, 14, 0, tzinfo=NY)),  # 12:00
    # 01:30 EST on the night clocks spring forward: 02:30 never happens, so the window ends at 03:30 EDT
    (datetime(2026, 3, 8, 6, 30, tzinfo=UTC), "01:00-02:30", datetime(2026, 3, 8, 7, 30, tzinfo=UTC)),
])
def test_quiet_until(utc, window, expected):
    found = quiet_until(utc, NY, parse_quiet_hours(window))
    assert found == expected
    if found is not None:
        assert found > utc
