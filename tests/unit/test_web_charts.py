"""Chart geometry and the session signer: pure functions, no server."""

from __future__ import annotations

from datetime import date, timedelta

from stockpilot.entrypoints.web.charts import demand_chart, nice_ticks, stock_chart
from stockpilot.entrypoints.web.session import Signer
from stockpilot.services.sku_history import DailyHistory


def test_nice_ticks_cover_the_range_with_round_steps():
    assert nice_ticks(0, 7) == [0, 2, 4, 6, 8]
    assert nice_ticks(-3, 40) == [-20, 0, 20, 40]
    assert nice_ticks(5, 5) == [5, 5.25, 5.5, 5.75, 6]
    assert nice_ticks(0, 12) == [0, 5, 10, 15]  # a reorder point of 12 above stock of 7 stays inside the plot
    for low, high in ((0, 12), (0, 1), (-7, 3), (0, 99), (2, 2.2)):
        ticks = nice_ticks(low, high)
        assert ticks[0] <= low and ticks[-1] >= high, (low, high, ticks)


def _history() -> DailyHistory:
    today = date(2026, 3, 10)
    days = [today - timedelta(days=13 - k) for k in range(14)]
    return DailyHistory(days=days, on_hand=[20 - k for k in range(14)], demand=[None, None, *[1.0] * 12],
                        projection_days=[today + timedelta(days=k) for k in range(22)],
                        projected_available=[7 - k * 0.5 for k in range(22)])


def test_charts_stay_inside_their_plot_and_say_what_they_show():
    stock = stock_chart(_history(), reorder_point=9, safety_stock=4)
    points = [tuple(map(float, p.split(","))) for line in stock.lines for p in line.points.split()]
    assert all(stock.plot_left <= x <= stock.plot_right and stock.plot_top <= y <= stock.plot_bottom
               for x, y in points)
    assert [r.label for r in stock.rules] == ["Reorder point 9", "Safety stock 4", "0"]  # projected below 0
    assert "On hand today 7" in stock.summary
    demand = demand_chart(_history(), mean_daily=1.0)
    assert len(demand.bars) == 12 and "12 units over 14 days" in demand.summary


def test_signed_values_refuse_tampering_and_other_purposes():
    signer = Signer("k" * 32)
    session, value = signer.new_session(7, now=1000)
    assert signer.session(value, now=1001) == session
    assert signer.session(value, now=session.expires) is None  # expired
    assert signer.session(value[:-1] + ("0" if value[-1] != "0" else "1"), now=1001) is None
    assert signer.unsign("notice", value) is None  # a session is not a notice
    assert signer.csrf_ok(session, signer.csrf(session)) and not signer.csrf_ok(session, "")
    assert Signer("other" * 8).session(value, now=1001) is None
