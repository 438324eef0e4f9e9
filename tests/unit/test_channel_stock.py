"""Available-to-sell per channel: the buffer arithmetic."""

from __future__ import annotations

import pytest

from stockpilot.domain.channel_stock import available_to_sell, held_back


def test_fixed_and_percent_buffers_hold_back_the_larger_and_never_go_below_zero():
    assert available_to_sell(10) == 10
    assert available_to_sell(10, buffer_units=3) == 7
    assert available_to_sell(10, buffer_percent=25) == 7  # 2.5 rounds up to 3 held back
    assert available_to_sell(10, buffer_units=1, buffer_percent=25) == 7
    assert available_to_sell(10, buffer_units=5, buffer_percent=25) == 5
    assert available_to_sell(2, buffer_units=5) == 0
    assert available_to_sell(-4) == 0  # oversold: the channel is told 0, not a negative count
    assert held_back(-4, 0, 50) == 0


@pytest.mark.parametrize("units, percent", [(-1, 0), (0, -1), (0, 101)])
def test_impossible_buffers_are_refused(units, percent):
    with pytest.raises(ValueError):
        available_to_sell(5, units, percent)
