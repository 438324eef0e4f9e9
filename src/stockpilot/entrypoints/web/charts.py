"""Inline SVG charts drawn on the server from real figures: geometry only, the template draws the marks.

No JavaScript and nothing downloaded: a chart is a handful of coordinates, with a text summary for screen readers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

from stockpilot.services.sku_history import DailyHistory

WIDTH, HEIGHT = 1000, 250
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 26


@dataclass(frozen=True)
class Line:
    css: str
    points: str  # "x,y x,y ..."
    label: str


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Rule:
    y: float
    css: str
    label: str


@dataclass
class Chart:
    title: str
    summary: str
    width: int = WIDTH
    height: int = HEIGHT
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    marker: tuple[float, str] | None = None  # a vertical "today" line
    legend: list[tuple[str, str]] = field(default_factory=list)  # (css, label)

    @property
    def plot_left(self) -> int:
        return LEFT

    @property
    def plot_right(self) -> int:
        return self.width - RIGHT

    @property
    def plot_top(self) -> int:
        return TOP

    @property
    def plot_bottom(self) -> int:
        return self.height - BOTTOM


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5, 5 x 10^n steps)."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks, value = [], start
    while not ticks or ticks[-1] < high - 1e-9:  # the last tick at or above `high`: nothing drawn off the plot
        ticks.append(round(value, 6))
        value += step
    return ticks


class _Scale:
    def __init__(self, n: int, low: float, high: float) -> None:
        self.n, self.ticks = n, nice_ticks(low, high)
        self.low, self.high = self.ticks[0], self.ticks[-1]

    def x(self, k: float) -> float:
        return round(LEFT + (WIDTH - LEFT - RIGHT) * (k / max(1, self.n - 1)), 1)

    def y(self, v: float) -> float:
        span = self.high - self.low or 1
        return round(HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * ((v - self.low) / span), 1)


def _x_ticks(scale: _Scale, days: list[date], labels: int = 6) -> list[tuple[float, str]]:
    every = max(1, math.ceil(len(days) / labels))
    return [(scale.x(k), d.strftime("%d %b")) for k, d in enumerate(days) if k % every == 0]


def stock_chart(h: DailyHistory, *, reorder_point: int | None, safety_stock: int | None) -> Chart:
    days = h.days + h.projection_days[1:]
    history_n = len(h.days)
    values = [*h.on_hand, *h.projected_available, *(v for v in (reorder_point, safety_stock) if v is not None), 0]
    scale = _Scale(len(days), min(values), max(values))
    chart = Chart("Stock on hand, and available projected ahead",
                  f"On hand today {h.on_hand[-1]}; {min(h.on_hand)} to {max(h.on_hand)} over {history_n} days. "
                  f"Projected available in {len(h.projection_days) - 1} days: "
                  f"{h.projected_available[-1]:.0f}.")
    chart.y_ticks = [(scale.y(t), f"{t:g}") for t in scale.ticks]
    chart.x_ticks = _x_ticks(scale, days)
    chart.lines.append(Line("series-stock", " ".join(f"{scale.x(k)},{scale.y(v)}" for k, v in enumerate(h.on_hand)),
                            "On hand"))
    chart.lines.append(Line("series-projection", " ".join(
        f"{scale.x(history_n - 1 + k)},{scale.y(v)}" for k, v in enumerate(h.projected_available)),
        "Projected available"))
    chart.legend = [("series-stock", "On hand (end of day)"), ("series-projection", "Projected available")]
    if reorder_point is not None:
        chart.rules.append(Rule(scale.y(reorder_point), "rule-reorder", f"Reorder point {reorder_point}"))
    if safety_stock is not None and safety_stock != reorder_point:
        chart.rules.append(Rule(scale.y(safety_stock), "rule-safety", f"Safety stock {safety_stock}"))
    if scale.low < 0:
        chart.rules.append(Rule(scale.y(0), "rule-zero", "0"))
    chart.marker = (scale.x(history_n - 1), "today")
    return chart


def demand_chart(h: DailyHistory, *, mean_daily: float) -> Chart:
    observed = [v for v in h.demand if v is not None]
    total = sum(observed)
    scale = _Scale(len(h.days) + 1, 0, max([*observed, mean_daily, 1.0]))
    chart = Chart("Units demanded per day",
                  f"{total:.0f} units over {len(h.days)} days; forecast {mean_daily:.2f} a day.")
    chart.y_ticks = [(scale.y(t), f"{t:g}") for t in scale.ticks]
    chart.x_ticks = _x_ticks(scale, h.days)
    slot = (WIDTH - LEFT - RIGHT) / (len(h.days) + 1)
    for k, (day, value) in enumerate(zip(h.days, h.demand, strict=True)):
        if value:
            top = scale.y(value)
            chart.bars.append(Bar(round(scale.x(k) - slot * 0.35 + slot / 2, 1), top, round(slot * 0.7, 1),
                                  round(scale.y(0) - top, 1), f"{day:%d %b}: {value:g}"))
    chart.rules.append(Rule(scale.y(mean_daily), "rule-forecast", f"Forecast {mean_daily:.2f}/day"))
    chart.legend = [("bar-demand", "Units ordered"), ("rule-forecast", "Forecast mean")]
    return chart
